//! REGISTER cost and binding memory.
//!
//! - `register/challenge`: the server's part of the first round trip: parse an
//!   unauthenticated REGISTER, answer 401 with two challenges, print it.
//! - `register/authenticated_refresh`: the server's part of the second: parse a REGISTER
//!   with credentials (a fresh nonce-count each time), verify, refresh, print the 200.
//! - `register/parse_signed_only`: parsing that request alone, to tell the message
//!   layer's share from the registrar's.
//! - `register/round_trip_with_client`: both round trips plus the device's side (parse
//!   the 401, compute the response, print the request), for scale.
//! - Before the timings: memory per binding with 100,000 bindings, measured by a
//!   counting global allocator (every byte the registrar holds for them: index entries,
//!   URIs, Call-IDs, User-Agents, schedules).
//!
//! Times are CPU time of the benchmark thread (`CLOCK_THREAD_CPUTIME_ID`), the quantity
//! the target is stated in, so that other load on the machine does not inflate them.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-reg cargo bench -p registrar --bench register`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BatchSize, Criterion};
use registrar::{Extension, Registrar, RegistrarConfig, SlotKind};
use sip_core::auth::{Challenge, DigestClient, Identity};
use sip_core::header::HeaderName;
use sip_core::transaction::Peer;
use sip_core::{Message, Request, Response, StatusCode};

struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only a counter is
// kept on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) };
        ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            ALLOCATED.fetch_sub(layout.size(), Ordering::Relaxed);
            ALLOCATED.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// CPU time consumed by the calling thread.
struct ThreadCpu;

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID unavailable");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

static WALL: WallTime = WallTime;

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu()
    }

    fn end(&self, started: Duration) -> Duration {
        thread_cpu().saturating_sub(started)
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, as for wall time.
        WALL.formatter()
    }
}

const DOMAIN: &str = "vss.example.net";
const SECRET: &[u8] = b"bench-secret-0123456789abcdef012";

fn wall() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn password(ext: Extension) -> String {
    format!("secret-{ext}")
}

fn all_extensions() -> Vec<Extension> {
    [SlotKind::Auto, SlotKind::Mf, SlotKind::Ls]
        .into_iter()
        .flat_map(|k| {
            let (lo, hi) = k.range();
            (lo..=hi).filter_map(Extension::new)
        })
        .collect()
}

fn registrar(max_contacts: usize) -> Registrar {
    let mut config = RegistrarConfig::new(DOMAIN);
    config.max_contacts = max_contacts;
    let mut reg = Registrar::new(config, SECRET, wall()).unwrap();
    reg.set_slots(
        all_extensions()
            .into_iter()
            .map(|e| registrar::Slot::with_password(e, Some("hub-a".into()), DOMAIN, &password(e))),
    );
    reg
}

