//! Two transaction layers back to back through an in-memory lossy link on a simulated
//! clock: whole exchanges, with messages lost, over UDP and TCP.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is a failed test

mod transaction_support;

use sip_core::transaction::{Config, Event, ServerKey, TransactionKey, cancel_for};
use sip_core::{Message, Method, Request, StatusCode, Transport};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use transaction_support::*;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// The Request events the server side got: key and request.
fn requests(p: &Pair) -> Vec<(ServerKey, Request)> {
    p.server_events
        .iter()
        .filter_map(|e| match e {
            Event::Request { key, request, .. } => Some((*key, request.clone())),
            _ => None,
        })
        .collect()
}

fn statuses(events: &[Event]) -> Vec<u16> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Response { response, .. } => Some(response.status.as_u16()),
            _ => None,
        })
        .collect()
}

/// Drop the first `n` messages in `dir` whose first line starts with `prefix`.
fn lose_first(
    dir: Direction,
    prefix: &'static str,
    n: usize,
) -> impl FnMut(Direction, &Message) -> bool {
    let mut left = n;
    move |d, m| {
        if d != dir || left == 0 {
            return false;
        }
        let line = match m {
            Message::Request(r) => format!("{} ", r.method),
            Message::Response(r) => format!("SIP/2.0 {}", r.status),
        };
        if line.starts_with(prefix) {
            left -= 1;
            true
        } else {
            false
        }
    }
}

#[test]
fn invite_survives_lost_requests_a_lost_2xx_and_ends_clean() {
    let mut p = Pair::new(Config::default(), Transport::Udp);
    // The first two INVITEs and the first 200 are lost.
    let mut invites = lose_first(Direction::ToServer, "INVITE", 2);
    let mut oks = lose_first(Direction::ToClient, "SIP/2.0 200", 1);
    p.lose(move |d, m| invites(d, m) || oks(d, m));

    let inv = invite(Transport::Udp, &branch(1));
    let ckey = p
        .client
        .send_request(p.now, inv.clone(), p.server_peer)
        .expect("sent");
    p.drive();
    p.run_for(secs(1.5));
    assert_eq!(
        p.sent(Direction::ToServer, "INVITE"),
        vec![secs(0.0), secs(0.5), secs(1.5)]
    );
    let reqs = requests(&p);
    assert_eq!(reqs.len(), 1);
    let (skey, req) = reqs[0].clone();
    assert_eq!(statuses(&p.client_events), vec![100]);

    p.server
        .send_response(p.now, &skey, reply(&req, 180))
        .expect("180");
    p.drive();
    let ok = reply(&req, 200);
    p.server
        .send_response(p.now, &skey, ok.clone())
        .expect("200");
    p.drive();
    assert_eq!(statuses(&p.client_events), vec![100, 180]);

    // The 2xx is retransmitted T1 later by the server transaction.
    p.run_for(secs(0.5));
    assert_eq!(statuses(&p.client_events), vec![100, 180, 200]);
    // The client TU acknowledges the 2xx outside the transaction.
    let ack = ack_for_2xx(&inv, &ok, &branch(2));
    p.client
        .send_stateless(p.server_peer, Message::Request(ack));
    p.drive();
    assert!(
        p.server_events
            .iter()
            .any(|e| matches!(e, Event::Ack { invite: Some(k), .. } if *k == skey))
    );
    p.run_to_end();
    assert_eq!(
        p.sent(Direction::ToClient, "SIP/2.0 200"),
        vec![secs(1.5), secs(2.0)],
        "no retransmission after the ACK"
    );
    assert!(p.client.is_empty() && p.server.is_empty());
    assert!(
        p.client_events.iter().any(
            |e| matches!(e, Event::Terminated { key: TransactionKey::Client(k) } if *k == ckey)
        )
    );
    assert!(
        !p.server_events
            .iter()
            .any(|e| matches!(e, Event::Timeout { .. }))
    );
}

#[test]
fn lost_non_invite_response_is_recovered_by_retransmission() {
    let mut p = Pair::new(Config::default(), Transport::Udp);
    p.lose(lose_first(Direction::ToClient, "SIP/2.0 200", 1));
    let opt = options(Transport::Udp, &branch(3));
    p.client
        .send_request(p.now, opt, p.server_peer)
        .expect("sent");
    p.drive();
    let (skey, req) = requests(&p)[0].clone();
    p.server
        .send_response(p.now, &skey, reply(&req, 200))
        .expect("200");
    p.drive();
    assert!(statuses(&p.client_events).is_empty());
    // Timer E: the retransmitted OPTIONS is absorbed and answered from Completed.
    p.run_for(secs(0.5));
    assert_eq!(statuses(&p.client_events), vec![200]);
    assert_eq!(requests(&p).len(), 1);
    assert_eq!(p.server.stats().retransmissions_absorbed, 1);
    p.run_to_end();
    assert!(p.client.is_empty() && p.server.is_empty());
    // K = T4 after 0.5 s on the client; J = 64*T1 after 0 s on the server.
    assert_eq!(p.now - p.start, secs(32.0));
}

