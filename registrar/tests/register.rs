//! REGISTER handling (RFC 3261 §10.3) through the public API, on a simulated clock.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use registrar::{BindingEvent, RegistrarConfig};
use sip_core::header::HeaderName;
use sip_core::{StatusCode, Transport};

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
fn authenticated_register_adds_a_binding_and_lists_it() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone
        .next()
        .header("User-Agent: Yealink SIP-T46U 108.86.0.20");
    let resp = phone.register(&mut h, reg);
    assert_eq!(resp.status, StatusCode::OK, "{resp:?}");
    assert_eq!(
        contact_headers(&resp),
        ["<sip:6001@192.0.2.1:5060>;expires=3600"]
    );
    assert_eq!(
        header(&resp, HeaderName::Date).as_deref(),
        Some("Thu, 01 Jan 2026 00:00:00 GMT")
    );
    let events = h.events();
    assert_eq!(events.len(), 1);
    let BindingEvent::Added(b) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(b.extension(), ext(6001));
    assert_eq!(b.contact().to_string(), "sip:6001@192.0.2.1:5060");
    assert_eq!(b.source(), src());
    assert_eq!(b.user_agent(), Some("Yealink SIP-T46U 108.86.0.20"));
    assert_eq!(b.expires_in(h.now), Duration::from_secs(3600));
    assert!(h.reg.is_registered(ext(6001)));
    assert!(!h.reg.is_registered(ext(6002)));
}

#[test]
fn refresh_renews_expiry_and_records_the_new_source() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next().expires("600");
    phone.register(&mut h, reg);
    h.skip(Duration::from_secs(500));
    // NAT rebinding: the same phone now comes from another port.
    phone.source = udp("203.0.113.7:40999");
    let reg = phone.next().expires("900");
    let resp = phone.register(&mut h, reg);
    assert_eq!(
        contact_headers(&resp),
        ["<sip:6001@192.0.2.1:5060>;expires=900"]
    );
    let names = h.event_names();
    assert_eq!(names, ["added", "refreshed"]);
    let b = &h.reg.lookup(ext(6001))[0];
    assert_eq!(b.source().addr, addr("203.0.113.7:40999"));
    assert_eq!(b.expires_in(h.now), Duration::from_secs(900));
    assert_eq!(b.updated_at(), h.now);
    assert_eq!(b.registered_at(), h.now - Duration::from_secs(500));
}

#[test]
fn expires_zero_removes_one_binding() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone
        .next()
        .contacts(&["<sip:a@192.0.2.1>", "<sip:b@192.0.2.1>"]);
    phone.register(&mut h, reg);
    let reg = phone.next().contact("<sip:a@192.0.2.1>;expires=0");
    let resp = phone.register(&mut h, reg);
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(contact_headers(&resp), ["<sip:b@192.0.2.1>;expires=3600"]);
    assert_eq!(h.event_names(), ["added", "added", "removed"]);
    // Removing what is not bound is no error.
    let reg = phone.next().contact("<sip:zz@192.0.2.1>").expires("0");
    assert_eq!(phone.register(&mut h, reg).status, StatusCode::OK);
    assert!(h.events().is_empty());
}

#[test]
fn star_with_expires_zero_removes_every_binding() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone
        .next()
        .contacts(&["<sip:a@192.0.2.1>", "<sip:b@192.0.2.1>"]);
    phone.register(&mut h, reg);
    h.events();
    let reg = phone.next().contact("*");
    assert_eq!(phone.register(&mut h, reg).status, StatusCode::BAD_REQUEST);
    let reg = phone.next().contact("*").expires("30");
    assert_eq!(phone.register(&mut h, reg).status, StatusCode::BAD_REQUEST);
    assert_eq!(h.reg.binding_count(), 2);
    let reg = phone.next().contact("*").expires("0");
    let resp = phone.register(&mut h, reg);
    assert_eq!(resp.status, StatusCode::OK);
    assert!(contact_headers(&resp).is_empty());
    assert_eq!(h.event_names(), ["removed", "removed"]);
    assert!(!h.reg.is_registered(ext(6001)));
}

