//! The ng handler against the in-memory fake: no sockets.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::NgHandler;
use super::bencode::{self, Value, dict};
use crate::testing::{FakeCall, FakeMedia};

const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 14506 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
const ANSWER: &str = "v=0\r\no=- 2 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

fn send(h: &mut NgHandler, cookie: &str, msg: &Value) -> Value {
    let mut wire = format!("{cookie} ").into_bytes();
    msg.encode(&mut wire);
    let reply = h.handle_datagram(Instant::now(), &wire).unwrap();
    let prefix = format!("{cookie} ");
    assert!(reply.starts_with(prefix.as_bytes()), "cookie echoed");
    bencode::decode(&reply[prefix.len()..]).unwrap()
}

fn result(v: &Value) -> &str {
    v.get("result").and_then(Value::as_str).unwrap()
}

#[test]
fn ping_offer_answer_query_delete() {
    let fake = Arc::new(FakeMedia::default());
    let mut h = NgHandler::new(fake.clone());
    assert_eq!(
        result(&send(&mut h, "1", &dict([("command", Value::str("ping"))]))),
        "pong"
    );
    let offer = dict([
        ("command", Value::str("offer")),
        ("call-id", Value::str("c1")),
        ("from-tag", Value::str("ta")),
        ("sdp", Value::str(OFFER)),
        ("replace", Value::List(vec![Value::str("origin")])),
    ]);
    let r = send(&mut h, "2", &offer);
    assert_eq!(result(&r), "ok");
    let sdp = r.get("sdp").unwrap().as_str().unwrap();
    assert!(
        sdp.contains("c=IN IP4 192.0.2.1\r\n") && sdp.contains("o=- 1 1 IN IP4 192.0.2.1\r\n"),
        "{sdp}"
    );
    let answer = dict([
        ("command", Value::str("answer")),
        ("call-id", Value::str("c1")),
        ("from-tag", Value::str("ta")),
        ("to-tag", Value::str("tb")),
        ("sdp", Value::str(ANSWER)),
    ]);
    assert_eq!(result(&send(&mut h, "3", &answer)), "ok");
    let list = send(&mut h, "4", &dict([("command", Value::str("list"))]));
    assert_eq!(
        list.get("calls").unwrap().as_list().unwrap(),
        &[Value::str("c1")]
    );
    let q = send(
        &mut h,
        "5",
        &dict([
            ("command", Value::str("query")),
            ("call-id", Value::str("c1")),
        ]),
    );
    assert_eq!(result(&q), "ok");
    let tags = q.get("tags").unwrap();
    assert_eq!(
        tags.get("ta")
            .unwrap()
            .get("in dialogue with")
            .unwrap()
            .as_str(),
        Some("tb")
    );
    assert!(
        q.get("totals")
            .unwrap()
            .get("RTP")
            .unwrap()
            .get("packets")
            .is_some()
    );
    let rec = dict([
        ("command", Value::str("start recording")),
        ("call-id", Value::str("c1")),
    ]);
    assert_eq!(result(&send(&mut h, "6", &rec)), "ok");
    assert!(fake.is_recording("c1"));
    let stop = dict([
        ("command", Value::str("stop recording")),
        ("call-id", Value::str("c1")),
    ]);
    assert_eq!(result(&send(&mut h, "7", &stop)), "ok");
    let del = dict([
        ("command", Value::str("delete")),
        ("call-id", Value::str("c1")),
        ("from-tag", Value::str("ta")),
    ]);
    assert_eq!(result(&send(&mut h, "8", &del)), "ok");
    assert!(fake.calls().contains(&FakeCall::Delete("c1".into())));
    // Deleting again: a warning, or an error with the "fatal" flag (as rtpengine).
    let again = send(&mut h, "9", &del);
    assert_eq!(result(&again), "ok");
    assert!(again.get("warning").is_some());
    let fatal = dict([
        ("command", Value::str("delete")),
        ("call-id", Value::str("c1")),
        ("from-tag", Value::str("ta")),
        ("flags", Value::List(vec![Value::str("fatal")])),
    ]);
    assert_eq!(result(&send(&mut h, "10", &fatal)), "error");
}

#[test]
fn retransmission_gets_the_cached_reply_without_a_second_offer() {
    let fake = Arc::new(FakeMedia::default());
    let mut h = NgHandler::new(fake.clone());
    let offer = dict([
        ("command", Value::str("offer")),
        ("call-id", Value::str("c2")),
        ("from-tag", Value::str("ta")),
        ("sdp", Value::str(OFFER)),
    ]);
    let a = send(&mut h, "same", &offer);
    let b = send(&mut h, "same", &offer);
    assert_eq!(a, b);
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| matches!(c, FakeCall::Offer(..)))
            .count(),
        1
    );
    // After the cache window the cookie is forgotten.
    let mut wire = b"same ".to_vec();
    offer.encode(&mut wire);
    h.handle_datagram(Instant::now() + Duration::from_secs(120), &wire)
        .unwrap();
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| matches!(c, FakeCall::Offer(..)))
            .count(),
        2
    );
}

