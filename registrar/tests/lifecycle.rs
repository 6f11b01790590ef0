//! Brute-force protection, qualify, slot reloads and restoring bindings, on a simulated
//! clock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use registrar::{BindingEvent, BindingRecord, BruteForceConfig, LocalAddr, RegistrarConfig, Slot};
use sip_core::header::HeaderName;
use sip_core::{Method, StatusCode, Transport};

fn guarded(threshold: u32) -> Harness {
    let mut c = RegistrarConfig::new(DOMAIN);
    let mut b = BruteForceConfig::default();
    b.threshold = threshold;
    b.window = Duration::from_secs(60);
    b.cooldown = Duration::from_secs(300);
    c.brute_force = b;
    Harness::with_config(c)
}

#[test]
fn repeated_wrong_passwords_block_the_source_for_the_cooldown() {
    let mut h = guarded(3);
    let attacker = udp("198.51.100.66:5060");
    let mut guesser = Phone::with_password(6001, "guess", attacker);
    for _ in 0..3 {
        let reg = guesser.next();
        assert_eq!(guesser.register(&mut h, reg).status, StatusCode::FORBIDDEN);
        h.skip(Duration::from_secs(1));
    }
    // Blocked: even the right password from that address is refused, before any
    // challenge is issued.
    let mut phone = Phone::new(6001, attacker);
    let resp = h.send(&phone.next().build(), attacker);
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
    assert!(challenges(&resp).is_empty());
    // Other sources are not affected.
    let mut honest = Phone::new(6002, udp("203.0.113.7:5060"));
    let reg = honest.next();
    assert_eq!(honest.register(&mut h, reg).status, StatusCode::OK);
    // After the cooling-off period the source may try again.
    h.advance(Duration::from_secs(300));
    let reg = phone.next();
    assert_eq!(phone.register(&mut h, reg).status, StatusCode::OK);
}

#[test]
fn extension_scanning_counts_as_failures() {
    let mut h = guarded(5);
    let scanner = udp("198.51.100.77:5070");
    for n in 6100..6105 {
        let mut r = Reg::new(6001);
        r.to = format!("<sip:{n}@{DOMAIN}>");
        assert_eq!(h.send(&r.build(), scanner).status, StatusCode::NOT_FOUND);
    }
    let resp = h.send(&Reg::new(6001).build(), scanner);
    assert_eq!(resp.status, StatusCode::FORBIDDEN);
}

#[test]
fn challenges_stale_nonces_and_successes_are_not_failures() {
    let mut h = guarded(2);
    // A hub: many slots behind one NAT address, all registering after a restart.
    let hub = udp("203.0.113.50:5060");
    for n in [6001, 6002, 6003, 6004, 6005] {
        let mut phone = Phone::new(n, hub);
        let reg = phone.next();
        assert_eq!(phone.register(&mut h, reg).status, StatusCode::OK, "{n}");
        h.skip(Duration::from_secs(301));
        let reg = phone.next();
        assert_eq!(
            phone.register(&mut h, reg).status,
            StatusCode::OK,
            "{n} (stale)"
        );
    }
}

#[test]
fn failures_spread_beyond_the_window_never_block() {
    let mut h = guarded(3);
    let src = udp("198.51.100.88:5060");
    let mut guesser = Phone::with_password(6001, "guess", src);
    for _ in 0..10 {
        let reg = guesser.next();
        assert_eq!(guesser.register(&mut h, reg).status, StatusCode::FORBIDDEN);
        h.advance(Duration::from_secs(31));
    }
}

fn qualified(interval: u64) -> Harness {
    let mut c = RegistrarConfig::new(DOMAIN);
    c.qualify.interval = Duration::from_secs(interval);
    c.qualify.local.push(LocalAddr {
        transport: Transport::Udp,
        host: "198.51.100.10".into(),
        port: 5060,
    });
    Harness::with_config(c)
}

