//! Shared fixtures: a registrar on a simulated clock, phones that register through it,
//! and fresh databases (SQLite in a temp dir, PostgreSQL per test).
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use registrar::{Binding, BindingEvent, Extension, Registrar, RegistrarConfig, Slot, Store};
use sip_core::auth::{Algorithm, Challenge, DigestClient, Identity};
use sip_core::header::HeaderName;
use sip_core::transaction::Peer;
use sip_core::{Message, Request, Response, StatusCode, Transport};

pub const DOMAIN: &str = "vss.test";
pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// The password of every provisioned test slot: "pw-" and the extension.
pub fn password(ext: u16) -> String {
    format!("pw-{ext}")
}

pub fn ext(n: u16) -> Extension {
    Extension::new(n).unwrap()
}

/// 2026-01-01T00:00:00Z
pub fn wall0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

pub fn udp(addr: &str) -> Peer {
    Peer::udp(addr.parse().unwrap())
}

pub fn tcp(addr: &str, connection: u64) -> Peer {
    Peer {
        transport: Transport::Tcp,
        addr: addr.parse().unwrap(),
        connection: Some(connection),
    }
}

/// A registrar whose clock only moves when a test says so.
pub struct Harness {
    pub reg: Registrar,
    pub t0: Instant,
    pub now: Instant,
    pub wall: SystemTime,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(RegistrarConfig::new(DOMAIN))
    }

    /// Slots 6001–6005, 7001 and 8001 provisioned.
    pub fn with_config(config: RegistrarConfig) -> Harness {
        let mut h = Harness::empty(config);
        h.reg.set_slots(
            [6001, 6002, 6003, 6004, 6005, 7001, 8001]
                .into_iter()
                .map(|n| Slot::with_password(ext(n), Some("hub1".into()), DOMAIN, &password(n))),
        );
        h
    }

    pub fn empty(config: RegistrarConfig) -> Harness {
        let now = Instant::now();
        Harness {
            reg: Registrar::new(config, SECRET, wall0()).unwrap(),
            t0: now,
            now,
            wall: wall0(),
        }
    }

    /// Moves both clocks forward and fires what is due.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.wall += d;
        self.reg.handle_timeout(self.now, self.wall);
    }

    /// Moves the clocks forward without firing timers.
    pub fn skip(&mut self, d: Duration) {
        self.now += d;
        self.wall += d;
    }

    pub fn send(&mut self, request: &Request, source: Peer) -> Response {
        let resp = self
            .reg
            .handle_register(self.now, self.wall, request, source);
        // Every response must be printable and parse back as a valid message.
        let bytes = resp.to_bytes();
        match Message::parse_datagram(bytes) {
            Ok(Message::Response(r)) => r,
            other => panic!("registrar produced an unparsable response: {other:?}"),
        }
    }

    pub fn events(&mut self) -> Vec<BindingEvent> {
        std::iter::from_fn(|| self.reg.poll_event()).collect()
    }

    pub fn event_names(&mut self) -> Vec<&'static str> {
        self.events().iter().map(BindingEvent::name).collect()
    }

    pub fn contacts(&self, n: u16) -> Vec<String> {
        self.reg
            .lookup(ext(n))
            .iter()
            .map(|b: &Binding| b.contact().to_string())
            .collect()
    }
}

/// A REGISTER under construction.
#[derive(Clone)]
pub struct Reg {
    pub to: String,
    pub from: String,
    pub request_uri: String,
    pub call_id: String,
    pub cseq: u32,
    pub contacts: Vec<String>,
    pub expires: Option<String>,
    pub authorization: Vec<String>,
    pub extra: Vec<String>,
}

impl Reg {
    pub fn new(n: u16) -> Reg {
        Reg {
            to: format!("<sip:{n}@{DOMAIN}>"),
            from: format!("<sip:{n}@{DOMAIN}>;tag=f{n}"),
            request_uri: format!("sip:{DOMAIN}"),
            call_id: format!("call-{n}@192.0.2.1"),
            cseq: 1,
            contacts: vec![format!("<sip:{n}@192.0.2.1:5060>")],
            expires: None,
            authorization: Vec::new(),
            extra: Vec::new(),
        }
    }

    pub fn contact(mut self, c: &str) -> Reg {
        self.contacts = vec![c.to_owned()];
        self
    }

