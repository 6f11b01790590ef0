//! An in-memory SIP network for black-box tests of the B2BUA: the B2BUA with its own
//! transaction layer and the media fake, simulated user agents built on sip-core (each
//! with a transaction layer of its own), datagrams printed and parsed again on every
//! hop, and one simulated clock stepped from deadline to deadline.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use b2bua::{
    B2bua, B2buaConfig, Binding, CallEvent, EchoMedia, LocalAddr, Locator, SlotCredentials,
    TrunkConfig,
};
use bytes::Bytes;
use media::testing::FakeMedia;
use media::{MediaControl, MediaError, MediaEvent, SdpOptions};
use sip_core::auth::{Algorithm, Challenge, DigestClient, Identity, cnonce_from_random, ha1};
use sip_core::dialog::Dialog;
use sip_core::transaction::{
    ClientKey, Config, Event, Peer, ServerKey, TransactionLayer, new_branch,
};
use sip_core::{HeaderName, Message, Method, Request, Response, StatusCode, Transport, Uri};

pub const DOMAIN: &str = "vss.test";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// An SDP body for a UA at `ip:port`.
pub fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=ua 1000 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
}

/// The same SDP with a new version and direction (hold: `sendonly`).
pub fn sdp_with(ip: &str, port: u16, version: u32, direction: &str) -> String {
    sdp(ip, port)
        .replace("1000 1 IN", &format!("1000 {version} IN"))
        .replace("a=sendrecv", &format!("a={direction}"))
}

/// Slots and their credentials, as the registrar would give them.
#[derive(Default)]
pub struct TestLocator {
    pub bindings: HashMap<String, Vec<Binding>>,
    pub creds: HashMap<String, SlotCredentials>,
}

impl Locator for TestLocator {
    fn lookup(&self, extension: &str) -> Vec<Binding> {
        self.bindings.get(extension).cloned().unwrap_or_default()
    }
    fn credentials(&self, extension: &str) -> Option<SlotCredentials> {
        self.creds.get(extension).cloned()
    }
}

/// Echo over the fake: what `MediaEngine::echo` answers, without sockets.
pub struct FakeEcho(pub Arc<FakeMedia>);

