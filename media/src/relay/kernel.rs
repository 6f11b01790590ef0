//! In-kernel forwarding of latched, plain RTP: the eBPF program of `bpf/forward.bpf.c`
//! at TC ingress, and the map the relay workers fill with one entry per leg direction.
//!
//! A leg direction goes into the kernel once it is plain forwarding (see
//! [`RelaySession::kernel_path`](super::session::RelaySession::kernel_path)); the
//! program then rewrites the leg's packets to come from the other leg's relay port and
//! go to the other peer, so they never reach the relay's sockets. Whatever the program
//! leaves alone (other sources, RTCP, DTMF, IP options, no usable route) arrives at the
//! sockets as before, and the userspace relay handles it as it always did.
//!
//! The program is attached with tcx links (kernel 6.6 and later; aya falls back to a
//! clsact qdisc and cls_bpf on older kernels) and the map is not pinned: both belong to
//! this process and disappear when it exits or crashes, so no stale forwarding survives
//! it.
//!
//! Interfaces: with a loopback `bind_ip` only `lo`; otherwise every interface that is up
//! and has an Ethernet (or loopback) link layer when the engine starts. Packets of a
//! media address arrive on the interface that faces the peer, which need not be the one
//! that owns the address. Interfaces added later carry their media in userspace.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::ops::RangeInclusive;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use aya::maps::{HashMap as BpfHashMap, MapData, PerCpuArray};
use aya::programs::{SchedClassifier, TcAttachType};
use aya::{Ebpf, EbpfLoader, Pod};

/// The program as `media/build.rs` compiled it; empty when clang was missing.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/forward.bpf.o"));

const PROGRAM: &str = "vss_forward";
const FWD_MAP: &str = "vss_fwd";
const STATS_MAP: &str = "vss_stats";
/// `fwd_value.flags`: the new destination is an address of this host.
const FWD_LOCAL: u32 = 1;
/// An unused `dtmf_pt` slot (payload types are 7 bits).
const PT_NONE: u8 = 0xff;
/// Telephone-event payload types one entry can leave to userspace.
pub(crate) const MAX_DTMF_PTS: usize = 4;

/// `struct fwd_key` of the program: everything in network byte order.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct FwdKey {
    src_ip: u32,
    src_port: u16,
    dst_port: u16,
}

/// `struct fwd_value` of the program.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct FwdValue {
    new_src_ip: u32,
    new_dst_ip: u32,
    new_src_port: u16,
    new_dst_port: u16,
    dtmf_pt: [u8; MAX_DTMF_PTS],
    flags: u32,
    /// Our address the packets must be sent to; 0 for any (a relay bound to 0.0.0.0).
    match_dst: u32,
    packets: u64,
    bytes: u64,
    last_ns: u64,
}

// SAFETY: both are `repr(C)` structs of integers without padding (8 and 48 bytes, checked
// by the tests below), valid for any bit pattern, as aya requires of map keys and values.
unsafe impl Pod for FwdKey {}
// SAFETY: see above.
unsafe impl Pod for FwdValue {}

fn wire_ip(ip: Ipv4Addr) -> u32 {
    u32::from_ne_bytes(ip.octets())
}

fn wire_port(port: u16) -> u16 {
    port.to_be()
}

/// One leg direction handed to the kernel: packets from `from` to `to_us` leave as packets
/// from `via` to `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    /// The leg's latched source.
    pub(crate) from: SocketAddrV4,
    /// The relay's address and RTP port for this leg, as the leg sends to it; the
    /// address is 0.0.0.0 when the relay is bound to it (any of this host's addresses).
    pub(crate) to_us: SocketAddrV4,
    /// The relay's address and RTP port for the other leg.
    pub(crate) via: SocketAddrV4,
    /// Where the other leg receives.
    pub(crate) dst: SocketAddrV4,
    /// This leg's telephone-event payload types ([`PT_NONE`] in unused slots).
    pub(crate) dtmf: [u8; MAX_DTMF_PTS],
}

impl Route {
    pub(crate) fn key(&self) -> FwdKey {
        FwdKey {
            src_ip: wire_ip(*self.from.ip()),
            src_port: wire_port(self.from.port()),
            dst_port: wire_port(self.to_us.port()),
        }
    }

