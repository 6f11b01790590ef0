//! `name-addr / addr-spec` with header parameters: From, To, Contact, Route,
//! Record-Route and their kin (RFC 3261 §20.10, §20.20, §20.39, §25.1).

use super::field::List;
use crate::error::{Error, Result};
use crate::params::{self, Params};
use crate::syntax;
use crate::uri::{Context, Uri};
use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;

/// An address with an optional display name and header parameters, kept as received.
#[derive(Clone)]
pub struct NameAddr {
    /// The URI. Its buffer holds the whole address, so the address needs no handle of
    /// its own.
    uri: Uri,
    /// Where the address is in the URI's buffer.
    span: (u32, u32),
    /// The display name, relative to `span.0`.
    display: Option<(u32, u32)>,
    bracketed: bool,
    /// The header parameters, relative to `span.0`.
    params: (u32, u32),
}

impl NameAddr {
    /// Parse one value that must stand alone in its header (From, To).
    pub(crate) fn parse_single(value: &Bytes, name: &'static str) -> Result<NameAddr> {
        let (na, end) = NameAddr::parse_at(value, 0, name)?;
        if syntax::skip_ws(value, end) != value.len() {
            return Err(Error::InvalidHeader {
                name,
                reason: "junk after address",
            });
        }
        Ok(na)
    }

    /// Parse a comma-separated list of addresses (Contact, Route, Record-Route). The usual
    /// single address is returned without building a vector.
    pub(super) fn parse_list(value: &Bytes, name: &'static str) -> Result<List<NameAddr>> {
        let junk = Error::InvalidHeader {
            name,
            reason: "junk after address",
        };
        let (first, end) = NameAddr::parse_at(value, 0, name)?;
        let mut i = syntax::skip_ws(value, end);
        if i >= value.len() {
            return Ok(List::One(first));
        }
        let mut all = vec![first];
        loop {
            if value[i] != b',' {
                return Err(junk);
            }
            let (na, end) = NameAddr::parse_at(value, i + 1, name)?;
            all.push(na);
            i = syntax::skip_ws(value, end);
            if i >= value.len() {
                return Ok(List::Many(all));
            }
        }
    }

    /// Parse an address given as text (for building messages), e.g.
    /// `"Alice" <sip:alice@example.com>;tag=1`.
    pub fn parse(text: &str) -> Result<NameAddr> {
        NameAddr::parse_single(&Bytes::copy_from_slice(text.trim().as_bytes()), "address")
    }

    /// Build `[display] <uri>[;params]`. The display name is quoted and escaped.
    pub fn new(display: Option<&str>, uri: &Uri) -> NameAddr {
        let mut s = String::with_capacity(uri.as_bytes().len() + 32);
        if let Some(d) = display {
            s.push('"');
            for c in d.chars() {
                if c == '"' || c == '\\' {
                    s.push('\\');
                }
                if c != '\r' && c != '\n' {
                    s.push(c);
                }
            }
            s.push_str("\" ");
        }
        s.push('<');
        s.push_str(&uri.to_string());
        s.push('>');
        let raw = Bytes::from(s);
        let start = raw.len() - uri.as_bytes().len() - 1;
        match Uri::parse_in(&raw, start, raw.len() - 1, Context::Whole) {
            Ok(parsed) => NameAddr {
                uri: parsed,
                span: (0, raw.len() as u32),
                display: display.map(|_| (0, (start - 2) as u32)),
                bracketed: true,
                params: (raw.len() as u32, raw.len() as u32),
            },
            // A URI's own text always parses again; should it not, the address is the
            // bare URI.
            Err(_) => NameAddr::bare(uri),
        }
    }

    /// An address that is a URI and nothing else, in the URI's own text.
    fn bare(uri: &Uri) -> NameAddr {
        let (at, len) = (uri.offset(), uri.len() as u32);
        NameAddr {
            uri: uri.clone(),
            span: (at, at + len),
            display: None,
            bracketed: false,
            params: (len, len),
        }
    }

    /// The same address with `;name=value` added (or replaced), e.g. a To tag.
    pub fn with_param(&self, name: &str, value: Option<&str>) -> NameAddr {
        let text = self.as_bytes();
        let mut s = String::with_capacity(text.len() + name.len() + 24);
        if self.bracketed {
            s.push_str(&String::from_utf8_lossy(&text[..self.params.0 as usize]));
        } else {
            // An addr-spec gains brackets so that the result stays unambiguous.
            s.push('<');
            s.push_str(&self.uri.to_string());
            s.push('>');
        }
        for (n, v) in self.params().iter() {
            if n.eq_ignore_ascii_case(name.as_bytes()) {
                continue;
            }
            s.push(';');
            s.push_str(&String::from_utf8_lossy(n));
            if let Some(v) = v {
                s.push('=');
                s.push_str(&String::from_utf8_lossy(v));
            }
        }
        s.push(';');
        s.push_str(name);
        if let Some(v) = value {
            s.push('=');
            s.push_str(v);
        }
        NameAddr::parse(&s).unwrap_or_else(|_| self.clone())
    }

