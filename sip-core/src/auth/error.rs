//! The one error type of digest authentication.

use thiserror::Error;

/// Why a digest challenge or credentials value could not be parsed, built or verified.
///
/// Every verification failure is answered the same way on the wire — a fresh 401/407
/// challenge — but the variants stay distinct so that logs and metrics can tell a
/// mistyped password from a replay or a forged nonce. [`AuthError::is_stale`] tells the
/// caller when that new challenge must carry `stale=true`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The header value uses another authentication scheme (`Basic`, or an unknown one
    /// such as RFC 4475 regaut01's `NoOneKnowsThisScheme`); digest code cannot use it.
    #[error("authentication scheme {scheme:?} is not Digest")]
    NotDigest {
        /// The scheme name as it appeared in the header value.
        scheme: String,
    },
    /// The header value breaks the auth-param grammar (RFC 3261 §25.1, RFC 7235 §2.1).
    #[error("malformed digest header value: {0}")]
    Malformed(&'static str),
    /// A parameter appears twice in one challenge or credentials value (RFC 7235 §2.1:
    /// each parameter name MUST only occur once).
    #[error("parameter {0:?} appears more than once")]
    DuplicateParameter(String),
    /// A parameter the digest scheme requires is absent (or, for `cnonce`, empty).
    #[error("required parameter {0:?} is missing")]
    MissingParameter(&'static str),
    /// The `algorithm` is not one this implementation (or this server's policy) supports.
    #[error("unsupported digest algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// The `qop` is not `auth` (`auth-int` and unknown values are not supported), or the
    /// challenge offers no quality of protection this side can use.
    #[error("unsupported quality of protection {0:?}")]
    UnsupportedQop(String),
    /// The credentials name a realm other than the server's.
    #[error("credentials are for another realm")]
    RealmMismatch,
    /// The nonce was not issued by a server holding this secret for this realm
    /// (bad encoding, forged or tampered).
    #[error("nonce was not issued by this server")]
    InvalidNonce,
    /// The nonce is authentic and the response is right, but the nonce is too old (or was
    /// forgotten); re-challenge with `stale=true` so the client retries without asking the
    /// user for a password again (RFC 7616 §3.3).
    #[error("nonce is stale")]
    StaleNonce,
    /// The nonce-count is not greater than one already accepted for this nonce: a
    /// replayed request (RFC 7616 §3.4: the server SHOULD reject a repeated nc).
    #[error("nonce-count was already used with this nonce")]
    NonceReplay,
    /// The `uri` parameter does not name the Request-URI of the request it came with
    /// (RFC 7616 §3.4.6).
    #[error("digest uri does not match the Request-URI")]
    UriMismatch,
    /// The `response` does not match: wrong password, or the request was altered.
    #[error("digest response does not match")]
    BadResponse,
    /// The HA1 given by the caller is not the hex digest length of the algorithm in use
    /// (for example an MD5 HA1 offered for a SHA-256 response), or not hex.
    #[error("HA1 is not a hex digest for this algorithm")]
    InvalidHa1,
    /// A server or client was built from unusable settings (a short secret, a realm
    /// that cannot be written into a header, no algorithm).
    #[error("invalid digest configuration: {0}")]
    InvalidConfig(&'static str),
    /// The client was asked for credentials before it received any challenge.
    #[error("no challenge has been received yet")]
    NoChallenge,
    /// The client used every nonce-count value of the current nonce; it must wait for a
    /// new challenge.
    #[error("nonce-count space of this nonce is exhausted")]
    NonceCountExhausted,
}

impl AuthError {
    /// True when the right answer is a new challenge with `stale=true`: the client proved
    /// it knows the password, only the nonce (or its count) can no longer be used.
    pub fn is_stale(&self) -> bool {
        matches!(self, Self::StaleNonce | Self::NonceReplay)
    }
}