#[test]
fn star_is_refused_when_a_binding_has_a_newer_cseq_for_the_call_id() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next();
    phone.register(&mut h, reg);
    let stale = Reg::new(6001)
        .call_id(&phone.call_id)
        .cseq(1)
        .contact("*")
        .expires("0");
    let resp = phone.register(&mut h, stale);
    assert_eq!(resp.status, StatusCode::SERVER_INTERNAL_ERROR);
    assert!(h.reg.is_registered(ext(6001)));
}

#[test]
fn bindings_expire_on_the_clock() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next().expires("120");
    phone.register(&mut h, reg);
    h.events();
    let due = h.reg.poll_timeout().unwrap();
    assert!(due <= h.now + Duration::from_secs(120));
    h.advance(Duration::from_secs(119));
    assert!(h.reg.is_registered(ext(6001)));
    h.advance(Duration::from_secs(1));
    assert!(!h.reg.is_registered(ext(6001)));
    let events = h.events();
    assert!(matches!(&events[..], [BindingEvent::Expired(b)] if b.extension() == ext(6001)));
}

#[test]
fn too_brief_is_423_with_min_expires_and_changes_nothing() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next().expires("30");
    let resp = phone.register(&mut h, reg);
    assert_eq!(resp.status, StatusCode::INTERVAL_TOO_BRIEF);
    assert_eq!(header(&resp, HeaderName::MinExpires).as_deref(), Some("60"));
    assert_eq!(h.reg.binding_count(), 0);
    let reg = phone.next().expires("60");
    assert_eq!(phone.register(&mut h, reg).status, StatusCode::OK);
}

#[test]
fn expiry_defaults_and_is_capped() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next().contacts(&[
        "<sip:a@192.0.2.1>",
        "<sip:b@192.0.2.1>;expires=86400",
        "<sip:c@192.0.2.1>;expires=300",
    ]);
    let resp = phone.register(&mut h, reg);
    assert_eq!(
        contact_headers(&resp),
        [
            "<sip:a@192.0.2.1>;expires=3600",
            "<sip:b@192.0.2.1>;expires=7200",
            "<sip:c@192.0.2.1>;expires=300"
        ]
    );
}

#[test]
fn unprovisioned_and_foreign_aors_are_404_without_a_challenge() {
    let mut h = Harness::new();
    for to in [
        "<sip:6009@vss.test>",   // in range, not provisioned
        "<sip:9001@vss.test>",   // a service number
        "<sip:6001@other.test>", // another domain
        "<sip:alice@vss.test>",
        "<sip:vss.test>",
    ] {
        let mut reg = Reg::new(6001);
        reg.to = to.to_owned();
        let resp = h.send(&reg.build(), src());
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{to}");
        assert!(challenges(&resp).is_empty());
    }
}

#[test]
fn domain_aliases_are_accepted_in_the_aor() {
    let mut config = RegistrarConfig::new(DOMAIN);
    config.domain_aliases.push("198.51.100.10".into());
    let mut h = Harness::with_config(config);
    let mut phone = Phone::new(6001, src());
    let mut reg = phone.next();
    reg.to = "<sip:6001@198.51.100.10:5060>".into();
    assert_eq!(phone.register(&mut h, reg).status, StatusCode::OK);
}

#[test]
fn rfc4475_unksm2_non_sip_aor_is_400() {
    let mut h = Harness::new();
    let text = rfc4475("semantic/unksm2.dat");
    let resp = h.send(&parse_request(&text), src());
    assert_eq!(resp.status, StatusCode::BAD_REQUEST);
}

#[test]
fn cseq_not_higher_for_the_same_call_id_is_500_and_changes_nothing() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next().expires("600");
    phone.register(&mut h, reg);
    h.events();
    let current = phone.cseq;
    for cseq in [current, current - 1] {
        let reg = Reg::new(6001)
            .call_id(&phone.call_id)
            .cseq(cseq)
            .expires("1200");
        let signed = phone.sign(reg);
        let resp = h.send(&signed.build(), phone.source);
        assert_eq!(
            resp.status,
            StatusCode::SERVER_INTERNAL_ERROR,
            "cseq {cseq}"
        );
    }
    assert_eq!(
        h.reg.lookup(ext(6001))[0].expires_in(h.now),
        Duration::from_secs(600)
    );
    assert!(h.events().is_empty());
    // A new Call-ID (a rebooted device) may use any CSeq: the binding is updated.
    let reg = Reg::new(6001)
        .call_id("after-reboot")
        .cseq(1)
        .expires("900");
    let signed = phone.sign(reg);
    assert_eq!(h.send(&signed.build(), phone.source).status, StatusCode::OK);
    assert_eq!(h.reg.binding_count(), 1);
    assert_eq!(h.reg.lookup(ext(6001))[0].call_id(), "after-reboot");
    assert_eq!(h.event_names(), ["refreshed"]);
}