    /// The DTMF slots from a list of payload types; `None` when there are too many.
    pub(crate) fn dtmf_slots(pts: impl Iterator<Item = u8>) -> Option<[u8; MAX_DTMF_PTS]> {
        let mut slots = [PT_NONE; MAX_DTMF_PTS];
        for (i, pt) in pts.enumerate() {
            *slots.get_mut(i)? = pt;
        }
        Some(slots)
    }
}

/// What the program counted for one entry since it was inserted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EntryCounters {
    /// Packets forwarded.
    pub(crate) packets: u64,
    /// UDP payload octets forwarded.
    pub(crate) bytes: u64,
    /// When the last one was, if any.
    pub(crate) last_seen: Option<Instant>,
}

/// Program-wide counters, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KernelStats {
    /// Packets rewritten and delivered to a socket of this host.
    pub delivered_local: u64,
    /// Packets rewritten and redirected to an egress interface.
    pub redirected: u64,
    /// Matched packets left to userspace because they were RFC 4733 events.
    pub passed_dtmf: u64,
    /// Matched packets left to userspace because they were RTCP or not RTP version 2.
    pub passed_not_rtp: u64,
    /// Matched packets left to userspace because the kernel had no usable route (for a
    /// remote peer: IPv4 forwarding is off on the ingress interface, or no neighbour entry).
    pub passed_no_route: u64,
    /// Leg directions currently forwarded in the kernel.
    pub entries: u64,
}

impl KernelStats {
    /// Packets the kernel forwarded.
    pub fn forwarded(&self) -> u64 {
        self.delivered_local + self.redirected
    }
}

/// Why the kernel path could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("in-kernel RTP forwarding unavailable: {0}")]
pub struct KernelError(String);

fn err(what: &str, e: impl std::fmt::Display) -> KernelError {
    KernelError(format!("{what}: {e}"))
}

/// The loaded program, its links and its maps. Dropping it detaches the program.
pub struct KernelForwarder {
    fwd: Mutex<BpfHashMap<MapData, FwdKey, FwdValue>>,
    stats: PerCpuArray<MapData, u64>,
    interfaces: Vec<String>,
    /// This host's IPv4 addresses and when they were read: an entry's destination is
    /// local or not (`FWD_LOCAL`). Read again after [`LOCAL_ADDRESSES_TTL`], not per
    /// entry (a netlink dump per latched leg).
    local: Mutex<(Instant, HashSet<Ipv4Addr>)>,
    /// Owns the program and its tcx links (dropped last: see the field order rule).
    _ebpf: Mutex<Ebpf>,
}

/// How long the host's address list is trusted before it is read again.
const LOCAL_ADDRESSES_TTL: Duration = Duration::from_secs(5);

impl std::fmt::Debug for KernelForwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KernelForwarder")
            .field("interfaces", &self.interfaces)
            .finish()
    }
}

impl KernelForwarder {
    /// Loads the program sized for `ports` and attaches it at TC ingress of the interfaces
    /// chosen for `bind_ip` (see the module documentation).
    pub fn start(ports: &RangeInclusive<u16>, bind_ip: IpAddr) -> Result<Self, KernelError> {
        if OBJECT.is_empty() {
            return Err(KernelError(
                "the eBPF program was not built (clang missing at build time)".into(),
            ));
        }
        // One entry per RTP (even) port: a leg receives from one latched source.
        let entries = (u32::from(*ports.end()) - u32::from(*ports.start())) / 2 + 1;
        let (lo, hi) = (*ports.start(), *ports.end());
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(FWD_MAP, entries.max(16))
            .override_global("port_lo", &lo, true)
            .override_global("port_hi", &hi, true)
            .load(OBJECT)
            .map_err(|e| err("loading the eBPF object", e))?;
        let interfaces = choose_interfaces(bind_ip)?;
        let prog: &mut SchedClassifier = ebpf
            .program_mut(PROGRAM)
            .ok_or_else(|| KernelError(format!("no program {PROGRAM} in the object")))?
            .try_into()
            .map_err(|e| err("program type", e))?;
        prog.load()
            .map_err(|e| err("loading the program (needs root or CAP_BPF)", e))?;
        for ifname in &interfaces {
            prog.attach(ifname, TcAttachType::Ingress).map_err(|e| {
                err(
                    &format!("attaching to {ifname} ingress (needs CAP_NET_ADMIN)"),
                    e,
                )
            })?;
        }
        let fwd = ebpf
            .take_map(FWD_MAP)
            .ok_or_else(|| KernelError(format!("no map {FWD_MAP}")))?;
        let fwd = BpfHashMap::try_from(fwd).map_err(|e| err(FWD_MAP, e))?;
        let stats = ebpf
            .take_map(STATS_MAP)
            .ok_or_else(|| KernelError(format!("no map {STATS_MAP}")))?;
        let stats = PerCpuArray::try_from(stats).map_err(|e| err(STATS_MAP, e))?;
        Ok(Self {
            fwd: Mutex::new(fwd),
            stats,
            interfaces,
            local: Mutex::new((Instant::now(), local_addresses())),
            _ebpf: Mutex::new(ebpf),
        })
    }

