//! Whole calls through the B2BUA with in-memory UAs (each with its own sip-core
//! transaction layer), every message printed and parsed again on each hop:
//!
//! - `call/inbound_did`: a carrier calls a DID that rings a slot (no authentication):
//!   INVITE → 100 → 180 → 200 → ACK → BYE → 200 on both legs.
//! - `call/slot_to_slot_407`: a slot calls a slot with a 407 challenge first, as SIPp does.
//!
//! Each measures one call end to end, UAs included; the B2BUA's share (its transaction
//! layer and the B2BUA itself) is printed separately afterwards.
//!
//! Then memory: 10,000 answered calls held at once; the B2BUA side (its transaction
//! layer and the B2BUA, media fake excluded) is measured with a counting allocator by
//! dropping it, right after set-up and again after 40 s of simulated time, when the
//! set-up transactions are gone. `cargo bench -p b2bua --bench call`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use b2bua::{
    B2bua, B2buaConfig, Binding, CallEvent, LocalAddr, Locator, SlotCredentials, TrunkConfig,
};
use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use media::testing::FakeMedia;
use sip_core::auth::{Algorithm, Challenge, DigestClient, Identity, ha1};
use sip_core::dialog::Dialog;
use sip_core::transaction::{Config, Event, Peer, TransactionLayer, new_branch};
use sip_core::{HeaderName, Message, Method, Request, Response, StatusCode, Transport, Uri};

/// Counts the bytes currently allocated.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const DOMAIN: &str = "vss.bench";

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

const SDP_A: &str = "v=0\r\no=a 1 1 IN IP4 10.1.0.1\r\ns=-\r\nc=IN IP4 10.1.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";
const SDP_B: &str = "v=0\r\no=b 1 1 IN IP4 10.1.0.2\r\ns=-\r\nc=IN IP4 10.1.0.2\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

struct Slots {
    bindings: HashMap<String, Vec<Binding>>,
    creds: HashMap<String, SlotCredentials>,
}

impl Locator for Slots {
    fn lookup(&self, e: &str) -> Vec<Binding> {
        self.bindings.get(e).cloned().unwrap_or_default()
    }
    fn credentials(&self, e: &str) -> Option<SlotCredentials> {
        self.creds.get(e).cloned()
    }
}

/// The B2BUA side: what the memory figure covers.
struct B2bSide {
    layer: TransactionLayer,
    b2bua: B2bua,
}

struct World {
    now: Instant,
    b2b_addr: SocketAddr,
    caller_addr: SocketAddr,
    callee_addr: SocketAddr,
    b2b: Option<B2bSide>,
    caller: TransactionLayer,
    callee: TransactionLayer,
    slots: Slots,
    queue: VecDeque<(SocketAddr, SocketAddr, Bytes)>,
    /// Caller's dialogs by Call-ID, and its INVITEs waiting for a challenge answer.
    dialogs: HashMap<Bytes, Dialog>,
    invites: HashMap<Bytes, Request>,
    auth: Option<DigestClient>,
    seq: u64,
    b2b_time: Duration,
    /// Held here so that dropping the B2BUA side does not count the media fake.
    _media: Arc<FakeMedia>,
}

fn layer() -> TransactionLayer {
    TransactionLayer::new(Config {
        force_rport: true,
        max_transactions: 1_000_000,
        ..Config::default()
    })
    .unwrap()
}

impl World {
    fn new(auth: bool) -> World {
        let now = Instant::now();
        let (b2b_addr, caller_addr, callee_addr) = (
            sock("10.0.0.1:5060"),
            sock("10.1.0.1:5060"),
            sock("10.1.0.2:5060"),
        );
        let mut cfg = B2buaConfig::new(
            DOMAIN,
            vec![LocalAddr::new(Transport::Udp, b2b_addr)],
            &[9; 32],
        );
        cfg.max_calls = 100_000;
        cfg.max_cps = 1_000_000;
        let mut trunk = TrunkConfig::new("carrier", "carrier.bench", vec![caller_addr]);
        trunk.options_interval = None;
        trunk.dids.insert("5000".into(), "6002".into());
        if !auth {
            cfg.trunks.push(trunk);
        }
        let media = Arc::new(FakeMedia::default());
        let b2bua = B2bua::new(
            cfg,
            media.clone(),
            None,
            now,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            [1; 32],
        )
        .unwrap();
        let mut slots = Slots {
            bindings: HashMap::new(),
            creds: HashMap::new(),
        };
        slots.bindings.insert(
            "6002".into(),
            vec![Binding {
                contact: Uri::parse_str("sip:6002@10.1.0.2:5060").unwrap(),
                peer: Peer::udp(callee_addr),
                q: None,
            }],
        );
        slots.creds.insert(
            "6001".into(),
            SlotCredentials {
                ha1_md5: ha1(Algorithm::Md5, "6001", DOMAIN, "pw"),
                ha1_sha256: ha1(Algorithm::Sha256, "6001", DOMAIN, "pw"),
            },
        );
        World {
            now,
            b2b_addr,
            caller_addr,
            callee_addr,
            b2b: Some(B2bSide {
                layer: layer(),
                b2bua,
            }),
            caller: layer(),
            callee: layer(),
            slots,
            queue: VecDeque::new(),
            dialogs: HashMap::new(),
            invites: HashMap::new(),
            auth: auth.then(|| DigestClient::new(Identity::with_password("6001", "pw"))),
            seq: 0,
            b2b_time: Duration::ZERO,
            _media: media,
        }
    }

