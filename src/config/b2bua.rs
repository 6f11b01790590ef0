//! `[b2bua]`: call limits and timers (issue 5).

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::validate::Validator;

/// The `[b2bua]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct B2buaConfig {
    /// Most calls in progress; a new INVITE beyond it gets 503 with Retry-After (default 20000).
    pub(crate) max_calls: usize,
    /// Most new calls per second (default 1000).
    pub(crate) max_cps: u32,
    /// Retry-After of the 503 sent under overload, seconds (default 5).
    pub(crate) retry_after_s: u32,
    /// How long a callee may ring before the call is given up with 480, seconds (default 60).
    pub(crate) ring_timeout_s: u64,
    /// How long a trunk has to send any response to an INVITE before the next trunk is
    /// tried, seconds (default 4).
    pub(crate) trunk_answer_timeout_s: u64,
    /// The longest call from answer, seconds; 0 for no limit (default 14400 = 4 h).
    pub(crate) max_duration_s: u64,
    /// How long the 200 to a BYE waits for the call's CDR to be journaled, ms (default 2000).
    pub(crate) persist_timeout_ms: u64,
    /// RFC 4028 session interval asked for, seconds; 0 turns session timers off (default 1800).
    pub(crate) session_expires_s: u64,
    /// RFC 4028 Min-SE, seconds, at least 90 (default 90).
    pub(crate) min_se_s: u64,
    /// How long a nonce of the 407 challenge to slots stays fresh, seconds (default 30).
    pub(crate) nonce_lifetime_s: u64,
    /// The echo service's number (default "9001").
    pub(crate) echo_number: String,
    /// Seconds `vss serve` waits at shutdown for calls to end before hanging them up (default 30).
    pub(crate) shutdown_grace_s: u64,
}

impl Default for B2buaConfig {
    fn default() -> Self {
        Self {
            max_calls: 20_000,
            max_cps: 1_000,
            retry_after_s: 5,
            ring_timeout_s: 60,
            trunk_answer_timeout_s: 4,
            max_duration_s: 4 * 3600,
            persist_timeout_ms: 2000,
            session_expires_s: 1800,
            min_se_s: 90,
            nonce_lifetime_s: 30,
            echo_number: "9001".to_owned(),
            shutdown_grace_s: 30,
        }
    }
}

impl B2buaConfig {
    pub(super) fn validate(&self, v: &Validator<'_>) -> Result<(), ConfigError> {
        let positive = [
            ("b2bua.max_calls", self.max_calls as u64),
            ("b2bua.max_cps", u64::from(self.max_cps)),
            ("b2bua.ring_timeout_s", self.ring_timeout_s),
            ("b2bua.trunk_answer_timeout_s", self.trunk_answer_timeout_s),
            ("b2bua.persist_timeout_ms", self.persist_timeout_ms),
            ("b2bua.nonce_lifetime_s", self.nonce_lifetime_s),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(v.invalid(key, "must be at least 1"));
            }
        }
        if self.min_se_s < 90 {
            return Err(v.invalid("b2bua.min_se_s", "must be at least 90 (RFC 4028 §5)"));
        }
        if self.session_expires_s != 0 && self.session_expires_s < self.min_se_s {
            return Err(v.invalid(
                "b2bua.session_expires_s",
                "is below b2bua.min_se_s (0 turns session timers off)",
            ));
        }
        if self.echo_number.is_empty() || !self.echo_number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(v.invalid(
                "b2bua.echo_number",
                format!("{:?} is not a number", self.echo_number),
            ));
        }
        Ok(())
    }
}
