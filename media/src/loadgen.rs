//! RTP load generator (`vss bench rtp --calls N --seconds S [--ng ADDR]`).
//!
//! Sets up `calls` sessions through an ng control port (VSS or rtpengine), then sends
//! G.711 (PCMU, 160-byte payloads) at 50 packets/s in each direction from both ends of
//! every call, and reports offered and delivered packets, loss, one-way latency through
//! the relay, and the relay's CPU time per million relayed packets (from
//! `/proc/PID/stat`).
//!
//! Both ends of all calls share one UDP socket per side: the relay latches each call's
//! leg onto it like onto any NATed phone, and the generator stays cheap (one `sendmmsg`
//! per batch), leaving the CPU to the relay being measured. Each payload carries the
//! call index, direction, sequence number and send time, so delivery and latency are
//! measured per packet.

use std::fmt;
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

const MAGIC: &[u8; 4] = b"VSSL";
const PAYLOAD: usize = 160;
/// Latency histogram: 10 µs buckets up to 200 ms.
const BUCKET_US: u64 = 10;
const BUCKETS: usize = 20_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The relay's ng control address.
    pub ng: SocketAddr,
    /// Concurrent calls.
    pub calls: usize,
    /// How long media flows.
    pub duration: Duration,
    /// The relay's process id for CPU accounting; found from the ng port's owner if `None`.
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

/// The results of a run.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LoadReport {
    /// Calls set up.
    pub calls: usize,
    /// Seconds media flowed.
    pub seconds: f64,
    /// Packets sent to the relay.
    pub offered: u64,
    /// Packets that came back through the relay.
    pub delivered: u64,
    /// Mean one-way latency through the relay, µs.
    pub latency_mean_us: f64,
    /// Median latency, µs.
    pub latency_p50_us: u64,
    /// 99th percentile latency, µs.
    pub latency_p99_us: u64,
    /// Largest latency, µs.
    pub latency_max_us: u64,
    /// The relay's process, if known.
    pub relay_pid: Option<u32>,
    /// CPU seconds (user + system) the relay used while media flowed.
    pub relay_cpu_seconds: Option<f64>,
    /// Recordings the relay reported when the calls were deleted.
    pub recordings: u64,
    /// Gaps those recordings reported (late, undecodable or dropped packets).
    pub recording_gaps: u64,
    /// Frames those recordings hold in total.
    pub recording_frames: u64,
}

impl LoadReport {
    /// Packets lost (offered but never delivered).
    pub fn lost(&self) -> u64 {
        self.offered.saturating_sub(self.delivered)
    }

    /// Loss in percent.
    pub fn loss_percent(&self) -> f64 {
        if self.offered == 0 {
            0.0
        } else {
            self.lost() as f64 * 100.0 / self.offered as f64
        }
    }

    /// Relay CPU seconds per million relayed packets.
    pub fn cpu_seconds_per_million(&self) -> Option<f64> {
        let cpu = self.relay_cpu_seconds?;
        (self.delivered > 0).then(|| cpu * 1e6 / self.delivered as f64)
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "calls            {}", self.calls)?;
        writeln!(f, "seconds          {:.1}", self.seconds)?;
        writeln!(
            f,
            "offered packets  {} ({:.0}/s)",
            self.offered,
            self.offered as f64 / self.seconds.max(1e-9)
        )?;
        writeln!(f, "delivered        {}", self.delivered)?;
        writeln!(
            f,
            "lost             {} ({:.4} %)",
            self.lost(),
            self.loss_percent()
        )?;
        writeln!(
            f,
            "latency µs       mean {:.0}  p50 {}  p99 {}  max {}",
            self.latency_mean_us, self.latency_p50_us, self.latency_p99_us, self.latency_max_us
        )?;
        match (
            self.relay_pid,
            self.relay_cpu_seconds,
            self.cpu_seconds_per_million(),
        ) {
            (Some(pid), Some(cpu), Some(per)) => {
                writeln!(
                    f,
                    "relay pid {pid}    cpu {cpu:.2} s  =  {per:.2} CPU-s per million packets ({:.2} µs/packet)",
                    per
                )
            }
            _ => writeln!(f, "relay cpu        unknown (no pid)"),
        }?;
        if self.recordings > 0 {
            writeln!(
                f,
                "recordings       {}  gaps {}  frames {} ({:.1} s per call)",
                self.recordings,
                self.recording_gaps,
                self.recording_frames,
                self.recording_frames as f64 / 8000.0 / self.recordings as f64
            )?;
        }
        Ok(())
    }
}

struct Call {
    /// Where side A sends (the relay port for leg A) and side B sends.
    to_relay: [SocketAddr; 2],
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
    let ports = [sides[0].local_addr()?.port(), sides[1].local_addr()?.port()];
    let mut ng = NgClient::new(cfg.ng)?;
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
                to_relay: [to_a, to_b],
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
    let pid = cfg.relay_pid.or_else(|| owner_of_udp_port(cfg.ng.port()));
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let base = Instant::now();
    let recv_sockets = [sides[0].try_clone()?, sides[1].try_clone()?];
    let stop_rx = stop.clone();
    let delivered_rx = delivered.clone();
    let receiver = std::thread::Builder::new()
        .name("load-rx".into())
        .spawn(move || receive(recv_sockets, base, stop_rx, delivered_rx))?;

    let cpu_before = pid.and_then(cpu_seconds);
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
                    if !batch.push(&packet, call.to_relay[side]) {
                        batch.send(fd);
                        batch.push(&packet, call.to_relay[side]);
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
    let cpu_after = pid.and_then(cpu_seconds);
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

/// User + system CPU seconds of a process, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces; fields resume after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name and state.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no pointer arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as f64 } else { 100.0 };
    Some((utime + stime) as f64 / hz)
}

/// The process that owns a local UDP port (found through `/proc/net/udp*` and the
/// processes' open sockets); `None` if it cannot be seen (another user's process).
pub fn owner_of_udp_port(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let Some(local) = cols.get(1) else { continue };
            let Some((_, p)) = local.rsplit_once(':') else {
                continue;
            };
            if u16::from_str_radix(p, 16).ok() == Some(port)
                && let Some(inode) = cols.get(9)
            {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.as_os_str() == i.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_port_owner_of_this_process() {
        assert!(cpu_seconds(std::process::id()).is_some());
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            owner_of_udp_port(s.local_addr().unwrap().port()),
            Some(std::process::id())
        );
        assert!(cpu_seconds(u32::MAX).is_none());
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
            ng: server.local_addr(),
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
        assert!(
            crate::MediaControl::list(&engine).is_empty(),
            "calls torn down"
        );
        assert!(report.to_string().contains("lost             0"));
        assert_eq!((report.recordings, report.recording_gaps), (5, 0));
        assert!(report.recording_frames >= 5 * 3200, "{report}");
    }
}
