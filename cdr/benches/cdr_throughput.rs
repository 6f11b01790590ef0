//! CDR throughput into the local PostgreSQL (and SQLite for comparison).
//!
//! `cargo bench -p cdr --bench cdr_throughput` (env: `CDR_BENCH_RECORDS`, default 50000;
//! `CDR_BENCH_WRITERS`, concurrent writers, default 256; `VSS_TEST_PG`, the server's
//! maintenance database URL, default postgres://postgres@127.0.0.1:5432/postgres).
//!
//! Measures, each on a fresh database:
//! 1. `insert_batch` alone: records/s for several batch sizes (one transaction each).
//! 2. The writer end to end: concurrent `write` calls (each returns only after its fsync,
//!    group commit shares them) until `flush` reports everything in the database.
//!    Prints records/s, the journal's records per fsync, and how long writes took.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use cdr::{CallRecord, CdrWriter, Db, Direction, Disposition, HangupSide, LegQuality, Recording};
use chrono::{TimeZone, Utc};
use sqlx::Connection;
use uuid::Uuid;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn admin_url() -> String {
    std::env::var("VSS_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A realistic record: every field filled, about 900 bytes of JSON.
fn record(n: usize) -> CallRecord {
    let start = Utc
        .timestamp_millis_opt(1_709_287_200_000 + n as i64 * 37)
        .single()
        .unwrap();
    CallRecord {
        call_id: Uuid::new_v4(),
        a_leg_call_id: format!("{n:x}-a-3f2c9e@10.0.0.5"),
        b_leg_call_id: Some(format!("{n:x}-b-77aa01@vss")),
        direction: Direction::Outbound,
        start,
        answer: Some(start + chrono::Duration::milliseconds(4_250)),
        end: start + chrono::Duration::milliseconds(95_999),
        disposition: Disposition::Answered,
        sip_code: 200,
        sip_reason: "OK".into(),
        hangup_side: HangupSide::Callee,
        src: format!("{}", 6001 + n % 900),
        dst: format!("7999{:07}", n % 10_000_000),
        slot: Some(format!("{}", 6001 + n % 900)),
        hub: Some("auto1".into()),
        trunk: Some("carrier1".into()),
        campaign_id: Some(format!("camp-{}", n % 7)),
        lead_id: Some(format!("lead-{n}")),
        attempt: Some(1),
        codec: Some("PCMA".into()),
        a_quality: LegQuality {
            loss: Some(0.001),
            jitter_ms: Some(2.5),
            mos: Some(4.3),
        },
        b_quality: LegQuality {
            loss: Some(0.002),
            jitter_ms: Some(4.0),
            mos: Some(4.1),
        },
        recording: Some(Recording {
            path: format!("/var/recordings/2024/03/01/{n}.wav"),
            complete: true,
        }),
        node: "node-a".into(),
    }
}

struct BenchDb {
    name: String,
    url: String,
}

impl BenchDb {
    async fn create() -> BenchDb {
        let name = format!("vss_cdr_bench_{}", Uuid::new_v4().simple());
        let admin = admin_url();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let url = format!("{base}/{name}");
        let mut c = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL unreachable at {admin}: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut c)
            .await
            .unwrap();
        BenchDb { name, url }
    }

    async fn drop_db(self) {
        let mut c = sqlx::PgConnection::connect(&admin_url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.name
        )))
        .execute(&mut c)
        .await
        .unwrap();
    }
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

async fn count(db: &Db) -> u64 {
    db.count(&cdr::CdrFilter::default()).await.unwrap()
}

async fn bench_batch_insert(label: &str, db: &Db, records: &[CallRecord], batch: usize) {
    let started = Instant::now();
    for chunk in records.chunks(batch) {
        db.insert_batch(chunk).await.unwrap();
    }
    let took = started.elapsed();
    assert_eq!(count(db).await, records.len() as u64);
    println!(
        "{label:<10} insert_batch  batch {batch:>5}: {:>8.0} CDRs/s  ({} in {:.2?})",
        rate(records.len(), took),
        records.len(),
        took
    );
}

async fn bench_writer(label: &str, db: &Db, records: Vec<CallRecord>, writers: usize) {
    let dir = tempfile::tempdir().unwrap();
    let w = CdrWriter::start(dir.path(), db.clone(), cdr::WriterConfig::default()).unwrap();
    let n = records.len();
    let per = n.div_ceil(writers);
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut records = records.into_iter();
    for _ in 0..writers {
        let mine: Vec<CallRecord> = records.by_ref().take(per).collect();
        let w = w.clone();
        tasks.push(tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            for r in &mine {
                let t = Instant::now();
                w.write(r).await.unwrap();
                worst = worst.max(t.elapsed());
            }
            worst
        }));
    }
    let mut worst = Duration::ZERO;
    for t in tasks {
        worst = worst.max(t.await.unwrap());
    }
    let durable = started.elapsed();
    let out = w.flush(Duration::from_secs(600)).await;
    let shipped = started.elapsed();
    assert!(out.complete);
    assert_eq!(count(db).await, n as u64);
    let stats = w.journal_stats();
    println!(
        "{label:<10} writer {writers:>4} writers: {:>8.0} CDRs/s durable in journal, \
         {:>8.0} CDRs/s in the database; {:.1} CDRs per fsync ({} fsyncs); \
         slowest write {:.2?}",
        rate(n, durable),
        rate(n, shipped),
        stats.appended as f64 / stats.syncs.max(1) as f64,
        stats.syncs,
        worst
    );
    w.shutdown(Duration::from_secs(10)).await;
}

fn main() {
    let n = env_usize("CDR_BENCH_RECORDS", 50_000);
    let writers = env_usize("CDR_BENCH_WRITERS", 256);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("{n} CDRs per run, {writers} concurrent writers for the writer runs");
        for batch in [100, 500, 1000] {
            let pg = BenchDb::create().await;
            let db = Db::connect(&pg.url).await.unwrap();
            cdr::migrate(&db).await.unwrap();
            let records: Vec<_> = (0..n).map(record).collect();
            bench_batch_insert("postgres", &db, &records, batch).await;
            db.close().await;
            pg.drop_db().await;
        }
        {
            let pg = BenchDb::create().await;
            let db = Db::connect(&pg.url).await.unwrap();
            cdr::migrate(&db).await.unwrap();
            bench_writer("postgres", &db, (0..n).map(record).collect(), writers).await;
            db.close().await;
            pg.drop_db().await;
        }
        {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/bench.db", dir.path().display());
            let db = Db::connect(&url).await.unwrap();
            cdr::migrate(&db).await.unwrap();
            let records: Vec<_> = (0..n).map(record).collect();
            bench_batch_insert("sqlite", &db, &records, 1000).await;
            let dir2 = tempfile::tempdir().unwrap();
            let url2 = format!("sqlite://{}/bench.db", dir2.path().display());
            let db2 = Db::connect(&url2).await.unwrap();
            cdr::migrate(&db2).await.unwrap();
            bench_writer("sqlite", &db2, (0..n).map(record).collect(), writers).await;
        }
    });
}