#[test]
fn qualify_sends_complete_options_to_the_real_source() {
    let mut h = qualified(30);
    let source = udp("203.0.113.7:40001");
    let mut phone = Phone::new(6001, source);
    let reg = phone.next().contact("<sip:6001@10.0.0.5:5060?X-Foo=1>");
    phone.register(&mut h, reg);
    h.events();
    assert!(h.reg.poll_qualify(h.now).is_none());
    assert_eq!(h.reg.poll_timeout(), Some(h.now + Duration::from_secs(30)));
    h.advance(Duration::from_secs(30));
    let q = h.reg.poll_qualify(h.now).unwrap();
    assert!(h.reg.poll_qualify(h.now).is_none());
    assert_eq!(q.target, source);
    let r = &q.request;
    assert_eq!(r.method, Method::Options);
    assert_eq!(r.uri.to_string(), "sip:6001@10.0.0.5:5060");
    let via = r.top_via().unwrap();
    assert_eq!(via.host(), b"198.51.100.10");
    assert!(via.has_rfc3261_branch());
    assert!(via.rport().is_some());
    assert!(r.headers.from().unwrap().tag().is_some());
    assert_eq!(
        r.headers.to().unwrap().uri().to_string(),
        "sip:6001@vss.test"
    );
    assert_eq!(r.headers.cseq().unwrap().method, Method::Options);
    // It prints and parses back as a valid request.
    let back = sip_core::Message::parse_datagram(r.to_bytes()).unwrap();
    assert!(matches!(back, sip_core::Message::Request(_)));
    assert!(r.headers.contains(&HeaderName::MaxForwards));
}

#[test]
fn qualify_reports_unreachable_once_and_reachable_again() {
    let mut h = qualified(30);
    let mut phone = Phone::new(6001, udp("203.0.113.7:40001"));
    let reg = phone.next();
    phone.register(&mut h, reg);
    h.events();
    h.advance(Duration::from_secs(30));
    let q = h.reg.poll_qualify(h.now).unwrap();
    h.reg.handle_qualify_result(q.binding, true);
    assert!(h.events().is_empty());
    // Two pings go unanswered: one Unreachable event.
    for _ in 0..2 {
        h.advance(Duration::from_secs(30));
        let q = h.reg.poll_qualify(h.now).unwrap();
        h.reg.handle_qualify_result(q.binding, false);
    }
    let events = h.events();
    assert!(matches!(&events[..], [BindingEvent::Unreachable(b)] if !b.is_reachable()));
    assert!(!h.reg.lookup(ext(6001))[0].is_reachable());
    // It answers again.
    h.advance(Duration::from_secs(30));
    let q = h.reg.poll_qualify(h.now).unwrap();
    h.reg.handle_qualify_result(q.binding, true);
    assert_eq!(h.event_names(), ["reachable"]);
    assert!(h.reg.lookup(ext(6001))[0].is_reachable());
}

#[test]
fn a_ping_still_unanswered_at_the_next_interval_counts_as_a_miss() {
    let mut h = qualified(10);
    let mut phone = Phone::new(6001, udp("203.0.113.7:40001"));
    let reg = phone.next();
    phone.register(&mut h, reg);
    h.events();
    h.advance(Duration::from_secs(10));
    let first = h.reg.poll_qualify(h.now).unwrap();
    h.advance(Duration::from_secs(10));
    let second = h.reg.poll_qualify(h.now).unwrap();
    assert_eq!(first.binding, second.binding);
    assert_eq!(h.event_names(), ["unreachable"]);
    // The transaction of the first ping times out later: nothing new to report.
    h.reg.handle_qualify_result(first.binding, false);
    assert!(h.events().is_empty());
    // A REGISTER proves the device is there again.
    let reg = phone.next();
    phone.register(&mut h, reg);
    assert_eq!(h.event_names(), ["refreshed", "reachable"]);
}

