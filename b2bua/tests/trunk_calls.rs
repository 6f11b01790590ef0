//! Calls through carrier trunks: outbound with caller-ID presentation and carrier
//! authentication, inbound DIDs, failover, limits, OPTIONS health, registration.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use b2bua::{CallDirection, CallerId, Disposition, HangupSide, TrunkCredentials};
use sip_core::{HeaderName, Method};
use support::*;

fn header(r: &sip_core::Request, name: HeaderName) -> String {
    String::from_utf8_lossy(r.headers.get_value(&name).unwrap()).into_owned()
}

#[test]
fn slot_to_carrier_with_presentation_early_media_and_bye_from_the_carrier() {
    let mut cfg = base_config();
    let mut t = trunk("carrier1", "192.0.2.10:5060", &[""]);
    t.caller_id = CallerId {
        from_user: Some("4930555".into()),
        from_display: Some("VSS".into()),
        pai: Some("4930555".into()),
    };
    cfg.trunks.push(t);
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let carrier = net.add_ua("carrier1", "192.0.2.10:5060");
    let call_id = net.invite(a, "4930123456", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert!(net.try_take_response(a, 407).is_some());
    let (key, inv) = net.take_request(carrier, Method::Invite);
    assert_eq!(inv.uri.to_string(), "sip:4930123456@carrier1.example");
    assert_eq!(
        header(&inv, HeaderName::From)
            .split(";tag=")
            .next()
            .unwrap(),
        "\"VSS\" <sip:4930555@vss.test>"
    );
    assert_eq!(
        header(&inv, HeaderName::PAssertedIdentity),
        "<sip:4930555@carrier1.example>"
    );
    assert!(header(&inv, HeaderName::To).contains("4930123456@carrier1.example"));
    net.answer(carrier, key, &inv, 100, None);
    net.answer(carrier, key, &inv, 183, Some(&sdp("192.0.2.10", 7000)));
    let p = net.take_response(a, 183);
    assert!(
        String::from_utf8_lossy(&p.body).contains("192.0.2.1"),
        "early media through the relay"
    );
    net.answer(carrier, key, &inv, 200, Some(&sdp("192.0.2.10", 7000)));
    net.take_response(a, 200);
    let c_call = net.last_call(carrier);
    net.bye(carrier, &c_call);
    assert!(net.has_request(a, Method::Bye));
    let e = net.ended()[0];
    assert_eq!(e.direction, CallDirection::Outbound);
    assert_eq!(e.trunk.as_deref(), Some("carrier1"));
    assert_eq!(e.hangup, HangupSide::Callee);
    assert_eq!(e.dst, "4930123456");
    let _ = call_id;
    assert_eq!(net.b2bua.trunks()[0].active_calls, 0);
}

#[test]
fn carrier_challenge_is_answered_once_with_the_trunk_credentials() {
    let mut cfg = base_config();
    let mut t = trunk("carrier1", "192.0.2.10:5060", &[""]);
    t.credentials = Some(TrunkCredentials {
        username: "acct".into(),
        password: "s3cret".into(),
    });
    cfg.trunks.push(t);
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let carrier = net.add_ua("carrier1", "192.0.2.10:5060");
    net.invite(a, "5551234", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(carrier, Method::Invite);
    let mut server =
        sip_core::auth::DigestServer::new("carrier.example", &[5; 32], Duration::from_secs(60))
            .unwrap();
    let challenge = server.challenge(
        std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        sip_core::auth::Algorithm::Md5,
        false,
    );
    let mut r = sip_core::Response::from_request(&inv, sip_core::StatusCode::UNAUTHORIZED);
    r.set_to_tag("c1");
    r.headers.push(
        HeaderName::WwwAuthenticate,
        bytes::Bytes::from(challenge.to_string()),
    );
    net.respond(carrier, key, r);
    let (key2, inv2) = net.take_request(carrier, Method::Invite);
    let creds = sip_core::auth::Credentials::parse(
        inv2.headers.get_value(&HeaderName::Authorization).unwrap(),
    )
    .unwrap();
    assert_eq!(creds.username, "acct");
    let ha1 = sip_core::auth::ha1(
        sip_core::auth::Algorithm::Md5,
        "acct",
        "carrier.example",
        "s3cret",
    );
    assert!(
        server
            .verify(
                std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                "INVITE",
                &inv2.uri.to_string(),
                &creds,
                &ha1
            )
            .is_ok()
    );
    assert_eq!(
        inv2.headers.cseq().unwrap().seq,
        inv.headers.cseq().unwrap().seq + 1
    );
    assert_eq!(
        inv2.headers.call_id().unwrap(),
        inv.headers.call_id().unwrap()
    );
    // Challenged again: the credentials are wrong; no loop, the caller gets 502.
    let mut r = sip_core::Response::from_request(&inv2, sip_core::StatusCode::UNAUTHORIZED);
    r.set_to_tag("c2");
    r.headers.push(
        HeaderName::WwwAuthenticate,
        bytes::Bytes::from(challenge.to_string()),
    );
    net.respond(carrier, key2, r);
    assert!(net.try_take_request(carrier, Method::Invite).is_none());
    assert!(net.try_take_response(a, 502).is_some());
}

#[test]
fn carrier_calls_a_did_that_rings_a_slot() {
    let mut cfg = base_config();
    let mut t = trunk("carrier1", "192.0.2.10:5060", &[""]);
    t.dids.insert("4930111".into(), "6002".into());
    cfg.trunks.push(t);
    let mut net = Net::new(cfg);
    let carrier = net.add_ua("carrier1", "192.0.2.10:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    net.invite(
        carrier,
        "sip:4930111@10.0.0.1",
        Some(&sdp("192.0.2.10", 7000)),
        &[],
    );
    assert!(
        net.try_take_response(carrier, 407).is_none(),
        "carriers are admitted by address"
    );
    let (key, inv) = net.take_request(b, Method::Invite);
    assert!(header(&inv, HeaderName::To).contains("6002@vss.test"));
    assert!(
        header(&inv, HeaderName::From).contains("sip:carrier1@vss.test"),
        "the carrier's caller id"
    );
    net.answer(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)));
    net.take_response(carrier, 200);
    let b_call = net.last_call(b);
    net.bye(b, &b_call);
    let e = net.ended()[0];
    assert_eq!(e.direction, CallDirection::Inbound);
    assert_eq!(e.slot.as_deref(), Some("6002"));
    assert_eq!(e.dst, "4930111");
    assert_eq!(e.trunk.as_deref(), Some("carrier1"));
}

