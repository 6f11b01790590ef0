//! RFC 3261 §10.3 steps 3 and 4 for one REGISTER: pick the credentials for our realm,
//! verify them against the slot's HA1, and check the user may change this AOR.

use std::collections::HashMap;
use std::time::SystemTime;

use sip_core::auth::{AuthError, Credentials, DigestServer};
use sip_core::header::HeaderName;
use sip_core::{Request, StatusCode};

use crate::extension::Extension;
use crate::slot::Slot;

/// The result of authenticating one REGISTER.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    /// The request proves it comes from the AOR's slot.
    Authenticated,
    /// Answer 401 with fresh challenges.
    Challenge {
        /// `stale=true`: the client knew the password, only the nonce was too old or
        /// already used (RFC 7616 §3.3).
        stale: bool,
        /// Why, for the debug log.
        why: &'static str,
    },
    /// Answer with this status and reason.
    Refuse {
        /// The status.
        status: StatusCode,
        /// The reason phrase.
        reason: &'static str,
        /// Whether this was a failed guess that counts towards blocking the source.
        counted: bool,
    },
}

fn refuse(status: StatusCode, reason: &'static str, counted: bool) -> AuthOutcome {
    AuthOutcome::Refuse {
        status,
        reason,
        counted,
    }
}

/// The first Digest credentials for `realm`, a parse error of a Digest value when there
/// are none, or nothing. Other schemes (RFC 4475 regaut01's `NoOneKnowsThisScheme`) and
/// other realms are ignored: they are for someone else (RFC 3261 §22.4).
fn credentials_for(request: &Request, realm: &str) -> Option<Result<Credentials, AuthError>> {
    let mut malformed = None;
    for h in request.headers.get_all(&HeaderName::Authorization) {
        match Credentials::parse(h.value()) {
            Ok(c) if c.realm == realm => return Some(Ok(c)),
            Ok(_) | Err(AuthError::NotDigest { .. }) => {}
            Err(e) => {
                malformed.get_or_insert(e);
            }
        }
    }
    malformed.map(Err)
}

/// Authenticates `request` for the AOR `aor` (already known to be provisioned).
pub(crate) fn authenticate(
    server: &mut DigestServer,
    wall: SystemTime,
    request: &Request,
    aor: Extension,
    slots: &HashMap<Extension, Slot>,
) -> AuthOutcome {
    let creds = match credentials_for(request, server.realm()) {
        None => {
            return AuthOutcome::Challenge {
                stale: false,
                why: "no credentials for this realm",
            };
        }
        Some(Err(_)) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "Malformed Authorization header",
                false,
            );
        }
        Some(Ok(c)) => c,
    };
    // RFC 3261 §10.3 step 4: the authenticated user must be allowed to change this AOR;
    // for slots that means the digest username is the AOR's extension. Checked before
    // the digest is computed: the answer is 403 either way, so the work can be spared.
    let user = Extension::from_digits(creds.username.as_bytes());
    if user != Some(aor) {
        return refuse(
            StatusCode::FORBIDDEN,
            "Authentication user does not match the AOR",
            true,
        );
    }
    let Some(slot) = slots.get(&aor) else {
        return refuse(StatusCode::NOT_FOUND, "Not Found", true);
    };
    let uri = String::from_utf8_lossy(request.uri.as_bytes());
    let ha1 = slot.ha1_for(creds.effective_algorithm());
    match server.verify(wall, "REGISTER", &uri, &creds, ha1) {
        Ok(_) => AuthOutcome::Authenticated,
        Err(e) if e.is_stale() => AuthOutcome::Challenge {
            stale: true,
            why: if e == AuthError::NonceReplay {
                "nonce-count replayed"
            } else {
                "nonce expired"
            },
        },
        // A nonce of another secret (a restart with a new secret, another cluster) or a
        // forged one: a fresh challenge lets honest devices recover. Not a guess at the
        // password (the response is never checked), so not counted.
        Err(AuthError::InvalidNonce) => AuthOutcome::Challenge {
            stale: false,
            why: "nonce not issued by this server",
        },
        // The wrong password. 403, not another 401: slots are devices with no one to
        // re-type a password, and a 401 would make many of them retry at once in a
        // loop; after 403 they back off to their registration retry timer (RFC 3261
        // §22.4: a UAC SHOULD NOT retry credentials that were just refused).
        Err(AuthError::BadResponse) => refuse(StatusCode::FORBIDDEN, "Bad credentials", true),
        Err(AuthError::UriMismatch) => refuse(
            StatusCode::BAD_REQUEST,
            "Digest uri does not match the Request-URI",
            false,
        ),
        Err(AuthError::InvalidHa1) => {
            tracing::error!(extension = %aor, "stored HA1 of the slot is unusable; re-provision it");
            refuse(
                StatusCode::SERVER_INTERNAL_ERROR,
                "Server Internal Error",
                false,
            )
        }
        Err(AuthError::UnsupportedAlgorithm(_)) => refuse(
            StatusCode::BAD_REQUEST,
            "Digest algorithm not offered",
            false,
        ),
        Err(_) => refuse(StatusCode::BAD_REQUEST, "Malformed credentials", false),
    }
}
