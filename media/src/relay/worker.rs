//! A forwarding thread: owns some sessions and their sockets, and moves their packets.

use std::collections::HashMap;
use std::io::{self, Read as _, Write as _};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use super::batch::{BATCH, Batch};
use super::kernel::{EntryCounters, KernelForwarder, Route, source_ip};
use super::session::{RelaySession, Verdict};
use super::sys::{Epoll, connected_twin};
use crate::control::{Channel, Leg, MediaEvent, StreamStats};
use crate::recording::RecordingTap;

use super::session::LegConfig;
use std::sync::Arc;

/// Epoll token of the command waker.
const WAKER: u64 = u64::MAX;
/// How often timeouts are checked.
const TICK: Duration = Duration::from_millis(500);

/// Requests from the control side to a worker.
pub(crate) enum Command {
    /// Adopt a new session.
    AddSession {
        key: u64,
        session: Box<RelaySession>,
        /// Kept true by the worker while any of the session's directions is in the
        /// kernel, so the control side knows when a change must wait for the worker.
        in_kernel: Arc<AtomicBool>,
    },
    /// Adopt the RTP and RTCP sockets of one leg of one stream.
    AddSockets {
        key: u64,
        stream: usize,
        leg: Leg,
        rtp: UdpSocket,
        rtcp: UdpSocket,
    },
    /// Apply a leg's new SDP.
    UpdateLeg {
        key: u64,
        stream: usize,
        leg: Leg,
        cfg: Box<LegConfig>,
        relatch: bool,
        tag: Arc<str>,
    },
    /// Attach or detach a recording.
    SetRecording { key: u64, tap: Option<RecordingTap> },
    /// Report statistics.
    Stats {
        key: u64,
        reply: SyncSender<Vec<StreamStats>>,
    },
    /// Close the session's sockets, forget it, and report its final statistics.
    Remove {
        key: u64,
        reply: SyncSender<Vec<StreamStats>>,
    },
    /// Answer once every earlier command is applied (and with it, the kernel's entries).
    Barrier { reply: SyncSender<()> },
    /// Stop the thread.
    Shutdown,
}

/// The control side's handle on a worker.
pub(crate) struct WorkerHandle {
    tx: std::sync::mpsc::Sender<Command>,
    waker: UnixStream,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerHandle {
    /// Starts a worker thread.
    pub(crate) fn spawn(
        index: usize,
        coalesce: Duration,
        events: tokio::sync::mpsc::Sender<MediaEvent>,
        kernel: Option<Arc<KernelForwarder>>,
    ) -> io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (waker, wake_rx) = UnixStream::pair()?;
        waker.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let epoll = Epoll::new()?;
        epoll.add(wake_rx.as_raw_fd(), WAKER)?;
        let thread = std::thread::Builder::new()
            .name(format!("media-relay-{index}"))
            .spawn(move || {
                let mut w = Worker {
                    coalesce,
                    backlog: Vec::new(),
                    epoll,
                    wake_rx,
                    commands: rx,
                    events,
                    sockets: Vec::new(),
                    free_tokens: Vec::new(),
                    sessions: Vec::new(),
                    free_slots: Vec::new(),
                    keys: HashMap::new(),
                    dropped_events: 0,
                    kernel,
                };
                w.run();
                // Nothing this worker put in the kernel outlives it.
                for slot in 0..w.sessions.len() {
                    w.unload_kernel(slot);
                }
            })?;
        Ok(Self {
            tx,
            waker,
            thread: Some(thread),
        })
    }

