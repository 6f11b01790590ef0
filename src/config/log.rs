//! `[log]`: what the server logs.

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::validate::Validator;

/// The `[log]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LogConfig {
    /// A `RUST_LOG`-style filter (`info`, `vss=debug,sip_core=trace`); default `info`.
    /// `RUST_LOG`, when set, wins over it.
    pub(crate) filter: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            filter: "info".into(),
        }
    }
}

impl LogConfig {
    pub(super) fn validate(&self, v: &Validator<'_>) -> Result<(), ConfigError> {
        crate::logging::parse_filter(&self.filter)
            .map(drop)
            .map_err(|e| v.invalid("log.filter", format!("{:?}: {e}", self.filter)))
    }
}
