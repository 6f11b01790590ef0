//! Tests of the server side, driven by the client side and a simulated clock.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::auth::{Identity, NonceCount, answer_challenge, ha1};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const REALM: &str = "vss.example.net";
const LIFETIME: Duration = Duration::from_secs(30);
const URI: &str = "sip:vss.example.net";

fn t(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn server() -> DigestServer {
    DigestServer::new(REALM, SECRET, LIFETIME).unwrap()
}

fn slot() -> Identity {
    Identity::with_password("6001", "s3cr3t")
}

fn stored_ha1(alg: Algorithm) -> String {
    ha1(alg, "6001", REALM, "s3cr3t")
}

fn answer(c: &Challenge, who: &Identity, nc: u32) -> Credentials {
    answer_challenge(c, who, "REGISTER", URI, "0a4f113b", NonceCount::new(nc)).unwrap()
}

fn verify(
    s: &mut DigestServer,
    now: SystemTime,
    creds: &Credentials,
) -> Result<Verified, AuthError> {
    let ha1 = stored_ha1(creds.effective_algorithm());
    s.verify(now, "REGISTER", URI, creds, &ha1)
}

#[test]
fn client_answers_own_challenge_for_both_algorithms() {
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let mut s = server();
        let c = s.challenge(t(0), alg, false);
        assert_eq!(c.algorithm, Some(alg));
        assert_eq!(c.qop, vec![Qop::Auth]);
        // Through the wire format and back, as a real exchange would go.
        let c = Challenge::parse(c.to_string().as_bytes()).unwrap();
        let creds = answer(&c, &slot(), 1);
        let creds = Credentials::parse(creds.to_string().as_bytes()).unwrap();
        let ok = verify(&mut s, t(1), &creds).unwrap();
        assert_eq!(ok.algorithm, alg);
        assert_eq!(ok.nonce_count, Some(1));
        assert_eq!(ok.nonce_issued_at, t(0));
        assert_eq!(ok.nonce_expires_at, t(30));
    }
}

#[test]
fn session_algorithms_verify_when_enabled() {
    let mut s = server()
        .with_algorithms(&[Algorithm::Sha256Sess, Algorithm::Md5Sess])
        .unwrap();
    for alg in [Algorithm::Md5Sess, Algorithm::Sha256Sess] {
        let c = s.challenge(t(0), alg, false);
        let creds = answer(&c, &slot(), 1);
        assert_eq!(verify(&mut s, t(1), &creds).unwrap().algorithm, alg);
    }
}

#[test]
fn challenges_share_a_nonce_in_preference_order() {
    let mut s = server();
    let list = s.challenges(t(0), true);
    let algs: Vec<_> = list.iter().map(|c| c.algorithm).collect();
    assert_eq!(algs, [Some(Algorithm::Sha256), Some(Algorithm::Md5)]);
    assert_eq!(list[0].nonce, list[1].nonce);
    assert!(list.iter().all(|c| c.stale));
}

#[test]
fn nonces_issued_at_the_same_instant_differ() {
    let mut s = server();
    let a = s.challenge(t(0), Algorithm::Md5, false);
    let b = s.challenge(t(0), Algorithm::Md5, false);
    assert_ne!(a.nonce, b.nonce);
    // And each has its own nonce-count.
    verify(&mut s, t(1), &answer(&a, &slot(), 1)).unwrap();
    verify(&mut s, t(1), &answer(&b, &slot(), 1)).unwrap();
}

#[test]
fn stale_after_lifetime_only_with_the_right_password() {
    let mut s = server();
    let c = s.challenge(t(0), Algorithm::Md5, false);
    let creds = answer(&c, &slot(), 1);
    // Exactly at the lifetime it is still fresh; one microsecond later it is not.
    verify(&mut s, t(30), &creds).unwrap();
    let late = t(30) + Duration::from_micros(1);
    let err = verify(&mut s, late, &answer(&c, &slot(), 2)).unwrap_err();
    assert_eq!(err, AuthError::StaleNonce);
    assert!(err.is_stale());
    // A wrong password on an old nonce is not told "stale".
    let wrong = answer(&c, &Identity::with_password("6001", "guess"), 3);
    assert_eq!(verify(&mut s, late, &wrong), Err(AuthError::BadResponse));
}

