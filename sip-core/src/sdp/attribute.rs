//! Typed views of the `a=` attributes a relay needs: rtpmap, fmtp, ptime, rtcp and the
//! direction attributes.

use std::fmt;

use bytes::Bytes;

use super::connection::Connection;
use super::text::as_str;

/// One `a=` line, split into its name and optional value (RFC 8866 §5.13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The attribute name (before the first `:`).
    pub name: &'a str,
    /// The value after the first `:`, or `None` for a property attribute such as `sendrecv`.
    pub value: Option<&'a str>,
}

impl<'a> Attribute<'a> {
    pub(crate) fn parse(raw: &'a [u8]) -> Self {
        // A byte scan beats `str::split_once` on these short values; ':' is ASCII, so
        // both halves stay valid UTF-8.
        match raw.iter().position(|&b| b == b':') {
            Some(i) => Self {
                name: as_str(&raw[..i]),
                value: Some(as_str(&raw[i + 1..])),
            },
            None => Self {
                name: as_str(raw),
                value: None,
            },
        }
    }
}

/// The media direction attributes (RFC 3264 §5.1, RFC 8866 §6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `a=sendrecv`, the default when no direction attribute is present.
    SendRecv,
    /// `a=sendonly`: the sender puts the peer on hold (RFC 3264 §8.4).
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`: neither side sends.
    Inactive,
}

impl Direction {
    /// Parses an attribute name into a direction.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sendrecv" => Some(Self::SendRecv),
            "sendonly" => Some(Self::SendOnly),
            "recvonly" => Some(Self::RecvOnly),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    /// The attribute name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }

    /// The direction an answerer writes for this offered direction (RFC 3264 §6.1):
    /// sendonly is answered with recvonly and vice versa.
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            d => d,
        }
    }

    /// True if the side that wrote this direction sends media.
    pub fn sends(self) -> bool {
        matches!(self, Self::SendRecv | Self::SendOnly)
    }

    /// True if the side that wrote this direction wants to receive media.
    pub fn receives(self) -> bool {
        matches!(self, Self::SendRecv | Self::RecvOnly)
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]`
/// (RFC 8866 §6.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMap<'a> {
    /// The RTP payload type (0..=127).
    pub payload_type: u8,
    /// The encoding name as written (`PCMU`, `opus`, `telephone-event`, ...).
    pub encoding: &'a str,
    /// The clock rate in Hz. Old RFC 2327 bodies (RFC 4475 `a=rtpmap:31 LPC`) omit it.
    pub clock_rate: Option<u32>,
    /// Channel count for audio (`opus/48000/2`), when given.
    pub channels: Option<u16>,
}

impl<'a> RtpMap<'a> {
    /// Parses the value of an `a=rtpmap:` attribute.
    pub fn parse(value: &'a str) -> Option<Self> {
        let sp = value.bytes().position(|b| b == b' ')?;
        let (pt, rest) = (&value[..sp], &value[sp + 1..]);
        let payload_type = parse_payload_type(pt)?;
        let rest = rest.trim_end();
        // Byte scans: these run for every rtpmap of every parsed body.
        let slash = rest.bytes().position(|b| b == b'/');
        let (encoding, after) = match slash {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        if encoding.is_empty() {
            return None;
        }
        let (clock_rate, channels) = match after {
            None => (None, None),
            Some(a) => {
                let (rate, ch) = match a.bytes().position(|b| b == b'/') {
                    Some(i) => (&a[..i], Some(&a[i + 1..])),
                    None => (a, None),
                };
                let rate = parse_digits(rate)
                    .and_then(|r| u32::try_from(r).ok())
                    .filter(|&r| r > 0)?;
                let ch = match ch {
                    Some(c) => Some(parse_digits(c).and_then(|c| u16::try_from(c).ok())?),
                    None => None,
                };
                (Some(rate), ch)
            }
        };
        Some(Self {
            payload_type,
            encoding,
            clock_rate,
            channels,
        })
    }

    /// True for RFC 4733 `telephone-event`.
    pub fn is_telephone_event(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("telephone-event")
    }
}

/// `a=fmtp:<format> <format specific parameters>` (RFC 8866 §6.15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmtp<'a> {
    /// The format (payload type for RTP).
    pub format: &'a str,
    /// The parameters, verbatim (`0-16`, `minptime=10;useinbandfec=1`).
    pub params: &'a str,
}

