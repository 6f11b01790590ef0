//! The shipper through database outages: nothing lost, nothing doubled, and one log line
//! when the database goes and one when it returns, however many retries lie between.
//! (Its own test binary: it installs the global log subscriber.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cdr::{CdrWriter, Db};
use common::{
    Relay, TestPg, distinct_ids, fast, full, quick_pool, row_count, wait_until, write_all,
};

const LONG: Duration = Duration::from_secs(60);

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .matches(needle)
            .count()
    }
}

#[tokio::test]
async fn pg_outages_are_logged_once_each_way_and_lose_nothing() {
    let logs = Logs::default();
    let sink = logs.clone();
    // Global, so that every thread's events are seen; this binary holds one test.
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();

    let (pg, admin) = TestPg::migrated().await;
    let relay = Relay::closed().await;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect_lazy(&relay.url(&pg.name), &quick_pool()).unwrap();
    let w = CdrWriter::start(dir.path(), db.clone(), fast()).unwrap();

    for round in 0..2u128 {
        let records: Vec<_> = (round * 100 + 1..=round * 100 + 30).map(full).collect();
        write_all(&w, &records).await;
        let failed_before = w.shipper_stats().failed_attempts;
        wait_until("several failed attempts while the database is away", || {
            w.shipper_stats().failed_attempts >= failed_before + 3
        })
        .await;
        assert!(!w.database_up());
        assert_eq!(w.pending(), 30);
        relay.open().await;
        let out = w.flush(LONG).await;
        assert!(out.complete, "{out:?}");
        assert_eq!(row_count(&admin).await, 30 * (round as u64 + 1));
        relay.cut();
    }
    assert_eq!(distinct_ids(&admin).await, 60);
    assert_eq!(
        logs.count("CDR database unreachable"),
        2,
        "one line per outage"
    );
    assert_eq!(
        logs.count("CDR database is back"),
        2,
        "one line per recovery"
    );
    w.shutdown(Duration::from_millis(1)).await;
    db.close().await;
}
