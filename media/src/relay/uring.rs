//! The io_uring forwarding loop.
//!
//! With epoll every packet costs two system calls (receive on one leg's socket, send
//! from the other's), since at 50 packets/s a socket rarely holds more than one
//! datagram. Here each socket always has one receive queued in the ring; its completion
//! is forwarded by queueing a send from the other leg's socket with the same buffer (no
//! copy), and the send's completion queues the next receive. One `io_uring_enter` per
//! loop submits every queued operation and collects every completion, for all calls of
//! the worker at once.
//!
//! Buffers live in boxed slots that stay put while the kernel may touch them; a removed
//! socket is closed only after the kernel has reported its last operation.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, squeue, types};

use super::session::Verdict;
use super::sys::{MAX_DATAGRAM, from_storage, to_storage};
use super::worker::Worker;

const KIND_SHIFT: u32 = 56;
const RECV: u64 = 1;
const SEND: u64 = 2;
const WAKE: u64 = 3;
const CANCEL: u64 = 4;
const TOKEN_MASK: u64 = (1 << KIND_SHIFT) - 1;
const TICK: Duration = Duration::from_millis(500);

fn ud(kind: u64, token: usize) -> u64 {
    (kind << KIND_SHIFT) | (token as u64 & TOKEN_MASK)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Recv,
    Send,
}

/// Per-socket buffers the kernel reads and writes while an operation is in flight.
struct Slot {
    buf: [u8; MAX_DATAGRAM],
    src: libc::sockaddr_storage,
    dst: libc::sockaddr_storage,
    iov: libc::iovec,
    msg: libc::msghdr,
    state: State,
    /// Set when the socket's session was removed: kept open until its operation ends.
    closing: Option<UdpSocket>,
}

impl Slot {
    fn new() -> Box<Self> {
        // SAFETY: all-zero bytes are valid for these plain C structs.
        let (src, dst, iov, msg) = unsafe {
            (
                std::mem::MaybeUninit::zeroed().assume_init(),
                std::mem::MaybeUninit::zeroed().assume_init(),
                std::mem::MaybeUninit::zeroed().assume_init(),
                std::mem::MaybeUninit::zeroed().assume_init(),
            )
        };
        Box::new(Self {
            buf: [0; MAX_DATAGRAM],
            src,
            dst,
            iov,
            msg,
            state: State::Idle,
            closing: None,
        })
    }
}

/// The ring and the slots of one worker.
pub(super) struct Ring {
    ring: IoUring,
    slots: Vec<Option<Box<Slot>>>,
    wake_buf: Box<[u8; 64]>,
    /// Tokens whose socket may be closed after the next submission.
    finalize_next: Vec<usize>,
}

impl Ring {
    pub(super) fn new() -> io::Result<Self> {
        // Single issuer and deferred task running cut the kernel's bookkeeping per
        // completion; older kernels refuse them, so fall back to a plain ring.
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .build(4096)
            .or_else(|_| IoUring::builder().setup_coop_taskrun().build(4096))
            .or_else(|_| IoUring::new(4096))?;
        Ok(Self {
            ring,
            slots: Vec::new(),
            wake_buf: Box::new([0; 64]),
            finalize_next: Vec::new(),
        })
    }

    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every entry points at buffers in boxed slots (or the wake buffer)
            // that stay alive and in place until the operation's completion is reaped.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            // Submission queue full: hand what is queued to the kernel and retry.
            if let Err(e) = self.ring.submit() {
                tracing::warn!(error = %e, "io_uring submit failed");
                return;
            }
        }
    }

    fn arm_wake(&mut self, fd: i32) {
        let e = opcode::Read::new(types::Fd(fd), self.wake_buf.as_mut_ptr(), 64)
            .build()
            .user_data(ud(WAKE, 0));
        self.push(e);
    }

    fn arm_recv(&mut self, token: usize, fd: i32) {
        while self.slots.len() <= token {
            self.slots.push(None);
        }
        let slot = self.slots[token].get_or_insert_with(Slot::new);
        slot.iov = libc::iovec {
            iov_base: slot.buf.as_mut_ptr().cast(),
            iov_len: MAX_DATAGRAM,
        };
        slot.msg.msg_name = (&mut slot.src as *mut libc::sockaddr_storage).cast();
        slot.msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        slot.msg.msg_iov = &mut slot.iov;
        slot.msg.msg_iovlen = 1;
        slot.msg.msg_control = std::ptr::null_mut();
        slot.msg.msg_controllen = 0;
        slot.msg.msg_flags = 0;
        slot.state = State::Recv;
        let e = opcode::RecvMsg::new(types::Fd(fd), &mut slot.msg)
            .build()
            .user_data(ud(RECV, token));
        self.push(e);
    }
}

