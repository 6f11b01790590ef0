//! Thin wrappers over the Linux calls the forwarding loop needs: epoll, connected twin
//! sockets and socket address conversion. All `unsafe` of the crate lives here and in
//! [`batch`](super::batch) (recvmmsg/sendmmsg), each block with its reason.
//!
//! Why not tokio: one task per socket would make the task count grow with the call count,
//! and tokio's UDP API has no batched receive or send. A few threads, each with its own
//! epoll set, forward for all calls; `recvmmsg` drains up to [`BATCH`] datagrams of a
//! socket in one call and `sendmmsg` sends them all to the other leg in one call.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use socket2::{Domain, Protocol, SockRef, Socket, Type};

#[cfg(doc)]
use super::batch::BATCH;

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

/// Opens a second socket on `base`'s local address, connected to `peer`: the fast path
/// for a leg that has latched.
///
/// A connected UDP socket sends without a route lookup per datagram (the route is cached
/// at `connect`), without hashing a fresh IP ID per datagram, and without passing an
/// address; and the kernel hands it only `peer`'s datagrams. Everything else sent to the
/// port (RTP injection, a peer that moved without signalling) still arrives on `base`,
/// which stays unconnected, so the worker keeps seeing, dropping and counting it.
///
/// Two sockets can share the port only through `SO_REUSEPORT`, which both need while the
/// second one binds. It is switched off on both right after: a connected socket wins the
/// lookup for its peer whatever that flag says, and with the flag cleared no other socket
/// (of this or another process of the same user) can join the port later. Datagrams that
/// reach the twin in the instant between its `bind` and `connect` come with their source
/// address like any other, so the worker's latching check still sees them.
pub(crate) fn connected_twin(base: &UdpSocket, peer: SocketAddr) -> io::Result<UdpSocket> {
    let local = base.local_addr()?;
    let base_ref = SockRef::from(base);
    base_ref.set_reuse_port(true)?;
    let twin = (|| {
        let s = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
        if local.is_ipv6() {
            // Both sockets must agree, or the second bind conflicts (or covers less).
            s.set_only_v6(base_ref.only_v6()?)?;
        }
        s.set_reuse_port(true)?;
        s.bind(&local.into())?;
        s.connect(&peer.into())?;
        s.set_reuse_port(false)?;
        s.set_nonblocking(true)?;
        Ok::<_, io::Error>(UdpSocket::from(s))
    })();
    // Whatever happened, close the port to further sharing again.
    let closed = base_ref.set_reuse_port(false);
    let twin = twin?;
    closed?;
    Ok(twin)
}

/// Converts a kernel socket address to `SocketAddr`.
pub(crate) fn from_storage(s: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
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
pub(crate) fn to_storage(addr: SocketAddr, s: &mut libc::sockaddr_storage) -> libc::socklen_t {
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
    use std::mem::MaybeUninit;
    use std::time::Duration;

    #[test]
    fn epoll_reports_a_readable_socket_with_its_token() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let ep = Epoll::new().unwrap();
        ep.add(rx.as_raw_fd(), 7).unwrap();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
        assert_eq!(ep.wait(&mut events, 0).unwrap(), 0, "nothing queued yet");
        tx.send_to(&[1; 30], rx.local_addr().unwrap()).unwrap();
        assert_eq!(ep.wait(&mut events, 1000).unwrap(), 1);
        assert_eq!({ events[0].u64 }, 7);
        ep.remove(rx.as_raw_fd()).unwrap();
        tx.send_to(&[2; 30], rx.local_addr().unwrap()).unwrap();
        assert_eq!(ep.wait(&mut events, 0).unwrap(), 0, "no longer watched");
    }

    /// The port's traffic splits by source: the peer's datagrams go to the twin, all others
    /// to the base socket; the twin sends from the port without naming the destination;
    /// nobody else can bind the port afterwards.
    fn twin_splits_traffic(ip: &str) {
        let base = UdpSocket::bind((ip, 0)).unwrap();
        let port = base.local_addr().unwrap();
        let peer = UdpSocket::bind((ip, 0)).unwrap();
        let other = UdpSocket::bind((ip, 0)).unwrap();
        for s in [&base, &peer, &other] {
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        }
        let twin = connected_twin(&base, peer.local_addr().unwrap()).unwrap();
        twin.set_nonblocking(false).unwrap();
        twin.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(twin.local_addr().unwrap().port(), port.port());
        for i in 0..20u8 {
            peer.send_to(&[i], port).unwrap();
            other.send_to(&[100 + i], port).unwrap();
        }
        let mut buf = [0u8; 8];
        for i in 0..20u8 {
            assert_eq!(
                twin.recv_from(&mut buf).unwrap(),
                (1, peer.local_addr().unwrap())
            );
            assert_eq!(buf[0], i);
            assert_eq!(
                base.recv_from(&mut buf).unwrap(),
                (1, other.local_addr().unwrap())
            );
            assert_eq!(buf[0], 100 + i);
        }
        twin.send(&[42]).unwrap();
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!((n, buf[0], from.port()), (1, 42, port.port()));
        let intruder =
            Socket::new(Domain::for_address(port), Type::DGRAM, Some(Protocol::UDP)).unwrap();
        intruder.set_reuse_port(true).unwrap();
        assert!(
            intruder.bind(&port.into()).is_err(),
            "the port is closed to sharing again"
        );
        // After the twin closes, the base socket gets the peer's datagrams again.
        drop(twin);
        peer.send_to(&[7], port).unwrap();
        assert_eq!(
            base.recv_from(&mut buf).unwrap(),
            (1, peer.local_addr().unwrap())
        );
    }

    #[test]
    fn twin_splits_traffic_ipv4() {
        twin_splits_traffic("127.0.0.1");
    }

    #[test]
    fn twin_splits_traffic_ipv6() {
        if UdpSocket::bind("[::1]:0").is_err() {
            return; // no IPv6 loopback on this machine
        }
        twin_splits_traffic("::1");
    }

    #[test]
    fn twin_of_a_wildcard_socket() {
        let base = UdpSocket::bind("0.0.0.0:0").unwrap();
        let port = base.local_addr().unwrap().port();
        let peer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let twin = connected_twin(&base, peer.local_addr().unwrap()).unwrap();
        twin.set_nonblocking(false).unwrap();
        twin.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        peer.send_to(&[9], ("127.0.0.1", port)).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(
            twin.recv_from(&mut buf).unwrap(),
            (1, peer.local_addr().unwrap())
        );
    }

    #[test]
    fn address_conversion_both_families() {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut s: libc::sockaddr_storage = unsafe { MaybeUninit::zeroed().assume_init() };
        for a in ["192.0.2.1:5004", "[2001:db8::1]:6000"] {
            let addr: SocketAddr = a.parse().unwrap();
            let len = to_storage(addr, &mut s);
            assert_eq!(from_storage(&s, len), Some(addr));
        }
    }
}