    /// Parse the address starting at `start`; returns it and the index past its params.
    fn parse_at(value: &Bytes, start: usize, name: &'static str) -> Result<(NameAddr, usize)> {
        let bad = |reason| Error::InvalidHeader { name, reason };
        let s: &[u8] = value;
        let i = syntax::skip_ws(s, start);
        if i >= s.len() {
            return Err(bad("empty address"));
        }
        let mut display = None;
        let mut j = i;
        if s[i] == b'"' {
            let end = syntax::quoted_end(s, i).ok_or(bad("unterminated quoted display name"))?;
            display = Some((i as u32, end as u32));
            j = syntax::skip_ws(s, end);
            if s.get(j) != Some(&b'<') {
                return Err(bad("display name without <URI>"));
            }
        } else if s[i] != b'<' {
            // Either `*(token LWS) <addr-spec>` or a bare addr-spec. RFC 4475 §3.1.1.6:
            // accept a token display name with no space before `<`.
            let mut k = i;
            let mut last_token_end = i;
            loop {
                let t = syntax::TOKEN.span(&s[k..]);
                if t == 0 {
                    break;
                }
                last_token_end = k + t;
                k = syntax::skip_ws(s, k + t);
            }
            if k > i && s.get(k) == Some(&b'<') {
                display = Some((i as u32, last_token_end as u32));
                j = k;
            }
        }
        let (uri, bracketed, after_uri) = if s.get(j) == Some(&b'<') {
            // The URI runs to the first `>`: no URI octet can be one.
            let parsed = if s.get(j + 1).is_some_and(|&b| syntax::is_wsp(b)) {
                None
            } else {
                Uri::parse_in(value, j + 1, s.len(), Context::Angle).ok()
            };
            match parsed {
                Some(uri) if s.get(j + 1 + uri.len()) == Some(&b'>') => {
                    let close = j + 1 + uri.len();
                    (uri, true, close + 1)
                }
                _ => return Err(bad(angle_error(&s[j..]))),
            }
        } else {
            // addr-spec: the URI ends at white space, `;` (header params) or `,`.
            let end = s[j..]
                .iter()
                .position(|&b| b == b';' || b == b',' || syntax::is_wsp(b))
                .map_or(s.len(), |p| j + p);
            let uri = Uri::parse_in(value, j, end, Context::AddrSpec)
                .map_err(|_| bad("malformed URI"))?;
            (uri, false, end)
        };
        let plen = params::scan_header_params(&s[after_uri..]).map_err(bad)?;
        let end = after_uri + plen;
        let base = i as u32;
        Ok((
            NameAddr {
                uri,
                span: (base, end as u32),
                display: display.map(|(a, b)| (a - base, b - base)),
                bracketed,
                params: (after_uri as u32 - base, end as u32 - base),
            },
            end,
        ))
    }

    /// The address as received.
    pub fn as_bytes(&self) -> &[u8] {
        self.uri
            .buffer()
            .get(self.span.0 as usize..self.span.1 as usize)
            .unwrap_or_default()
    }

    /// The URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The display name as received (quotes included when it was quoted).
    pub fn display_name_raw(&self) -> Option<&[u8]> {
        let (a, b) = self.display?;
        self.as_bytes().get(a as usize..b as usize)
    }

    /// The display name as text: quotes removed and quoted-pairs resolved.
    pub fn display_name(&self) -> Option<Cow<'_, str>> {
        let raw = self.display_name_raw()?;
        if raw.first() != Some(&b'"') {
            return Some(String::from_utf8_lossy(raw));
        }
        let inner = params::unquote(raw);
        if syntax::find(b'\\', inner).is_none() {
            return Some(String::from_utf8_lossy(inner));
        }
        let mut out = Vec::with_capacity(inner.len());
        let mut it = inner.iter();
        while let Some(&c) = it.next() {
            if c == b'\\' {
                if let Some(&n) = it.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
    }

    /// The header parameters (after the URI).
    pub fn params(&self) -> Params<'_> {
        Params::new(
            self.as_bytes()
                .get(self.params.0 as usize..self.params.1 as usize)
                .unwrap_or_default(),
        )
    }

    /// The `tag` parameter (From/To, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&[u8]> {
        self.params().value("tag")
    }

    /// The `expires` parameter of a Contact, clamped to u32 (RFC 3261 §20.10).
    pub fn expires(&self) -> Option<u32> {
        self.params().value("expires").map(|v| {
            if v.iter().all(u8::is_ascii_digit) {
                syntax::parse_u32(v, u32::MAX).unwrap_or(u32::MAX)
            } else {
                // RFC 3261 §20.19: malformed values are treated as 3600.
                3600
            }
        })
    }

    /// The `q` parameter of a Contact, in thousandths (0–1000), RFC 3261 §20.10.
    pub fn q(&self) -> Option<u16> {
        let v = self.params().value("q")?;
        parse_qvalue(v)
    }
}