impl EchoMedia for FakeEcho {
    fn echo(
        &self,
        call_id: &str,
        tag: &str,
        offer: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError> {
        self.0.echo(call_id, tag, offer, opts)
    }
}

/// The media fake, with every offer's and answer's options logged.
pub struct LoggingMedia {
    pub inner: Arc<FakeMedia>,
    pub log: std::sync::Mutex<Vec<(String, SdpOptions)>>,
}

impl MediaControl for LoggingMedia {
    fn offer(
        &self,
        call_id: &str,
        from_tag: &str,
        sdp: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError> {
        self.log
            .lock()
            .unwrap()
            .push((from_tag.to_owned(), opts.clone()));
        self.inner.offer(call_id, from_tag, sdp, opts)
    }
    fn answer(
        &self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        sdp: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError> {
        self.log
            .lock()
            .unwrap()
            .push((to_tag.to_owned(), opts.clone()));
        self.inner.answer(call_id, from_tag, to_tag, sdp, opts)
    }
    fn delete(&self, call_id: &str) -> Result<media::SessionStats, MediaError> {
        self.inner.delete(call_id)
    }
    fn stats(&self, call_id: &str) -> Result<media::SessionStats, MediaError> {
        self.inner.stats(call_id)
    }
    fn list(&self) -> Vec<String> {
        self.inner.list()
    }
    fn start_recording(&self, call_id: &str) -> Result<std::path::PathBuf, MediaError> {
        self.inner.start_recording(call_id)
    }
    fn stop_recording(&self, call_id: &str) -> Result<media::RecordingReport, MediaError> {
        self.inner.stop_recording(call_id)
    }
}

/// A call of a test UA.
pub struct UaCall {
    pub call_id: String,
    /// Our INVITE (UAC side) or theirs (UAS side).
    pub invite: Request,
    pub dialog: Option<Dialog>,
    /// UAS side: our tag and the INVITE's server transaction.
    pub tag: String,
    pub server: Option<ServerKey>,
    /// UAC side: the INVITE's client transaction.
    pub client: Option<ClientKey>,
    pub uac: bool,
}

/// A scripted SIP user agent.
pub struct Ua {
    pub name: String,
    pub addr: SocketAddr,
    pub layer: TransactionLayer,
    /// Every event its layer produced, in order (auto-answered requests included).
    pub inbox: Vec<Event>,
    pub calls: Vec<UaCall>,
    /// Digest credentials it answers 401/407 with (a slot's phone).
    pub credentials: Option<(String, String)>,
    pub auto_ack: bool,
    /// Answer in-dialog BYE, INFO, UPDATE, OPTIONS, PRACK with 200 by itself.
    pub auto_answer: bool,
    /// Answer re-INVITEs with 200 and this SDP by itself.
    pub auto_reinvite: Option<String>,
    /// PRACK reliable provisionals by itself.
    pub auto_prack: bool,
    /// The last in-dialog request sent with [`Net::request_in`].
    pub last_sent: Option<Request>,
    seq: u64,
}

/// One message on the wire.
#[derive(Clone)]
pub struct Wire {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Bytes,
}

impl Wire {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

pub struct Net {
    pub now: Instant,
    pub b2b_addr: SocketAddr,
    pub b2b_layer: TransactionLayer,
    pub b2bua: B2bua,
    pub media: Arc<FakeMedia>,
    /// The options of every offer and answer, by the author's tag.
    pub media_log: Arc<LoggingMedia>,
    pub locator: TestLocator,
    pub uas: Vec<Ua>,
    pub events: Vec<CallEvent>,
    /// Events the B2BUA gave back (not its own).
    pub returned: Vec<Event>,
    /// Confirm CDRs at once (else tokens wait in `pending_tokens`).
    pub auto_persist: bool,
    pub pending_tokens: Vec<b2bua::CompletionToken>,
    pub wire: Vec<Wire>,
    queue: VecDeque<(SocketAddr, Peer, Bytes)>,
    /// Addresses that swallow everything sent to them (a dead trunk).
    pub black_holes: Vec<SocketAddr>,
}

fn layer() -> TransactionLayer {
    TransactionLayer::new(Config {
        force_rport: true,
        tag_secret: [3; 16],
        ..Config::default()
    })
    .unwrap()
}

pub fn base_config() -> B2buaConfig {
    B2buaConfig::new(
        DOMAIN,
        vec![LocalAddr::new(Transport::Udp, addr("10.0.0.1:5060"))],
        &[42; 32],
    )
}

pub fn trunk(name: &str, at: &str, prefixes: &[&str]) -> TrunkConfig {
    let mut t = TrunkConfig::new(name, format!("{name}.example"), vec![addr(at)]);
    t.prefixes = prefixes.iter().map(|p| (*p).to_owned()).collect();
    t.options_interval = None;
    t
}

impl Net {
    pub fn new(config: B2buaConfig) -> Net {
        let now = Instant::now();
        let media = Arc::new(FakeMedia::default());
        let echo: Arc<dyn EchoMedia> = Arc::new(FakeEcho(media.clone()));
        let b2b_addr = config.listen[0].addr;
        let media_log = Arc::new(LoggingMedia {
            inner: media.clone(),
            log: std::sync::Mutex::new(Vec::new()),
        });
        let b2bua = B2bua::new(
            config,
            media_log.clone(),
            Some(echo),
            now,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            [7; 32],
        )
        .unwrap();
        Net {
            media_log,
            now,
            b2b_addr,
            b2b_layer: layer(),
            b2bua,
            media,
            locator: TestLocator::default(),
            uas: Vec::new(),
            events: Vec::new(),
            returned: Vec::new(),
            auto_persist: true,
            pending_tokens: Vec::new(),
            wire: Vec::new(),
            queue: VecDeque::new(),
            black_holes: Vec::new(),
        }
    }

    pub fn add_ua(&mut self, name: &str, at: &str) -> usize {
        self.uas.push(Ua {
            name: name.to_owned(),
            addr: addr(at),
            layer: layer(),
            inbox: Vec::new(),
            calls: Vec::new(),
            credentials: None,
            auto_ack: true,
            auto_answer: true,
            auto_reinvite: None,
            auto_prack: true,
            last_sent: None,
            seq: 0,
        });
        self.uas.len() - 1
    }

    /// A provisioned slot with a phone that registered from `at`.
    pub fn add_slot(&mut self, ext: &str, at: &str) -> usize {
        let ua = self.add_ua(ext, at);
        self.uas[ua].credentials = Some((ext.to_owned(), format!("pw{ext}")));
        self.provision(ext);
        self.bind(ext, ua);
        ua
    }

    pub fn provision(&mut self, ext: &str) {
        let pw = format!("pw{ext}");
        self.locator.creds.insert(
            ext.to_owned(),
            SlotCredentials {
                ha1_md5: ha1(Algorithm::Md5, ext, DOMAIN, &pw),
                ha1_sha256: ha1(Algorithm::Sha256, ext, DOMAIN, &pw),
            },
        );
    }

    pub fn bind(&mut self, ext: &str, ua: usize) {
        let a = self.uas[ua].addr;
        self.locator
            .bindings
            .entry(ext.to_owned())
            .or_default()
            .push(Binding {
                contact: Uri::parse_str(&format!("sip:{ext}@{a}")).unwrap(),
                peer: Peer::udp(a),
                q: None,
            });
    }

    // ---- driving ----------------------------------------------------------------------

    fn drain_b2b(&mut self) -> bool {
        let mut progress = false;
        while let Some(ev) = self.b2b_layer.poll_event() {
            progress = true;
            if let Some(back) =
                self.b2bua
                    .handle_event(self.now, ev, &mut self.b2b_layer, &self.locator)
            {
                self.returned.push(back);
            }
        }
        while let Some(ev) = self.b2bua.poll_call_event() {
            progress = true;
            if let CallEvent::Ended(e) = &ev {
                if self.auto_persist {
                    self.b2bua
                        .handle_call_persisted(self.now, e.token, &mut self.b2b_layer);
                } else {
                    self.pending_tokens.push(e.token);
                }
            }
            self.events.push(ev);
        }
        while let Some(t) = self.b2b_layer.poll_transmit() {
            progress = true;
            self.queue.push_back((self.b2b_addr, t.dest, t.payload));
        }
        progress
    }

    fn drain_uas(&mut self) -> bool {
        let mut progress = false;
        for i in 0..self.uas.len() {
            while let Some(ev) = self.uas[i].layer.poll_event() {
                progress = true;
                self.ua_auto(i, &ev);
                self.uas[i].inbox.push(ev);
            }
            while let Some(t) = self.uas[i].layer.poll_transmit() {
                progress = true;
                let from = self.uas[i].addr;
                self.queue.push_back((from, t.dest, t.payload));
            }
        }
        progress
    }

    fn deliver(&mut self) -> bool {
        let mut progress = false;
        while let Some((from, dest, bytes)) = self.queue.pop_front() {
            progress = true;
            self.wire.push(Wire {
                from,
                to: dest.addr,
                bytes: bytes.clone(),
            });
            if self.black_holes.contains(&dest.addr) {
                continue;
            }
            let msg = Message::parse_datagram(bytes).expect("every message on the wire parses");
            let src = Peer::udp(from);
            if dest.addr == self.b2b_addr {
                self.b2b_layer.handle_message(self.now, msg, src);
            } else if let Some(ua) = self.uas.iter_mut().find(|u| u.addr == dest.addr) {
                ua.layer.handle_message(self.now, msg, src);
            }
        }
        progress
    }

    /// Deliver and react until nothing moves.
    pub fn run(&mut self) {
        for _ in 0..10_000 {
            let a = self.drain_b2b();
            let b = self.drain_uas();
            let c = self.deliver();
            if !(a || b || c) {
                return;
            }
        }
        panic!("the network did not settle");
    }

    fn next_deadline(&mut self) -> Option<Instant> {
        let mut d = self.b2b_layer.poll_timeout();
        for t in [self.b2bua.poll_timeout()]
            .into_iter()
            .chain(self.uas.iter_mut().map(|u| u.layer.poll_timeout()))
            .flatten()
        {
            d = Some(d.map_or(t, |x: Instant| x.min(t)));
        }
        d
    }

    /// Step the clock by `by`, firing every deadline on the way in order.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        loop {
            self.run();
            match self.next_deadline() {
                Some(d) if d <= target => {
                    self.now = self.now.max(d);
                    self.b2b_layer.handle_timeout(self.now);
                    self.b2bua.handle_timeout(self.now, &mut self.b2b_layer);
                    for u in &mut self.uas {
                        u.layer.handle_timeout(self.now);
                    }
                }
                _ => break,
            }
        }
        self.now = target;
        self.run();
    }

    pub fn media_event(&mut self, ev: MediaEvent) {
        self.b2bua
            .handle_media_event(self.now, ev, &mut self.b2b_layer);
        self.run();
    }

    pub fn persist_all(&mut self) {
        for t in std::mem::take(&mut self.pending_tokens) {
            self.b2bua
                .handle_call_persisted(self.now, t, &mut self.b2b_layer);
        }
        self.run();
    }

    pub fn originate(
        &mut self,
        slot: &str,
        number: &str,
        options: b2bua::OriginateOptions,
    ) -> Result<b2bua::CallId, b2bua::OriginateError> {
        let r = self.b2bua.originate(
            self.now,
            slot,
            number,
            options,
            &mut self.b2b_layer,
            &self.locator,
        );
        self.run();
        r
    }

    // ---- UA actions -------------------------------------------------------------------

    fn next_random(&mut self, ua: usize) -> [u8; 16] {
        let u = &mut self.uas[ua];
        u.seq += 1;
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&u.seq.to_be_bytes());
        b[8] = ua as u8;
        b[9..].copy_from_slice(&u.addr.port().to_be_bytes().repeat(4)[..7]);
        b
    }

