//! Digest authentication at both ends of the B2BUA: the 407 proxy challenge to slots
//! (RFC 3261 §22.3) and our answers to carriers' 401/407 (RFC 3261 §22.2).

use std::time::SystemTime;

use bytes::Bytes;
use sip_core::auth::{
    Algorithm, AuthError, Challenge, Credentials, DigestServer, Identity, NonceCount,
    answer_challenge, choose_challenge,
};
use sip_core::{HeaderName, Request, Response, StatusCode};

use crate::locator::Locator;
use crate::trunk::TrunkCredentials;

/// The verdict on a slot's INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SlotAuth {
    /// Authenticated as this extension.
    Slot(String),
    /// Answer 407 with a fresh challenge.
    Challenge { stale: bool },
    /// Refuse with this status.
    Refuse(StatusCode, &'static str),
}

/// Check the Proxy-Authorization of a slot's request against its stored HA1.
pub(crate) fn authenticate_slot(
    server: &mut DigestServer,
    wall: SystemTime,
    request: &Request,
    locator: &dyn Locator,
) -> SlotAuth {
    let mut found: Option<Credentials> = None;
    let mut malformed = false;
    for v in request.headers.values(&HeaderName::ProxyAuthorization) {
        match Credentials::parse(v) {
            Ok(c) if c.realm == server.realm() => {
                found = Some(c);
                break;
            }
            Ok(_) => {}
            Err(_) => malformed = true,
        }
    }
    let Some(creds) = found else {
        if malformed {
            return SlotAuth::Refuse(StatusCode::BAD_REQUEST, "Malformed Proxy-Authorization");
        }
        return SlotAuth::Challenge { stale: false };
    };
    let Some(stored) =
        crate::routing::slot_extension(&creds.username).and_then(|ext| locator.credentials(ext))
    else {
        return SlotAuth::Refuse(StatusCode::FORBIDDEN, "Unknown user");
    };
    let ha1 = match creds.effective_algorithm() {
        Algorithm::Md5 | Algorithm::Md5Sess => &stored.ha1_md5,
        _ => &stored.ha1_sha256,
    };
    let uri = String::from_utf8_lossy(request.uri.as_bytes());
    let method = String::from_utf8_lossy(request.method.as_bytes());
    match server.verify(wall, &method, &uri, &creds, ha1) {
        Ok(_) => SlotAuth::Slot(creds.username),
        Err(e) if e.is_stale() => SlotAuth::Challenge { stale: true },
        // A nonce of another secret (restart, other cluster): let the device recover.
        Err(AuthError::InvalidNonce) => SlotAuth::Challenge { stale: false },
        Err(AuthError::BadResponse) => SlotAuth::Refuse(StatusCode::FORBIDDEN, "Bad credentials"),
        Err(AuthError::UriMismatch) => SlotAuth::Refuse(
            StatusCode::BAD_REQUEST,
            "Digest uri does not match the Request-URI",
        ),
        Err(_) => SlotAuth::Refuse(StatusCode::FORBIDDEN, "Authentication failed"),
    }
}

/// Add one Proxy-Authenticate per algorithm we accept (RFC 8760 §2.4) to a 407.
pub(crate) fn add_proxy_challenges(
    response: &mut Response,
    server: &mut DigestServer,
    wall: SystemTime,
    stale: bool,
) {
    for c in server.challenges(wall, stale) {
        response
            .headers
            .push(HeaderName::ProxyAuthenticate, Bytes::from(c.to_string()));
    }
}

/// Our answer to a carrier's 401 (WWW-Authenticate → Authorization) or 407
/// (Proxy-Authenticate → Proxy-Authorization) for a request of `method` to `uri`.
pub(crate) fn answer_carrier(
    response: &Response,
    creds: &TrunkCredentials,
    method: &str,
    uri: &str,
    cnonce: &str,
) -> Option<(HeaderName, Bytes)> {
    let (ask, answer) = if response.status == StatusCode::UNAUTHORIZED {
        (HeaderName::WwwAuthenticate, HeaderName::Authorization)
    } else {
        (
            HeaderName::ProxyAuthenticate,
            HeaderName::ProxyAuthorization,
        )
    };
    let challenges: Vec<Challenge> = response
        .headers
        .get_all(&ask)
        .filter_map(|h| Challenge::parse(h.value()).ok())
        .collect();
    let chosen = choose_challenge(&challenges)?;
    let identity = Identity::with_password(creds.username.clone(), creds.password.clone());
    let c = answer_challenge(chosen, &identity, method, uri, cnonce, NonceCount::new(1)).ok()?;
    Some((answer, Bytes::from(c.to_string())))
}

