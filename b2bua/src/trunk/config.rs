//! `TrunkConfig`: one carrier trunk, as the binary maps `[[trunks]]` onto it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use sip_core::Transport;

use super::IpNet;
use crate::error::ConfigError;

/// Digest credentials for a carrier's 401/407 challenges and for registration.
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkCredentials {
    /// The user name (`[[trunks]] username`).
    pub username: String,
    /// The password (`[[trunks]] password`).
    pub password: String,
}

impl std::fmt::Debug for TrunkCredentials {
    /// Never prints the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// How our calls present the caller to the carrier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallerId {
    /// The user part of From; `None` sends the caller's own number (the slot's
    /// extension, or the caller id given to originate). (`[[trunks]] from_user`)
    pub from_user: Option<String>,
    /// The display name of From; `None` sends none. (`[[trunks]] from_display`)
    pub from_display: Option<String>,
    /// A P-Asserted-Identity (RFC 3325) to send: a number (written as
    /// `sip:NUMBER@trunk-host`) or a whole `sip:`/`tel:` URI; `None` sends none.
    /// (`[[trunks]] pai`)
    pub pai: Option<String>,
}

/// One carrier trunk.
#[derive(Debug, Clone, PartialEq)]
pub struct TrunkConfig {
    /// Unique name, used in logs and CDRs (`[[trunks]] name`).
    pub name: String,
    /// The carrier's domain (host part of `address`): Request-URI and To host of our
    /// calls, and the registrar domain.
    pub host: String,
    /// The port of `address`, written in the Request-URI when given.
    pub port: Option<u16>,
    /// Where requests go: the binary resolves `address` (DNS) into these, in order of
    /// preference; each is tried in turn before the next trunk on failover.
    pub addresses: Vec<SocketAddr>,
    /// Transport toward the carrier (`[[trunks]] transport`).
    pub transport: Transport,
    /// Dialled-number prefixes routed here; `""` matches every number
    /// (`[[trunks]] prefixes`).
    pub prefixes: Vec<String>,
    /// Credentials for 401/407 and registration (`[[trunks]] username`, `password`).
    pub credentials: Option<TrunkCredentials>,
    /// REGISTER with the carrier and keep the registration fresh (`[[trunks]] register`).
    pub register: bool,
    /// The expiry we ask for when registering, seconds (`[[trunks]] register_expires_s`,
    /// 3600).
    pub register_expires: u32,
    /// Caller-ID presentation.
    pub caller_id: CallerId,
    /// Source addresses whose INVITEs are calls from this carrier; empty means the
    /// trunk's own `addresses` (`[[trunks]] inbound_acl`, CIDR strings).
    pub inbound_acl: Vec<IpNet>,
    /// Numbers of this carrier that ring a slot: DID → slot extension
    /// (`[[trunks]] dids = { "4930123456" = "6001" }`).
    pub dids: HashMap<String, String>,
    /// Most concurrent calls through this trunk, both directions; `None` for no limit
    /// (`[[trunks]] max_calls`).
    pub max_calls: Option<usize>,
    /// Most new outbound calls per second; `None` for no limit (`[[trunks]] max_cps`).
    pub max_cps: Option<u32>,
    /// Interval of OPTIONS pings; `None` sends none and the trunk is always considered
    /// up (`[[trunks]] options_interval_s`, 30).
    pub options_interval: Option<Duration>,
}

impl TrunkConfig {
    /// A trunk with the contract's defaults: UDP, every number, no credentials, no
    /// registration, OPTIONS every 30 s.
    pub fn new(
        name: impl Into<String>,
        host: impl Into<String>,
        addresses: Vec<SocketAddr>,
    ) -> Self {
        TrunkConfig {
            name: name.into(),
            host: host.into(),
            port: None,
            addresses,
            transport: Transport::Udp,
            prefixes: vec![String::new()],
            credentials: None,
            register: false,
            register_expires: 3600,
            caller_id: CallerId::default(),
            inbound_acl: Vec::new(),
            dids: HashMap::new(),
            max_calls: None,
            max_cps: None,
            options_interval: Some(Duration::from_secs(30)),
        }
    }

    pub(crate) fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let key = |field: &str| format!("trunks[{i}].{field}");
        if self.name.is_empty() {
            return Err(ConfigError::invalid(key("name"), "is empty"));
        }
        if self.host.is_empty() || self.host.contains(|c: char| c.is_whitespace() || c == '@') {
            return Err(ConfigError::invalid(key("address"), "needs a host"));
        }
        if self.addresses.is_empty() {
            return Err(ConfigError::invalid(
                key("address"),
                "resolved to no address",
            ));
        }
        if !matches!(
            self.transport,
            Transport::Udp | Transport::Tcp | Transport::Tls
        ) {
            return Err(ConfigError::invalid(
                key("transport"),
                "must be udp, tcp or tls",
            ));
        }
        if self.prefixes.is_empty() {
            return Err(ConfigError::invalid(
                key("prefixes"),
                "is empty: the trunk would take no call",
            ));
        }
        for p in &self.prefixes {
            if !is_dial_string(p, true) {
                return Err(ConfigError::invalid(
                    key("prefixes"),
                    format!("{p:?} is not a dialling prefix"),
                ));
            }
        }
        if self.register && self.credentials.is_none() {
            return Err(ConfigError::invalid(
                key("register"),
                "needs username and password",
            ));
        }
        if self.register && self.register_expires < 60 {
            return Err(ConfigError::invalid(
                key("register_expires"),
                "must be at least 60 s",
            ));
        }
        for (did, ext) in &self.dids {
            if !is_dial_string(did, false) {
                return Err(ConfigError::invalid(
                    key("dids"),
                    format!("{did:?} is not a number"),
                ));
            }
            if crate::routing::slot_extension(ext).is_none() {
                return Err(ConfigError::invalid(
                    key("dids"),
                    format!("{did:?} maps to {ext:?}, which is not a slot extension"),
                ));
            }
        }
        if self.max_calls == Some(0) || self.max_cps == Some(0) {
            return Err(ConfigError::invalid(
                key("max_calls"),
                "a limit of 0 takes no call",
            ));
        }
        if self.options_interval.is_some_and(|d| {
            d < Duration::from_secs(1) || d > Duration::from_secs(crate::config::MAX_TIMER_SECS)
        }) {
            return Err(ConfigError::invalid(
                key("options_interval"),
                "must be at least 1 s",
            ));
        }
        Ok(())
    }

    /// Whether an INVITE from `ip` comes from this carrier.
    pub(crate) fn admits(&self, ip: std::net::IpAddr) -> bool {
        if self.inbound_acl.is_empty() {
            self.addresses.iter().any(|a| a.ip() == ip)
        } else {
            self.inbound_acl.iter().any(|n| n.contains(ip))
        }
    }
}

/// Digits, `+`, `*`, `#` (a prefix may be empty).
pub(crate) fn is_dial_string(s: &str, empty_ok: bool) -> bool {
    (empty_ok || !s.is_empty())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'*' | b'#'))
}
