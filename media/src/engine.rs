//! The media engine: sessions, ports, workers and the recorder behind [`MediaControl`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use sip_core::sdp::SessionDescription;

use crate::config::{KernelForwarding, MediaConfig};
use crate::control::{
    Leg, MediaControl, MediaEvent, RecordingReport, SdpOptions, SessionStats, StreamStats,
};
use crate::error::MediaError;
use crate::offer_answer::echo::EchoOrigin;
use crate::offer_answer::{StreamDesc, describe, rewrite};
use crate::ports::PortAllocator;
use crate::recording::{RecorderHandle, RecordingTap, recording_path, wav};
use crate::relay::kernel::{KernelForwarder, KernelStats};
use crate::relay::session::{LegConfig, RelaySession, Timeouts};
use crate::relay::worker::{Command, WorkerHandle};

mod echo;

/// Capacity of the event channel; a slow consumer loses events rather than stalling media.
const EVENT_QUEUE: usize = 8192;

/// The media engine. Cheap to clone; all clones drive the same engine.
///
/// ```no_run
/// use media::{MediaConfig, MediaControl, MediaEngine, SdpOptions};
/// let (engine, mut events) = MediaEngine::start(MediaConfig::default())?;
/// let offer = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
/// let to_callee = engine.offer("call-1", "tagA", offer, &SdpOptions::default())?;
/// # Ok::<(), media::MediaError>(())
/// ```
#[derive(Clone)]
pub struct MediaEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MediaEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaEngine")
            .field("advertised", &self.inner.advertised)
            .finish()
    }
}

struct Inner {
    config: MediaConfig,
    advertised: IpAddr,
    ports: Mutex<PortAllocator>,
    sessions: Mutex<HashMap<String, SessionCtl>>,
    workers: Vec<WorkerHandle>,
    next_key: AtomicU64,
    recorder: RecorderHandle,
    events: tokio::sync::mpsc::Sender<MediaEvent>,
    /// In-kernel forwarding, when enabled and available. Declared after `workers`, so
    /// the workers have taken their entries out before the program is detached.
    kernel: Option<Arc<KernelForwarder>>,
}

struct StreamCtl {
    /// RTP port of leg A's and leg B's relay sockets; `None` for a stream never accepted
    /// (and always for leg B of an echo session, which has no sockets).
    ports: [Option<u16>; 2],
    /// The addresses each leg last signalled, to spot a signalled change (re-latch).
    signalled: [Option<(Option<SocketAddr>, Option<SocketAddr>)>; 2],
}

struct SessionCtl {
    key: u64,
    worker: usize,
    created: SystemTime,
    last_signal: SystemTime,
    tags: [Option<Arc<str>>; 2],
    streams: Vec<StreamCtl>,
    recording: Option<(RecordingTap, PathBuf)>,
    /// The relay's `o=` line when this is an echo session; `None` for a relayed call.
    echo: Option<EchoOrigin>,
    /// True while the worker has any of the session's directions in the kernel.
    in_kernel: Arc<AtomicBool>,
}