    pub fn contacts(mut self, c: &[&str]) -> Reg {
        self.contacts = c.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn expires(mut self, e: &str) -> Reg {
        self.expires = Some(e.to_owned());
        self
    }

    pub fn cseq(mut self, n: u32) -> Reg {
        self.cseq = n;
        self
    }

    pub fn call_id(mut self, c: &str) -> Reg {
        self.call_id = c.to_owned();
        self
    }

    pub fn header(mut self, h: &str) -> Reg {
        self.extra.push(h.to_owned());
        self
    }

    pub fn text(&self) -> String {
        let mut s = format!(
            "REGISTER {} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK{}x{}\r\n\
             Max-Forwards: 70\r\n\
             To: {}\r\n\
             From: {}\r\n\
             Call-ID: {}\r\n\
             CSeq: {} REGISTER\r\n",
            self.request_uri,
            self.cseq,
            self.call_id.len(),
            self.to,
            self.from,
            self.call_id,
            self.cseq
        );
        for c in &self.contacts {
            s.push_str(&format!("Contact: {c}\r\n"));
        }
        if let Some(e) = &self.expires {
            s.push_str(&format!("Expires: {e}\r\n"));
        }
        for a in &self.authorization {
            s.push_str(&format!("Authorization: {a}\r\n"));
        }
        for x in &self.extra {
            s.push_str(x);
            s.push_str("\r\n");
        }
        s.push_str("Content-Length: 0\r\n\r\n");
        s
    }

    pub fn build(&self) -> Request {
        parse_request(&self.text())
    }
}

pub fn parse_request(text: &str) -> Request {
    match Message::parse_datagram(Bytes::from(text.to_owned())).unwrap() {
        Message::Request(r) => r,
        Message::Response(_) => panic!("not a request"),
    }
}

pub fn challenges(resp: &Response) -> Vec<Challenge> {
    resp.headers
        .get_all(&HeaderName::WwwAuthenticate)
        .map(|h| Challenge::parse(h.value()).unwrap())
        .collect()
}

pub fn header(resp: &Response, name: HeaderName) -> Option<String> {
    resp.headers
        .get_value(&name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

pub fn contact_headers(resp: &Response) -> Vec<String> {
    resp.headers
        .values(&HeaderName::Contact)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect()
}

/// A device that registers one extension: challenge, then credentials with increasing
/// nonce-count, like a real phone.
pub struct Phone {
    pub n: u16,
    pub client: DigestClient,
    pub cseq: u32,
    pub source: Peer,
    pub call_id: String,
    pub algorithm: Option<Algorithm>,
}

impl Phone {
    pub fn new(n: u16, source: Peer) -> Phone {
        Phone::with_password(n, &password(n), source)
    }

    pub fn with_password(n: u16, pw: &str, source: Peer) -> Phone {
        Phone {
            n,
            client: DigestClient::new(Identity::with_password(n.to_string(), pw)),
            cseq: 0,
            source,
            call_id: format!("phone-{n}-{}", source.addr.port()),
            algorithm: None,
        }
    }

    /// Only answer challenges of this algorithm (else the first offered).
    pub fn prefer(mut self, alg: Algorithm) -> Phone {
        self.algorithm = Some(alg);
        self
    }

    /// The next REGISTER of this phone (CSeq incremented), without credentials.
    pub fn next(&mut self) -> Reg {
        self.cseq += 1;
        Reg::new(self.n).call_id(&self.call_id).cseq(self.cseq)
    }

    pub fn take_challenge(&mut self, resp: &Response) {
        assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{resp:?}");
        let all = challenges(resp);
        let c = match self.algorithm {
            Some(a) => all
                .into_iter()
                .find(|c| c.effective_algorithm() == a)
                .unwrap(),
            None => all.into_iter().next().unwrap(),
        };
        self.client.handle_challenge(c).unwrap();
    }

    /// Adds credentials for the current challenge to `reg`.
    pub fn sign(&mut self, mut reg: Reg) -> Reg {
        let creds = self
            .client
            .authorize("REGISTER", &reg.request_uri, "0a4f113b")
            .unwrap();
        reg.authorization.push(creds.to_string());
        reg
    }

    /// Sends `reg`; on 401, answers the challenge once with the next CSeq.
    pub fn register(&mut self, h: &mut Harness, reg: Reg) -> Response {
        let signed = if self.client.challenge().is_some() {
            self.sign(reg.clone())
        } else {
            reg.clone()
        };
        let resp = h.send(&signed.build(), self.source);
        if resp.status != StatusCode::UNAUTHORIZED {
            return resp;
        }
        self.take_challenge(&resp);
        self.cseq += 1;
        let retry = self.sign(reg.cseq(self.cseq));
        h.send(&retry.build(), self.source)
    }
}

// ---- databases ----------------------------------------------------------------------

/// The PostgreSQL server the tests use; `VSS_TEST_PG_URL` overrides it (a URL to its
/// maintenance database).
pub fn admin_url() -> String {
    std::env::var("VSS_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A uniquely named PostgreSQL database, dropped when this value is dropped.
pub struct TestPg {
    pub name: String,
    pub url: String,
}

impl TestPg {
    pub async fn new() -> TestPg {
        use sqlx::Connection;
        let name = format!("vss_registrar_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin_url();
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        let mut c = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => panic!(
                "PostgreSQL is required for this test and is unreachable at {admin} ({e}); \
                 start it or set VSS_TEST_PG_URL"
            ),
        };
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut c)
            .await
            .unwrap();
        TestPg { name, url }
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; a separate thread gets its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&admin_url()).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut c)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A migrated SQLite store in a fresh temp dir (kept alive by the returned guard).
pub async fn sqlite_store() -> (tempfile::TempDir, Store, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sub/vss.db", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    registrar::migrate(&store).await.unwrap();
    (dir, store, url)
}

/// A migrated store on a fresh PostgreSQL database.
pub async fn pg_store() -> (TestPg, Store, String) {
    let pg = TestPg::new().await;
    let store = Store::connect(&pg.url).await.unwrap();
    registrar::migrate(&store).await.unwrap();
    let url = pg.url.clone();
    (pg, store, url)
}

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}