#[test]
fn nonce_from_the_far_future_is_stale() {
    let mut s = server();
    let c = s.challenge(t(100), Algorithm::Md5, false);
    let creds = answer(&c, &slot(), 1);
    assert_eq!(verify(&mut s, t(69), &creds), Err(AuthError::StaleNonce));
    // Within one lifetime of skew it is fine.
    verify(&mut s, t(70), &creds).unwrap();
}

#[test]
fn tampered_nonce_is_rejected() {
    let mut s = server();
    let mut c = s.challenge(t(0), Algorithm::Md5, false);
    // Move the timestamp forward by flipping a bit of its first character.
    let mut nonce = c.nonce.into_bytes();
    nonce[5] = if nonce[5] == b'A' { b'B' } else { b'A' };
    c.nonce = String::from_utf8(nonce).unwrap();
    let creds = answer(&c, &slot(), 1);
    assert_eq!(verify(&mut s, t(1), &creds), Err(AuthError::InvalidNonce));
    // A nonce of another format altogether.
    c.nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093".into();
    let creds = answer(&c, &slot(), 1);
    assert_eq!(verify(&mut s, t(1), &creds), Err(AuthError::InvalidNonce));
}

#[test]
fn nonce_from_another_secret_is_rejected() {
    let mut other = DigestServer::new(REALM, b"another secret, 16+ octets", LIFETIME).unwrap();
    let c = other.challenge(t(0), Algorithm::Md5, false);
    let creds = answer(&c, &slot(), 1);
    assert_eq!(
        verify(&mut server(), t(1), &creds),
        Err(AuthError::InvalidNonce)
    );
    // A restarted node (or a peer) with the same secret accepts it.
    let c = server().challenge(t(0), Algorithm::Md5, false);
    verify(&mut server(), t(1), &answer(&c, &slot(), 1)).unwrap();
}

#[test]
fn replayed_nc_is_rejected_and_increasing_nc_accepted() {
    let mut s = server();
    let c = s.challenge(t(0), Algorithm::Sha256, false);
    let first = answer(&c, &slot(), 1);
    verify(&mut s, t(1), &first).unwrap();
    let err = verify(&mut s, t(2), &first).unwrap_err();
    assert_eq!(err, AuthError::NonceReplay);
    assert!(err.is_stale());
    assert_eq!(
        verify(&mut s, t(2), &answer(&c, &slot(), 2))
            .unwrap()
            .nonce_count,
        Some(2)
    );
    // Gaps are allowed (lost requests), going back is not.
    verify(&mut s, t(3), &answer(&c, &slot(), 7)).unwrap();
    assert_eq!(
        verify(&mut s, t(3), &answer(&c, &slot(), 5)),
        Err(AuthError::NonceReplay)
    );
    assert_eq!(s.tracked_nonces(), 1);
}

#[test]
fn wrong_password_is_rejected() {
    let mut s = server();
    let c = s.challenge(t(0), Algorithm::Md5, false);
    let creds = answer(&c, &Identity::with_password("6001", "S3cr3t"), 1);
    assert_eq!(verify(&mut s, t(1), &creds), Err(AuthError::BadResponse));
    // Garbage in the response field is just a bad response.
    let mut odd = answer(&c, &slot(), 2);
    for junk in ["", "xyz", "00", &"g".repeat(32), &"0".repeat(64)] {
        odd.response = junk.into();
        assert_eq!(
            verify(&mut s, t(1), &odd),
            Err(AuthError::BadResponse),
            "{junk}"
        );
    }
    // Upper-case hex from the client is still the right answer.
    let mut upper = answer(&c, &slot(), 3);
    upper.response = upper.response.to_ascii_uppercase();
    verify(&mut s, t(1), &upper).unwrap();
}