/// A REGISTER as a Yealink-like phone sends it (about 600 octets with credentials).
fn register_text(
    ext: Extension,
    contact: &str,
    call_id: &str,
    cseq: u32,
    auth: Option<&str>,
) -> String {
    let mut s = format!(
        "REGISTER sip:{DOMAIN} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 198.51.100.23:5060;branch=z9hG4bK{cseq}x{ext};rport\r\n\
         From: \"{ext}\" <sip:{ext}@{DOMAIN}>;tag=1798401561\r\n\
         To: \"{ext}\" <sip:{ext}@{DOMAIN}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <{contact}>\r\n\
         Max-Forwards: 70\r\n\
         User-Agent: Yealink SIP-T46U 108.86.0.20\r\n\
         Expires: 3600\r\n\
         Allow: INVITE, ACK, OPTIONS, CANCEL, BYE, SUBSCRIBE, NOTIFY, INFO, REFER, UPDATE\r\n"
    );
    if let Some(a) = auth {
        s.push_str("Authorization: ");
        s.push_str(a);
        s.push_str("\r\n");
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    s
}

fn parse(bytes: Bytes) -> Request {
    match Message::parse_datagram(bytes) {
        Ok(Message::Request(r)) => r,
        _ => panic!("bench request does not parse"),
    }
}

fn first_challenge(resp: &Response) -> Challenge {
    let v = resp
        .headers
        .get_value(&HeaderName::WwwAuthenticate)
        .unwrap();
    Challenge::parse(v).unwrap()
}

/// A device of one extension: its client state, Call-ID and CSeq.
struct Device {
    ext: Extension,
    contact: String,
    call_id: String,
    cseq: u32,
    client: DigestClient,
}

impl Device {
    fn new(ext: Extension, n: usize) -> Device {
        Device {
            ext,
            contact: format!(
                "sip:{ext}-{n}@198.51.100.23:{};transport=udp",
                5060 + n % 1000
            ),
            call_id: format!("a84b4c76e66710{n:06}@198.51.100.23"),
            cseq: 0,
            client: DigestClient::new(Identity::with_password(ext.to_string(), password(ext))),
        }
    }

    fn unsigned(&mut self) -> Bytes {
        self.cseq += 1;
        Bytes::from(register_text(
            self.ext,
            &self.contact,
            &self.call_id,
            self.cseq,
            None,
        ))
    }

    fn signed(&mut self) -> Bytes {
        self.cseq += 1;
        let creds = self
            .client
            .authorize("REGISTER", &format!("sip:{DOMAIN}"), "0a4f113b")
            .unwrap()
            .to_string();
        Bytes::from(register_text(
            self.ext,
            &self.contact,
            &self.call_id,
            self.cseq,
            Some(&creds),
        ))
    }
}

fn peer() -> Peer {
    Peer::udp("198.51.100.23:5060".parse().unwrap())
}

fn memory_per_binding(total: usize) {
    let max_contacts = 40;
    let mut reg = registrar(max_contacts);
    let now = Instant::now();
    let extensions = all_extensions();
    let uri = format!("sip:{DOMAIN}");
    // Everything the devices own is allocated before the first measurement; what is
    // allocated between the two (the clients' challenges, a few hundred bytes per slot)
    // is counted against the registrar, which only overstates its share.
    let devices: Vec<Device> = (0..total)
        .map(|n| Device::new(extensions[n % extensions.len()], n))
        .collect();
    let mut clients: Vec<DigestClient> = extensions
        .iter()
        .map(|e| DigestClient::new(Identity::with_password(e.to_string(), password(*e))))
        .collect();
    let before = ALLOCATED.load(Ordering::Relaxed);
    for (n, d) in devices.iter().enumerate() {
        let slot = n % extensions.len();
        let client = &mut clients[slot];
        if client.challenge().is_none() {
            let text = register_text(d.ext, &d.contact, &d.call_id, 1, None);
            let resp = reg.handle_register(now, wall(), &parse(Bytes::from(text)), peer());
            client.handle_challenge(first_challenge(&resp)).unwrap();
        }
        let creds = client
            .authorize("REGISTER", &uri, "0a4f113b")
            .unwrap()
            .to_string();
        let text = register_text(d.ext, &d.contact, &d.call_id, 2, Some(&creds));
        let resp = reg.handle_register(now, wall(), &parse(Bytes::from(text)), peer());
        assert_eq!(resp.status, StatusCode::OK);
        while reg.poll_event().is_some() {}
    }
    let after = ALLOCATED.load(Ordering::Relaxed);
    assert_eq!(reg.binding_count(), total);
    let held = after.saturating_sub(before);
    println!(
        "memory: {total} bindings over {} slots: {:.1} MiB held by the registrar => {:.0} bytes \
         per binding (target <= 1024)",
        extensions.len(),
        held as f64 / (1024.0 * 1024.0),
        held as f64 / total as f64,
    );
    black_box(&reg);
    black_box(&devices);
}

fn benches(c: &mut Criterion<ThreadCpu>) {
    let mut g = c.benchmark_group("register");
    let now = Instant::now();
    let ext = Extension::new(6001).unwrap();

    let mut reg = registrar(10);
    let mut dev = Device::new(ext, 1);
    g.bench_function("challenge", |b| {
        b.iter_batched(
            || dev.unsigned(),
            |bytes| {
                let resp = reg.handle_register(now, wall(), &parse(bytes), peer());
                black_box(resp.to_bytes())
            },
            BatchSize::SmallInput,
        )
    });

    let mut reg = registrar(10);
    let mut dev = Device::new(ext, 2);
    let resp = reg.handle_register(now, wall(), &parse(dev.unsigned()), peer());
    dev.client.handle_challenge(first_challenge(&resp)).unwrap();
    g.bench_function("authenticated_refresh", |b| {
        b.iter_batched(
            || dev.signed(),
            |bytes| {
                let resp = reg.handle_register(now, wall(), &parse(bytes), peer());
                debug_assert_eq!(resp.status, StatusCode::OK);
                while reg.poll_event().is_some() {}
                black_box(resp.to_bytes())
            },
            BatchSize::SmallInput,
        )
    });

    // The message layer's share of the refresh above: parsing the same request alone.
    let mut reg = registrar(10);
    let mut dev = Device::new(ext, 3);
    let resp = reg.handle_register(now, wall(), &parse(dev.unsigned()), peer());
    dev.client.handle_challenge(first_challenge(&resp)).unwrap();
    g.bench_function("parse_signed_only", |b| {
        b.iter_batched(
            || dev.signed(),
            |bytes| black_box(parse(bytes)),
            BatchSize::SmallInput,
        )
    });

    let mut reg = registrar(10);
    let mut n = 10;
    g.bench_function("round_trip_with_client", |b| {
        b.iter(|| {
            n += 1;
            let mut dev = Device::new(ext, n);
            let resp = reg.handle_register(now, wall(), &parse(dev.unsigned()), peer());
            let resp = parse_response(resp.to_bytes());
            dev.client.handle_challenge(first_challenge(&resp)).unwrap();
            let ok = reg.handle_register(now, wall(), &parse(dev.signed()), peer());
            while reg.poll_event().is_some() {}
            black_box(ok.to_bytes())
        })
    });
    g.finish();
}

fn parse_response(bytes: Bytes) -> Response {
    match Message::parse_datagram(bytes) {
        Ok(Message::Response(r)) => r,
        _ => panic!("bench response does not parse"),
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: keep that quick.
    let full = std::env::args().any(|a| a == "--bench");
    memory_per_binding(if full { 100_000 } else { 2_000 });
    let mut c = Criterion::default()
        .with_measurement(ThreadCpu)
        .configure_from_args();
    benches(&mut c);
    c.final_summary();
}
