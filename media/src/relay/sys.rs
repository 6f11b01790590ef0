//! Thin wrappers over the Linux calls the forwarding loop needs: epoll, recvmmsg and
//! sendmmsg. All `unsafe` of the crate lives here, each block with its reason.
//!
//! Why not tokio: one task per socket would make the task count grow with the call count,
//! and tokio's UDP API has no batched receive or send. A few threads, each with its own
//! epoll set, forward for all calls; `recvmmsg` drains up to [`BATCH`] datagrams of a
//! socket in one call and `sendmmsg` sends them all to the other leg in one call.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Datagrams moved per system call at most.
pub(crate) const BATCH: usize = 32;
/// Largest datagram accepted; anything longer is truncated and dropped.
pub(crate) const MAX_DATAGRAM: usize = 2048;

/// An epoll instance. Sockets are edge-triggered: every arriving datagram raises an
/// event, so a reader that got fewer than [`BATCH`] datagrams has drained the socket, and
/// epoll need not poll each reported socket a second time as level-triggered mode does.
#[derive(Debug)]
pub(crate) struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    /// Creates the instance.
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: epoll_create1 has no pointer arguments; a non-negative result is a fresh
        // descriptor that we own from here on.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is valid and owned by nobody else.
        Ok(Self {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watches `fd` for input, reporting `token` when it is readable.
    pub(crate) fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLET) as u32,
            u64: token,
        };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Stops watching `fd` (closing it would too; this makes the intent explicit).
    pub(crate) fn remove(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: ev is valid (ignored by the kernel for DEL, required non-null by old ones).
        let rc = unsafe { libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// Waits up to `timeout_ms` for readiness; fills `events` and returns how many.
    pub(crate) fn wait(
        &self,
        events: &mut [libc::epoll_event],
        timeout_ms: i32,
    ) -> io::Result<usize> {
        let max = i32::try_from(events.len()).unwrap_or(i32::MAX);
        // SAFETY: events points to `max` writable epoll_event slots.
        let n =
            unsafe { libc::epoll_wait(self.fd.as_raw_fd(), events.as_mut_ptr(), max, timeout_ms) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(0);
            }
            return Err(e);
        }
        Ok(n as usize)
    }
}

/// Preallocated buffers for one `recvmmsg`/`sendmmsg` round: no allocation per packet.
pub(crate) struct Batch {
    bufs: Box<[[u8; MAX_DATAGRAM]; BATCH]>,
    lens: [usize; BATCH],
    addrs: Box<[libc::sockaddr_storage; BATCH]>,
    iovs: Box<[libc::iovec; BATCH]>,
    hdrs: Box<[libc::mmsghdr; BATCH]>,
    /// Destination of datagram i when sending; `None` means "not forwarded".
    dests: [Option<SocketAddr>; BATCH],
    received: usize,
    /// Entries changed since they were last set up for receiving.
    touched: usize,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("received", &self.received)
            .finish()
    }
}

impl Default for Batch {
    fn default() -> Self {
        Self::new()
    }
}

impl Batch {
    /// Allocates the buffers once.
    pub(crate) fn new() -> Self {
        // SAFETY: sockaddr_storage, iovec and mmsghdr are plain C structs for which all-zero
        // bytes are a valid value.
        let zero_addr: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
        let zero_iov: libc::iovec = unsafe { MaybeUninit::zeroed().assume_init() };
        let zero_hdr: libc::mmsghdr = unsafe { MaybeUninit::zeroed().assume_init() };
        Self {
            bufs: Box::new([[0u8; MAX_DATAGRAM]; BATCH]),
            lens: [0; BATCH],
            addrs: Box::new([zero_addr; BATCH]),
            iovs: Box::new([zero_iov; BATCH]),
            hdrs: Box::new([zero_hdr; BATCH]),
            dests: [None; BATCH],
            received: 0,
            touched: BATCH,
        }
    }

