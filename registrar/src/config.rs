//! What the registrar can be told: the domain, expiry bounds, contact limits, nonce
//! lifetime, brute-force protection and qualify.

use std::time::Duration;

use sip_core::Transport;

/// Registrar settings. Start from [`RegistrarConfig::new`] (the defaults below) and change
/// fields; [`crate::Registrar::new`] validates the result.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistrarConfig {
    /// The SIP domain: the host every AOR must have, and the digest realm.
    pub domain: String,
    /// Other hosts accepted in an AOR as this domain (for example the server's IP
    /// addresses, which devices configured by address put in To). Compared ignoring case.
    pub domain_aliases: Vec<String>,
    /// The shortest registration accepted, in seconds (default 60); shorter non-zero
    /// requests get 423 Interval Too Brief with Min-Expires (RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// The registration interval when neither the contact nor the request gives one
    /// (default 3600, RFC 3261 §10.2.1.1).
    pub default_expires: u32,
    /// The longest registration granted; longer requests are shortened (default 7200).
    pub max_expires: u32,
    /// Most bindings one AOR may hold (default 10). A REGISTER that would exceed it
    /// removes the bindings refreshed longest ago to make room (see the crate docs).
    pub max_contacts: usize,
    /// How long a digest nonce stays fresh (default 300 s, as Kamailio's
    /// `nonce_expire`); a device answering an older nonce gets 401 with `stale=true`.
    pub nonce_lifetime: Duration,
    /// Nonces whose nonce-count is tracked for replay protection (default 100,000).
    pub nonce_count_capacity: usize,
    /// Brute-force protection.
    pub brute_force: BruteForceConfig,
    /// OPTIONS keep-alive of bindings.
    pub qualify: QualifyConfig,
}

/// Refusing a source address after repeated failed guesses (Kamailio's pike, fail2ban).
///
/// Only failures that test a guess are counted: a wrong password (digest response
/// mismatch), an unprovisioned or foreign AOR (404) and credentials of one slot used for
/// another (403). Missing credentials, stale nonces and replays are normal protocol flow
/// and are not counted, so the slots of one hub behind a single NAT address never block
/// each other after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BruteForceConfig {
    /// Failures within [`window`](Self::window) that block a source (default 20; 0 turns
    /// the protection off).
    pub threshold: u32,
    /// The counting window (default 60 s).
    pub window: Duration,
    /// How long a blocked source gets 403 for every REGISTER (default 300 s).
    pub cooldown: Duration,
    /// Most source addresses tracked at once (default 10,000). When full, the entry
    /// seen longest ago is dropped, sparing blocked sources where it can.
    pub max_sources: usize,
}

/// OPTIONS qualify: each binding is pinged every [`interval`](Self::interval); one that
/// stops answering is reported [`crate::BindingEvent::Unreachable`] once, and
/// [`crate::BindingEvent::Reachable`] when it answers again.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct QualifyConfig {
    /// Time between two pings of one binding; zero (the default) turns qualify off.
    pub interval: Duration,
    /// The addresses this server sends from, one per transport, written into the Via of
    /// each OPTIONS. A binding whose transport has none here is not qualified.
    pub local: Vec<LocalAddr>,
}

/// One local listening address, as it should appear in a Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    /// The transport.
    pub transport: Transport,
    /// The host or IP address peers reach this server at.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl RegistrarConfig {
    /// The defaults for `domain`.
    pub fn new(domain: impl Into<String>) -> RegistrarConfig {
        RegistrarConfig {
            domain: domain.into(),
            domain_aliases: Vec::new(),
            min_expires: 60,
            default_expires: 3600,
            max_expires: 7200,
            max_contacts: 10,
            nonce_lifetime: Duration::from_secs(300),
            nonce_count_capacity: sip_core::auth::DEFAULT_NC_CAPACITY,
            brute_force: BruteForceConfig::default(),
            qualify: QualifyConfig::default(),
        }
    }

    /// Checks that the values make sense together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |what: &'static str| Err(ConfigError::Invalid(what));
        if self.domain.is_empty()
            || self
                .domain
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'"')
        {
            return bad("domain must be a host name without spaces or quotes");
        }
        if self.min_expires == 0 {
            return bad("min_expires must be at least 1 second");
        }
        if !(self.min_expires <= self.default_expires && self.default_expires <= self.max_expires) {
            return bad("expiry bounds must satisfy min_expires <= default_expires <= max_expires");
        }
        if self.max_contacts == 0 {
            return bad("max_contacts must be at least 1");
        }
        if self.nonce_lifetime.is_zero() {
            return bad("nonce_lifetime must not be zero");
        }
        if self.nonce_count_capacity == 0 {
            return bad("nonce_count_capacity must be at least 1");
        }
        let b = &self.brute_force;
        if b.threshold > 0 && (b.window.is_zero() || b.cooldown.is_zero() || b.max_sources == 0) {
            return bad("brute_force window, cooldown and max_sources must be non-zero");
        }
        Ok(())
    }

    /// Whether `host` names this domain (or an alias), ignoring ASCII case.
    pub fn is_local_host(&self, host: &[u8]) -> bool {
        self.domain.as_bytes().eq_ignore_ascii_case(host)
            || self
                .domain_aliases
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(host))
    }
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        BruteForceConfig {
            threshold: 20,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
            max_sources: 10_000,
        }
    }
}

impl QualifyConfig {
    /// Where OPTIONS over `transport` say they come from.
    pub fn local_for(&self, transport: Transport) -> Option<&LocalAddr> {
        self.local.iter().find(|l| l.transport == transport)
    }
}

/// A registrar that cannot be built from its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting is out of range or inconsistent with another.
    #[error("invalid registrar setting: {0}")]
    Invalid(&'static str),
    /// The digest server refused the domain or the secret.
    #[error("digest authentication cannot be set up: {0}")]
    Digest(#[from] sip_core::auth::AuthError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_as_documented() {
        let c = RegistrarConfig::new("vss.example.net");
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            (c.min_expires, c.default_expires, c.max_expires),
            (60, 3600, 7200)
        );
        assert_eq!(c.max_contacts, 10);
        assert!(c.qualify.interval.is_zero());
    }

    #[test]
    fn inconsistent_values_are_refused() {
        let mut c = RegistrarConfig::new("vss.example.net");
        c.min_expires = 4000;
        assert!(c.validate().is_err());
        let mut c = RegistrarConfig::new("vss example");
        assert!(c.validate().is_err());
        c.domain = "ok.example".into();
        c.max_contacts = 0;
        assert!(c.validate().is_err());
        let mut c = RegistrarConfig::new("ok.example");
        c.brute_force.window = Duration::ZERO;
        assert!(c.validate().is_err());
        c.brute_force.threshold = 0;
        assert_eq!(c.validate(), Ok(()), "a disabled guard needs no window");
    }

    #[test]
    fn aliases_count_as_the_domain() {
        let mut c = RegistrarConfig::new("vss.example.net");
        c.domain_aliases.push("192.0.2.10".into());
        assert!(c.is_local_host(b"VSS.example.NET"));
        assert!(c.is_local_host(b"192.0.2.10"));
        assert!(!c.is_local_host(b"example.net"));
    }
}
