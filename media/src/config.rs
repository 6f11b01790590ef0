//! The media engine's configuration (the `[media]` section of the VSS configuration).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::MediaError;

/// Settings of the media engine. The binary maps its `[media]` section onto this.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// UDP ports for RTP/RTCP pairs; RTP takes the even port, RTCP the next odd one.
    pub rtp_ports: RangeInclusive<u16>,
    /// Address the relay binds its media sockets to.
    pub bind_ip: IpAddr,
    /// Address written into rewritten SDP; `None` writes `bind_ip`.
    pub public_ip: Option<IpAddr>,
    /// Where the rtpengine-compatible ng control protocol listens; `None` disables it.
    pub ng_listen: Option<SocketAddr>,
    /// Directory under which recordings are written.
    pub recordings_dir: PathBuf,
    /// Record every call from the start.
    pub record_calls: bool,
    /// File name pattern under `recordings_dir`: `{call_id}`, `{date}` (YYYY-MM-DD) and
    /// `{time}` (HHMMSS, UTC) are replaced.
    pub recording_pattern: String,
    /// A leg that sends no RTP for this long raises [`MediaEvent::Timeout`](crate::MediaEvent).
    pub media_timeout: Duration,
    /// The same for a stream on hold, where silence is expected.
    pub hold_timeout: Duration,
    /// Relay worker threads; `0` means one per CPU.
    pub workers: usize,
    /// After a wake-up with work, a relay worker pauses this long before waiting again,
    /// so that one wake-up serves many sockets (fewer context switches under load).
    /// Adds at most this much latency; zero disables it.
    pub coalesce: Duration,
    /// Whether latched, plain RTP is forwarded inside the kernel (eBPF at TC ingress).
    pub kernel_forwarding: KernelForwarding,
}

/// `media.kernel_forwarding`: whether latched, plain RTP is forwarded in the kernel
/// instead of passing through the relay's sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KernelForwarding {
    /// Use it if the program loads and attaches (needs root, or CAP_BPF and
    /// CAP_NET_ADMIN); otherwise relay in userspace and say why in the log.
    #[default]
    Auto,
    /// Use it; the engine does not start without it.
    On,
    /// Relay everything in userspace.
    Off,
}

impl std::str::FromStr for KernelForwarding {
    type Err = MediaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            _ => Err(MediaError::Config(format!(
                "kernel_forwarding {s:?}: expected \"auto\", \"on\" or \"off\""
            ))),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            rtp_ports: 30000..=39999,
            bind_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            public_ip: None,
            ng_listen: Some(SocketAddr::from(([127, 0, 0, 1], 22222))),
            recordings_dir: PathBuf::from("./var/recordings"),
            record_calls: false,
            recording_pattern: "{date}/{call_id}.wav".to_owned(),
            media_timeout: Duration::from_secs(60),
            hold_timeout: Duration::from_secs(3600),
            workers: 0,
            coalesce: Duration::from_micros(500),
            kernel_forwarding: KernelForwarding::Auto,
        }
    }
}

impl MediaConfig {
    /// Parses a `"30000-39999"` port range as written in the configuration file.
    pub fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, MediaError> {
        let bad = || MediaError::Config(format!("rtp_ports {s:?}: expected LOW-HIGH"));
        let (lo, hi) = s.trim().split_once('-').ok_or_else(bad)?;
        let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
        if lo == 0 || lo > hi {
            return Err(bad());
        }
        Ok(lo..=hi)
    }

    /// The address written into SDP.
    pub fn advertised_ip(&self) -> IpAddr {
        match (self.public_ip, self.bind_ip) {
            (Some(ip), _) => ip,
            (None, ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            (None, ip) => ip,
        }
    }

    /// Checks the settings that would make the engine useless.
    pub fn validate(&self) -> Result<(), MediaError> {
        let (lo, hi) = (*self.rtp_ports.start(), *self.rtp_ports.end());
        let first_even = lo + (lo % 2);
        if lo == 0 || first_even >= hi {
            return Err(MediaError::Config(format!(
                "rtp_ports {lo}-{hi} holds no even/odd pair"
            )));
        }
        if self.recording_pattern.is_empty() || self.recording_pattern.contains("..") {
            return Err(MediaError::Config(
                "recording_pattern is empty or climbs out of recordings_dir".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn port_range_parsing() {
        assert_eq!(
            MediaConfig::parse_port_range("30000-39999").unwrap(),
            30000..=39999
        );
        assert!(MediaConfig::parse_port_range("3-2").is_err());
        assert!(MediaConfig::parse_port_range("x-2").is_err());
        assert!(MediaConfig::parse_port_range("30000").is_err());
        let c = MediaConfig {
            rtp_ports: 30001..=30002,
            ..MediaConfig::default()
        };
        assert!(c.validate().is_err(), "30002 has no odd partner");
        let c = MediaConfig {
            rtp_ports: 30001..=30003,
            ..MediaConfig::default()
        };
        assert!(c.validate().is_ok());
    }

    #[test]
    fn kernel_forwarding_parsing() {
        assert_eq!(
            "auto".parse::<KernelForwarding>().unwrap(),
            KernelForwarding::Auto
        );
        assert_eq!(
            " ON ".parse::<KernelForwarding>().unwrap(),
            KernelForwarding::On
        );
        assert_eq!(
            "off".parse::<KernelForwarding>().unwrap(),
            KernelForwarding::Off
        );
        assert!("yes".parse::<KernelForwarding>().is_err());
        assert_eq!(
            MediaConfig::default().kernel_forwarding,
            KernelForwarding::Auto
        );
    }
}
