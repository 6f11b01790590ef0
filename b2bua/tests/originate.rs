//! Originate (click-to-call): the slot with an auto-answer hint, then the number.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use b2bua::{CallDirection, CallEvent, Disposition, OriginateError, OriginateOptions};
use sip_core::{HeaderName, Method};
use support::*;

fn with_carrier() -> (Net, usize, usize) {
    let mut cfg = base_config();
    cfg.trunks.push(trunk("carrier1", "192.0.2.10:5060", &[""]));
    let mut net = Net::new(cfg);
    let slot = net.add_slot("7001", "10.1.0.7:5060");
    let carrier = net.add_ua("carrier1", "192.0.2.10:5060");
    (net, slot, carrier)
}

fn body(r: &sip_core::Request) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn originate_calls_the_slot_then_the_number_and_bridges_them() {
    let (mut net, slot, carrier) = with_carrier();
    let opts = OriginateOptions {
        caller_id: Some("4930555".into()),
        campaign_id: Some("c1".into()),
        lead_id: Some("l9".into()),
        ..Default::default()
    };
    let id = net.originate("7001", "4930123", opts).unwrap();
    let (key, inv) = net.take_request(slot, Method::Invite);
    assert_eq!(
        &inv.headers.get_value(&HeaderName::CallInfo).unwrap()[..],
        b"<sip:vss.test>;answer-after=0"
    );
    assert_eq!(
        &inv.headers.get_value(&HeaderName::AlertInfo).unwrap()[..],
        b"<http://x>;info=alert-autoanswer"
    );
    assert!(
        body(&inv).contains("RTP/AVP 8 0 101"),
        "the relay's G.711 offer"
    );
    assert!(body(&inv).contains("192.0.2.1"));
    assert!(
        net.try_take_request(carrier, Method::Invite).is_none(),
        "the number waits for the slot"
    );
    // The slot auto-answers with one codec.
    let answer = sdp("10.1.0.7", 4000)
        .replace("RTP/AVP 8 0 101", "RTP/AVP 8 101")
        .replace("a=rtpmap:0 PCMU/8000\r\n", "");
    net.answer(slot, key, &inv, 200, Some(&answer));
    assert_eq!(net.acks(slot), 1);
    let (key, dest) = net.take_request(carrier, Method::Invite);
    assert!(
        body(&dest).contains("RTP/AVP 8 101"),
        "the slot's choice becomes the offer"
    );
    assert!(body(&dest).contains("192.0.2.1"), "through the relay");
    assert!(
        String::from_utf8_lossy(dest.headers.get_value(&HeaderName::From).unwrap())
            .contains("sip:4930555@"),
        "caller id"
    );
    net.answer(carrier, key, &dest, 180, None);
    net.answer(carrier, key, &dest, 200, Some(&sdp("192.0.2.10", 7000)));
    assert_eq!(net.acks(carrier), 1);
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, CallEvent::Answered { call, .. } if *call == id))
    );
    net.b2bua.hangup(net.now, id, &mut net.b2b_layer).unwrap();
    net.run();
    assert!(net.has_request(slot, Method::Bye));
    assert!(net.has_request(carrier, Method::Bye));
    let e = net.ended()[0];
    assert_eq!(e.direction, CallDirection::Originate);
    assert_eq!(e.disposition, Disposition::Answered);
    assert_eq!(e.campaign_id.as_deref(), Some("c1"));
    assert_eq!(e.lead_id.as_deref(), Some("l9"));
    assert_eq!(e.slot.as_deref(), Some("7001"));
    assert_eq!(e.codec.as_deref(), Some("PCMA"));
    assert!(e.a_call_id.is_some() && e.b_call_id.is_some() && e.a_call_id != e.b_call_id);
    let slot_tag = String::from_utf8_lossy(inv.headers.from().unwrap().tag().unwrap()).into_owned();
    assert_eq!(
        e.media.as_ref().unwrap().tags[0],
        slot_tag,
        "media legs reported caller (slot) first"
    );
    assert_eq!(
        net.b2bua.hangup(net.now, id, &mut net.b2b_layer),
        Err(b2bua::HangupError::NoSuchCall)
    );
}

#[test]
fn slot_that_does_not_answer_ends_the_originate() {
    let (mut net, slot, carrier) = with_carrier();
    let opts = OriginateOptions {
        ring_timeout: Some(Duration::from_secs(20)),
        ..Default::default()
    };
    net.originate("7001", "4930123", opts).unwrap();
    let (key, inv) = net.take_request(slot, Method::Invite);
    net.answer(slot, key, &inv, 180, None);
    net.advance(Duration::from_secs(21));
    assert!(net.was_cancelled(slot));
    assert!(net.try_take_request(carrier, Method::Invite).is_none());
    let e = net.ended()[0];
    assert_eq!(e.disposition, Disposition::NoAnswer);
}

#[test]
fn busy_destination_hangs_up_the_slot() {
    let (mut net, slot, carrier) = with_carrier();
    net.originate("7001", "4930123", OriginateOptions::default())
        .unwrap();
    let (key, inv) = net.take_request(slot, Method::Invite);
    net.answer(slot, key, &inv, 200, Some(&sdp("10.1.0.7", 4000)));
    let (key, dest) = net.take_request(carrier, Method::Invite);
    net.answer(carrier, key, &dest, 486, None);
    assert!(net.has_request(slot, Method::Bye), "the slot is hung up");
    let e = net.ended()[0];
    assert_eq!(e.disposition, Disposition::Busy);
    assert_eq!(e.sip_code, 486);
}

#[test]
fn slot_hanging_up_while_the_destination_rings_cancels_it() {
    let (mut net, slot, carrier) = with_carrier();
    net.originate("7001", "4930123", OriginateOptions::default())
        .unwrap();
    let (key, inv) = net.take_request(slot, Method::Invite);
    net.answer(slot, key, &inv, 200, Some(&sdp("10.1.0.7", 4000)));
    let (key, dest) = net.take_request(carrier, Method::Invite);
    net.answer(carrier, key, &dest, 180, None);
    let c = net.last_call(slot);
    net.bye(slot, &c);
    assert!(net.was_cancelled(carrier));
    assert!(net.try_take_response(slot, 200).is_some());
    assert_eq!(net.ended()[0].disposition, Disposition::Cancelled);
}

#[test]
fn originate_to_another_slot_forks_to_its_bindings() {
    let (mut net, slot, _carrier) = with_carrier();
    let other = net.add_slot("6005", "10.1.0.5:5060");
    net.originate("7001", "6005", OriginateOptions::default())
        .unwrap();
    let (key, inv) = net.take_request(slot, Method::Invite);
    net.answer(slot, key, &inv, 200, Some(&sdp("10.1.0.7", 4000)));
    let (key, dest) = net.take_request(other, Method::Invite);
    net.answer(other, key, &dest, 200, Some(&sdp("10.1.0.5", 4000)));
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, CallEvent::Answered { .. }))
    );
}

#[test]
fn originate_refusals() {
    let (mut net, _slot, _carrier) = with_carrier();
    assert_eq!(
        net.originate("5001", "1", OriginateOptions::default()),
        Err(OriginateError::NotASlot("5001".into()))
    );
    assert_eq!(
        net.originate("7001", "12a", OriginateOptions::default()),
        Err(OriginateError::BadNumber("12a".into()))
    );
    net.provision("7002");
    assert_eq!(
        net.originate("7002", "123", OriginateOptions::default()),
        Err(OriginateError::NotRegistered("7002".into()))
    );
    assert_eq!(OriginateError::Overloaded.status().as_u16(), 503);
}
