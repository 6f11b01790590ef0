//! Server transactions (RFC 3261 §17.2, RFC 6026 §8.5–8.7), one layer driven by hand on
//! a simulated clock: 100 Trying, retransmission absorption, Timers G/H/I/J/L, the 2xx
//! retransmission and its ACK, CANCEL, RFC 2543 matching, overload.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is a failed test

mod transaction_support;

use bytes::Bytes;
use sip_core::transaction::{
    Config, Event, Peer, ServerState, Timer, TransactionError, TransactionKey,
};
use sip_core::{HeaderName, Message, Method, Request, StatusCode, Transport};
use std::path::PathBuf;
use std::time::Duration;
use transaction_support::*;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn durations(list: &[f64]) -> Vec<Duration> {
    list.iter().map(|&s| secs(s)).collect()
}

fn uac(transport: Transport) -> Peer {
    peer(transport, UAC_ADDR)
}

/// Receive a request and return the new transaction's key and the stamped request.
fn accept(
    h: &mut Harness,
    req: &Request,
    transport: Transport,
) -> (sip_core::transaction::ServerKey, Request) {
    let before = h.events.len();
    h.receive(req.clone(), uac(transport));
    assert_eq!(h.events.len(), before + 1, "one Request event");
    (h.last_server_key(), h.last_request())
}

fn conformance(name: &str) -> Bytes {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/conformance/rfc4475")
        .join(name);
    Bytes::from(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn invite_gets_100_trying_at_once_and_the_tu_sees_a_stamped_request() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(1));
    let (key, req) = accept(&mut h, &inv, Transport::Udp);
    assert_eq!(h.layer.server_state(&key), Some(ServerState::Proceeding));
    assert_eq!(h.sent.len(), 1);
    assert_eq!(h.sent[0].first_line(), "SIP/2.0 100 Trying");
    assert_eq!(h.sent[0].at, h.start);
    assert_eq!(h.sent[0].transmit.dest.addr, addr(UAC_ADDR));
    // RFC 3581: rport asked for, so received and rport are filled in.
    let via = req.top_via().expect("via");
    assert_eq!(via.rport(), Some(Some(5060)));
    assert_eq!(via.received(), Some(&b"192.0.2.10"[..]));
    let trying = as_response(&h.sent[0].transmit.payload);
    assert_eq!(
        trying.headers.top_via().expect("via").rport(),
        Some(Some(5060))
    );

    let quiet = Config {
        send_trying: false,
        ..Config::default()
    };
    let mut q = Harness::new(quiet);
    accept(&mut q, &inv, Transport::Udp);
    assert!(q.sent.is_empty(), "100 Trying is configurable");
}

#[test]
fn retransmitted_invite_is_answered_with_the_last_provisional() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(2));
    let (key, req) = accept(&mut h, &inv, Transport::Udp);
    h.receive(inv.clone(), uac(Transport::Udp));
    assert_eq!(h.count("SIP/2.0 100"), 2);
    h.layer
        .send_response(h.now, &key, reply(&req, 180))
        .expect("180");
    h.drain();
    h.receive(inv, uac(Transport::Udp));
    assert_eq!(h.count("SIP/2.0 180"), 2);
    assert_eq!(
        h.events
            .iter()
            .filter(|e| matches!(e, Event::Request { .. }))
            .count(),
        1,
        "retransmissions never reach the TU"
    );
    assert_eq!(h.layer.stats().retransmissions_absorbed, 2);
}