#[test]
fn a_failed_attempt_does_not_use_up_its_nc() {
    let mut s = server();
    let c = s.challenge(t(0), Algorithm::Md5, false);
    let wrong = answer(&c, &Identity::with_password("6001", "nope"), 1);
    assert_eq!(verify(&mut s, t(1), &wrong), Err(AuthError::BadResponse));
    verify(&mut s, t(1), &answer(&c, &slot(), 1)).unwrap();
}

#[test]
fn wrong_realm_is_rejected() {
    let mut s = server();
    let mut c = s.challenge(t(0), Algorithm::Md5, false);
    c.realm = "elsewhere".into();
    let creds = answer(&c, &slot(), 1);
    assert_eq!(verify(&mut s, t(1), &creds), Err(AuthError::RealmMismatch));
    // Realms compare exactly.
    c.realm = REALM.to_uppercase();
    assert_eq!(
        verify(&mut s, t(1), &answer(&c, &slot(), 1)),
        Err(AuthError::RealmMismatch)
    );
}

#[test]
fn uri_must_name_the_request_uri() {
    let mut s = server();
    let c = s.challenge(t(0), Algorithm::Md5, false);
    let creds = answer(&c, &slot(), 1);
    let ha1 = stored_ha1(Algorithm::Md5);
    assert_eq!(
        s.verify(t(1), "REGISTER", "sip:other.example.net", &creds, &ha1),
        Err(AuthError::UriMismatch)
    );
    // A transport parameter added on the way does not matter.
    s.verify(
        t(1),
        "REGISTER",
        "sip:VSS.example.net;transport=tcp",
        &creds,
        &ha1,
    )
    .unwrap();
}

#[test]
fn method_is_covered_by_the_response() {
    let mut s = server();
    let c = s.challenge(t(0), Algorithm::Md5, false);
    let creds = answer(&c, &slot(), 1);
    let ha1 = stored_ha1(Algorithm::Md5);
    assert_eq!(
        s.verify(t(1), "INVITE", URI, &creds, &ha1),
        Err(AuthError::BadResponse)
    );
}

#[test]
fn missing_or_unsupported_fields() {
    let mut s = server();
    let c = s.challenge(t(0), Algorithm::Md5, false);
    let good = answer(&c, &slot(), 1);

    let mut no_cnonce = good.clone();
    no_cnonce.cnonce = None;
    assert_eq!(
        verify(&mut s, t(1), &no_cnonce),
        Err(AuthError::MissingParameter("cnonce"))
    );

    let mut no_nc = good.clone();
    no_nc.nc = None;
    assert_eq!(
        verify(&mut s, t(1), &no_nc),
        Err(AuthError::MissingParameter("nc"))
    );

    let mut auth_int = good.clone();
    auth_int.qop = Some(Qop::AuthInt);
    assert_eq!(
        verify(&mut s, t(1), &auth_int),
        Err(AuthError::UnsupportedQop("auth-int".into()))
    );

    let md5_only = &mut server().with_algorithms(&[Algorithm::Md5]).unwrap();
    let c = md5_only.challenge(t(0), Algorithm::Sha256, false);
    assert_eq!(
        verify(md5_only, t(1), &answer(&c, &slot(), 1)),
        Err(AuthError::UnsupportedAlgorithm("SHA-256".into()))
    );

    // An HA1 stored for the other algorithm is a caller error, named as such.
    let ha1 = stored_ha1(Algorithm::Md5);
    let c = s.challenge(t(0), Algorithm::Sha256, false);
    assert_eq!(
        s.verify(t(1), "REGISTER", URI, &answer(&c, &slot(), 1), &ha1),
        Err(AuthError::InvalidHa1)
    );
}

#[test]
fn rfc2069_clients_policy() {
    let mut s = server();
    let mut c = s.challenge(t(0), Algorithm::Md5, false);
    c.qop.clear();
    let old = answer(&c, &slot(), 1);
    assert_eq!(old.qop, None);
    // Accepted for MD5, more than once (there is no nc to count).
    assert_eq!(verify(&mut s, t(1), &old).unwrap().nonce_count, None);
    verify(&mut s, t(2), &old).unwrap();
    // ... until the nonce goes stale.
    assert_eq!(verify(&mut s, t(31), &old), Err(AuthError::StaleNonce));
    // Refused when the policy says so.
    let mut strict = server().with_rfc2069(false);
    assert_eq!(
        verify(&mut strict, t(1), &old),
        Err(AuthError::MissingParameter("qop"))
    );
    // Never for SHA-256.
    let mut c = s.challenge(t(0), Algorithm::Sha256, false);
    c.qop.clear();
    let old_sha = answer(&c, &slot(), 1);
    assert_eq!(
        verify(&mut s, t(1), &old_sha),
        Err(AuthError::MissingParameter("qop"))
    );
}

