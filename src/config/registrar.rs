//! `[registrar]`: how slots register (issue 3).

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::validate::Validator;

/// The `[registrar]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RegistrarConfig {
    /// The shortest registration accepted, seconds; shorter ones get 423 (default 60).
    pub(crate) min_expires: u32,
    /// The registration interval when the REGISTER gives none, seconds (default 3600).
    pub(crate) default_expires: u32,
    /// The longest registration granted, seconds; longer requests are shortened (default 7200).
    pub(crate) max_expires: u32,
    /// Most bindings per slot; more removes the oldest (default 10).
    pub(crate) max_contacts: usize,
    /// Seconds a digest nonce stays fresh (default 300).
    pub(crate) nonce_lifetime_s: u64,
    /// Seconds between OPTIONS pings of each binding; 0 turns qualify off (default 0).
    pub(crate) qualify_interval_s: u64,
    /// Failed guesses (wrong password, unknown slot) from one address within
    /// `block_window_s` that block it; 0 turns blocking off (default 20).
    pub(crate) block_threshold: u32,
    /// The window of `block_threshold`, seconds (default 60).
    pub(crate) block_window_s: u64,
    /// How long a blocked address is answered 403, seconds (default 300).
    pub(crate) block_cooldown_s: u64,
    /// Other hosts accepted in a slot's AOR besides `sip.domain` (e.g. the server's IP
    /// addresses, for devices configured by address). The listen addresses are added.
    pub(crate) domain_aliases: Vec<String>,
    /// How long binding changes wait in memory to be written to the database together,
    /// milliseconds (default 250, 1–60000).
    pub(crate) write_delay_ms: u64,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            min_expires: 60,
            default_expires: 3600,
            max_expires: 7200,
            max_contacts: 10,
            nonce_lifetime_s: 300,
            qualify_interval_s: 0,
            block_threshold: 20,
            block_window_s: 60,
            block_cooldown_s: 300,
            domain_aliases: Vec::new(),
            write_delay_ms: 250,
        }
    }
}

impl RegistrarConfig {
    pub(super) fn validate(&self, v: &Validator<'_>) -> Result<(), ConfigError> {
        if self.min_expires == 0 {
            return Err(v.invalid("registrar.min_expires", "must be at least 1 second"));
        }
        if self.default_expires < self.min_expires {
            return Err(v.invalid(
                "registrar.default_expires",
                "is shorter than registrar.min_expires",
            ));
        }
        if self.max_expires < self.default_expires {
            return Err(v.invalid(
                "registrar.max_expires",
                "is shorter than registrar.default_expires",
            ));
        }
        if self.max_contacts == 0 {
            return Err(v.invalid("registrar.max_contacts", "must be at least 1"));
        }
        if self.nonce_lifetime_s == 0 {
            return Err(v.invalid("registrar.nonce_lifetime_s", "must be at least 1 second"));
        }
        if self.block_threshold > 0 && (self.block_window_s == 0 || self.block_cooldown_s == 0) {
            return Err(v.invalid(
                "registrar.block_window_s",
                "block_window_s and block_cooldown_s must be positive while block_threshold is set",
            ));
        }
        if !(1..=60_000).contains(&self.write_delay_ms) {
            return Err(v.invalid(
                "registrar.write_delay_ms",
                "must be between 1 and 60000 milliseconds",
            ));
        }
        if let Some(bad) = self
            .domain_aliases
            .iter()
            .find(|a| a.trim().is_empty() || a.contains(char::is_whitespace))
        {
            return Err(v.invalid("registrar.domain_aliases", format!("{bad:?} is not a host")));
        }
        Ok(())
    }
}