#[test]
fn timer_g_doubles_to_t2_and_timer_h_reports_the_missing_ack() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(3));
    let (key, req) = accept(&mut h, &inv, Transport::Udp);
    h.layer
        .send_response(h.now, &key, reply(&req, 486))
        .expect("486");
    h.drain();
    assert_eq!(h.layer.server_state(&key), Some(ServerState::Completed));
    h.run_to_end();
    // §17.2.1: G = T1, then MIN(2G, T2); H = 64*T1.
    assert_eq!(
        h.times_of("SIP/2.0 486"),
        durations(&[0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    );
    assert_eq!(h.now - h.start, secs(32.0));
    let tail: Vec<_> = h.events.iter().skip(1).collect();
    assert!(matches!(
        tail.as_slice(),
        [
            Event::Timeout { key: TransactionKey::Server(k), timer: Timer::H },
            Event::Terminated { .. }
        ] if *k == key
    ));
}

#[test]
fn ack_for_non_2xx_confirms_and_timer_i_runs_t4() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(4));
    let (key, req) = accept(&mut h, &inv, Transport::Udp);
    let busy = reply(&req, 486);
    h.layer
        .send_response(h.now, &key, busy.clone())
        .expect("486");
    h.drain();
    h.run_for(secs(2.0));
    // A retransmitted INVITE gets the final response again.
    h.receive(inv.clone(), uac(Transport::Udp));
    assert_eq!(h.times_of("SIP/2.0 486"), durations(&[0.0, 0.5, 1.5, 2.0]));
    let ack = sip_core::transaction::ack_for_non_2xx(&inv, &busy).expect("ack");
    h.receive(ack.clone(), uac(Transport::Udp));
    assert_eq!(h.layer.server_state(&key), Some(ServerState::Confirmed));
    assert!(
        !h.events.iter().any(|e| matches!(e, Event::Ack { .. })),
        "the ACK for a non-2xx stays in the transaction"
    );
    // Confirmed absorbs ACK retransmissions; Timer I = T4 from the first ACK.
    h.receive(ack, uac(Transport::Udp));
    assert_eq!(h.layer.poll_timeout(), Some(h.start + secs(7.0)));
    h.run_to_end();
    assert_eq!(h.now - h.start, secs(7.0));
    assert_eq!(h.count("SIP/2.0 486"), 4, "G stopped at the ACK");
    assert!(h.terminated(TransactionKey::Server(key)));
}

#[test]
fn reliable_transport_has_no_g_and_timer_i_is_zero() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Tcp, &branch(5));
    let (key, req) = accept(&mut h, &inv, Transport::Tcp);
    assert_eq!(
        h.sent[0].transmit.dest,
        uac(Transport::Tcp),
        "same connection"
    );
    let busy = reply(&req, 486);
    h.layer
        .send_response(h.now, &key, busy.clone())
        .expect("486");
    h.drain();
    assert_eq!(h.layer.poll_timeout(), Some(h.start + secs(32.0)), "only H");
    h.run_for(secs(10.0));
    assert_eq!(h.count("SIP/2.0 486"), 1);
    let ack = sip_core::transaction::ack_for_non_2xx(&inv, &busy).expect("ack");
    h.receive(ack, uac(Transport::Tcp));
    assert!(h.terminated(TransactionKey::Server(key)));
    assert!(h.layer.is_empty());
}

#[test]
fn the_2xx_is_retransmitted_until_64_t1_then_timer_l_asks_for_bye() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(6));
    let (key, req) = accept(&mut h, &inv, Transport::Udp);
    h.layer
        .send_response(h.now, &key, reply(&req, 200))
        .expect("200");
    h.drain();
    assert_eq!(h.layer.server_state(&key), Some(ServerState::Accepted));
    h.run_to_end();
    // RFC 3261 §13.3.1.4: T1 doubling to T2, for 64*T1.
    assert_eq!(
        h.times_of("SIP/2.0 200"),
        durations(&[0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    );
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::Timeout { key: TransactionKey::Server(k), timer: Timer::L } if *k == key
    )));
    assert_eq!(h.now - h.start, secs(32.0));
    assert!(h.layer.is_empty());
}

#[test]
fn the_ack_for_the_2xx_is_matched_by_dialog_ids_and_stops_retransmission() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(7));
    let (key, req) = accept(&mut h, &inv, Transport::Udp);
    let ok = reply(&req, 200);
    h.layer.send_response(h.now, &key, ok.clone()).expect("200");
    h.drain();
    h.run_for(secs(2.0));
    // RFC 6026: INVITE retransmissions in Accepted are absorbed without an answer.
    h.receive(inv.clone(), uac(Transport::Udp));
    assert_eq!(h.times_of("SIP/2.0 200"), durations(&[0.0, 0.5, 1.5]));
    let ack = ack_for_2xx(&inv, &ok, &branch(70));
    h.receive(ack.clone(), uac(Transport::Udp));
    assert!(matches!(
        h.events.last(),
        Some(Event::Ack { invite: Some(k), request, .. })
            if *k == key && request.top_via().expect("via").received().is_some()
    ));
    // Every ACK in Accepted reaches the TU.
    h.receive(ack, uac(Transport::Udp));
    assert!(matches!(
        h.events.last(),
        Some(Event::Ack {
            invite: Some(_),
            ..
        })
    ));
    h.run_to_end();
    assert_eq!(h.count("SIP/2.0 200"), 3, "no retransmission after the ACK");
    assert!(
        !h.events.iter().any(|e| matches!(e, Event::Timeout { .. })),
        "an acknowledged 2xx does not time out"
    );
    assert!(h.terminated(TransactionKey::Server(key)));
    assert_eq!(h.now - h.start, secs(32.0), "Timer L");
}