#[test]
fn malformed_commands_get_error_replies() {
    let mut h = NgHandler::new(Arc::new(FakeMedia::default()));
    let cases: Vec<(Value, &str)> = vec![
        (
            dict([("command", Value::str("dance"))]),
            "Unrecognized command",
        ),
        (dict([("nothing", Value::Int(1))]), "No command in message"),
        (
            dict([
                ("command", Value::str("offer")),
                ("from-tag", Value::str("a")),
                ("sdp", Value::str(OFFER)),
            ]),
            "No call-id in message",
        ),
        (
            dict([
                ("command", Value::str("offer")),
                ("call-id", Value::str("x")),
                ("sdp", Value::str(OFFER)),
            ]),
            "No from-tag in message",
        ),
        (
            dict([
                ("command", Value::str("offer")),
                ("call-id", Value::str("x")),
                ("from-tag", Value::str("a")),
            ]),
            "No SDP body in message",
        ),
        (
            dict([
                ("command", Value::str("answer")),
                ("call-id", Value::str("x")),
                ("from-tag", Value::str("a")),
                ("sdp", Value::str(ANSWER)),
            ]),
            "No to-tag in message",
        ),
        (
            dict([
                ("command", Value::str("query")),
                ("call-id", Value::str("nope")),
            ]),
            "Unknown call-id",
        ),
        (Value::List(vec![]), "Message is not a dictionary"),
    ];
    for (i, (msg, want)) in cases.iter().enumerate() {
        let r = send(&mut h, &format!("e{i}"), msg);
        assert_eq!(result(&r), "error");
        assert_eq!(r.get("error-reason").unwrap().as_str(), Some(*want));
    }
    let bad_sdp = dict([
        ("command", Value::str("offer")),
        ("call-id", Value::str("x")),
        ("from-tag", Value::str("a")),
        ("sdp", Value::str("v=0\r\nthis is not sdp\r\n")),
    ]);
    let r = send(&mut h, "sdp", &bad_sdp);
    assert!(
        r.get("error-reason")
            .unwrap()
            .as_str()
            .unwrap()
            .contains("line 2")
    );
    // Undecodable body: an error reply with the cookie; no cookie at all: no reply.
    let reply = h.handle_datagram(Instant::now(), b"k1 d7:command").unwrap();
    assert!(reply.starts_with(b"k1 d6:result5:error"));
    assert!(h.handle_datagram(Instant::now(), b"nospace").is_none());
    assert!(
        h.handle_datagram(Instant::now(), b" d7:command4:pinge")
            .is_none()
    );
}

#[test]
fn kamailio_flags_map_to_options() {
    let msg = dict([
        ("command", Value::str("offer")),
        (
            "received-from",
            Value::List(vec![Value::str("IP4"), Value::str("198.51.100.7")]),
        ),
        (
            "replace",
            Value::List(vec![Value::str("origin"), Value::str("session-connection")]),
        ),
        ("record call", Value::str("yes")),
        ("ICE", Value::str("remove")),
    ]);
    let o = super::options(&msg);
    assert!(o.replace_origin && o.record && !o.keep_ice && !o.trust_address);
    assert_eq!(o.received_from, Some("198.51.100.7".parse().unwrap()));
    assert_eq!(
        o.address_override(),
        o.received_from,
        "rtpengine's default: the signalling source"
    );
    let trusted = dict([
        (
            "received-from",
            Value::List(vec![Value::str("IP4"), Value::str("198.51.100.7")]),
        ),
        ("flags", Value::List(vec![Value::str("trust-address")])),
    ]);
    assert_eq!(super::options(&trusted).address_override(), None);
    let forced = dict([("media address", Value::str("2001:db8::5"))]);
    assert_eq!(
        super::options(&forced).address_override(),
        Some("2001:db8::5".parse().unwrap())
    );
}

#[test]
fn random_and_truncated_datagrams_never_panic() {
    let mut h = NgHandler::new(Arc::new(FakeMedia::default()));
    let mut valid = b"c1 ".to_vec();
    dict([
        ("command", Value::str("offer")),
        ("call-id", Value::str("x")),
        ("from-tag", Value::str("a")),
        ("sdp", Value::str(OFFER)),
    ])
    .encode(&mut valid);
    // Every truncation of a valid offer, with a fresh cookie each time.
    for cut in 0..valid.len() {
        let mut d = format!("t{cut} ").into_bytes();
        d.extend_from_slice(&valid[3..cut.max(3)]);
        let _ = h.handle_datagram(Instant::now(), &d);
    }
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for i in 0..5_000u32 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 200) as usize;
        let mut d = format!("r{i} ").into_bytes();
        let mut x = seed;
        for _ in 0..len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            d.push(b"dile0123456789:ab "[(x % 18) as usize]);
        }
        let reply = h.handle_datagram(Instant::now(), &d).unwrap();
        assert!(reply.starts_with(format!("r{i} ").as_bytes()));
    }
}

#[test]
fn a_stream_the_kernel_carried_is_flagged_kernelized_with_its_count() {
    let now = std::time::SystemTime::now();
    let flags = |l: &crate::LegStats| -> Vec<String> {
        let Value::List(streams) = super::streams(l, now) else {
            panic!("streams is a list")
        };
        let Some(Value::List(flags)) = streams[0].get("flags") else {
            panic!("the RTP stream has flags")
        };
        flags
            .iter()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect()
    };
    let mut leg = crate::LegStats {
        rtp_packets: 100,
        ..crate::LegStats::default()
    };
    assert_eq!(flags(&leg), ["RTP"]);
    leg.kernel_packets = 90;
    assert_eq!(flags(&leg), ["RTP", "kernelized"]);
    let Value::List(streams) = super::streams(&leg, now) else {
        panic!("streams is a list")
    };
    assert_eq!(
        streams[0].get("kernel packets").and_then(Value::as_int),
        Some(90)
    );
}
