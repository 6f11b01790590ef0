//! rtpengine's "ng" control protocol over UDP, so that Kamailio's `rtpengine` module
//! (or anything else that speaks ng) can use VSS media as its relay.
//!
//! A datagram is `<cookie> <bencoded dictionary>`; the reply repeats the cookie. The
//! commands served are `ping`, `offer`, `answer`, `delete`, `query`, `list`,
//! `start recording` and `stop recording`, with rtpengine's reply shapes. Anything
//! malformed gets `{"result": "error", "error-reason": ...}`. Replies are cached by
//! cookie for a minute, because the ng client retransmits with the same cookie and an
//! offer must not be applied twice.

pub mod bencode;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bencode::{Value, dict};

use crate::control::{LegStats, MediaControl, SdpOptions, SessionStats};
use crate::error::MediaError;

/// How long a reply stays cached for retransmissions.
const CACHE_FOR: Duration = Duration::from_secs(60);
/// Replies cached at most (oldest evicted first).
const CACHE_MAX: usize = 10_000;

/// Handles ng datagrams against a [`MediaControl`], with the retransmission cache.
pub struct NgHandler {
    control: Arc<dyn MediaControl>,
    cache: HashMap<Vec<u8>, Vec<u8>>,
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl std::fmt::Debug for NgHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NgHandler")
            .field("cached", &self.cache.len())
            .finish()
    }
}