    fn branch(&mut self) -> String {
        self.seq += 1;
        let mut r = [0u8; 16];
        r[..8].copy_from_slice(&self.seq.to_le_bytes());
        new_branch(&r)
    }

    fn invite(&mut self, i: u64) {
        let target = if self.auth.is_some() { "6002" } else { "5000" };
        let via = self.branch();
        let text = format!(
            "INVITE sip:{target}@{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch={via};rport\r\nMax-Forwards: 70\r\nFrom: <sip:6001@{DOMAIN}>;tag=a{i}\r\nTo: <sip:{target}@{DOMAIN}>\r\nCall-ID: call-{i}@bench\r\nCSeq: 1 INVITE\r\nContact: <sip:6001@{}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{SDP_A}",
            self.caller_addr,
            self.caller_addr,
            SDP_A.len()
        );
        let Message::Request(req) = Message::parse_datagram(Bytes::from(text)).unwrap() else {
            panic!()
        };
        self.invites
            .insert(req.headers.call_id().unwrap().clone(), req.clone());
        self.caller
            .send_request(self.now, req, Peer::udp(self.b2b_addr))
            .unwrap();
    }

    fn bye(&mut self, i: u64) {
        let key = Bytes::from(format!("call-{i}@bench"));
        let Some(mut d) = self.dialogs.remove(&key) else {
            panic!("call {i} not answered")
        };
        let mut bye = d.create_request(Method::Bye).unwrap();
        let via = self.branch();
        bye.headers.push_front(
            HeaderName::Via,
            Bytes::from(format!(
                "SIP/2.0/UDP {};branch={via};rport",
                self.caller_addr
            )),
        );
        self.caller
            .send_request(self.now, bye, Peer::udp(self.b2b_addr))
            .unwrap();
    }

    fn on_caller(&mut self, ev: Event) {
        let Event::Response {
            response, source, ..
        } = ev
        else {
            return;
        };
        let cseq = response.headers.cseq().unwrap().clone();
        if cseq.method != Method::Invite {
            return;
        }
        let call_id = response.headers.call_id().unwrap().clone();
        if response.status == StatusCode::PROXY_AUTHENTICATION_REQUIRED {
            let mut inv = self.invites.get(&call_id).unwrap().clone();
            let client = self.auth.as_mut().unwrap();
            client
                .handle_challenge(
                    Challenge::parse(
                        response
                            .headers
                            .get_value(&HeaderName::ProxyAuthenticate)
                            .unwrap(),
                    )
                    .unwrap(),
                )
                .unwrap();
            let creds = client
                .authorize("INVITE", &inv.uri.to_string(), "0a4f113b")
                .unwrap();
            inv.headers
                .set(HeaderName::CSeq, format!("{} INVITE", cseq.seq + 1));
            inv.headers.push(
                HeaderName::ProxyAuthorization,
                Bytes::from(creds.to_string()),
            );
            let via = self.branch();
            inv.headers.set(
                HeaderName::Via,
                Bytes::from(format!(
                    "SIP/2.0/UDP {};branch={via};rport",
                    self.caller_addr
                )),
            );
            self.invites.insert(call_id, inv.clone());
            self.caller.send_request(self.now, inv, source).unwrap();
            return;
        }
        if !response.status.is_success() {
            return;
        }
        let inv = self.invites.remove(&call_id).unwrap();
        let d = Dialog::uac(&inv, &response).unwrap();
        let mut ack = d.create_ack(&response).unwrap();
        let via = self.branch();
        ack.headers.push_front(
            HeaderName::Via,
            Bytes::from(format!(
                "SIP/2.0/UDP {};branch={via};rport",
                self.caller_addr
            )),
        );
        self.caller.send_stateless(source, Message::Request(ack));
        self.dialogs.insert(call_id, d);
    }

    fn on_callee(&mut self, ev: Event) {
        let Event::Request { key, request, .. } = ev else {
            return;
        };
        let mut ringing = Response::from_request(&request, StatusCode::RINGING);
        let mut ok = Response::from_request(&request, StatusCode::OK);
        if request.method == Method::Invite {
            let tag = format!("b{}", self.seq);
            self.seq += 1;
            let contact = Bytes::from(format!("<sip:6002@{}>", self.callee_addr));
            ringing.set_to_tag(&tag);
            ringing.headers.push(HeaderName::Contact, contact.clone());
            self.callee.send_response(self.now, &key, ringing).unwrap();
            ok.set_to_tag(&tag);
            ok.headers.push(HeaderName::Contact, contact);
            ok.set_body("application/sdp", Bytes::from_static(SDP_B.as_bytes()));
        }
        self.callee.send_response(self.now, &key, ok).unwrap();
    }

