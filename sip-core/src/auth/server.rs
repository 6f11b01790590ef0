//! The server side: stateless challenges and verification (registrar 401, B2BUA 407).

use std::fmt;
use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq;

use super::algorithm::{self, Algorithm, Qop, QopAuth, ResponseInput};
use super::challenge::Challenge;
use super::credentials::Credentials;
use super::error::AuthError;
use super::nonce::{self, NonceInfo, NonceKey};
use super::replay::NonceCounts;
use super::uri;

/// The shortest secret accepted: 128 bits, the strength of the truncated nonce tag.
pub const MIN_SECRET_LEN: usize = 16;

/// How many nonces the nonce-count table tracks unless told otherwise (about 5 MB).
pub const DEFAULT_NC_CAPACITY: usize = 100_000;

/// What a successful verification established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The algorithm the client used.
    pub algorithm: Algorithm,
    /// The accepted nonce-count; `None` for an RFC 2069 (no qop) client, which has no
    /// replay protection beyond the nonce lifetime.
    pub nonce_count: Option<u32>,
    /// When the nonce was issued.
    pub nonce_issued_at: SystemTime,
    /// When the nonce stops being accepted; a server may offer a fresh one before then.
    pub nonce_expires_at: SystemTime,
}

/// A digest server for one realm: issues stateless nonces and verifies credentials.
///
/// Sans-IO: the caller passes the time and the secret, and looks up HA1 itself. The call
/// order for one request:
///
/// 1. No (or non-Digest) Authorization → answer 401/407 with
///    [`challenge`](Self::challenge)`(now, alg, false)` (or
///    [`challenges`](Self::challenges) for one per configured algorithm).
/// 2. Otherwise parse it with [`Credentials::parse`], read `username`, `realm` and
///    [`Credentials::effective_algorithm`] to fetch the stored HA1 for that algorithm,
///    and call [`verify`](Self::verify).
/// 3. On an error, answer with a new challenge whose `stale` is
///    [`AuthError::is_stale`] — `true` when only the nonce was at fault.
///
/// Nonces carry their issue time and an HMAC under the secret (see the `nonce` module),
/// so every node sharing the secret accepts them, also after a restart. The only state
/// is the nonce-count table used for replay protection; it is per node (a request
/// replayed to another node that never saw the nonce is caught only by expiry) and
/// bounded (see [`with_nc_capacity`](Self::with_nc_capacity)).
pub struct DigestServer {
    realm: String,
    key: NonceKey,
    lifetime: Duration,
    lifetime_us: u64,
    algorithms: Vec<Algorithm>,
    accept_rfc2069: bool,
    sequence: u32,
    counts: NonceCounts,
}

impl fmt::Debug for DigestServer {
    /// Never prints the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestServer")
            .field("realm", &self.realm)
            .field("lifetime", &self.lifetime)
            .field("algorithms", &self.algorithms)
            .field("accept_rfc2069", &self.accept_rfc2069)
            .field("tracked_nonces", &self.counts.len())
            .finish_non_exhaustive()
    }
}

impl DigestServer {
    /// A server for `realm` whose nonces are signed with `secret` (at least
    /// [`MIN_SECRET_LEN`] random octets; share it between nodes that must accept each
    /// other's nonces) and stay fresh for `nonce_lifetime` (30 s to a few minutes is
    /// usual: long enough for a 401 round trip and a burst of requests).
    ///
    /// Defaults: SHA-256 and MD5 accepted, offered in that order (RFC 8760 §2.4: most
    /// preferred first); MD5 without qop accepted for old devices; a nonce-count table
    /// of [`DEFAULT_NC_CAPACITY`] nonces.
    pub fn new(
        realm: impl Into<String>,
        secret: &[u8],
        nonce_lifetime: Duration,
    ) -> Result<Self, AuthError> {
        let realm = realm.into();
        if secret.len() < MIN_SECRET_LEN {
            return Err(AuthError::InvalidConfig("secret shorter than 16 octets"));
        }
        if realm.chars().any(char::is_control) {
            return Err(AuthError::InvalidConfig("realm holds a control character"));
        }
        if nonce_lifetime.is_zero() {
            return Err(AuthError::InvalidConfig("nonce lifetime is zero"));
        }
        Ok(Self {
            key: NonceKey::new(secret, &realm)?,
            realm,
            lifetime: nonce_lifetime,
            lifetime_us: u64::try_from(nonce_lifetime.as_micros()).unwrap_or(u64::MAX),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            accept_rfc2069: true,
            sequence: 0,
            counts: NonceCounts::new(DEFAULT_NC_CAPACITY),
        })
    }

