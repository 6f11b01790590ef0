//! The `o=` and `c=` lines: who made the description and where media goes.

use std::fmt;
use std::net::IpAddr;

use bytes::Bytes;

use super::text::as_str;

/// An address as SDP writes it: kept verbatim, and parsed when it is an IP literal.
///
/// IPv6 literals are written without brackets in SDP (RFC 8866 §5.7). Host names are
/// legal in `c=` and `o=` and stay as text: resolving them is not the parser's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    text: Bytes,
    ip: Option<IpAddr>,
}

impl Address {
    pub(crate) fn parse(text: Bytes) -> Self {
        let s = as_str(&text);
        // Some implementations bracket IPv6 literals even in SDP; accept that for the typed
        // view but keep the text as it was written.
        let bare = s
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(s);
        let ip = bare.parse::<IpAddr>().ok();
        Self { text, ip }
    }

    /// The address exactly as written.
    pub fn as_str(&self) -> &str {
        as_str(&self.text)
    }

    /// The IP address, when the text is an IPv4 or IPv6 literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// True for `0.0.0.0` (or `::`), the RFC 2543 way of putting a stream on hold.
    pub fn is_unspecified(&self) -> bool {
        self.ip.is_some_and(|ip| ip.is_unspecified())
    }
}

impl From<IpAddr> for Address {
    fn from(ip: IpAddr) -> Self {
        Self {
            text: Bytes::from(ip.to_string()),
            ip: Some(ip),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `<addrtype>` field: `IP4`, `IP6`, or something this module does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddrType {
    /// `IP4`.
    Ip4,
    /// `IP6`.
    Ip6,
    /// Any other token, kept verbatim.
    Other(Bytes),
}

impl AddrType {
    fn parse_slice(value: &Bytes, start: usize, end: usize) -> Self {
        match value.get(start..end) {
            Some(b"IP4") => Self::Ip4,
            Some(b"IP6") => Self::Ip6,
            _ => Self::Other(value.slice(start..end.max(start).min(value.len()))),
        }
    }

    /// The type matching an IP address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Self::Ip4,
            IpAddr::V6(_) => Self::Ip6,
        }
    }

    /// The token as written.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ip4 => "IP4",
            Self::Ip6 => "IP6",
            Self::Other(t) => as_str(t),
        }
    }
}

/// A `c=` line (RFC 8866 §5.7): `c=<nettype> <addrtype> <connection-address>`.
///
/// The line is kept as written (one shared buffer, no per-field copies) and printed back
/// verbatim; the fields are views into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    text: Bytes,
    net_end: usize,
    addr_type: AddrType,
    address: Address,
    /// Start of the multicast `/<ttl>[/<number of addresses>]` suffix (= len when none).
    suffix_start: usize,
}

impl Connection {
    /// Parses the value of a `c=` line (what follows `c=`).
    pub(crate) fn parse(value: &Bytes) -> Option<Self> {
        let v = &value[..];
        let sp1 = v.iter().position(|&b| b == b' ')?;
        let sp2 = sp1 + 1 + v[sp1 + 1..].iter().position(|&b| b == b' ')?;
        let addr = &v[sp2 + 1..];
        if sp1 == 0 || sp2 == sp1 + 1 || addr.is_empty() || addr.contains(&b' ') {
            return None;
        }
        let addr_len = addr.iter().position(|&b| b == b'/').unwrap_or(addr.len());
        if addr_len == 0 {
            return None;
        }
        let addr_start = sp2 + 1;
        Some(Self {
            text: value.clone(),
            net_end: sp1,
            addr_type: AddrType::parse_slice(value, sp1 + 1, sp2),
            address: Address::parse(value.slice(addr_start..addr_start + addr_len)),
            suffix_start: addr_start + addr_len,
        })
    }

    /// A unicast `IN IP4|IP6 <ip>` connection.
    pub fn new(ip: IpAddr) -> Self {
        let addr_type = AddrType::of(ip);
        let text = Bytes::from(format!("IN {} {ip}", addr_type.as_str()));
        let addr_start = 4 + addr_type.as_str().len();
        Self {
            address: Address::parse(text.slice(addr_start..)),
            suffix_start: text.len(),
            net_end: 2,
            addr_type,
            text,
        }
    }

    /// The network type, `IN` in practice.
    pub fn net_type(&self) -> &str {
        as_str(self.text.get(..self.net_end).unwrap_or_default())
    }

    /// The address type.
    pub fn addr_type(&self) -> &AddrType {
        &self.addr_type
    }

    /// The connection address (without any multicast TTL or count).
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Multicast TTL and address count as written (`/127/3`), or empty.
    pub fn multicast_suffix(&self) -> &str {
        as_str(self.text.get(self.suffix_start..).unwrap_or_default())
    }

    /// True when the address is `0.0.0.0` (RFC 2543 hold) or `::`.
    pub fn is_hold(&self) -> bool {
        self.address.is_unspecified()
    }

    pub(crate) fn raw(&self) -> &[u8] {
        &self.text
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(as_str(&self.text))
    }
}

