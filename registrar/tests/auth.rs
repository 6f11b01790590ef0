//! Digest authentication of REGISTER (RFC 3261 §10.3 steps 3–4, RFC 7616, RFC 8760)
//! through the public API, on a simulated clock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use registrar::RegistrarConfig;
use sip_core::StatusCode;
use sip_core::auth::Algorithm;

/// A file of the RFC 4475 torture tests kept in the repository.
fn rfc4475(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/conformance/rfc4475")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn src() -> sip_core::transaction::Peer {
    udp("203.0.113.7:40001")
}

#[test]
fn first_register_is_challenged_sha256_first_then_md5() {
    let mut h = Harness::new();
    let request = Reg::new(6001).build();
    let resp = h.send(&request, src());
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    let c = challenges(&resp);
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].effective_algorithm(), Algorithm::Sha256);
    assert_eq!(c[1].effective_algorithm(), Algorithm::Md5);
    assert_eq!(c[0].nonce, c[1].nonce);
    assert!(
        c.iter()
            .all(|c| c.realm == DOMAIN && c.offers_auth() && !c.stale)
    );
    assert!(resp.headers.to().unwrap().tag().is_some());
    assert_eq!(
        resp.headers.top_via().unwrap().branch(),
        request.top_via().unwrap().branch()
    );
    assert!(h.events().is_empty());
    assert_eq!(h.reg.binding_count(), 0);
}

#[test]
fn md5_only_devices_register_too() {
    let mut h = Harness::new();
    let mut phone = Phone::new(7001, src()).prefer(Algorithm::Md5);
    let reg = phone.next();
    let resp = phone.register(&mut h, reg);
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(phone.client.algorithm(), Some(Algorithm::Md5));
}

#[test]
fn credentials_are_reused_with_increasing_nonce_count() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    for _ in 0..5 {
        let reg = phone.next();
        assert_eq!(phone.register(&mut h, reg).status, StatusCode::OK);
        h.skip(Duration::from_secs(10));
    }
    // One challenge, then five authenticated requests on the same nonce.
    assert_eq!(phone.client.nonce_count(), 5);
    assert_eq!(
        h.event_names(),
        ["added", "refreshed", "refreshed", "refreshed", "refreshed"]
    );
}

#[test]
fn rfc4475_regaut01_unknown_scheme_is_treated_as_no_credentials() {
    let mut h = Harness::with_config(RegistrarConfig::new("example.com"));
    h.reg.set_slots([registrar::Slot::with_password(
        ext(6001),
        None,
        "example.com",
        "pw",
    )]);
    let text = rfc4475("semantic/regaut01.dat").replace("j.user", "6001");
    let resp = h.send(&parse_request(&text), tcp("192.0.2.253:5060", 7));
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenges(&resp).len(), 2);
}

#[test]
fn credentials_for_another_realm_are_ignored() {
    let mut h = Harness::new();
    let mut reg = Reg::new(6001);
    reg.authorization.push(
        "Digest username=\"6001\", realm=\"elsewhere\", nonce=\"abc\", uri=\"sip:vss.test\", \
         response=\"0123456789abcdef0123456789abcdef\""
            .into(),
    );
    assert_eq!(h.send(&reg.build(), src()).status, StatusCode::UNAUTHORIZED);
    let mut reg = Reg::new(6001);
    reg.authorization
        .push("Digest username=\"6001\", realm=\"vss.test\"".into());
    assert_eq!(h.send(&reg.build(), src()).status, StatusCode::BAD_REQUEST);
}

#[test]
fn wrong_password_is_403() {
    let mut h = Harness::new();
    let mut phone = Phone::with_password(6001, "guess", src());
    let reg = phone.next();
    let resp = phone.register(&mut h, reg);
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert_eq!(&resp.reason[..], b"Bad credentials");
    assert_eq!(h.reg.binding_count(), 0);
}

#[test]
fn another_slots_credentials_are_403() {
    let mut h = Harness::new();
    // 6002 knows its own password and tries to register 6001's AOR.
    let mut phone = Phone::new(6002, src());
    let mut reg = phone.next();
    reg.to = format!("<sip:6001@{DOMAIN}>");
    let resp = phone.register(&mut h, reg);
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert!(!h.reg.is_registered(ext(6001)));
}

#[test]
fn an_expired_nonce_is_challenged_again_with_stale_true() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next();
    assert_eq!(phone.register(&mut h, reg).status, StatusCode::OK);
    h.advance(Duration::from_secs(301));
    let reg = phone.next();
    let signed = phone.sign(reg);
    let resp = h.send(&signed.build(), phone.source);
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    let c = challenges(&resp);
    assert!(c.iter().all(|c| c.stale), "{c:?}");
    // The device answers the new nonce without asking anyone for a password.
    phone.take_challenge(&resp);
    let reg = phone.next();
    let signed = phone.sign(reg);
    assert_eq!(h.send(&signed.build(), phone.source).status, StatusCode::OK);
}

#[test]
fn a_replayed_nonce_count_gets_a_fresh_challenge_not_403() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next();
    assert_eq!(phone.register(&mut h, reg).status, StatusCode::OK);
    // An attacker replays the exact authenticated request it captured, with a higher
    // CSeq it can forge but the same nc.
    let reg = phone.next();
    let signed = phone.sign(reg);
    assert_eq!(h.send(&signed.build(), phone.source).status, StatusCode::OK);
    let replay = signed.clone().cseq(phone.cseq + 5);
    let resp = h.send(&replay.build(), udp("198.51.100.66:5060"));
    assert_eq!(resp.status, StatusCode::UNAUTHORIZED);
    assert!(challenges(&resp)[0].stale);
    assert!(h.reg.lookup(ext(6001))[0].source() == phone.source);
}
