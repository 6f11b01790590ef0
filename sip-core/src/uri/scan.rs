//! The URI scanner: one left-to-right pass over the text, each part checked against its
//! RFC 3261 §25.1 class as it is crossed.
//!
//! SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]. The only look-ahead
//! is for the userinfo: `@` cannot appear unescaped after it (RFC 3261 §25.1), so the
//! first `@` ends the userinfo; the user part itself may hold `;`, `?`, `/` and `,`.

use super::{HostKind, Scheme};
use crate::syntax::{self, Class};

/// Where the URI text comes from, which decides where it may end and what it may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Context {
    /// A URI standing alone (a Request-URI, `Uri::parse`): it runs to the end of the text.
    Whole,
    /// The inside of `<...>` in a header: it ends at `>`, which the caller checks.
    Angle,
    /// A header's addr-spec (not in `<>`), already cut at `;`, `,` or white space. RFC 3261
    /// §20.10: `,`, `?` and `;` would be read as header syntax, so they are refused.
    AddrSpec,
}

const ADDR_SPEC: &str = "addr-spec with , ? or ; must be enclosed in <>";

/// A byte range of a URI, relative to its first octet. URIs are refused beyond
/// `u16::MAX` octets, so the ranges fit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: u16,
    pub(crate) end: u16,
}

impl Span {
    #[inline]
    fn new(start: usize, end: usize) -> Span {
        // The callers bound the scanned text to u16::MAX octets.
        Span {
            start: start as u16,
            end: end as u16,
        }
    }

    /// The octets of the span in `s`, the URI's text (empty if out of range, which a
    /// span built by the scanner never is).
    #[inline]
    pub(crate) fn get<'a>(&self, s: &'a [u8]) -> &'a [u8] {
        s.get(usize::from(self.start)..usize::from(self.end))
            .unwrap_or_default()
    }
}

/// What the scanner found: the parts of the URI and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parts {
    pub(crate) len: u16,
    pub(crate) scheme: Scheme,
    pub(crate) user: Option<Span>,
    pub(crate) password: Option<Span>,
    pub(crate) host: Span,
    pub(crate) host_kind: HostKind,
    pub(crate) port: Option<u16>,
    pub(crate) params: Span,
    pub(crate) headers: Option<Span>,
}

/// Octets of a user part that need no second look: `USER` without `%` (escapes are
/// checked), and without `,` `?` `;` (refused in an addr-spec).
const USER_PLAIN: Class = Class::new(b"-_.!~*'()&=+$/", true);

/// `PARAMCHAR` without `%`.
const PARAM_PLAIN: Class = Class::new(b"-_.!~*'()[]/:&+$", true);

/// `HNV` (header name and value characters) without `%`.
const HNV_PLAIN: Class = Class::new(b"-_.!~*'()[]/?:+$", true);

/// Octets of a host label by kind: `DIGIT`, `OTHER` (letters, `-`, `_`), 0 for any other
/// (the `.` between labels included).
static HOST_OCTET: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_digit() {
            DIGIT
        } else if b.is_ascii_alphabetic() || b == b'-' || b == b'_' {
            OTHER
        } else {
            0
        };
        c += 1;
    }
    t
};
const DIGIT: u8 = 1;
const OTHER: u8 = 2;
const _: () = assert!(DIGIT != 0 && OTHER != 0 && HOST_OCTET[b'.' as usize] == 0);

/// Whether `s[i]` is `%` followed by two hex digits.
#[inline]
fn escape_at(s: &[u8], i: usize) -> bool {
    matches!(
        (s.get(i), s.get(i + 1), s.get(i + 2)),
        (Some(b'%'), Some(a), Some(b)) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit()
    )
}

/// The length of the run at `s[i..]` of `plain` octets and valid `%HEX HEX` escapes;
/// `Err(())` at a `%` that starts no valid escape.
#[inline]
fn escaped_span(s: &[u8], mut i: usize, plain: &Class) -> Result<usize, ()> {
    let start = i;
    loop {
        while i < s.len() && plain.has(s[i]) {
            i += 1;
        }
        match s.get(i) {
            Some(b'%') if escape_at(s, i) => i += 3,
            Some(b'%') => return Err(()),
            _ => return Ok(i - start),
        }
    }
}

