//! In-kernel forwarding to *remote* peers: the relay runs in a network namespace of its
//! own, each peer in another one behind a veth pair, so the program's packets take the
//! route lookup (`bpf_fib_lookup`), MAC rewrite and `bpf_redirect` path rather than local
//! delivery on `lo`.
//!
//! ```text
//!  peer A ns              relay ns                           peer B ns
//!  10.201.1.2 vss-a ---- vss-ra 10.201.1.1
//!                               10.201.2.1 vss-rb ---- vss-b 10.201.2.2
//! ```
//!
//! Needs root (eBPF, namespaces) and iproute2's `ip`; without either the tests skip and
//! say why. The namespaces carry this process's id in their names, nothing touches the
//! host's interfaces, and a guard deletes the namespaces (and with them the veth pairs)
//! however the test ends.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::Duration;

use common::{relay_addr, rtp, sdp};
use media::relay::kernel::privileged;
use media::{KernelForwarding, MediaConfig, MediaControl, MediaEngine, SdpOptions};
use socket2::{Domain, Protocol, Socket, Type};

const A_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 2);
const RELAY_A_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 1);
const RELAY_B_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 2, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 2, 2);
/// Peer B in [`Layout::OneLan`].
const LAN_B_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 1, 3);

/// Runs `ip` with `args`; panics with its error output when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether iproute2's `ip` can be run at all.
fn have_ip() -> bool {
    Command::new("ip")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Moves the calling thread into the named network namespace.
fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/run/netns/{ns}"))
        .unwrap_or_else(|e| panic!("/run/netns/{ns}: {e}"));
    // SAFETY: setns on a valid namespace file descriptor changes only this thread's
    // network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
}

/// Runs `f` on a thread inside the namespace `ns`: sockets it creates belong to `ns`
/// wherever they are used later.
fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter(ns);
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Writes a sysctl of the namespace `ns` (`/proc/sys/net` is the opening thread's).
fn sysctl(ns: &str, path: &str, value: &str) {
    in_ns(ns, || {
        std::fs::write(format!("/proc/sys/net/{path}"), value)
            .unwrap_or_else(|e| panic!("{path} = {value} in {ns}: {e}"));
    });
}

/// Where the peers are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// A and B on two subnets, each behind its own relay interface: packets change
    /// interfaces in the relay.
    TwoNets,
    /// A and B in one namespace (10.201.1.2 and 10.201.1.3) behind the relay's one
    /// interface, as phones behind one gateway: packets leave where they came in.
    OneLan,
}

/// The namespaces and the veth pairs between them; dropping it deletes them all.
struct Topology {
    relay: String,
    a: String,
    /// The same as `a` with [`Layout::OneLan`].
    b: String,
    layout: Layout,
}

impl Topology {
    fn new(tag: &str, layout: Layout) -> Self {
        let name = |role: &str| format!("vss-kr{}-{tag}-{role}", std::process::id());
        let t = Self {
            relay: name("relay"),
            a: name("a"),
            b: if layout == Layout::OneLan {
                name("a")
            } else {
                name("b")
            },
            layout,
        };
        // Any leftover of an earlier run with the same process id goes first.
        delete(&t.all());
        for ns in t.all() {
            ip(&["netns", "add", ns]);
        }
        if layout == Layout::OneLan {
            let (r, a) = (t.relay.as_str(), t.a.as_str());
            ip(&[
                "link", "add", "vss-a", "netns", a, "type", "veth", "peer", "name", "vss-ra",
                "netns", r,
            ]);
            ip(&["-n", a, "addr", "add", "10.201.1.2/24", "dev", "vss-a"]);
            ip(&["-n", a, "addr", "add", "10.201.1.3/24", "dev", "vss-a"]);
            ip(&["-n", r, "addr", "add", "10.201.1.1/24", "dev", "vss-ra"]);
            for (ns, dev) in [(a, "vss-a"), (a, "lo"), (r, "vss-ra"), (r, "lo")] {
                ip(&["-n", ns, "link", "set", dev, "up"]);
            }
            return t;
        }
        // The veth ends are created directly in their namespaces: their names only need
        // to be unique there.
        let (r, a, b) = (t.relay.as_str(), t.a.as_str(), t.b.as_str());
        ip(&[
            "link", "add", "vss-a", "netns", a, "type", "veth", "peer", "name", "vss-ra", "netns",
            r,
        ]);
        ip(&[
            "link", "add", "vss-b", "netns", b, "type", "veth", "peer", "name", "vss-rb", "netns",
            r,
        ]);
        for (ns, dev, addr) in [
            (a, "vss-a", "10.201.1.2/24"),
            (r, "vss-ra", "10.201.1.1/24"),
            (r, "vss-rb", "10.201.2.1/24"),
            (b, "vss-b", "10.201.2.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", addr, "dev", dev]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        for ns in t.all() {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["-n", a, "route", "add", "default", "via", "10.201.1.1"]);
        ip(&["-n", b, "route", "add", "default", "via", "10.201.2.1"]);
        t
    }

    fn all(&self) -> Vec<&str> {
        let mut v = vec![self.relay.as_str(), &self.a, &self.b];
        v.dedup();
        v
    }

    /// The relay's interfaces.
    fn relay_interfaces(&self) -> &'static [&'static str] {
        match self.layout {
            Layout::TwoNets => &["vss-ra", "vss-rb"],
            Layout::OneLan => &["vss-ra"],
        }
    }