/// Whether a challenge says only the nonce was stale (a retry is then not a loop).
pub(crate) fn is_stale(response: &Response) -> bool {
    let name = if response.status == StatusCode::UNAUTHORIZED {
        HeaderName::WwwAuthenticate
    } else {
        HeaderName::ProxyAuthenticate
    };
    response
        .headers
        .get_all(&name)
        .filter_map(|h| Challenge::parse(h.value()).ok())
        .any(|c| c.stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locator::{Binding, SlotCredentials};
    use sip_core::Message;
    use sip_core::auth::ha1;
    use std::time::Duration;

    struct OneSlot;
    impl Locator for OneSlot {
        fn lookup(&self, _: &str) -> Vec<Binding> {
            Vec::new()
        }
        fn credentials(&self, ext: &str) -> Option<SlotCredentials> {
            (ext == "6001").then(|| SlotCredentials {
                ha1_md5: ha1(Algorithm::Md5, "6001", "vss.test", "pw"),
                ha1_sha256: ha1(Algorithm::Sha256, "6001", "vss.test", "pw"),
            })
        }
    }

    fn invite(auth: Option<&str>) -> Request {
        let mut text = String::from(
            "INVITE sip:5551234@vss.test SIP/2.0\r\nVia: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bK1\r\nFrom: <sip:6001@vss.test>;tag=a\r\nTo: <sip:5551234@vss.test>\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\nContact: <sip:6001@10.1.1.1>\r\n",
        );
        if let Some(a) = auth {
            text.push_str(&format!("Proxy-Authorization: {a}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        match Message::parse_datagram(Bytes::from(text)) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn slot_digest_round_trip() -> Result<(), AuthError> {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut server = DigestServer::new("vss.test", &[9; 32], Duration::from_secs(30))?;
        assert_eq!(
            authenticate_slot(&mut server, now, &invite(None), &OneSlot),
            SlotAuth::Challenge { stale: false }
        );
        let mut r407 = Response::new(StatusCode::PROXY_AUTHENTICATION_REQUIRED);
        add_proxy_challenges(&mut r407, &mut server, now, false);
        assert_eq!(r407.headers.count(&HeaderName::ProxyAuthenticate), 2);
        let creds = TrunkCredentials {
            username: "6001".into(),
            password: "pw".into(),
        };
        let (name, value) = answer_carrier(&r407, &creds, "INVITE", "sip:5551234@vss.test", "cn")
            .ok_or(AuthError::NoChallenge)?;
        assert_eq!(name, HeaderName::ProxyAuthorization);
        let ok = invite(Some(std::str::from_utf8(&value).unwrap_or_default()));
        assert_eq!(
            authenticate_slot(&mut server, now, &ok, &OneSlot),
            SlotAuth::Slot("6001".into())
        );
        let wrong = TrunkCredentials {
            username: "6001".into(),
            password: "nope".into(),
        };
        let (_, bad) = answer_carrier(&r407, &wrong, "INVITE", "sip:5551234@vss.test", "cn")
            .ok_or(AuthError::NoChallenge)?;
        let bad = invite(Some(std::str::from_utf8(&bad).unwrap_or_default()));
        assert!(matches!(
            authenticate_slot(&mut server, now, &bad, &OneSlot),
            SlotAuth::Refuse(StatusCode::FORBIDDEN, _)
        ));
        let later = now + Duration::from_secs(300);
        let (_, fresh) = answer_carrier(&r407, &creds, "INVITE", "sip:5551234@vss.test", "cn2")
            .ok_or(AuthError::NoChallenge)?;
        let stale = invite(Some(std::str::from_utf8(&fresh).unwrap_or_default()));
        assert_eq!(
            authenticate_slot(&mut server, later, &stale, &OneSlot),
            SlotAuth::Challenge { stale: true }
        );
        Ok(())
    }
}
