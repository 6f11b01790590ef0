//! URIs: SIP and SIPS (RFC 3261 §19.1), tel (RFC 3966) and any other absolute URI, kept
//! as received and read through byte ranges.

#[cfg(test)]
mod oracle_tests;
mod scan;

use crate::error::{Error, Result};
use crate::params::Params;
use crate::syntax;
use bytes::Bytes;
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use scan::Parts;
pub(crate) use scan::{Context, scan_host};

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
    /// The text holding the URI: the URI alone, or the header value or message it was
    /// found in (so that no separate buffer handle is taken for it).
    raw: Bytes,
    /// Where the URI starts in `raw`.
    at: u32,
    /// Its length and the ranges of its parts, relative to `at`.
    parts: Parts,
}

impl Uri {
    /// Parse a URI that stands alone (a Request-URI, or the inside of `<...>`): a SIP or
    /// SIPS URI may carry parameters and headers.
    pub fn parse(raw: Bytes) -> Result<Uri> {
        let len = raw.len();
        Uri::parse_in(&raw, 0, len, Context::Whole).map_err(Error::Uri)
    }

    /// Parse a URI given as text.
    pub fn parse_str(s: &str) -> Result<Uri> {
        Uri::parse(Bytes::copy_from_slice(s.as_bytes()))
    }

