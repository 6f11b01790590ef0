//! Inside a call: hold and resume, UPDATE, INFO, PRACK, session timers, maximum
//! duration, media timeout, unacknowledged 2xx, late offer, stray 2xx.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use b2bua::{Disposition, HangupSide};
use media::MediaEvent;
use sip_core::{HeaderName, Method};
use support::*;

fn body(r: &sip_core::Request) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn answered_call_with(cfg: b2bua::B2buaConfig) -> (Net, usize, usize, String, String) {
    answered_call_ext(cfg, &[])
}

/// The callee answers with `extra` headers (e.g. its Session-Expires).
fn answered_call_ext(
    cfg: b2bua::B2buaConfig,
    extra: &[(&str, &str)],
) -> (Net, usize, usize, String, String) {
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    let call_id = net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer_with(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)), extra);
    net.take_response(a, 200);
    let b_call = net.last_call(b);
    (net, a, b, call_id, b_call)
}

fn answered_call() -> (Net, usize, usize, String, String) {
    answered_call_with(base_config())
}

#[test]
fn hold_and_resume_go_through_the_media_engine() {
    let (mut net, a, b, call_id, _) = answered_call();
    net.request_in(
        a,
        &call_id,
        Method::Invite,
        None,
        Some(&sdp_with("10.1.0.1", 4000, 2, "sendonly")),
        &[],
    );
    let (key, reinv) = net.take_request(b, Method::Invite);
    assert!(
        body(&reinv).contains("a=sendonly"),
        "hold reaches the callee"
    );
    assert!(body(&reinv).contains("192.0.2.1"), "through the relay");
    net.answer(
        b,
        key,
        &reinv,
        200,
        Some(&sdp_with("10.1.0.2", 5000, 2, "recvonly")),
    );
    let ok = net.take_response(a, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("a=recvonly"));
    assert_eq!(
        net.acks(b),
        2,
        "the relayed re-INVITE's 2xx is acknowledged"
    );
    // Resume.
    net.request_in(
        a,
        &call_id,
        Method::Invite,
        None,
        Some(&sdp_with("10.1.0.1", 4000, 3, "sendrecv")),
        &[],
    );
    let (key, reinv) = net.take_request(b, Method::Invite);
    assert!(body(&reinv).contains("a=sendrecv"));
    net.answer(
        b,
        key,
        &reinv,
        200,
        Some(&sdp_with("10.1.0.2", 5000, 3, "sendrecv")),
    );
    net.take_response(a, 200);
    let offers = net
        .media
        .calls()
        .iter()
        .filter(|c| matches!(c, media::testing::FakeCall::Offer(..)))
        .count();
    assert_eq!(offers, 3, "initial offer, hold, resume");
}

#[test]
fn hold_with_zero_address_from_the_callee() {
    let (mut net, a, b, _, b_call) = answered_call();
    let hold =
        sdp_with("10.1.0.2", 5000, 2, "sendrecv").replace("c=IN IP4 10.1.0.2", "c=IN IP4 0.0.0.0");
    net.request_in(b, &b_call, Method::Invite, None, Some(&hold), &[]);
    let (key, reinv) = net.take_request(a, Method::Invite);
    assert!(body(&reinv).contains("0.0.0.0"), "RFC 2543 hold is kept");
    net.answer(
        a,
        key,
        &reinv,
        200,
        Some(&sdp_with("10.1.0.1", 4000, 2, "sendrecv")),
    );
    assert!(net.try_take_response(b, 200).is_some());
}

#[test]
fn a_rejected_reoffer_is_relayed_back() {
    let (mut net, a, b, call_id, _) = answered_call();
    net.request_in(
        a,
        &call_id,
        Method::Invite,
        None,
        Some(&sdp_with("10.1.0.1", 4002, 2, "sendrecv")),
        &[],
    );
    let (key, reinv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &reinv, 488, None);
    assert!(net.try_take_response(a, 488).is_some());
    assert!(
        net.ended().is_empty(),
        "the call survives a refused re-offer"
    );
}

