//! `;name=value` parameter lists of URIs (RFC 3261 §19.1.1) and of headers
//! (generic-param, RFC 3261 §25.1).

use crate::syntax::{self, GEN_VALUE};

/// A view of a parameter list, as received: `;a=1;b;c="x"`. Lookups scan the text, which
/// is faster than building a map for the two or three parameters a message has.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Params<'a> {
    raw: &'a [u8],
}

impl<'a> Params<'a> {
    /// A view over text that a parser has already checked (`;`-separated, starting with
    /// `;` or empty).
    pub(crate) fn new(raw: &'a [u8]) -> Params<'a> {
        Params { raw }
    }

    /// The parameters as received, including the leading `;`.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Every parameter as (name, value); the value keeps its quotes, if any.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { rest: self.raw }
    }

    /// The parameter named `name` (case-insensitive): `None` when absent, `Some(None)` when
    /// present without a value.
    pub fn get(&self, name: &str) -> Option<Option<&'a [u8]>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// The value of `name`, without quotes; `None` if absent or valueless.
    pub fn value(&self, name: &str) -> Option<&'a [u8]> {
        self.get(name).flatten().map(unquote)
    }

    /// Whether `name` is present (with or without a value).
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Remove the quotes of a quoted-string (escapes are left as they are).
pub(crate) fn unquote(v: &[u8]) -> &[u8] {
    if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// Iterator of [`Params::iter`].
#[derive(Clone, Debug)]
pub struct ParamIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = self.rest;
            let i = syntax::skip_ws(s, 0);
            if i >= s.len() {
                return None;
            }
            // Skip the separator.
            let i = if s[i] == b';' {
                syntax::skip_ws(s, i + 1)
            } else {
                i
            };
            // Find the end of this parameter: the next `;` outside quotes.
            let mut j = i;
            while j < s.len() && s[j] != b';' {
                if s[j] == b'"' {
                    j = syntax::quoted_end(s, j).unwrap_or(s.len());
                } else {
                    j += 1;
                }
            }
            let param = syntax::trim(&s[i..j]);
            self.rest = &s[j..];
            if param.is_empty() {
                if j >= s.len() {
                    return None;
                }
                continue;
            }
            return Some(match syntax::find(b'=', param) {
                Some(eq) => (
                    syntax::trim(&param[..eq]),
                    Some(syntax::trim(&param[eq + 1..])),
                ),
                None => (param, None),
            });
        }
    }
}

/// Check a header parameter list (`*( SEMI generic-param )`) starting at `s[0] == ';'`,
/// stopping at `,` (the next list value) or the end. Returns the length consumed.
///
/// White space is allowed around `;` and `=` (SEMI and EQUAL carry SWS, RFC 3261 §25.1).
pub(crate) fn scan_header_params(s: &[u8]) -> Result<usize, &'static str> {
    let mut i = 0;
    loop {
        let j = syntax::skip_ws(s, i);
        if j >= s.len() || s[j] == b',' {
            return Ok(i);
        }
        if s[j] != b';' {
            return Err("unexpected character after parameter");
        }
        let k = syntax::skip_ws(s, j + 1);
        let name_len = syntax::TOKEN.span(&s[k..]);
        if name_len == 0 {
            return Err("empty parameter name");
        }
        let mut m = k + name_len;
        let after_name = syntax::skip_ws(s, m);
        if after_name < s.len() && s[after_name] == b'=' {
            let v = syntax::skip_ws(s, after_name + 1);
            if v < s.len() && s[v] == b'"' {
                m = syntax::quoted_end(s, v).ok_or("unterminated quoted string")?;
            } else {
                let len = GEN_VALUE.span(&s[v..]);
                if len == 0 {
                    return Err("empty parameter value");
                }
                m = v + len;
            }
        }
        i = m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup() {
        let p = Params::new(b";branch=z9hG4bK1;rport;received=1.2.3.4");
        assert_eq!(p.value("BRANCH"), Some(&b"z9hG4bK1"[..]));
        assert_eq!(p.get("rport"), Some(None));
        assert_eq!(p.get("maddr"), None);
        assert_eq!(p.iter().count(), 3);
    }

    #[test]
    fn spaced_and_quoted() {
        let p = Params::new(b" ;   tag    = 1918181833n ; x=\"a;b\"");
        assert_eq!(p.value("tag"), Some(&b"1918181833n"[..]));
        assert_eq!(p.value("x"), Some(&b"a;b"[..]));
    }

    #[test]
    fn header_param_grammar() {
        assert_eq!(scan_header_params(b";a=1 ; b ;c=\"x\""), Ok(15));
        assert_eq!(scan_header_params(b";a=1, next"), Ok(4));
        assert!(scan_header_params(b";;").is_err());
        assert!(scan_header_params(b";a=").is_err());
        assert!(scan_header_params(b";a=\"x").is_err());
        assert_eq!(scan_header_params(b";received=2001:db8::9:255"), Ok(25));
    }
}
