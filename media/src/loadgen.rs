//! RTP load generator (`vss bench rtp --calls N --seconds S [--ng ADDR] [--direct]`).
//!
//! Sets up `calls` sessions through an ng control port (VSS or rtpengine), then sends
//! G.711 (PCMU, 160-byte payloads) at 50 packets/s in each direction from both ends of
//! every call, and reports offered and delivered packets, loss, one-way latency through
//! the relay, the relay's CPU time per relayed packet (from `/proc/PID/stat`) and the
//! whole machine's busy CPU time per packet (from `/proc/stat`, see [`cpu`]).
//!
//! Without an ng address the same calls run with no relay at all: each end sends
//! straight to the other end's socket, at the same rate, sizes and pacing. That direct
//! baseline's machine CPU per packet is what generating and receiving the traffic cost;
//! the relay's system-wide cost is the difference ([`RelayCost`]).
//!
//! Both ends of all calls share one UDP socket per side: the relay latches each call's
//! leg onto it like onto any NATed phone, and the generator stays cheap (one `sendmmsg`
//! per batch), leaving the CPU to the relay being measured. Each payload carries the
//! call index, direction, sequence number and send time, so delivery and latency are
//! measured per packet.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use socket2::SockRef;

use crate::ng::NgClient;
use crate::ng::bencode::{Value, dict};
use crate::relay::batch::Batch;
use crate::relay::sys::Epoll;
use crate::rtp::write_header;

pub mod cpu;
mod report;

pub use cpu::{CpuReading, CpuTimes, MachineCpu, cpu_seconds, owner_of_udp_port};
pub use report::{LoadReport, RelayCost};

const MAGIC: &[u8; 4] = b"VSSL";
const PAYLOAD: usize = 160;
/// Latency histogram: 10 µs buckets up to 200 ms.
const BUCKET_US: u64 = 10;
const BUCKETS: usize = 20_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The relay's ng control address; `None` runs the direct baseline: no relay, each
    /// end sends straight to the other.
    pub ng: Option<SocketAddr>,
    /// Concurrent calls.
    pub calls: usize,
    /// How long media flows.
    pub duration: Duration,
    /// The relay's process id for CPU accounting; found from the ng port's owner if `None`
    /// (and none in the direct baseline).
    pub relay_pid: Option<u32>,
    /// Local address the two simulated ends use (and write into their SDP).
    pub local_ip: IpAddr,
    /// Ask the relay to record every call (ng `record call: yes`).
    pub record: bool,
}

/// Why a load run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A socket could not be set up or used.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// The relay refused or garbled a call set-up.
    #[error("call set-up failed: {0}")]
    Setup(String),
}

struct Call {
    /// Where side A sends and where side B sends: the relay's ports for the call's two
    /// legs, or in the direct baseline each other's socket.
    send_to: [SocketAddr; 2],
}

fn sdp(ip: IpAddr, port: u16) -> String {
    let fam = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=- 1 1 IN {fam} {ip}\r\ns=vss-load\r\nc=IN {fam} {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n"
    )
}

fn relay_of(reply: &Value) -> Result<SocketAddr, LoadError> {
    if reply.get("result").and_then(Value::as_str) != Some("ok") {
        let why = reply
            .get("error-reason")
            .and_then(Value::as_str)
            .unwrap_or("no reason");
        return Err(LoadError::Setup(why.to_owned()));
    }
    let body = reply
        .get("sdp")
        .and_then(Value::as_bytes)
        .ok_or_else(|| LoadError::Setup("reply without sdp".into()))?;
    let s = sip_core::sdp::SessionDescription::parse(body)
        .map_err(|e| LoadError::Setup(e.to_string()))?;
    let ip = s
        .media_connection(0)
        .and_then(|c| c.address().ip())
        .ok_or_else(|| LoadError::Setup("rewritten sdp has no IP".into()))?;
    let port = s
        .media()
        .first()
        .map(|m| m.port())
        .ok_or_else(|| LoadError::Setup("no m= line".into()))?;
    Ok(SocketAddr::new(ip, port))
}