impl NgHandler {
    /// A handler driving `control`.
    pub fn new(control: Arc<dyn MediaControl>) -> Self {
        Self {
            control,
            cache: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Answers one datagram; `None` when it has no cookie to answer with.
    pub fn handle_datagram(&mut self, now: Instant, datagram: &[u8]) -> Option<Vec<u8>> {
        let space = datagram.iter().position(|&b| b == b' ')?;
        let (cookie, body) = (&datagram[..space], &datagram[space + 1..]);
        if cookie.is_empty() {
            return None;
        }
        while let Some((t, _)) = self.order.front() {
            if now.saturating_duration_since(*t) < CACHE_FOR && self.order.len() <= CACHE_MAX {
                break;
            }
            if let Some((_, c)) = self.order.pop_front() {
                self.cache.remove(&c);
            }
        }
        if let Some(reply) = self.cache.get(cookie) {
            return Some(reply.clone());
        }
        let reply = match bencode::decode(body) {
            Ok(msg) => self.command(&msg),
            Err(e) => error(&format!("Could not decode dictionary: {e}")),
        };
        let mut out = Vec::with_capacity(cookie.len() + 1 + 256);
        out.extend_from_slice(cookie);
        out.push(b' ');
        reply.encode(&mut out);
        self.cache.insert(cookie.to_vec(), out.clone());
        self.order.push_back((now, cookie.to_vec()));
        Some(out)
    }

    fn command(&self, msg: &Value) -> Value {
        if !matches!(msg, Value::Dict(_)) {
            return error("Message is not a dictionary");
        }
        let Some(cmd) = msg.get("command").and_then(Value::as_str) else {
            return error("No command in message");
        };
        match cmd.to_ascii_lowercase().as_str() {
            "ping" => dict([("result", Value::str("pong"))]),
            "offer" => self.offer_answer(msg, false),
            "answer" => self.offer_answer(msg, true),
            "delete" => self.delete(msg),
            "query" => match call_id(msg) {
                Ok(id) => match self.control.stats(id) {
                    Ok(s) => stats_reply(&s),
                    Err(e) => media_error(&e),
                },
                Err(e) => e,
            },
            "list" => {
                let limit = msg
                    .get("limit")
                    .and_then(Value::as_int)
                    .unwrap_or(32)
                    .max(0) as usize;
                let calls = self
                    .control
                    .list()
                    .into_iter()
                    .take(limit)
                    .map(|c| Value::str(&c))
                    .collect();
                dict([("result", Value::str("ok")), ("calls", Value::List(calls))])
            }
            "start recording" => match call_id(msg) {
                Ok(id) => match self.control.start_recording(id) {
                    Ok(_) => ok(),
                    Err(e) => media_error(&e),
                },
                Err(e) => e,
            },
            "stop recording" => match call_id(msg) {
                Ok(id) => match self.control.stop_recording(id) {
                    Ok(_) => ok(),
                    Err(e) => media_error(&e),
                },
                Err(e) => e,
            },
            _ => error("Unrecognized command"),
        }
    }

    fn offer_answer(&self, msg: &Value, answer: bool) -> Value {
        let id = match call_id(msg) {
            Ok(id) => id,
            Err(e) => return e,
        };
        let Some(from) = msg.get("from-tag").and_then(Value::as_str) else {
            return error("No from-tag in message");
        };
        let Some(sdp) = msg.get("sdp").and_then(Value::as_bytes) else {
            return error("No SDP body in message");
        };
        let opts = options(msg);
        let result = if answer {
            let Some(to) = msg.get("to-tag").and_then(Value::as_str) else {
                return error("No to-tag in message");
            };
            self.control.answer(id, from, to, sdp, &opts)
        } else {
            self.control.offer(id, from, sdp, &opts)
        };
        match result {
            Ok(out) => dict([
                ("result", Value::str("ok")),
                ("sdp", Value::Bytes(out.to_vec())),
            ]),
            Err(e) => media_error(&e),
        }
    }

    fn delete(&self, msg: &Value) -> Value {
        let id = match call_id(msg) {
            Ok(id) => id,
            Err(e) => return e,
        };
        if msg.get("from-tag").and_then(Value::as_str).is_none() {
            return error("No from-tag in message");
        }
        let fatal = flags(msg).any(|f| f.eq_ignore_ascii_case("fatal"));
        match self.control.delete(id) {
            Ok(s) => stats_reply(&s),
            // rtpengine answers an unknown call with a warning unless the "fatal" flag is set.
            Err(e @ MediaError::UnknownSession(_)) if !fatal => dict([
                ("result", Value::str("ok")),
                ("warning", Value::str(&e.to_string())),
            ]),
            Err(e) => media_error(&e),
        }
    }
}

fn ok() -> Value {
    dict([("result", Value::str("ok"))])
}

fn error(reason: &str) -> Value {
    dict([
        ("result", Value::str("error")),
        ("error-reason", Value::str(reason)),
    ])
}

fn media_error(e: &MediaError) -> Value {
    match e {
        MediaError::UnknownSession(_) => error("Unknown call-id"),
        other => error(&other.to_string()),
    }
}

fn call_id(msg: &Value) -> Result<&str, Value> {
    msg.get("call-id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| error("No call-id in message"))
}

fn flags(msg: &Value) -> impl Iterator<Item = &str> {
    msg.get("flags")
        .and_then(Value::as_list)
        .unwrap_or(&[])
        .iter()
        .filter_map(Value::as_str)
}

fn options(msg: &Value) -> SdpOptions {
    let replace = msg.get("replace").and_then(Value::as_list).unwrap_or(&[]);
    let replace_origin = replace
        .iter()
        .filter_map(Value::as_str)
        .any(|r| r.eq_ignore_ascii_case("origin"))
        || flags(msg).any(|f| f.eq_ignore_ascii_case("replace-origin"));
    let ice = msg.get("ICE").and_then(Value::as_str).unwrap_or("remove");
    let record = msg
        .get("record call")
        .and_then(Value::as_str)
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
        || flags(msg).any(|f| f.eq_ignore_ascii_case("record-call"));
    // "received-from": ["IP4", "192.0.2.7"], as Kamailio's rtpengine module sends it.
    let received_from = msg
        .get("received-from")
        .and_then(Value::as_list)
        .and_then(|l| l.get(1))
        .and_then(Value::as_str)
        .and_then(|a| a.parse().ok());
    let trust_address = flags(msg).any(|f| {
        f.eq_ignore_ascii_case("trust-address") || f.eq_ignore_ascii_case("trust address")
    });
    let media_address = msg
        .get("media address")
        .and_then(Value::as_str)
        .and_then(|a| a.parse().ok());
    SdpOptions {
        replace_origin,
        keep_ice: ice.eq_ignore_ascii_case("force-relay") || ice.eq_ignore_ascii_case("optional"),
        record,
        received_from,
        trust_address,
        media_address,
    }
}

fn unix(t: SystemTime) -> Value {
    Value::Int(
        t.duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
    )
}

fn endpoint(a: Option<SocketAddr>) -> Value {
    match a {
        Some(a) => dict([
            (
                "family",
                Value::str(if a.is_ipv4() { "IPv4" } else { "IPv6" }),
            ),
            ("address", Value::str(&a.ip().to_string())),
            ("port", Value::Int(i64::from(a.port()))),
        ]),
        None => Value::Dict(Vec::new()),
    }
}

fn counters(packets: u64, bytes: u64, errors: u64) -> Value {
    dict([
        ("packets", Value::Int(packets as i64)),
        ("bytes", Value::Int(bytes as i64)),
        ("errors", Value::Int(errors as i64)),
    ])
}

fn streams(l: &LegStats, now: SystemTime) -> Value {
    let last = |idle: Option<Duration>| match idle {
        Some(d) => unix(now.checked_sub(d).unwrap_or(now)),
        None => Value::Int(0),
    };
    let rtp = dict([
        ("local port", Value::Int(i64::from(l.local_rtp_port))),
        ("endpoint", endpoint(l.latched_rtp.or(l.signalled_rtp))),
        ("advertised endpoint", endpoint(l.signalled_rtp)),
        ("last packet", last(l.idle)),
        // As rtpengine flags a stream its kernel module has carried.
        (
            "flags",
            Value::List(if l.kernel_packets > 0 {
                vec![Value::str("RTP"), Value::str("kernelized")]
            } else {
                vec![Value::str("RTP")]
            }),
        ),
        (
            "stats",
            counters(l.rtp_packets, l.rtp_bytes, l.errors + l.dropped_foreign),
        ),
        // Of the packets above, those forwarded in the kernel (media.kernel_forwarding).
        ("kernel packets", Value::Int(l.kernel_packets as i64)),
    ]);
    let rtcp = dict([
        ("local port", Value::Int(i64::from(l.local_rtp_port) + 1)),
        ("endpoint", endpoint(l.latched_rtcp.or(l.signalled_rtcp))),
        ("advertised endpoint", endpoint(l.signalled_rtcp)),
        ("flags", Value::List(vec![Value::str("RTCP")])),
        ("stats", counters(l.rtcp_packets, l.rtcp_bytes, 0)),
    ]);
    Value::List(vec![rtp, rtcp])
}

/// The `query` reply (also sent for `delete`), shaped as rtpengine's.
fn stats_reply(s: &SessionStats) -> Value {
    let now = SystemTime::now();
    let mut tags = Vec::new();
    let (mut rtp, mut rtcp) = ((0u64, 0u64, 0u64), (0u64, 0u64));
    for leg in 0..2 {
        let tag = &s.tags[leg];
        let medias: Vec<Value> = s
            .streams
            .iter()
            .enumerate()
            .map(|(i, st)| {
                let l = &st.legs[leg];
                rtp = (
                    rtp.0 + l.rtp_packets,
                    rtp.1 + l.rtp_bytes,
                    rtp.2 + l.errors + l.dropped_foreign,
                );
                rtcp = (rtcp.0 + l.rtcp_packets, rtcp.1 + l.rtcp_bytes);
                let mut m = vec![
                    (b"index".to_vec(), Value::Int(i as i64 + 1)),
                    (b"streams".to_vec(), streams(l, now)),
                ];
                if let Some(mos) = l.mos {
                    m.push((b"MOS".to_vec(), Value::Int((mos * 10.0).round() as i64)));
                }
                if let Some(rtt) = l.rtt_ms {
                    m.push((b"RTT".to_vec(), Value::Int((rtt * 1000.0).round() as i64)));
                }
                Value::Dict(m)
            })
            .collect();
        let entry = dict([
            ("tag", Value::str(tag)),
            ("created", unix(s.created)),
            ("in dialogue with", Value::str(&s.tags[1 - leg])),
            ("medias", Value::List(medias)),
        ]);
        tags.push((tag.as_bytes().to_vec(), entry));
    }
    let mut reply = vec![
        (b"result".to_vec(), Value::str("ok")),
        (b"created".to_vec(), unix(s.created)),
        (b"last signal".to_vec(), unix(s.last_signal)),
        (b"tags".to_vec(), Value::Dict(tags)),
        (
            b"totals".to_vec(),
            dict([
                ("RTP", counters(rtp.0, rtp.1, rtp.2)),
                ("RTCP", counters(rtcp.0, rtcp.1, 0)),
            ]),
        ),
    ];
    if let Some(r) = &s.recording_report {
        reply.push((
            b"recording".to_vec(),
            dict([
                ("path", Value::str(&r.path.display().to_string())),
                ("frames", Value::Int(r.frames as i64)),
                ("gaps", Value::Int(r.gaps as i64)),
            ]),
        ));
    }
    Value::Dict(reply)
}

/// The ng listener: one thread answering datagrams on a UDP socket.
pub struct NgServer {
    local: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for NgServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NgServer")
            .field("local", &self.local)
            .finish()
    }
}

impl NgServer {
    /// Binds `addr` and serves until dropped.
    pub fn spawn(control: Arc<dyn MediaControl>, addr: SocketAddr) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr)?;
        socket.set_read_timeout(Some(Duration::from_millis(200)))?;
        let local = socket.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("media-ng".into())
            .spawn(move || {
                let mut handler = NgHandler::new(control);
                let mut buf = vec![0u8; 65536];
                while !stop2.load(Ordering::Relaxed) {
                    let (n, from) = match socket.recv_from(&mut buf) {
                        Ok(x) => x,
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                            ) =>
                        {
                            continue;
                        }
                        Err(e) => {
                            // ICMP errors from an earlier reply surface here; keep serving.
                            tracing::debug!(error = %e, "ng receive error");
                            continue;
                        }
                    };
                    if let Some(reply) = handler.handle_datagram(Instant::now(), &buf[..n])
                        && let Err(e) = socket.send_to(&reply, from)
                    {
                        tracing::debug!(error = %e, %from, "ng reply not sent");
                    }
                }
            })?;
        Ok(Self {
            local,
            stop,
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }
}

impl Drop for NgServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A minimal blocking ng client (used by the load generator and tests).
#[derive(Debug)]
pub struct NgClient {
    socket: UdpSocket,
    server: SocketAddr,
    next: u64,
    salt: u64,
}

impl NgClient {
    /// A client talking to `server`.
    pub fn new(server: SocketAddr) -> io::Result<Self> {
        let bind: SocketAddr = if server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        }
        .parse()
        .map_err(io::Error::other)?;
        let socket = UdpSocket::bind(bind)?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        let salt = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos().into());
        Ok(Self {
            socket,
            server,
            next: 1,
            salt,
        })
    }

    /// Sends a command dictionary and waits for its reply (retrying twice on timeout).
    pub fn call(&mut self, msg: &Value) -> io::Result<Value> {
        // Servers cache replies by cookie, so cookies must be unique across clients too.
        static CLIENT_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = CLIENT_SEQ.fetch_add(1, Ordering::Relaxed);
        let cookie = format!("{}_{}_{}_{}", std::process::id(), self.salt, n, self.next);
        self.next += 1;
        let mut out = cookie.clone().into_bytes();
        out.push(b' ');
        msg.encode(&mut out);
        let mut buf = vec![0u8; 65536];
        for _ in 0..3 {
            self.socket.send_to(&out, self.server)?;
            loop {
                match self.socket.recv_from(&mut buf) {
                    Ok((n, _)) => {
                        let reply = &buf[..n];
                        let Some(sp) = reply.iter().position(|&b| b == b' ') else {
                            continue;
                        };
                        if &reply[..sp] != cookie.as_bytes() {
                            continue; // a late reply to an earlier retransmission
                        }
                        return bencode::decode(&reply[sp + 1..]).map_err(io::Error::other);
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "no ng reply"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
