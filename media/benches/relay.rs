//! Relay CPU per forwarded RTP packet, counted on the relay's worker threads only.
//!
//! Each benchmark sets up `calls` sessions through [`MediaEngine`] on 127.0.0.1 and plays
//! "ticks": in one tick both ends of every call send one PCMU packet (160-byte payload)
//! to the relay, and the tick ends when all of them came out on the other side. That is
//! the load tool's traffic (`examples/rtp_load.rs`) with the 20 ms pauses left out:
//! every relay socket holds one packet per wake-up, as at 50 packets/s.
//!
//! The time reported per iteration is the CPU time (from `/proc/self/task/*/schedstat`)
//! the `media-relay-*` threads spent per relayed packet: the harness's own sending and
//! receiving are not in it, and neither is other load on the machine, which the load
//! tool's whole-process figure does include. The kernel's work on a send over loopback
//! (delivering to the receiving socket) is charged to the sender, as with the load tool.
//!
//! Run: `cargo bench -p media --bench relay`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion};
use media::{MediaConfig, MediaControl, MediaEngine, SdpOptions};
use sip_core::sdp::SessionDescription;

const PAYLOAD: usize = 160;

/// CPU time of this process's relay worker threads, summed.
fn relay_cpu() -> Duration {
    let mut ns = 0u64;
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.starts_with("media-relay") {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(ns)
}

fn sdp(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\n"
    )
}

fn relay_addr(out: &[u8]) -> SocketAddr {
    let s = SessionDescription::parse(out).unwrap();
    let ip = s.media_connection(0).unwrap().address().ip().unwrap();
    SocketAddr::new(ip, s.media()[0].port())
}

/// `calls` sessions and the two sockets that play both ends of all of them (as the load
/// tool does: the relay latches each leg onto them like onto a NATed phone).
struct Rig {
    engine: MediaEngine,
    sides: [UdpSocket; 2],
    to_relay: Vec<[SocketAddr; 2]>,
    seq: u16,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn new(calls: usize, workers: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = MediaConfig {
            rtp_ports: 36000..=39999,
            bind_ip: "127.0.0.1".parse().unwrap(),
            ng_listen: None,
            recordings_dir: dir.path().into(),
            workers,
            ..MediaConfig::default()
        };
        let (engine, _events) = MediaEngine::start(cfg).unwrap();
        let sides = [0, 1].map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            socket2::SockRef::from(&s)
                .set_recv_buffer_size(8 << 20)
                .unwrap();
            s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
            s
        });
        let ports = sides.each_ref().map(|s| s.local_addr().unwrap().port());
        let o = SdpOptions::default();
        let to_relay = (0..calls)
            .map(|i| {
                let id = format!("bench-{i}");
                let to_b = engine
                    .offer(&id, "a", sdp(ports[0]).as_bytes(), &o)
                    .unwrap();
                let to_a = engine
                    .answer(&id, "a", "b", sdp(ports[1]).as_bytes(), &o)
                    .unwrap();
                [relay_addr(&to_a), relay_addr(&to_b)]
            })
            .collect();
        let mut rig = Self {
            engine,
            sides,
            to_relay,
            seq: 0,
            _dir: dir,
        };
        // Both legs of every call latch before anything is measured.
        for _ in 0..3 {
            rig.tick();
        }
        rig
    }

    /// One packet from each end of every call; returns how many came out.
    fn tick(&mut self) -> usize {
        self.seq = self.seq.wrapping_add(1);
        let mut packet = [0xffu8; 12 + PAYLOAD];
        for (i, dst) in self.to_relay.iter().enumerate() {
            for (side, &to) in dst.iter().enumerate() {
                let ssrc = (i * 2 + side) as u32;
                media::rtp::write_header(
                    &mut packet,
                    0,
                    false,
                    self.seq,
                    u32::from(self.seq) * 160,
                    ssrc,
                )
                .unwrap();
                self.sides[side].send_to(&packet, to).unwrap();
            }
        }
        let mut got = 0;
        let mut buf = [0u8; 2048];
        for side in &self.sides {
            for _ in 0..self.to_relay.len() {
                if side.recv_from(&mut buf).is_err() {
                    break; // lost: the timeout ends the wait
                }
                got += 1;
            }
        }
        got
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        for i in 0..self.to_relay.len() {
            let _ = self.engine.delete(&format!("bench-{i}"));
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("relay_cpu_per_packet");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    for workers in [1, 2] {
        for calls in [300, 1000] {
            let mut rig = Rig::new(calls, workers);
            let per_tick = (2 * calls) as u64;
            g.bench_function(BenchmarkId::new(format!("workers_{workers}"), calls), |b| {
                // One iteration is one relayed packet: whole ticks are played and
                // their CPU time is shared out.
                b.iter_custom(|iters| {
                    let ticks = iters.div_ceil(per_tick).max(1);
                    let before = relay_cpu();
                    let mut relayed = 0u64;
                    for _ in 0..ticks {
                        relayed += rig.tick() as u64;
                    }
                    let spent = relay_cpu().saturating_sub(before);
                    spent.mul_f64(iters as f64 / relayed.max(1) as f64)
                });
            });
        }
    }
    g.finish();
}

criterion::criterion_group!(benches, bench);
criterion::criterion_main!(benches);
