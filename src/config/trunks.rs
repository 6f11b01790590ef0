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
        if t.register && (t.username.is_none() || t.password.is_none()) {
            return Err(v.invalid(
                &key("register"),
                "is true but username and password are not both set",
            ));
        }
    }
    Ok(())
}