/// Whether the URI ends at `s[i]`: the end of the text, or `>` inside angle brackets.
#[inline]
fn ends_at(s: &[u8], i: usize, ctx: Context) -> bool {
    match s.get(i) {
        None => true,
        Some(b'>') => ctx == Context::Angle,
        Some(_) => false,
    }
}

/// Scan the URI at the start of `s` (at most `u16::MAX` octets, the caller's duty).
/// In [`Context::Angle`] the URI ends at the first octet that cannot continue it, which
/// the caller must find to be `>`; otherwise it must fill `s`.
pub(crate) fn scan(s: &[u8], ctx: Context) -> Result<Parts, &'static str> {
    debug_assert!(s.len() <= usize::from(u16::MAX));
    // Nearly every URI here starts `sip:`, in some case: one word compare, with the case
    // bit set on the letters only.
    if let Some(head) = s.first_chunk::<4>()
        && u32::from_le_bytes(*head) | 0x0020_2020 == u32::from_le_bytes(*b"sip:")
    {
        return scan_sip(s, 4, Scheme::Sip, ctx);
    }
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    let scheme_len = syntax::SCHEME.span(s);
    if s.get(scheme_len) != Some(&b':') {
        return Err(if syntax::find(b':', s).is_some() {
            "bad scheme"
        } else {
            "no scheme"
        });
    }
    if scheme_len == 0 || !s[0].is_ascii_alphabetic() {
        return Err("bad scheme");
    }
    let scheme = scheme_of(s, scheme_len);
    let rest = scheme_len + 1;
    if matches!(scheme, Scheme::Sip | Scheme::Sips) {
        scan_sip(s, rest, scheme, ctx)
    } else {
        scan_opaque(s, rest, scheme, ctx)
    }
}

/// The scheme whose name is `s[..len]`, `s[len]` being its colon. Case-insensitive
/// (RFC 3261 §19.1.4): the first four octets are compared as one word, with the case bit
/// set on letters only, so no other octet can pass for one.
#[inline]
fn scheme_of(s: &[u8], len: usize) -> Scheme {
    let Some(head) = s.first_chunk::<4>() else {
        return Scheme::Other;
    };
    let head = u32::from_le_bytes(*head);
    match len {
        // The fourth octet is the colon.
        3 => match head | 0x0020_2020 {
            w if w == u32::from_le_bytes(*b"sip:") => Scheme::Sip,
            w if w == u32::from_le_bytes(*b"tel:") => Scheme::Tel,
            _ => Scheme::Other,
        },
        4 if head | 0x2020_2020 == u32::from_le_bytes(*b"sips") => Scheme::Sips,
        _ => Scheme::Other,
    }
}

/// tel and other schemes: the text after the colon is kept whole, checked against `URIC`.
fn scan_opaque(s: &[u8], rest: usize, scheme: Scheme, ctx: Context) -> Result<Parts, &'static str> {
    let len = syntax::URIC.span(&s[rest..]);
    let end = rest + len;
    if len == 0 || !ends_at(s, end, ctx) {
        return Err("bad character in URI");
    }
    if ctx == Context::AddrSpec
        && s[rest..end]
            .iter()
            .any(|&b| matches!(b, b',' | b'?' | b';'))
    {
        return Err(ADDR_SPEC);
    }
    Ok(Parts {
        len: end as u16,
        scheme,
        user: None,
        password: None,
        host: Span::new(rest, end),
        host_kind: HostKind::Domain,
        port: None,
        params: Span::new(end, end),
        headers: None,
    })
}

