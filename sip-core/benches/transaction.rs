//! Costs of whole transactions through the transaction layer, parsing and printing
//! included (issue 2: "a full non-INVITE server transaction").
//!
//! Run: `cargo bench -p sip-core --bench transaction`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use bytes::Bytes;
use criterion::{BatchSize, Criterion, black_box, criterion_group, criterion_main};
use sip_core::transaction::{Config, Event, Peer, TransactionLayer, new_branch};
use sip_core::{Message, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// An OPTIONS ping as a carrier or a monitor sends it.
const OPTIONS: &str = "OPTIONS sip:vss.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK.77ab3c01;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:monitor@192.0.2.10>;tag=9f8e7d\r\n\
To: <sip:vss.example.net>\r\n\
Call-ID: 4c3b2a19@192.0.2.10\r\n\
CSeq: 102 OPTIONS\r\n\
User-Agent: sipsak 0.9.8\r\n\
Accept: application/sdp\r\n\
Content-Length: 0\r\n\
\r\n";

const UAC: &str = "192.0.2.10:5060";
const UAS: &str = "198.51.100.7:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5060)))
}

fn layer() -> TransactionLayer {
    match TransactionLayer::new(Config::default()) {
        Ok(l) => l,
        Err(e) => panic!("default config: {e}"),
    }
}

/// Datagram in → parse → handle_message → Request event → 200 built and sent →
/// poll_transmit → Timer J fires and the transaction is gone.
fn non_invite_server(c: &mut Criterion) {
    let raw = Bytes::from_static(OPTIONS.as_bytes());
    let source = Peer::udp(addr(UAC));
    let mut l = layer();
    let mut now = Instant::now();
    let one = |l: &mut TransactionLayer, now: Instant| -> usize {
        let Ok(msg) = Message::parse_datagram(raw.clone()) else {
            return 0;
        };
        l.handle_message(now, msg, source);
        let mut out = 0;
        while let Some(ev) = l.poll_event() {
            if let Event::Request { key, request, .. } = ev {
                let mut ok = Response::from_request(&request, StatusCode::OK);
                ok.set_to_tag("5c1d8a");
                if l.send_response(now, &key, ok).is_err() {
                    return 0;
                }
            }
        }
        while let Some(t) = l.poll_transmit() {
            out += black_box(t.payload).len();
        }
        // Timer J (64*T1 on UDP) ends the transaction.
        let j = now + Duration::from_secs(32);
        if l.poll_timeout() == Some(j) {
            l.handle_timeout(j);
        }
        while l.poll_event().is_some() {}
        out
    };
    assert!(
        one(&mut l, now) > 0 && l.is_empty(),
        "the transaction completes"
    );
    c.bench_function("transaction/non_invite_server_udp", |b| {
        b.iter(|| {
            now += Duration::from_secs(33);
            one(&mut l, now)
        })
    });
}

fn response_bytes(invite: &Request, status: StatusCode) -> Bytes {
    let mut r = Response::from_request(invite, status);
    r.set_to_tag("as5f2e7a11");
    r.headers.push(
        sip_core::HeaderName::Contact,
        "<sip:+14155550123@198.51.100.7:5060>",
    );
    r.to_bytes()
}

/// INVITE sent → 180 and 200 parsed and matched → TU sees them → Timer M ends the
/// Accepted transaction.
fn invite_client(c: &mut Criterion) {
    let dest = Peer::udp(addr(UAS));
    let branch = new_branch(&[0x5a; 16]);
    let text = format!(
        "INVITE sip:+14155550123@198.51.100.7 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: \"Slot 6001\" <sip:6001@vss.example.net>;tag=8fa1c2d3\r\n\
To: <sip:+14155550123@198.51.100.7>\r\n\
Call-ID: 5b2f0e1a9c8d7e6f@192.0.2.1\r\n\
CSeq: 20 INVITE\r\n\
Contact: <sip:6001@192.0.2.1:5060>\r\n\
Content-Length: 0\r\n\r\n"
    );
    let Ok(Message::Request(invite)) = Message::parse_datagram(Bytes::from(text)) else {
        panic!("the INVITE parses");
    };
    let ringing = response_bytes(&invite, StatusCode::RINGING);
    let ok = response_bytes(&invite, StatusCode::OK);
    let mut l = layer();
    let mut now = Instant::now();
    let one = |l: &mut TransactionLayer, invite: Request, now: Instant| -> usize {
        if l.send_request(now, invite, dest).is_err() {
            return 0;
        }
        let mut out = 0;
        while let Some(t) = l.poll_transmit() {
            out += black_box(t.payload).len();
        }
        for raw in [&ringing, &ok] {
            if let Ok(msg) = Message::parse_datagram(raw.clone()) {
                l.handle_message(now, msg, dest);
            }
        }
        while let Some(ev) = l.poll_event() {
            if let Event::Response { response, .. } = ev {
                out += usize::from(black_box(response.status).as_u16());
            }
        }
        // Timer M (64*T1) ends the Accepted transaction.
        let m = now + Duration::from_secs(32);
        if l.poll_timeout() == Some(m) {
            l.handle_timeout(m);
        }
        while l.poll_event().is_some() {}
        out
    };
    assert!(one(&mut l, invite.clone(), now) > 0 && l.is_empty());
    c.bench_function("transaction/invite_client_udp", |b| {
        b.iter_batched(
            || invite.clone(),
            |inv| {
                now += Duration::from_secs(33);
                one(&mut l, inv, now)
            },
            BatchSize::SmallInput,
        )
    });
}

/// A request retransmission absorbed by a busy layer: the lookup among 100 000 live
/// server transactions, and the last response sent again (a `Bytes` clone).
fn retransmission_among_many(c: &mut Criterion) {
    let source = Peer::udp(addr(UAC));
    let mut l = layer();
    let now = Instant::now();
    let mut target = None;
    for i in 0..100_000u32 {
        let text = OPTIONS.replace(
            "z9hG4bK.77ab3c01",
            &new_branch(&[
                (i >> 16) as u8,
                (i >> 8) as u8,
                i as u8,
                1,
                2,
                3,
                4,
                5,
                6,
                7,
                8,
                9,
                10,
                11,
                12,
                13,
            ]),
        );
        let Ok(msg) = Message::parse_datagram(Bytes::from(text.clone())) else {
            panic!("parses");
        };
        l.handle_message(now, msg, source);
        if let Some(Event::Request { key, request, .. }) = l.poll_event() {
            let _ = l.send_response(now, &key, Response::from_request(&request, StatusCode::OK));
        }
        while l.poll_transmit().is_some() {}
        if i == 50_000 {
            target = Some(Bytes::from(text));
        }
    }
    let Some(raw) = target else {
        panic!("a target");
    };
    let Ok(msg) = Message::parse_datagram(raw) else {
        panic!("parses");
    };
    assert_eq!(l.len(), 100_000);
    c.bench_function("transaction/absorb_retransmission_100k_live", |b| {
        b.iter_batched(
            || msg.clone(),
            |m| {
                l.handle_message(now, m, source);
                l.poll_transmit().map(|t| t.payload.len())
            },
            BatchSize::SmallInput,
        )
    });
}

fn bench(c: &mut Criterion) {
    non_invite_server(c);
    invite_client(c);
    retransmission_among_many(c);
}

criterion_group!(benches, bench);
criterion_main!(benches);
