//! Test helpers for the transaction layer: message builders, a one-sided harness that
//! records what a layer sends, and a `Pair` of layers wired back to back through an
//! in-memory lossy link with a simulated clock (after quinn-proto's tests/util.rs).
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use sip_core::transaction::{
    Config, Event, Peer, TransactionKey, TransactionLayer, Transmit, new_branch,
};
use sip_core::{Message, Request, Response, StatusCode, Transport};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub const UAC_ADDR: &str = "192.0.2.10:5060";
pub const UAS_ADDR: &str = "198.51.100.7:5060";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

pub fn peer(transport: Transport, s: &str) -> Peer {
    Peer {
        transport,
        addr: addr(s),
        connection: transport.is_stream().then_some(7),
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn layer(config: Config) -> TransactionLayer {
    TransactionLayer::new(config).expect("valid config")
}

pub fn parse(text: &str) -> Message {
    Message::parse_datagram(Bytes::copy_from_slice(text.as_bytes()))
        .unwrap_or_else(|e| panic!("{e}: {text}"))
}

pub fn parse_bytes(b: &Bytes) -> Message {
    Message::parse_datagram(b.clone()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn request(text: &str) -> Request {
    match parse(text) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

pub fn response(text: &str) -> Response {
    match parse(text) {
        Message::Response(r) => r,
        Message::Request(_) => panic!("not a response"),
    }
}

pub fn as_request(b: &Bytes) -> Request {
    match parse_bytes(b) {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

pub fn as_response(b: &Bytes) -> Response {
    match parse_bytes(b) {
        Message::Response(r) => r,
        Message::Request(_) => panic!("not a response"),
    }
}

pub fn branch(n: u8) -> String {
    new_branch(&[n; 16])
}

/// A request as a UA sends it, over `transport`, from the UAC address.
pub fn make_request(method: &str, transport: Transport, branch: &str, cseq: u32) -> Request {
    let t = transport.as_str();
    request(&format!(
        "{method} sip:bob@198.51.100.7 SIP/2.0\r\n\
Via: SIP/2.0/{t} 192.0.2.10:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@192.0.2.10>;tag=a1\r\n\
To: Bob <sip:bob@198.51.100.7>\r\n\
Call-ID: call-1@192.0.2.10\r\n\
CSeq: {cseq} {method}\r\n\
Contact: <sip:alice@192.0.2.10:5060>\r\n\
Content-Length: 0\r\n\r\n"
    ))
}

pub fn invite(transport: Transport, branch: &str) -> Request {
    make_request("INVITE", transport, branch, 1)
}

pub fn options(transport: Transport, branch: &str) -> Request {
    make_request("OPTIONS", transport, branch, 2)
}

/// A response to `req` with a To tag (none for 100).
pub fn reply(req: &Request, code: u16) -> Response {
    let status = StatusCode::from_u16(code).expect("status");
    let mut r = Response::from_request(req, status);
    if code != 100 {
        r.set_to_tag("b2");
        r.headers
            .push(sip_core::HeaderName::Contact, "<sip:bob@198.51.100.7:5060>");
    }
    r
}

/// The ACK a UAC sends for a 2xx: a new branch, the To tag of the 2xx.
pub fn ack_for_2xx(invite: &Request, ok: &Response, branch: &str) -> Request {
    let t = invite.top_via().expect("via").transport().as_str();
    let to = ok.headers.to().expect("to");
    let seq = invite.headers.cseq().expect("cseq").seq;
    request(&format!(
        "ACK sip:bob@198.51.100.7:5060 SIP/2.0\r\n\
Via: SIP/2.0/{t} 192.0.2.10:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@192.0.2.10>;tag=a1\r\n\
To: {to}\r\n\
Call-ID: call-1@192.0.2.10\r\n\
CSeq: {seq} ACK\r\n\
Content-Length: 0\r\n\r\n"
    ))
}

/// What one layer sent, and when.
#[derive(Debug, Clone)]
pub struct Sent {
    pub at: Instant,
    pub transmit: Transmit,
}

impl Sent {
    pub fn first_line(&self) -> String {
        let p = &self.transmit.payload;
        let end = p.iter().position(|&b| b == b'\r').unwrap_or(p.len());
        String::from_utf8_lossy(&p[..end]).into_owned()
    }
}

/// One layer, driven by hand: inputs are given directly, outputs collected.
pub struct Harness {
    pub layer: TransactionLayer,
    pub now: Instant,
    pub start: Instant,
    pub sent: Vec<Sent>,
    pub events: Vec<Event>,
}

impl Harness {
    pub fn new(config: Config) -> Harness {
        let now = Instant::now();
        Harness {
            layer: layer(config),
            now,
            start: now,
            sent: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Collect everything the layer has to say.
    pub fn drain(&mut self) {
        while let Some(t) = self.layer.poll_transmit() {
            self.sent.push(Sent {
                at: self.now,
                transmit: t,
            });
        }
        while let Some(e) = self.layer.poll_event() {
            self.events.push(e);
        }
    }

    pub fn receive(&mut self, msg: impl Into<Message>, source: Peer) {
        self.layer.handle_message(self.now, msg.into(), source);
        self.drain();
    }

    /// Receive the bytes of a message, as the transport would after parsing them.
    pub fn receive_bytes(&mut self, b: &Bytes, source: Peer) {
        self.layer.handle_message(self.now, parse_bytes(b), source);
        self.drain();
    }

    /// Step the clock to the next deadline (if it is no later than `limit`) and fire it.
    pub fn step(&mut self, limit: Instant) -> bool {
        match self.layer.poll_timeout() {
            Some(t) if t <= limit => {
                assert!(t >= self.now, "deadline in the past");
                self.now = t;
                self.layer.handle_timeout(t);
                self.drain();
                true
            }
            _ => false,
        }
    }

    /// Run every timer due up to `start + offset`, then set the clock there.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.now = limit;
    }

    /// Run until no timer is left.
    pub fn run_to_end(&mut self) {
        let far = self.now + Duration::from_secs(3600);
        while self.step(far) {}
    }

    /// The times (since start) at which messages whose first line starts with `prefix` were sent.
    pub fn times_of(&self, prefix: &str) -> Vec<Duration> {
        self.sent
            .iter()
            .filter(|s| s.first_line().starts_with(prefix))
            .map(|s| s.at - self.start)
            .collect()
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.times_of(prefix).len()
    }

    pub fn last_sent(&self) -> &Sent {
        self.sent.last().expect("something was sent")
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The server key of the last Request event.
    pub fn last_server_key(&self) -> sip_core::transaction::ServerKey {
        self.events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::Request { key, .. } => Some(*key),
                _ => None,
            })
            .expect("a Request event")
    }

    /// The request of the last Request event.
    pub fn last_request(&self) -> Request {
        self.events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::Request { request, .. } => Some(request.clone()),
                _ => None,
            })
            .expect("a Request event")
    }

    pub fn terminated(&self, key: TransactionKey) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Terminated { key: k } if *k == key))
    }
}

/// Which way a message travels on the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    ToClient,
}

type LossRule = Box<dyn FnMut(Direction, &Message) -> bool>;

/// Two layers back to back: `client` (the UAC side) and `server` (the UAS side). What
/// one sends reaches the other at once unless the loss rule drops it.
pub struct Pair {
    pub now: Instant,
    pub start: Instant,
    pub client: TransactionLayer,
    pub server: TransactionLayer,
    pub client_peer: Peer,
    pub server_peer: Peer,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Every message put on the link: direction, time since start, first line, dropped.
    pub wire: Vec<(Direction, Duration, String, bool)>,
    lose: LossRule,
}

impl Pair {
    pub fn new(config: Config, transport: Transport) -> Pair {
        let now = Instant::now();
        Pair {
            now,
            start: now,
            client: layer(config.clone()),
            server: layer(config),
            client_peer: peer(transport, UAC_ADDR),
            server_peer: peer(transport, UAS_ADDR),
            client_events: Vec::new(),
            server_events: Vec::new(),
            wire: Vec::new(),
            lose: Box::new(|_, _| false),
        }
    }

    /// Drop the messages for which `rule` returns true.
    pub fn lose(&mut self, rule: impl FnMut(Direction, &Message) -> bool + 'static) {
        self.lose = Box::new(rule);
    }

    /// Deliver everything in flight until both layers are quiet.
    pub fn drive(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                self.carry(Direction::ToServer, t);
            }
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                self.carry(Direction::ToClient, t);
            }
            while let Some(e) = self.client.poll_event() {
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            if !moved {
                return;
            }
        }
    }

    fn carry(&mut self, dir: Direction, t: Transmit) {
        let msg = parse_bytes(&t.payload);
        let line = {
            let p = &t.payload;
            let end = p.iter().position(|&b| b == b'\r').unwrap_or(p.len());
            String::from_utf8_lossy(&p[..end]).into_owned()
        };
        let dropped = (self.lose)(dir, &msg);
        self.wire.push((dir, self.now - self.start, line, dropped));
        if dropped {
            return;
        }
        match dir {
            Direction::ToServer => self.server.handle_message(self.now, msg, self.client_peer),
            Direction::ToClient => self.client.handle_message(self.now, msg, self.server_peer),
        }
    }

    /// Step to the next deadline of either layer, if one is due by `limit`.
    pub fn step(&mut self, limit: Instant) -> bool {
        let next = match (self.client.poll_timeout(), self.server.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match next {
            Some(t) if t <= limit => {
                self.now = t;
                self.client.handle_timeout(t);
                self.server.handle_timeout(t);
                self.drive();
                true
            }
            _ => false,
        }
    }

    pub fn run_for(&mut self, d: Duration) {
        let limit = self.now + d;
        while self.step(limit) {}
        self.now = limit;
    }

    pub fn run_to_end(&mut self) {
        let far = self.now + Duration::from_secs(3600);
        while self.step(far) {}
    }

    /// Lines sent in `dir` (delivered or not) starting with `prefix`, with their times.
    pub fn sent(&self, dir: Direction, prefix: &str) -> Vec<Duration> {
        self.wire
            .iter()
            .filter(|(d, _, l, _)| *d == dir && l.starts_with(prefix))
            .map(|(_, t, _, _)| *t)
            .collect()
    }
}
