//! URIs: SIP and SIPS (RFC 3261 §19.1), tel (RFC 3966) and any other absolute URI, kept
//! as received and read through byte ranges.

use crate::error::{Error, Result};
use crate::params::{self, Params};
use crate::syntax;
use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

/// A byte range inside a URI's text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        // URIs live inside messages of at most a few hundred KiB; u32 is ample.
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    fn get<'a>(&self, s: &'a [u8]) -> &'a [u8] {
        s.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// The scheme of a URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
    /// Any other scheme; [`Uri::scheme_str`] gives its name.
    Other,
}

/// What the host part of a SIP URI or a Via sent-by is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostKind {
    /// A domain name.
    Domain,
    /// A dotted IPv4 address.
    Ipv4,
    /// A bracketed IPv6 reference (the text kept includes the brackets).
    Ipv6,
}

/// A URI, kept as its text plus the ranges of its parts. Cloning is cheap (one reference
/// count); the parts are read without copying.
#[derive(Clone)]
pub struct Uri {
    raw: Bytes,
    scheme: Scheme,
    user: Option<Span>,
    password: Option<Span>,
    host: Span,
    host_kind: HostKind,
    port: Option<u16>,
    params: Span,
    headers: Option<Span>,
}

impl Uri {
    /// Parse a URI that stands alone (a Request-URI, or the inside of `<...>`): a SIP or
    /// SIPS URI may carry parameters and headers.
    pub fn parse(raw: Bytes) -> Result<Uri> {
        parse(raw, Context::Bracketed)
    }

    /// Parse a URI given as text.
    pub fn parse_str(s: &str) -> Result<Uri> {
        Uri::parse(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// Parse a URI in addr-spec form (not enclosed in `<>`) inside a header: RFC 3261
    /// §20.10 forbids `,`, `?` and `;` in it, since they would be read as header syntax.
    pub(crate) fn parse_addr_spec(raw: Bytes) -> Result<Uri> {
        parse(raw, Context::AddrSpec)
    }

    /// A `sip:` URI built from its parts; the user part is escaped as needed.
    pub fn sip(user: Option<&str>, host: &str, port: Option<u16>) -> Result<Uri> {
        let mut s = String::from("sip:");
        if let Some(u) = user {
            escape_into(&mut s, u.as_bytes(), &syntax::USER);
            s.push('@');
        }
        if host.contains(':') && !host.starts_with('[') {
            s.push('[');
            s.push_str(host);
            s.push(']');
        } else {
            s.push_str(host);
        }
        if let Some(p) = port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        Uri::parse(Bytes::from(s))
    }

    /// The URI as received.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The URI as received, shared.
    pub fn to_bytes(&self) -> Bytes {
        self.raw.clone()
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The scheme's name as received (`sip`, `SIPS`, `tel`, `soap.beep`, ...).
    pub fn scheme_str(&self) -> &[u8] {
        let colon = syntax::find(b':', &self.raw).unwrap_or(0);
        &self.raw[..colon]
    }

    /// Whether this is a `sip:` or `sips:` URI.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The user part, still %-escaped (SIP/SIPS only).
    pub fn user(&self) -> Option<&[u8]> {
        self.user.map(|s| s.get(&self.raw))
    }

    /// The user part with %-escapes decoded (RFC 3261 §19.1.4: they are equivalent).
    pub fn user_unescaped(&self) -> Option<Cow<'_, [u8]>> {
        self.user().map(syntax::unescape)
    }

    /// The password, if the userinfo has one.
    pub fn password(&self) -> Option<&[u8]> {
        self.password.map(|s| s.get(&self.raw))
    }

    /// The host, as received (IPv6 references keep their brackets). For tel and other
    /// schemes, the text after the scheme.
    pub fn host(&self) -> &[u8] {
        self.host.get(&self.raw)
    }

    /// The host as text (hosts are ASCII by grammar).
    pub fn host_str(&self) -> &str {
        std::str::from_utf8(self.host()).unwrap_or_default()
    }

    /// What kind of host this is.
    pub fn host_kind(&self) -> HostKind {
        self.host_kind
    }

    /// The host as an IP address, when it is one.
    pub fn host_ip(&self) -> Option<IpAddr> {
        host_ip(self.host(), self.host_kind)
    }

    /// The explicit port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The URI parameters (`;transport=tcp;lr`).
    pub fn params(&self) -> Params<'_> {
        Params::new(self.params.get(&self.raw))
    }

    /// The value of one URI parameter, %-escapes kept.
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params().value(name)
    }

    /// The headers part after `?`, still escaped.
    pub fn headers(&self) -> Option<&[u8]> {
        self.headers.map(|s| s.get(&self.raw))
    }

