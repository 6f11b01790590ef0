//! Client transactions (RFC 3261 §17.1, RFC 6026 §8.4), one layer driven by hand on a
//! simulated clock: retransmission schedules, timeouts, ACK for non-2xx, Accepted.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is a failed test

mod transaction_support;

use sip_core::transaction::{
    ClientState, Config, Event, Timer, TransactionError, TransactionKey, cancel_for,
};
use sip_core::{Message, Method, StatusCode, Transport};
use std::time::Duration;
use transaction_support::*;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn durations(list: &[f64]) -> Vec<Duration> {
    list.iter().map(|&s| secs(s)).collect()
}

fn uas(transport: Transport) -> sip_core::transaction::Peer {
    peer(transport, UAS_ADDR)
}

#[test]
fn timer_a_doubles_without_cap_and_timer_b_times_out_at_64_t1() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(1));
    let key = h
        .layer
        .send_request(h.now, inv, uas(Transport::Udp))
        .expect("sent");
    h.drain();
    assert_eq!(h.layer.client_state(&key), Some(ClientState::Calling));
    assert_eq!(h.last_sent().transmit.dest, uas(Transport::Udp));
    assert_eq!(
        h.last_sent().transmit.transaction,
        Some(TransactionKey::Client(key))
    );
    h.run_to_end();
    // RFC 3261 §17.1.1.2: A = T1, 2T1, 4T1, ... (INVITE is not capped at T2).
    assert_eq!(
        h.times_of("INVITE"),
        durations(&[0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5])
    );
    let events = h.take_events();
    assert!(matches!(
        events.as_slice(),
        [
            Event::Timeout { key: TransactionKey::Client(k), timer: Timer::B },
            Event::Terminated { key: TransactionKey::Client(k2) },
        ] if *k == key && *k2 == key
    ));
    assert_eq!(h.now - h.start, secs(32.0));
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.stats().timeouts, 1);
    assert_eq!(h.layer.stats().retransmissions_sent, 6);
}

#[test]
fn timer_e_doubles_to_t2_and_timer_f_times_out() {
    let mut h = Harness::new(Config::default());
    let key = h
        .layer
        .send_request(
            h.now,
            options(Transport::Udp, &branch(2)),
            uas(Transport::Udp),
        )
        .expect("sent");
    assert_eq!(h.layer.client_state(&key), Some(ClientState::Trying));
    h.drain();
    h.run_to_end();
    // §17.1.2.2: E = MIN(2E, T2): 0.5, 1, 2, 4, 4, 4 ...
    assert_eq!(
        h.times_of("OPTIONS"),
        durations(&[0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5])
    );
    assert!(matches!(
        h.events.first(),
        Some(Event::Timeout {
            timer: Timer::F,
            ..
        })
    ));
    assert_eq!(h.now - h.start, secs(32.0));
}

#[test]
fn timer_e_uses_t2_in_proceeding() {
    let mut h = Harness::new(Config::default());
    let opt = options(Transport::Udp, &branch(3));
    let key = h
        .layer
        .send_request(h.now, opt.clone(), uas(Transport::Udp))
        .expect("sent");
    h.drain();
    h.run_for(ms(200));
    h.receive(reply(&opt, 100), uas(Transport::Udp));
    assert_eq!(h.layer.client_state(&key), Some(ClientState::Proceeding));
    h.run_to_end();
    // §17.1.2.2: in Proceeding, E fires and is reset to T2.
    assert_eq!(
        h.times_of("OPTIONS"),
        durations(&[0.0, 0.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5])
    );
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::Timeout {
            timer: Timer::F,
            ..
        }
    )));
}

#[test]
fn timers_follow_configured_t1_and_t2() {
    let config = Config {
        t1: ms(100),
        t2: ms(400),
        ..Config::default()
    };
    let mut h = Harness::new(config);
    h.layer
        .send_request(
            h.now,
            options(Transport::Udp, &branch(4)),
            uas(Transport::Udp),
        )
        .expect("sent");
    h.drain();
    h.run_to_end();
    let times = h.times_of("OPTIONS");
    assert_eq!(
        times[..6],
        durations(&[0.0, 0.1, 0.3, 0.7, 1.1, 1.5])[..],
        "100 ms doubling to a 400 ms cap"
    );
    assert_eq!(h.now - h.start, ms(6400), "Timer F = 64*T1");
}