#[test]
fn update_with_sdp_is_relayed_and_without_is_answered_here() {
    let (mut net, a, b, call_id, _) = answered_call();
    net.uas[b].auto_answer = false;
    net.request_in(
        a,
        &call_id,
        Method::Update,
        None,
        Some(&sdp_with("10.1.0.1", 4000, 2, "sendrecv")),
        &[],
    );
    let (key, upd) = net.take_request(b, Method::Update);
    assert!(body(&upd).contains("192.0.2.1"));
    net.answer(
        b,
        key,
        &upd,
        200,
        Some(&sdp_with("10.1.0.2", 5000, 2, "sendrecv")),
    );
    let ok = net.take_response(a, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("192.0.2.1"));
    // A refresh without SDP stays at its leg.
    net.request_in(a, &call_id, Method::Update, None, None, &[]);
    assert!(net.try_take_response(a, 200).is_some());
    assert!(net.try_take_request(b, Method::Update).is_none());
}

#[test]
fn info_dtmf_is_relayed_both_ways() {
    let (mut net, a, b, call_id, b_call) = answered_call();
    net.request_in(
        a,
        &call_id,
        Method::Info,
        Some("application/dtmf-relay"),
        Some("Signal=1\r\nDuration=100\r\n"),
        &[],
    );
    let (_, info) = net.take_request(b, Method::Info);
    assert_eq!(body(&info), "Signal=1\r\nDuration=100\r\n");
    assert_eq!(
        &info.headers.get_value(&HeaderName::ContentType).unwrap()[..],
        b"application/dtmf-relay"
    );
    assert!(
        net.try_take_response(a, 200).is_some(),
        "the callee's 200 comes back"
    );
    net.request_in(
        b,
        &b_call,
        Method::Info,
        Some("application/dtmf-relay"),
        Some("Signal=#\r\n"),
        &[],
    );
    let (_, info) = net.take_request(a, Method::Info);
    assert_eq!(body(&info), "Signal=#\r\n");
}

#[test]
fn prack_reliable_provisionals_per_leg() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    net.invite(
        a,
        "6002",
        Some(&sdp("10.1.0.1", 4000)),
        &[("Supported", "100rel")],
    );
    let (key, inv) = net.take_request(b, Method::Invite);
    assert!(
        inv.headers.has_token(&HeaderName::Supported, "100rel"),
        "we offer 100rel to the callee"
    );
    // The callee sends a reliable 183 with its answer.
    let mut r183 = sip_core::Response::from_request(&inv, sip_core::StatusCode::SESSION_PROGRESS);
    r183.set_to_tag("uas-6002-1");
    r183.headers.push(
        HeaderName::Contact,
        bytes::Bytes::from_static(b"<sip:6002@10.1.0.2:5060>"),
    );
    r183.headers
        .push(HeaderName::Require, bytes::Bytes::from_static(b"100rel"));
    r183.headers
        .push(HeaderName::RSeq, bytes::Bytes::from_static(b"1"));
    r183.set_body("application/sdp", bytes::Bytes::from(sdp("10.1.0.2", 5000)));
    net.uas[b].calls.push(support::UaCall {
        call_id: String::from_utf8_lossy(inv.headers.call_id().unwrap()).into_owned(),
        invite: inv.clone(),
        dialog: Some(sip_core::dialog::Dialog::uas(&inv, "uas-6002-1").unwrap()),
        tag: "uas-6002-1".into(),
        server: Some(key),
        client: None,
        uac: false,
    });
    net.respond(b, key, r183);
    let (_, prack) = net.take_request(b, Method::Prack);
    assert_eq!(
        &prack.headers.get_value(&HeaderName::RAck).unwrap()[..],
        b"1 1 INVITE",
        "the B2BUA PRACKs the callee"
    );
    // The caller asked for 100rel: our 183 to it is reliable, and it PRACKs us.
    let p = net.take_response(a, 183);
    assert!(p.headers.has_token(&HeaderName::Require, "100rel"));
    assert!(p.headers.get_value(&HeaderName::RSeq).is_some());
    assert!(
        String::from_utf8_lossy(&p.body).contains("192.0.2.1"),
        "early media SDP"
    );
    assert!(
        net.try_take_response(a, 200).is_some(),
        "our 200 to the caller's PRACK"
    );
    assert!(net.events.iter().any(|e| matches!(
        e,
        b2bua::CallEvent::Ringing {
            early_media: true,
            ..
        }
    )));
    net.answer(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)));
    assert!(net.try_take_response(a, 200).is_some(), "the INVITE's 200");
}