#[test]
fn one_bad_contact_fails_the_whole_request() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next().contact("<sip:a@192.0.2.1>").expires("600");
    phone.register(&mut h, reg);
    let cseq = phone.cseq;
    h.events();
    // b is new and fine, a is out of order: neither may change (RFC 3261 §10.3).
    let reg = Reg::new(6001)
        .call_id(&phone.call_id)
        .cseq(cseq)
        .contacts(&["<sip:b@192.0.2.1>", "<sip:a@192.0.2.1>;expires=0"]);
    let signed = phone.sign(reg);
    assert_eq!(
        h.send(&signed.build(), phone.source).status,
        StatusCode::SERVER_INTERNAL_ERROR
    );
    assert_eq!(h.contacts(6001), ["sip:a@192.0.2.1"]);
    assert!(h.events().is_empty());
}

#[test]
fn max_contacts_drops_the_oldest_binding() {
    let mut config = RegistrarConfig::new(DOMAIN);
    config.max_contacts = 2;
    let mut h = Harness::with_config(config);
    let mut phone = Phone::new(6001, src());
    for c in ["<sip:a@192.0.2.1>", "<sip:b@192.0.2.1>"] {
        let reg = phone.next().contact(c);
        phone.register(&mut h, reg);
        h.skip(Duration::from_secs(5));
    }
    // Refresh a, so that b is now the oldest.
    let reg = phone.next().contact("<sip:a@192.0.2.1>");
    phone.register(&mut h, reg);
    h.skip(Duration::from_secs(5));
    h.events();
    let reg = phone.next().contact("<sip:c@192.0.2.1>");
    let resp = phone.register(&mut h, reg);
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(contact_headers(&resp).len(), 2);
    let events = h.events();
    let summary: Vec<(&str, String)> = events
        .iter()
        .map(|e| (e.name(), e.binding().contact().to_string()))
        .collect();
    assert_eq!(
        summary,
        [
            ("added", "sip:c@192.0.2.1".to_owned()),
            ("removed", "sip:b@192.0.2.1".to_owned())
        ]
    );
    let mut left = h.contacts(6001);
    left.sort();
    assert_eq!(left, ["sip:a@192.0.2.1", "sip:c@192.0.2.1"]);
    // One request asking for more than the limit is refused outright.
    let reg = phone.next().contacts(&[
        "<sip:x@192.0.2.1>",
        "<sip:y@192.0.2.1>",
        "<sip:z@192.0.2.1>",
    ]);
    assert_eq!(phone.register(&mut h, reg).status, StatusCode::FORBIDDEN);
    assert_eq!(h.reg.binding_count(), 2);
}

#[test]
fn lookups_order_by_q_then_recency_and_200_prints_q() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next().contacts(&[
        "<sip:low@192.0.2.1>;q=0.2",
        "<sip:none@192.0.2.1>",
        "<sip:half@192.0.2.1>;q=0.5",
    ]);
    let resp = phone.register(&mut h, reg);
    assert_eq!(
        contact_headers(&resp),
        [
            "<sip:low@192.0.2.1>;expires=3600;q=0.2",
            "<sip:none@192.0.2.1>;expires=3600",
            "<sip:half@192.0.2.1>;expires=3600;q=0.5"
        ]
    );
    h.skip(Duration::from_secs(1));
    let reg = phone.next().contact("<sip:newer@192.0.2.1>;q=0.5");
    phone.register(&mut h, reg);
    assert_eq!(
        h.contacts(6001),
        [
            "sip:none@192.0.2.1",
            "sip:newer@192.0.2.1",
            "sip:half@192.0.2.1",
            "sip:low@192.0.2.1"
        ]
    );
    let uri = sip_core::Uri::parse_str("sip:6001@VSS.test").unwrap();
    assert_eq!(h.reg.lookup_uri(&uri).len(), 4);
    let foreign = sip_core::Uri::parse_str("sip:6001@other.test").unwrap();
    assert!(h.reg.lookup_uri(&foreign).is_empty());
}

