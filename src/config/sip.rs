//! `[sip]`: listening sockets, the domain, TLS files and the transaction timers.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::de::string_or_list;
use super::error::ConfigError;
use super::secret::Secret;
use super::validate::Validator;
use super::values::{ListenAddr, Transport, is_host_name};

/// RFC 3261 §17.1.1.1 and Table 4: T1, the round-trip time estimate.
pub(crate) const DEFAULT_T1_MS: u64 = 500;
/// RFC 3261 Table 4: T2, the longest retransmit interval for non-INVITE requests and
/// INVITE responses.
pub(crate) const DEFAULT_T2_MS: u64 = 4000;
/// RFC 3261 Table 4: T4, the longest time a message stays in the network.
pub(crate) const DEFAULT_T4_MS: u64 = 5000;

/// `sip.coalesce_us` unless set: 5 ms, 1 % of T1 (500 ms), the shortest SIP timer.
pub(crate) const DEFAULT_COALESCE_US: u64 = 5000;
/// Longest `sip.coalesce_us` accepted.
const MAX_COALESCE_US: u64 = 20_000;

/// The `[sip]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct SipConfig {
    /// Sockets to serve SIP on; default UDP and TCP on `0.0.0.0:5060`.
    #[serde(deserialize_with = "string_or_list")]
    pub(crate) listen: Vec<ListenAddr>,
    /// The SIP domain, also the digest realm; default: the host's name.
    pub(crate) domain: String,
    /// PEM certificate chain for `tls:` listeners.
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key for `tls:` listeners.
    pub(crate) tls_key: Option<PathBuf>,
    /// Timer T1 in milliseconds (RFC 3261 §17); default 500.
    pub(crate) t1_ms: u64,
    /// Timer T2 in milliseconds; default 4000.
    pub(crate) t2_ms: u64,
    /// Timer T4 in milliseconds; default 5000.
    pub(crate) t4_ms: u64,
    /// The `User-Agent`/`Server` header value; default `VSS/<version>`.
    pub(crate) user_agent: String,
    /// Answer requests at the address and port they came from, as if every Via asked
    /// for `rport` (RFC 3581; Kamailio's `force_rport`): slots behind NAT only hear
    /// answers sent there. Default true.
    pub(crate) force_rport: bool,
    /// Most live SIP transactions; a new request beyond it gets 503 (overload). Each
    /// lives 32 s after its answer on UDP (Timer J = 64*T1), so 4,000 requests/s need
    /// about 130,000. Default 500000 (about 0.5 GB at the limit).
    pub(crate) max_transactions: usize,
    /// Key of the stateless digest nonces (at least 16 bytes). Nodes sharing one database
    /// must share it. Unset: generated once and kept in `./var/sip_nonce_secret`.
    pub(crate) nonce_secret: Option<Secret>,
    /// Under load, how long the SIP thread lets datagrams gather before it reads them, in
    /// microseconds: one wake-up then serves several messages instead of one each. Only
    /// while messages arrive faster than one per this interval; an idle server answers at
    /// once. 0 turns it off. Default 5000, at most 20000.
    pub(crate) coalesce_us: u64,
}

impl Default for SipConfig {
    fn default() -> Self {
        let any = |transport| ListenAddr {
            transport,
            addr: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 5060)),
        };
        Self {
            listen: vec![any(Transport::Udp), any(Transport::Tcp)],
            domain: host_name().unwrap_or_default(),
            tls_cert: None,
            tls_key: None,
            t1_ms: DEFAULT_T1_MS,
            t2_ms: DEFAULT_T2_MS,
            t4_ms: DEFAULT_T4_MS,
            user_agent: concat!("VSS/", env!("CARGO_PKG_VERSION")).to_owned(),
            force_rport: true,
            max_transactions: 500_000,
            nonce_secret: None,
            coalesce_us: DEFAULT_COALESCE_US,
        }
    }
}

/// The host's name, as the kernel knows it. `None` when it cannot be read (then
/// `sip.domain` must be set).
pub(crate) fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
}

impl SipConfig {
    pub(super) fn validate(&self, v: &Validator<'_>) -> Result<(), ConfigError> {
        if self.listen.is_empty() {
            return Err(v.invalid("sip.listen", "is empty: give at least one listener"));
        }
        for (i, a) in self.listen.iter().enumerate() {
            if let Some(j) = self.listen[..i].iter().position(|b| b == a) {
                return Err(v.invalid(
                    "sip.listen",
                    format!("\"{a}\" is listed twice (entries {j} and {i})"),
                ));
            }
        }
        if self.coalesce_us > MAX_COALESCE_US {
            return Err(v.invalid(
                "sip.coalesce_us",
                format!(
                    "{} is above the maximum, {MAX_COALESCE_US}",
                    self.coalesce_us
                ),
            ));
        }
        if self.max_transactions < 100 {
            return Err(v.invalid("sip.max_transactions", "must be at least 100"));
        }
        if let Some(secret) = &self.nonce_secret
            && secret.len() < 16
        {
            return Err(v.invalid(
                "sip.nonce_secret",
                format!("is {} bytes; at least 16 are needed", secret.len()),
            ));
        }
        if self.domain.is_empty() {
            return Err(v.invalid(
                "sip.domain",
                "is empty and the host name could not be read: set sip.domain",
            ));
        }
        if !is_host_name(&self.domain) && self.domain.parse::<std::net::IpAddr>().is_err() {
            return Err(v.invalid(
                "sip.domain",
                format!("{:?} is not a host name or IP address", self.domain),
            ));
        }
        for (key, path) in [
            ("sip.tls_cert", &self.tls_cert),
            ("sip.tls_key", &self.tls_key),
        ] {
            if let Some(path) = path {
                if path.as_os_str().is_empty() {
                    return Err(v.invalid(key, "is empty"));
                }
                if !path.is_file() {
                    return Err(
                        v.invalid(key, format!("{} is not a readable file", path.display()))
                    );
                }
            }
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err(v.invalid("sip.tls_cert", "is set but sip.tls_key is not"));
            }
            (None, Some(_)) => {
                return Err(v.invalid("sip.tls_key", "is set but sip.tls_cert is not"));
            }
            _ => {}
        }
        if let Some(tls) = self.listen.iter().find(|a| a.transport == Transport::Tls)
            && self.tls_cert.is_none()
        {
            return Err(v.invalid(
                "sip.listen",
                format!("\"{tls}\" needs sip.tls_cert and sip.tls_key"),
            ));
        }
        for (key, value) in [("sip.t1_ms", self.t1_ms), ("sip.t4_ms", self.t4_ms)] {
            if value == 0 {
                return Err(v.invalid(key, "must be at least 1"));
            }
        }
        // RFC 3261 §17.1.2.2: T2 caps the doubling retransmission interval that starts at
        // T1, so a T2 below T1 would shrink the first interval instead of capping later ones.
        if self.t2_ms < self.t1_ms {
            return Err(v.invalid(
                "sip.t2_ms",
                format!("{} is below sip.t1_ms ({})", self.t2_ms, self.t1_ms),
            ));
        }
        if self.user_agent.trim().is_empty()
            || self
                .user_agent
                .chars()
                .any(|c| c.is_control() || !c.is_ascii())
        {
            return Err(v.invalid(
                "sip.user_agent",
                format!(
                    "{:?} must be non-empty printable ASCII (it goes into a header)",
                    self.user_agent
                ),
            ));
        }
        Ok(())
    }
}