fn side_socket(ip: IpAddr) -> io::Result<UdpSocket> {
    let s = UdpSocket::bind(SocketAddr::new(ip, 0))?;
    let r = SockRef::from(&s);
    // Bursts of thousands of packets land on one socket; as root the limits can be forced.
    for size in [32 << 20, 8 << 20, 4 << 20] {
        if r.set_recv_buffer_size(size).is_ok() && r.set_send_buffer_size(size).is_ok() {
            break;
        }
    }
    force_buffer(&s, 32 << 20);
    s.set_nonblocking(true)?;
    Ok(s)
}

fn force_buffer(s: &UdpSocket, size: i32) {
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        // SAFETY: setsockopt reads an i32 from a valid pointer; failure (not root) is fine.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&size as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            );
        }
    }
}

/// Runs the load and tears the calls down again.
pub fn run(cfg: &LoadConfig) -> Result<LoadReport, LoadError> {
    let sides = [side_socket(cfg.local_ip)?, side_socket(cfg.local_ip)?];
    let Some(ng) = cfg.ng else {
        let addrs = [sides[0].local_addr()?, sides[1].local_addr()?];
        // Side A sends to side B's socket and B to A's, as the relay would forward.
        let calls: Vec<Call> = (0..cfg.calls)
            .map(|_| Call {
                send_to: [addrs[1], addrs[0]],
            })
            .collect();
        return blast(cfg, &sides, &calls);
    };
    let ports = [sides[0].local_addr()?.port(), sides[1].local_addr()?.port()];
    let mut ng = NgClient::new(ng)?;
    let run_id = format!(
        "{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() % 1_000_000
    );
    let mut calls = Vec::with_capacity(cfg.calls);
    let mut setup = || -> Result<(), LoadError> {
        for i in 0..cfg.calls {
            let call_id = format!("vss-load-{run_id}-{i}");
            let offer = ng.call(&dict([
                ("command", Value::str("offer")),
                ("call-id", Value::str(&call_id)),
                ("from-tag", Value::str(&format!("a{i}"))),
                ("sdp", Value::str(&sdp(cfg.local_ip, ports[0]))),
                (
                    "record call",
                    Value::str(if cfg.record { "yes" } else { "no" }),
                ),
            ]))?;
            let to_b = relay_of(&offer)?;
            let answer = ng.call(&dict([
                ("command", Value::str("answer")),
                ("call-id", Value::str(&call_id)),
                ("from-tag", Value::str(&format!("a{i}"))),
                ("to-tag", Value::str(&format!("b{i}"))),
                ("sdp", Value::str(&sdp(cfg.local_ip, ports[1]))),
            ]))?;
            let to_a = relay_of(&answer)?;
            calls.push(Call {
                send_to: [to_a, to_b],
            });
        }
        Ok(())
    };
    let setup_result = setup();
    let mut report = setup_result.and_then(|()| blast(cfg, &sides, &calls));
    for i in 0..calls.len() {
        let reply = ng.call(&dict([
            ("command", Value::str("delete")),
            ("call-id", Value::str(&format!("vss-load-{run_id}-{i}"))),
            ("from-tag", Value::str(&format!("a{i}"))),
        ]));
        // VSS reports each finished recording in the delete reply.
        if let (Ok(r), Ok(rep)) = (&reply, report.as_mut())
            && let Some(rec) = r.get("recording")
        {
            rep.recordings += 1;
            rep.recording_gaps +=
                rec.get("gaps").and_then(Value::as_int).unwrap_or(0).max(0) as u64;
            rep.recording_frames += rec
                .get("frames")
                .and_then(Value::as_int)
                .unwrap_or(0)
                .max(0) as u64;
        }
    }
    report
}

