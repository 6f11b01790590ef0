//! The auth-param grammar shared by challenges and credentials (RFC 3261 §25.1,
//! RFC 7235 §2.1): a lenient, allocation-light scanner over header values.

use std::borrow::Cow;

use super::error::AuthError;

/// One scheme and its parameters, as found in a header value, before typing.
#[derive(Debug)]
pub(crate) struct RawChallenge<'a> {
    pub(crate) scheme: &'a str,
    pub(crate) params: Vec<RawParam<'a>>,
    /// A token68 payload (`Basic dXNlcg==`) was present; its text is not kept.
    pub(crate) token68: bool,
}

/// One `name=value` pair; `value` is unquoted and unescaped.
#[derive(Debug)]
pub(crate) struct RawParam<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: Cow<'a, str>,
    pub(crate) quoted: bool,
}

/// Reads the leading scheme name without parsing the rest, so that a non-Digest value
/// is reported as such even when its payload is something only its own scheme knows.
pub(crate) fn scheme(value: &str) -> Result<&str, AuthError> {
    let mut s = Scanner::new(value);
    s.skip_lws()?;
    let scheme = s.token();
    if scheme.is_empty() {
        return Err(AuthError::Malformed("missing authentication scheme"));
    }
    Ok(scheme)
}

/// Parses a whole header value: one or more challenges (or credentials), each a scheme
/// followed by auth-params or a token68 (RFC 7235 §2.1).
pub(crate) fn parse_list(value: &str) -> Result<Vec<RawChallenge<'_>>, AuthError> {
    let mut s = Scanner::new(value);
    let mut out: Vec<RawChallenge<'_>> = Vec::new();
    s.skip_lws()?;
    // Empty list elements (", ,") are allowed by the #rule (RFC 7230 §7).
    while s.eat(b',') {
        s.skip_lws()?;
    }
    if s.at_end() {
        return Err(AuthError::Malformed("empty header value"));
    }
    let mut scheme = s.token();
    // Whether the whitespace after `scheme` was already consumed while looking ahead.
    let mut scheme_spaced = false;
    loop {
        if scheme.is_empty() {
            return Err(AuthError::Malformed("expected an authentication scheme"));
        }
        let mut current = RawChallenge {
            scheme,
            params: Vec::new(),
            token68: false,
        };
        let spaced = s.skip_lws()? || scheme_spaced;
        if !s.at_end() && s.peek() != Some(b',') && !spaced {
            return Err(AuthError::Malformed("no space after the scheme name"));
        }
        // Only the first element after "scheme SP" may be a token68.
        let mut first = spaced;
        let mut next_scheme = None;
        scheme_spaced = false;
        loop {
            s.skip_lws()?;
            if s.at_end() {
                break;
            }
            if s.eat(b',') {
                first = false;
                continue;
            }
            let name = s.token68();
            if name.is_empty() {
                return Err(AuthError::Malformed("unexpected character"));
            }
            let spaced = s.skip_lws()?;
            if s.peek() == Some(b'=') {
                let equals = s.eat_run(b'=');
                s.skip_lws()?;
                if first && (s.at_end() || s.peek() == Some(b',')) {
                    // token68 payload ("Basic dXNlcjpwYXNz"): nothing a digest parser
                    // uses, so it is recognised and skipped.
                    current.token68 = true;
                } else if equals > 1 || !is_token(name) {
                    return Err(AuthError::Malformed("bad parameter name"));
                } else {
                    let (value, quoted) = s.value()?;
                    current.params.push(RawParam {
                        name,
                        value,
                        quoted,
                    });
                }
            } else if first && (s.at_end() || s.peek() == Some(b',')) {
                // token68 without padding.
                current.token68 = true;
            } else if is_token(name) && (spaced || s.at_end() || s.peek() == Some(b',')) {
                // "token" not followed by "=": the scheme of the next challenge.
                next_scheme = Some(name);
                scheme_spaced = spaced;
                break;
            } else {
                return Err(AuthError::Malformed("expected '=' after a parameter name"));
            }
            first = false;
            s.skip_lws()?;
            if s.at_end() {
                break;
            }
            if !s.eat(b',') {
                return Err(AuthError::Malformed("expected ',' between parameters"));
            }
        }
        out.push(current);
        match next_scheme {
            Some(name) => scheme = name,
            None => return Ok(out),
        }
    }
}