#[test]
fn reliable_provisional_is_retransmitted_until_prack() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    net.uas[a].auto_prack = false;
    net.invite(
        a,
        "6002",
        Some(&sdp("10.1.0.1", 4000)),
        &[("Require", "100rel")],
    );
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 180, None);
    net.advance(Duration::from_millis(1600));
    let sent = net
        .wire
        .iter()
        .filter(|w| w.to == net.uas[a].addr && w.text().starts_with("SIP/2.0 180"))
        .count();
    assert!(sent >= 3, "180 sent at 0, 0.5 and 1.5 s ({sent})");
    // Never PRACKed: after 64*T1 the INVITE is refused with a 5xx (RFC 3262 §3).
    net.advance(Duration::from_secs(32));
    assert!(net.try_take_response(a, 500).is_some());
    assert!(net.was_cancelled(b));
}

#[test]
fn session_timer_refreshes_with_update_and_expiry_tears_down() {
    let mut cfg = base_config();
    cfg.session_expires = Some(Duration::from_secs(120));
    let (mut net, a, b, _, _) = answered_call_ext(
        cfg,
        &[
            ("Session-Expires", "120;refresher=uac"),
            ("Require", "timer"),
            ("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE"),
        ],
    );
    // We refresh both legs at half the interval: the caller did not ask to, the callee
    // named us (the UAC of its leg).
    net.advance(Duration::from_secs(61));
    let updates_b = net.wire_to(b, "UPDATE").len();
    let updates_a = net.wire_to(a, "UPDATE").len();
    assert_eq!((updates_a, updates_b), (1, 1), "one refresh per leg");
    assert!(
        net.wire_to(b, "UPDATE")[0]
            .text()
            .contains("Session-Expires: 120;refresher=uac")
    );
    assert!(net.ended().is_empty());
    net.advance(Duration::from_secs(60));
    assert_eq!(net.wire_to(b, "UPDATE").len(), 2, "refreshed again");
    // The callee stops answering refreshes: the call ends with BYE both ways.
    net.black_holes.push(net.uas[b].addr);
    net.advance(Duration::from_secs(200));
    let e = net.ended()[0];
    assert_eq!(e.hangup, HangupSide::System);
    assert!(e.reason.contains("session"), "{}", e.reason);
    assert!(net.has_request(a, Method::Bye));
}

#[test]
fn a_peer_that_refreshes_and_then_stops_is_hung_up() {
    let mut cfg = base_config();
    cfg.session_expires = Some(Duration::from_secs(90));
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    let call_id = net.invite(
        a,
        "6002",
        Some(&sdp("10.1.0.1", 4000)),
        &[
            ("Supported", "timer"),
            ("Session-Expires", "90;refresher=uac"),
        ],
    );
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)));
    let ok = net.take_response(a, 200);
    assert_eq!(
        &ok.headers.get_value(&HeaderName::SessionExpires).unwrap()[..],
        b"90;refresher=uac"
    );
    assert!(ok.headers.has_token(&HeaderName::Require, "timer"));
    // The caller refreshes at 45 s with UPDATE; the call goes on past 90 s.
    net.advance(Duration::from_secs(45));
    net.request_in(
        a,
        &call_id,
        Method::Update,
        None,
        None,
        &[
            ("Session-Expires", "90;refresher=uac"),
            ("Supported", "timer"),
        ],
    );
    assert!(net.try_take_response(a, 200).is_some());
    net.advance(Duration::from_secs(50));
    assert!(net.ended().is_empty(), "the refresh kept the session");
    assert!(
        net.wire_to(a, "UPDATE").is_empty(),
        "the caller is the refresher on its leg"
    );
    // Then it stops: 90 - 30 s after its last refresh the call ends.
    net.advance(Duration::from_secs(20));
    let e = net.ended()[0];
    assert_eq!(e.reason, "session timer expired");
    assert!(net.has_request(a, Method::Bye));
    assert!(net.has_request(b, Method::Bye));
}

