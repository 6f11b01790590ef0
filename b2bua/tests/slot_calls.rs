//! Calls between slots: auth, fork, CANCEL, busy, BYE from each side, CDR hook.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use b2bua::{CallDirection, CallEvent, Disposition, HangupSide};
use media::MediaControl;
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

/// A call from 6001 to 6002 that is answered; returns (net, caller, callee, caller's
/// Call-ID).
fn answered_call() -> (Net, usize, usize, String) {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    let call_id = net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 180, None);
    net.answer(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)));
    net.take_response(a, 200);
    (net, a, b, call_id)
}

#[test]
fn bye_from_the_callee_ends_both_legs() {
    let (mut net, a, b, _) = answered_call();
    let b_call = net.last_call(b);
    net.bye(b, &b_call);
    assert!(net.has_request(a, Method::Bye), "the caller got a BYE");
    assert!(net.try_take_response(b, 200).is_some());
    let e = net.ended()[0];
    assert_eq!(e.hangup, HangupSide::Callee);
    assert_eq!(e.reason, "callee hung up");
    assert!(e.billsec() <= e.duration());
}

#[test]
fn fork_to_two_bindings_first_answer_wins_and_the_other_is_cancelled() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b1 = net.add_slot("6002", "10.1.0.2:5060");
    let b2 = net.add_ua("6002", "10.1.0.3:5060");
    net.bind("6002", b2);
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (k1, inv1) = net.take_request(b1, Method::Invite);
    let (k2, inv2) = net.take_request(b2, Method::Invite);
    assert_eq!(
        inv1.headers.call_id().unwrap(),
        inv2.headers.call_id().unwrap(),
        "one B leg, two branches"
    );
    net.answer(b1, k1, &inv1, 180, None);
    net.answer(b2, k2, &inv2, 180, None);
    net.answer(b2, k2, &inv2, 200, Some(&sdp("10.1.0.3", 6000)));
    assert!(net.try_take_response(a, 200).is_some());
    assert!(net.was_cancelled(b1), "the losing fork is cancelled");
    // The cancelled phone answers 487, as it should.
    net.answer(b1, k1, &inv1, 487, None);
    assert_eq!(net.acks(b2), 1);
    assert!(net.ended().is_empty(), "the call goes on");
}

#[test]
fn a_late_2xx_from_the_losing_fork_is_acknowledged_and_released() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b1 = net.add_slot("6002", "10.1.0.2:5060");
    let b2 = net.add_ua("6002", "10.1.0.3:5060");
    net.bind("6002", b2);
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (k1, inv1) = net.take_request(b1, Method::Invite);
    let (k2, inv2) = net.take_request(b2, Method::Invite);
    net.answer(b1, k1, &inv1, 180, None);
    net.answer(b2, k2, &inv2, 180, None);
    net.answer(b1, k1, &inv1, 200, Some(&sdp("10.1.0.2", 5000)));
    // b2 answers before its CANCEL arrives: its 2xx crosses the CANCEL.
    net.answer(b2, k2, &inv2, 200, Some(&sdp("10.1.0.3", 6000)));
    assert_eq!(net.acks(b2), 1, "the late 2xx is acknowledged");
    assert!(net.has_request(b2, Method::Bye), "and its dialog released");
    assert_eq!(net.acks(b1), 1);
    assert!(!net.has_request(b1, Method::Bye), "the winner stays up");
    assert_eq!(net.b2bua.stats().late_answers_released, 1);
}

#[test]
fn an_unregistered_slot_gets_480() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    net.provision("6003");
    net.invite(a, "6003", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert!(net.try_take_response(a, 480).is_some());
    let e = net.ended()[0];
    assert_eq!(e.disposition, Disposition::NoAnswer);
    assert_eq!(e.sip_code, 480);
    assert!(net.media.list().is_empty(), "the media session is gone");
}

#[test]
fn cancel_before_answer_cancels_the_callee_and_answers_487() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    let call_id = net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 180, None);
    net.cancel(a, &call_id);
    assert!(net.try_take_response(a, 487).is_some());
    assert!(net.was_cancelled(b));
    net.answer(b, key, &inv, 487, None);
    let e = net.ended()[0];
    assert_eq!(e.disposition, Disposition::Cancelled);
    assert_eq!(e.hangup, HangupSide::Caller);
    // Everything finished: the call is gone from memory once its transactions end.
    net.advance(std::time::Duration::from_secs(40));
    assert_eq!(net.b2bua.calls_in_memory(), 0);
    assert_eq!(net.b2bua.active_calls(), 0);
}

