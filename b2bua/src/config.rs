//! What the binary tells the B2BUA: where it listens, its limits and timers.
//!
//! The `[sip]` section of the contract gives the domain and listeners; the keys the
//! contract lacks are fields here with their defaults, for the lead to map (proposed
//! config keys are named in each field's doc).

use std::net::SocketAddr;
use std::time::Duration;

use sip_core::Transport;

use crate::error::ConfigError;
use crate::trunk::TrunkConfig;

/// The longest timer value accepted anywhere (30 days).
pub(crate) const MAX_TIMER_SECS: u64 = 30 * 24 * 3600;

/// One local SIP address: what goes into our Via and Contact for messages sent on its
/// transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    /// The transport.
    pub transport: Transport,
    /// The address the transport is bound to.
    pub addr: SocketAddr,
    /// The host written into Via and Contact instead of `addr`'s IP (a public address or
    /// name in front of NAT); `None` writes `addr`. A wildcard bind (`0.0.0.0`) needs it.
    pub advertise: Option<String>,
}

impl LocalAddr {
    /// A local address written as bound.
    pub fn new(transport: Transport, addr: SocketAddr) -> LocalAddr {
        LocalAddr {
            transport,
            addr,
            advertise: None,
        }
    }

    /// The host for Via and Contact.
    pub(crate) fn host(&self) -> String {
        match &self.advertise {
            Some(h) => h.clone(),
            None => self.addr.ip().to_string(),
        }
    }
}

/// Settings of a [`crate::B2bua`]. Build with [`B2buaConfig::new`] and change fields.
#[derive(Debug, Clone)]
pub struct B2buaConfig {
    /// Our SIP domain: the digest realm of the 407 challenge to slots, and the host of
    /// slot addresses (`sip:6001@domain`). (`[sip] domain`)
    pub domain: String,
    /// Our addresses, one per transport at least. (`[sip] listen`)
    pub listen: Vec<LocalAddr>,
    /// Secret that signs digest nonces (at least 16 random octets). Nodes behind one
    /// load balancer share it so that a nonce from one is accepted by another.
    pub auth_secret: Vec<u8>,
    /// How long a nonce of a 407 challenge stays fresh. (`[b2bua] nonce_lifetime_s`, 30)
    pub nonce_lifetime: Duration,
    /// Most calls in progress at once; a new INVITE beyond it gets 503 with Retry-After.
    /// (`[b2bua] max_calls`, 20000)
    pub max_calls: usize,
    /// Most new calls per second (INVITEs from callers and originates). (`[b2bua]
    /// max_cps`, 1000)
    pub max_cps: u32,
    /// The Retry-After of a 503 sent under overload, seconds. (`[b2bua] retry_after_s`, 5)
    pub retry_after: u32,
    /// How long a callee may ring before the call is given up with 480. (`[b2bua]
    /// ring_timeout_s`, 60)
    pub ring_timeout: Duration,
    /// How long a trunk has to send any response (100 Trying included) to an INVITE
    /// before the next trunk is tried. (`[b2bua] trunk_answer_timeout_s`, 4)
    pub trunk_answer_timeout: Duration,
    /// The longest call (from answer); `None` for no limit. (`[b2bua] max_duration_s`,
    /// 4 h)
    pub max_duration: Option<Duration>,
    /// How long the 200 to a BYE waits for [`crate::B2bua::handle_call_persisted`]
    /// before it is sent anyway (and an error logged). (`[b2bua] persist_timeout_ms`,
    /// 2000)
    pub persist_timeout: Duration,
    /// Session timer interval we ask for (RFC 4028); `None` turns session timers off.
    /// (`[b2bua] session_expires_s`, 1800)
    pub session_expires: Option<Duration>,
    /// The shortest session interval accepted (RFC 4028 Min-SE, at least 90 s).
    /// (`[b2bua] min_se_s`, 90)
    pub min_se: Duration,
    /// Record every call (the API and originate can ask per call). (`[media]
    /// record_calls`)
    pub record_calls: bool,
    /// The number of the echo service. (`[b2bua] echo_number`, "9001")
    pub echo_number: String,
    /// A `User-Agent`/`Server` value for our messages; `None` sends none (which also
    /// hides the product from peers).
    pub user_agent: Option<String>,
    /// Where the relay sends the destination's media of an originated call before the
    /// destination answers (the slot is offered the relay before anyone else is known).
    /// The discard port of the loopback address by default.
    pub originate_placeholder: SocketAddr,
    /// Carrier trunks. (`[[trunks]]`)
    pub trunks: Vec<TrunkConfig>,
}