#[test]
fn a_too_short_session_interval_gets_422() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let _b = net.add_slot("6002", "10.1.0.2:5060");
    net.invite(
        a,
        "6002",
        Some(&sdp("10.1.0.1", 4000)),
        &[("Session-Expires", "30")],
    );
    let r = net.take_response(a, 422);
    assert_eq!(&r.headers.get_value(&HeaderName::MinSe).unwrap()[..], b"90");
}

#[test]
fn maximum_call_duration_ends_the_call() {
    let mut cfg = base_config();
    cfg.max_duration = Some(Duration::from_secs(300));
    cfg.session_expires = None;
    let (mut net, a, b, _, _) = answered_call_with(cfg);
    net.advance(Duration::from_secs(299));
    assert!(net.ended().is_empty());
    net.advance(Duration::from_secs(2));
    assert!(net.has_request(a, Method::Bye));
    assert!(net.has_request(b, Method::Bye));
    let e = net.ended()[0];
    assert_eq!(e.reason, "maximum call duration");
    assert_eq!(e.disposition, Disposition::Answered);
}

#[test]
fn media_timeout_sends_bye_both_ways() {
    let (mut net, a, b, _, _) = answered_call();
    let Some(b2bua::CallEvent::Created(c)) = net.events.first().cloned() else {
        panic!()
    };
    net.media_event(MediaEvent::Timeout {
        call_id: Arc::from(c.call.to_string()),
        tag: Arc::from("x"),
        stream: 0,
        idle: Duration::from_secs(60),
    });
    assert!(net.has_request(a, Method::Bye));
    assert!(net.has_request(b, Method::Bye));
    assert_eq!(net.ended()[0].reason, "media timeout");
}

#[test]
fn an_unacknowledged_2xx_ends_the_call_with_bye() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    net.uas[a].auto_ack = false;
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)));
    net.advance(Duration::from_secs(33));
    assert!(net.has_request(b, Method::Bye));
    assert!(net.has_request(a, Method::Bye));
    assert_eq!(net.ended()[0].reason, "no ACK for 2xx");
}

#[test]
fn late_offer_takes_the_answer_from_the_callers_ack() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    net.uas[a].auto_ack = false;
    let call_id = net.invite(a, "6002", None, &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    assert!(inv.body.is_empty(), "no offer toward the callee either");
    net.answer(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)));
    let ok = net.take_response(a, 200);
    assert!(
        String::from_utf8_lossy(&ok.body).contains("192.0.2.1"),
        "the callee's offer, through the relay"
    );
    assert_eq!(
        net.acks(b),
        0,
        "the callee's ACK waits for the caller's answer"
    );
    net.ack(a, &call_id, &ok, Some(&sdp("10.1.0.1", 4000)));
    assert_eq!(net.acks(b), 1);
    let ack = net.wire_to(b, "ACK");
    assert!(
        ack[0].text().contains("192.0.2.1"),
        "the ACK carries the relay's answer"
    );
}

#[test]
fn stray_2xx_is_acknowledged_and_released() {
    let mut net = Net::new(base_config());
    let c = net.add_ua("carrier", "192.0.2.50:5060");
    let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKgone;rport\r\nFrom: <sip:x@vss.test>;tag=ours\r\nTo: <sip:y@carrier>;tag=theirs\r\nCall-ID: stray-1\r\nCSeq: 1 INVITE\r\nContact: <sip:y@192.0.2.50:5060>\r\nContent-Length: 0\r\n\r\n";
    net.uas[c].layer.send_stateless(
        sip_core::transaction::Peer::udp(net.b2b_addr),
        sip_core::Message::parse_datagram(bytes::Bytes::from(text)).unwrap(),
    );
    net.run();
    assert_eq!(net.wire_to(c, "ACK").len(), 1);
    assert_eq!(net.wire_to(c, "BYE").len(), 1);
}