#[test]
fn cancel_end_to_end_487_and_its_ack() {
    let mut p = Pair::new(Config::default(), Transport::Udp);
    let inv = invite(Transport::Udp, &branch(4));
    let ikey = p
        .client
        .send_request(p.now, inv.clone(), p.server_peer)
        .expect("sent");
    p.drive();
    let (skey, req) = requests(&p)[0].clone();
    p.server
        .send_response(p.now, &skey, reply(&req, 180))
        .expect("180");
    p.drive();
    p.run_for(secs(2.0));
    p.client
        .send_request(p.now, cancel_for(&inv).expect("cancel"), p.server_peer)
        .expect("cancel sent");
    p.drive();
    let cancelled = p.server_events.iter().find_map(|e| match e {
        Event::Cancelled { invite, .. } => Some(*invite),
        _ => None,
    });
    assert_eq!(cancelled, Some(skey));
    p.server
        .send_response(p.now, &skey, reply(&req, 487))
        .expect("487");
    p.drive();
    // The client got 200 for CANCEL and 487 for INVITE, and acknowledged the 487 itself.
    let client_statuses: Vec<(u16, Method)> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::Response { response, .. } => Some((
                response.status.as_u16(),
                response.headers.cseq().expect("cseq").method.clone(),
            )),
            _ => None,
        })
        .collect();
    assert!(client_statuses.contains(&(200, Method::Cancel)));
    assert!(client_statuses.contains(&(487, Method::Invite)));
    assert_eq!(p.sent(Direction::ToServer, "ACK").len(), 1);
    assert_eq!(
        p.server.server_state(&skey),
        Some(sip_core::transaction::ServerState::Confirmed)
    );
    assert_eq!(
        p.client.client_state(&ikey),
        Some(sip_core::transaction::ClientState::Completed)
    );
    p.run_to_end();
    assert!(p.client.is_empty() && p.server.is_empty());
}

#[test]
fn lost_ack_for_non_2xx_is_recovered_by_timer_g() {
    let mut p = Pair::new(Config::default(), Transport::Udp);
    p.lose(lose_first(Direction::ToServer, "ACK", 1));
    let inv = invite(Transport::Udp, &branch(5));
    p.client
        .send_request(p.now, inv, p.server_peer)
        .expect("sent");
    p.drive();
    let (skey, req) = requests(&p)[0].clone();
    p.server
        .send_response(p.now, &skey, reply(&req, 486))
        .expect("486");
    p.drive();
    // G retransmits the 486, the client transaction (Completed) sends the ACK again.
    p.run_for(secs(0.5));
    assert_eq!(p.sent(Direction::ToServer, "ACK").len(), 2);
    assert_eq!(
        statuses(&p.client_events),
        vec![100, 486],
        "the TU saw one 486"
    );
    assert_eq!(
        p.server.server_state(&skey),
        Some(sip_core::transaction::ServerState::Confirmed)
    );
    p.run_to_end();
    assert!(p.client.is_empty() && p.server.is_empty());
}

#[test]
fn tcp_exchange_has_no_retransmission_and_ends_at_once() {
    let mut p = Pair::new(Config::default(), Transport::Tcp);
    let inv = invite(Transport::Tcp, &branch(6));
    let ckey = p
        .client
        .send_request(p.now, inv, p.server_peer)
        .expect("sent");
    p.drive();
    let (skey, req) = requests(&p)[0].clone();
    p.run_for(secs(10.0));
    p.server
        .send_response(p.now, &skey, reply(&req, 486))
        .expect("486");
    p.drive();
    // D = 0 and I = 0: both transactions are gone as soon as the ACK is through.
    assert_eq!(p.client.client_state(&ckey), None);
    assert_eq!(p.server.server_state(&skey), None);
    let lines: Vec<&str> = p.wire.iter().map(|(_, _, l, _)| l.as_str()).collect();
    assert_eq!(
        lines,
        vec![
            "INVITE sip:bob@198.51.100.7 SIP/2.0",
            "SIP/2.0 100 Trying",
            "SIP/2.0 486 Busy Here",
            "ACK sip:bob@198.51.100.7 SIP/2.0"
        ]
    );
    assert_eq!(p.client.poll_timeout(), None);
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn overloaded_server_refuses_and_the_client_sees_503() {
    let config = Config {
        max_transactions: 2,
        ..Config::default()
    };
    let mut p = Pair::new(config, Transport::Udp);
    let seen = Rc::new(Cell::new(0));
    let counter = seen.clone();
    p.lose(move |d, m| {
        if d == Direction::ToClient
            && let Message::Response(r) = m
            && r.status == StatusCode::SERVICE_UNAVAILABLE
        {
            counter.set(counter.get() + 1);
        }
        false
    });
    for n in 10..13 {
        p.client
            .send_request(p.now, options(Transport::Udp, &branch(n)), p.server_peer)
            .expect("sent");
        p.drive();
    }
    assert_eq!(requests(&p).len(), 2);
    assert_eq!(seen.get(), 1);
    assert_eq!(statuses(&p.client_events), vec![503]);
}