#[test]
fn bindings_on_a_transport_without_a_local_address_are_not_qualified() {
    let mut h = qualified(10);
    let mut phone = Phone::new(6001, tcp("203.0.113.7:40001", 3));
    let reg = phone.next();
    phone.register(&mut h, reg);
    h.advance(Duration::from_secs(60));
    assert!(h.reg.poll_qualify(h.now).is_none());
}

#[test]
fn reloading_slots_removes_bindings_of_deprovisioned_slots() {
    let mut h = Harness::new();
    for n in [6001, 6002] {
        let mut phone = Phone::new(n, udp("203.0.113.7:40001"));
        let reg = phone.next();
        assert_eq!(phone.register(&mut h, reg).status, StatusCode::OK);
    }
    h.events();
    let report = h.reg.set_slots([
        Slot::with_password(ext(6001), None, DOMAIN, "new-password"),
        Slot::with_password(ext(6003), None, "old.realm", "pw"),
    ]);
    assert_eq!(report.loaded, 1);
    assert_eq!(report.wrong_realm, 1);
    assert_eq!(report.removed_bindings, 1);
    let events = h.events();
    assert!(matches!(&events[..], [BindingEvent::Removed(b)] if b.extension() == ext(6002)));
    assert!(h.reg.is_provisioned(ext(6001)));
    assert!(!h.reg.is_provisioned(ext(6003)));
    // The new password is in force at once.
    let mut old = Phone::new(6001, udp("203.0.113.7:40002"));
    let reg = old.next();
    assert_eq!(old.register(&mut h, reg).status, StatusCode::FORBIDDEN);
    let mut new = Phone::with_password(6001, "new-password", udp("203.0.113.7:40003"));
    let reg = new.next();
    assert_eq!(new.register(&mut h, reg).status, StatusCode::OK);
}

fn record(n: u16, contact: &str, expires_in: u64, h: &Harness) -> BindingRecord {
    BindingRecord {
        extension: ext(n),
        contact: contact.into(),
        call_id: format!("c{n}"),
        cseq: 7,
        expires_at: h.wall + Duration::from_secs(expires_in),
        q: Some(500),
        source: addr("203.0.113.7:40001"),
        transport: Transport::Udp,
        user_agent: Some("ua".into()),
        registered_at: h.wall - Duration::from_secs(100),
        updated_at: h.wall - Duration::from_secs(10),
    }
}

#[test]
fn restore_keeps_the_remaining_expiry_and_skips_what_cannot_be_used() {
    let mut h = Harness::new();
    let records = vec![
        record(6001, "sip:a@10.0.0.1", 1000, &h),
        record(6001, "sip:a@10.0.0.1", 1000, &h), // duplicate
        record(6002, "sip:b@10.0.0.2", 0, &h),    // expired
        record(6009, "sip:c@10.0.0.3", 1000, &h), // not provisioned
        record(7001, "not a uri", 1000, &h),
    ];
    let report = h.reg.restore(h.now, h.wall, records);
    assert_eq!((report.restored, report.skipped), (1, 4));
    let b = &h.reg.lookup(ext(6001))[0];
    assert_eq!(b.expires_in(h.now), Duration::from_secs(1000));
    assert_eq!(b.q(), Some(500));
    assert_eq!(b.cseq(), 7);
    assert_eq!(b.source().connection, None);
    assert_eq!(b.registered_at(), h.now - Duration::from_secs(100));
    assert_eq!(h.event_names(), ["added"]);
    // The ordering rule holds across the restart.
    let mut stale = Reg::new(6001)
        .call_id("c6001")
        .cseq(7)
        .contact("<sip:a@10.0.0.1>");
    let mut phone = Phone::new(6001, udp("203.0.113.7:40001"));
    let resp = h.send(&stale.build(), phone.source);
    phone.take_challenge(&resp);
    stale = phone.sign(stale);
    assert_eq!(
        h.send(&stale.build(), phone.source).status,
        StatusCode::SERVER_INTERNAL_ERROR
    );
    h.advance(Duration::from_secs(1000));
    assert_eq!(h.reg.binding_count(), 0);
}