impl B2buaConfig {
    /// Defaults for everything but the domain, the listeners and the nonce secret.
    pub fn new(domain: impl Into<String>, listen: Vec<LocalAddr>, auth_secret: &[u8]) -> Self {
        B2buaConfig {
            domain: domain.into(),
            listen,
            auth_secret: auth_secret.to_vec(),
            nonce_lifetime: Duration::from_secs(30),
            max_calls: 20_000,
            max_cps: 1_000,
            retry_after: 5,
            ring_timeout: Duration::from_secs(60),
            trunk_answer_timeout: Duration::from_secs(4),
            max_duration: Some(Duration::from_secs(4 * 3600)),
            persist_timeout: Duration::from_secs(2),
            session_expires: Some(Duration::from_secs(1800)),
            min_se: Duration::from_secs(90),
            record_calls: false,
            echo_number: "9001".to_owned(),
            user_agent: None,
            originate_placeholder: SocketAddr::from(([127, 0, 0, 1], 9)),
            trunks: Vec::new(),
        }
    }

    /// Check that the values make a working B2BUA.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.domain.is_empty()
            || self
                .domain
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::invalid(
                "domain",
                "must be a host name without spaces",
            ));
        }
        if self.listen.is_empty() {
            return Err(ConfigError::invalid(
                "listen",
                "needs at least one local address",
            ));
        }
        for (i, l) in self.listen.iter().enumerate() {
            if l.addr.ip().is_unspecified() && l.advertise.is_none() {
                return Err(ConfigError::invalid(
                    format!("listen[{i}]"),
                    "a wildcard address needs an advertised host for Via and Contact",
                ));
            }
        }
        if self.auth_secret.len() < sip_core::auth::MIN_SECRET_LEN {
            return Err(ConfigError::invalid(
                "auth_secret",
                "needs at least 16 octets",
            ));
        }
        if self.nonce_lifetime.is_zero() {
            return Err(ConfigError::invalid("nonce_lifetime", "must be positive"));
        }
        if self.max_calls == 0 {
            return Err(ConfigError::invalid("max_calls", "must be at least 1"));
        }
        if self.max_cps == 0 {
            return Err(ConfigError::invalid("max_cps", "must be at least 1"));
        }
        for (key, d) in [
            ("ring_timeout", self.ring_timeout),
            ("trunk_answer_timeout", self.trunk_answer_timeout),
            ("persist_timeout", self.persist_timeout),
        ] {
            if d.is_zero() {
                return Err(ConfigError::invalid(key, "must be positive"));
            }
        }
        // Far beyond any sensible timer, and safe to add to any clock reading.
        let longest = Duration::from_secs(MAX_TIMER_SECS);
        for (key, d) in [
            ("nonce_lifetime", Some(self.nonce_lifetime)),
            ("ring_timeout", Some(self.ring_timeout)),
            ("trunk_answer_timeout", Some(self.trunk_answer_timeout)),
            ("persist_timeout", Some(self.persist_timeout)),
            ("max_duration", self.max_duration),
            ("session_expires", self.session_expires),
            ("min_se", Some(self.min_se)),
        ] {
            if d.is_some_and(|d| d > longest) {
                return Err(ConfigError::invalid(key, "is longer than 30 days"));
            }
        }
        if self.max_duration.is_some_and(|d| d.is_zero()) {
            return Err(ConfigError::invalid("max_duration", "must be positive"));
        }
        // RFC 4028 §4: Min-SE is never below 90 seconds.
        if self.min_se < Duration::from_secs(90) {
            return Err(ConfigError::invalid(
                "min_se",
                "must be at least 90 s (RFC 4028 §4)",
            ));
        }
        if let Some(se) = self.session_expires
            && se < self.min_se
        {
            return Err(ConfigError::invalid(
                "session_expires",
                "must not be below min_se",
            ));
        }
        if !self.echo_number.bytes().all(|b| b.is_ascii_digit()) || self.echo_number.is_empty() {
            return Err(ConfigError::invalid("echo_number", "must be digits"));
        }
        for (i, t) in self.trunks.iter().enumerate() {
            t.validate(i)?;
            if let Some(j) = self.trunks[..i].iter().position(|o| o.name == t.name) {
                return Err(ConfigError::invalid(
                    format!("trunks[{i}].name"),
                    format!("duplicate of trunks[{j}].name"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> B2buaConfig {
        B2buaConfig::new(
            "vss.test",
            vec![LocalAddr::new(
                Transport::Udp,
                SocketAddr::from(([10, 0, 0, 1], 5060)),
            )],
            &[7; 32],
        )
    }

    #[test]
    fn defaults_validate() {
        assert_eq!(base().validate(), Ok(()));
    }

    #[test]
    fn bad_values_name_their_key() {
        let mut c = base();
        c.min_se = Duration::from_secs(30);
        assert!(matches!(c.validate(), Err(ConfigError::Invalid { key, .. }) if key == "min_se"));
        let mut c = base();
        c.auth_secret = vec![1; 4];
        assert!(c.validate().is_err());
        let mut c = base();
        c.listen[0].addr = SocketAddr::from(([0, 0, 0, 0], 5060));
        assert!(
            matches!(c.validate(), Err(ConfigError::Invalid { key, .. }) if key == "listen[0]")
        );
        c.listen[0].advertise = Some("sip.example.net".into());
        assert_eq!(c.validate(), Ok(()));
        let mut c = base();
        c.echo_number = "9x".into();
        assert!(c.validate().is_err());
        let mut c = base();
        c.max_duration = Some(Duration::from_secs(100 * 24 * 3600));
        assert!(
            matches!(c.validate(), Err(ConfigError::Invalid { key, .. }) if key == "max_duration")
        );
    }

    #[test]
    fn trunk_settings_are_checked() {
        use crate::trunk::{TrunkConfig, TrunkCredentials};
        let t = || {
            TrunkConfig::new(
                "c1",
                "carrier.example",
                vec![SocketAddr::from(([192, 0, 2, 1], 5060))],
            )
        };
        let with = |f: &dyn Fn(&mut TrunkConfig)| {
            let mut c = base();
            let mut tr = t();
            f(&mut tr);
            c.trunks.push(tr);
            c.validate()
        };
        assert_eq!(with(&|_| {}), Ok(()));
        let key_of = |r: Result<(), ConfigError>| match r {
            Err(ConfigError::Invalid { key, .. }) => key,
            Ok(()) => String::new(),
        };
        assert_eq!(
            key_of(with(&|t| t.prefixes = vec!["49x".into()])),
            "trunks[0].prefixes"
        );
        assert_eq!(key_of(with(&|t| t.prefixes.clear())), "trunks[0].prefixes");
        assert_eq!(key_of(with(&|t| t.register = true)), "trunks[0].register");
        assert_eq!(key_of(with(&|t| t.addresses.clear())), "trunks[0].address");
        assert_eq!(
            key_of(with(&|t| {
                t.dids.insert("4930".into(), "5000".into());
            })),
            "trunks[0].dids"
        );
        assert_eq!(
            key_of(with(&|t| t.max_calls = Some(0))),
            "trunks[0].max_calls"
        );
        assert_eq!(
            with(&|t| {
                t.register = true;
                t.credentials = Some(TrunkCredentials {
                    username: "u".into(),
                    password: "p".into(),
                });
            }),
            Ok(())
        );
        let mut c = base();
        c.trunks.push(t());
        c.trunks.push(t());
        assert_eq!(key_of(c.validate()), "trunks[1].name");
    }
}
