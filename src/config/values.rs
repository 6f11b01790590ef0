//! Value types of the configuration: each one parses from the string a user writes, holds
//! only valid values, and prints back to the same string (so `vss check-config` output can
//! be fed back in).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

/// Why a single configuration value was rejected. The message names the value; the caller
/// (serde through figment, or the validator) adds the key and where the value came from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ValueError(pub(crate) String);

/// A SIP transport protocol, as written in `sip.listen` and `trunks.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    /// SIP over UDP (RFC 3261 §18).
    Udp,
    /// SIP over TCP (RFC 3261 §18).
    Tcp,
    /// SIP over TLS (RFC 3261 §26.2); needs `sip.tls_cert` and `sip.tls_key` to listen.
    Tls,
}

impl Transport {
    /// The name as written in the configuration.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
        }
    }

    /// Whether the transport runs over a TCP socket (TCP and TLS share the port space).
    pub(crate) fn is_stream(self) -> bool {
        matches!(self, Self::Tcp | Self::Tls)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Transport {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "udp" => Ok(Self::Udp),
            "tcp" => Ok(Self::Tcp),
            "tls" => Ok(Self::Tls),
            _ => Err(ValueError(format!(
                "unknown transport {s:?} (expected udp, tcp or tls)"
            ))),
        }
    }
}

/// One SIP listening socket: `"udp:0.0.0.0:5060"`, `"tcp:[::]:5060"`, `"tls:0.0.0.0:5061"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ListenAddr {
    /// The transport served on this socket.
    pub(crate) transport: Transport,
    /// The local address to bind; an IP address, never a host name.
    pub(crate) addr: SocketAddr,
}

impl FromStr for ListenAddr {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            ValueError(format!(
                "invalid listen address {s:?}: {why} (expected TRANSPORT:IP:PORT, \
                 e.g. udp:0.0.0.0:5060 or tcp:[::]:5060)"
            ))
        };
        let (transport, addr) = s
            .trim()
            .split_once(':')
            .ok_or_else(|| bad("no transport"))?;
        if transport.starts_with('[') || transport.parse::<std::net::IpAddr>().is_ok() {
            return Err(bad("no transport"));
        }
        let transport = transport.parse::<Transport>().map_err(|e| bad(&e.0))?;
        let addr = addr
            .parse::<SocketAddr>()
            .map_err(|_| bad("not an IP:PORT pair (host names are not accepted)"))?;
        // Port 0 is allowed: the kernel picks a free port, which `vss serve` logs
        // ("SIP listening"); tests and side-by-side instances use it.
        Ok(Self { transport, addr })
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.transport, self.addr)
    }
}

impl Serialize for ListenAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The range of UDP ports media may use, `"30000-39999"`.
///
/// RTP takes the even port of a pair and RTCP the odd one above it (RFC 3550 §11), so a
/// range starts on an even port and ends on an odd one: it is a whole number of pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortRange {
    /// First port (even).
    pub(crate) first: u16,
    /// Last port (odd), inclusive.
    pub(crate) last: u16,
}

impl FromStr for PortRange {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            ValueError(format!(
                "invalid port range {s:?}: {why} (expected FIRST-LAST, e.g. 30000-39999)"
            ))
        };
        let (first, last) = s.split_once('-').ok_or_else(|| bad("no `-`"))?;
        let first: u16 = first
            .trim()
            .parse()
            .map_err(|_| bad("first port is not a number from 1 to 65535"))?;
        let last: u16 = last
            .trim()
            .parse()
            .map_err(|_| bad("last port is not a number from 1 to 65535"))?;
        if first >= last {
            return Err(bad("first port must be below the last"));
        }
        if first < 1024 {
            return Err(bad("ports below 1024 are reserved for system services"));
        }
        if !first.is_multiple_of(2) {
            return Err(bad(
                "first port must be even (RTP uses even ports, RTCP the odd one above)",
            ));
        }
        if last.is_multiple_of(2) {
            return Err(bad(
                "last port must be odd (the range must hold whole RTP/RTCP pairs)",
            ));
        }
        Ok(Self { first, last })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// A remote SIP peer, `host[:port]`: a DNS name, an IPv4 address or a bracketed IPv6
/// address. Without a port, the transport's default applies (5060, or 5061 for TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort {
    /// Host name or IP address (IPv6 without brackets).
    pub(crate) host: String,
    /// Port, when given.
    pub(crate) port: Option<u16>,
}