/// Parses a value that must hold exactly one challenge or credentials of the Digest
/// scheme.
pub(crate) fn parse_single_digest(value: &[u8]) -> Result<RawChallenge<'_>, AuthError> {
    let value = std::str::from_utf8(value).map_err(|_| AuthError::Malformed("not valid UTF-8"))?;
    let name = scheme(value)?;
    if !name.eq_ignore_ascii_case("Digest") {
        return Err(AuthError::NotDigest {
            scheme: name.to_owned(),
        });
    }
    let mut list = parse_list(value)?;
    if list.len() != 1 {
        return Err(AuthError::Malformed(
            "more than one challenge or credentials in one header value",
        ));
    }
    let raw = list
        .pop()
        .ok_or(AuthError::Malformed("empty header value"))?;
    if raw.token68 {
        return Err(AuthError::Malformed(
            "Digest takes parameters, not a token68",
        ));
    }
    Ok(raw)
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_run(&mut self, b: u8) -> usize {
        let start = self.pos;
        while self.eat(b) {}
        self.pos - start
    }

    /// Skips LWS (RFC 3261 §25.1): spaces, tabs, and CRLF line folds. A CR or LF that is
    /// not part of a fold would end the header, so it cannot be inside a value.
    fn skip_lws(&mut self) -> Result<bool, AuthError> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        while let Some(&c) = bytes.get(self.pos) {
            match c {
                b' ' | b'\t' => self.pos += 1,
                b'\r' | b'\n' => {
                    let after = if c == b'\r' && bytes.get(self.pos + 1) == Some(&b'\n') {
                        self.pos + 2
                    } else {
                        self.pos + 1
                    };
                    if !matches!(bytes.get(after), Some(b' ' | b'\t')) {
                        return Err(AuthError::Malformed("line break that is not a fold"));
                    }
                    self.pos = after;
                }
                _ => break,
            }
        }
        Ok(self.pos > start)
    }

    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        while bytes.get(self.pos).is_some_and(|&c| f(c)) {
            self.pos += 1;
        }
        // The predicates only accept ASCII, so both ends are char boundaries.
        self.text.get(start..self.pos).unwrap_or_default()
    }

    fn token(&mut self) -> &'a str {
        self.take_while(is_token_char)
    }

    /// A token or the leading part of a token68 (which adds `/`; `=` padding is read by
    /// the caller).
    fn token68(&mut self) -> &'a str {
        self.take_while(|c| is_token_char(c) || c == b'/')
    }

    /// Reads a parameter value: a quoted-string, or (leniently, because devices in the
    /// field send `uri=sip:x` or `realm=a.b` unquoted) any run of characters up to
    /// whitespace or a comma.
    fn value(&mut self) -> Result<(Cow<'a, str>, bool), AuthError> {
        if self.eat(b'"') {
            return self.quoted_rest().map(|v| (v, true));
        }
        let raw = self.take_while(|c| {
            !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b',' | b'"')
                && !c.is_ascii_control()
                && c.is_ascii()
        });
        if raw.is_empty() {
            return Err(AuthError::Malformed("missing parameter value"));
        }
        Ok((Cow::Borrowed(raw), false))
    }

    /// The rest of a quoted-string after its opening quote, with quoted-pairs undone and
    /// folds reduced to their whitespace (RFC 3261 §25.1: qdtext / quoted-pair).
    fn quoted_rest(&mut self) -> Result<Cow<'a, str>, AuthError> {
        let bytes = self.text.as_bytes();
        let start = self.pos;
        let mut owned: Option<String> = None;
        let mut plain_from = start;
        loop {
            let Some(&c) = bytes.get(self.pos) else {
                return Err(AuthError::Malformed("unterminated quoted string"));
            };
            match c {
                b'"' => {
                    let tail = self.text.get(plain_from..self.pos).unwrap_or_default();
                    self.pos += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut s) => {
                            s.push_str(tail);
                            Cow::Owned(s)
                        }
                    });
                }
                b'\\' => {
                    // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F): CR and LF cannot be
                    // escaped, and neither can non-ASCII.
                    let escaped = bytes.get(self.pos + 1).copied();
                    let Some(e) = escaped.filter(|&e| e.is_ascii() && e != b'\r' && e != b'\n')
                    else {
                        return Err(AuthError::Malformed("bad escape in quoted string"));
                    };
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(self.text.get(plain_from..self.pos).unwrap_or_default());
                    s.push(char::from(e));
                    self.pos += 2;
                    plain_from = self.pos;
                }
                b'\r' | b'\n' => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(self.text.get(plain_from..self.pos).unwrap_or_default());
                    let fold_start = self.pos;
                    self.skip_lws()?;
                    // A fold is one SP to the reader (RFC 3261 §7.3.1).
                    if self.pos > fold_start {
                        s.push(' ');
                    }
                    plain_from = self.pos;
                }
                c if c.is_ascii_control() && c != b'\t' => {
                    return Err(AuthError::Malformed("control character in quoted string"));
                }
                _ => self.pos += 1,
            }
        }
    }
}

