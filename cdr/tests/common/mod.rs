//! Shared fixtures: a fresh PostgreSQL database per test, SQLite in a temp dir, records.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cdr::{
    CallRecord, CdrWriter, Db, DbOptions, Direction, Disposition, HangupSide, LegQuality,
    Recording, WriterConfig,
};
use chrono::{DateTime, TimeZone, Utc};
use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use uuid::Uuid;

/// The server the tests use; override with `VSS_TEST_PG` (a URL to its maintenance db).
pub fn admin_url() -> String {
    std::env::var("VSS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn with_db(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    format!("{base}/{name}")
}

async fn admin_conn() -> sqlx::PgConnection {
    match sqlx::PgConnection::connect(&admin_url()).await {
        Ok(c) => c,
        Err(e) => panic!(
            "PostgreSQL is required for this test and is unreachable at {} ({e}); \
             start it (e.g. `service postgresql start`) or set VSS_TEST_PG",
            admin_url()
        ),
    }
}

/// A uniquely named database on the test server, dropped when this value is dropped.
pub struct TestPg {
    pub name: String,
    pub url: String,
}

impl TestPg {
    /// A name for a database that does not exist yet.
    pub fn reserve() -> TestPg {
        let name = format!("vss_cdr_test_{}", Uuid::new_v4().simple());
        TestPg {
            url: with_db(&admin_url(), &name),
            name,
        }
    }

    /// Creates the database.
    pub async fn create(&self) {
        let mut c = admin_conn().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{}\"",
            self.name
        )))
        .execute(&mut c)
        .await
        .unwrap();
    }

    /// A fresh, empty database.
    pub async fn new() -> TestPg {
        let pg = TestPg::reserve();
        pg.create().await;
        pg
    }

    /// A fresh database with the CDR migrations applied, and a pool to it.
    pub async fn migrated() -> (TestPg, Db) {
        let pg = TestPg::new().await;
        let db = Db::connect(&pg.url).await.unwrap();
        cdr::migrate(&db).await.unwrap();
        (pg, db)
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

/// A migrated SQLite database in a fresh temp dir (kept alive by the returned guard).
pub async fn sqlite() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/sub/vss.db", dir.path().display());
    let db = Db::connect(&url).await.unwrap();
    cdr::migrate(&db).await.unwrap();
    (dir, db)
}

pub fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap()
}

/// 2024-03-01T10:00:00Z
pub const T0: i64 = 1_709_287_200_000;

/// A record with every optional field filled; `n` makes it unique and orders it in time.
pub fn full(n: u128) -> CallRecord {
    let start = at(T0 + n as i64 * 60_000 + 123);
    CallRecord {
        call_id: Uuid::from_u128(0x1000_0000_0000_0000_0000_0000_0000_0000 + n),
        a_leg_call_id: format!("a{n}-3f2c@10.0.0.5"),
        b_leg_call_id: Some(format!("b{n}-77aa@vss")),
        direction: Direction::Outbound,
        start,
        answer: Some(start + chrono::Duration::milliseconds(4_250)),
        end: start + chrono::Duration::milliseconds(65_999),
        disposition: Disposition::Answered,
        sip_code: 200,
        sip_reason: "OK".into(),
        hangup_side: HangupSide::Callee,
        src: "6001".into(),
        dst: format!("7999{n:07}"),
        slot: Some("6001".into()),
        hub: Some("auto1".into()),
        trunk: Some("carrier1".into()),
        campaign_id: Some("camp-1".into()),
        lead_id: Some(format!("lead-{n}")),
        attempt: Some(2),
        codec: Some("PCMA".into()),
        a_quality: LegQuality {
            loss: Some(0.0125),
            jitter_ms: Some(3.5),
            mos: Some(4.31),
        },
        b_quality: LegQuality {
            loss: Some(0.5),
            jitter_ms: Some(21.25),
            mos: Some(2.75),
        },
        recording: Some(Recording {
            path: format!("/var/recordings/{n}.wav"),
            complete: true,
        }),
        node: "node-a".into(),
    }
}

/// A record with every optional field empty.
pub fn bare(n: u128) -> CallRecord {
    let start = at(T0 + n as i64 * 60_000);
    CallRecord {
        call_id: Uuid::from_u128(0x2000_0000_0000_0000_0000_0000_0000_0000 + n),
        a_leg_call_id: format!("bare{n}@x"),
        b_leg_call_id: None,
        direction: Direction::Inbound,
        start,
        answer: None,
        end: start + chrono::Duration::milliseconds(500),
        disposition: Disposition::Failed,
        sip_code: 503,
        sip_reason: "Service Unavailable".into(),
        hangup_side: HangupSide::System,
        src: "74951234567".into(),
        dst: "8001".into(),
        slot: None,
        hub: None,
        trunk: None,
        campaign_id: None,
        lead_id: None,
        attempt: None,
        codec: None,
        a_quality: LegQuality::default(),
        b_quality: LegQuality::default(),
        recording: None,
        node: "node-b".into(),
    }
}

/// Rows in call_records.
pub async fn row_count(db: &Db) -> u64 {
    db.count(&cdr::CdrFilter::default()).await.unwrap()
}

/// A TCP relay to PostgreSQL that a test can cut and restore, to play "the database went
/// away" without touching the real server.
pub struct Relay {
    pub addr: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    /// Picks a free local port and leaves it closed (the database is "down").
    pub async fn closed() -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        Relay {
            addr,
            tasks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// A URL for database `name` through the relay.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@{}/{name}", self.addr)
    }

    /// Starts relaying to the real server (the database is "back").
    pub async fn open(&self) {
        let upstream: SocketAddr = "127.0.0.1:5432".parse().unwrap();
        let listener = TcpListener::bind(self.addr).await.unwrap();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Cuts every relayed connection and closes the port (the database is "down").
    pub fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Pool settings that notice a dead database quickly.
pub fn quick_pool() -> DbOptions {
    let mut o = DbOptions::default();
    o.acquire_timeout = Duration::from_millis(500);
    o
}

/// Retries come quickly so outages are short in real time.
pub fn fast() -> WriterConfig {
    WriterConfig::default()
        .with_retry(Duration::from_millis(10), Duration::from_millis(100))
        .with_batch_size(7)
}

/// Polls `cond` until it holds; fails the test after a minute.
pub async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..6_000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("gave up waiting for: {what}");
}

pub async fn write_all(w: &CdrWriter, records: &[CallRecord]) {
    let tasks: Vec<_> = records
        .iter()
        .cloned()
        .map(|r| {
            let w = w.clone();
            tokio::spawn(async move { w.write(&r).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

pub async fn distinct_ids(db: &Db) -> usize {
    let page = db
        .list(&cdr::CdrFilter::default(), cdr::MAX_PAGE_SIZE, None)
        .await
        .unwrap();
    let mut ids: Vec<_> = page.items.iter().map(|r| r.call_id).collect();
    ids.sort();
    ids.dedup();
    ids.len()
}