fn scan_sip(s: &[u8], rest: usize, scheme: Scheme, ctx: Context) -> Result<Parts, &'static str> {
    let Userinfo {
        user,
        password,
        host: mut i,
    } = scan_userinfo(s, rest, ctx)?;
    let (host_len, host_kind) = scan_host(&s[i..])?;
    let host = Span::new(i, i + host_len);
    i += host_len;
    let mut port = None;
    if s.get(i) == Some(&b':') {
        let (p, digits) = scan_port(&s[i + 1..]).ok_or("bad port")?;
        port = Some(p);
        i += 1 + digits;
    }
    let params_start = i;
    if s.get(i) == Some(&b';') {
        i = scan_uri_params(s, i, ctx)?;
    } else if !ends_at(s, i, ctx) && s.get(i) != Some(&b'?') {
        return Err("parameters must start with ';'");
    }
    let params = Span::new(params_start, i);
    let mut headers = None;
    if s.get(i) == Some(&b'?') {
        if ctx == Context::AddrSpec {
            return Err(ADDR_SPEC);
        }
        let end = scan_uri_headers(s, i + 1, ctx)?;
        headers = Some(Span::new(i + 1, end));
        i = end;
    }
    Ok(Parts {
        len: i as u16,
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

/// What [`scan_userinfo`] found.
struct Userinfo {
    user: Option<Span>,
    password: Option<Span>,
    /// Where the host starts.
    host: usize,
}

/// The userinfo after `sip:` (at `rest`), if the URI has one: user and password spans and
/// where the host starts.
///
/// userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
fn scan_userinfo(s: &[u8], rest: usize, ctx: Context) -> Result<Userinfo, &'static str> {
    // Cross what could be a userinfo: user octets, escapes, colons. The run ends at `@`
    // (a userinfo) or at an octet no userinfo may hold (then there is none, unless an
    // `@` follows, which makes the URI malformed).
    let mut k = rest;
    let mut colon = None;
    let mut addr_spec_bad = false;
    loop {
        while k < s.len() && USER_PLAIN.has(s[k]) {
            k += 1;
        }
        match s.get(k) {
            Some(b':') => {
                colon.get_or_insert(k);
                k += 1;
            }
            Some(b',' | b'?' | b';') => {
                addr_spec_bad |= colon.is_none();
                k += 1;
            }
            Some(b'%') if escape_at(s, k) => k += 3,
            _ => break,
        }
    }
    if s.get(k) != Some(&b'@') {
        // No userinfo: is there an `@` further on, inside the URI?
        let tail = &s[k..];
        let at = match ctx {
            Context::Angle => tail.iter().position(|&b| b == b'@' || b == b'>'),
            _ => syntax::find(b'@', tail),
        };
        if at.is_some_and(|a| tail[a] == b'@') {
            return Err("bad user part");
        }
        return Ok(Userinfo {
            user: None,
            password: None,
            host: rest,
        });
    }
    let user_end = colon.unwrap_or(k);
    if user_end == rest {
        return Err("bad user part");
    }
    if ctx == Context::AddrSpec && addr_spec_bad {
        return Err(ADDR_SPEC);
    }
    let user = Some(Span::new(rest, user_end));
    let password = match colon {
        None => None,
        Some(c) => {
            // password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," ); the
            // escapes were checked on the way.
            let p = &s[c + 1..k];
            if !p.iter().all(|&b| syntax::PASSWORD.has(b)) {
                return Err("bad password");
            }
            Some(Span::new(c + 1, k))
        }
    };
    Ok(Userinfo {
        user,
        password,
        host: k + 1,
    })
}

/// `1*DIGIT` up to 65535 (leading zeros allowed): the port and how many digits it took.
#[inline]
fn scan_port(s: &[u8]) -> Option<(u16, usize)> {
    let mut v: u32 = 0;
    let mut n = 0;
    while let Some(d) = s.get(n).filter(|b| b.is_ascii_digit()) {
        v = v * 10 + u32::from(d - b'0');
        if v > u32::from(u16::MAX) {
            return None;
        }
        n += 1;
    }
    if n == 0 {
        return None;
    }
    Some((v as u16, n))
}

/// uri-parameters = *( ";" uri-parameter ), uri-parameter = pname [ "=" pvalue ], both
/// `1*paramchar` (RFC 3261 §19.1.1). `s[i]` is the first `;`; returns where they end.
fn scan_uri_params(s: &[u8], mut i: usize, ctx: Context) -> Result<usize, &'static str> {
    loop {
        // s[i] == ';'
        i += 1;
        let name = escaped_span(s, i, &PARAM_PLAIN).map_err(|()| "bad parameter name")?;
        if name == 0 {
            return Err("bad parameter name");
        }
        i += name;
        let mut after_value = false;
        if s.get(i) == Some(&b'=') {
            let value = escaped_span(s, i + 1, &PARAM_PLAIN).map_err(|()| "bad parameter value")?;
            if value == 0 {
                return Err("bad parameter value");
            }
            i += 1 + value;
            after_value = true;
        }
        match s.get(i) {
            Some(b';') => {}
            Some(b'?') => return Ok(i),
            _ if ends_at(s, i, ctx) => return Ok(i),
            _ if after_value => return Err("bad parameter value"),
            _ => return Err("bad parameter name"),
        }
    }
}

