//! The `o=` and `c=` lines: who made the description and where media goes.

use std::fmt;
use std::net::IpAddr;

use bytes::Bytes;

use super::text::{as_str, split_fields};

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
    fn parse(text: Bytes) -> Self {
        match &text[..] {
            b"IP4" => Self::Ip4,
            b"IP6" => Self::Ip6,
            _ => Self::Other(text),
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    net_type: Bytes,
    addr_type: AddrType,
    address: Address,
    /// Multicast `/<ttl>[/<number of addresses>]`, kept verbatim with its leading slash.
    suffix: Bytes,
}

impl Connection {
    /// Parses the value of a `c=` line (what follows `c=`).
    pub(crate) fn parse(value: &Bytes) -> Option<Self> {
        let mut f = split_fields(value);
        let net_type = f.next()?;
        let addr_type = f.next()?;
        let addr = f.next()?;
        if f.next().is_some() || net_type.is_empty() || addr_type.is_empty() || addr.is_empty() {
            return None;
        }
        let (address, suffix) = match memchr::memchr(b'/', &addr) {
            Some(i) => (addr.slice(..i), addr.slice(i..)),
            None => (addr, Bytes::new()),
        };
        if address.is_empty() {
            return None;
        }
        Some(Self {
            net_type,
            addr_type: AddrType::parse(addr_type),
            address: Address::parse(address),
            suffix,
        })
    }

    /// A unicast `IN IP4|IP6 <ip>` connection.
    pub fn new(ip: IpAddr) -> Self {
        Self {
            net_type: Bytes::from_static(b"IN"),
            addr_type: AddrType::of(ip),
            address: Address::from(ip),
            suffix: Bytes::new(),
        }
    }

    /// The network type, `IN` in practice.
    pub fn net_type(&self) -> &str {
        as_str(&self.net_type)
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
        as_str(&self.suffix)
    }

    /// True when the address is `0.0.0.0` (RFC 2543 hold) or `::`.
    pub fn is_hold(&self) -> bool {
        self.address.is_unspecified()
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}{}",
            self.net_type(),
            self.addr_type.as_str(),
            self.address,
            self.multicast_suffix()
        )
    }
}

/// The `o=` line (RFC 8866 §5.2):
/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    username: Bytes,
    session_id: Bytes,
    version: u64,
    /// The version as written, so that a leading zero survives a round trip.
    version_text: Bytes,
    net_type: Bytes,
    addr_type: AddrType,
    address: Address,
}

impl Origin {
    pub(crate) fn parse(value: &Bytes) -> Option<Self> {
        let mut f = split_fields(value);
        let username = f.next()?;
        let session_id = f.next()?;
        let version_text = f.next()?;
        let net_type = f.next()?;
        let addr_type = f.next()?;
        let address = f.next()?;
        if f.next().is_some()
            || [&username, &session_id, &net_type, &addr_type, &address]
                .iter()
                .any(|b| b.is_empty())
        {
            return None;
        }
        if session_id.iter().any(|b| !b.is_ascii_digit()) {
            return None;
        }
        let version = parse_u64(&version_text)?;
        Some(Self {
            username,
            session_id,
            version,
            version_text,
            net_type,
            addr_type: AddrType::parse(addr_type),
            address: Address::parse(address),
        })
    }

    /// The user name (`-` when the creator has none).
    pub fn username(&self) -> &str {
        as_str(&self.username)
    }

    /// The session id, a numeric string (it may exceed 64 bits, so it stays text).
    pub fn session_id(&self) -> &str {
        as_str(&self.session_id)
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

    pub(crate) fn set_version(&mut self, version: u64) {
        self.version = version;
        self.version_text = Bytes::from(version.to_string());
    }

    pub(crate) fn set_address(&mut self, ip: IpAddr) {
        self.addr_type = AddrType::of(ip);
        self.address = Address::from(ip);
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {} {} {}",
            self.username(),
            self.session_id(),
            as_str(&self.version_text),
            as_str(&self.net_type),
            self.addr_type.as_str(),
            self.address
        )
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
