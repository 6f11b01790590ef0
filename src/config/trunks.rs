//! `[[trunks]]`: carrier SIP trunks that take calls to numbers outside the slot ranges.

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::secret::Secret;
use super::validate::{Validator, check_name};
use super::values::{HostPort, Transport};

/// One `[[trunks]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrunkConfig {
    /// Unique name (letters, digits, `-`, `_`, `.`), used in logs, CDRs and the API.
    pub(crate) name: String,
    /// The carrier's SIP server, `host[:port]`.
    pub(crate) address: HostPort,
    /// Transport toward the carrier; default `udp`.
    #[serde(default = "default_transport")]
    pub(crate) transport: Transport,
    /// Dialled-number prefixes routed to this trunk; `""` matches every number. Default
    /// `[""]`.
    #[serde(
        default = "default_prefixes",
        deserialize_with = "super::de::string_or_list"
    )]
    pub(crate) prefixes: Vec<String>,
    /// Digest user name for the carrier's challenges (and registration).
    #[serde(default)]
    pub(crate) username: Option<String>,
    /// Digest password; needs `username`.
    #[serde(default)]
    pub(crate) password: Option<Secret>,
    /// Whether to REGISTER with the carrier (needs `username` and `password`); default false.
    #[serde(default)]
    pub(crate) register: bool,
    /// The expiry asked for when registering, seconds; default 3600.
    #[serde(default = "default_register_expires")]
    pub(crate) register_expires_s: u32,
    /// User part of From on calls to the carrier; default: the caller's own number.
    #[serde(default)]
    pub(crate) from_user: Option<String>,
    /// Display name of From on calls to the carrier; default: none.
    #[serde(default)]
    pub(crate) from_display: Option<String>,
    /// P-Asserted-Identity to send (a number, or a sip:/tel: URI); default: none.
    #[serde(default)]
    pub(crate) pai: Option<String>,
    /// Source addresses (IPs or CIDRs) whose INVITEs are calls from this carrier;
    /// default: the addresses `address` resolves to.
    #[serde(default, deserialize_with = "super::de::string_or_list")]
    pub(crate) inbound_acl: Vec<String>,
    /// The carrier's numbers that ring a slot: `{ "4930123456" = "6001" }`.
    #[serde(default)]
    pub(crate) dids: std::collections::BTreeMap<String, String>,
    /// Most concurrent calls through this trunk; default: no limit.
    #[serde(default)]
    pub(crate) max_calls: Option<usize>,
    /// Most new outbound calls per second; default: no limit.
    #[serde(default)]
    pub(crate) max_cps: Option<u32>,
    /// Seconds between OPTIONS pings (a trunk that stops answering is skipped); 0 sends
    /// none; default 30.
    #[serde(default = "default_options_interval")]
    pub(crate) options_interval_s: u64,
}

fn default_register_expires() -> u32 {
    3600
}

fn default_options_interval() -> u64 {
    30
}

fn default_transport() -> Transport {
    Transport::Udp
}

fn default_prefixes() -> Vec<String> {
    vec![String::new()]
}

/// Checks every trunk and that names are unique.
pub(super) fn validate(trunks: &[TrunkConfig], v: &Validator<'_>) -> Result<(), ConfigError> {
    for (i, t) in trunks.iter().enumerate() {
        let key = |field: &str| format!("trunks[{i}].{field}");
        check_name(v, &key("name"), &t.name)?;
        if let Some(j) = trunks[..i].iter().position(|o| o.name == t.name) {
            return Err(v.invalid(
                &key("name"),
                format!("duplicate trunk name {:?} (also trunks[{j}].name)", t.name),
            ));
        }
        if t.prefixes.is_empty() {
            return Err(v.invalid(
                &key("prefixes"),
                "is empty: the trunk would never be used (\"\" matches every number)",
            ));
        }
        for p in &t.prefixes {
            // A prefix is compared with the dialled digits of a tel/SIP user part.
            if !p
                .bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'*' | b'#'))
            {
                return Err(v.invalid(
                    &key("prefixes"),
                    format!("{p:?} is not a dialling prefix (digits, +, *, #)"),
                ));
            }
        }
        if let Some(user) = &t.username
            && (user.is_empty() || user.chars().any(char::is_control))
        {
            return Err(v.invalid(
                &key("username"),
                format!("{user:?} must be non-empty, without control characters"),
            ));
        }
        if let Some(password) = &t.password {
            if password.len() == 0 {
                return Err(v.invalid(&key("password"), "is empty"));
            }
            if t.username.is_none() {
                return Err(v.invalid(&key("password"), "is set but username is not"));
            }
        }
        for (i_acl, net) in t.inbound_acl.iter().enumerate() {
            if net.parse::<b2bua::IpNet>().is_err() {
                return Err(v.invalid(
                    &format!("trunks[{i}].inbound_acl[{i_acl}]"),
                    format!("{net:?} is not an IP address or CIDR"),
                ));
            }
        }
        for (did, slot) in &t.dids {
            if did.is_empty() || !did.bytes().all(|b| b.is_ascii_digit() || b == b'+') {
                return Err(v.invalid(&key("dids"), format!("{did:?} is not a number")));
            }
            let ext_ok = slot
                .parse::<u16>()
                .is_ok_and(|n| (6001..=8999).contains(&n) && n % 1000 != 0);
            if !ext_ok {
                return Err(v.invalid(
                    &key("dids"),
                    format!("{did:?} maps to {slot:?}, which is not a slot extension (6001-8999)"),
                ));
            }
        }
        if t.register_expires_s < 60 && t.register {
            return Err(v.invalid(&key("register_expires_s"), "must be at least 60"));
        }
        if t.max_calls == Some(0) || t.max_cps == Some(0) {
            return Err(v.invalid(
                &key("max_calls"),
                "max_calls and max_cps must be at least 1 when set",
            ));
        }
        if t.register && (t.username.is_none() || t.password.is_none()) {
            return Err(v.invalid(
                &key("register"),
                "is true but username and password are not both set",
            ));
        }
    }
    Ok(())
}
