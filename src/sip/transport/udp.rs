//! UDP: one receive task per socket, parsing datagrams (RFC 3261 §18.3: a datagram is
//! one message; octets after its Content-Length are ignored).

use std::net::SocketAddr;
use std::sync::Arc;

use std::io::ErrorKind;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

use bytes::Bytes;
use sip_core::transaction::Peer;
use sip_core::{Error, Message, Transport};
use socket2::{Domain, Protocol, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::{Inbound, Shared};

/// Receive buffer the kernel keeps for a SIP socket: a burst of REGISTERs from
/// thousands of slots at once must not be dropped by the kernel.
const SOCKET_BUFFER: usize = 8 * 1024 * 1024;
/// Room for one datagram: the largest a UDP socket can deliver, so nothing is truncated.
const SLOT: usize = 65_536;
/// Datagrams read per `recvmmsg` at most.
const SLOTS: usize = 8;

/// A SIP UDP socket, registered with the reactor for readability only: a UDP socket is
/// nearly always writable, and edge-triggered EPOLLOUT events after every send would
/// only wake the reactor for nothing.
pub(crate) type Socket = AsyncFd<std::net::UdpSocket>;

/// Bind a UDP socket with large kernel buffers. Call it inside the runtime that will
/// read it.
pub(super) fn bind(addr: SocketAddr) -> std::io::Result<Socket> {
    let socket = socket2::Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    // SAFETY: the UdpSocket owns its descriptor, which stays open and the same for as
    // long as the AsyncFd holds it.
    unsafe {
        AsyncFd::register_with_interest(std::net::UdpSocket::from(socket), Interest::READABLE)
    }
    .map_err(std::io::Error::other)
}

/// Read datagrams for ever; one bad datagram never stops the loop. Run it on the runtime
/// `socket` was bound in.
///
/// Each wake-up drains the socket with `recvmmsg`; a round that comes back short of
/// [`SLOTS`] means the queue was empty a moment ago, so readiness is cleared without
/// the extra read that would only say `EAGAIN` (a datagram arriving meanwhile raises a
/// new edge, which the reactor sees at its next poll). Each datagram is copied out of
/// the reusable buffers into an allocation of its own size: the buffers stay resident
/// (no page faults), and a message kept by a transaction keeps only its own bytes.
pub(super) async fn receive(socket: Arc<Socket>, index: u64, shared: Arc<Shared>) {
    let mut batch = RecvBatch::new();
    loop {
        let mut guard = match socket.readable().await {
            Ok(guard) => guard,
            Err(e) => {
                tracing::error!(error = %e, "UDP socket no longer readable; SIP receive stopped");
                return;
            }
        };
        loop {
            match batch.recv(socket.get_ref()) {
                Ok(n) => {
                    for i in 0..n {
                        let Some((data, from)) = batch.datagram(i) else {
                            continue;
                        };
                        let peer = Peer {
                            transport: Transport::Udp,
                            addr: from,
                            connection: Some(index),
                        };
                        handle_datagram(&socket, Bytes::copy_from_slice(data), peer, &shared);
                    }
                    if n < SLOTS {
                        guard.clear_ready();
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // ICMP port-unreachable from an earlier send shows up here on Linux; it
                // concerns that peer, not this socket, and is forgotten once reported.
                Err(e) => tracing::debug!(error = %e, "UDP receive error"),
            }
        }
    }
}

/// Buffers for one `recvmmsg` round, allocated once per socket.
struct RecvBatch {
    bufs: Box<[u8]>,
    addrs: Box<[libc::sockaddr_storage; SLOTS]>,
    iovs: Box<[libc::iovec; SLOTS]>,
    hdrs: Box<[libc::mmsghdr; SLOTS]>,
    received: usize,
}

// SAFETY: the raw pointers inside the headers only ever point into the boxes owned by
// the same value; nothing is shared.
unsafe impl Send for RecvBatch {}

impl RecvBatch {
    fn new() -> RecvBatch {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which
        // all-zero bytes are a valid value.
        let (addr, iov, hdr) = unsafe {
            (
                MaybeUninit::<libc::sockaddr_storage>::zeroed().assume_init(),
                MaybeUninit::<libc::iovec>::zeroed().assume_init(),
                MaybeUninit::<libc::mmsghdr>::zeroed().assume_init(),
            )
        };
        RecvBatch {
            bufs: vec![0u8; SLOT * SLOTS].into_boxed_slice(),
            addrs: Box::new([addr; SLOTS]),
            iovs: Box::new([iov; SLOTS]),
            hdrs: Box::new([hdr; SLOTS]),
            received: 0,
        }
    }

    /// One non-blocking `recvmmsg`: the number of datagrams read (at least one).
    fn recv(&mut self, socket: &std::net::UdpSocket) -> std::io::Result<usize> {
        self.received = 0;
        let base = self.bufs.as_mut_ptr();
        for i in 0..SLOTS {
            self.iovs[i] = libc::iovec {
                // SAFETY: slot i lies inside `bufs` (SLOT * SLOTS bytes).
                iov_base: unsafe { base.add(i * SLOT) }.cast(),
                iov_len: SLOT,
            };
            let h = &mut self.hdrs[i];
            h.msg_hdr.msg_name = (&raw mut self.addrs[i]).cast();
            h.msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &raw mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = std::ptr::null_mut();
            h.msg_hdr.msg_controllen = 0;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at buffers owned by self that outlive the call, with
        // lengths that match them.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                SLOTS as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        self.received = n as usize;
        Ok(self.received)
    }

    /// Datagram `i` of the last round and its source (`None` for an address family
    /// that is neither IPv4 nor IPv6).
    fn datagram(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        if i >= self.received {
            return None;
        }
        let h = &self.hdrs[i];
        let from = socket_addr(&self.addrs[i], h.msg_hdr.msg_namelen)?;
        let len = (h.msg_len as usize).min(SLOT);
        Some((&self.bufs[i * SLOT..i * SLOT + len], from))
    }
}

fn handle_datagram(socket: &Arc<Socket>, datagram: Bytes, peer: Peer, shared: &Shared) {
    match Message::parse_datagram(datagram.clone()) {
        Ok(message) => shared.deliver(Inbound::Message { message, peer }),
        // CRLF keep-alives (RFC 5626 §3.5.1 sends them over UDP too) need no answer.
        Err(Error::Empty) => {}
        Err(e) => {
            tracing::debug!(from = %peer.addr, error = %e, "malformed SIP datagram");
            if let Some(reply) =
                sip_core::reply::error_response(&datagram, &e, &super::random_tag())
            {
                send(socket, peer.addr, reply);
            }
        }
    }
}

/// The IPv4 or IPv6 address the kernel wrote into `storage` (`len` bytes of it), read
/// by socket2 as for any other socket call.
fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let mut owned = socket2::SockAddrStorage::zeroed();
    // SAFETY: sockaddr_storage is this platform's type for any socket address, and
    // SockAddrStorage is a transparent wrapper of it.
    unsafe { *owned.view_as::<libc::sockaddr_storage>() = *storage };
    // SAFETY: the kernel filled `len` bytes of it with an address.
    unsafe { socket2::SockAddr::new(owned, len) }.as_socket()
}

/// How long a datagram waits for room in a full send buffer before it is dropped (UDP
/// may lose it anyway; transactions retransmit).
const SEND_RETRY: std::time::Duration = std::time::Duration::from_millis(2);
const SEND_TRIES: u32 = 50;

/// Send one datagram without waiting; when the kernel buffer is full the send is retried
/// in the background for a while (the core must never block on the network).
pub(super) fn send(socket: &Arc<Socket>, dest: SocketAddr, payload: Bytes) {
    match socket.get_ref().send_to(&payload, dest) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::WouldBlock => {
            let socket = socket.clone();
            tokio::spawn(async move {
                for _ in 0..SEND_TRIES {
                    tokio::time::sleep(SEND_RETRY).await;
                    match socket.get_ref().send_to(&payload, dest) {
                        Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                        Err(e) => tracing::debug!(%dest, error = %e, "UDP send failed"),
                        Ok(_) => {}
                    }
                    return;
                }
                tracing::warn!(%dest, "UDP send buffer full for 100 ms; datagram dropped");
            });
        }
        Err(e) => tracing::debug!(%dest, error = %e, "UDP send failed"),
    }
}

/// Datagrams most per `sendmmsg`.
const SEND_BATCH: usize = 64;

/// Datagrams waiting to leave one socket together, and the headers `sendmmsg` needs,
/// kept between rounds so that sending allocates nothing once warm.
#[derive(Default)]
pub(crate) struct SendBatch {
    queued: Vec<(SocketAddr, Bytes)>,
    addrs: Vec<socket2::SockAddr>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iovs` and `hdrs` are only set and used inside `send`,
// pointing into `queued` and `addrs` of the same value.
unsafe impl Send for SendBatch {}

impl SendBatch {
    /// Queue a datagram for the next [`SendBatch::send`].
    pub(crate) fn push(&mut self, dest: SocketAddr, payload: Bytes) {
        self.queued.push((dest, payload));
    }

    /// Send what is queued from `socket`, `SEND_BATCH` datagrams per `sendmmsg`. What the
    /// kernel cannot take now (full send buffer) goes through [`send`], which retries it
    /// in the background; a datagram the kernel refuses (unreachable network, say) is
    /// dropped as a single send would drop it.
    pub(crate) fn send(&mut self, socket: &Arc<Socket>) {
        let mut start = 0;
        while start < self.queued.len() {
            let end = (start + SEND_BATCH).min(self.queued.len());
            match self.send_some(socket, start, end) {
                Ok(n) => start += n.max(1),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    for (dest, payload) in self.queued.drain(..).skip(start) {
                        send(socket, dest, payload);
                    }
                    return;
                }
                // The error concerns the first datagram of the round only.
                Err(e) => {
                    tracing::debug!(dest = %self.queued[start].0, error = %e, "UDP send failed");
                    start += 1;
                }
            }
        }
        self.queued.clear();
    }

    /// One `sendmmsg` of `queued[start..end]`: how many the kernel took.
    fn send_some(
        &mut self,
        socket: &Arc<Socket>,
        start: usize,
        end: usize,
    ) -> std::io::Result<usize> {
        let items = &self.queued[start..end];
        self.addrs.clear();
        self.addrs
            .extend(items.iter().map(|(dest, _)| socket2::SockAddr::from(*dest)));
        self.iovs.clear();
        self.iovs
            .extend(items.iter().map(|(_, payload)| libc::iovec {
                iov_base: payload.as_ptr().cast_mut().cast(),
                iov_len: payload.len(),
            }));
        self.hdrs.clear();
        for (addr, iov) in self.addrs.iter().zip(self.iovs.iter_mut()) {
            // SAFETY: mmsghdr is a plain C struct for which all-zero bytes are valid.
            let mut h: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
            h.msg_hdr.msg_name = addr.as_ptr().cast_mut().cast();
            h.msg_hdr.msg_namelen = addr.len();
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
            self.hdrs.push(h);
        }
        // SAFETY: every header points at an address and a payload owned by self (or by
        // the Bytes in `queued`), alive and unchanged until the call returns.
        let n = unsafe {
            libc::sendmmsg(
                socket.get_ref().as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::Duration;

    fn receiver() -> UdpSocket {
        let r = UdpSocket::bind("127.0.0.1:0").unwrap();
        r.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        r
    }

    fn recv(r: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0u8; 2048];
        let (n, from) = r.recv_from(&mut buf).unwrap();
        (buf[..n].to_vec(), from)
    }

    #[tokio::test]
    async fn a_batch_reaches_every_destination_in_order_from_the_socket() {
        let socket = Arc::new(bind("127.0.0.1:0".parse().unwrap()).unwrap());
        let local = socket.get_ref().local_addr().unwrap();
        let (a, b) = (receiver(), receiver());
        let mut batch = SendBatch::default();
        // More than one sendmmsg round.
        let count = SEND_BATCH + 3;
        for i in 0..count {
            let dest = if i % 2 == 0 { &a } else { &b };
            batch.push(dest.local_addr().unwrap(), Bytes::from(format!("msg {i}")));
        }
        batch.send(&socket);
        for i in 0..count {
            let dest = if i % 2 == 0 { &a } else { &b };
            assert_eq!(recv(dest), (format!("msg {i}").into_bytes(), local));
        }
        assert!(batch.queued.is_empty(), "sent datagrams are forgotten");
    }

    #[tokio::test]
    async fn a_refused_datagram_does_not_stop_the_others() {
        let socket = Arc::new(bind("127.0.0.1:0".parse().unwrap()).unwrap());
        let a = receiver();
        let mut batch = SendBatch::default();
        // An IPv6 destination on an IPv4 socket: EAFNOSUPPORT / EINVAL for that one.
        batch.push("[::1]:9".parse().unwrap(), Bytes::from_static(b"lost"));
        batch.push(a.local_addr().unwrap(), Bytes::from_static(b"kept"));
        batch.send(&socket);
        assert_eq!(recv(&a).0, b"kept");
    }
}