#[test]
fn an_ack_that_matches_nothing_goes_to_the_tu() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(8));
    let ok = reply(&inv, 200);
    h.receive(ack_for_2xx(&inv, &ok, &branch(80)), uac(Transport::Udp));
    assert!(matches!(
        h.events.as_slice(),
        [Event::Ack { invite: None, .. }]
    ));
    assert!(h.sent.is_empty());
}

#[test]
fn non_invite_absorbs_in_trying_and_resends_in_proceeding_and_completed() {
    let mut h = Harness::new(Config::default());
    let opt = options(Transport::Udp, &branch(9));
    let (key, req) = accept(&mut h, &opt, Transport::Udp);
    assert_eq!(h.layer.server_state(&key), Some(ServerState::Trying));
    h.receive(opt.clone(), uac(Transport::Udp));
    assert!(h.sent.is_empty(), "nothing to resend in Trying");
    h.layer
        .send_response(h.now, &key, reply(&req, 100))
        .expect("100");
    h.drain();
    assert_eq!(h.layer.server_state(&key), Some(ServerState::Proceeding));
    h.receive(opt.clone(), uac(Transport::Udp));
    assert_eq!(h.count("SIP/2.0 100"), 2);
    h.layer
        .send_response(h.now, &key, reply(&req, 200))
        .expect("200");
    h.drain();
    assert_eq!(h.layer.server_state(&key), Some(ServerState::Completed));
    h.run_for(secs(3.0));
    h.receive(opt, uac(Transport::Udp));
    assert_eq!(h.count("SIP/2.0 200"), 2);
    // Timer J = 64*T1 from the final response; no timer-driven retransmission.
    h.run_to_end();
    assert_eq!(h.now - h.start, secs(32.0));
    assert_eq!(h.count("SIP/2.0 200"), 2);
    assert!(h.terminated(TransactionKey::Server(key)));
}

#[test]
fn timer_j_is_zero_on_reliable_transports() {
    let mut h = Harness::new(Config::default());
    let opt = options(Transport::Tls, &branch(10));
    let (key, req) = accept(&mut h, &opt, Transport::Tls);
    h.layer
        .send_response(h.now, &key, reply(&req, 200))
        .expect("200");
    h.drain();
    assert!(h.terminated(TransactionKey::Server(key)));
    assert_eq!(h.sent[0].transmit.dest.connection, Some(7));
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn send_response_refuses_what_the_state_machine_forbids() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(11));
    let (key, req) = accept(&mut h, &inv, Transport::Udp);
    h.layer
        .send_response(h.now, &key, reply(&req, 200))
        .expect("200");
    // A further 2xx is sent (RFC 6026 §8.5); a non-2xx is not.
    h.layer
        .send_response(h.now, &key, reply(&req, 200))
        .expect("2xx again");
    assert_eq!(
        h.layer.send_response(h.now, &key, reply(&req, 486)).err(),
        Some(TransactionError::InvalidState {
            state: ServerState::Accepted,
            status: StatusCode::BUSY_HERE
        })
    );
    let opt = options(Transport::Udp, &branch(12));
    let (okey, oreq) = accept(&mut h, &opt, Transport::Udp);
    assert_eq!(
        h.layer.send_response(h.now, &okey, reply(&req, 200)).err(),
        Some(TransactionError::ResponseMismatch)
    );
    h.layer
        .send_response(h.now, &okey, reply(&oreq, 200))
        .expect("200");
    assert!(matches!(
        h.layer.send_response(h.now, &okey, reply(&oreq, 500)),
        Err(TransactionError::InvalidState { .. })
    ));
    h.run_to_end();
    assert_eq!(
        h.layer.send_response(h.now, &okey, reply(&oreq, 200)).err(),
        Some(TransactionError::NoSuchTransaction)
    );
}