    /// The interfaces the program is attached to.
    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    fn map(&self) -> MutexGuard<'_, BpfHashMap<MapData, FwdKey, FwdValue>> {
        // Every critical section is one map call: poisoning leaves nothing inconsistent.
        self.fwd.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts a leg direction into the kernel (replacing an entry with the same key).
    pub(crate) fn insert(&self, route: &Route) -> Result<(), KernelError> {
        let is_local = route.dst.ip().is_loopback() || self.is_local(*route.dst.ip());
        let value = FwdValue {
            new_src_ip: wire_ip(*route.via.ip()),
            new_dst_ip: wire_ip(*route.dst.ip()),
            new_src_port: wire_port(route.via.port()),
            new_dst_port: wire_port(route.dst.port()),
            dtmf_pt: route.dtmf,
            match_dst: wire_ip(*route.to_us.ip()),
            flags: if is_local { FWD_LOCAL } else { 0 },
            ..FwdValue::default()
        };
        self.map()
            .insert(route.key(), value, 0)
            .map_err(|e| err("map insert", e))
    }

    /// Whether `ip` is one of this host's addresses (read at most every
    /// [`LOCAL_ADDRESSES_TTL`]).
    fn is_local(&self, ip: Ipv4Addr) -> bool {
        let mut local = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        if local.0.elapsed() >= LOCAL_ADDRESSES_TTL {
            *local = (Instant::now(), local_addresses());
        }
        local.1.contains(&ip)
    }

    /// The counters of an entry; `None` if it is not in the map.
    pub(crate) fn read(&self, key: &FwdKey) -> Option<EntryCounters> {
        let v = self.map().get(key, 0).ok()?;
        Some(counters(&v))
    }

    /// Takes an entry out of the kernel and returns its final counters. Packets the
    /// program counts between the read and the delete (a window of one system call) are
    /// forwarded but not counted.
    pub(crate) fn remove(&self, key: &FwdKey) -> Option<EntryCounters> {
        let mut map = self.map();
        let last = map.get(key, 0).ok().map(|v| counters(&v));
        if let Err(e) = map.remove(key) {
            tracing::debug!(error = %e, "kernel forwarding entry already gone");
        }
        last
    }

    /// Program-wide counters.
    pub fn stats(&self) -> KernelStats {
        let sum = |i: u32| -> u64 {
            self.stats
                .get(&i, 0)
                .map(|per_cpu| per_cpu.iter().sum())
                .unwrap_or(0)
        };
        KernelStats {
            delivered_local: sum(0),
            redirected: sum(1),
            passed_dtmf: sum(2),
            passed_not_rtp: sum(3),
            passed_no_route: sum(4),
            entries: self.map().keys().filter(Result::is_ok).count() as u64,
        }
    }
}

fn counters(v: &FwdValue) -> EntryCounters {
    EntryCounters {
        packets: v.packets,
        bytes: v.bytes,
        last_seen: (v.last_ns != 0).then(|| monotonic_to_instant(v.last_ns)),
    }
}