    /// Receives up to [`BATCH`] datagrams from `fd` without blocking; returns how many.
    pub(crate) fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // Only entries the last round used (received into, or rearranged by `send`) need
        // resetting; at 50 packets/s per socket that is usually one, not all of them.
        let dirty = self.touched.clamp(1, BATCH);
        for i in 0..dirty {
            self.iovs[i] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: MAX_DATAGRAM,
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            self.hdrs[i].msg_len = 0;
            self.dests[i] = None;
        }
        self.touched = 0;
        // SAFETY: every header points at buffers owned by self that outlive the call, with
        // lengths that match the buffers.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            self.received = 0;
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let n = n as usize;
        self.touched = n;
        for i in 0..n {
            let truncated = self.hdrs[i].msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.lens[i] = if truncated {
                0
            } else {
                self.hdrs[i].msg_len as usize
            };
        }
        self.received = n;
        Ok(n)
    }

    /// Datagram `i` of the last receive and its source (`None` for an unknown family or a
    /// truncated datagram).
    pub(crate) fn datagram(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        if i >= self.received || self.lens[i] == 0 {
            return None;
        }
        let addr = from_storage(&self.addrs[i], self.hdrs[i].msg_hdr.msg_namelen)?;
        Some((&self.bufs[i][..self.lens[i]], addr))
    }

    /// Marks datagram `i` to be sent to `dest` by the next [`send`](Self::send).
    pub(crate) fn set_dest(&mut self, i: usize, dest: SocketAddr) {
        if i < BATCH {
            self.dests[i] = Some(dest);
        }
    }

    /// Overwrites the RTP SSRC (octets 8..12) of datagram `i` in place (echo mode); a
    /// datagram too short to hold one is left alone.
    pub(crate) fn set_ssrc(&mut self, i: usize, ssrc: u32) {
        if i < self.received
            && self.lens[i] >= 12
            && let Some(field) = self.bufs[i].get_mut(8..12)
        {
            field.copy_from_slice(&ssrc.to_be_bytes());
        }
    }

    /// Queues a copy of `data` for `dest` (for senders that build packets themselves, like
    /// the load generator); false when the batch is full or `data` too long.
    pub(crate) fn push(&mut self, data: &[u8], dest: SocketAddr) -> bool {
        let i = self.received;
        if i >= BATCH || data.len() > MAX_DATAGRAM {
            return false;
        }
        self.bufs[i][..data.len()].copy_from_slice(data);
        self.lens[i] = data.len();
        self.dests[i] = Some(dest);
        self.received += 1;
        self.touched = self.touched.max(self.received);
        true
    }

    /// Datagrams queued or received and not yet sent.
    pub(crate) fn len(&self) -> usize {
        self.received
    }

    /// Sends every datagram marked with a destination from `fd`, in one or a few
    /// `sendmmsg` calls. Returns how many the kernel took; datagrams it refused
    /// (full buffer, unreachable) are counted by the caller as lost.
    pub(crate) fn send(&mut self, fd: RawFd) -> usize {
        let mut count = 0usize;
        for i in 0..self.received {
            let Some(dest) = self.dests[i] else { continue };
            let len = to_storage(dest, &mut self.addrs[count]);
            // Compact the marked datagrams to the front of the header array.
            self.iovs[count] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.lens[i],
            };
            let h = &mut self.hdrs[count].msg_hdr;
            h.msg_name = (&mut self.addrs[count] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = len;
            h.msg_iov = &mut self.iovs[count];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            count += 1;
        }
        self.received = 0;
        self.touched = self.touched.max(count);
        let mut sent = 0usize;
        while sent < count {
            // SAFETY: headers [sent, count) point at buffers and addresses owned by self.
            let n = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[sent..].as_mut_ptr(),
                    (count - sent) as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if n <= 0 {
                // EAGAIN (socket buffer full) or an ICMP error reported on this socket:
                // skip the datagram at the head and go on with the rest.
                sent += 1;
                continue;
            }
            sent += n as usize;
        }
        count
    }
}

/// Converts a kernel socket address to `SocketAddr`.
fn from_storage(s: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and storage is large
            // and aligned enough for any socket address type.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Writes `addr` into kernel form; returns its length.
fn to_storage(addr: SocketAddr, s: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: storage is large and aligned enough for sockaddr_in.
            let out: &mut libc::sockaddr_in =
                unsafe { &mut *(s as *mut libc::sockaddr_storage).cast() };
            out.sin_family = libc::AF_INET as libc::sa_family_t;
            out.sin_port = a.port().to_be();
            out.sin_addr = libc::in_addr {
                s_addr: u32::from(*a.ip()).to_be(),
            };
            out.sin_zero = [0; 8];
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: storage is large and aligned enough for sockaddr_in6.
            let out: &mut libc::sockaddr_in6 =
                unsafe { &mut *(s as *mut libc::sockaddr_storage).cast() };
            out.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            out.sin6_port = a.port().to_be();
            out.sin6_flowinfo = a.flowinfo();
            out.sin6_addr = libc::in6_addr {
                s6_addr: a.ip().octets(),
            };
            out.sin6_scope_id = a.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn batch_round_trip_over_loopback() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let relay_out = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..5u8 {
            tx.send_to(&[i; 30], rx.local_addr().unwrap()).unwrap();
        }
        let ep = Epoll::new().unwrap();
        ep.add(rx.as_raw_fd(), 7).unwrap();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        let n = ep.wait(&mut events, 1000).unwrap();
        assert_eq!(n, 1);
        assert_eq!({ events[0].u64 }, 7);
        let mut b = Batch::new();
        let mut got = 0;
        while got < 5 {
            let n = b.recv(rx.as_raw_fd()).unwrap();
            for i in 0..n {
                let (data, src) = b.datagram(i).unwrap();
                assert_eq!(src, tx.local_addr().unwrap());
                assert_eq!(data.len(), 30);
                b.set_dest(i, sink.local_addr().unwrap());
                if got + i == 0 {
                    b.set_ssrc(i, 0xaabb_ccdd);
                }
            }
            got += n;
            assert_eq!(b.send(relay_out.as_raw_fd()), n);
        }
        let mut buf = [0u8; 64];
        for i in 0..5u8 {
            let (len, from) = sink.recv_from(&mut buf).unwrap();
            assert_eq!(
                (len, buf[0], from),
                (30, i, relay_out.local_addr().unwrap())
            );
            let ssrc = if i == 0 {
                [0xaa, 0xbb, 0xcc, 0xdd]
            } else {
                [i; 4]
            };
            assert_eq!(
                buf[8..12],
                ssrc,
                "only the datagram rewritten in place changed"
            );
        }
        ep.remove(rx.as_raw_fd()).unwrap();
    }

    #[test]
    fn address_conversion_both_families() {
        let mut s: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
        for a in ["192.0.2.1:5004", "[2001:db8::1]:6000"] {
            let addr: SocketAddr = a.parse().unwrap();
            let len = to_storage(addr, &mut s);
            assert_eq!(from_storage(&s, len), Some(addr));
        }
    }
}