impl<'a> Fmtp<'a> {
    /// Parses the value of an `a=fmtp:` attribute.
    pub fn parse(value: &'a str) -> Option<Self> {
        let (format, params) = value.split_once(' ').unwrap_or((value, ""));
        if format.is_empty() {
            return None;
        }
        Some(Self { format, params })
    }

    /// The format as an RTP payload type, if it is one.
    pub fn payload_type(&self) -> Option<u8> {
        parse_payload_type(self.format)
    }

    /// Looks up one `key=value` parameter (parameters are `;`-separated).
    pub fn param(&self, key: &str) -> Option<&'a str> {
        self.params.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
    }
}

/// `a=rtcp:<port> [<nettype> <addrtype> <connection-address>]` (RFC 3605 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtcp {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when it differs from the media's `c=` address.
    pub connection: Option<Connection>,
}

impl Rtcp {
    /// Parses the value of an `a=rtcp:` attribute.
    pub fn parse(value: &str) -> Option<Self> {
        let (port, rest) = match value.split_once(' ') {
            Some((p, r)) => (p, Some(r)),
            None => (value, None),
        };
        let port = port.parse::<u16>().ok()?;
        let connection = match rest {
            Some(r) => Some(Connection::parse(&Bytes::copy_from_slice(r.as_bytes()))?),
            None => None,
        };
        Some(Self { port, connection })
    }
}

impl fmt::Display for Rtcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.connection {
            Some(c) => write!(f, "{} {c}", self.port),
            None => write!(f, "{}", self.port),
        }
    }
}

/// Parses `a=ptime:` (RFC 8866 §6.4); fractional values are truncated to whole ms.
pub(crate) fn parse_ptime(value: &str) -> Option<u32> {
    let int = match value.bytes().position(|b| b == b'.') {
        Some(i) => &value[..i],
        None => value,
    };
    parse_digits(int.trim()).and_then(|v| u32::try_from(v).ok())
}

fn parse_payload_type(s: &str) -> Option<u8> {
    parse_digits(s).filter(|&pt| pt <= 127).map(|pt| pt as u8)
}

/// A decimal number of at most nine digits (no sign, no spaces).
fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 9 {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rtpmap_forms() {
        let r = RtpMap::parse("111 opus/48000/2").unwrap();
        assert_eq!(
            (r.payload_type, r.encoding, r.clock_rate, r.channels),
            (111, "opus", Some(48000), Some(2))
        );
        let r = RtpMap::parse("31 LPC").unwrap();
        assert_eq!(r.clock_rate, None);
        assert!(
            RtpMap::parse("101 telephone-event/8000")
                .unwrap()
                .is_telephone_event()
        );
        assert!(RtpMap::parse("x PCMU/8000").is_none());
        assert!(RtpMap::parse("200 PCMU/8000").is_none());
        assert!(RtpMap::parse("0 PCMU/abc").is_none());
        assert!(RtpMap::parse("0 /8000").is_none());
        assert!(RtpMap::parse("0").is_none());
    }

    #[test]
    fn fmtp_params() {
        let f = Fmtp::parse("111 minptime=10;useinbandfec=1").unwrap();
        assert_eq!(f.payload_type(), Some(111));
        assert_eq!(f.param("useinbandfec"), Some("1"));
        assert_eq!(f.param("stereo"), None);
        assert_eq!(Fmtp::parse("101 0-16").unwrap().params, "0-16");
    }

    #[test]
    fn rtcp_forms() {
        assert_eq!(Rtcp::parse("53021").unwrap().port, 53021);
        let r = Rtcp::parse("53020 IN IP4 126.16.64.4").unwrap();
        assert_eq!(
            r.connection.as_ref().unwrap().address().as_str(),
            "126.16.64.4"
        );
        assert_eq!(r.to_string(), "53020 IN IP4 126.16.64.4");
        assert!(Rtcp::parse("x").is_none());
        assert!(Rtcp::parse("70000").is_none());
        assert!(Rtcp::parse("5 IN").is_none());
    }

    #[test]
    fn direction_answer() {
        assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
        assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
        assert_eq!(parse_ptime("20"), Some(20));
        assert_eq!(parse_ptime("20.5"), Some(20));
        assert_eq!(parse_ptime("x"), None);
    }
}