#[test]
fn cancel_gets_200_with_the_invites_tag_and_the_tu_is_told() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(13));
    let (key, req) = accept(&mut h, &inv, Transport::Udp);
    h.layer
        .send_response(h.now, &key, reply(&req, 180))
        .expect("180");
    h.drain();
    let cancel = sip_core::transaction::cancel_for(&inv).expect("cancel");
    h.receive(cancel.clone(), uac(Transport::Udp));
    let ok = as_response(&h.last_sent().transmit.payload);
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.headers.cseq().expect("cseq").method, Method::Cancel);
    // RFC 3261 §9.2: the To tag of the 200 is that of the INVITE's response.
    assert_eq!(ok.headers.to().expect("to").tag(), Some(&b"b2"[..]));
    assert!(matches!(
        h.events.last(),
        Some(Event::Cancelled { invite, cancel, .. }) if *invite == key && cancel.method == Method::Cancel
    ));
    // A retransmitted CANCEL gets the 200 again, and the TU hears nothing new.
    let events = h.events.len();
    h.receive(cancel, uac(Transport::Udp));
    assert_eq!(h.count("SIP/2.0 200"), 2);
    assert_eq!(h.events.len(), events);
    h.layer
        .send_response(h.now, &key, reply(&req, 487))
        .expect("487");
    h.drain();
    assert_eq!(h.layer.server_state(&key), Some(ServerState::Completed));
}

#[test]
fn cancel_after_the_final_response_gets_200_but_changes_nothing() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(14));
    let (key, req) = accept(&mut h, &inv, Transport::Udp);
    h.layer
        .send_response(h.now, &key, reply(&req, 200))
        .expect("200");
    h.drain();
    h.receive(
        sip_core::transaction::cancel_for(&inv).expect("cancel"),
        uac(Transport::Udp),
    );
    assert_eq!(h.last_sent().first_line(), "SIP/2.0 200 OK");
    assert!(
        !h.events
            .iter()
            .any(|e| matches!(e, Event::Cancelled { .. }))
    );
    assert_eq!(h.layer.server_state(&key), Some(ServerState::Accepted));
}

#[test]
fn unmatched_cancel_gets_481_with_a_tag() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(15));
    h.receive(
        sip_core::transaction::cancel_for(&inv).expect("cancel"),
        uac(Transport::Udp),
    );
    let r = as_response(&h.last_sent().transmit.payload);
    assert_eq!(r.status, StatusCode::CALL_DOES_NOT_EXIST);
    assert!(r.headers.to().expect("to").tag().is_some());
    assert!(h.events.is_empty(), "the TU never hears of the CANCEL");
    h.run_to_end();
    assert!(h.layer.is_empty());
    assert!(
        h.events.is_empty(),
        "no Terminated for the layer's own CANCEL"
    );
}

#[test]
fn bare_magic_cookie_falls_back_to_rfc_2543_matching() {
    // RFC 4475 §3.2.1: `branch=z9hG4bK` alone does not identify a transaction.
    let raw = conformance("semantic/badbranch.dat");
    let mut h = Harness::new(Config::default());
    let src = peer(Transport::Udp, "192.0.2.1:5060");
    h.receive_bytes(&raw, src);
    let key = h.last_server_key();
    h.receive_bytes(&raw, src);
    assert_eq!(
        h.events.len(),
        1,
        "the retransmission matched the transaction"
    );
    let req = h.last_request();
    h.layer
        .send_response(h.now, &key, reply(&req, 200))
        .expect("200");
    h.drain();
    h.receive_bytes(&raw, src);
    assert_eq!(h.count("SIP/2.0 200"), 2, "answered again from Completed");
    // Another CSeq is another transaction.
    let text = String::from_utf8_lossy(&raw).replace("CSeq: 8 OPTIONS", "CSeq: 9 OPTIONS");
    h.receive_bytes(&Bytes::from(text), src);
    // So is the same request from another sent-by (the top Via is compared too).
    let text = String::from_utf8_lossy(&raw).replace("192.0.2.1;", "192.0.2.99;");
    h.receive_bytes(&Bytes::from(text), src);
    assert_eq!(
        h.events
            .iter()
            .filter(|e| matches!(e, Event::Request { .. }))
            .count(),
        3
    );
}