#[test]
fn busy_callee_gives_486() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 486, None);
    assert!(net.try_take_response(a, 486).is_some());
    let e = net.ended()[0];
    assert_eq!(e.disposition, Disposition::Busy);
    assert_eq!(e.hangup, HangupSide::Callee);
}

#[test]
fn nobody_answers_within_the_ring_timeout() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 180, None);
    net.advance(std::time::Duration::from_secs(61));
    assert!(net.was_cancelled(b));
    assert!(net.try_take_response(a, 480).is_some());
    assert_eq!(net.ended()[0].disposition, Disposition::NoAnswer);
}

#[test]
fn wrong_password_is_refused_403() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let _b = net.add_slot("6002", "10.1.0.2:5060");
    net.uas[a].credentials = Some(("6001".into(), "wrong".into()));
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert_eq!(net.finals(a), vec![407, 403]);
    assert!(net.events.is_empty(), "no call was created");
    assert_eq!(net.b2bua.stats().auth_failures, 1);
}

#[test]
fn the_200_to_bye_waits_for_the_cdr() {
    let (mut net, a, b, call_id) = answered_call();
    net.auto_persist = false;
    net.bye(a, &call_id);
    assert!(
        net.has_request(b, Method::Bye),
        "the other leg's BYE goes at once"
    );
    assert!(
        net.try_take_response(a, 200).is_none(),
        "no 200 before the CDR is journaled"
    );
    let ended = net.ended();
    assert_eq!(ended.len(), 1, "the CDR event came out");
    // The UA's layer retransmits the BYE meanwhile; still no answer.
    net.advance(std::time::Duration::from_millis(1500));
    assert!(net.try_take_response(a, 200).is_none());
    net.persist_all();
    assert!(
        net.try_take_response(a, 200).is_some(),
        "200 right after the confirmation"
    );
}

#[test]
fn the_200_to_bye_goes_out_after_the_persistence_timeout() {
    let (mut net, a, _b, call_id) = answered_call();
    net.auto_persist = false;
    net.bye(a, &call_id);
    assert!(net.try_take_response(a, 200).is_none());
    net.advance(std::time::Duration::from_millis(2100));
    assert!(
        net.try_take_response(a, 200).is_some(),
        "answered anyway after 2 s"
    );
    assert_eq!(net.b2bua.stats().persist_timeouts, 1);
    // A late confirmation is harmless.
    net.persist_all();
}