impl MediaEngine {
    /// Validates the configuration, repairs recordings a crash left behind, and starts
    /// the relay workers and the recorder. Returns the engine and its event stream.
    pub fn start(
        config: MediaConfig,
    ) -> Result<(Self, tokio::sync::mpsc::Receiver<MediaEvent>), MediaError> {
        config.validate()?;
        match wav::repair_dir(&config.recordings_dir) {
            Ok(fixed) if !fixed.is_empty() => {
                tracing::warn!(count = fixed.len(), "repaired truncated recordings")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not scan recordings for repair"),
        }
        let (tx, rx) = tokio::sync::mpsc::channel(EVENT_QUEUE);
        let n = if config.workers == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            config.workers
        };
        let kernel = match config.kernel_forwarding {
            KernelForwarding::Off => None,
            mode => match KernelForwarder::start(&config.rtp_ports, config.bind_ip) {
                Ok(k) => {
                    tracing::info!(
                        interfaces = ?k.interfaces(),
                        "in-kernel RTP forwarding active (eBPF at TC ingress)"
                    );
                    Some(Arc::new(k))
                }
                Err(e) if mode == KernelForwarding::On => {
                    return Err(MediaError::Config(format!(
                        "kernel_forwarding = \"on\": {e}"
                    )));
                }
                Err(e) => {
                    tracing::info!(error = %e, "RTP relayed in userspace only");
                    None
                }
            },
        };
        let workers = (0..n)
            .map(|i| WorkerHandle::spawn(i, config.coalesce, tx.clone(), kernel.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let recorder = RecorderHandle::spawn()?;
        let inner = Inner {
            advertised: config.advertised_ip(),
            ports: Mutex::new(PortAllocator::new(config.rtp_ports.clone())),
            sessions: Mutex::new(HashMap::new()),
            workers,
            next_key: AtomicU64::new(1),
            recorder,
            events: tx,
            config,
            kernel,
        };
        Ok((
            Self {
                inner: Arc::new(inner),
            },
            rx,
        ))
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &MediaConfig {
        &self.inner.config
    }

    /// Counters of in-kernel forwarding; `None` when the relay runs in userspace only.
    pub fn kernel_stats(&self) -> Option<KernelStats> {
        self.inner.kernel.as_ref().map(|k| k.stats())
    }

    /// The interfaces in-kernel forwarding is attached to (empty when it is off).
    pub fn kernel_interfaces(&self) -> Vec<String> {
        self.inner
            .kernel
            .as_ref()
            .map(|k| k.interfaces().to_vec())
            .unwrap_or_default()
    }

    /// Free RTP port pairs.
    pub fn free_port_pairs(&self) -> usize {
        lock(&self.inner.ports).available()
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, SessionCtl>> {
        lock(&self.inner.sessions)
    }

    fn worker(&self, s: &SessionCtl) -> Result<&WorkerHandle, MediaError> {
        self.inner
            .workers
            .get(s.worker)
            .ok_or(MediaError::WorkerGone)
    }

    /// Binds an RTP/RTCP socket pair on a free even/odd port pair.
    fn bind_pair(&self) -> Result<(u16, UdpSocket, UdpSocket), MediaError> {
        let mut ports = lock(&self.inner.ports);
        let attempts = ports.capacity().max(1);
        for _ in 0..attempts {
            let Some(port) = ports.allocate() else { break };
            let ip = self.inner.config.bind_ip;
            let bound = UdpSocket::bind((ip, port)).and_then(|rtp| {
                let rtcp = UdpSocket::bind((ip, port + 1))?;
                rtp.set_nonblocking(true)?;
                rtcp.set_nonblocking(true)?;
                Ok((rtp, rtcp))
            });
            match bound {
                Ok((rtp, rtcp)) => return Ok((port, rtp, rtcp)),
                Err(e) => {
                    // Someone else holds one of the two ports: put the pair back at the end.
                    tracing::debug!(port, error = %e, "port pair busy");
                    ports.release(port);
                }
            }
        }
        Err(MediaError::PortsExhausted)
    }

    fn new_session(&self) -> Result<SessionCtl, MediaError> {
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        let worker = (key as usize) % self.inner.workers.len().max(1);
        let s = SessionCtl {
            key,
            worker,
            created: SystemTime::now(),
            last_signal: SystemTime::now(),
            tags: [None, None],
            streams: Vec::new(),
            recording: None,
            echo: None,
            in_kernel: Arc::new(AtomicBool::new(false)),
        };
        Ok(s)
    }

    /// Applies one leg's SDP to the session and returns the SDP for the other leg.
    fn apply_sdp(
        &self,
        call_id: &str,
        s: &mut SessionCtl,
        author: Leg,
        mut sdp: SessionDescription,
        opts: &SdpOptions,
        is_answer: bool,
    ) -> Result<Bytes, MediaError> {
        let descs: Vec<StreamDesc> = describe(&sdp, opts.address_override());
        if is_answer && descs.len() > s.streams.len() {
            // RFC 3264 §6: an answer has exactly the offer's m= lines.
            return Err(MediaError::NotAcceptable(
                "answer has more m= lines than the offer",
            ));
        }
        if descs.is_empty() {
            return Err(MediaError::NotAcceptable("no media description"));
        }
        let worker = self.worker(s)?;
        for (i, d) in descs.iter().enumerate() {
            if s.streams.len() <= i {
                s.streams.push(StreamCtl {
                    ports: [None, None],
                    signalled: [None, None],
                });
            }
            if s.streams[i].ports[0].is_none() && !d.rejected {
                let (pa, a_rtp, a_rtcp) = self.bind_pair()?;
                let (pb, b_rtp, b_rtcp) = match self.bind_pair() {
                    Ok(p) => p,
                    Err(e) => {
                        drop((a_rtp, a_rtcp));
                        lock(&self.inner.ports).release(pa);
                        return Err(e);
                    }
                };
                worker.send(Command::AddSockets {
                    key: s.key,
                    stream: i,
                    leg: Leg::A,
                    rtp: a_rtp,
                    rtcp: a_rtcp,
                })?;
                worker.send(Command::AddSockets {
                    key: s.key,
                    stream: i,
                    leg: Leg::B,
                    rtp: b_rtp,
                    rtcp: b_rtcp,
                })?;
                s.streams[i].ports = [Some(pa), Some(pb)];
            }
            self.signal_leg(s, i, author, d.cfg.clone())?;
        }
        let ports: Vec<Option<u16>> = s
            .streams
            .iter()
            .map(|st| st.ports[author.other().index()])
            .collect();
        s.last_signal = SystemTime::now();
        // Packets the kernel forwards do not wait for the worker: the new SDP (a move, a
        // hold) must be applied to the kernel's entries before the answer goes out.
        self.barrier(s)?;
        let out = rewrite(&mut sdp, &descs, &ports, self.inner.advertised, opts);
        if (opts.record || self.inner.config.record_calls) && s.recording.is_none() {
            self.start_recording_locked(call_id, s)?;
        }
        Ok(out)
    }

    /// Hands a leg's new SDP for one stream to the worker.
    fn signal_leg(
        &self,
        s: &mut SessionCtl,
        stream: usize,
        leg: Leg,
        cfg: LegConfig,
    ) -> Result<(), MediaError> {
        let worker = self.worker(s)?;
        let Some(st) = s.streams.get_mut(stream) else {
            return Err(MediaError::NotAcceptable("stream index out of range"));
        };
        let now_addr = (cfg.rtp, cfg.rtcp);
        // Re-latch only when the leg signals a different address (a real move).
        let relatch = matches!(st.signalled[leg.index()], Some(prev) if prev != now_addr && now_addr.0.is_some());
        st.signalled[leg.index()] = Some(now_addr);
        let tag = s.tags[leg.index()].clone().unwrap_or_else(|| Arc::from(""));
        worker.send(Command::UpdateLeg {
            key: s.key,
            stream,
            leg,
            cfg: Box::new(cfg),
            relatch,
            tag,
        })
    }

    fn start_recording_locked(
        &self,
        call_id: &str,
        s: &mut SessionCtl,
    ) -> Result<PathBuf, MediaError> {
        if let Some((_, path)) = &s.recording {
            return Ok(path.clone());
        }
        let cfg = &self.inner.config;
        let path = unused_path(recording_path(
            &cfg.recordings_dir,
            &cfg.recording_pattern,
            call_id,
            SystemTime::now(),
        ));
        let tap = self
            .inner
            .recorder
            .start(path.clone(), Instant::now())
            .map_err(MediaError::Recording)?;
        self.worker(s)?.send(Command::SetRecording {
            key: s.key,
            tap: Some(tap.clone()),
        })?;
        s.recording = Some((tap, path.clone()));
        // Recorded legs leave the kernel before this returns: no packet goes unrecorded.
        self.barrier(s)?;
        Ok(path)
    }

    /// With in-kernel forwarding, waits until the session's worker has applied every
    /// command sent so far (the userspace relay orders commands and packets itself).
    /// A session with nothing in the kernel needs no wait (a new call's offer and answer
    /// never do): the worker applies commands before the packets that follow them.
    fn barrier(&self, s: &SessionCtl) -> Result<(), MediaError> {
        if self.inner.kernel.is_none() || !s.in_kernel.load(Ordering::Acquire) {
            return Ok(());
        }
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        self.worker(s)?.send(Command::Barrier { reply })?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| MediaError::WorkerGone)
    }

    fn stop_recording_locked(
        &self,
        call_id: &str,
        s: &mut SessionCtl,
    ) -> Result<RecordingReport, MediaError> {
        let Some((tap, _)) = s.recording.take() else {
            return Err(MediaError::Recording(format!(
                "call {call_id:?} is not being recorded"
            )));
        };
        // Detach first so that no packet is queued after the stop marker.
        self.worker(s)?.send(Command::SetRecording {
            key: s.key,
            tap: None,
        })?;
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        self.worker(s)?.send(Command::Stats { key: s.key, reply })?;
        let _ = rx.recv_timeout(Duration::from_secs(2));
        let report = self
            .inner
            .recorder
            .stop(&tap, Instant::now())
            .map_err(MediaError::Recording)?;
        let _ = self.inner.events.try_send(MediaEvent::RecordingFinished {
            call_id: Arc::from(call_id),
            report: report.clone(),
        });
        Ok(report)
    }

    fn query(&self, s: &SessionCtl, remove: bool) -> Result<Vec<StreamStats>, MediaError> {
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        let cmd = if remove {
            Command::Remove { key: s.key, reply }
        } else {
            Command::Stats { key: s.key, reply }
        };
        self.worker(s)?.send(cmd)?;
        let mut stats = rx
            .recv_timeout(Duration::from_secs(5))
            .map_err(|_| MediaError::WorkerGone)?;
        for (st, ctl) in stats.iter_mut().zip(&s.streams) {
            for (leg, port) in st.legs.iter_mut().zip(ctl.ports) {
                if let Some(p) = port {
                    leg.local_rtp_port = p;
                }
            }
        }
        Ok(stats)
    }

    fn session_stats(call_id: &str, s: &SessionCtl, streams: Vec<StreamStats>) -> SessionStats {
        SessionStats {
            call_id: call_id.to_owned(),
            created: s.created,
            last_signal: s.last_signal,
            tags: [0, 1].map(|i| s.tags[i].as_deref().unwrap_or("").to_owned()),
            streams,
            recording: s.recording.as_ref().map(|(_, p)| p.clone()),
            recording_report: None,
        }
    }
}

/// `path`, or `name-2.wav`, `name-3.wav`, ... if it exists: recording a call a second
/// time (stop, then start again) must not overwrite the first file.
fn unused_path(path: PathBuf) -> PathBuf {
    if !path.exists() {
        return path;
    }
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (2..)
        .map(|n| path.with_file_name(format!("{stem}-{n}{ext}")))
        .find(|p| !p.exists())
        .unwrap_or(path)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves consistent data here (every critical section
    // only inserts or removes whole entries), so poisoning is not a reason to stop.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl MediaControl for MediaEngine {
    fn offer(
        &self,
        call_id: &str,
        from_tag: &str,
        sdp: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError> {
        let parsed = SessionDescription::parse(sdp)?;
        let mut sessions = self.sessions();
        let created = !sessions.contains_key(call_id);
        if created {
            let s = self.new_session()?;
            let relay = RelaySession::new(
                Arc::from(call_id),
                Timeouts {
                    media: self.inner.config.media_timeout,
                    hold: self.inner.config.hold_timeout,
                },
            );
            self.inner.workers[s.worker].send(Command::AddSession {
                key: s.key,
                session: Box::new(relay),
                in_kernel: s.in_kernel.clone(),
            })?;
            sessions.insert(call_id.to_owned(), s);
        }
        let Some(s) = sessions.get_mut(call_id) else {
            return Err(MediaError::UnknownSession(call_id.to_owned()));
        };
        if s.echo.is_some() {
            return Err(MediaError::WrongSessionKind {
                call_id: call_id.to_owned(),
                existing: "echo",
            });
        }
        let author = match (&s.tags[0], &s.tags[1]) {
            (None, _) => {
                s.tags[0] = Some(Arc::from(from_tag));
                Leg::A
            }
            (Some(a), _) if &**a == from_tag => Leg::A,
            (_, Some(b)) if &**b == from_tag => Leg::B,
            _ => {
                return Err(MediaError::UnknownTag {
                    call_id: call_id.to_owned(),
                    tag: from_tag.to_owned(),
                });
            }
        };
        let result = self.apply_sdp(call_id, s, author, parsed, opts, false);
        if result.is_err() && created {
            self.discard_new_session(sessions, call_id);
        }
        result
    }

    fn answer(
        &self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        sdp: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError> {
        let parsed = SessionDescription::parse(sdp)?;
        let mut sessions = self.sessions();
        let s = sessions
            .get_mut(call_id)
            .ok_or_else(|| MediaError::UnknownSession(call_id.to_owned()))?;
        if s.echo.is_some() {
            return Err(MediaError::WrongSessionKind {
                call_id: call_id.to_owned(),
                existing: "echo",
            });
        }
        if s.streams.is_empty() {
            return Err(MediaError::NoOffer(call_id.to_owned()));
        }
        let author = match (&s.tags[0], &s.tags[1]) {
            (_, Some(b)) if &**b == to_tag => Leg::B,
            (Some(a), _) if &**a == to_tag => Leg::A,
            (Some(a), None) if &**a == from_tag => {
                s.tags[1] = Some(Arc::from(to_tag));
                Leg::B
            }
            _ => {
                return Err(MediaError::UnknownTag {
                    call_id: call_id.to_owned(),
                    tag: to_tag.to_owned(),
                });
            }
        };
        self.apply_sdp(call_id, s, author, parsed, opts, true)
    }

    fn delete(&self, call_id: &str) -> Result<SessionStats, MediaError> {
        let s = self
            .sessions()
            .remove(call_id)
            .ok_or_else(|| MediaError::UnknownSession(call_id.to_owned()))?;
        self.teardown(call_id, s)
    }

    fn stats(&self, call_id: &str) -> Result<SessionStats, MediaError> {
        let sessions = self.sessions();
        let s = sessions
            .get(call_id)
            .ok_or_else(|| MediaError::UnknownSession(call_id.to_owned()))?;
        let streams = self.query(s, false)?;
        Ok(Self::session_stats(call_id, s, streams))
    }

    fn list(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.sessions().keys().cloned().collect();
        ids.sort();
        ids
    }

    fn start_recording(&self, call_id: &str) -> Result<PathBuf, MediaError> {
        let mut sessions = self.sessions();
        let s = sessions
            .get_mut(call_id)
            .ok_or_else(|| MediaError::UnknownSession(call_id.to_owned()))?;
        self.start_recording_locked(call_id, s)
    }

    fn stop_recording(&self, call_id: &str) -> Result<RecordingReport, MediaError> {
        let mut sessions = self.sessions();
        let s = sessions
            .get_mut(call_id)
            .ok_or_else(|| MediaError::UnknownSession(call_id.to_owned()))?;
        self.stop_recording_locked(call_id, s)
    }
}

impl MediaEngine {
    /// Removes a session that a failed first offer has just created: a half-made
    /// session is never left behind.
    fn discard_new_session(
        &self,
        mut sessions: MutexGuard<'_, HashMap<String, SessionCtl>>,
        call_id: &str,
    ) {
        if let Some(s) = sessions.remove(call_id) {
            drop(sessions);
            let _ = self.teardown(call_id, s);
        }
    }

    /// Stops recording, removes the session from its worker and frees its ports.
    fn teardown(&self, call_id: &str, mut s: SessionCtl) -> Result<SessionStats, MediaError> {
        let report = if s.recording.is_some() {
            self.stop_recording_locked(call_id, &mut s).ok()
        } else {
            None
        };
        let streams = self.query(&s, true);
        // The worker has closed the sockets once it answered; only then are ports reusable.
        let mut ports = lock(&self.inner.ports);
        for port in s.streams.iter().flat_map(|st| st.ports).flatten() {
            ports.release(port);
        }
        drop(ports);
        let mut stats = Self::session_stats(call_id, &s, streams?);
        stats.recording_report = report;
        Ok(stats)
    }
}