    /// IPv4 forwarding on the relay's interfaces (what `bpf_fib_lookup` needs).
    fn relay_forwarding(&self, on: bool) {
        for dev in self.relay_interfaces() {
            let path = format!("ipv4/conf/{dev}/forwarding");
            sysctl(&self.relay, &path, if on { "1" } else { "0" });
        }
    }
}

/// Deletes the namespaces that exist of `names`; deleting a namespace deletes its veth ends
/// (and so their peers).
fn delete(names: &[&str]) {
    for ns in names {
        if std::path::Path::new(&format!("/run/netns/{ns}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        delete(&self.all());
    }
}

/// A peer: a UDP socket in its namespace, and a raw socket there that sees a copy of every
/// UDP datagram the namespace receives (checksum and all, before UDP checks it).
struct Peer {
    udp: UdpSocket,
    raw_in: Socket,
    /// Sends hand-made UDP datagrams (with a software checksum, or none).
    raw_out: Socket,
}

impl Peer {
    fn new(ns: &str, ip: Ipv4Addr) -> Self {
        in_ns(ns, || {
            let udp = UdpSocket::bind((ip, 0)).unwrap();
            udp.set_read_timeout(Some(Duration::from_millis(1500)))
                .unwrap();
            let raw_in = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)).unwrap();
            raw_in
                .set_read_timeout(Some(Duration::from_millis(1500)))
                .unwrap();
            let raw_out = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)).unwrap();
            // Its source address is the peer's, not whatever the route prefers.
            raw_out
                .bind(&SocketAddr::V4(SocketAddrV4::new(ip, 0)).into())
                .unwrap();
            Self {
                udp,
                raw_in,
                raw_out,
            }
        })
    }

    fn addr(&self) -> SocketAddrV4 {
        match self.udp.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        }
    }

    fn send(&self, to: SocketAddr, p: &[u8]) {
        self.udp.send_to(p, to).unwrap();
    }

    /// The next datagram to the UDP socket: intact payload, the relay's port as source.
    fn expect(&self, p: &[u8], from: SocketAddr, what: &str) {
        let mut buf = [0u8; 2048];
        let (n, src) = self
            .udp
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("{what}: nothing received: {e}"));
        assert_eq!((&buf[..n], src), (p, from), "{what}");
    }

    /// The next datagram to this peer's UDP port, as the raw socket saw it (IPv4 header on).
    fn raw_copy(&self) -> Vec<u8> {
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
        loop {
            let n = self.raw_in.recv(&mut buf).expect("raw copy of a datagram");
            // SAFETY: recv initialised the first n bytes.
            let p: Vec<u8> = buf[..n]
                .iter()
                .map(|b| unsafe { b.assume_init() })
                .collect();
            if p.len() >= 28 && u16::from_be_bytes([p[22], p[23]]) == self.addr().port() {
                return p;
            }
        }
    }

    /// Sends `payload` from this peer's UDP port to `to` through the raw socket, with a
    /// full software checksum (`checksum`) or none: such a datagram reaches the other side
    /// without checksum offload state, so its receiver verifies the checksum itself.
    fn send_raw(&self, to: SocketAddrV4, payload: &[u8], checksum: bool) {
        let from = self.addr();
        let mut d = Vec::new();
        d.extend_from_slice(&from.port().to_be_bytes());
        d.extend_from_slice(&to.port().to_be_bytes());
        d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        d.extend_from_slice(&[0, 0]);
        d.extend_from_slice(payload);
        if checksum {
            let seed = pseudo(from.ip().octets(), to.ip().octets(), d.len());
            let c = !(ones_sum(&d, seed) as u16);
            d[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
        }
        self.raw_out
            .send_to(&d, &SocketAddr::V4(to).into())
            .unwrap();
    }
}

