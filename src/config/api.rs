//! `[api]`: the control API's socket and token signing key.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::de::socket_addr;
use super::error::ConfigError;
use super::secret::Secret;
use super::validate::Validator;

/// RFC 7518 §3.2: an HS256 key "of the same size as the hash output (...256 bits...) or
/// larger MUST be used".
pub(crate) const MIN_JWT_SECRET_BYTES: usize = 32;

/// The `[api]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ApiConfig {
    /// REST, WebSocket and metrics socket; default `0.0.0.0:8083`.
    #[serde(deserialize_with = "socket_addr")]
    pub(crate) listen: SocketAddr,
    /// HS256 key for access tokens, at least 32 bytes. Unset: the control API generates one
    /// and keeps it in the data directory.
    pub(crate) jwt_secret: Option<Secret>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8083)),
            jwt_secret: None,
        }
    }
}

impl ApiConfig {
    pub(super) fn validate(&self, v: &Validator<'_>) -> Result<(), ConfigError> {
        if let Some(secret) = &self.jwt_secret
            && secret.len() < MIN_JWT_SECRET_BYTES
        {
            return Err(v.invalid(
                "api.jwt_secret",
                format!(
                    "is {} bytes; HS256 needs at least {MIN_JWT_SECRET_BYTES} (RFC 7518 §3.2)",
                    secret.len()
                ),
            ));
        }
        Ok(())
    }
}