/// The `Instant` of a CLOCK_MONOTONIC reading (what `bpf_ktime_get_ns` returns).
fn monotonic_to_instant(ns: u64) -> Instant {
    let now = Instant::now();
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return now;
    }
    let mono = u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000
        + u64::try_from(ts.tv_nsec).unwrap_or(0);
    now.checked_sub(Duration::from_nanos(mono.saturating_sub(ns)))
        .unwrap_or(now)
}

/// The IPv4 addresses of this host's interfaces.
fn local_addresses() -> HashSet<Ipv4Addr> {
    let mut out = HashSet::new();
    // Unreadable: only loopback destinations count as local (see `insert`).
    let _ = for_each_ifaddr(|ifa, family| {
        if family == libc::AF_INET {
            // SAFETY: an AF_INET address is a sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            out.insert(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
        }
    });
    out
}

/// Calls `f` with every `getifaddrs` entry that has an address, and the address family:
/// the interfaces of the network namespace the calling thread's sockets live in.
fn for_each_ifaddr(mut f: impl FnMut(&libc::ifaddrs, i32)) -> std::io::Result<()> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned and is not freed yet.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr of the family it names.
            let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
            f(ifa, family);
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(())
}

/// The source address this host uses towards `peer`: `bound` unless it is the wildcard,
/// else what the routing table chooses (a connected UDP socket sends nothing).
pub(crate) fn source_ip(bound: IpAddr, peer: SocketAddrV4) -> Option<Ipv4Addr> {
    match bound {
        IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        IpAddr::V4(_) => {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
            s.connect(SocketAddr::V4(peer)).ok()?;
            match s.local_addr().ok()? {
                SocketAddr::V4(a) => Some(*a.ip()),
                SocketAddr::V6(_) => None,
            }
        }
        IpAddr::V6(_) => None,
    }
}

/// ARPHRD_ETHER and ARPHRD_LOOPBACK: the link layers whose TC ingress sees an Ethernet
/// header, as the program expects.
const LINK_TYPES: [u32; 2] = [1, 772];

fn choose_interfaces(bind_ip: IpAddr) -> Result<Vec<String>, KernelError> {
    if bind_ip.is_loopback() {
        return Ok(vec!["lo".to_owned()]);
    }
    let mut names = link_interfaces()?;
    names.sort();
    names.dedup();
    if names.is_empty() {
        return Err(KernelError("no interface is up".into()));
    }
    Ok(names)
}

/// The interfaces that are up with a link layer of [`LINK_TYPES`], from `getifaddrs`
/// (netlink): those of the network namespace the calling thread's sockets live in. Not
/// `/sys/class/net`, which lists the namespace sysfs was mounted in (a process that
/// joined a namespace without remounting it would get the wrong interfaces).
fn link_interfaces() -> Result<Vec<String>, KernelError> {
    let mut out = Vec::new();
    for_each_ifaddr(|ifa, family| {
        if family != libc::AF_PACKET
            || ifa.ifa_name.is_null()
            || ifa.ifa_flags & libc::IFF_UP as u32 == 0
        {
            return;
        }
        // SAFETY: an AF_PACKET address of getifaddrs is a sockaddr_ll (the link itself).
        let ll = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_ll) };
        if LINK_TYPES.contains(&u32::from(ll.sll_hatype)) {
            // SAFETY: ifa_name is a NUL-terminated string owned by the list.
            let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
            out.push(name.to_string_lossy().into_owned());
        }
    })
    .map_err(|e| err("getifaddrs", e))?;
    Ok(out)
}

