//! Calls between slots: auth, fork, CANCEL, busy, BYE from each side, CDR hook.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use b2bua::{CallDirection, CallEvent, Disposition, HangupSide};
use sip_core::Method;
use support::*;

#[test]
fn slot_to_slot_call_with_407_ringing_answer_and_bye_from_caller() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    let call_id = net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert!(
        net.try_take_response(a, 407).is_some(),
        "first INVITE is challenged"
    );
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 180, None);
    assert!(net.try_take_response(a, 180).is_some());
    net.answer(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)));
    let ok = net.take_response(a, 200);
    assert!(
        String::from_utf8_lossy(&ok.body).contains("192.0.2.1"),
        "answer points at the relay"
    );
    assert_eq!(net.acks(b), 1, "the B2BUA acknowledged the callee's 2xx");
    net.bye(a, &call_id);
    assert!(net.has_request(b, Method::Bye));
    assert!(
        net.try_take_response(a, 200).is_some(),
        "BYE answered after the CDR was confirmed"
    );
    let ended = net.ended();
    assert_eq!(ended.len(), 1);
    let e = ended[0];
    assert_eq!(e.direction, CallDirection::Internal);
    assert_eq!(e.hangup, HangupSide::Caller);
    assert_eq!(e.disposition, Disposition::Answered);
    assert_eq!(e.src, "6001");
    assert_eq!(e.dst, "6002");
    assert_eq!(e.codec.as_deref(), Some("PCMA"));
    assert!(matches!(net.events[0], CallEvent::Created(_)));
}