    /// Deliver and react until quiet.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            let t0 = Instant::now();
            if let Some(b) = &mut self.b2b {
                while let Some(ev) = b.layer.poll_event() {
                    moved = true;
                    let _ = b
                        .b2bua
                        .handle_event(self.now, ev, &mut b.layer, &self.slots);
                }
                while let Some(ev) = b.b2bua.poll_call_event() {
                    if let CallEvent::Ended(e) = ev {
                        b.b2bua
                            .handle_call_persisted(self.now, e.token, &mut b.layer);
                    }
                }
                while let Some(t) = b.layer.poll_transmit() {
                    moved = true;
                    self.queue
                        .push_back((self.b2b_addr, t.dest.addr, t.payload));
                }
            }
            self.b2b_time += t0.elapsed();
            while let Some(ev) = self.caller.poll_event() {
                moved = true;
                self.on_caller(ev);
            }
            while let Some(ev) = self.callee.poll_event() {
                moved = true;
                self.on_callee(ev);
            }
            while let Some(t) = self.caller.poll_transmit() {
                moved = true;
                self.queue
                    .push_back((self.caller_addr, t.dest.addr, t.payload));
            }
            while let Some(t) = self.callee.poll_transmit() {
                moved = true;
                self.queue
                    .push_back((self.callee_addr, t.dest.addr, t.payload));
            }
            while let Some((from, to, bytes)) = self.queue.pop_front() {
                moved = true;
                // Each side gets its own copy, as over a real network.
                let msg = Message::parse_datagram(Bytes::copy_from_slice(&bytes)).unwrap();
                if to == self.b2b_addr {
                    let t0 = Instant::now();
                    if let Some(b) = &mut self.b2b {
                        b.layer.handle_message(self.now, msg, Peer::udp(from));
                    }
                    self.b2b_time += t0.elapsed();
                } else if to == self.caller_addr {
                    self.caller.handle_message(self.now, msg, Peer::udp(from));
                } else if to == self.callee_addr {
                    self.callee.handle_message(self.now, msg, Peer::udp(from));
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn tick(&mut self, by: Duration) {
        self.now += by;
        let t0 = Instant::now();
        if let Some(b) = &mut self.b2b {
            b.layer.handle_timeout(self.now);
            b.b2bua.handle_timeout(self.now, &mut b.layer);
        }
        self.b2b_time += t0.elapsed();
        self.caller.handle_timeout(self.now);
        self.callee.handle_timeout(self.now);
        self.pump();
    }

    fn full_call(&mut self, i: u64) {
        self.invite(i);
        self.pump();
        self.bye(i);
        self.pump();
        self.tick(Duration::from_millis(10));
    }
}

fn bench_calls(c: &mut Criterion) {
    let mut g = c.benchmark_group("call");
    for (name, auth) in [("inbound_did", false), ("slot_to_slot_407", true)] {
        let mut w = World::new(auth);
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                w.full_call(i);
            })
        });
        let b = w.b2b.as_ref().unwrap();
        assert_eq!(b.b2bua.stats().calls_answered, i, "every call was answered");
        println!(
            "call/{name}: B2BUA side (its layer + B2BUA) {:.1} µs per call over {i} calls",
            w.b2b_time.as_secs_f64() * 1e6 / i as f64
        );
    }
    g.finish();
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Bytes the B2BUA side holds now: measured by dropping it.
fn b2b_footprint(w: &mut World) -> isize {
    let before = live();
    drop(w.b2b.take());
    before - live()
}

fn memory_per_call() {
    const N: u64 = 10_000;
    let mut empty = World::new(false);
    let baseline = b2b_footprint(&mut empty);
    for settle in [false, true] {
        let mut w = World::new(false);
        for i in 1..=N {
            w.invite(i);
            w.pump();
            if i % 100 == 0 {
                w.tick(Duration::from_millis(1));
            }
        }
        let b = w.b2b.as_ref().unwrap();
        assert_eq!(b.b2bua.active_calls(), N as usize);
        let when = if settle {
            // Past Timer L and M: only the calls remain.
            for _ in 0..41 {
                w.tick(Duration::from_secs(1));
            }
            assert_eq!(
                w.b2b.as_ref().unwrap().layer.len(),
                0,
                "no transaction left"
            );
            "after 40 s (calls only)"
        } else {
            "right after set-up (with transactions)"
        };
        let total = b2b_footprint(&mut w) - baseline;
        println!(
            "memory: {N} answered calls, {when}: {:.1} KiB per call (B2BUA + its transaction layer; media excluded)",
            total as f64 / N as f64 / 1024.0
        );
    }
}

criterion_group!(benches, bench_calls);

fn main() {
    benches();
    // A filter naming a criterion benchmark (e.g. for profiling) skips the memory run.
    let filtered = std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"memory".contains(a.as_str()));
    if !filtered {
        memory_per_call();
    }
    Criterion::default().configure_from_args().final_summary();
}