#[test]
fn nc_table_is_bounded() {
    let mut s = server().with_nc_capacity(2);
    let challenges: Vec<_> = (0..3)
        .map(|i| s.challenge(t(i), Algorithm::Md5, false))
        .collect();
    for c in &challenges {
        verify(&mut s, t(5), &answer(c, &slot(), 1)).unwrap();
        assert!(s.tracked_nonces() <= 2);
    }
    // The first nonce was evicted: it cannot be replayed, its client re-authenticates.
    assert_eq!(
        verify(&mut s, t(6), &answer(&challenges[0], &slot(), 1)),
        Err(AuthError::StaleNonce)
    );
    assert_eq!(
        verify(&mut s, t(6), &answer(&challenges[0], &slot(), 2)),
        Err(AuthError::StaleNonce)
    );
    // The tracked ones still count.
    assert_eq!(
        verify(&mut s, t(6), &answer(&challenges[2], &slot(), 1)),
        Err(AuthError::NonceReplay)
    );
    verify(&mut s, t(6), &answer(&challenges[2], &slot(), 2)).unwrap();
    // A fresh challenge is always accepted.
    let fresh = s.challenge(t(7), Algorithm::Md5, false);
    verify(&mut s, t(7), &answer(&fresh, &slot(), 1)).unwrap();
    assert_eq!(s.tracked_nonces(), 2);
}

#[test]
fn expired_entries_are_pruned() {
    let mut s = server();
    for i in 0..10 {
        let c = s.challenge(t(i), Algorithm::Md5, false);
        verify(&mut s, t(i), &answer(&c, &slot(), 1)).unwrap();
    }
    assert_eq!(s.tracked_nonces(), 10);
    // At t(35) the nonces of t(0)..t(4) are older than the 30 s lifetime.
    s.prune(t(35));
    assert_eq!(s.tracked_nonces(), 5);
    // Verification cleans up as it goes too.
    let c = s.challenge(t(100), Algorithm::Md5, false);
    verify(&mut s, t(100), &answer(&c, &slot(), 1)).unwrap();
    assert_eq!(s.tracked_nonces(), 1);
}

#[test]
fn restart_floor_forces_one_reauthentication() {
    let mut before = server();
    let c = before.challenge(t(0), Algorithm::Md5, false);
    verify(&mut before, t(1), &answer(&c, &slot(), 1)).unwrap();
    // The new process never saw nc=1, so without the floor a capture would replay.
    let mut after = server();
    after.forget_unseen_before(t(2));
    assert_eq!(
        verify(&mut after, t(3), &answer(&c, &slot(), 1)),
        Err(AuthError::StaleNonce)
    );
    let fresh = after.challenge(t(3), Algorithm::Md5, false);
    verify(&mut after, t(3), &answer(&fresh, &slot(), 1)).unwrap();
}

#[test]
fn bad_configuration_is_refused() {
    assert!(matches!(
        DigestServer::new(REALM, b"short", LIFETIME),
        Err(AuthError::InvalidConfig(_))
    ));
    assert!(matches!(
        DigestServer::new("a\r\nb", SECRET, LIFETIME),
        Err(AuthError::InvalidConfig(_))
    ));
    assert!(matches!(
        DigestServer::new(REALM, SECRET, Duration::ZERO),
        Err(AuthError::InvalidConfig(_))
    ));
    assert!(matches!(
        server().with_algorithms(&[]),
        Err(AuthError::InvalidConfig(_))
    ));
    let dbg = format!("{:?}", server());
    assert!(dbg.contains(REALM) && !dbg.contains("0123456789abcdef"));
}