fn blast(
    cfg: &LoadConfig,
    sides: &[UdpSocket; 2],
    calls: &[Call],
) -> Result<LoadReport, LoadError> {
    let pid = cfg
        .ng
        .and_then(|ng| cfg.relay_pid.or_else(|| owner_of_udp_port(ng.port())));
    let me = std::process::id();
    let softirqd = cpu::ksoftirqd_pids();
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let base = Instant::now();
    let recv_sockets = [sides[0].try_clone()?, sides[1].try_clone()?];
    let stop_rx = stop.clone();
    let delivered_rx = delivered.clone();
    let receiver = std::thread::Builder::new()
        .name("load-rx".into())
        .spawn(move || receive(recv_sockets, base, stop_rx, delivered_rx))?;

    let load_average = cpu::load_average();
    let cpu_before = pid.and_then(cpu_seconds);
    let own_before = cpu_seconds(me);
    let softirqd_before = cpu::cpu_seconds_of(&softirqd);
    let machine_before = CpuReading::now();
    let started = Instant::now();
    let mut offered = 0u64;
    let mut batch = Batch::new();
    let mut packet = [0u8; 12 + PAYLOAD];
    let tick = Duration::from_millis(20);
    // Ten slices per 20 ms: the load is spread instead of arriving in one burst.
    let slices = 10usize;
    let per_slice = calls.len().div_ceil(slices).max(1);
    let ticks = (cfg.duration.as_secs_f64() / 0.020).round() as u64;
    for t in 0..ticks {
        for s in 0..slices {
            let due = started + tick * t as u32 + tick / slices as u32 * s as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let lo = (s * per_slice).min(calls.len());
            let hi = ((s + 1) * per_slice).min(calls.len());
            for (side, sock) in sides.iter().enumerate() {
                let fd = sock.as_raw_fd();
                for (i, call) in calls[lo..hi].iter().enumerate() {
                    let idx = (lo + i) as u32;
                    let seq = t as u32;
                    let ssrc = idx.wrapping_mul(2).wrapping_add(side as u32);
                    let _ = write_header(
                        &mut packet,
                        0,
                        false,
                        seq as u16,
                        seq.wrapping_mul(160),
                        ssrc,
                    );
                    let body = &mut packet[12..];
                    body.fill(0xff);
                    body[..4].copy_from_slice(MAGIC);
                    body[4..8].copy_from_slice(&idx.to_be_bytes());
                    body[8] = side as u8;
                    body[9..13].copy_from_slice(&seq.to_be_bytes());
                    let sent_ns = base.elapsed().as_nanos() as u64;
                    body[13..21].copy_from_slice(&sent_ns.to_be_bytes());
                    if !batch.push(&packet, call.send_to[side]) {
                        batch.send(fd);
                        batch.push(&packet, call.send_to[side]);
                    }
                    offered += 1;
                }
                if batch.len() > 0 {
                    batch.send(fd);
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let machine_after = CpuReading::now();
    let cpu_after = pid.and_then(cpu_seconds);
    let own_after = cpu_seconds(me);
    let softirqd_after = cpu::cpu_seconds_of(&softirqd);
    // Let the last packets arrive.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let hist = receiver
        .join()
        .map_err(|_| LoadError::Setup("receiver thread panicked".into()))?;
    let n: u64 = hist.iter().sum();
    let mut mean = 0.0;
    let (mut p50, mut p99, mut max) = (0, 0, 0);
    if n > 0 {
        let mut acc = 0u64;
        for (b, &c) in hist.iter().enumerate() {
            let us = b as u64 * BUCKET_US;
            mean += (us + BUCKET_US / 2) as f64 * c as f64 / n as f64;
            if acc < n / 2 && acc + c >= n / 2 {
                p50 = us;
            }
            if acc < n * 99 / 100 && acc + c >= n * 99 / 100 {
                p99 = us;
            }
            if c > 0 {
                max = us;
            }
            acc += c;
        }
    }
    Ok(LoadReport {
        direct: cfg.ng.is_none(),
        calls: calls.len(),
        seconds,
        offered,
        delivered: delivered.load(Ordering::Relaxed),
        latency_mean_us: mean,
        latency_p50_us: p50,
        latency_p99_us: p99,
        latency_max_us: max,
        relay_pid: pid,
        relay_cpu_seconds: cpu_before.zip(cpu_after).map(|(a, b)| b - a),
        machine_cpu: machine_after
            .zip(machine_before)
            .and_then(|(after, before)| after.since(&before)),
        generator_cpu_seconds: own_before.zip(own_after).map(|(a, b)| b - a),
        softirqd_cpu_seconds: softirqd_before.zip(softirqd_after).map(|(a, b)| b - a),
        load_average,
        ..LoadReport::default()
    })
}

fn receive(
    sides: [UdpSocket; 2],
    base: Instant,
    stop: Arc<AtomicBool>,
    delivered: Arc<AtomicU64>,
) -> Vec<u64> {
    let mut hist = vec![0u64; BUCKETS];
    let Ok(ep) = Epoll::new() else { return hist };
    for (i, s) in sides.iter().enumerate() {
        let _ = ep.add(s.as_raw_fd(), i as u64);
    }
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
    let mut batch = Batch::new();
    while !stop.load(Ordering::Relaxed) {
        let n = ep.wait(&mut events, 50).unwrap_or(0);
        if n > 0 {
            // Collect for a millisecond before draining: a receiver that is not parked in
            // epoll_wait costs the sender no wake-up per packet, as with phones on a real
            // network. Without this, every relay under test is charged for waking the
            // generator (it adds at most 1 ms to the measured latency).
            std::thread::sleep(Duration::from_millis(1));
        }
        for ev in &events[..n] {
            let Some(sock) = sides.get(ev.u64 as usize) else {
                continue;
            };
            loop {
                let got = batch.recv(sock.as_raw_fd()).unwrap_or(0);
                let now_ns = base.elapsed().as_nanos() as u64;
                for i in 0..got {
                    let Some((data, _)) = batch.datagram(i) else {
                        continue;
                    };
                    if data.len() < 12 + 21 || &data[12..16] != MAGIC {
                        continue;
                    }
                    let mut sent = [0u8; 8];
                    sent.copy_from_slice(&data[25..33]);
                    let us = now_ns.saturating_sub(u64::from_be_bytes(sent)) / 1000;
                    let bucket = ((us / BUCKET_US) as usize).min(BUCKETS - 1);
                    hist[bucket] += 1;
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
                if got < crate::relay::batch::BATCH {
                    break;
                }
            }
        }
    }
    hist
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn direct_baseline_delivers_end_to_end_without_a_relay() {
        let report = run(&LoadConfig {
            ng: None,
            calls: 2,
            duration: Duration::from_secs(1),
            // Ignored: there is no relay to account for.
            relay_pid: Some(std::process::id()),
            local_ip: "127.0.0.1".parse().unwrap(),
            record: false,
        })
        .unwrap();
        assert!(report.direct);
        assert_eq!(report.calls, 2);
        assert_eq!(report.offered, 2 * 2 * 50);
        assert_eq!(report.delivered, report.offered, "{report}");
        assert_eq!((report.relay_pid, report.relay_cpu_seconds), (None, None));
        assert!(report.machine_cpu.is_some(), "{report}");
        assert!(report.machine_us_per_packet().is_some(), "{report}");
        assert!(report.generator_cpu_seconds.is_some(), "{report}");
        let text = report.to_string();
        assert!(
            text.contains("relay            none (direct baseline"),
            "{text}"
        );
        assert!(text.contains("machine cpu "), "{text}");
    }

    #[test]
    fn small_run_through_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::MediaConfig {
            rtp_ports: 32000..=32099,
            bind_ip: "127.0.0.1".parse().unwrap(),
            recordings_dir: dir.path().into(),
            workers: 1,
            ..crate::MediaConfig::default()
        };
        let (engine, _rx) = crate::MediaEngine::start(cfg).unwrap();
        let server =
            crate::ng::NgServer::spawn(Arc::new(engine.clone()), "127.0.0.1:0".parse().unwrap())
                .unwrap();
        let report = run(&LoadConfig {
            ng: Some(server.local_addr()),
            calls: 5,
            duration: Duration::from_millis(400),
            relay_pid: Some(std::process::id()),
            local_ip: "127.0.0.1".parse().unwrap(),
            record: true,
        })
        .unwrap();
        assert_eq!(report.calls, 5);
        assert_eq!(report.offered, 5 * 2 * 20);
        assert_eq!(report.delivered, report.offered, "{report}");
        assert!(report.relay_cpu_seconds.is_some());
        assert!(!report.direct);
        assert!(report.machine_cpu.is_some(), "{report}");
        assert!(
            crate::MediaControl::list(&engine).is_empty(),
            "calls torn down"
        );
        assert!(report.to_string().contains("lost             0"));
        assert_eq!((report.recordings, report.recording_gaps), (5, 0));
        assert!(report.recording_frames >= 5 * 3200, "{report}");
    }
}
