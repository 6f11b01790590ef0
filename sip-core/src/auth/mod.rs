//! Digest authentication, server and client side (RFC 3261 §22, RFC 7616, RFC 8760).
//!
//! - [`Algorithm`]: MD5 and SHA-256, and their `-sess` variants.
//! - [`Challenge`] (WWW-Authenticate / Proxy-Authenticate) and [`Credentials`]
//!   (Authorization / Proxy-Authorization): parse from the header *value* bytes, print
//!   with `Display`. Works on values only, independent of the message parser.
//! - [`ha1`] and [`response`]: the RFC 7616 §3.4.1 computation, with `qop=auth` and the
//!   RFC 2069 form without qop.
//! - [`DigestServer`]: stateless nonces (issue time + HMAC-SHA256 under a caller-given
//!   secret), `stale=true` on expiry, nonce-count replay protection in a bounded table.
//! - [`DigestClient`] / [`answer_challenge`]: answering a 401/407.
//!
//! Sans-IO like the rest of the crate: the time (`SystemTime`, because nonces must stay
//! valid across restarts and nodes, which a monotonic clock cannot give), the secret and
//! the client nonce come from the caller; nothing here reads a clock or a random source.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use sip_core::auth::{Algorithm, Credentials, DigestClient, DigestServer, Identity, ha1};
//!
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
//! let mut server = DigestServer::new("vss.example.net", &[7; 32], Duration::from_secs(30))?;
//! let challenge = server.challenge(now, Algorithm::Sha256, false);
//! // "WWW-Authenticate: {challenge}" goes out in a 401; the client answers it.
//! let mut client = DigestClient::new(Identity::with_password("6001", "s3cr3t"));
//! client.handle_challenge(challenge)?;
//! let header = client.authorize("REGISTER", "sip:vss.example.net", "0a4f113b")?.to_string();
//! // The server parses the Authorization value, looks up HA1 by username, verifies.
//! let creds = Credentials::parse(header.as_bytes())?;
//! let stored = ha1(creds.effective_algorithm(), &creds.username, &creds.realm, "s3cr3t");
//! server.verify(now, "REGISTER", "sip:vss.example.net", &creds, &stored)?;
//! # Ok::<(), sip_core::auth::AuthError>(())
//! ```

mod algorithm;
mod challenge;
mod client;
mod credentials;
mod error;
mod nonce;
mod params;
mod replay;
mod scan;
mod server;
mod uri;

#[cfg(test)]
mod roundtrip_tests;

pub use algorithm::{Algorithm, Qop, QopAuth, ResponseInput, ha1, response};
pub use challenge::Challenge;
pub use client::{
    ClientSecret, DigestClient, Identity, answer_challenge, choose_challenge, cnonce_from_random,
};
pub use credentials::{Credentials, NonceCount};
pub use error::AuthError;
pub use params::AuthParam;
pub use server::{DEFAULT_NC_CAPACITY, DigestServer, MIN_SECRET_LEN, Verified};
