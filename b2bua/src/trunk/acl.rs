//! Address blocks (CIDR) for the inbound ACL of a trunk.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 address block, `192.0.2.0/24` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// Why an address block did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpNetError {
    /// The address part is not an IP address.
    #[error("{0:?} is not an IP address")]
    BadAddress(String),
    /// The prefix length is not a number within the address family's width.
    #[error("{0:?} is not a prefix length for this address family")]
    BadPrefix(String),
}

impl IpNet {
    /// A block of the addresses sharing the first `prefix` bits with `addr`.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, IpNetError> {
        let width = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > width {
            return Err(IpNetError::BadPrefix(prefix.to_string()));
        }
        Ok(IpNet { addr, prefix })
    }

    /// The block holding only `addr`.
    pub fn host(addr: IpAddr) -> IpNet {
        IpNet {
            addr,
            prefix: if addr.is_ipv4() { 32 } else { 128 },
        }
    }

    /// Whether `ip` is in the block. An IPv4-mapped IPv6 address matches IPv4 blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(s: &str) -> Result<IpNet, IpNetError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| IpNetError::BadAddress(addr.to_owned()))?;
        match prefix {
            None => Ok(IpNet::host(addr)),
            Some(p) => {
                let n: u8 = p
                    .trim()
                    .parse()
                    .map_err(|_| IpNetError::BadPrefix(p.to_owned()))?;
                IpNet::new(addr, n)
            }
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn blocks_match_their_addresses() -> Result<(), IpNetError> {
        let net: IpNet = "198.51.100.0/24".parse()?;
        assert!(net.contains(ip("198.51.100.77")));
        assert!(!net.contains(ip("198.51.101.1")));
        assert!(net.contains(ip("::ffff:198.51.100.9")));
        let one: IpNet = "203.0.113.5".parse()?;
        assert!(one.contains(ip("203.0.113.5")));
        assert!(!one.contains(ip("203.0.113.6")));
        let all: IpNet = "0.0.0.0/0".parse()?;
        assert!(all.contains(ip("8.8.8.8")));
        let v6: IpNet = "2001:db8::/32".parse()?;
        assert!(v6.contains(ip("2001:db8:1::1")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        Ok(())
    }

    #[test]
    fn bad_blocks_are_refused() {
        assert!(matches!(
            "10.0.0.0/33".parse::<IpNet>(),
            Err(IpNetError::BadPrefix(_))
        ));
        assert!(matches!(
            "nothing/8".parse::<IpNet>(),
            Err(IpNetError::BadAddress(_))
        ));
        assert!(matches!(
            "10.0.0.0/x".parse::<IpNet>(),
            Err(IpNetError::BadPrefix(_))
        ));
    }
}