#[test]
fn non_2xx_final_is_acked_by_the_transaction_and_timer_d_runs_32s() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(5));
    let key = h
        .layer
        .send_request(h.now, inv.clone(), uas(Transport::Udp))
        .expect("sent");
    h.drain();
    h.run_for(ms(100));
    h.receive(reply(&inv, 180), uas(Transport::Udp));
    assert_eq!(h.layer.client_state(&key), Some(ClientState::Proceeding));
    // No more retransmissions and no Timer B once Proceeding.
    assert_eq!(h.layer.poll_timeout(), None);
    let busy = reply(&inv, 486);
    h.receive(busy.clone(), uas(Transport::Udp));
    assert_eq!(h.layer.client_state(&key), Some(ClientState::Completed));

    // §17.1.1.3: the ACK goes to the same place with the INVITE's branch.
    let ack_sent = h.last_sent().clone();
    assert_eq!(ack_sent.first_line(), "ACK sip:bob@198.51.100.7 SIP/2.0");
    assert_eq!(ack_sent.transmit.dest, uas(Transport::Udp));
    let ack = as_request(&ack_sent.transmit.payload);
    assert_eq!(
        ack.top_via().expect("via").branch(),
        inv.top_via().expect("via").branch()
    );
    assert_eq!(ack.headers.to().expect("to").tag(), Some(&b"b2"[..]));
    assert_eq!(ack.headers.cseq().expect("cseq").method, Method::Ack);

    let responses = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::Response { .. }))
        .count();
    assert_eq!(responses, 2, "180 and 486 reach the TU");

    // A retransmitted 486 is answered with the same ACK and not passed up.
    h.run_for(ms(400));
    h.receive(busy, uas(Transport::Udp));
    assert_eq!(h.count("ACK"), 2);
    let responses_after = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::Response { .. }))
        .count();
    assert_eq!(responses_after, 2);

    // Timer D: 32 s from the first 486.
    assert_eq!(h.layer.poll_timeout(), Some(h.start + ms(100) + secs(32.0)));
    h.run_to_end();
    assert!(h.terminated(TransactionKey::Client(key)));
    assert_eq!(h.now - h.start, ms(32_100));
}

#[test]
fn reliable_transport_never_retransmits_and_timer_d_is_zero() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Tcp, &branch(6));
    let key = h
        .layer
        .send_request(h.now, inv.clone(), uas(Transport::Tcp))
        .expect("sent");
    h.drain();
    // Only Timer B runs.
    assert_eq!(h.layer.poll_timeout(), Some(h.start + secs(32.0)));
    h.run_for(secs(10.0));
    assert_eq!(h.count("INVITE"), 1);
    h.receive(reply(&inv, 603), uas(Transport::Tcp));
    assert_eq!(h.count("ACK"), 1, "the ACK is still sent");
    assert!(h.terminated(TransactionKey::Client(key)), "Timer D = 0");
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn timer_k_is_t4_on_udp_and_zero_on_tcp() {
    let mut h = Harness::new(Config::default());
    let opt = options(Transport::Udp, &branch(7));
    let key = h
        .layer
        .send_request(h.now, opt.clone(), uas(Transport::Udp))
        .expect("sent");
    h.drain();
    h.run_for(ms(100));
    let ok = reply(&opt, 200);
    h.receive(ok.clone(), uas(Transport::Udp));
    assert_eq!(h.layer.client_state(&key), Some(ClientState::Completed));
    assert_eq!(h.layer.poll_timeout(), Some(h.start + ms(5100)));
    h.receive(ok, uas(Transport::Udp));
    assert_eq!(
        h.events
            .iter()
            .filter(|e| matches!(e, Event::Response { .. }))
            .count(),
        1,
        "the retransmitted 200 is absorbed"
    );
    h.run_to_end();
    assert_eq!(h.now - h.start, ms(5100));
    assert!(h.terminated(TransactionKey::Client(key)));

    let mut t = Harness::new(Config::default());
    let opt = options(Transport::Tcp, &branch(8));
    let key = t
        .layer
        .send_request(t.now, opt.clone(), uas(Transport::Tcp))
        .expect("sent");
    t.drain();
    t.receive(reply(&opt, 200), uas(Transport::Tcp));
    assert!(t.terminated(TransactionKey::Client(key)));
    assert!(t.layer.is_empty());
}