impl Worker {
    pub(super) fn run_uring(&mut self, mut ring: Ring) {
        let wake_fd = self.wake_rx.as_raw_fd();
        ring.arm_wake(wake_fd);
        let mut next_tick = Instant::now() + TICK;
        loop {
            // Arm receives for sockets added by commands.
            for token in std::mem::take(&mut self.new_tokens) {
                if let Some(Some(entry)) = self.sockets.get(token) {
                    let fd = entry.socket.as_raw_fd();
                    ring.arm_recv(token, fd);
                }
            }
            // Cancel operations of removed sockets.
            for (token, socket) in std::mem::take(&mut self.retired) {
                match ring.slots.get_mut(token).and_then(Option::as_mut) {
                    Some(slot) if slot.state != State::Idle => {
                        slot.closing = Some(socket);
                        if slot.state == State::Recv {
                            let e = opcode::AsyncCancel::new(ud(RECV, token))
                                .build()
                                .user_data(ud(CANCEL, token));
                            ring.push(e);
                        }
                    }
                    _ => {
                        if let Some(Some(slot)) = ring.slots.get_mut(token) {
                            slot.closing = Some(socket);
                        } else {
                            drop(socket);
                            self.free_tokens.push(token);
                            continue;
                        }
                        ring.finalize_next.push(token);
                    }
                }
            }
            let wait = next_tick.saturating_duration_since(Instant::now());
            let ts = types::Timespec::new()
                .sec(wait.as_secs())
                .nsec(wait.subsec_nanos());
            let args = types::SubmitArgs::new().timespec(&ts);
            match ring.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                    ) => {}
                Err(e) => {
                    tracing::error!(error = %e, "io_uring_enter failed; relay worker stops");
                    return;
                }
            }
            // Operations referring to these sockets are now in the kernel's hands or done.
            for token in std::mem::take(&mut ring.finalize_next) {
                self.finalize(&mut ring, token);
            }
            self.answer_removals(&ring);
            let now = Instant::now();
            let mut completions = 0usize;
            loop {
                let Some(cqe) = ring.ring.completion().next() else {
                    break;
                };
                completions += 1;
                let data = cqe.user_data();
                let token = (data & TOKEN_MASK) as usize;
                match data >> KIND_SHIFT {
                    WAKE => {
                        if cqe.result() == 0 || !self.drain_commands(now) {
                            return;
                        }
                        ring.arm_wake(wake_fd);
                    }
                    RECV => self.on_recv(&mut ring, now, token, cqe.result(), cqe.flags()),
                    SEND => self.after_op(&mut ring, token),
                    _ => {} // cancel acknowledgements: the cancelled op reports on its own
                }
            }
            self.answer_removals(&ring);
            if now >= next_tick {
                next_tick = now + TICK;
                for slot in 0..self.sessions.len() {
                    if let Some(s) = self.sessions[slot].as_mut() {
                        s.relay.handle_timeout(now);
                        self.flush_events(slot);
                    }
                }
            }
            if completions > 0 && !self.coalesce.is_zero() && completions < 2048 {
                std::thread::sleep(self.coalesce);
            }
        }
    }

    fn on_recv(&mut self, ring: &mut Ring, now: Instant, token: usize, res: i32, _flags: u32) {
        let Some(Some(slot)) = ring.slots.get_mut(token) else {
            return;
        };
        slot.state = State::Idle;
        if slot.closing.is_some() {
            self.finalize(ring, token);
            return;
        }
        let Some(Some(entry)) = self.sockets.get(token) else {
            return;
        };
        let in_fd = entry.socket.as_raw_fd();
        if res < 0 || slot.msg.msg_flags & libc::MSG_TRUNC != 0 {
            // ICMP errors and oversized datagrams: nothing to forward, keep listening.
            ring.arm_recv(token, in_fd);
            return;
        }
        let (sess_slot, stream, leg, channel) =
            (entry.slot, entry.stream, entry.leg, entry.channel);
        let len = res as usize;
        let src = from_storage(&slot.src, slot.msg.msg_namelen);
        let Some(Some(sess)) = self.sessions.get_mut(sess_slot) else {
            ring.arm_recv(token, in_fd);
            return;
        };
        let out_fd = sess
            .fds
            .get(stream)
            .and_then(|f| f[leg.other().index()][channel.index()]);
        let verdict = match src {
            Some(src) => sess.relay.handle_packet(
                now,
                stream,
                leg,
                channel,
                src,
                &slot.buf[..len.min(MAX_DATAGRAM)],
            ),
            None => Verdict::Drop(super::session::DropReason::Malformed),
        };
        match (verdict, out_fd) {
            (Verdict::Forward(dst), Some(out)) => {
                let dlen = to_storage(dst, &mut slot.dst);
                slot.iov = libc::iovec {
                    iov_base: slot.buf.as_mut_ptr().cast(),
                    iov_len: len,
                };
                slot.msg.msg_name = (&mut slot.dst as *mut libc::sockaddr_storage).cast();
                slot.msg.msg_namelen = dlen;
                slot.msg.msg_iov = &mut slot.iov;
                slot.msg.msg_iovlen = 1;
                slot.msg.msg_flags = 0;
                slot.state = State::Send;
                let e = opcode::SendMsg::new(types::Fd(out), &slot.msg)
                    .build()
                    .user_data(ud(SEND, token));
                ring.push(e);
            }
            _ => ring.arm_recv(token, in_fd),
        }
        self.flush_events(sess_slot);
    }

    /// A send finished: listen again (or close, if the socket was removed meanwhile).
    fn after_op(&mut self, ring: &mut Ring, token: usize) {
        let Some(Some(slot)) = ring.slots.get_mut(token) else {
            return;
        };
        slot.state = State::Idle;
        if slot.closing.is_some() {
            self.finalize(ring, token);
            return;
        }
        if let Some(Some(entry)) = self.sockets.get(token) {
            let fd = entry.socket.as_raw_fd();
            ring.arm_recv(token, fd);
        }
    }

    /// Answers removals whose sockets are all closed.
    fn answer_removals(&mut self, ring: &Ring) {
        self.pending_removals.retain_mut(|(tokens, reply, stats)| {
            let open = tokens
                .iter()
                .any(|t| ring.slots.get(*t).is_some_and(Option::is_some));
            if !open {
                let _ = reply.try_send(std::mem::take(stats));
            }
            open
        });
    }

    /// Closes a removed socket whose slot has no operation left, and frees its token.
    fn finalize(&mut self, ring: &mut Ring, token: usize) {
        if let Some(slot_opt) = ring.slots.get_mut(token)
            && slot_opt
                .as_ref()
                .is_some_and(|s| s.state == State::Idle && s.closing.is_some())
        {
            *slot_opt = None;
            self.free_tokens.push(token);
        }
    }
}