/// headers = "?" header *( "&" header ), header = hname "=" hvalue; hname is
/// `1*( hnv-unreserved / unreserved / escaped )`, hvalue the same but may be empty.
/// `i` is just past the `?`; returns where the headers end.
fn scan_uri_headers(s: &[u8], mut i: usize, ctx: Context) -> Result<usize, &'static str> {
    const BAD: &str = "bad header in URI";
    loop {
        let name = escaped_span(s, i, &HNV_PLAIN).map_err(|()| BAD)?;
        if s.get(i + name) != Some(&b'=') {
            // A header with an `=` further on has a bad octet in its name.
            let pair_end = s[i..]
                .iter()
                .position(|&b| b == b'&' || (ctx == Context::Angle && b == b'>'))
                .map_or(s.len(), |p| i + p);
            return Err(if s[i..pair_end].contains(&b'=') {
                BAD
            } else {
                "header without '='"
            });
        }
        if name == 0 {
            return Err(BAD);
        }
        i += name + 1;
        i += escaped_span(s, i, &HNV_PLAIN).map_err(|()| BAD)?;
        match s.get(i) {
            Some(b'&') => i += 1,
            _ if ends_at(s, i, ctx) => return Ok(i),
            _ => return Err(BAD),
        }
    }
}

/// Parse a host (`hostname / IPv4address / IPv6reference`) at the start of `s`, returning
/// its length and kind.
pub(crate) fn scan_host(s: &[u8]) -> Result<(usize, HostKind), &'static str> {
    if s.first() == Some(&b'[') {
        return scan_ipv6_reference(s);
    }
    // One pass, label by label: the length, the dots, which kinds of octets, and empty
    // labels. Host names are short, so a plain loop over a class table beats anything
    // that needs set-up.
    let mut len = 0;
    let mut dots = 0;
    let mut kinds = 0;
    // While the host is all digits: whether each label is a dec-octet, at most three
    // digits and at most 255 (leading zeros allowed).
    let mut octets = true;
    loop {
        let start = len;
        while let Some(&b) = s.get(len) {
            let kind = HOST_OCTET[usize::from(b)];
            if kind == 0 {
                break;
            }
            kinds |= kind;
            len += 1;
        }
        if kinds == DIGIT && len - start >= 3 {
            octets &=
                len - start == 3 && (s[start], s[start + 1], s[start + 2]) <= (b'2', b'5', b'5');
        }
        if s.get(len) != Some(&b'.') {
            break;
        }
        if len == start {
            return Err("empty label in host");
        }
        dots += 1;
        len += 1;
    }
    if len == 0 {
        return Err("empty host");
    }
    let host = &s[..len];
    if host[0] == b'-' || host[len - 1] == b'-' {
        return Err("bad host name");
    }
    if kinds == DIGIT && dots == 3 && host[len - 1] != b'.' {
        if !octets {
            return Err("bad IPv4 address");
        }
        return Ok((len, HostKind::Ipv4));
    }
    Ok((len, HostKind::Domain))
}

/// `"[" IPv6address "]"` at the start of `s`. RFC 5118 §4.9 asks to tolerate the
/// three-colon form, so the exact address grammar is checked only when it is used.
#[cold]
fn scan_ipv6_reference(s: &[u8]) -> Result<(usize, HostKind), &'static str> {
    let close = syntax::find(b']', s).ok_or("unterminated IPv6 reference")?;
    let inner = &s[1..close];
    if !syntax::IPV6.all(inner) || syntax::find(b':', inner).is_none() {
        return Err("bad IPv6 reference");
    }
    Ok((close + 1, HostKind::Ipv6))
}