/// Whether this process may load programs at all: tests skip only when it may not.
pub fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_program() {
        assert_eq!(std::mem::size_of::<FwdKey>(), 8);
        assert_eq!(std::mem::size_of::<FwdValue>(), 48);
        assert_eq!(std::mem::offset_of!(FwdValue, packets), 24);
    }

    #[test]
    fn keys_are_in_network_byte_order() {
        let r = Route {
            from: "192.0.2.1:4000".parse().unwrap(),
            to_us: "198.51.100.2:30000".parse().unwrap(),
            via: "198.51.100.2:30002".parse().unwrap(),
            dst: "203.0.113.3:5000".parse().unwrap(),
            dtmf: Route::dtmf_slots([101u8].into_iter()).unwrap(),
        };
        let k = r.key();
        // SAFETY: FwdKey is a repr(C) struct of 8 initialised bytes.
        let bytes: [u8; 8] = unsafe { std::mem::transmute(k) };
        assert_eq!(bytes, [192, 0, 2, 1, 0x0f, 0xa0, 0x75, 0x30]);
        assert_eq!(r.dtmf, [101, PT_NONE, PT_NONE, PT_NONE]);
        assert!(Route::dtmf_slots([96u8, 97, 98, 99, 100].into_iter()).is_none());
    }

    #[test]
    fn the_monotonic_clock_maps_onto_instants() {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: as in monotonic_to_instant.
        assert_eq!(
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) },
            0
        );
        let ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        let then = monotonic_to_instant(ns.saturating_sub(2_000_000_000));
        let age = Instant::now().saturating_duration_since(then);
        assert!(age >= Duration::from_secs(2) && age < Duration::from_secs(60));
    }

    #[test]
    fn interfaces_come_from_this_network_namespace() {
        // lo is up with a loopback link layer in every namespace a test runs in.
        assert!(link_interfaces().unwrap().iter().any(|i| i == "lo"));
        assert_eq!(
            choose_interfaces(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap(),
            ["lo"]
        );
    }

    #[test]
    fn loopback_is_local() {
        assert!(local_addresses().contains(&Ipv4Addr::LOCALHOST));
        assert_eq!(
            source_ip(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                "127.0.0.1:9".parse().unwrap()
            ),
            Some(Ipv4Addr::LOCALHOST)
        );
    }

    /// A relay bound to 0.0.0.0 is reached at any of the host's addresses, and its entries
    /// take them all; an entry for a relay bound to one address takes only that one.
    #[test]
    fn a_wildcard_entry_matches_any_local_address_and_a_bound_one_only_its_own() {
        if !privileged() {
            eprintln!("skipped: loading eBPF programs needs root");
            return;
        }
        let timeout = |s: UdpSocket| {
            s.set_read_timeout(Some(Duration::from_millis(1000)))
                .unwrap();
            s
        };
        let ours_a = timeout(UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 33010)).unwrap());
        let ours_b = timeout(UdpSocket::bind((Ipv4Addr::LOCALHOST, 33012)).unwrap());
        let peer_a = timeout(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap());
        let peer_b = timeout(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap());
        let v4 = |a: SocketAddr| match a {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        let k = KernelForwarder::start(&(33000..=33099), IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        let mut route = Route {
            from: v4(peer_a.local_addr().unwrap()),
            to_us: v4(ours_a.local_addr().unwrap()),
            via: v4(ours_b.local_addr().unwrap()),
            dst: v4(peer_b.local_addr().unwrap()),
            dtmf: Route::dtmf_slots(std::iter::empty()).unwrap(),
        };
        assert!(route.to_us.ip().is_unspecified());
        k.insert(&route).unwrap();
        let mut rtp = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        rtp.extend_from_slice(&[0xd5; 160]);
        let mut buf = [0u8; 2048];
        let other_address = SocketAddr::from(([127, 0, 0, 5], 33010));
        peer_a.send_to(&rtp, other_address).unwrap();
        let (n, from) = peer_b.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&rtp[..], ours_b.local_addr().unwrap()));
        // Bound to 127.0.0.1: a packet to 127.0.0.5 is not for this entry.
        route.to_us = "127.0.0.1:33010".parse().unwrap();
        k.insert(&route).unwrap();
        peer_a.send_to(&rtp, other_address).unwrap();
        let (_, from) = ours_a.recv_from(&mut buf).unwrap();
        assert_eq!(from, peer_a.local_addr().unwrap(), "left to the socket");
        peer_a.send_to(&rtp, route.to_us).unwrap();
        let (_, from) = peer_b.recv_from(&mut buf).unwrap();
        assert_eq!(
            from,
            ours_b.local_addr().unwrap(),
            "its own address: forwarded"
        );
        // The second insert replaced the entry, and its counters with it.
        assert_eq!(k.remove(&route.key()).unwrap().packets, 1);
    }

    /// Loads the program on `lo` and checks what a rewritten packet looks like where it
    /// lands: payload intact, the relay's other port as its source, a checksum the
    /// receiving stack accepted (it would drop the datagram otherwise), and the counters.
    #[test]
    fn a_matching_packet_is_rewritten_and_delivered_by_the_kernel() {
        if !privileged() {
            eprintln!("skipped: loading eBPF programs needs root");
            return;
        }
        let bind = |p: u16| UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).unwrap();
        let ours_a = bind(33000);
        let ours_b = bind(33002);
        let (peer_a, peer_b) = (bind(0), bind(0));
        for s in [&ours_a, &ours_b, &peer_a, &peer_b] {
            s.set_read_timeout(Some(Duration::from_millis(1000)))
                .unwrap();
        }
        let v4 = |s: &UdpSocket| match s.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        let k = KernelForwarder::start(&(33000..=33099), IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        assert_eq!(k.interfaces(), ["lo".to_owned()]);
        let route = Route {
            from: v4(&peer_a),
            to_us: v4(&ours_a),
            via: v4(&ours_b),
            dst: v4(&peer_b),
            dtmf: Route::dtmf_slots([101u8].into_iter()).unwrap(),
        };
        k.insert(&route).unwrap();
        let mut rtp = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        rtp.extend_from_slice(&[0xd5; 160]);
        let before = k.stats();
        peer_a.send_to(&rtp, ours_a.local_addr().unwrap()).unwrap();
        let mut buf = [0u8; 2048];
        let (n, from) = peer_b.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], &rtp[..]);
        assert_eq!(
            from,
            ours_b.local_addr().unwrap(),
            "sent as if from the other leg's port"
        );
        let c = k.read(&route.key()).unwrap();
        assert_eq!((c.packets, c.bytes), (1, 172));
        assert!(c.last_seen.is_some());
        assert_eq!(k.stats().delivered_local, before.delivered_local + 1);
        // A telephone-event packet is left to the relay's socket.
        let mut dtmf = rtp.clone();
        dtmf[1] = 101;
        peer_a.send_to(&dtmf, ours_a.local_addr().unwrap()).unwrap();
        let (n, from) = ours_a.recv_from(&mut buf).unwrap();
        assert_eq!((n, from), (dtmf.len(), peer_a.local_addr().unwrap()));
        // Another source misses the map and reaches the socket untouched.
        ours_b.send_to(&rtp, ours_a.local_addr().unwrap()).unwrap();
        let (_, from) = ours_a.recv_from(&mut buf).unwrap();
        assert_eq!(from, ours_b.local_addr().unwrap());
        // Removed: the next packet reaches the relay's socket again.
        assert_eq!(k.remove(&route.key()).unwrap().packets, 1);
        peer_a.send_to(&rtp, ours_a.local_addr().unwrap()).unwrap();
        let (_, from) = ours_a.recv_from(&mut buf).unwrap();
        assert_eq!(from, peer_a.local_addr().unwrap());
        assert_eq!(k.stats().entries, 0);
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

    fn pseudo_sum(ip: &[u8], udp_len: usize) -> u32 {
        ones_sum(&ip[12..20], 17 + udp_len as u32)
    }

    /// The checksums of rewritten packets, read where a raw socket sees them (after TC
    /// ingress, at local delivery): a valid IPv4 header checksum, and a UDP checksum that
    /// is valid in full (sent without offload), zero (sent without one), or the
    /// pseudo-header seed of the *new* addresses (CHECKSUM_PARTIAL, as lo carries a local
    /// socket's datagrams; a NIC completes it from that seed on egress).
    #[test]
    fn rewritten_checksums_are_valid_full_partial_and_zero() {
        use socket2::{Domain, Protocol, Socket, Type};
        if !privileged() {
            eprintln!("skipped: loading eBPF programs needs root");
            return;
        }
        let bind = |p: u16| UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).unwrap();
        let (ours_a, ours_b, peer_a, peer_b) = (bind(33100), bind(33102), bind(0), bind(0));
        peer_b
            .set_read_timeout(Some(Duration::from_millis(1000)))
            .unwrap();
        let v4 = |s: &UdpSocket| match s.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        let k = KernelForwarder::start(&(33100..=33199), IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::UDP)).unwrap();
        raw.set_read_timeout(Some(Duration::from_millis(1000)))
            .unwrap();
        // The raw sender's "port" (nothing is bound to it).
        let raw_from: SocketAddrV4 = "127.0.0.1:33150".parse().unwrap();
        for from in [v4(&peer_a), raw_from] {
            k.insert(&Route {
                from,
                to_us: v4(&ours_a),
                via: v4(&ours_b),
                dst: v4(&peer_b),
                dtmf: [PT_NONE; MAX_DTMF_PTS],
            })
            .unwrap();
        }
        let mut rtp = vec![0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7];
        rtp.extend((0..161u32).map(|i| i as u8)); // odd length on purpose
        // Reads, from the raw socket, the next datagram delivered to peer_b.
        let next_to_b = || -> Vec<u8> {
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
            loop {
                let n = raw.recv(&mut buf).unwrap();
                // SAFETY: recv initialised the first n bytes.
                let p: Vec<u8> = buf[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                if u16::from_be_bytes([p[22], p[23]]) == peer_b.local_addr().unwrap().port() {
                    return p;
                }
            }
        };
        let check_ip = |p: &[u8]| {
            assert_eq!(ones_sum(&p[..20], 0), 0xffff, "IPv4 header checksum");
            assert_eq!(&p[12..16], &[127, 0, 0, 1]);
            assert_eq!(u16::from_be_bytes([p[20], p[21]]), 33102, "new source port");
        };
        let mut buf = [0u8; 2048];

        // 1. A local socket's datagram: CHECKSUM_PARTIAL on lo.
        peer_a.send_to(&rtp, ours_a.local_addr().unwrap()).unwrap();
        let p = next_to_b();
        check_ip(&p);
        let udp = &p[20..];
        let seed = pseudo_sum(&p, udp.len());
        let check = u16::from_be_bytes([udp[6], udp[7]]);
        let full = ones_sum(udp, seed);
        assert!(
            u32::from(check) == seed || full == 0xffff,
            "UDP checksum {check:#06x}: neither the new pseudo-header seed {seed:#06x} nor valid in full ({full:#06x})"
        );
        assert_eq!(peer_b.recv(&mut buf).unwrap(), rtp.len());

        // 2. A raw datagram with a full software checksum (CHECKSUM_NONE).
        let dst = v4(&ours_a);
        let mut dgram = Vec::new();
        dgram.extend_from_slice(&raw_from.port().to_be_bytes());
        dgram.extend_from_slice(&dst.port().to_be_bytes());
        dgram.extend_from_slice(&((8 + rtp.len()) as u16).to_be_bytes());
        dgram.extend_from_slice(&[0, 0]);
        dgram.extend_from_slice(&rtp);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&raw_from.ip().octets());
        pseudo.extend_from_slice(&dst.ip().octets());
        let sum = ones_sum(&dgram, ones_sum(&pseudo, 17 + dgram.len() as u32));
        let csum = !(sum as u16);
        dgram[6..8].copy_from_slice(&(if csum == 0 { 0xffff } else { csum }).to_be_bytes());
        raw.send_to(&dgram, &SocketAddr::V4(dst).into()).unwrap();
        let p = next_to_b();
        check_ip(&p);
        let udp = &p[20..];
        assert_eq!(
            ones_sum(udp, pseudo_sum(&p, udp.len())),
            0xffff,
            "full UDP checksum"
        );
        assert_eq!(
            peer_b.recv(&mut buf).unwrap(),
            rtp.len(),
            "and the stack accepted it"
        );

        // 3. The same without a checksum: zero stays zero (RFC 768).
        dgram[6..8].copy_from_slice(&[0, 0]);
        raw.send_to(&dgram, &SocketAddr::V4(dst).into()).unwrap();
        let p = next_to_b();
        check_ip(&p);
        assert_eq!(&p[26..28], &[0, 0]);
        assert_eq!(peer_b.recv(&mut buf).unwrap(), rtp.len());
        assert_eq!(
            k.read(
                &Route {
                    from: raw_from,
                    to_us: dst,
                    via: v4(&ours_b),
                    dst: v4(&peer_b),
                    dtmf: [PT_NONE; MAX_DTMF_PTS],
                }
                .key()
            )
            .unwrap()
            .packets,
            2
        );
    }
}