#[test]
fn rfc_2543_invite_and_its_ack_match_without_branches() {
    let raw = conformance("semantic/inv2543.dat");
    let mut h = Harness::new(Config::default());
    let src = peer(Transport::Udp, "192.0.2.5:5060");
    h.receive_bytes(&raw, src);
    let key = h.last_server_key();
    assert_eq!(h.count("SIP/2.0 100"), 1);
    // The 100 goes to the sent-by port of a Via without rport.
    assert_eq!(h.sent[0].transmit.dest.addr, addr("192.0.2.5:5060"));
    h.receive_bytes(&raw, src);
    assert_eq!(
        h.count("SIP/2.0 100"),
        2,
        "retransmission matched and answered"
    );
    let req = h.last_request();
    let mut busy = Response::from_request(&req, StatusCode::BUSY_HERE);
    busy.set_to_tag("uas1");
    h.layer
        .send_response(h.now, &key, busy.clone())
        .expect("486");
    h.drain();
    // The ACK of an RFC 2543 client: same Via, To tag of the response.
    let invite = match Message::parse_datagram(raw.clone()).expect("parse") {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    };
    let ack = sip_core::transaction::ack_for_non_2xx(&invite, &busy).expect("ack");
    h.receive(ack, src);
    assert_eq!(h.layer.server_state(&key), Some(ServerState::Confirmed));
    // A CANCEL of an RFC 2543 request matches by the same rules.
    let other = String::from_utf8_lossy(&raw).replace("CSeq: 56", "CSeq: 57");
    h.receive_bytes(&Bytes::from(other.clone()), src);
    let k2 = h.last_server_key();
    let inv2 = match Message::parse_datagram(Bytes::from(other)).expect("parse") {
        Message::Request(r) => r,
        Message::Response(_) => unreachable!(),
    };
    h.receive(
        sip_core::transaction::cancel_for(&inv2).expect("cancel"),
        src,
    );
    assert!(matches!(h.events.last(), Some(Event::Cancelled { invite, .. }) if *invite == k2));
}

#[test]
fn overload_is_refused_statelessly_with_503_and_retry_after() {
    let config = Config {
        max_transactions: 1,
        retry_after: 7,
        ..Config::default()
    };
    let mut h = Harness::new(config);
    let first = options(Transport::Udp, &branch(16));
    let (key, req) = accept(&mut h, &first, Transport::Udp);
    let second = options(Transport::Udp, &branch(17));
    h.receive(second.clone(), uac(Transport::Udp));
    let r = as_response(&h.last_sent().transmit.payload);
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.headers.get_value(&HeaderName::RetryAfter).map(|v| &v[..]),
        Some(&b"7"[..])
    );
    assert!(r.headers.to().expect("to").tag().is_some());
    assert_eq!(h.last_sent().transmit.transaction, None);
    assert_eq!(h.events.len(), 1, "the TU never sees the refused request");
    assert_eq!(h.layer.len(), 1, "no state kept for it");
    assert_eq!(h.layer.stats().overload_rejections, 1);
    // Retransmissions of live transactions are still absorbed.
    h.receive(first, uac(Transport::Udp));
    assert_eq!(h.layer.stats().retransmissions_absorbed, 1);
    h.layer
        .send_response(h.now, &key, reply(&req, 200))
        .expect("200");
    h.drain();
    h.run_to_end();
    assert!(h.layer.is_empty());
    accept(&mut h, &second, Transport::Udp);
}

fn options_only(r: &Request) -> bool {
    r.method == Method::Options
}

