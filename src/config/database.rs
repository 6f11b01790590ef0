//! `[database]`: where the server keeps its state.

use serde::{Deserialize, Serialize};

use super::secret::DatabaseUrl;

/// The `[database]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DatabaseConfig {
    /// `sqlite://PATH` (default `sqlite://./var/vss.db`) or `postgres://USER@HOST/DB`.
    pub(crate) url: DatabaseUrl,
}
