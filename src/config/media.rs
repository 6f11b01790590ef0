//! `[media]`: RTP ports, the address written into SDP, the rtpengine-compatible control
//! socket, and recording.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::de::{optional_ip, optional_socket_addr};
use super::error::ConfigError;
use super::validate::Validator;
use super::values::PortRange;

/// The `[media]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct MediaConfig {
    /// UDP ports for RTP (even) and RTCP (odd); default `30000-39999`.
    pub(crate) rtp_ports: PortRange,
    /// The address written into SDP `c=` lines; default: the address media is received on.
    #[serde(deserialize_with = "optional_ip")]
    pub(crate) public_ip: Option<IpAddr>,
    /// The rtpengine "ng" control socket; `""` (None) disables it. Default `127.0.0.1:22222`.
    #[serde(with = "optional_socket_addr")]
    pub(crate) ng_listen: Option<SocketAddr>,
    /// Where call recordings are written; default `./var/recordings`.
    pub(crate) recordings_dir: PathBuf,
    /// Whether every call is recorded (a call can still ask for recording); default false.
    pub(crate) record_calls: bool,
    /// Seconds without RTP after which a call is ended; default 60.
    pub(crate) media_timeout_s: u64,
    /// Whether latched, plain RTP is forwarded in the kernel (eBPF); default `auto`.
    pub(crate) kernel_forwarding: KernelForwarding,
}

/// `media.kernel_forwarding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KernelForwarding {
    /// Use it when the program loads and attaches; else relay in userspace.
    #[default]
    Auto,
    /// Use it; `vss serve` does not start without it.
    On,
    /// Relay in userspace only.
    Off,
}

impl From<KernelForwarding> for media::KernelForwarding {
    fn from(k: KernelForwarding) -> Self {
        match k {
            KernelForwarding::Auto => Self::Auto,
            KernelForwarding::On => Self::On,
            KernelForwarding::Off => Self::Off,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            rtp_ports: PortRange {
                first: 30000,
                last: 39999,
            },
            public_ip: None,
            ng_listen: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 22222))),
            recordings_dir: PathBuf::from("./var/recordings"),
            record_calls: false,
            media_timeout_s: 60,
            kernel_forwarding: KernelForwarding::Auto,
        }
    }
}

impl MediaConfig {
    pub(super) fn validate(&self, v: &Validator<'_>) -> Result<(), ConfigError> {
        if let Some(ip) = self.public_ip {
            // An unspecified c= address means "hold" to RFC 2543 peers (RFC 3264 §8.4), and
            // a multicast one is not where a peer can reach us.
            if ip.is_unspecified() || ip.is_multicast() {
                return Err(v.invalid(
                    "media.public_ip",
                    format!("{ip} cannot be written into SDP: give the address peers send RTP to"),
                ));
            }
        }
        if self.recordings_dir.as_os_str().is_empty() {
            return Err(v.invalid("media.recordings_dir", "is empty"));
        }
        if self.media_timeout_s == 0 {
            return Err(v.invalid("media.media_timeout_s", "must be at least 1"));
        }
        Ok(())
    }
}
