//! The ng protocol over UDP against the real engine: offer/answer/delete round trip.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;

use common::*;
use media::MediaControl;
use media::ng::bencode::{Value, dict};
use media::ng::{NgClient, NgServer};

#[test]
fn ng_offer_answer_query_delete_over_udp() {
    let (e, _rx, _dir) = engine(31600..=31699, |_| {});
    let server = NgServer::spawn(Arc::new(e.clone()), "127.0.0.1:0".parse().unwrap()).unwrap();
    let mut ng = NgClient::new(server.local_addr()).unwrap();
    assert_eq!(
        ng.call(&dict([("command", Value::str("ping"))]))
            .unwrap()
            .get("result")
            .unwrap()
            .as_str(),
        Some("pong")
    );

    let (a, b) = (Endpoint::new(), Endpoint::new());
    let offer = ng
        .call(&dict([
            ("command", Value::str("offer")),
            ("call-id", Value::str("ng-call@host")),
            ("from-tag", Value::str("ta")),
            ("sdp", Value::str(&sdp("127.0.0.1", a.port(), ""))),
            ("flags", Value::List(vec![Value::str("trust-address")])),
        ]))
        .unwrap();
    assert_eq!(offer.get("result").unwrap().as_str(), Some("ok"));
    let to_b = offer.get("sdp").unwrap().as_bytes().unwrap().to_vec();
    let answer = ng
        .call(&dict([
            ("command", Value::str("answer")),
            ("call-id", Value::str("ng-call@host")),
            ("from-tag", Value::str("ta")),
            ("to-tag", Value::str("tb")),
            ("sdp", Value::str(&sdp("127.0.0.1", b.port(), ""))),
        ]))
        .unwrap();
    let to_a = answer.get("sdp").unwrap().as_bytes().unwrap().to_vec();
    a.send(relay_addr(&to_a), &rtp(0, 1, 0, 1, &[9; 160]));
    assert_eq!(b.recv().unwrap().1, relay_addr(&to_b));

    let q = ng
        .call(&dict([
            ("command", Value::str("query")),
            ("call-id", Value::str("ng-call@host")),
        ]))
        .unwrap();
    let rtp_totals = q.get("totals").unwrap().get("RTP").unwrap();
    assert_eq!(rtp_totals.get("packets").unwrap().as_int(), Some(1));
    let ta = q.get("tags").unwrap().get("ta").unwrap();
    let stream = &ta.get("medias").unwrap().as_list().unwrap()[0]
        .get("streams")
        .unwrap()
        .as_list()
        .unwrap()[0];
    assert_eq!(
        stream.get("local port").unwrap().as_int(),
        Some(i64::from(relay_addr(&to_a).port()))
    );
    assert_eq!(
        stream
            .get("endpoint")
            .unwrap()
            .get("port")
            .unwrap()
            .as_int(),
        Some(i64::from(a.port()))
    );

    let list = ng.call(&dict([("command", Value::str("list"))])).unwrap();
    assert_eq!(
        list.get("calls").unwrap().as_list().unwrap(),
        &[Value::str("ng-call@host")]
    );
    let del = ng
        .call(&dict([
            ("command", Value::str("delete")),
            ("call-id", Value::str("ng-call@host")),
            ("from-tag", Value::str("ta")),
        ]))
        .unwrap();
    assert_eq!(del.get("result").unwrap().as_str(), Some("ok"));
    assert!(
        del.get("totals").is_some(),
        "delete reports the final statistics"
    );
    assert!(e.list().is_empty());
    // Garbage on the wire gets an error reply and the server keeps serving.
    let raw = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    raw.set_read_timeout(Some(std::time::Duration::from_secs(2)))
        .unwrap();
    raw.send_to(b"c9 d7:comm", server.local_addr()).unwrap();
    let mut buf = [0u8; 512];
    let n = raw.recv(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"c9 d6:result5:error"));
    assert_eq!(
        ng.call(&dict([("command", Value::str("ping"))]))
            .unwrap()
            .get("result")
            .unwrap()
            .as_str(),
        Some("pong")
    );
}