impl FromStr for HostPort {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            ValueError(format!(
                "invalid address {s:?}: {why} (expected HOST[:PORT], e.g. sip.carrier.example:5060)"
            ))
        };
        if s.trim().is_empty() {
            return Err(bad("empty"));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (v6, after) = rest.split_once(']').ok_or_else(|| bad("missing `]`"))?;
            v6.parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address inside [ ]"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after `]`"))?),
            };
            (v6, port)
        } else {
            match s.matches(':').count() {
                0 => (s, None),
                1 => s
                    .split_once(':')
                    .map(|(h, p)| (h, Some(p)))
                    .unwrap_or((s, None)),
                _ => return Err(bad("IPv6 addresses go in brackets: [2001:db8::1]:5060")),
            }
        };
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(bad("port is not a number from 1 to 65535")),
                Ok(p) => Some(p),
            },
        };
        if !s.starts_with('[') && host.parse::<IpAddr>().is_err() && !is_host_name(host) {
            return Err(bad("not a valid host name"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        match self.port {
            Some(p) => write!(f, ":{p}"),
            None => Ok(()),
        }
    }
}

impl Serialize for HostPort {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

/// Whether `s` is a DNS host name (RFC 1123 §2.1 labels: letters, digits, hyphens; no
/// leading or trailing hyphen; at most 63 octets a label and 253 in all).
pub(crate) fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn listen_addr_parses_and_prints_every_transport() {
        for s in ["udp:0.0.0.0:5060", "tcp:[::]:5060", "tls:192.0.2.1:5061"] {
            let a: ListenAddr = s.parse().unwrap();
            assert_eq!(a.to_string(), s);
        }
        let a: ListenAddr = "UDP:127.0.0.1:5070".parse().unwrap();
        assert_eq!(a.transport, Transport::Udp);
        assert_eq!(a.addr.port(), 5070);
    }

    #[test]
    fn listen_addr_rejects_bad_forms_naming_the_value() {
        for (s, why) in [
            ("0.0.0.0:5060", "no transport"),
            ("[::]:5060", "no transport"),
            ("sctp:0.0.0.0:5060", "unknown transport \"sctp\""),
            ("udp:1.2.3:5060", "not an IP:PORT"),
            ("udp:example.com:5060", "host names are not accepted"),
            ("udp:0.0.0.0", "not an IP:PORT"),
            ("udp:0.0.0.0:70000", "not an IP:PORT"),
            ("", "no transport"),
        ] {
            let e = s.parse::<ListenAddr>().unwrap_err().0;
            assert!(e.contains(why), "{s:?}: {e}");
            assert!(e.contains(&format!("{s:?}")), "{s:?}: {e}");
        }
    }

    #[test]
    fn port_range_accepts_whole_pairs_only() {
        let r: PortRange = "30000-39999".parse().unwrap();
        assert_eq!((r.first, r.last), (30000, 39999));
        assert_eq!(r.to_string(), "30000-39999");
        for (s, why) in [
            ("40000-30001", "below the last"),
            ("30000-30000", "below the last"),
            ("30001-39999", "even"),
            ("30000-40000", "odd"),
            ("100-201", "below 1024"),
            ("30000", "no `-`"),
            ("a-b", "first port"),
            ("30000-99999", "last port"),
        ] {
            let e = s.parse::<PortRange>().unwrap_err().0;
            assert!(e.contains(why), "{s:?}: {e}");
            assert!(e.contains(s), "{s:?}: {e}");
        }
    }

    #[test]
    fn host_port_forms() {
        for (s, host, port) in [
            (
                "sip.carrier.example:5060",
                "sip.carrier.example",
                Some(5060),
            ),
            ("sip.carrier.example", "sip.carrier.example", None),
            ("192.0.2.7:5080", "192.0.2.7", Some(5080)),
            ("[2001:db8::1]:5061", "2001:db8::1", Some(5061)),
            ("[2001:db8::1]", "2001:db8::1", None),
        ] {
            let hp: HostPort = s.parse().unwrap();
            assert_eq!((hp.host.as_str(), hp.port), (host, port), "{s}");
            assert_eq!(hp.to_string(), s);
        }
        for (s, why) in [
            ("", "empty"),
            ("   ", "empty"),
            ("2001:db8::1", "brackets"),
            ("host:0", "port"),
            ("host:x", "port"),
            ("host:", "port"),
            ("bad host", "host name"),
            ("-bad.example", "host name"),
            ("[zz]:5060", "IPv6"),
            ("[::1]5060", "junk"),
        ] {
            let e = s.parse::<HostPort>().unwrap_err().0;
            assert!(e.contains(why), "{s:?}: {e}");
        }
    }

    #[test]
    fn host_names() {
        assert!(is_host_name("vss.example.net"));
        assert!(is_host_name("vm"));
        assert!(is_host_name("a-b.c."));
        assert!(!is_host_name(""));
        assert!(!is_host_name("a..b"));
        assert!(!is_host_name("a_b"));
        assert!(!is_host_name(&"a".repeat(64)));
    }
}
