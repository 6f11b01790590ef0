//! `[cdr]`: where call records wait before the database (issue 6).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::validate::Validator;

/// The `[cdr]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CdrConfig {
    /// The local journal every record is fsync'd to before the call's final response;
    /// one per node (default `./var/cdr-journal`).
    pub(crate) journal_dir: PathBuf,
    /// This node's name in CDRs; default: the host name.
    pub(crate) node: String,
}

impl Default for CdrConfig {
    fn default() -> Self {
        Self {
            journal_dir: PathBuf::from("./var/cdr-journal"),
            node: super::sip::host_name().unwrap_or_else(|| "vss".to_owned()),
        }
    }
}

impl CdrConfig {
    pub(super) fn validate(&self, v: &Validator<'_>) -> Result<(), ConfigError> {
        if self.journal_dir.as_os_str().is_empty() {
            return Err(v.invalid("cdr.journal_dir", "is empty"));
        }
        if self.node.is_empty() || self.node.chars().any(char::is_control) {
            return Err(v.invalid("cdr.node", "must be a non-empty name"));
        }
        Ok(())
    }
}