#[test]
fn requests_for_unknown_dialogs_get_481() {
    let (mut net, a, _b, call_id, _) = answered_call();
    net.bye(a, &call_id);
    net.take_response(a, 200);
    // Same dialog again after the end: the call is gone or ended.
    net.request_in(
        a,
        &call_id,
        Method::Info,
        Some("text/plain"),
        Some("x"),
        &[],
    );
    assert!(net.try_take_response(a, 481).is_some());
}

#[test]
fn session_refresh_uses_reinvite_when_the_peer_has_no_update() {
    let mut cfg = base_config();
    cfg.session_expires = Some(Duration::from_secs(120));
    let mut net = Net::new(cfg);
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    net.uas[b].auto_reinvite = Some(sdp("10.1.0.2", 5000));
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    net.answer_with(
        b,
        key,
        &inv,
        200,
        Some(&sdp("10.1.0.2", 5000)),
        &[("Session-Expires", "120;refresher=uac")],
    );
    net.take_response(a, 200);
    let sent_to_b = net.wire_to(b, "INVITE")[0].text();
    let offer = &sent_to_b[sent_to_b.find("v=0").unwrap()..];
    net.advance(Duration::from_secs(61));
    let reinvites = net.wire_to(b, "INVITE");
    assert_eq!(reinvites.len(), 2, "initial INVITE and one refresh");
    let refresh = reinvites[1].text();
    assert!(
        refresh.ends_with(offer),
        "the refresh repeats the description unchanged, version included"
    );
    assert_eq!(net.acks(b), 2, "the refresh's 2xx is acknowledged");
    assert!(net.ended().is_empty());
}

#[test]
fn a_cancelled_reinvite_is_cancelled_on_the_other_leg() {
    let (mut net, a, b, call_id, _) = answered_call();
    net.request_in(
        a,
        &call_id,
        Method::Invite,
        None,
        Some(&sdp_with("10.1.0.1", 4000, 2, "sendonly")),
        &[],
    );
    let (key, reinv) = net.take_request(b, Method::Invite);
    net.cancel_last(a);
    assert!(net.try_take_response(a, 487).is_some());
    assert!(
        net.was_cancelled(b),
        "our re-INVITE to the callee is cancelled too"
    );
    net.answer(b, key, &reinv, 487, None);
    assert!(net.ended().is_empty());
}

#[test]
fn crossing_reinvites_get_491() {
    let (mut net, a, b, call_id, b_call) = answered_call();
    net.request_in(
        a,
        &call_id,
        Method::Invite,
        None,
        Some(&sdp_with("10.1.0.1", 4000, 2, "sendonly")),
        &[],
    );
    let (key, reinv) = net.take_request(b, Method::Invite);
    // The callee's own re-INVITE crosses ours (RFC 3261 §14.2): it gets 491.
    net.request_in(
        b,
        &b_call,
        Method::Invite,
        None,
        Some(&sdp_with("10.1.0.2", 5000, 2, "sendonly")),
        &[],
    );
    assert!(net.try_take_response(b, 491).is_some());
    net.answer(
        b,
        key,
        &reinv,
        200,
        Some(&sdp_with("10.1.0.2", 5000, 2, "recvonly")),
    );
    assert!(net.try_take_response(a, 200).is_some(), "ours completes");
}