/// Why `<...>` starting at `s[0]` does not hold a URI.
fn angle_error(s: &[u8]) -> &'static str {
    let Some(close) = syntax::find(b'>', s) else {
        return "missing '>'";
    };
    let inner = &s[1..close];
    if inner.first().is_some_and(|&b| syntax::is_wsp(b))
        || inner.last().is_some_and(|&b| syntax::is_wsp(b))
    {
        // RFC 4475 §3.1.2.14: no white space inside the angle brackets.
        "white space inside <>"
    } else {
        "malformed URI"
    }
}

/// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths.
fn parse_qvalue(v: &[u8]) -> Option<u16> {
    let (int, frac) = match syntax::find(b'.', v) {
        Some(d) => (&v[..d], &v[d + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut thousandths = 0u16;
    for (k, &d) in frac.iter().enumerate() {
        thousandths += u16::from(d - b'0') * [100, 10, 1][k];
    }
    match int {
        b"0" => Some(thousandths),
        b"1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl fmt::Debug for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NameAddr({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &'static str) -> Result<NameAddr> {
        NameAddr::parse_single(&Bytes::from_static(s.as_bytes()), "To")
    }

    fn many(s: &'static str) -> Result<Vec<NameAddr>> {
        let list = NameAddr::parse_list(&Bytes::from_static(s.as_bytes()), "Contact")?;
        Ok(list.as_slice().to_vec())
    }

    #[test]
    fn forms() -> Result<()> {
        let a = one("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n")?;
        assert_eq!(a.uri().user(), Some(&b"vivekg"[..]));
        assert_eq!(a.tag(), Some(&b"1918181833n"[..]));
        assert!(a.display_name().is_none());
        let a = one(r#""J Rosenberg \\\""       <sip:jdrosen@example.com>  ;  tag = 98asjd8"#)?;
        assert_eq!(a.display_name().as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(a.tag(), Some(&b"98asjd8"[..]));
        let a = one("caller<sip:caller@example.com>;tag=323")?;
        assert_eq!(a.display_name().as_deref(), Some("caller"));
        let a =
            one("token1~` token2'+_ token3*%!.- <sip:mundane@example.com>;tag=_token~1'+`*%!-.")?;
        assert_eq!(
            a.display_name().as_deref(),
            Some("token1~` token2'+_ token3*%!.-")
        );
        let a = one("<isbn:2983792873>")?;
        assert!(!a.uri().is_sip());
        Ok(())
    }

    #[test]
    fn rejects() {
        assert!(one(r#""Mr. J. User <sip:j.user@example.com>"#).is_err());
        assert!(one(r#""Watson, Thomas" < sip:t.watson@example.org >"#).is_err());
        assert!(one("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert!(one("<sip:user@example.com>;;;").is_err());
        assert!(many("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_err());
    }

    #[test]
    fn contact_lists() -> Result<()> {
        let v = many(
            r#""Quoted string \"\"" <sip:jdrosen@example.com> ; newparam = newvalue ; secondparam ; q = 0.33"#,
        )?;
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].q(), Some(330));
        assert_eq!(v[0].params().value("newparam"), Some(&b"newvalue"[..]));
        let v = many("sip:+19725552222@gw1.example.net;unknownparam")?;
        assert!(v[0].uri().params().is_empty());
        assert!(v[0].params().contains("unknownparam"));
        let v = many("<sip:+19725552222@gw1.example.net;unknownparam>")?;
        assert!(v[0].uri().params().contains("unknownparam"));
        assert!(v[0].params().is_empty());
        let v = many("<sip:a@h1>;expires=30, \"B, C\" <sip:b@h2>;q=1, sip:c@h3")?;
        assert_eq!(v.len(), 3);
        assert_eq!(v[0].expires(), Some(30));
        assert_eq!(v[1].display_name().as_deref(), Some("B, C"));
        assert_eq!(v[1].q(), Some(1000));
        assert_eq!(v[2].uri().host(), b"h3");
        Ok(())
    }

    #[test]
    fn build() -> Result<()> {
        let uri = Uri::parse_str("sip:alice@example.com")?;
        let a = NameAddr::new(Some("Al \"x\""), &uri);
        assert_eq!(a.as_bytes(), br#""Al \"x\"" <sip:alice@example.com>"#);
        assert_eq!(a.display_name().as_deref(), Some("Al \"x\""));
        let t = a.with_param("tag", Some("abc"));
        assert_eq!(
            t.as_bytes(),
            br#""Al \"x\"" <sip:alice@example.com>;tag=abc"#
        );
        assert_eq!(t.tag(), Some(&b"abc"[..]));
        let b = one("sip:bob@example.com;tag=1")?.with_param("tag", Some("2"));
        assert_eq!(b.as_bytes(), b"<sip:bob@example.com>;tag=2");
        Ok(())
    }

    #[test]
    fn qvalues() {
        assert_eq!(parse_qvalue(b"0.5"), Some(500));
        assert_eq!(parse_qvalue(b"1"), Some(1000));
        assert_eq!(parse_qvalue(b"1.000"), Some(1000));
        assert_eq!(parse_qvalue(b"1.5"), None);
        assert_eq!(parse_qvalue(b"0.1234"), None);
    }
}