    /// Sends a command and wakes the worker.
    pub(crate) fn send(&self, cmd: Command) -> Result<(), crate::MediaError> {
        self.tx
            .send(cmd)
            .map_err(|_| crate::MediaError::WorkerGone)?;
        // A full pipe already guarantees a wake-up, so WouldBlock is fine.
        match (&self.waker).write(&[1]) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            Err(_) => Err(crate::MediaError::WorkerGone),
        }
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        let _ = self.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct SocketEntry {
    socket: UdpSocket,
    slot: usize,
    stream: usize,
    leg: Leg,
    channel: Channel,
    /// For a twin: the latched peer it is connected to.
    peer: Option<SocketAddr>,
}

/// The sockets of one leg's channel, as epoll tokens.
#[derive(Debug, Clone, Copy, Default)]
struct LegSockets {
    /// The socket bound to the leg's port: receives everything until the leg latches,
    /// and afterwards whatever does not come from the latched address.
    bound: Option<usize>,
    /// The RTP socket connected to the latched address (see [`connected_twin`]): the
    /// fast path for the peer's packets both ways.
    twin: Option<usize>,
    /// The address a twin could not be made for (no second attempt per packet).
    twin_failed: Option<SocketAddr>,
}

struct WorkerSession {
    key: u64,
    relay: Box<RelaySession>,
    /// socks[stream][leg][channel]
    socks: Vec<[[LegSockets; 2]; 2]>,
    tokens: Vec<usize>,
    /// offloads[stream][leg]: the leg's RTP direction as it is in the kernel.
    offloads: Vec<[Option<Offload>; 2]>,
    /// Whether `offloads` holds any entry, for the control side (see `Command::AddSession`).
    in_kernel: Arc<AtomicBool>,
}

impl WorkerSession {
    /// Publishes whether any direction is in the kernel now.
    fn publish_offloads(&self) {
        let any = self.offloads.iter().flatten().any(Option::is_some);
        self.in_kernel.store(any, Ordering::Release);
    }
}

/// One leg direction in the kernel, and how much of its counters the session has.
struct Offload {
    route: Route,
    packets: u64,
    bytes: u64,
}

/// Adds what the kernel counted for a leg since the last call to its session.
fn credit(
    relay: &mut RelaySession,
    stream: usize,
    leg: Leg,
    off: &mut Offload,
    counters: Option<EntryCounters>,
) {
    let Some(c) = counters else { return };
    let packets = c.packets.saturating_sub(off.packets);
    let bytes = c.bytes.saturating_sub(off.bytes);
    (off.packets, off.bytes) = (c.packets, c.bytes);
    relay.handle_kernel_counters(stream, leg, packets, bytes, c.last_seen);
}

struct Worker {
    /// Pause after a busy wake-up so the next `epoll_wait` finds many sockets ready.
    coalesce: Duration,
    /// Sockets left with queued datagrams after their share of a wake-up (epoll mode).
    backlog: Vec<usize>,
    epoll: Epoll,
    wake_rx: UnixStream,
    commands: Receiver<Command>,
    events: tokio::sync::mpsc::Sender<MediaEvent>,
    sockets: Vec<Option<SocketEntry>>,
    free_tokens: Vec<usize>,
    sessions: Vec<Option<WorkerSession>>,
    free_slots: Vec<usize>,
    keys: HashMap<u64, usize>,
    dropped_events: u64,
    /// In-kernel forwarding, when the engine has it.
    kernel: Option<Arc<KernelForwarder>>,
}

impl Worker {
    fn run(&mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let mut batch = Batch::new();
        let mut next_tick = Instant::now() + TICK;
        loop {
            let timeout = if self.backlog.is_empty() {
                next_tick
                    .saturating_duration_since(Instant::now())
                    .as_millis()
            } else {
                0
            };
            let n = match self
                .epoll
                .wait(&mut events, i32::try_from(timeout).unwrap_or(500))
            {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "epoll_wait failed; relay worker stops");
                    return;
                }
            };
            let now = Instant::now();
            for ev in &events[..n] {
                let token = ev.u64;
                if token == WAKER {
                    if !self.drain_commands(now) {
                        return;
                    }
                } else {
                    self.forward(now, token as usize, &mut batch);
                }
            }
            for token in std::mem::take(&mut self.backlog) {
                self.forward(now, token, &mut batch);
            }
            // Interrupt coalescing: under load, one wake-up per packet costs more than the
            // forwarding itself (context switches, wake-up locks). Waiting a little lets one
            // epoll_wait return many ready sockets; media gains at most `coalesce` latency.
            if n > 0 && !self.coalesce.is_zero() && n < events.len() / 2 {
                std::thread::sleep(self.coalesce);
            }
            if now >= next_tick {
                next_tick = now + TICK;
                for slot in 0..self.sessions.len() {
                    // Kernel-forwarded packets count, and keep the media timeout away.
                    self.poll_kernel(slot);
                    if let Some(s) = self.sessions[slot].as_mut() {
                        s.relay.handle_timeout(now);
                        self.flush_events(slot);
                    }
                }
            }
        }
    }

    /// Moves the packets waiting on one socket.
    fn forward(&mut self, now: Instant, token: usize, batch: &mut Batch) {
        let Some(Some(entry)) = self.sockets.get(token) else {
            return;
        };
        let (fd, slot, stream, leg, channel) = (
            entry.socket.as_raw_fd(),
            entry.slot,
            entry.stream,
            entry.leg,
            entry.channel,
        );
        let Some(Some(sess)) = self.sessions.get_mut(slot) else {
            return;
        };
        // The other leg's sockets when relaying; this very leg's when echoing.
        let out = sess
            .socks
            .get(stream)
            .map(|s| s[sess.relay.output_leg(leg).index()][channel.index()])
            .unwrap_or_default();
        let out_bound = out.bound.and_then(|t| self.sockets.get(t)?.as_ref());
        let out_twin = out.twin.and_then(|t| self.sockets.get(t)?.as_ref());
        let out_bound = out_bound.map(|e| e.socket.as_raw_fd());
        let out_twin = out_twin.and_then(|e| Some((e.socket.as_raw_fd(), e.peer?)));
        // Only a packet that latches the leg changes what its twin must be connected to
        // (a signalled move is handled where it is applied): compare, rather than look up
        // the twin's state for every packet.
        let latched_before = sess.relay.latched(stream, leg, channel);
        let mut latched_now = latched_before;
        // Edge-triggered epoll: read until a round comes back short of a full batch. A
        // busy socket gets at most a few rounds before the others are served, since at
        // most the datagrams queued by now are read.
        for round in 0..4 {
            let n = match batch.recv(fd) {
                Ok(n) => n,
                Err(e) => {
                    tracing::debug!(error = %e, "recvmmsg failed");
                    break;
                }
            };
            let mut any = false;
            // Whether every forwarded datagram goes to the peer the twin is connected to.
            let mut to_twin = out_twin.is_some();
            for i in 0..n.min(BATCH) {
                let Some((data, src)) = batch.datagram(i) else {
                    continue;
                };
                let dst = match sess
                    .relay
                    .handle_packet(now, stream, leg, channel, src, data)
                {
                    Verdict::Forward(dst) => dst,
                    Verdict::Reflect { dst, ssrc } => {
                        batch.set_ssrc(i, ssrc);
                        dst
                    }
                    Verdict::Drop(_) => continue,
                };
                batch.set_dest(i, dst);
                to_twin &= out_twin.map(|(_, peer)| peer) == Some(dst);
                any = true;
            }
            if channel == Channel::Rtp
                && let Some(k) = self.kernel.as_ref()
                && sess.relay.latched(stream, leg, channel) != latched_now
            {
                // The kernel learns of the latch before the packet that made it leaves:
                // a reply it provokes must find the kernel's entries up to date.
                latched_now = sess.relay.latched(stream, leg, channel);
                sync_session(k, &self.sockets, sess);
            }
            if any {
                match (out_twin, out_bound) {
                    (Some((twin, _)), _) if to_twin => batch.send_connected(twin),
                    (_, Some(bound)) => batch.send(bound),
                    _ => 0,
                };
            }
            if n < BATCH {
                break;
            }
            if round == 3 {
                // Still full: no new edge will come for what is queued, so come back to
                // this socket after serving the others.
                self.backlog.push(token);
            }
        }
        if channel == Channel::Rtp && sess.relay.latched(stream, leg, channel) != latched_before {
            self.follow_latch(slot, stream, leg);
        }
        self.flush_events(slot);
    }

    /// Keeps a leg's RTP twin connected to the address the leg latched onto: made when
    /// the leg latches, closed when a signalled change forgets the address.
    ///
    /// RTCP keeps only its bound socket: at one packet every few seconds per leg the
    /// twin would cost a descriptor and save nothing measurable.
    fn follow_latch(&mut self, slot: usize, stream: usize, leg: Leg) {
        let Some(Some(sess)) = self.sessions.get_mut(slot) else {
            return;
        };
        let latched = sess.relay.latched(stream, leg, Channel::Rtp);
        let Some(ls) = sess
            .socks
            .get_mut(stream)
            .map(|s| &mut s[leg.index()][Channel::Rtp.index()])
        else {
            return;
        };
        let current = ls.twin.and_then(|t| self.sockets.get(t)?.as_ref()?.peer);
        if current == latched || (ls.twin.is_none() && ls.twin_failed == latched) {
            return;
        }
        if let Some(old) = ls.twin.take() {
            unwatch(&self.epoll, &mut self.sockets, &mut self.free_tokens, old);
            sess.tokens.retain(|t| *t != old);
        }
        ls.twin_failed = None;
        let Some(peer) = latched else { return };
        let Some(base) = ls
            .bound
            .and_then(|t| self.sockets.get(t)?.as_ref())
            .map(|e| &e.socket)
        else {
            return;
        };
        let made = connected_twin(base, peer).and_then(|socket| {
            let entry = SocketEntry {
                socket,
                slot,
                stream,
                leg,
                channel: Channel::Rtp,
                peer: Some(peer),
            };
            watch(&self.epoll, &mut self.sockets, &mut self.free_tokens, entry)
        });
        match made {
            Ok(token) => {
                ls.twin = Some(token);
                sess.tokens.push(token);
            }
            Err(e) => {
                // The bound socket carries on alone: correct, only a little dearer.
                tracing::debug!(error = %e, %peer, "no connected socket for a latched leg");
                ls.twin_failed = Some(peer);
            }
        }
    }

    fn flush_events(&mut self, slot: usize) {
        let Some(Some(sess)) = self.sessions.get_mut(slot) else {
            return;
        };
        while let Some(ev) = sess.relay.poll_event() {
            // Never block the forwarding loop on a slow consumer.
            if self.events.try_send(ev).is_err() {
                self.dropped_events += 1;
                if self.dropped_events.is_power_of_two() {
                    tracing::warn!(
                        dropped = self.dropped_events,
                        "media event queue full; events dropped"
                    );
                }
            }
        }
    }

    /// Applies pending commands; false when the worker must stop.
    fn drain_commands(&mut self, now: Instant) -> bool {
        let mut sink = [0u8; 256];
        while let Ok(n) = self.wake_rx.read(&mut sink) {
            if n == 0 {
                return false; // control side gone
            }
        }
        loop {
            match self.commands.try_recv() {
                Ok(Command::Shutdown) => return false,
                Ok(cmd) => self.apply(now, cmd),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn apply(&mut self, now: Instant, cmd: Command) {
        match cmd {
            Command::AddSession {
                key,
                session,
                in_kernel,
            } => {
                let ws = WorkerSession {
                    key,
                    relay: session,
                    socks: Vec::new(),
                    tokens: Vec::new(),
                    offloads: Vec::new(),
                    in_kernel,
                };
                let slot = match self.free_slots.pop() {
                    Some(s) => {
                        self.sessions[s] = Some(ws);
                        s
                    }
                    None => {
                        self.sessions.push(Some(ws));
                        self.sessions.len() - 1
                    }
                };
                self.keys.insert(key, slot);
            }
            Command::AddSockets {
                key,
                stream,
                leg,
                rtp,
                rtcp,
            } => {
                let Some(&slot) = self.keys.get(&key) else {
                    return;
                };
                for (channel, socket) in [(Channel::Rtp, rtp), (Channel::Rtcp, rtcp)] {
                    let entry = SocketEntry {
                        socket,
                        slot,
                        stream,
                        leg,
                        channel,
                        peer: None,
                    };
                    let token =
                        match watch(&self.epoll, &mut self.sockets, &mut self.free_tokens, entry) {
                            Ok(token) => token,
                            Err(e) => {
                                tracing::error!(error = %e, "cannot watch media socket");
                                continue;
                            }
                        };
                    if let Some(Some(s)) = self.sessions.get_mut(slot) {
                        while s.socks.len() <= stream {
                            s.socks.push(Default::default());
                        }
                        s.socks[stream][leg.index()][channel.index()].bound = Some(token);
                        s.tokens.push(token);
                    }
                }
            }
            Command::UpdateLeg {
                key,
                stream,
                leg,
                cfg,
                relatch,
                tag,
            } => {
                if let Some(&slot) = self.keys.get(&key)
                    && let Some(Some(s)) = self.sessions.get_mut(slot)
                {
                    s.relay.set_tag(leg, tag);
                    s.relay.update_leg(now, stream, leg, *cfg, relatch);
                    // A forgotten address closes the twin connected to it.
                    self.follow_latch(slot, stream, leg);
                    // Hold, a move or new payload types change what the kernel may do.
                    self.sync_kernel(slot);
                }
            }
            Command::SetRecording { key, tap } => {
                if let Some(&slot) = self.keys.get(&key)
                    && let Some(Some(s)) = self.sessions.get_mut(slot)
                {
                    s.relay.set_recording(tap);
                    // Recorded packets must pass through here: out of the kernel with the
                    // next packet, back in when the recording stops.
                    self.sync_kernel(slot);
                }
            }
            Command::Stats { key, reply } => {
                if let Some(&slot) = self.keys.get(&key) {
                    self.poll_kernel(slot);
                }
                let stats = self
                    .session_mut(key)
                    .map(|s| s.relay.stats(now))
                    .unwrap_or_default();
                let _ = reply.try_send(stats);
            }
            Command::Remove { key, reply } => {
                let stats = match self.keys.remove(&key) {
                    Some(slot) => self.remove_slot(slot, now),
                    None => Vec::new(),
                };
                // The sockets are closed now, so the control side may reuse the ports.
                let _ = reply.try_send(stats);
            }
            Command::Barrier { reply } => {
                let _ = reply.try_send(());
            }
            Command::Shutdown => {}
        }
    }

    fn session_mut(&mut self, key: u64) -> Option<&mut WorkerSession> {
        let slot = *self.keys.get(&key)?;
        self.sessions.get_mut(slot)?.as_mut()
    }

    fn remove_slot(&mut self, slot: usize, now: Instant) -> Vec<StreamStats> {
        // Out of the kernel before the sockets close: the ports may be reused at once.
        self.unload_kernel(slot);
        let Some(sess) = self.sessions.get_mut(slot).and_then(Option::take) else {
            return Vec::new();
        };
        for &t in &sess.tokens {
            unwatch(&self.epoll, &mut self.sockets, &mut self.free_tokens, t);
        }
        self.free_slots.push(slot);
        tracing::debug!(key = sess.key, "relay session removed");
        sess.relay.stats(now)
    }
}

/// Watches `entry`'s socket under a free token (or a new one) and stores the entry there;
/// returns the token. On failure the token stays free.
fn watch(
    epoll: &Epoll,
    sockets: &mut Vec<Option<SocketEntry>>,
    free_tokens: &mut Vec<usize>,
    entry: SocketEntry,
) -> io::Result<usize> {
    let token = free_tokens.pop().unwrap_or(sockets.len());
    if let Err(e) = epoll.add(entry.socket.as_raw_fd(), token as u64) {
        if token < sockets.len() {
            free_tokens.push(token);
        }
        return Err(e);
    }
    if token == sockets.len() {
        sockets.push(Some(entry));
    } else {
        sockets[token] = Some(entry);
    }
    Ok(token)
}

/// Stops watching the socket under `token`, closes it and frees the token.
fn unwatch(
    epoll: &Epoll,
    sockets: &mut [Option<SocketEntry>],
    free_tokens: &mut Vec<usize>,
    token: usize,
) {
    if let Some(entry) = sockets.get_mut(token).and_then(Option::take) {
        let _ = epoll.remove(entry.socket.as_raw_fd());
        free_tokens.push(token);
    }
}

/// The kernel route `leg`'s RTP of `stream` should have now, if any.
fn wanted_route(
    sockets: &[Option<SocketEntry>],
    sess: &WorkerSession,
    stream: usize,
    leg: Leg,
) -> Option<Route> {
    let (from, dst, dtmf) = sess.relay.kernel_path(stream, leg)?;
    let socks = sess.socks.get(stream)?;
    let bound = |l: Leg| -> Option<SocketAddr> {
        let t = socks[l.index()][Channel::Rtp.index()].bound?;
        sockets.get(t)?.as_ref()?.socket.local_addr().ok()
    };
    let (ours, other) = (bound(leg)?, bound(leg.other())?);
    Some(Route {
        from,
        // Bound to 0.0.0.0: the peer may use any of our addresses (the advertised one,
        // or the private twin of a NATed public one), and the program takes them all.
        to_us: match ours {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => return None,
        },
        via: SocketAddrV4::new(source_ip(other.ip(), dst)?, other.port()),
        dst,
        dtmf,
    })
}

/// Makes the kernel's entries for a session what its state allows: inserted when a
/// direction becomes plain forwarding, replaced when its destination moves, removed
/// (with its counters credited) when it stops being plain forwarding.
fn sync_session(k: &KernelForwarder, sockets: &[Option<SocketEntry>], sess: &mut WorkerSession) {
    let wanted: Vec<(usize, Leg, Option<Route>)> = (0..sess.socks.len())
        .flat_map(|st| [Leg::A, Leg::B].map(|leg| (st, leg)))
        .map(|(st, leg)| (st, leg, wanted_route(sockets, sess, st, leg)))
        .collect();
    for (stream, leg, want) in wanted {
        while sess.offloads.len() <= stream {
            sess.offloads.push([None, None]);
        }
        let cur = &mut sess.offloads[stream][leg.index()];
        if cur.as_ref().map(|o| o.route) == want {
            continue;
        }
        if let Some(mut old) = cur.take() {
            let last = k.remove(&old.route.key());
            credit(&mut sess.relay, stream, leg, &mut old, last);
            sess.relay.kernel_left(stream, leg);
        }
        if let Some(route) = want {
            match k.insert(&route) {
                Ok(()) => {
                    *cur = Some(Offload {
                        route,
                        packets: 0,
                        bytes: 0,
                    });
                }
                // The userspace relay carries the leg: correct, only dearer.
                Err(e) => tracing::debug!(error = %e, "leg not forwarded in the kernel"),
            }
        }
    }
    sess.publish_offloads();
}

impl Worker {
    /// [`sync_session`] for the session in `slot`.
    fn sync_kernel(&mut self, slot: usize) {
        let (Some(k), Some(Some(sess))) = (self.kernel.as_ref(), self.sessions.get_mut(slot))
        else {
            return;
        };
        sync_session(k, &self.sockets, sess);
    }

    /// Credits a session with what the kernel forwarded for it since the last poll.
    fn poll_kernel(&mut self, slot: usize) {
        self.settle_kernel(slot, false);
    }

    /// Takes every entry of a session out of the kernel, crediting the last counts.
    fn unload_kernel(&mut self, slot: usize) {
        self.settle_kernel(slot, true);
    }

    /// Credits the session in `slot` with its kernel counters; with `remove`, takes its
    /// entries out of the kernel as it reads them.
    fn settle_kernel(&mut self, slot: usize, remove: bool) {
        let Some(k) = self.kernel.as_ref() else {
            return;
        };
        let Some(Some(sess)) = self.sessions.get_mut(slot) else {
            return;
        };
        for (stream, legs) in sess.offloads.iter_mut().enumerate() {
            for (leg, entry) in [Leg::A, Leg::B].into_iter().zip(legs.iter_mut()) {
                let Some(off) = entry else { continue };
                let key = off.route.key();
                let counters = if remove { k.remove(&key) } else { k.read(&key) };
                credit(&mut sess.relay, stream, leg, off, counters);
                if remove {
                    *entry = None;
                    sess.relay.kernel_left(stream, leg);
                }
            }
        }
        if remove {
            sess.publish_offloads();
        }
    }
}
