//! The UDP ingress path of `vss serve`: parse a datagram, answer what does not parse,
//! and feed what does to the transaction layer, which is then driven through
//! retransmissions and timers. Nothing may panic, and the layer must stay bounded.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip_core::transaction::{Config, Event, Peer, TransactionLayer};
use sip_core::{Message, Response, StatusCode};
use std::time::{Duration, Instant};

fuzz_target!(|data: &[u8]| {
    let Ok(mut layer) = TransactionLayer::new(Config { max_transactions: 64, ..Config::default() }) else {
        return;
    };
    let source = Peer::udp("192.0.2.7:5062".parse().expect("address"));
    let mut now = Instant::now();
    // Several datagrams in one input, separated by a NUL line, so that requests,
    // retransmissions, ACKs, CANCELs and responses meet in one layer.
    for datagram in data.split(|&b| b == 0).take(16) {
        let datagram = Bytes::copy_from_slice(datagram);
        match Message::parse_datagram(datagram.clone()) {
            Ok(message) => {
                // Twice: the second one is a retransmission.
                layer.handle_message(now, message.clone(), source);
                layer.handle_message(now, message, source);
            }
            Err(e) => {
                let _ = sip_core::reply::error_response(&datagram, &e, "fuzz");
            }
        }
        while let Some(event) = layer.poll_event() {
            if let Event::Request { key, request, .. } = event {
                let mut response = Response::from_request(&request, StatusCode::OK);
                response.set_to_tag("fz");
                let _ = layer.send_response(now, &key, response);
            }
        }
        while let Some(t) = layer.poll_transmit() {
            assert!(!t.payload.is_empty());
        }
        now += Duration::from_millis(700);
        layer.handle_timeout(now);
    }
    // Long after everything: all timers fire and every transaction ends.
    for _ in 0..8 {
        now += Duration::from_secs(40);
        layer.handle_timeout(now);
        while layer.poll_event().is_some() {}
        while layer.poll_transmit().is_some() {}
    }
    assert_eq!(layer.len(), 0, "transactions outlived their timers");
});