    /// For tel and other schemes: everything after `scheme:`.
    pub fn opaque(&self) -> &[u8] {
        let colon = syntax::find(b':', &self.raw).map_or(0, |c| c + 1);
        &self.raw[colon..]
    }

    /// The URI without its headers part (what a Request-URI built from it must be,
    /// RFC 3261 §19.1.5).
    pub fn without_headers(&self) -> Uri {
        match self.headers {
            None => self.clone(),
            Some(h) => {
                let mut u = self.clone();
                u.raw = self.raw.slice(..(h.start as usize - 1));
                u.headers = None;
                u
            }
        }
    }

    /// URI equality by RFC 3261 §19.1.4: scheme and host case-insensitive, user and
    /// password case-sensitive after unescaping, `user`/`ttl`/`method`/`maddr`/`transport`
    /// parameters must match when either side has them, other parameters when both do,
    /// headers must match exactly. Non-SIP URIs compare as case-insensitive text.
    pub fn equivalent(&self, other: &Uri) -> bool {
        if self.scheme != other.scheme {
            return false;
        }
        if !self.is_sip() {
            return self.raw.eq_ignore_ascii_case(&other.raw);
        }
        if self.user_unescaped() != other.user_unescaped()
            || self.password().map(syntax::unescape) != other.password().map(syntax::unescape)
            || !self.host().eq_ignore_ascii_case(other.host())
            || self.port != other.port
        {
            return false;
        }
        for (name, value) in self.params().iter() {
            let theirs = other
                .params()
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name));
            match theirs {
                Some((_, v)) => {
                    let a = value.map(syntax::unescape);
                    let b = v.map(syntax::unescape);
                    let same = match (&a, &b) {
                        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                        (None, None) => true,
                        _ => false,
                    };
                    if !same {
                        return false;
                    }
                }
                None if is_must_match(name) => return false,
                None => {}
            }
        }
        for (name, _) in other.params().iter() {
            if is_must_match(name)
                && !self
                    .params()
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                return false;
            }
        }
        self.headers().map(syntax::unescape) == other.headers().map(syntax::unescape)
    }
}

fn is_must_match(name: &[u8]) -> bool {
    [&b"user"[..], b"ttl", b"method", b"maddr", b"transport"]
        .iter()
        .any(|n| n.eq_ignore_ascii_case(name))
}

/// The IP address of a host, when it is one.
pub(crate) fn host_ip(host: &[u8], kind: HostKind) -> Option<IpAddr> {
    let s = std::str::from_utf8(host).ok()?;
    match kind {
        HostKind::Domain => None,
        HostKind::Ipv4 => s.parse().ok(),
        HostKind::Ipv6 => s.trim_start_matches('[').trim_end_matches(']').parse().ok(),
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.raw))
    }
}

impl fmt::Debug for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uri({self})")
    }
}

impl PartialEq for Uri {
    fn eq(&self, other: &Uri) -> bool {
        self.equivalent(other)
    }
}