fn ones_sum(data: &[u8], mut acc: u32) -> u32 {
    for pair in data.chunks(2) {
        acc += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

fn pseudo(src: [u8; 4], dst: [u8; 4], udp_len: usize) -> u32 {
    let mut a = src.to_vec();
    a.extend_from_slice(&dst);
    ones_sum(&a, 17 + udp_len as u32)
}

/// Checks a datagram as it arrived: a valid IPv4 header checksum, the expected addresses
/// and ports, and a UDP checksum that is valid in full, or (`partial_ok`: sent by a
/// socket over veth, which offloads it) the pseudo-header seed of the *new* addresses
/// that the egress device completes.
fn check_arrived(p: &[u8], from: SocketAddrV4, to: SocketAddrV4, partial_ok: bool) {
    assert_eq!(ones_sum(&p[..20], 0), 0xffff, "IPv4 header checksum");
    assert_eq!(&p[12..16], &from.ip().octets(), "source address");
    assert_eq!(&p[16..20], &to.ip().octets(), "destination address");
    let udp = &p[20..];
    assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), from.port());
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), to.port());
    let seed = pseudo(from.ip().octets(), to.ip().octets(), udp.len());
    let check = u16::from_be_bytes([udp[6], udp[7]]);
    let full = ones_sum(udp, seed);
    assert!(
        full == 0xffff || (partial_ok && u32::from(check) == seed),
        "UDP checksum {check:#06x}: not valid in full ({full:#06x}){}",
        if partial_ok {
            format!(", nor the new pseudo-header seed {seed:#06x}")
        } else {
            String::new()
        }
    );
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => panic!("{a} is not IPv4"),
    }
}