#[test]
fn a_query_lists_bindings_without_changing_them() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next().expires("600");
    phone.register(&mut h, reg);
    h.events();
    h.skip(Duration::from_secs(100));
    let reg = phone.next().contacts(&[]);
    let resp = phone.register(&mut h, reg);
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(
        contact_headers(&resp),
        ["<sip:6001@192.0.2.1:5060>;expires=500"]
    );
    assert!(h.events().is_empty());
}

#[test]
fn nat_source_and_connection_are_what_lookups_return() {
    let mut h = Harness::new();
    let source = tcp("203.0.113.9:51234", 42);
    let mut phone = Phone::new(8001, source);
    let reg = phone
        .next()
        .contact("<sip:8001@10.0.0.23:5060;transport=tcp>");
    assert_eq!(phone.register(&mut h, reg).status, StatusCode::OK);
    let b = &h.reg.lookup(ext(8001))[0];
    assert_eq!(b.contact().host(), b"10.0.0.23");
    assert_eq!(b.source().addr, addr("203.0.113.9:51234"));
    assert_eq!(b.source().transport, Transport::Tcp);
    assert_eq!(b.source().connection, Some(42));
}

#[test]
fn rfc4475_contact_params_and_escaped_headers_are_kept_as_registered() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone.next().contacts(&[
        "sip:+19725552222@gw1.example.net;unknownparam",
        "<sip:6001@192.0.2.1?Route=%3Csip:sip.example.com%3E>",
    ]);
    let resp = phone.register(&mut h, reg);
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(
        contact_headers(&resp),
        [
            // cparam01: unknownparam is a contact parameter, not part of the binding.
            "<sip:+19725552222@gw1.example.net>;expires=3600",
            // regescrt: the escaped Route header stays in the binding's URI.
            "<sip:6001@192.0.2.1?Route=%3Csip:sip.example.com%3E>;expires=3600"
        ]
    );
}

#[test]
fn contacts_match_by_uri_equivalence() {
    let mut h = Harness::new();
    let mut phone = Phone::new(6001, src());
    let reg = phone
        .next()
        .contact("<sip:%36001@Host.Example;transport=TCP>");
    phone.register(&mut h, reg);
    let reg = phone
        .next()
        .contact("<sip:6001@host.example;transport=tcp>;expires=0");
    phone.register(&mut h, reg);
    assert_eq!(h.event_names(), ["added", "removed"]);
}

#[test]
fn every_refusal_carries_a_to_tag_and_a_reason() {
    let mut h = Harness::new();
    let mut r = Reg::new(6001);
    r.request_uri = "tel:+15551234".into();
    let resp = h.send(&r.build(), src());
    assert_eq!(resp.status, StatusCode::UNSUPPORTED_URI_SCHEME);
    assert!(resp.headers.to().unwrap().tag().is_some());
    let text = Reg::new(6001)
        .text()
        .replace("REGISTER sip", "OPTIONS sip")
        .replace("1 REGISTER", "1 OPTIONS");
    let resp = h.send(&parse_request(&text), src());
    assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        header(&resp, HeaderName::Allow).as_deref(),
        Some("REGISTER")
    );
}

#[test]
fn rfc4475_registers_with_odd_users_are_answered_not_panicked() {
    let mut h = Harness::with_config(RegistrarConfig::new("example.com"));
    for f in [
        "valid/escnull.dat",
        "valid/dblreq.dat",
        "semantic/cparam02.dat",
    ] {
        let bytes = rfc4475(f).into_bytes();
        let Ok(sip_core::Message::Request(r)) =
            sip_core::Message::parse_datagram(bytes::Bytes::from(bytes))
        else {
            panic!("{f} did not parse as a request")
        };
        let resp = h.send(&r, src());
        assert_eq!(resp.status, StatusCode::NOT_FOUND, "{f}");
    }
}