/// The `o=` line (RFC 8866 §5.2):
/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
///
/// Kept as written and printed back verbatim; setters rewrite the whole line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    text: Bytes,
    /// Field boundaries in `text`: start and end of each of the six fields.
    fields: [(u16, u16); 6],
    version: u64,
    addr_type: AddrType,
    address: Address,
}

impl Origin {
    pub(crate) fn parse(value: &Bytes) -> Option<Self> {
        let v = &value[..];
        if v.len() > usize::from(u16::MAX) {
            return None;
        }
        let mut fields = [(0u16, 0u16); 6];
        let mut start = 0usize;
        for (i, f) in fields.iter_mut().enumerate() {
            let end = if i == 5 {
                v.len()
            } else {
                start + v.get(start..)?.iter().position(|&b| b == b' ')?
            };
            if end == start {
                return None;
            }
            *f = (start as u16, end as u16);
            start = end + 1;
        }
        if v[usize::from(fields[5].0)..].contains(&b' ') {
            return None;
        }
        let span = |i: usize| usize::from(fields[i].0)..usize::from(fields[i].1);
        if v[span(1)].iter().any(|b| !b.is_ascii_digit()) {
            return None;
        }
        let version = parse_u64(&v[span(2)])?;
        Some(Self {
            text: value.clone(),
            fields,
            version,
            addr_type: AddrType::parse_slice(value, span(4).start, span(4).end),
            address: Address::parse(value.slice(span(5))),
        })
    }

    fn field(&self, i: usize) -> &str {
        let (a, b) = self.fields[i];
        as_str(
            self.text
                .get(usize::from(a)..usize::from(b))
                .unwrap_or_default(),
        )
    }

    /// The user name (`-` when the creator has none).
    pub fn username(&self) -> &str {
        self.field(0)
    }

    /// The session id, a numeric string (it may exceed 64 bits, so it stays text).
    pub fn session_id(&self) -> &str {
        self.field(1)
    }

    /// The session version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The address of the machine that created the session.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// The address type.
    pub fn addr_type(&self) -> &AddrType {
        &self.addr_type
    }

    pub(crate) fn raw(&self) -> &[u8] {
        &self.text
    }

    pub(crate) fn set_version(&mut self, version: u64) {
        let (t, a) = (
            self.addr_type.as_str().to_owned(),
            self.address.as_str().to_owned(),
        );
        self.rebuild(version, &t, &a);
    }

    pub(crate) fn set_address(&mut self, ip: IpAddr) {
        self.rebuild(self.version, AddrType::of(ip).as_str(), &ip.to_string());
    }

    /// Rewrites the line with new fields, so that it is printed, compared and viewed
    /// exactly like a parsed one.
    fn rebuild(&mut self, version: u64, addr_type: &str, address: &str) {
        let text = format!(
            "{} {} {version} {} {addr_type} {address}",
            self.username(),
            self.session_id(),
            self.field(3)
        );
        // Re-parsing text built from valid fields cannot fail; if it did, keep the old line.
        if let Some(o) = Self::parse(&Bytes::from(text)) {
            *self = o;
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(as_str(&self.text))
    }
}

pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(v)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn connection_forms() {
        let c = Connection::parse(&Bytes::from_static(b"IN IP4 192.0.2.1")).unwrap();
        assert_eq!(c.address().ip(), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(c.to_string(), "IN IP4 192.0.2.1");

        let c = Connection::parse(&Bytes::from_static(b"IN IP6 2001:DB8::20")).unwrap();
        assert_eq!(c.address().ip(), Some("2001:db8::20".parse().unwrap()));
        assert_eq!(c.to_string(), "IN IP6 2001:DB8::20", "text kept as written");

        let c = Connection::parse(&Bytes::from_static(b"IN IP4 224.2.36.42/127/3")).unwrap();
        assert_eq!(c.address().as_str(), "224.2.36.42");
        assert_eq!(c.multicast_suffix(), "/127/3");
        assert_eq!(c.to_string(), "IN IP4 224.2.36.42/127/3");

        let c = Connection::parse(&Bytes::from_static(b"IN IP4 media.example.com")).unwrap();
        assert_eq!(c.address().ip(), None);
        assert_eq!(c.address().as_str(), "media.example.com");

        assert!(
            Connection::parse(&Bytes::from_static(b"IN IP4 0.0.0.0"))
                .unwrap()
                .is_hold()
        );
        assert!(Connection::parse(&Bytes::from_static(b"IN IP4")).is_none());
        assert!(Connection::parse(&Bytes::from_static(b"IN IP4 1.2.3.4 x")).is_none());
        assert!(Connection::parse(&Bytes::from_static(b"IN IP4 /127")).is_none());
    }

    #[test]
    fn origin_forms() {
        let o = Origin::parse(&Bytes::from_static(
            b"assistant 971731711378798081 0 IN IP6 2001:db8::20",
        ))
        .unwrap();
        assert_eq!(o.version(), 0);
        assert_eq!(o.session_id(), "971731711378798081");
        assert!(Origin::parse(&Bytes::from_static(b"- 1 x IN IP4 1.2.3.4")).is_none());
        assert!(Origin::parse(&Bytes::from_static(b"- 1 2 IN IP4")).is_none());
        assert!(Origin::parse(&Bytes::from_static(b"- 1 99999999999999999999 IN IP4 a")).is_none());
    }
}
