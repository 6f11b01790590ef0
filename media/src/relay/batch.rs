//! Preallocated buffers for batched socket I/O: `recvmmsg` drains a socket, `sendmmsg`
//! (or `send` for a single datagram on a connected socket) passes what was received on.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use super::sys::{from_storage, to_storage};

/// Datagrams moved per system call at most.
pub(crate) const BATCH: usize = 32;
/// Largest datagram accepted; anything longer is truncated and dropped.
pub(crate) const MAX_DATAGRAM: usize = 2048;

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
        self.received = 0;
        let mut retried = false;
        let n = loop {
            // SAFETY: every header points at buffers owned by self that outlive the call,
            // with lengths that match the buffers.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    self.hdrs.as_mut_ptr(),
                    BATCH as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                break n as usize;
            }
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => return Ok(0),
                // A connected socket reports an ICMP error (the peer's port closed) before
                // the datagrams queued behind it, and forgets it once reported: read again,
                // or those datagrams wait for the next edge.
                _ if !retried => retried = true,
                _ => return Err(e),
            }
        };
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
        self.send_marked(fd, true)
    }

    /// Like [`send`](Self::send), from a socket connected to the one destination every
    /// marked datagram has: no address is passed, so the kernel uses the route it cached
    /// at `connect`. A single datagram goes out with `send`, which copies no message
    /// headers.
    pub(crate) fn send_connected(&mut self, fd: RawFd) -> usize {
        self.send_marked(fd, false)
    }

    fn send_marked(&mut self, fd: RawFd, named: bool) -> usize {
        let mut count = 0usize;
        for i in 0..self.received {
            let Some(dest) = self.dests[i] else { continue };
            // Compact the marked datagrams to the front of the header array.
            self.iovs[count] = libc::iovec {
                iov_base: self.bufs[i].as_mut_ptr().cast(),
                iov_len: self.lens[i],
            };
            let h = &mut self.hdrs[count].msg_hdr;
            if named {
                h.msg_namelen = to_storage(dest, &mut self.addrs[count]);
                h.msg_name = (&mut self.addrs[count] as *mut libc::sockaddr_storage).cast();
            } else {
                h.msg_namelen = 0;
                h.msg_name = std::ptr::null_mut();
            }
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
        let mut taken = 0usize;
        let mut retried = false;
        while sent < count {
            let n = if count - sent == 1 && !named {
                let iov = self.iovs[sent];
                // SAFETY: the iovec points at a buffer owned by self holding iov_len bytes.
                let n = unsafe { libc::send(fd, iov.iov_base, iov.iov_len, libc::MSG_DONTWAIT) };
                isize::from(n >= 0)
            } else {
                // SAFETY: headers [sent, count) point at buffers and addresses owned by self.
                unsafe {
                    libc::sendmmsg(
                        fd,
                        self.hdrs[sent..].as_mut_ptr(),
                        (count - sent) as u32,
                        libc::MSG_DONTWAIT,
                    ) as isize
                }
            };
            if n > 0 {
                sent += n as usize;
                taken += n as usize;
                retried = false;
                continue;
            }
            let e = io::Error::last_os_error();
            if !retried && e.kind() != io::ErrorKind::WouldBlock {
                // A connected socket reports an ICMP error of an earlier datagram on the
                // next send and forgets it: this datagram was not sent, so try it again.
                retried = true;
                continue;
            }
            // Socket buffer full, or a lasting error: skip the datagram at the head and go
            // on with the rest.
            sent += 1;
            retried = false;
        }
        taken
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    #[test]
    fn batch_round_trip_over_loopback() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let relay_out = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..5u8 {
            tx.send_to(&[i; 30], rx.local_addr().unwrap()).unwrap();
        }
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
        assert_eq!(b.recv(rx.as_raw_fd()).unwrap(), 0, "drained");
    }

    #[test]
    fn connected_sends_one_and_many_and_skips_unmarked() {
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        sink.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let out = UdpSocket::bind("127.0.0.1:0").unwrap();
        out.connect(sink.local_addr().unwrap()).unwrap();
        let dest = sink.local_addr().unwrap();
        let mut b = Batch::new();
        assert!(b.push(&[1; 20], dest));
        assert_eq!(
            b.send_connected(out.as_raw_fd()),
            1,
            "one datagram: send(2)"
        );
        for i in 2..6u8 {
            assert!(b.push(&[i; 20], dest));
        }
        assert_eq!(b.send_connected(out.as_raw_fd()), 4, "several: sendmmsg");
        let mut buf = [0u8; 64];
        for i in 1..6u8 {
            let (len, from) = sink.recv_from(&mut buf).unwrap();
            assert_eq!((len, buf[0], from), (20, i, out.local_addr().unwrap()));
        }
        assert_eq!(b.send_connected(out.as_raw_fd()), 0, "nothing marked");
    }

    /// Waits until `fd` has a pending error (the ICMP answer was processed).
    fn wait_for_error(fd: RawFd) {
        let mut p = libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        };
        // SAFETY: p is one valid pollfd.
        let n = unsafe { libc::poll(&mut p, 1, 2000) };
        assert_eq!((n, p.revents & libc::POLLERR), (1, libc::POLLERR));
    }

    /// An address where nothing listens: the kernel answers ICMP port unreachable.
    fn closed_port() -> SocketAddr {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    }

    #[test]
    fn a_pending_icmp_error_costs_no_datagram_on_send() {
        let gone = closed_port();
        let out = UdpSocket::bind("127.0.0.1:0").unwrap();
        out.connect(gone).unwrap();
        let mut b = Batch::new();
        assert!(b.push(&[0; 10], gone));
        assert_eq!(b.send_connected(out.as_raw_fd()), 1);
        wait_for_error(out.as_raw_fd());
        // The next send reports the stored error and clears it; the datagram itself goes
        // out on the retry.
        assert!(b.push(&[1; 10], gone));
        assert_eq!(b.send_connected(out.as_raw_fd()), 1);
    }

    #[test]
    fn a_pending_icmp_error_delays_no_datagram_on_receive() {
        let gone = closed_port();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.connect(gone).unwrap();
        rx.send(&[0; 4]).unwrap();
        wait_for_error(rx.as_raw_fd());
        // The closed port comes back and sends: its datagram queues behind the error.
        let Ok(revived) = UdpSocket::bind(gone) else {
            return; // another test took the port in between; nothing to check
        };
        revived.send_to(&[5; 10], rx.local_addr().unwrap()).unwrap();
        let mut b = Batch::new();
        assert_eq!(b.recv(rx.as_raw_fd()).unwrap(), 1, "read past the error");
        assert_eq!(b.datagram(0).unwrap(), (&[5u8; 10][..], gone));
    }
}