#[test]
fn accepted_passes_every_2xx_up_until_timer_m_then_they_are_stray() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(9));
    let key = h
        .layer
        .send_request(h.now, inv.clone(), uas(Transport::Udp))
        .expect("sent");
    h.drain();
    h.run_for(ms(100));
    let ok = reply(&inv, 200);
    h.receive(ok.clone(), uas(Transport::Udp));
    assert_eq!(h.layer.client_state(&key), Some(ClientState::Accepted));
    assert_eq!(h.count("ACK"), 0, "RFC 6026: the TU acknowledges a 2xx");
    // A retransmission and a forked 2xx both reach the TU.
    h.receive(ok.clone(), uas(Transport::Udp));
    let mut fork = ok.clone();
    fork.headers.set(
        sip_core::HeaderName::To,
        "Bob <sip:bob@198.51.100.7>;tag=other",
    );
    h.receive(fork, uas(Transport::Udp));
    let oks = h
        .events
        .iter()
        .filter(|e| matches!(e, Event::Response { key: k, response, .. } if *k == key && response.status == StatusCode::OK))
        .count();
    assert_eq!(oks, 3);
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.start + ms(32_100)),
        "Timer M"
    );
    h.run_to_end();
    assert!(h.terminated(TransactionKey::Client(key)));
    h.receive(ok, uas(Transport::Udp));
    assert!(matches!(h.events.last(), Some(Event::Stray2xx { .. })));
}

#[test]
fn responses_that_match_nothing_are_dropped() {
    let mut h = Harness::new(Config::default());
    let opt = options(Transport::Udp, &branch(10));
    h.receive(reply(&opt, 200), uas(Transport::Udp));
    assert!(h.events.is_empty());
    assert_eq!(h.layer.stats().stray_responses, 1);

    // Same branch but another sent-by is not ours (§18.1.2).
    h.layer
        .send_request(h.now, opt.clone(), uas(Transport::Udp))
        .expect("sent");
    h.drain();
    let mut other = reply(&opt, 200);
    other.headers.set(
        sip_core::HeaderName::Via,
        format!("SIP/2.0/UDP 203.0.113.1:5060;branch={}", branch(10)),
    );
    h.receive(other, uas(Transport::Udp));
    assert!(h.events.is_empty());
    assert_eq!(h.layer.stats().stray_responses, 2);
}

#[test]
fn cancel_shares_the_branch_but_is_its_own_transaction() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(11));
    let ikey = h
        .layer
        .send_request(h.now, inv.clone(), uas(Transport::Udp))
        .expect("sent");
    h.drain();
    h.receive(reply(&inv, 180), uas(Transport::Udp));
    h.run_for(secs(1.0));
    let cancel = cancel_for(&inv).expect("cancel");
    let ckey = h
        .layer
        .send_request(h.now, cancel.clone(), uas(Transport::Udp))
        .expect("sent");
    h.drain();
    assert_eq!(
        h.last_sent().first_line(),
        "CANCEL sip:bob@198.51.100.7 SIP/2.0"
    );
    // The 200 to CANCEL completes the CANCEL, not the INVITE.
    h.receive(reply(&cancel, 200), uas(Transport::Udp));
    assert_eq!(h.layer.client_state(&ckey), Some(ClientState::Completed));
    assert_eq!(h.layer.client_state(&ikey), Some(ClientState::Proceeding));
    // RFC 3261 §9.1: without a final response the INVITE gives up 64*T1 after the CANCEL.
    h.run_to_end();
    assert!(h.events.iter().any(|e| matches!(
        e,
        Event::Timeout { key: TransactionKey::Client(k), timer: Timer::B } if *k == ikey
    )));
    assert_eq!(h.now - h.start, secs(33.0));
}

#[test]
fn cancelled_invite_gets_487_and_acks_it() {
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(12));
    let ikey = h
        .layer
        .send_request(h.now, inv.clone(), uas(Transport::Udp))
        .expect("sent");
    h.drain();
    h.receive(reply(&inv, 180), uas(Transport::Udp));
    let cancel = cancel_for(&inv).expect("cancel");
    h.layer
        .send_request(h.now, cancel, uas(Transport::Udp))
        .expect("sent");
    h.drain();
    h.receive(reply(&inv, 487), uas(Transport::Udp));
    assert_eq!(h.layer.client_state(&ikey), Some(ClientState::Completed));
    assert_eq!(h.count("ACK"), 1);
}

