//! SIP over TCP and TLS against a running `vss serve`: answers come back on the
//! connection, keep-alive pings get pongs, and a framing error is answered and closes
//! the connection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

fn options(local: SocketAddr, transport: &str, n: u32) -> String {
    format!(
        "OPTIONS sip:vss.test SIP/2.0\r\nVia: SIP/2.0/{transport} {local};branch=z9hG4bK-s{n}\r\nMax-Forwards: 70\r\nFrom: <sip:monitor@test>;tag=s{n}\r\nTo: <sip:vss.test>\r\nCall-ID: stream-{n}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Read until `want` appears or the peer closes; returns what was read.
fn read_until(stream: &mut impl Read, want: &str) -> String {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&all).contains(want) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&all).into_owned()
}

#[test]
fn tcp_answers_on_the_connection() {
    let server = common::Server::start(&common::loopback_config(""));
    let mut tcp = TcpStream::connect(server.addr("tcp")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = tcp.local_addr().unwrap();
    // Two messages in one write, and a keep-alive ping between them.
    let both = format!(
        "{}\r\n\r\n{}",
        options(local, "TCP", 1),
        options(local, "TCP", 2)
    );
    tcp.write_all(both.as_bytes()).unwrap();
    let got = read_until(&mut tcp, "stream-2@test");
    assert!(got.contains("SIP/2.0 200 OK"), "{got}");
    assert!(
        got.contains("stream-1@test") && got.contains("stream-2@test"),
        "{got}"
    );

    // No Content-Length on a stream: 400, then the connection is closed.
    let bad = options(local, "TCP", 3).replace("Content-Length: 0\r\n", "");
    tcp.write_all(bad.as_bytes()).unwrap();
    let got = read_until(&mut tcp, "\u{0}never");
    assert!(got.starts_with("SIP/2.0 400 "), "{got}");
    let mut rest = [0u8; 16];
    assert!(
        matches!(tcp.read(&mut rest), Ok(0) | Err(_)),
        "connection should be closed"
    );

    // The listener still serves new connections.
    let mut again = TcpStream::connect(server.addr("tcp")).unwrap();
    again
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    again
        .write_all(options(again.local_addr().unwrap(), "TCP", 4).as_bytes())
        .unwrap();
    assert!(read_until(&mut again, "stream-4@test").contains("200 OK"));
}

#[test]
fn tls_answers_on_the_connection() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).unwrap();
    let toml = format!(
        "[sip]\nlisten = [\"tls:127.0.0.1:0\"]\ndomain = \"vss.test\"\ntls_cert = {:?}\ntls_key = {:?}\n[media]\nng_listen = \"\"\n",
        cert_path.display().to_string(),
        key_path.display().to_string()
    );
    let server = common::Server::start(&toml);

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(server.addr("tls")).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let local = tcp.local_addr().unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(options(local, "TLS", 1).as_bytes()).unwrap();
    let got = read_until(&mut tls, "stream-1@test");
    assert!(got.starts_with("SIP/2.0 200 OK"), "{got}");
}