    /// Parse the URI at `raw[at..end]`, keeping `raw` as its text. In
    /// [`Context::Angle`] the URI may stop before `end` (at the `>` the caller expects,
    /// see [`Uri::len`]); otherwise it fills the range.
    pub(crate) fn parse_in(
        raw: &Bytes,
        at: usize,
        end: usize,
        ctx: Context,
    ) -> std::result::Result<Uri, &'static str> {
        let mut s = raw.get(at..end).ok_or("empty URI")?;
        if s.len() > usize::from(u16::MAX) {
            if ctx != Context::Angle {
                return Err("URI too long");
            }
            // A longer URI finds no `>` in reach, which the caller reports.
            s = &s[..usize::from(u16::MAX)];
        }
        let parts = scan::scan(s, ctx)?;
        Ok(Uri {
            raw: raw.clone(),
            // Messages are at most 64 KiB, and `Uri::parse` starts at 0.
            at: u32::try_from(at).map_err(|_| "URI too long")?,
            parts,
        })
    }

    /// The text the URI was found in (see [`Uri::parse_in`]).
    pub(crate) fn buffer(&self) -> &Bytes {
        &self.raw
    }

    /// Where the URI starts in its buffer.
    pub(crate) fn offset(&self) -> u32 {
        self.at
    }

    /// The length of the URI text.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.parts.len)
    }

    /// The URI text.
    #[inline]
    fn text(&self) -> &[u8] {
        let at = self.at as usize;
        self.raw.get(at..at + self.len()).unwrap_or_default()
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
        self.text()
    }

    /// The URI as received, shared.
    pub fn to_bytes(&self) -> Bytes {
        if self.at == 0 && self.len() == self.raw.len() {
            return self.raw.clone();
        }
        let at = self.at as usize;
        self.raw.slice(at..at + self.len())
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.parts.scheme
    }

    /// The scheme's name as received (`sip`, `SIPS`, `tel`, `soap.beep`, ...).
    pub fn scheme_str(&self) -> &[u8] {
        let text = self.text();
        let colon = syntax::find(b':', text).unwrap_or(0);
        &text[..colon]
    }

    /// Whether this is a `sip:` or `sips:` URI.
    pub fn is_sip(&self) -> bool {
        matches!(self.parts.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The user part, still %-escaped (SIP/SIPS only).
    pub fn user(&self) -> Option<&[u8]> {
        self.parts.user.map(|s| s.get(self.text()))
    }

    /// The user part with %-escapes decoded (RFC 3261 §19.1.4: they are equivalent).
    pub fn user_unescaped(&self) -> Option<Cow<'_, [u8]>> {
        self.user().map(syntax::unescape)
    }

    /// The password, if the userinfo has one.
    pub fn password(&self) -> Option<&[u8]> {
        self.parts.password.map(|s| s.get(self.text()))
    }

    /// The host, as received (IPv6 references keep their brackets). For tel and other
    /// schemes, the text after the scheme.
    pub fn host(&self) -> &[u8] {
        self.parts.host.get(self.text())
    }

    /// The host as text (hosts are ASCII by grammar).
    pub fn host_str(&self) -> &str {
        std::str::from_utf8(self.host()).unwrap_or_default()
    }

    /// What kind of host this is.
    pub fn host_kind(&self) -> HostKind {
        self.parts.host_kind
    }

    /// The host as an IP address, when it is one.
    pub fn host_ip(&self) -> Option<IpAddr> {
        host_ip(self.host(), self.parts.host_kind)
    }

    /// The explicit port.
    pub fn port(&self) -> Option<u16> {
        self.parts.port
    }

    /// The URI parameters (`;transport=tcp;lr`).
    pub fn params(&self) -> Params<'_> {
        Params::new(self.parts.params.get(self.text()))
    }

    /// The value of one URI parameter, %-escapes kept.
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params().value(name)
    }

    /// The headers part after `?`, still escaped.
    pub fn headers(&self) -> Option<&[u8]> {
        self.parts.headers.map(|s| s.get(self.text()))
    }

    /// For tel and other schemes: everything after `scheme:`.
    pub fn opaque(&self) -> &[u8] {
        let text = self.text();
        let colon = syntax::find(b':', text).map_or(0, |c| c + 1);
        &text[colon..]
    }

    /// The URI without its headers part (what a Request-URI built from it must be,
    /// RFC 3261 §19.1.5).
    pub fn without_headers(&self) -> Uri {
        let mut u = self.clone();
        if let Some(h) = self.parts.headers {
            // The `?` before the headers goes too.
            u.parts.len = h.start.saturating_sub(1);
            u.parts.headers = None;
        }
        u
    }

    /// URI equality by RFC 3261 §19.1.4: scheme and host case-insensitive, user and
    /// password case-sensitive after unescaping, `user`/`ttl`/`method`/`maddr`/`transport`
    /// parameters must match when either side has them, other parameters when both do,
    /// headers must match exactly. Non-SIP URIs compare as case-insensitive text.
    pub fn equivalent(&self, other: &Uri) -> bool {
        if self.parts.scheme != other.parts.scheme {
            return false;
        }
        if !self.is_sip() {
            return self.text().eq_ignore_ascii_case(other.text());
        }
        if self.user_unescaped() != other.user_unescaped()
            || self.password().map(syntax::unescape) != other.password().map(syntax::unescape)
            || !self.host().eq_ignore_ascii_case(other.host())
            || self.parts.port != other.parts.port
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
        f.write_str(&String::from_utf8_lossy(self.text()))
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

    fn in_ctx(s: &'static str, ctx: Context) -> std::result::Result<Uri, &'static str> {
        let raw = Bytes::from_static(s.as_bytes());
        Uri::parse_in(&raw, 0, raw.len(), ctx)
    }

    #[test]
    fn addr_spec_restrictions() {
        let routed = "sip:user@example.com?Route=%3Csip:sip.example.com%3E";
        assert!(in_ctx(routed, Context::AddrSpec).is_err());
        assert!(in_ctx(routed, Context::Whole).is_ok());
        for bad in [
            "sip:us,er@host",
            "sip:us?er@host",
            "sip:us;er@host",
            "tel:+1;x=y",
        ] {
            assert!(in_ctx(bad, Context::AddrSpec).is_err(), "{bad}");
            assert!(in_ctx(bad, Context::Whole).is_ok(), "{bad}");
        }
        // A comma in the password is not header syntax.
        assert!(in_ctx("sip:user:pa,ss@host", Context::AddrSpec).is_ok());
    }

    #[test]
    fn inside_angle_brackets() -> std::result::Result<(), &'static str> {
        // The URI stops at the `>`; what follows is the header's business.
        let u = in_ctx("sip:a@host;lr?x=y>;tag=a@b", Context::Angle)?;
        assert_eq!(u.as_bytes(), b"sip:a@host;lr?x=y");
        assert_eq!(u.headers(), Some(&b"x=y"[..]));
        let u = in_ctx("sip:host;lr>;p=u@h", Context::Angle)?;
        assert_eq!((u.user(), u.host()), (None, &b"host"[..]));
        let u = in_ctx("urn:service:sos>x", Context::Angle)?;
        assert_eq!(u.as_bytes(), b"urn:service:sos");
        // A URI with no `>` simply ends where the text does: the caller refuses it.
        assert_eq!(in_ctx("sip:host", Context::Angle)?.as_bytes(), b"sip:host");
        for bad in [
            "sip:h st>",
            "sip:host >",
            "sip:a b@host>",
            "sip:host;a=b c>",
        ] {
            assert!(in_ctx(bad, Context::Angle).is_err(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn shared_text() -> std::result::Result<(), &'static str> {
        let raw = Bytes::from_static(b"<sip:alice@example.com:5070;lr?h=v>;tag=1");
        let u = Uri::parse_in(&raw, 1, raw.len(), Context::Angle)?;
        assert_eq!(u.as_bytes(), b"sip:alice@example.com:5070;lr?h=v");
        assert_eq!(&u.to_bytes()[..], u.as_bytes());
        assert_eq!(u.user(), Some(&b"alice"[..]));
        assert_eq!(u.port(), Some(5070));
        assert!(u.params().contains("lr"));
        assert_eq!(
            u.without_headers().as_bytes(),
            b"sip:alice@example.com:5070;lr"
        );
        assert_eq!(u.to_string(), "sip:alice@example.com:5070;lr?h=v");
        Ok(())
    }

    #[test]
    fn length_limit() {
        let long = format!("sip:{}@example.com", "a".repeat(usize::from(u16::MAX)));
        assert_eq!(
            Uri::parse_str(&long).err(),
            Some(Error::Uri("URI too long"))
        );
        let fits = format!("sip:{}@example.com", "a".repeat(60_000));
        assert!(Uri::parse_str(&fits).is_ok());
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