#[test]
fn no_header_of_one_leg_reaches_the_other() {
    let (mut net, a, b, call_id) = answered_call();
    net.request_in(
        a,
        &call_id,
        Method::Info,
        Some("application/dtmf-relay"),
        Some("Signal=5\r\nDuration=160\r\n"),
        &[],
    );
    net.bye(a, &call_id);
    // Identifiers of each side as that side wrote them.
    let mut secrets_a = vec![
        call_id.clone(),
        "tag-6001-1".into(),
        "10.1.0.1".into(),
        "TestPhone 6001".into(),
    ];
    let mut secrets_b = vec![net.last_call(b), "uas-6002-1".into(), "10.1.0.2".into()];
    for w in net.wire_with(a) {
        for l in w.text().lines() {
            if let Some(v) = l
                .strip_prefix("Via: ")
                .filter(|_| w.from == net.uas[a].addr)
            {
                secrets_a.push(
                    v.split(";branch=")
                        .nth(1)
                        .unwrap()
                        .split(';')
                        .next()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    for w in net.wire_with(b) {
        for l in w.text().lines() {
            if let Some(v) = l
                .strip_prefix("Via: ")
                .filter(|_| w.from == net.uas[b].addr)
            {
                secrets_b.push(
                    v.split(";branch=")
                        .nth(1)
                        .unwrap()
                        .split(';')
                        .next()
                        .unwrap()
                        .to_owned(),
                );
            }
        }
    }
    for w in net.wire_with(b) {
        let t = w.text();
        for s in &secrets_a {
            assert!(
                !t.contains(s.as_str()),
                "{s:?} of the caller leaked to the callee:\n{t}"
            );
        }
    }
    for w in net.wire_with(a) {
        let t = w.text();
        for s in &secrets_b {
            assert!(
                !t.contains(s.as_str()),
                "{s:?} of the callee leaked to the caller:\n{t}"
            );
        }
    }
    assert!(
        net.wire_to(b, "INFO")
            .iter()
            .any(|w| w.text().contains("Signal=5")),
        "the INFO payload itself is relayed"
    );
}

#[test]
fn overload_beyond_max_calls_gets_503_with_retry_after() {
    let mut cfg = base_config();
    cfg.max_calls = 1;
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    let c = net.add_slot("6003", "10.1.0.3:5060");
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)));
    net.invite(c, "6002", Some(&sdp("10.1.0.3", 4000)), &[]);
    let r = net.take_response(c, 503);
    assert!(
        r.headers
            .get_value(&sip_core::HeaderName::RetryAfter)
            .is_some()
    );
    assert_eq!(
        net.b2bua.active_calls(),
        1,
        "the call in progress is unaffected"
    );
    assert!(net.try_take_response(a, 200).is_some());
    assert_eq!(net.b2bua.stats().overload_rejections, 1);
}

#[test]
fn overload_beyond_calls_per_second_gets_503() {
    let mut cfg = base_config();
    cfg.max_cps = 2;
    let mut net = Net::new(cfg);
    let callers: Vec<usize> = (0..3)
        .map(|i| net.add_slot(&format!("600{}", i + 1), &format!("10.1.0.{}:5060", i + 1)))
        .collect();
    let _b = net.add_slot("6009", "10.1.0.9:5060");
    for &c in &callers {
        net.invite(c, "6009", Some(&sdp("10.1.0.1", 4000)), &[]);
    }
    assert!(
        net.try_take_response(callers[2], 503).is_some(),
        "the third call in one second is refused"
    );
    assert!(net.try_take_response(callers[0], 503).is_none());
    net.advance(std::time::Duration::from_secs(1));
    net.invite(callers[2], "6009", Some(&sdp("10.1.0.3", 4000)), &[]);
    assert!(
        net.try_take_response(callers[2], 503).is_none(),
        "a second later it fits"
    );
}

#[test]
fn media_refusing_the_offer_gives_488() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let _b = net.add_slot("6002", "10.1.0.2:5060");
    // The first offer is challenged (407) before media sees it; fail the next one.
    net.uas[a].credentials = None;
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    net.take_response(a, 407);
    net.uas[a].credentials = Some(("6001".into(), "pw6001".into()));
    net.media.fail_next("test");
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert!(net.try_take_response(a, 488).is_some());
}

#[test]
fn echo_service_answers_at_once() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let call_id = net.invite(a, "9001", Some(&sdp("10.1.0.1", 4000)), &[]);
    let ok = net.take_response(a, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("192.0.2.1"));
    net.bye(a, &call_id);
    assert!(net.try_take_response(a, 200).is_some());
    let e = net.ended()[0];
    assert_eq!(e.direction, CallDirection::Service);
    assert_eq!(e.disposition, Disposition::Answered);
    assert!(net.media.list().is_empty());
}

#[test]
fn unknown_service_number_is_404() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    net.invite(a, "9555", Some(&sdp("10.1.0.1", 4000)), &[]);
    assert!(net.try_take_response(a, 404).is_some());
}

#[test]
fn recorded_calls_report_their_recording_and_media_stats() {
    let mut cfg = base_config();
    cfg.record_calls = true;
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    let call_id = net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)));
    let created = match &net.events[0] {
        CallEvent::Created(c) => c.call,
        other => panic!("{other:?}"),
    };
    assert!(net.media.is_recording(&created.to_string()));
    net.bye(a, &call_id);
    let e = net.ended()[0];
    let rec = e.recording.as_ref().expect("the recording is reported");
    assert_eq!(rec.path, std::path::PathBuf::from(format!("{created}.wav")));
    assert!(rec.complete);
    let stats = e.media.as_ref().expect("media stats from delete");
    assert_eq!(stats.call_id, created.to_string());
    assert!(e.a_call_id.as_deref() == Some(call_id.as_str()));
    assert_ne!(e.b_call_id, e.a_call_id);
}

#[test]
fn bye_in_the_early_dialog_gets_the_invite_a_487() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    let call_id = net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 180, None);
    // RFC 3261 §15: the caller may end an early dialog with BYE.
    net.bye(a, &call_id);
    assert!(
        net.try_take_response(a, 487).is_some(),
        "the INVITE is answered 487"
    );
    assert!(net.try_take_response(a, 200).is_some(), "and the BYE 200");
    assert!(net.was_cancelled(b));
    assert_eq!(net.ended()[0].disposition, Disposition::Cancelled);
}
