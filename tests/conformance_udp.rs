//! Every RFC 4475 torture message sent over real UDP to a running `vss serve`, checked
//! against tests/conformance/rfc4475/EXPECTED.tsv; the server must still answer OPTIONS
//! afterwards (one malformed packet never stops the receive loop).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/rfc4475")
}

/// Read responses until a final one (≥ 200), or `None` when `wait` passes first.
fn final_status(socket: &UdpSocket, wait: Duration) -> Option<(u16, String)> {
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 65535];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        socket.set_read_timeout(Some(left)).unwrap();
        let Ok(n) = socket.recv(&mut buf) else {
            return None;
        };
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = text.get(8..11).and_then(|c| c.parse().ok()).unwrap_or(0);
        if code >= 200 {
            return Some((code, text));
        }
    }
}

fn options(server: SocketAddr, socket: &UdpSocket, n: u32) -> Option<u16> {
    let local = socket.local_addr().unwrap();
    let msg = format!(
        "OPTIONS sip:vss.test SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-ping-{n}\r\nMax-Forwards: 70\r\nFrom: <sip:monitor@test>;tag=m{n}\r\nTo: <sip:vss.test>\r\nCall-ID: ping-{n}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(msg.as_bytes(), server).unwrap();
    final_status(socket, Duration::from_secs(5)).map(|(c, _)| c)
}

/// Several RFC 4475 messages share a branch and sent-by, which makes the later ones
/// retransmissions of the earlier ones (RFC 3261 §17.2.3). With T1 = 5 ms every server
/// transaction is gone 64*T1 = 320 ms after its answer, so waiting that long between
/// messages makes each one new.
const TIMERS: &str = "t1_ms = 5\nt2_ms = 40\nt4_ms = 50\n";
const TRANSACTION_LIFETIME: Duration = Duration::from_millis(400);

#[test]
fn torture_messages_over_udp() {
    let config = common::loopback_config("").replace("[media]", &format!("{TIMERS}[media]"));
    let server = common::Server::start(&config);
    let addr = server.addr("udp");
    let expected = std::fs::read_to_string(corpus().join("EXPECTED.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for line in expected
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, want) = (cols[0], cols[2]);
        let raw = std::fs::read(corpus().join(file)).unwrap();
        // A fresh socket per message, so late answers cannot be mistaken for the next.
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.send_to(&raw, addr).unwrap();
        let got = if want == "none" {
            final_status(&socket, Duration::from_millis(300))
        } else {
            final_status(&socket, Duration::from_secs(5))
        };
        let got_code = got
            .as_ref()
            .map_or("none".to_owned(), |(c, _)| c.to_string());
        if got_code != want {
            failures.push(format!("{file}: expected {want}, got {got_code}"));
        }
        if let Some((code, text)) = &got {
            // Valid messages never get 400.
            if *code == 400 && file.starts_with("valid/") {
                failures.push(format!("{file}: valid message answered 400:\n{text}"));
            }
        }
        count += 1;
        std::thread::sleep(TRANSACTION_LIFETIME);
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        if options(addr, &probe, count) != Some(200) {
            failures.push(format!("after {file}: OPTIONS not answered 200"));
        }
    }
    assert_eq!(count, 50);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn garbage_never_stops_the_receive_loop() {
    let server = common::Server::start(&common::loopback_config(""));
    let addr = server.addr("udp");
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let junk: [&[u8]; 6] = [
        b"",
        b"\r\n\r\n",
        &[0xff; 1500],
        b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",
        &[b'A'; 65000],
    ];
    for j in junk {
        socket.send_to(j, addr).unwrap();
    }
    assert_eq!(options(addr, &socket, 1), Some(200));
}