/// RFC 3261 §25.1 token characters, plus the RFC 7230 tchar extras (`#$&^|`).
fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.'
                | b'!'
                | b'%'
                | b'*'
                | b'_'
                | b'+'
                | b'`'
                | b'\''
                | b'~'
                | b'#'
                | b'$'
                | b'&'
                | b'^'
                | b'|'
        )
}

pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    type Flat = Vec<(String, Vec<(String, String, bool)>)>;

    fn names(list: &[RawChallenge<'_>]) -> Flat {
        list.iter()
            .map(|c| {
                (
                    c.scheme.to_owned(),
                    c.params
                        .iter()
                        .map(|p| (p.name.to_owned(), p.value.to_string(), p.quoted))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn params_with_odd_spacing_and_folds() {
        let v = "Digest  realm = \"a b\" ,\r\n\tnonce=\"x\",algorithm=MD5 , qop=\"auth\"";
        let list = parse_list(v).unwrap();
        assert_eq!(
            names(&list),
            vec![(
                "Digest".into(),
                vec![
                    ("realm".into(), "a b".into(), true),
                    ("nonce".into(), "x".into(), true),
                    ("algorithm".into(), "MD5".into(), false),
                    ("qop".into(), "auth".into(), true),
                ]
            )]
        );
    }

    #[test]
    fn quoted_string_escapes_and_folds() {
        let list = parse_list(r#"Digest realm="a\"b\\c\,d", x="""#).unwrap();
        assert_eq!(list[0].params[0].value, "a\"b\\c,d");
        assert_eq!(list[0].params[1].value, "");
        // A fold inside a quoted string reads as one space.
        let list = parse_list("Digest realm=\"a\r\n  b\"").unwrap();
        assert_eq!(list[0].params[0].value, "a b");
    }

    #[test]
    fn several_challenges_and_token68() {
        let v = "Basic dXNlcjpwYXNz==, Digest realm=\"r\", nonce=\"n\", Negotiate";
        let list = parse_list(v).unwrap();
        let got: Vec<_> = list.iter().map(|c| c.scheme).collect();
        assert_eq!(got, ["Basic", "Digest", "Negotiate"]);
        assert_eq!(list[1].params.len(), 2);
        assert!(list[0].params.is_empty());
        // A token68 with '/' and '+' (base64).
        let list = parse_list("Basic a/b+c=").unwrap();
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn rfc4475_regaut01_unknown_scheme() {
        let err = parse_single_digest(b"NoOneKnowsThisScheme opaque-data=here").unwrap_err();
        assert_eq!(
            err,
            AuthError::NotDigest {
                scheme: "NoOneKnowsThisScheme".into()
            }
        );
        // The list parser reads it as a scheme with one auth-param.
        let list = parse_list("NoOneKnowsThisScheme opaque-data=here").unwrap();
        assert_eq!(list[0].params[0].name, "opaque-data");
    }

    #[test]
    fn malformed_values_are_errors() {
        for bad in [
            "",
            "   ",
            "Digest realm=\"unterminated",
            "Digest realm=\"bad\\\r\n escape\"",
            "Digest realm=\"a\"junk",
            "Digest realm==x, nonce=y",
            "Digest realm=\"a\"\r\nnonce=\"b\"",
            "Digest=realm",
            "Digest realm=\"a\" nonce=\"b\"",
            "Digest realm=\"a\x01\"",
            "Digest ,=x",
        ] {
            assert!(
                matches!(parse_list(bad), Err(AuthError::Malformed(_))),
                "accepted {bad:?}: {:?}",
                parse_list(bad)
            );
        }
        for bad in [
            &b"Digest realm=\"\xff\""[..],
            b"Digest realm=",
            b"Digest abc",
            b"Digest realm=\"a\", Basic xyz",
        ] {
            assert!(
                matches!(parse_single_digest(bad), Err(AuthError::Malformed(_))),
                "accepted {bad:?}"
            );
        }
    }

    #[test]
    fn empty_list_elements_are_skipped() {
        let list = parse_list(", Digest realm=\"r\",, nonce=\"n\" ,").unwrap();
        assert_eq!(list[0].params.len(), 2);
    }
}