    /// Accept (and, through [`challenges`](Self::challenges), offer) only these
    /// algorithms, most preferred first.
    pub fn with_algorithms(mut self, algorithms: &[Algorithm]) -> Result<Self, AuthError> {
        if algorithms.is_empty() {
            return Err(AuthError::InvalidConfig("no digest algorithm enabled"));
        }
        self.algorithms = algorithms.to_vec();
        Ok(self)
    }

    /// Whether MD5 credentials without `qop` (the RFC 2069 form, still sent by old
    /// phones and gateways) are accepted. Default: yes, because a telecom network
    /// cannot drop such devices; such requests are protected against replay only by
    /// the nonce lifetime, since they carry no nonce-count. Never accepted for SHA-256,
    /// which no pre-RFC 2617 device speaks.
    pub fn with_rfc2069(mut self, accept: bool) -> Self {
        self.accept_rfc2069 = accept;
        self
    }

    /// Track at most `capacity` nonces (minimum 1). When the table is full and nothing
    /// in it has expired, the nonce first used longest ago is forgotten, and every nonce
    /// the table has not seen and that is no newer than the forgotten one is answered
    /// with [`AuthError::StaleNonce`]: its client re-authenticates without a password
    /// prompt, and no forgotten nonce can be replayed.
    pub fn with_nc_capacity(mut self, capacity: usize) -> Self {
        self.counts = NonceCounts::new(capacity);
        self
    }

    /// The realm this server challenges for.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// How long a nonce stays fresh.
    pub fn nonce_lifetime(&self) -> Duration {
        self.lifetime
    }

    /// The algorithms accepted, most preferred first.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// How many nonces the nonce-count table holds now.
    pub fn tracked_nonces(&self) -> usize {
        self.counts.len()
    }

    /// A challenge with a fresh nonce, `qop="auth"` and the given algorithm; `stale`
    /// as returned by [`AuthError::is_stale`] of the failed attempt, else false.
    pub fn challenge(&mut self, now: SystemTime, algorithm: Algorithm, stale: bool) -> Challenge {
        let nonce = self.next_nonce(now);
        self.challenge_with_nonce(nonce, algorithm, stale)
    }

    /// One challenge per accepted algorithm, in preference order, sharing one nonce:
    /// each becomes its own WWW-Authenticate / Proxy-Authenticate header, and the client
    /// answers the first it supports (RFC 8760 §2.4).
    pub fn challenges(&mut self, now: SystemTime, stale: bool) -> Vec<Challenge> {
        let nonce = self.next_nonce(now);
        self.algorithms
            .clone()
            .into_iter()
            .map(|alg| self.challenge_with_nonce(nonce.clone(), alg, stale))
            .collect()
    }