/// The scenario, for a relay bound to `bind_ip`; A sends to the relay at `a_sends_to`,
/// B at `b_sends_to` (with the ports of the rewritten SDP).
fn remote_peers(
    tag: &str,
    layout: Layout,
    ports: std::ops::RangeInclusive<u16>,
    bind_ip: Ipv4Addr,
    a_sends_to: Ipv4Addr,
    b_sends_to: Ipv4Addr,
) {
    if !privileged() {
        eprintln!("skipped: in-kernel forwarding and namespaces need root");
        return;
    }
    if !have_ip() {
        eprintln!("skipped: iproute2's `ip` is not installed");
        return;
    }
    let topo = Topology::new(tag, layout);
    let b_ip = match layout {
        Layout::TwoNets => B_IP,
        Layout::OneLan => LAN_B_IP,
    };
    // Off first: the kernel's route lookup says FWD_DISABLED and userspace carries it all.
    topo.relay_forwarding(false);
    let a = Peer::new(&topo.a, A_IP);
    let b = Peer::new(&topo.b, b_ip);
    let relay_ns = topo.relay.clone();
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().to_path_buf();
    // The engine starts (and binds its sockets) on a thread inside the relay namespace;
    // its workers, spawned from there, stay in it.
    let (engine, _events) = in_ns(&relay_ns, || {
        MediaEngine::start(MediaConfig {
            rtp_ports: ports,
            bind_ip: IpAddr::V4(bind_ip),
            public_ip: None,
            ng_listen: None,
            recordings_dir: recordings,
            workers: 2,
            kernel_forwarding: KernelForwarding::On,
            ..MediaConfig::default()
        })
        .unwrap()
    });
    let ifs = engine.kernel_interfaces();
    for dev in topo.relay_interfaces() {
        assert!(ifs.iter().any(|i| i == dev), "attached to {ifs:?}");
    }
    let o = SdpOptions::default();
    let (relay_for_a, relay_for_b) = in_ns(&relay_ns, || {
        let to_b = engine
            .offer(
                "kr",
                "ta",
                sdp(&A_IP.to_string(), a.addr().port(), "").as_bytes(),
                &o,
            )
            .unwrap();
        let to_a = engine
            .answer(
                "kr",
                "ta",
                "tb",
                sdp(&b_ip.to_string(), b.addr().port(), "").as_bytes(),
                &o,
            )
            .unwrap();
        (relay_addr(&to_a), relay_addr(&to_b))
    });
    let relay_for_a = SocketAddr::V4(SocketAddrV4::new(a_sends_to, relay_for_a.port()));
    let relay_for_b = SocketAddr::V4(SocketAddrV4::new(b_sends_to, relay_for_b.port()));
    let userspace = |leg: usize| {
        let st = engine.stats("kr").unwrap();
        let l = &st.streams[0].legs[leg];
        l.rtp_packets - l.kernel_packets
    };
    let kernel = || engine.kernel_stats().unwrap();
    let mut seq = 0u16;
    let mut exchange = |n: u16| {
        for _ in 0..n {
            seq += 1;
            let pa = rtp(0, seq, 160 * u32::from(seq), 1, &[seq as u8; 160]);
            a.send(relay_for_a, &pa);
            b.expect(&pa, relay_for_b, "A to B");
            let pb = rtp(8, seq, 160 * u32::from(seq), 2, &[!(seq as u8); 172]);
            b.send(relay_for_b, &pb);
            a.expect(&pb, relay_for_a, "B to A");
        }
    };

    // 1. Latching, then forwarding off: every packet still arrives, through userspace,
    // and the program counts each matched one as having no usable route.
    exchange(1);
    assert_eq!(kernel().entries, 2, "both directions in the kernel's map");
    let before = kernel();
    exchange(5);
    let after = kernel();
    assert_eq!(after.redirected, before.redirected);
    assert_eq!(after.passed_no_route - before.passed_no_route, 10);
    assert_eq!((userspace(0), userspace(1)), (6, 6));

    // 2. Forwarding on. Userspace's packets resolved both peers' neighbour entries
    // (they arrived), so the kernel now redirects every packet to the other interface.
    topo.relay_forwarding(true);
    // The raw sockets' queues hold copies of everything so far: start afresh.
    let drain = |p: &Peer| {
        p.raw_in.set_nonblocking(true).unwrap();
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
        while p.raw_in.recv(&mut buf).is_ok() {}
        p.raw_in.set_nonblocking(false).unwrap();
    };
    drain(&a);
    drain(&b);
    let before = kernel();
    exchange(20);
    let after = kernel();
    assert_eq!(after.redirected - before.redirected, 40, "{after:?}");
    assert_eq!(after.passed_no_route, before.passed_no_route);
    assert_eq!(
        (userspace(0), userspace(1)),
        (6, 6),
        "userspace saw none of them"
    );
    let st = engine.stats("kr").unwrap();
    assert_eq!(
        (
            st.streams[0].legs[0].kernel_packets,
            st.streams[0].legs[1].kernel_packets
        ),
        (20, 20)
    );
    // What the sockets took (offloaded checksums over veth: partial or full).
    for _ in 0..20 {
        check_arrived(&b.raw_copy(), v4(relay_for_b), b.addr(), true);
        check_arrived(&a.raw_copy(), v4(relay_for_a), a.addr(), true);
    }

    // 3. Datagrams with a software checksum (no offload state): the receiving stack
    // verifies the rewritten checksum itself, so arriving proves it valid; zero ("no
    // checksum", RFC 768) stays zero.
    let mut odd = rtp(0, 900, 0, 1, &[]);
    odd.extend((0..161u32).map(|i| i as u8));
    let before = kernel();
    a.send_raw(v4(relay_for_a), &odd, true);
    check_arrived(&b.raw_copy(), v4(relay_for_b), b.addr(), false);
    b.expect(&odd, relay_for_b, "A to B, software checksum");
    b.send_raw(v4(relay_for_b), &odd, true);
    check_arrived(&a.raw_copy(), v4(relay_for_a), a.addr(), false);
    a.expect(&odd, relay_for_a, "B to A, software checksum");
    a.send_raw(v4(relay_for_a), &odd, false);
    let p = b.raw_copy();
    assert_eq!(&p[26..28], &[0, 0], "no checksum stays none");
    b.expect(&odd, relay_for_b, "A to B, no checksum");
    assert_eq!(kernel().redirected - before.redirected, 3);
    assert_eq!((userspace(0), userspace(1)), (6, 6));

    // Deleted: the entries go, and the ports answer nobody.
    in_ns(&relay_ns, || engine.delete("kr").unwrap());
    assert_eq!(kernel().entries, 0);
    drop(engine);
    drop(topo);
}

/// One media address for both legs (as a relay with one public address): A's packets
/// enter vss-ra and leave vss-rb, B's the other way, all from and to 10.201.1.1.
#[test]
fn remote_peers_are_forwarded_by_redirect_one_address() {
    remote_peers(
        "one",
        Layout::TwoNets,
        34000..=34099,
        RELAY_A_IP,
        RELAY_A_IP,
        RELAY_A_IP,
    );
}

/// The wildcard address: each peer talks to the relay's address on its own side, and the
/// relay answers from it (the source the routing table picks).
#[test]
fn remote_peers_are_forwarded_by_redirect_wildcard() {
    remote_peers(
        "any",
        Layout::TwoNets,
        34100..=34199,
        Ipv4Addr::UNSPECIFIED,
        RELAY_A_IP,
        RELAY_B_IP,
    );
}

/// Both peers behind the relay's one interface (phones behind one gateway, the common
/// case): the program redirects each packet out of the interface it came in on.
#[test]
fn remote_peers_on_one_interface_are_forwarded_by_redirect() {
    remote_peers(
        "lan",
        Layout::OneLan,
        34200..=34299,
        RELAY_A_IP,
        RELAY_A_IP,
        RELAY_A_IP,
    );
}
