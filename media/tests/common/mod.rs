//! Helpers shared by the socket tests: fake endpoints on 127.0.0.1 and SDP bodies.
#![allow(dead_code, clippy::unwrap_used, missing_docs, unreachable_pub)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use media::{MediaConfig, MediaControl, MediaEngine, MediaEvent, SdpOptions};
use sip_core::sdp::SessionDescription;

/// An engine on its own port range (each test picks a different one, so that tests run
/// in parallel without colliding).
pub fn engine(
    ports: std::ops::RangeInclusive<u16>,
    tweak: impl FnOnce(&mut MediaConfig),
) -> (
    MediaEngine,
    tokio::sync::mpsc::Receiver<MediaEvent>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = MediaConfig {
        rtp_ports: ports,
        bind_ip: "127.0.0.1".parse().unwrap(),
        public_ip: None,
        ng_listen: None,
        recordings_dir: dir.path().to_path_buf(),
        workers: 2,
        ..MediaConfig::default()
    };
    tweak(&mut cfg);
    let (e, rx) = MediaEngine::start(cfg).unwrap();
    (e, rx, dir)
}

pub struct Endpoint {
    pub sock: UdpSocket,
}

impl Endpoint {
    pub fn new() -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        Self { sock }
    }

    pub fn addr(&self) -> SocketAddr {
        self.sock.local_addr().unwrap()
    }

    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    pub fn send(&self, to: SocketAddr, packet: &[u8]) {
        self.sock.send_to(packet, to).unwrap();
    }

    /// The next datagram, or `None` after the read timeout.
    pub fn recv(&self) -> Option<(Vec<u8>, SocketAddr)> {
        let mut buf = [0u8; 2048];
        match self.sock.recv_from(&mut buf) {
            Ok((n, from)) => Some((buf[..n].to_vec(), from)),
            Err(_) => None,
        }
    }

    /// Waits only briefly: used to assert that nothing arrives.
    pub fn recv_quick(&self) -> Option<(Vec<u8>, SocketAddr)> {
        self.sock
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let r = self.recv();
        self.sock
            .set_read_timeout(Some(Duration::from_millis(1500)))
            .unwrap();
        r
    }
}

/// A call on 127.0.0.1: A (at `a_port`) offers, B (at `b_port`) answers. Returns the
/// relay's addresses for A and for B (where each sends its media).
pub fn call(e: &MediaEngine, id: &str, a_port: u16, b_port: u16) -> (SocketAddr, SocketAddr) {
    let o = SdpOptions::default();
    let to_b = e
        .offer(id, "ta", sdp("127.0.0.1", a_port, "").as_bytes(), &o)
        .unwrap();
    let to_a = e
        .answer(id, "ta", "tb", sdp("127.0.0.1", b_port, "").as_bytes(), &o)
        .unwrap();
    (relay_addr(&to_a), relay_addr(&to_b))
}

pub fn sdp(ip: &str, port: u16, extra: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n{extra}"
    )
}

/// Where the rewritten SDP tells its receiver to send RTP.
pub fn relay_addr(out: &[u8]) -> SocketAddr {
    let s = SessionDescription::parse(out).unwrap();
    let ip = s.media_connection(0).unwrap().address().ip().unwrap();
    SocketAddr::new(ip, s.media()[0].port())
}

pub fn rtp(pt: u8, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    media::rtp::write_header(&mut p, pt, false, seq, ts, ssrc).unwrap();
    p.extend_from_slice(payload);
    p
}

/// Collects events until `pred` matches one, or fails after `within`.
pub fn wait_event(
    rx: &mut tokio::sync::mpsc::Receiver<MediaEvent>,
    within: Duration,
    pred: impl Fn(&MediaEvent) -> bool,
) -> MediaEvent {
    let deadline = Instant::now() + within;
    loop {
        match rx.try_recv() {
            Ok(ev) if pred(&ev) => return ev,
            Ok(_) => {}
            Err(_) => {
                assert!(
                    Instant::now() < deadline,
                    "event not seen within {within:?}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}