/// The echo service has no other side: a new offer from the caller (hold, resume, a new
/// port) goes to the media engine's echo again, and the caller gets 200 with its answer.
#[test]
fn echo_call_reoffers_go_to_the_echo() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let call_id = net.invite(a, "9001", Some(&sdp("10.1.0.1", 4000)), &[]);
    net.take_response(a, 200);
    let echoes = |net: &Net| {
        net.media
            .calls()
            .iter()
            .filter(|c| matches!(c, media::testing::FakeCall::Echo(..)))
            .count()
    };
    assert_eq!(echoes(&net), 1);

    // Hold: the echo answers recvonly (RFC 3264 §6.1), through the relay.
    net.request_in(
        a,
        &call_id,
        Method::Invite,
        None,
        Some(&sdp_with("10.1.0.1", 4000, 2, "sendonly")),
        &[],
    );
    let ok = net.take_response(a, 200);
    let text = String::from_utf8_lossy(&ok.body).into_owned();
    assert!(text.contains("a=recvonly"), "hold answered: {text}");
    assert!(text.contains("192.0.2.1"), "still the relay: {text}");
    assert!(text.contains("o=- "), "our own o= line: {text}");
    assert_eq!(echoes(&net), 2, "the hold went to the echo");

    // Resume, from another port.
    net.request_in(
        a,
        &call_id,
        Method::Invite,
        None,
        Some(&sdp_with("10.1.0.1", 4100, 3, "sendrecv")),
        &[],
    );
    let ok = net.take_response(a, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("a=sendrecv"));
    assert_eq!(echoes(&net), 3);

    // A refresh with the same version is answered without the media engine.
    net.request_in(
        a,
        &call_id,
        Method::Invite,
        None,
        Some(&sdp_with("10.1.0.1", 4100, 3, "sendrecv")),
        &[],
    );
    net.take_response(a, 200);
    assert_eq!(echoes(&net), 3);

    // UPDATE with a new offer goes to the echo as well.
    net.request_in(
        a,
        &call_id,
        Method::Update,
        None,
        Some(&sdp_with("10.1.0.1", 4100, 4, "sendonly")),
        &[],
    );
    let ok = net.take_response(a, 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("a=recvonly"));
    assert_eq!(echoes(&net), 4);

    // A media engine that refuses the new offer: 488, and the call goes on.
    net.media.fail_next("test");
    net.request_in(
        a,
        &call_id,
        Method::Invite,
        None,
        Some(&sdp_with("10.1.0.1", 4100, 5, "sendrecv")),
        &[],
    );
    assert!(net.try_take_response(a, 488).is_some());
    assert!(
        net.ended().is_empty(),
        "the call survives a refused re-offer"
    );

    // INFO has nobody to go to: 200, not a 481 that would end the caller's dialog.
    net.request_in(
        a,
        &call_id,
        Method::Info,
        Some("application/dtmf-relay"),
        Some("Signal=5\r\nDuration=160\r\n"),
        &[],
    );
    assert!(net.try_take_response(a, 200).is_some());
    assert!(net.ended().is_empty());

    net.bye(a, &call_id);
    assert!(net.try_take_response(a, 200).is_some());
    let e = net.ended()[0];
    assert_eq!(e.disposition, Disposition::Answered);
    assert!(media::MediaControl::list(&*net.media).is_empty());
}

/// RFC 3261 §13.2.2.4: a retransmitted 2xx (our ACK was lost) gets the same ACK again,
/// which the callee absorbs as a retransmission rather than taking for a second ACK.
#[test]
fn a_retransmitted_2xx_gets_the_same_ack() {
    let mut net = Net::new(base_config());
    let a = net.add_slot("6001", "10.1.0.1:5060");
    let b = net.add_slot("6002", "10.1.0.2:5060");
    net.invite(a, "6002", Some(&sdp("10.1.0.1", 4000)), &[]);
    let (key, inv) = net.take_request(b, Method::Invite);
    // Everything to the callee is lost from here: its 200 is retransmitted.
    let b_addr = net.uas[b].addr;
    net.black_holes.push(b_addr);
    net.answer(b, key, &inv, 200, Some(&sdp("10.1.0.2", 5000)));
    net.advance(Duration::from_millis(1600));
    let acks = net.wire_to(b, "ACK");
    assert!(acks.len() >= 2, "every 2xx is acknowledged: {}", acks.len());
    assert!(
        acks.iter().all(|w| w.bytes == acks[0].bytes),
        "the same ACK each time:\n{}\n{}",
        acks[0].text(),
        acks[1].text()
    );
}