#[test]
fn a_stateless_request_keeps_no_state_and_each_copy_reaches_the_tu() {
    let config = Config {
        stateless: Some(options_only),
        max_transactions: 1,
        ..Config::default()
    };
    let mut h = Harness::new(config);
    // Fill the table: a stateless request needs no room in it.
    let inv = invite(Transport::Udp, &branch(40));
    accept(&mut h, &inv, Transport::Udp);
    let opt = options(Transport::Udp, &branch(41));
    for copy in 1..=2 {
        h.receive(opt.clone(), uac(Transport::Udp));
        let Some(Event::Stateless {
            request, reply_to, ..
        }) = h.events.last()
        else {
            panic!("expected a Stateless event, got {:?}", h.events.last());
        };
        assert_eq!(h.events.len(), 1 + copy);
        assert_eq!(reply_to.addr, addr(UAC_ADDR));
        let via = request.top_via().expect("via");
        assert_eq!(via.received(), Some(&b"192.0.2.10"[..]), "stamped as usual");
        assert_eq!(h.layer.len(), 1, "no transaction for it");
        assert_eq!(h.layer.stats().stateless_requests, copy as u64);
        assert_eq!(h.layer.stats().overload_rejections, 0);
        let answer = Message::Response(reply(request, 401));
        let dest = *reply_to;
        h.layer.send_stateless(dest, answer);
        h.drain();
        assert!(h.last_sent().first_line().starts_with("SIP/2.0 401"));
        assert_eq!(h.last_sent().transmit.transaction, None);
    }
    // Other methods still get transactions (and, the table being full, a 503).
    h.receive(invite(Transport::Udp, &branch(42)), uac(Transport::Udp));
    assert_eq!(h.layer.stats().overload_rejections, 1);
}

#[test]
fn responses_follow_received_rport_and_sent_by() {
    let mut h = Harness::new(Config::default());
    // No rport: to the source address, at the Via's sent-by port.
    let mut req = options(Transport::Udp, &branch(18));
    req.headers.set(
        HeaderName::Via,
        format!("SIP/2.0/UDP 10.1.1.1:5070;branch={}", branch(18)),
    );
    let src = peer(Transport::Udp, "203.0.113.4:40000");
    h.receive(req, src);
    let key = h.last_server_key();
    let stamped = h.last_request();
    assert_eq!(
        stamped.top_via().expect("via").received(),
        Some(&b"203.0.113.4"[..])
    );
    h.layer
        .send_response(h.now, &key, reply(&stamped, 200))
        .expect("200");
    h.drain();
    assert_eq!(h.last_sent().transmit.dest.addr, addr("203.0.113.4:5070"));
    // With rport: to the source port.
    let mut req = options(Transport::Udp, &branch(19));
    req.headers.set(
        HeaderName::Via,
        format!("SIP/2.0/UDP 10.1.1.1:5070;branch={};rport", branch(19)),
    );
    h.receive(req, src);
    let key = h.last_server_key();
    let stamped = h.last_request();
    h.layer
        .send_response(h.now, &key, reply(&stamped, 200))
        .expect("200");
    h.drain();
    assert_eq!(h.last_sent().transmit.dest.addr, addr("203.0.113.4:40000"));
}

#[test]
fn transport_error_on_a_server_transaction() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Tcp, &branch(20));
    let (key, _) = accept(&mut h, &inv, Transport::Tcp);
    let failed = h
        .last_sent()
        .transmit
        .transaction
        .expect("the 100 is stateful");
    assert_eq!(failed, TransactionKey::Server(key));
    h.layer.handle_transport_error(h.now, failed);
    h.drain();
    assert!(matches!(
        h.events[1..],
        [Event::TransportError { .. }, Event::Terminated { .. }]
    ));
    assert_eq!(h.layer.server_state(&key), None);
}

use sip_core::Response;

#[test]
fn live_transactions_keep_no_reference_to_the_received_datagram() {
    // A transaction outlives its request by up to 64*T1; it must not pin the datagram
    // (up to 64 KiB) it was parsed from once the TU has let go of the request.
    let mut h = Harness::new(Config::default());
    for (n, req) in [
        (21, invite(Transport::Udp, &branch(21))),
        (22, options(Transport::Udp, &branch(22))),
        (23, make_request("OPTIONS", Transport::Udp, "old2543", 9)),
    ] {
        let raw = Bytes::from(req.to_bytes().to_vec());
        h.receive_bytes(&raw, uac(Transport::Udp));
        let key = h.last_server_key();
        let request = h.last_request();
        h.layer
            .send_response(h.now, &key, reply(&request, 200))
            .expect("200");
        h.drain();
        assert!(!raw.is_unique(), "{n}: the TU still holds the request");
        drop(request);
        h.events.clear();
        assert!(h.layer.server_state(&key).is_some(), "{n}: still live");
        assert!(raw.is_unique(), "{n}: the datagram is no longer referenced");
    }
}
