//! Errors of the B2BUA's public API.

use sip_core::StatusCode;

/// Why a configuration was refused by [`crate::B2bua::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting has a value the B2BUA cannot work with; the text names the setting.
    #[error("invalid b2bua setting {key}: {reason}")]
    Invalid {
        /// The setting, e.g. `trunks[1].prefixes`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// Why [`crate::B2bua::originate`] could not start a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OriginateError {
    /// The slot is not a slot extension (6001–8999).
    #[error("{0:?} is not a slot extension")]
    NotASlot(String),
    /// The slot has no registered binding to call.
    #[error("slot {0} is not registered")]
    NotRegistered(String),
    /// The number to call is empty or holds characters other than digits, `+`, `*`, `#`.
    #[error("{0:?} is not a dialable number")]
    BadNumber(String),
    /// The maximum of concurrent calls or calls per second is reached.
    #[error("overloaded: too many calls")]
    Overloaded,
    /// The media engine refused to set up the session.
    #[error("media engine: {0}")]
    Media(String),
    /// A SIP message could not be built or sent (no local address for the transport, a
    /// binding with an unusable contact).
    #[error("SIP: {0}")]
    Sip(String),
}

impl OriginateError {
    /// The SIP status closest to the failure, for callers that report one.
    pub fn status(&self) -> StatusCode {
        match self {
            OriginateError::NotASlot(_) | OriginateError::BadNumber(_) => StatusCode::NOT_FOUND,
            OriginateError::NotRegistered(_) => StatusCode::TEMPORARILY_UNAVAILABLE,
            OriginateError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            OriginateError::Media(_) => StatusCode::NOT_ACCEPTABLE_HERE,
            OriginateError::Sip(_) => StatusCode::SERVER_INTERNAL_ERROR,
        }
    }
}

/// Why [`crate::B2bua::hangup`] did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HangupError {
    /// No call with this id is in progress (it never existed or has already ended).
    #[error("no such call")]
    NoSuchCall,
}