    fn via(&mut self, ua: usize) -> String {
        let branch = new_branch(&self.next_random(ua));
        format!("SIP/2.0/UDP {};branch={branch};rport", self.uas[ua].addr)
    }

    fn b2b_peer(&self) -> Peer {
        Peer::udp(self.b2b_addr)
    }

    /// Send an INVITE to the B2BUA for `target` (a number or a full URI).
    pub fn invite(
        &mut self,
        ua: usize,
        target: &str,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) -> String {
        let a = self.uas[ua].addr;
        let name = self.uas[ua].name.clone();
        let uri = if target.contains(':') {
            target.to_owned()
        } else {
            format!("sip:{target}@{DOMAIN}")
        };
        let call_id = format!("{name}-{}@{a}", self.uas[ua].seq + 1);
        let tag = format!("tag-{name}-{}", self.uas[ua].seq + 1);
        let via = self.via(ua);
        let mut text = format!(
            "INVITE {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\nFrom: \"{name}\" <sip:{name}@{DOMAIN}>;tag={tag}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:{name}@{a}>\r\nAllow: INVITE, ACK, CANCEL, BYE, INFO, UPDATE, PRACK, OPTIONS\r\nUser-Agent: TestPhone {name}\r\n"
        );
        for (n, v) in extra {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        let body = body.unwrap_or("");
        if !body.is_empty() {
            text.push_str("Content-Type: application/sdp\r\n");
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        let Message::Request(req) = Message::parse_datagram(Bytes::from(text)).unwrap() else {
            panic!()
        };
        let key = {
            let p = self.b2b_peer();
            self.uas[ua].layer.send_request(self.now, req.clone(), p)
        }
        .unwrap();
        self.uas[ua].calls.push(UaCall {
            call_id: call_id.clone(),
            invite: req,
            dialog: None,
            tag,
            server: None,
            client: Some(key),
            uac: true,
        });
        self.run();
        call_id
    }

    /// Send a request written by hand from the UA to the B2BUA (`{via}` is replaced by
    /// a fresh Via of the UA).
    pub fn send_raw(&mut self, ua: usize, text: &str) {
        let via = self.via(ua);
        let text = text.replace("{via}", &via);
        let Message::Request(req) = Message::parse_datagram(Bytes::from(text)).unwrap() else {
            panic!("not a request")
        };
        let p = self.b2b_peer();
        self.uas[ua].layer.send_request(self.now, req, p).unwrap();
        self.run();
    }

    /// Take the next request of `method` from the UA's inbox.
    pub fn take_request(&mut self, ua: usize, method: Method) -> (ServerKey, Request) {
        self.try_take_request(ua, method.clone())
            .unwrap_or_else(|| panic!("{}: no {method} in the inbox", self.uas[ua].name))
    }

    pub fn try_take_request(&mut self, ua: usize, method: Method) -> Option<(ServerKey, Request)> {
        let inbox = &mut self.uas[ua].inbox;
        let at = inbox.iter().position(
            |e| matches!(e, Event::Request { request, .. } if request.method == method),
        )?;
        match inbox.remove(at) {
            Event::Request { key, request, .. } => Some((key, request)),
            _ => None,
        }
    }

    /// Whether a request of `method` arrived (without taking it).
    pub fn has_request(&self, ua: usize, method: Method) -> bool {
        self.uas[ua]
            .inbox
            .iter()
            .any(|e| matches!(e, Event::Request { request, .. } if request.method == method))
    }

    /// Take the next response with `status` from the inbox.
    pub fn take_response(&mut self, ua: usize, status: u16) -> Response {
        self.try_take_response(ua, status).unwrap_or_else(|| {
            panic!(
                "{}: no {status} in the inbox: {:?}",
                self.uas[ua].name, self.uas[ua].inbox
            )
        })
    }

    pub fn try_take_response(&mut self, ua: usize, status: u16) -> Option<Response> {
        let inbox = &mut self.uas[ua].inbox;
        let at = inbox.iter().position(
            |e| matches!(e, Event::Response { response, .. } if response.status.as_u16() == status),
        )?;
        match inbox.remove(at) {
            Event::Response { response, .. } => Some(response),
            _ => None,
        }
    }

    /// Statuses of the final responses the UA got, in order.
    pub fn finals(&self, ua: usize) -> Vec<u16> {
        self.uas[ua]
            .inbox
            .iter()
            .filter_map(|e| match e {
                Event::Response { response, .. } if response.status.is_final() => {
                    Some(response.status.as_u16())
                }
                _ => None,
            })
            .collect()
    }

    /// Answer an INVITE (or any request) the UA received: 18x/2xx create its dialog.
    pub fn answer(
        &mut self,
        ua: usize,
        key: ServerKey,
        request: &Request,
        status: u16,
        body: Option<&str>,
    ) {
        self.answer_with(ua, key, request, status, body, &[]);
    }

    /// [`Net::answer`] with extra headers.
    pub fn answer_with(
        &mut self,
        ua: usize,
        key: ServerKey,
        request: &Request,
        status: u16,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) {
        let call_id = String::from_utf8_lossy(request.headers.call_id().unwrap()).into_owned();
        let is_invite = request.method == Method::Invite && !request.in_dialog();
        let tag = if is_invite {
            let existing = self.uas[ua]
                .calls
                .iter()
                .position(|c| c.call_id == call_id && !c.uac && c.server == Some(key));
            match existing {
                Some(i) => self.uas[ua].calls[i].tag.clone(),
                None => {
                    let tag = format!("uas-{}-{}", self.uas[ua].name, self.uas[ua].calls.len() + 1);
                    self.uas[ua].calls.push(UaCall {
                        call_id: call_id.clone(),
                        invite: request.clone(),
                        dialog: None,
                        tag: tag.clone(),
                        server: Some(key),
                        client: None,
                        uac: false,
                    });
                    tag
                }
            }
        } else {
            "x".to_owned()
        };
        let status = StatusCode::from_u16(status).unwrap();
        let mut r = Response::from_request(request, status);
        if status != StatusCode::TRYING {
            r.set_to_tag(&tag);
        }
        let a = self.uas[ua].addr;
        if (status.is_provisional() && status != StatusCode::TRYING) || status.is_success() {
            r.headers.push(
                HeaderName::Contact,
                Bytes::from(format!("<sip:{}@{a}>", self.uas[ua].name)),
            );
        }
        for (n, v) in extra {
            r.headers.push(
                HeaderName::from_bytes(n.as_bytes()),
                Bytes::copy_from_slice(v.as_bytes()),
            );
        }
        if let Some(b) = body {
            r.set_body("application/sdp", Bytes::copy_from_slice(b.as_bytes()));
        }
        if is_invite
            && (status.is_success() || (status.is_provisional() && status != StatusCode::TRYING))
        {
            let i = self.uas[ua]
                .calls
                .iter()
                .position(|c| c.server == Some(key))
                .unwrap();
            let c = &mut self.uas[ua].calls[i];
            if c.dialog.is_none() {
                c.dialog = Some(Dialog::uas(request, &c.tag).unwrap());
            }
            if let Some(d) = &mut c.dialog {
                d.handle_sent_response(&r).unwrap();
            }
        }
        self.respond(ua, key, r);
    }

    /// Send a response as built.
    pub fn respond(&mut self, ua: usize, key: ServerKey, r: Response) {
        self.uas[ua].layer.send_response(self.now, &key, r).unwrap();
        self.run();
    }

    fn call_index(&self, ua: usize, call_id: &str) -> usize {
        self.uas[ua]
            .calls
            .iter()
            .rposition(|c| c.call_id == call_id && c.dialog.is_some())
            .unwrap_or_else(|| panic!("no dialog {call_id}"))
    }

    /// The Call-ID of the UA's latest call (incoming or outgoing).
    pub fn last_call(&self, ua: usize) -> String {
        self.uas[ua].calls.last().unwrap().call_id.clone()
    }

    /// Send a request inside the UA's dialog of `call_id`.
    pub fn request_in(
        &mut self,
        ua: usize,
        call_id: &str,
        method: Method,
        content_type: Option<&str>,
        body: Option<&str>,
        extra: &[(&str, &str)],
    ) -> ClientKey {
        let i = self.call_index(ua, call_id);
        let via = self.via(ua);
        let a = self.uas[ua].addr;
        let name = self.uas[ua].name.clone();
        let d = self.uas[ua].calls[i].dialog.as_mut().unwrap();
        if d.local_contact().is_none() {
            d.set_local_contact(sip_core::NameAddr::parse(&format!("<sip:{name}@{a}>")).unwrap());
        }
        let mut r = d.create_request(method).unwrap();
        r.headers.push_front(HeaderName::Via, Bytes::from(via));
        for (n, v) in extra {
            r.headers.push(
                HeaderName::from_bytes(n.as_bytes()),
                Bytes::copy_from_slice(v.as_bytes()),
            );
        }
        if let Some(b) = body {
            r.set_body(
                content_type.unwrap_or("application/sdp"),
                Bytes::copy_from_slice(b.as_bytes()),
            );
        }
        self.uas[ua].last_sent = Some(r.clone());
        let key = {
            let p = self.b2b_peer();
            self.uas[ua].layer.send_request(self.now, r, p)
        }
        .unwrap();
        self.run();
        key
    }

    pub fn bye(&mut self, ua: usize, call_id: &str) -> ClientKey {
        self.request_in(ua, call_id, Method::Bye, None, None, &[])
    }

    /// CANCEL the last in-dialog request the UA sent (a re-INVITE).
    pub fn cancel_last(&mut self, ua: usize) {
        let sent = self.uas[ua].last_sent.clone().unwrap();
        let cancel = sip_core::transaction::cancel_for(&sent).unwrap();
        let p = self.b2b_peer();
        self.uas[ua]
            .layer
            .send_request(self.now, cancel, p)
            .unwrap();
        self.run();
    }

    /// CANCEL the UA's INVITE of `call_id`.
    pub fn cancel(&mut self, ua: usize, call_id: &str) {
        let c = self.uas[ua]
            .calls
            .iter()
            .rfind(|c| c.call_id == call_id && c.uac)
            .unwrap();
        let cancel = sip_core::transaction::cancel_for(&c.invite).unwrap();
        {
            let p = self.b2b_peer();
            self.uas[ua].layer.send_request(self.now, cancel, p)
        }
        .unwrap();
        self.run();
    }

    /// The request the B2BUA sent to a UA most recently with `method` (from the wire).
    pub fn wire_to(&self, ua: usize, method: &str) -> Vec<Wire> {
        let a = self.uas[ua].addr;
        self.wire
            .iter()
            .filter(|w| w.to == a && w.text().starts_with(&format!("{method} ")))
            .cloned()
            .collect()
    }

    /// Every message between the B2BUA and one UA (both ways).
    pub fn wire_with(&self, ua: usize) -> Vec<Wire> {
        let a = self.uas[ua].addr;
        self.wire
            .iter()
            .filter(|w| w.to == a || w.from == a)
            .cloned()
            .collect()
    }

    pub fn ended(&self) -> Vec<&b2bua::CallEnded> {
        self.events
            .iter()
            .filter_map(|e| match e {
                CallEvent::Ended(e) => Some(&**e),
                _ => None,
            })
            .collect()
    }

    // ---- UA reflexes ------------------------------------------------------------------

    fn ua_auto(&mut self, i: usize, ev: &Event) {
        match ev {
            Event::Response {
                key,
                response,
                source,
            } => self.ua_on_response(i, *key, response, *source),
            Event::Request { key, request, .. }
                if request.method == Method::Options
                    && !request.in_dialog()
                    && self.uas[i].auto_answer =>
            {
                let mut r = Response::from_request(request, StatusCode::OK);
                r.set_to_tag("opt");
                let _ = self.uas[i].layer.send_response(self.now, key, r);
            }
            Event::Request { key, request, .. } if request.in_dialog() => {
                let m = request.method.clone();
                let auto = self.uas[i].auto_answer;
                let simple = matches!(
                    m,
                    Method::Bye | Method::Info | Method::Options | Method::Prack
                ) || (m == Method::Update && request.body.is_empty());
                if let Some(c) = self.uas[i].calls.iter_mut().find(|c| {
                    c.dialog
                        .as_ref()
                        .is_some_and(|d| d.id().call_id == request.headers.call_id().unwrap())
                }) && let Some(d) = &mut c.dialog
                {
                    let _ = d.handle_request(request);
                }
                if auto && simple {
                    let mut r = Response::from_request(request, StatusCode::OK);
                    if let Some(se) = request.headers.get_value(&HeaderName::SessionExpires) {
                        r.headers.push(HeaderName::SessionExpires, se.clone());
                    }
                    let _ = self.uas[i].layer.send_response(self.now, key, r);
                } else if m == Method::Invite
                    && let Some(body) = self.uas[i].auto_reinvite.clone()
                {
                    let mut r = Response::from_request(request, StatusCode::OK);
                    let a = self.uas[i].addr;
                    r.headers.push(
                        HeaderName::Contact,
                        Bytes::from(format!("<sip:{}@{a}>", self.uas[i].name)),
                    );
                    if let Some(se) = request.headers.get_value(&HeaderName::SessionExpires) {
                        r.headers.push(HeaderName::SessionExpires, se.clone());
                    }
                    r.set_body("application/sdp", Bytes::from(body));
                    let _ = self.uas[i].layer.send_response(self.now, key, r);
                }
            }
            _ => {}
        }
    }

    fn ua_on_response(&mut self, i: usize, key: ClientKey, response: &Response, source: Peer) {
        let Some(ci) = self.uas[i].calls.iter().position(|c| c.client == Some(key)) else {
            // A response to an in-dialog request: update the dialog.
            return;
        };
        let status = response.status;
        if (status == StatusCode::PROXY_AUTHENTICATION_REQUIRED
            || status == StatusCode::UNAUTHORIZED)
            && let Some((user, pw)) = self.uas[i].credentials.clone()
        {
            let name = if status == StatusCode::UNAUTHORIZED {
                HeaderName::WwwAuthenticate
            } else {
                HeaderName::ProxyAuthenticate
            };
            let answer = if status == StatusCode::UNAUTHORIZED {
                HeaderName::Authorization
            } else {
                HeaderName::ProxyAuthorization
            };
            if self.uas[i].calls[ci].invite.headers.contains(&answer)
                && !response
                    .headers
                    .get_value(&name)
                    .is_some_and(|v| String::from_utf8_lossy(v).contains("stale=true"))
            {
                return;
            }
            let challenge = Challenge::parse(response.headers.get_value(&name).unwrap()).unwrap();
            let mut client = DigestClient::new(Identity::with_password(user, pw));
            client.handle_challenge(challenge).unwrap();
            let mut inv = self.uas[i].calls[ci].invite.clone();
            let uri = inv.uri.to_string();
            let creds = client
                .authorize("INVITE", &uri, &cnonce_from_random(&self.next_random(i)))
                .unwrap();
            let seq = inv.headers.cseq().unwrap().seq + 1;
            inv.headers.set(HeaderName::CSeq, format!("{seq} INVITE"));
            inv.headers.remove(&answer);
            inv.headers.push(answer, Bytes::from(creds.to_string()));
            let via = self.via(i);
            inv.headers.set(HeaderName::Via, Bytes::from(via));
            let k = self.uas[i]
                .layer
                .send_request(self.now, inv.clone(), source)
                .unwrap();
            let c = &mut self.uas[i].calls[ci];
            c.invite = inv;
            c.client = Some(k);
            return;
        }
        if status.is_provisional() && status != StatusCode::TRYING {
            let inv = self.uas[i].calls[ci].invite.clone();
            if self.uas[i].calls[ci].dialog.is_none()
                && response.headers.to().unwrap().tag().is_some()
            {
                self.uas[i].calls[ci].dialog = Dialog::uac(&inv, response).ok();
            }
            let rseq = response.headers.number(&HeaderName::RSeq).ok().flatten();
            if self.uas[i].auto_prack
                && response.headers.has_token(&HeaderName::Require, "100rel")
                && let Some(rseq) = rseq
                && let Some(d) = &mut self.uas[i].calls[ci].dialog
            {
                let mut prack = d.create_request(Method::Prack).unwrap();
                let cseq = response.headers.cseq().unwrap().seq;
                prack.headers.push(
                    HeaderName::RAck,
                    Bytes::from(format!("{rseq} {cseq} INVITE")),
                );
                let via = self.via(i);
                prack.headers.push_front(HeaderName::Via, Bytes::from(via));
                self.uas[i]
                    .layer
                    .send_request(self.now, prack, source)
                    .unwrap();
            }
        }
        if status.is_success() {
            let inv = self.uas[i].calls[ci].invite.clone();
            let c = &mut self.uas[i].calls[ci];
            let mut d = match c.dialog.take() {
                Some(mut d)
                    if d.id().remote_tag[..] == *response.headers.to().unwrap().tag().unwrap() =>
                {
                    d.handle_response(response).unwrap();
                    d
                }
                _ => Dialog::uac(&inv, response).unwrap(),
            };
            if self.uas[i].auto_ack {
                let mut ack = d.create_ack(response).unwrap();
                let via = self.via(i);
                ack.headers.push_front(HeaderName::Via, Bytes::from(via));
                self.uas[i]
                    .layer
                    .send_stateless(source, Message::Request(ack));
            }
            d.set_local_contact(
                sip_core::NameAddr::parse(&format!(
                    "<sip:{}@{}>",
                    self.uas[i].name, self.uas[i].addr
                ))
                .unwrap(),
            );
            self.uas[i].calls[ci].dialog = Some(d);
        }
    }

    /// Send the ACK for the 2xx of the UA's INVITE by hand (with `auto_ack` off).
    pub fn ack(&mut self, ua: usize, call_id: &str, response: &Response, body: Option<&str>) {
        let i = self.call_index(ua, call_id);
        let via = self.via(ua);
        let d = self.uas[ua].calls[i].dialog.as_ref().unwrap();
        let mut ack = d.create_ack(response).unwrap();
        ack.headers.push_front(HeaderName::Via, Bytes::from(via));
        if let Some(b) = body {
            ack.set_body("application/sdp", Bytes::copy_from_slice(b.as_bytes()));
        }
        let p = self.b2b_peer();
        self.uas[ua].layer.send_stateless(p, Message::Request(ack));
        self.run();
    }

    /// A CANCEL for one of the UA's INVITEs arrived (its layer answered it 200).
    pub fn was_cancelled(&self, ua: usize) -> bool {
        self.uas[ua]
            .inbox
            .iter()
            .any(|e| matches!(e, Event::Cancelled { .. }))
    }

    /// An ACK to a UA's INVITE arrived at the UA (the B2BUA acknowledged its 2xx).
    pub fn acks(&self, ua: usize) -> usize {
        self.uas[ua]
            .inbox
            .iter()
            .filter(|e| matches!(e, Event::Ack { .. }))
            .count()
    }
}