#[test]
fn unknown_did_is_404_and_strangers_are_challenged() {
    let mut cfg = base_config();
    cfg.trunks.push(trunk("carrier1", "192.0.2.10:5060", &[""]));
    let mut net = Net::new(cfg);
    let carrier = net.add_ua("carrier1", "192.0.2.10:5060");
    let stranger = net.add_ua("stranger", "198.51.100.66:5060");
    net.invite(
        carrier,
        "sip:4930999@10.0.0.1",
        Some(&sdp("192.0.2.10", 7000)),
        &[],
    );
    assert!(net.try_take_response(carrier, 404).is_some());
    net.invite(
        stranger,
        "sip:4930999@10.0.0.1",
        Some(&sdp("198.51.100.66", 7000)),
        &[],
    );
    assert!(
        net.try_take_response(stranger, 407).is_some(),
        "not in any ACL: must authenticate as a slot"
    );
}

#[test]
fn a_trunk_that_does_not_answer_fails_over_to_the_next() {
    let mut cfg = base_config();
    cfg.trunks
        .push(trunk("primary", "192.0.2.10:5060", &["49"]));
    cfg.trunks.push(trunk("backup", "192.0.2.20:5060", &[""]));
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let _primary = net.add_ua("primary", "192.0.2.10:5060");
    let backup = net.add_ua("backup", "192.0.2.20:5060");
    net.black_holes.push(addr("192.0.2.10:5060"));
    net.invite(a, "4930123", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert!(net.try_take_request(backup, Method::Invite).is_none());
    net.advance(Duration::from_secs(4));
    let (key, inv) = net.take_request(backup, Method::Invite);
    net.answer(backup, key, &inv, 200, Some(&sdp("192.0.2.20", 7000)));
    assert!(net.try_take_response(a, 200).is_some());
    assert_eq!(net.b2bua.stats().trunk_failovers, 1);
    let c = net.b2bua.trunks();
    assert_eq!((c[0].active_calls, c[1].active_calls), (0, 1));
    // The abandoned INVITE times out quietly.
    net.advance(Duration::from_secs(40));
    assert!(net.ended().is_empty());
}

#[test]
fn a_503_from_the_trunk_fails_over_and_the_last_failure_is_502() {
    let mut cfg = base_config();
    cfg.trunks.push(trunk("primary", "192.0.2.10:5060", &[""]));
    cfg.trunks.push(trunk("backup", "192.0.2.20:5060", &[""]));
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let primary = net.add_ua("primary", "192.0.2.10:5060");
    let backup = net.add_ua("backup", "192.0.2.20:5060");
    net.invite(a, "5551234", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(primary, Method::Invite);
    net.answer(primary, key, &inv, 503, None);
    let (key, inv) = net.take_request(backup, Method::Invite);
    net.answer(backup, key, &inv, 500, None);
    assert!(net.try_take_response(a, 502).is_some());
    let e = net.ended()[0];
    assert_eq!(e.disposition, Disposition::Failed);
    assert_eq!(e.trunk.as_deref(), Some("backup"));
}

#[test]
fn busy_from_the_carrier_does_not_fail_over() {
    let mut cfg = base_config();
    cfg.trunks.push(trunk("primary", "192.0.2.10:5060", &[""]));
    cfg.trunks.push(trunk("backup", "192.0.2.20:5060", &[""]));
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let primary = net.add_ua("primary", "192.0.2.10:5060");
    let backup = net.add_ua("backup", "192.0.2.20:5060");
    net.invite(a, "5551234", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(primary, Method::Invite);
    net.answer(primary, key, &inv, 486, None);
    assert!(net.try_take_response(a, 486).is_some());
    assert!(net.try_take_request(backup, Method::Invite).is_none());
}

#[test]
fn longest_prefix_wins() {
    let mut cfg = base_config();
    cfg.trunks.push(trunk("any", "192.0.2.10:5060", &[""]));
    cfg.trunks
        .push(trunk("berlin", "192.0.2.20:5060", &["4930"]));
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let any = net.add_ua("any", "192.0.2.10:5060");
    let berlin = net.add_ua("berlin", "192.0.2.20:5060");
    net.invite(a, "4930123", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert!(net.try_take_request(berlin, Method::Invite).is_some());
    assert!(net.try_take_request(any, Method::Invite).is_none());
}

#[test]
fn trunk_concurrent_call_limit_gives_503() {
    let mut cfg = base_config();
    let mut t = trunk("carrier1", "192.0.2.10:5060", &[""]);
    t.max_calls = Some(1);
    cfg.trunks.push(t);
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let a2 = net.add_slot("6003", "10.1.0.3:5060");
    let carrier = net.add_ua("carrier1", "192.0.2.10:5060");
    net.invite(a, "5551234", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(carrier, Method::Invite);
    net.answer(carrier, key, &inv, 200, Some(&sdp("192.0.2.10", 7000)));
    net.invite(a2, "5551235", Some(&sdp("10.1.0.3", 4000)), &[]);
    assert!(net.try_take_response(a2, 503).is_some());
    assert!(net.try_take_request(carrier, Method::Invite).is_none());
    assert_eq!(net.b2bua.trunks()[0].active_calls, 1);
}

#[test]
fn trunk_calls_per_second_limit_gives_503() {
    let mut cfg = base_config();
    let mut t = trunk("carrier1", "192.0.2.10:5060", &[""]);
    t.max_cps = Some(1);
    cfg.trunks.push(t);
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let a2 = net.add_slot("6003", "10.1.0.3:5060");
    let carrier = net.add_ua("carrier1", "192.0.2.10:5060");
    net.invite(a, "5551234", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert!(net.try_take_request(carrier, Method::Invite).is_some());
    net.invite(a2, "5551235", Some(&sdp("10.1.0.3", 4000)), &[]);
    assert!(net.try_take_response(a2, 503).is_some());
    net.advance(Duration::from_secs(1));
    net.invite(a2, "5551236", Some(&sdp("10.1.0.3", 4000)), &[]);
    assert!(
        net.try_take_request(carrier, Method::Invite).is_some(),
        "a second later it fits"
    );
}

#[test]
fn a_trunk_that_stops_answering_options_is_skipped_until_it_answers() {
    let mut cfg = base_config();
    let mut t1 = trunk("primary", "192.0.2.10:5060", &[""]);
    t1.options_interval = Some(Duration::from_secs(30));
    cfg.trunks.push(t1);
    cfg.trunks.push(trunk("backup", "192.0.2.20:5060", &[""]));
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let primary = net.add_ua("primary", "192.0.2.10:5060");
    let backup = net.add_ua("backup", "192.0.2.20:5060");
    net.advance(Duration::from_secs(2));
    assert!(net.has_request(primary, Method::Options), "pinged");
    net.uas[primary].inbox.clear();
    assert!(net.b2bua.trunks()[0].reachable);
    net.black_holes.push(addr("192.0.2.10:5060"));
    net.advance(Duration::from_secs(70));
    assert!(!net.b2bua.trunks()[0].reachable, "a ping went unanswered");
    net.invite(a, "5551234", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert!(
        net.try_take_request(backup, Method::Invite).is_some(),
        "routing skips the dead trunk at once"
    );
    net.black_holes.clear();
    net.advance(Duration::from_secs(35));
    assert!(net.b2bua.trunks()[0].reachable, "answering again");
    net.invite(a, "5551234", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert!(net.try_take_request(primary, Method::Invite).is_some());
}

#[test]
fn registration_with_the_carrier_answers_the_challenge_and_refreshes() {
    let mut cfg = base_config();
    let mut t = trunk("carrier1", "192.0.2.10:5060", &[""]);
    t.credentials = Some(TrunkCredentials {
        username: "acct".into(),
        password: "s3cret".into(),
    });
    t.register = true;
    t.register_expires = 300;
    cfg.trunks.push(t);
    let mut net = Net::new(cfg);
    let carrier = net.add_ua("carrier1", "192.0.2.10:5060");
    net.run();
    net.advance(Duration::from_millis(1));
    let (key, reg) = net.take_request(carrier, Method::Register);
    assert!(header(&reg, HeaderName::Contact).contains("acct@10.0.0.1:5060"));
    let mut server =
        sip_core::auth::DigestServer::new("carrier.example", &[5; 32], Duration::from_secs(60))
            .unwrap();
    let wall = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut r = sip_core::Response::from_request(&reg, sip_core::StatusCode::UNAUTHORIZED);
    r.set_to_tag("r1");
    r.headers.push(
        HeaderName::WwwAuthenticate,
        bytes::Bytes::from(
            server
                .challenge(wall, sip_core::auth::Algorithm::Sha256, false)
                .to_string(),
        ),
    );
    net.respond(carrier, key, r);
    let (key, reg2) = net.take_request(carrier, Method::Register);
    let creds = sip_core::auth::Credentials::parse(
        reg2.headers.get_value(&HeaderName::Authorization).unwrap(),
    )
    .unwrap();
    let ha1 = sip_core::auth::ha1(
        sip_core::auth::Algorithm::Sha256,
        "acct",
        "carrier.example",
        "s3cret",
    );
    assert!(
        server
            .verify(wall, "REGISTER", &reg2.uri.to_string(), &creds, &ha1)
            .is_ok()
    );
    assert_eq!(
        reg2.headers.call_id().unwrap(),
        reg.headers.call_id().unwrap(),
        "one Call-ID per registration"
    );
    let mut ok = sip_core::Response::from_request(&reg2, sip_core::StatusCode::OK);
    ok.set_to_tag("r2");
    ok.headers.push(
        HeaderName::Contact,
        bytes::Bytes::from("<sip:acct@10.0.0.1:5060>;expires=300"),
    );
    net.respond(carrier, key, ok);
    assert_eq!(net.b2bua.trunks()[0].registered, Some(true));
    net.advance(Duration::from_secs(230));
    assert!(
        net.try_take_request(carrier, Method::Register).is_none(),
        "no refresh before expiry - 60 s"
    );
    net.advance(Duration::from_secs(15));
    let (key, reg3) = net.take_request(carrier, Method::Register);
    assert!(reg3.headers.cseq().unwrap().seq > reg2.headers.cseq().unwrap().seq);
    // The carrier refuses: the B2BUA backs off and retries.
    net.answer(carrier, key, &reg3, 403, None);
    assert_eq!(net.b2bua.trunks()[0].registered, Some(false));
    net.advance(Duration::from_secs(29));
    assert!(net.try_take_request(carrier, Method::Register).is_none());
    net.advance(Duration::from_secs(2));
    assert!(
        net.try_take_request(carrier, Method::Register).is_some(),
        "retried after the backoff"
    );
}

#[test]
fn malformed_or_unacceptable_invites_get_clear_answers() {
    let mut cfg = base_config();
    let mut t = trunk("carrier1", "192.0.2.10:5060", &[""]);
    t.dids.insert("4930111".into(), "6002".into());
    cfg.trunks.push(t);
    let mut net = Net::new(cfg);
    let carrier = net.add_ua("carrier1", "192.0.2.10:5060");
    let _b = net.add_slot("6002", "10.1.0.2:5060");
    let invite = |n: u32, extra: &str, body: &str| {
        format!(
            "INVITE sip:4930111@10.0.0.1 SIP/2.0\r\nVia: {{via}}\r\nMax-Forwards: 70\r\nFrom: <sip:1@c>;tag=t{n}\r\nTo: <sip:4930111@10.0.0.1>\r\nCall-ID: bad-{n}\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let cases: [(&str, &str, u16); 5] = [
        ("", "", 400),
        ("Contact: <sip:1@192.0.2.10>\r\nRequire: foo\r\n", "", 420),
        (
            "Contact: <sip:1@192.0.2.10>\r\nContent-Type: text/plain\r\n",
            "hello",
            415,
        ),
        (
            "Contact: <sip:1@192.0.2.10>\r\nContent-Type: application/sdp\r\n",
            "v=0\r\nthis is not sdp\r\n",
            488,
        ),
        ("Contact: <sip:1@192.0.2.10>\r\n", "", 480),
    ];
    for (n, (extra, body, want)) in cases.iter().enumerate() {
        let n = n as u32;
        if *want == 480 {
            // A late-offer call to a slot that is provisioned but not registered.
            net.locator.bindings.clear();
        }
        net.send_raw(carrier, &invite(n, extra, body));
        assert_eq!(net.finals(carrier).last().copied(), Some(*want), "case {n}");
    }
    let hops = invite(9, "Contact: <sip:1@192.0.2.10>\r\n", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    net.send_raw(carrier, &hops);
    assert_eq!(net.finals(carrier).last().copied(), Some(483));
    assert_eq!(net.b2bua.active_calls(), 0);
}

#[test]
fn slot_media_goes_to_its_signalling_address_and_carrier_sdp_is_trusted() {
    let mut cfg = base_config();
    cfg.trunks.push(trunk("carrier1", "192.0.2.10:5060", &[""]));
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let carrier = net.add_ua("carrier1", "192.0.2.10:5060");
    net.invite(a, "5551234", Some(&sdp("172.16.0.9", 4000)), &[]);
    let (key, inv) = net.take_request(carrier, Method::Invite);
    net.answer(carrier, key, &inv, 200, Some(&sdp("198.51.100.20", 7000)));
    net.take_response(a, 200);
    let log = net.media_log.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[0].1.received_from,
        Some("10.1.0.1".parse().unwrap()),
        "the slot's SDP says 172.16.0.9, it sends from 10.1.0.1"
    );
    assert!(!log[0].1.trust_address);
    assert!(
        log[1].1.trust_address,
        "the carrier's media gateway is where its SDP says"
    );
    assert_eq!(log[1].1.received_from, None);
    assert!(log.iter().all(|(_, o)| o.replace_origin));
}