#[test]
fn send_request_refuses_what_cannot_be_a_client_transaction() {
    let mut h = Harness::new(Config::default());
    let dest = uas(Transport::Udp);
    let ack = make_request("ACK", Transport::Udp, &branch(13), 1);
    assert_eq!(
        h.layer.send_request(h.now, ack, dest).err(),
        Some(TransactionError::AckNotInTransaction)
    );
    let bare = invite(Transport::Udp, "z9hG4bK");
    assert_eq!(
        h.layer.send_request(h.now, bare, dest).err(),
        Some(TransactionError::MissingBranch)
    );
    let old = invite(Transport::Udp, "1234");
    assert_eq!(
        h.layer.send_request(h.now, old, dest).err(),
        Some(TransactionError::MissingBranch)
    );
    let mut mismatch = invite(Transport::Udp, &branch(14));
    mismatch.headers.set(sip_core::HeaderName::CSeq, "1 BYE");
    assert_eq!(
        h.layer.send_request(h.now, mismatch, dest).err(),
        Some(TransactionError::Message(sip_core::Error::CSeqMismatch))
    );
    let inv = invite(Transport::Udp, &branch(15));
    h.layer
        .send_request(h.now, inv.clone(), dest)
        .expect("first");
    assert_eq!(
        h.layer.send_request(h.now, inv, dest).err(),
        Some(TransactionError::BranchInUse)
    );
    assert_eq!(h.layer.len(), 1);
}

#[test]
fn transport_error_ends_the_transaction_and_tells_the_tu() {
    let mut h = Harness::new(Config::default());
    let key = h
        .layer
        .send_request(
            h.now,
            options(Transport::Tcp, &branch(16)),
            uas(Transport::Tcp),
        )
        .expect("sent");
    h.drain();
    let failed = h.last_sent().transmit.transaction.expect("stateful send");
    h.layer.handle_transport_error(h.now, failed);
    h.drain();
    assert!(matches!(
        h.events.as_slice(),
        [Event::TransportError { key: TransactionKey::Client(k) }, Event::Terminated { .. }] if *k == key
    ));
    assert_eq!(h.layer.client_state(&key), None);
    assert_eq!(h.layer.poll_timeout(), None);
    // A second report for a dead key does nothing.
    h.layer.handle_transport_error(h.now, failed);
    h.drain();
    assert_eq!(h.events.len(), 2);
}

#[test]
fn stateless_sends_carry_no_transaction() {
    let mut h = Harness::new(Config::default());
    let ack = make_request("ACK", Transport::Udp, &branch(17), 1);
    h.layer
        .send_stateless(uas(Transport::Udp), Message::Request(ack));
    h.drain();
    assert_eq!(h.last_sent().transmit.transaction, None);
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn final_responses_complete_from_calling_and_from_proceeding() {
    // INVITE: Calling → Completed without a provisional response.
    let mut h = Harness::new(Config::default());
    let inv = invite(Transport::Udp, &branch(18));
    let ikey = h
        .layer
        .send_request(h.now, inv.clone(), uas(Transport::Udp))
        .expect("sent");
    h.drain();
    h.receive(reply(&inv, 503), uas(Transport::Udp));
    assert_eq!(h.layer.client_state(&ikey), Some(ClientState::Completed));
    assert_eq!(h.count("ACK"), 1);
    h.run_for(secs(5.0));
    assert_eq!(h.count("INVITE"), 1, "Timer A stopped");

    // Non-INVITE: Trying → Proceeding → Completed, Timer E stopped by the final.
    let opt = options(Transport::Udp, &branch(19));
    let okey = h
        .layer
        .send_request(h.now, opt.clone(), uas(Transport::Udp))
        .expect("sent");
    h.drain();
    h.receive(reply(&opt, 100), uas(Transport::Udp));
    assert_eq!(h.layer.client_state(&okey), Some(ClientState::Proceeding));
    h.run_for(ms(600));
    assert_eq!(h.count("OPTIONS"), 2, "E fired once in Proceeding");
    h.receive(reply(&opt, 404), uas(Transport::Udp));
    assert_eq!(h.layer.client_state(&okey), Some(ClientState::Completed));
    h.run_to_end();
    assert_eq!(h.count("OPTIONS"), 2);
    assert!(
        !h.events.iter().any(|e| matches!(e, Event::Timeout { .. })),
        "no Timer F after the final response"
    );
}