/// %-escape every octet of `s` outside `allowed` (and `%` itself).
pub(crate) fn escape_into(out: &mut String, s: &[u8], allowed: &syntax::Class) {
    for &b in s {
        if allowed.has(b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Bracketed,
    AddrSpec,
}

/// Parse a host (`hostname / IPv4address / IPv6reference`) at the start of `s`, returning
/// its length and kind.
pub(crate) fn scan_host(s: &[u8]) -> Result<(usize, HostKind), &'static str> {
    if s.first() == Some(&b'[') {
        let close = syntax::find(b']', s).ok_or("unterminated IPv6 reference")?;
        let inner = &s[1..close];
        if !syntax::IPV6.all(inner) || syntax::find(b':', inner).is_none() {
            return Err("bad IPv6 reference");
        }
        return Ok((close + 1, HostKind::Ipv6));
    }
    // One pass: the length, the dots, whether it is all digits, and empty labels.
    let mut len = 0;
    let mut dots = 0;
    let mut digits_only = true;
    let mut prev_dot = true;
    while len < s.len() && syntax::HOSTNAME.has(s[len]) {
        let b = s[len];
        if b == b'.' {
            if prev_dot {
                return Err("empty label in host");
            }
            dots += 1;
            prev_dot = true;
        } else {
            digits_only &= b.is_ascii_digit();
            prev_dot = false;
        }
        len += 1;
    }
    if len == 0 {
        return Err("empty host");
    }
    let host = &s[..len];
    if host[0] == b'-' || host[len - 1] == b'-' {
        return Err("bad host name");
    }
    if digits_only && dots == 3 && !prev_dot {
        let ok = host
            .split(|&b| b == b'.')
            .all(|o| o.len() <= 3 && syntax::parse_u32(o, 255).is_some());
        if !ok {
            return Err("bad IPv4 address");
        }
        return Ok((len, HostKind::Ipv4));
    }
    Ok((len, HostKind::Domain))
}

fn parse(raw: Bytes, ctx: Context) -> Result<Uri> {
    let s: &[u8] = &raw;
    let colon = syntax::find(b':', s).ok_or(Error::Uri("no scheme"))?;
    let scheme_name = &s[..colon];
    if scheme_name.is_empty()
        || !scheme_name[0].is_ascii_alphabetic()
        || !syntax::SCHEME.all(scheme_name)
    {
        return Err(Error::Uri("bad scheme"));
    }
    let scheme = if scheme_name.eq_ignore_ascii_case(b"sip") {
        Scheme::Sip
    } else if scheme_name.eq_ignore_ascii_case(b"sips") {
        Scheme::Sips
    } else if scheme_name.eq_ignore_ascii_case(b"tel") {
        Scheme::Tel
    } else {
        Scheme::Other
    };
    let rest_start = colon + 1;
    if !matches!(scheme, Scheme::Sip | Scheme::Sips) {
        let rest = &s[rest_start..];
        if !syntax::URIC.all(rest) {
            return Err(Error::Uri("bad character in URI"));
        }
        if ctx == Context::AddrSpec && rest.iter().any(|&b| b == b',' || b == b'?' || b == b';') {
            return Err(Error::Uri("addr-spec with , ? or ; must be enclosed in <>"));
        }
        return Ok(Uri {
            scheme,
            user: None,
            password: None,
            host: Span::new(rest_start, s.len()),
            host_kind: HostKind::Domain,
            port: None,
            params: Span::new(s.len(), s.len()),
            headers: None,
            raw,
        });
    }
    let mut user = None;
    let mut password = None;
    let mut i = rest_start;
    // RFC 3261 §25.1: `@` cannot appear unescaped in params or headers, so the first
    // `@` ends the userinfo. The user part itself may hold `;`, `?`, `/` and `,`.
    if let Some(at) = syntax::find(b'@', &s[i..]) {
        let userinfo = &s[i..i + at];
        let (u, p) = match syntax::find(b':', userinfo) {
            Some(c) => (&userinfo[..c], Some(&userinfo[c + 1..])),
            None => (userinfo, None),
        };
        if !syntax::USER.all(u) || !syntax::escapes_valid(u) {
            return Err(Error::Uri("bad user part"));
        }
        if ctx == Context::AddrSpec && u.iter().any(|&b| b == b',' || b == b'?' || b == b';') {
            return Err(Error::Uri("addr-spec with , ? or ; must be enclosed in <>"));
        }
        user = Some(Span::new(i, i + u.len()));
        if let Some(p) = p {
            if !(p.is_empty() || syntax::PASSWORD.all(p)) || !syntax::escapes_valid(p) {
                return Err(Error::Uri("bad password"));
            }
            password = Some(Span::new(i + u.len() + 1, i + userinfo.len()));
        }
        i += at + 1;
    }
    let (host_len, host_kind) = scan_host(&s[i..]).map_err(Error::Uri)?;
    let host = Span::new(i, i + host_len);
    i += host_len;
    let mut port = None;
    if s.get(i) == Some(&b':') {
        let digits = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        let p =
            syntax::parse_u32(&s[i + 1..i + 1 + digits], 65535).ok_or(Error::Uri("bad port"))?;
        port = Some(p as u16);
        i += 1 + digits;
    }
    let params_end = syntax::find(b'?', &s[i..]).map_or(s.len(), |q| i + q);
    let param_text = &s[i..params_end];
    params::check_uri_params(param_text).map_err(Error::Uri)?;
    let params = Span::new(i, params_end);
    let mut headers = None;
    if params_end < s.len() {
        if ctx == Context::AddrSpec {
            return Err(Error::Uri("addr-spec with , ? or ; must be enclosed in <>"));
        }
        let h = &s[params_end + 1..];
        for pair in h.split(|&b| b == b'&') {
            let (name, value) = match syntax::find(b'=', pair) {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => return Err(Error::Uri("header without '='")),
            };
            if !syntax::HNV.all(name)
                || !(value.is_empty() || syntax::HNV.all(value))
                || !syntax::escapes_valid(pair)
            {
                return Err(Error::Uri("bad header in URI"));
            }
        }
        headers = Some(Span::new(params_end + 1, s.len()));
    }
    Ok(Uri {
        raw,
        scheme,
        user,
        password,
        host,
        host_kind,
        port,
        params,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Uri> {
        Uri::parse_str(s)
    }

    #[test]
    fn sip_parts() -> Result<()> {
        let u = p("sip:alice:secret@Example.COM:5070;transport=tcp;lr?subject=hi&x=")?;
        assert_eq!(u.scheme(), Scheme::Sip);
        assert_eq!(u.user(), Some(&b"alice"[..]));
        assert_eq!(u.password(), Some(&b"secret"[..]));
        assert_eq!(u.host(), b"Example.COM");
        assert_eq!(u.port(), Some(5070));
        assert_eq!(u.param("transport"), Some(&b"tcp"[..]));
        assert!(u.params().contains("lr"));
        assert_eq!(u.headers(), Some(&b"subject=hi&x="[..]));
        assert_eq!(
            u.without_headers().as_bytes(),
            b"sip:alice:secret@Example.COM:5070;transport=tcp;lr"
        );
        Ok(())
    }

    #[test]
    fn rfc4475_odd_users() -> Result<()> {
        let u = p(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        )?;
        assert_eq!(
            u.user(),
            Some(&b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"[..])
        );
        assert_eq!(
            u.password(),
            Some(&b"&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"[..])
        );
        let u = p("sip:sips%3Auser%40example.com@example.net")?;
        assert_eq!(
            u.user_unescaped().as_deref(),
            Some(&b"sips:user@example.com"[..])
        );
        let u = p("sip:user;par=u%40example.net@example.com")?;
        assert_eq!(
            u.user_unescaped().as_deref(),
            Some(&b"user;par=u@example.net"[..])
        );
        assert_eq!(u.host(), b"example.com");
        let u = p("sip:null-%00-null@example.com")?;
        assert_eq!(u.user_unescaped().as_deref(), Some(&b"null-\0-null"[..]));
        Ok(())
    }

    #[test]
    fn ipv6() -> Result<()> {
        let u = p("sip:[2001:db8::10]:5070")?;
        assert_eq!(u.host_kind(), HostKind::Ipv6);
        assert_eq!(u.port(), Some(5070));
        assert_eq!(u.host_ip(), "2001:db8::10".parse().ok());
        let u = p("sip:[2001:db8::10:5070]")?;
        assert_eq!(u.port(), None);
        assert!(p("sip:[2001:db8:::192.0.2.1]").is_ok());
        assert!(p("sip:2001:db8::10").is_err());
        Ok(())
    }

    #[test]
    fn other_schemes() -> Result<()> {
        let u = p("nobodyKnowsThisScheme:totallyopaquecontent")?;
        assert_eq!(u.scheme(), Scheme::Other);
        assert_eq!(u.scheme_str(), b"nobodyKnowsThisScheme");
        assert_eq!(p("soap.beep://192.0.2.103:3002")?.scheme(), Scheme::Other);
        let t = p("tel:+1-201-555-0123;phone-context=example.com")?;
        assert_eq!(t.scheme(), Scheme::Tel);
        assert_eq!(t.opaque(), b"+1-201-555-0123;phone-context=example.com");
        Ok(())
    }

    #[test]
    fn rejects() {
        for bad in [
            "<sip:user@example.com>",
            "sip:user@example.com; lr",
            "sip:",
            "sip:user@",
            "sip:user@host:99999",
            "sip:user@host;;",
            "sip:us er@host",
            "sip:user@ho..st",
            "sip:a@b?Route",
            "1sip:a@b",
            "sip:%zz@host",
        ] {
            assert!(p(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn addr_spec_restrictions() {
        let a = Uri::parse_addr_spec(Bytes::from_static(
            b"sip:user@example.com?Route=%3Csip:sip.example.com%3E",
        ));
        assert!(a.is_err());
        let b = Uri::parse(Bytes::from_static(
            b"sip:user@example.com?Route=%3Csip:sip.example.com%3E",
        ));
        assert!(b.is_ok());
    }

    #[test]
    fn comparison() -> Result<()> {
        assert!(
            p("sip:%61lice@atlanta.com;transport=TCP")?
                .equivalent(&p("sip:alice@AtLanTa.CoM;Transport=tcp")?)
        );
        assert!(
            !p("SIP:ALICE@AtLanTa.CoM;Transport=udp")?
                .equivalent(&p("sip:alice@AtLanTa.CoM;Transport=UDP")?)
        );
        assert!(!p("sip:bob@biloxi.com")?.equivalent(&p("sip:bob@biloxi.com:5060")?));
        assert!(!p("sip:bob@biloxi.com")?.equivalent(&p("sip:bob@biloxi.com;transport=udp")?));
        assert!(p("sip:carol@chicago.com")?.equivalent(&p("sip:carol@chicago.com;newparam=5")?));
        assert!(
            !p("sip:carol@chicago.com;security=on")?
                .equivalent(&p("sip:carol@chicago.com;security=off")?)
        );
        Ok(())
    }

    #[test]
    fn build() -> Result<()> {
        let u = Uri::sip(Some("a b"), "example.com", Some(5060))?;
        assert_eq!(u.as_bytes(), b"sip:a%20b@example.com:5060");
        let u = Uri::sip(None, "2001:db8::1", None)?;
        assert_eq!(u.as_bytes(), b"sip:[2001:db8::1]");
        Ok(())
    }
}