    fn next_nonce(&mut self, now: SystemTime) -> String {
        let info = NonceInfo {
            issued_at_us: nonce::micros(now),
            sequence: self.sequence,
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.key.issue(info)
    }

    fn challenge_with_nonce(&self, nonce: String, algorithm: Algorithm, stale: bool) -> Challenge {
        Challenge {
            realm: self.realm.clone(),
            nonce,
            opaque: None,
            algorithm: Some(algorithm),
            qop: vec![Qop::Auth],
            stale,
            domain: None,
            params: Vec::new(),
        }
    }

    /// Verifies `credentials` sent with a request of `method` to `request_uri` (the
    /// Request-URI as received), given the stored HA1 (hex, for the credentials'
    /// algorithm; see [`ha1`](super::ha1)).
    ///
    /// Checks, in order: realm; algorithm enabled; qop (`auth`, or no qop for MD5 when
    /// RFC 2069 clients are accepted); `uri` against `request_uri` (RFC 7616 §3.4.6;
    /// scheme and host ignore case, URI parameters are ignored — see the `uri` module);
    /// nonce authenticity; the response, compared in constant time; nonce freshness;
    /// and, with qop, that `nc` is greater than any count accepted for this nonce.
    ///
    /// Freshness is checked only after the response proves the password, so
    /// [`AuthError::StaleNonce`] (answer with `stale=true`) is never given to a client
    /// that does not know it (RFC 2617 §3.2.1). A nonce issued further in the future
    /// than one lifetime (a peer with a bad clock) is also stale.
    pub fn verify(
        &mut self,
        now: SystemTime,
        method: &str,
        request_uri: &str,
        credentials: &Credentials,
        ha1: &str,
    ) -> Result<Verified, AuthError> {
        if credentials.realm != self.realm {
            return Err(AuthError::RealmMismatch);
        }
        let alg = credentials.effective_algorithm();
        if !self.algorithms.contains(&alg) {
            return Err(AuthError::UnsupportedAlgorithm(alg.as_str().to_owned()));
        }
        credentials.check_qop_parameters()?;
        let qop = match (&credentials.qop, &credentials.cnonce, &credentials.nc) {
            (Some(Qop::Auth), Some(cnonce), Some(nc)) => Some(QopAuth { nc, cnonce }),
            (Some(Qop::Auth), None, _) => return Err(AuthError::MissingParameter("cnonce")),
            (Some(Qop::Auth), _, None) => return Err(AuthError::MissingParameter("nc")),
            (Some(other), _, _) => return Err(AuthError::UnsupportedQop(other.to_string())),
            // RFC 7616 §3.4 requires qop; only the RFC 2069 MD5 form may omit it.
            (None, _, _) if !(self.accept_rfc2069 && alg == Algorithm::Md5) => {
                return Err(AuthError::MissingParameter("qop"));
            }
            (None, _, _) => None,
        };
        // RFC 7616 §3.4.6: the server SHOULD check that uri names the Request-URI.
        if !uri::matches(&credentials.uri, request_uri) {
            return Err(AuthError::UriMismatch);
        }
        let info = self.key.check(&credentials.nonce)?;
        let expected = algorithm::compute_response(&ResponseInput {
            algorithm: alg,
            ha1,
            method,
            uri: &credentials.uri,
            nonce: &credentials.nonce,
            qop,
        })?;
        let given =
            algorithm::decode_hex(alg, &credentials.response).ok_or(AuthError::BadResponse)?;
        if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
            return Err(AuthError::BadResponse);
        }
        let now_us = nonce::micros(now);
        let too_old = now_us.saturating_sub(info.issued_at_us) > self.lifetime_us;
        let too_new = info.issued_at_us.saturating_sub(now_us) > self.lifetime_us;
        if too_old || too_new {
            return Err(AuthError::StaleNonce);
        }
        if let Some(qop) = qop {
            // RFC 7616 §3.4: a repeated nc means a replay.
            let expires_before = now_us.saturating_sub(self.lifetime_us);
            self.counts.accept(info, qop.nc.value(), expires_before)?;
        }
        let issued = nonce::from_micros(info.issued_at_us);
        Ok(Verified {
            algorithm: alg,
            nonce_count: qop.map(|q| q.nc.value()),
            nonce_issued_at: issued,
            nonce_expires_at: issued + self.lifetime,
        })
    }

    /// Drops every nonce-count entry whose nonce has expired. Verification already
    /// cleans up cheaply as it goes; call this from a periodic timer to return memory
    /// after a burst.
    pub fn prune(&mut self, now: SystemTime) {
        self.counts
            .prune(nonce::micros(now).saturating_sub(self.lifetime_us));
    }

    /// Treat nonces issued at or before `time` that this server has not seen as stale.
    ///
    /// Call it once at start-up with the current time: the nonce-count table of the
    /// previous run is gone, and this stops a request captured before the restart from
    /// being replayed while its nonce is still fresh. Clients that were mid-way simply
    /// re-authenticate once, without a password prompt.
    pub fn forget_unseen_before(&mut self, time: SystemTime) {
        self.counts.raise_floor(nonce::micros(time));
    }
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
