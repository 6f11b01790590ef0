//! `kill -9` in the middle of writing: every CDR whose `write` returned is in the
//! database after a restart, exactly once.
//!
//! The test re-runs its own binary as a child process that writes CDRs from many tasks
//! (journal + shipper into SQLite) and prints each call id once `write` has returned. The
//! parent SIGKILLs it mid-stream, starts a new writer on the same journal and database,
//! and checks every acknowledged id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use cdr::{CdrFilter, CdrWriter, Db};
use common::{fast, full};
use uuid::Uuid;

const CHILD_ENV: &str = "CDR_CRASH_CHILD_DIR";
const TEST_NAME: &str = "acknowledged_cdrs_survive_kill_9";
/// Acknowledgements the parent waits for before it kills the child.
const KILL_AFTER: usize = 400;

fn db_url(dir: &str) -> String {
    format!("sqlite://{dir}/vss.db")
}

/// The child: writes until killed (bounded, in case the parent is gone).
fn child(dir: &str) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let db = Db::connect(&db_url(dir)).await.unwrap();
        cdr::migrate(&db).await.unwrap();
        let w = CdrWriter::start(format!("{dir}/journal"), db, fast()).unwrap();
        let tasks: Vec<_> = (0..32u128)
            .map(|t| {
                let w = w.clone();
                tokio::spawn(async move {
                    for i in 0..5_000u128 {
                        let mut r = full(t * 1_000_000 + i);
                        r.call_id = Uuid::new_v4();
                        w.write(&r).await.unwrap();
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ACK {}", r.call_id).unwrap();
                        out.flush().unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn acknowledged_cdrs_survive_kill_9() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dir_s = dir.path().to_str().unwrap().to_owned();
    let mut proc = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &dir_s)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let mut acked = HashSet::new();
    let mut lines = BufReader::new(stdout).lines();
    while acked.len() < KILL_AFTER {
        let Some(line) = lines.next() else {
            panic!("child ended after {} acknowledgements", acked.len());
        };
        if let Some(id) = line.unwrap().strip_prefix("ACK ") {
            acked.insert(Uuid::parse_str(id).unwrap());
        }
    }
    // SIGKILL: no destructor, no flush, no shutdown.
    proc.kill().unwrap();
    proc.wait().unwrap();
    // Lines already in the pipe were acknowledged before the kill too.
    for line in lines {
        if let Some(id) = line.unwrap().strip_prefix("ACK ") {
            acked.insert(Uuid::parse_str(id).unwrap());
        }
    }

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let db = Db::connect(&db_url(&dir_s)).await.unwrap();
        let w = CdrWriter::start(format!("{dir_s}/journal"), db.clone(), fast()).unwrap();
        let out = w.flush(Duration::from_secs(120)).await;
        assert!(out.complete, "{out:?}");
        let total = db.count(&CdrFilter::default()).await.unwrap();
        let mut stored = HashSet::new();
        let mut cursor = None;
        loop {
            let page = db
                .list(&CdrFilter::default(), 1000, cursor.as_deref())
                .await
                .unwrap();
            stored.extend(page.items.iter().map(|r| r.call_id));
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(stored.len() as u64, total, "a call id appears twice");
        let missing: Vec<_> = acked.difference(&stored).collect();
        assert!(
            missing.is_empty(),
            "{} acknowledged CDRs lost, e.g. {:?}",
            missing.len(),
            missing.first()
        );
        w.shutdown(Duration::from_secs(10)).await;
    });
}
