//! The writer end to end: journal, shipper, outages, replay, quarantine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use cdr::{CdrWriter, Db, WriteError, WriterConfig};
use common::{
    Relay, TestPg, distinct_ids, fast, full, quick_pool, row_count, sqlite, wait_until, write_all,
};

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn sqlite_writes_are_shipped_and_flush_waits_for_them() {
    let (dir, db) = sqlite().await;
    let w = CdrWriter::start(dir.path().join("journal"), db.clone(), fast()).unwrap();
    let records: Vec<_> = (1..=50).map(full).collect();
    write_all(&w, &records).await;
    let out = w.flush(LONG).await;
    assert!(out.complete, "{out:?}");
    assert_eq!(out.pending, 0);
    assert_eq!(row_count(&db).await, 50);
    assert_eq!(
        db.get(records[17].call_id).await.unwrap().as_ref(),
        Some(&records[17])
    );
    let stats = w.journal_stats();
    assert_eq!(stats.appended, 50);
    assert!(stats.syncs <= 50);
    assert_eq!(w.shipper_stats().inserted, 50);
    let out = w.shutdown(LONG).await;
    assert!(out.complete);
    assert!(matches!(
        w.write(&full(99)).await,
        Err(WriteError::ShutDown)
    ));
}

#[tokio::test]
async fn pg_database_created_later_receives_every_record_once() {
    let pg = TestPg::reserve();
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect_lazy(&pg.url, &quick_pool()).unwrap();
    let w = CdrWriter::start(dir.path(), db.clone(), fast()).unwrap();
    let records: Vec<_> = (1..=20).map(full).collect();
    // The database does not exist: writes still succeed, into the journal.
    write_all(&w, &records).await;
    wait_until("the shipper to notice the database is missing", || {
        !w.database_up() && w.shipper_stats().failed_attempts >= 2
    })
    .await;
    assert_eq!(w.pending(), 20);

    pg.create().await;
    let admin = Db::connect(&pg.url).await.unwrap();
    cdr::migrate(&admin).await.unwrap();
    let out = w.flush(LONG).await;
    assert!(out.complete, "{out:?}");
    assert!(w.database_up());
    assert_eq!(row_count(&admin).await, 20);
    assert_eq!(distinct_ids(&admin).await, 20);

    // A restart finds nothing left to replay.
    w.shutdown(LONG).await;
    drop(w);
    let w = CdrWriter::start(dir.path(), db.clone(), fast()).unwrap();
    assert_eq!(w.pending(), 0);
    assert!(w.flush(LONG).await.complete);
    assert_eq!(row_count(&admin).await, 20);
    w.shutdown(LONG).await;
    admin.close().await;
    db.close().await;
}

#[tokio::test]
async fn journal_is_replayed_at_start_and_replay_does_not_duplicate() {
    let (pg, admin) = TestPg::migrated().await;
    let relay = Relay::closed().await;
    let dir = tempfile::tempdir().unwrap();
    let records: Vec<_> = (1..=40).map(full).collect();
    {
        let down = Db::connect_lazy(&relay.url(&pg.name), &quick_pool()).unwrap();
        let w = CdrWriter::start(dir.path(), down, fast()).unwrap();
        write_all(&w, &records).await;
        // The process stops while the database is away: nothing ships.
        let out = w.shutdown(Duration::from_millis(50)).await;
        assert!(!out.complete);
        assert_eq!(out.pending, 40);
    }
    // As after a crash between a database commit and the journal checkpoint: some rows
    // are in already.
    admin.insert_batch(&records[..10]).await.unwrap();

    let w = CdrWriter::start(dir.path(), admin.clone(), fast()).unwrap();
    assert_eq!(w.pending(), 40);
    assert!(w.flush(LONG).await.complete);
    assert_eq!(row_count(&admin).await, 40);
    assert_eq!(distinct_ids(&admin).await, 40);
    assert_eq!(w.shipper_stats().inserted, 30);
    w.shutdown(LONG).await;
}

#[tokio::test]
async fn a_record_the_database_refuses_is_quarantined_and_the_rest_ship() {
    let (_pg, db) = TestPg::migrated().await;
    let Db::Postgres(pool) = &db else {
        unreachable!()
    };
    // A rule this record breaks, as a stricter schema from a later version might.
    sqlx::query("ALTER TABLE call_records ADD CONSTRAINT test_no_evil CHECK (src <> 'evil')")
        .execute(pool)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let w = CdrWriter::start(dir.path(), db.clone(), fast().with_batch_size(100)).unwrap();
    let mut records: Vec<_> = (1..=5).map(full).collect();
    records[2].src = "evil".into();
    for r in &records {
        w.write(r).await.unwrap();
    }
    assert!(w.flush(LONG).await.complete);
    assert_eq!(row_count(&db).await, 4);
    assert_eq!(db.get(records[2].call_id).await.unwrap(), None);
    assert_eq!(w.shipper_stats().rejected, 1);
    let rejected = std::fs::read_to_string(dir.path().join("rejected.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(rejected.trim()).unwrap();
    assert_eq!(line["record"]["call_id"], records[2].call_id.to_string());
    assert!(line["reason"].as_str().unwrap().contains("test_no_evil"));
    w.shutdown(LONG).await;
}

#[test]
fn starting_outside_a_runtime_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt
        .block_on(Db::connect(&format!(
            "sqlite://{}/x.db",
            dir.path().display()
        )))
        .unwrap();
    assert!(matches!(
        CdrWriter::start(dir.path().join("j"), db, WriterConfig::default()),
        Err(WriteError::NoRuntime)
    ));
}
