//! [`CdrWriter`]: the handle the call layer writes CDRs through, and the shipper task
//! that moves journaled CDRs into the database.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::db::Db;
use crate::error::{JournalError, StoreError, WriteError};
use crate::journal::{Batch, Journal, JournalOptions, JournalReader, JournalStats, Position};
use crate::metrics as m;
use crate::record::CallRecord;

/// Settings of a [`CdrWriter`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriterConfig {
    /// Most records per database transaction.
    pub batch_size: usize,
    /// First wait before retrying after the database failed.
    pub retry_min: Duration,
    /// Longest wait between retries (the wait doubles up to this).
    pub retry_max: Duration,
    /// A batch insert taking longer than this counts as failed and is retried.
    pub insert_timeout: Duration,
    /// After shipping a batch smaller than `batch_size`, the shipper waits this long
    /// before the next one, so that a steady trickle of records goes into the database
    /// (and the journal checkpoint, two fsyncs) in batches rather than one by one.
    /// Records are durable in the journal meanwhile; only the database lags.
    pub ship_interval: Duration,
    /// Journal tuning.
    pub journal: JournalOptions,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_size: 1000,
            retry_min: Duration::from_millis(250),
            retry_max: Duration::from_secs(10),
            insert_timeout: Duration::from_secs(30),
            ship_interval: Duration::from_millis(100),
            journal: JournalOptions::default(),
        }
    }
}

impl WriterConfig {
    /// Sets how long retries wait: from `min`, doubling up to `max`.
    pub fn with_retry(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min;
        self.retry_max = max.max(min);
        self
    }

    /// Sets the most records per database transaction.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size.max(1);
        self
    }
}

/// What [`CdrWriter::flush`] achieved before it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlushOutcome {
    /// Every record written before the flush began is in the database.
    pub complete: bool,
    /// Records still only in the journal when the flush returned.
    pub pending: u64,
}

/// Counters of the shipper since start, for tests and status pages (the same figures go
/// to the metrics recorder).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShipperStats {
    /// Rows newly inserted.
    pub inserted: u64,
    /// Insert attempts that failed (each retry counts).
    pub failed_attempts: u64,
    /// Records set aside in `rejected.jsonl`.
    pub rejected: u64,
}

#[derive(Default)]
struct Counters {
    inserted: AtomicU64,
    failed_attempts: AtomicU64,
    rejected: AtomicU64,
}

struct Inner {
    journal: Journal,
    counters: Arc<Counters>,
    stop: watch::Sender<bool>,
    up: watch::Receiver<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    shut: AtomicBool,
}

/// Durable CDR writing: [`CdrWriter::write`] returns once the record is fsync'd in the
/// local journal; a background task ships journaled records to the database in batches,
/// retrying with backoff while it is away and replaying, at start, whatever an earlier
/// run did not ship. Clone it freely; all clones share one journal and one shipper.
#[derive(Clone)]
pub struct CdrWriter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CdrWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CdrWriter")
            .field("journal", &self.inner.journal)
            .finish_non_exhaustive()
    }
}

impl CdrWriter {
    /// Opens the journal in `journal_dir` (recovering it; blocking file I/O, meant for
    /// start-up) and spawns the shipper on the current tokio runtime. The database may
    /// be unreachable: records wait in the journal until it answers.
    pub fn start(
        journal_dir: impl AsRef<Path>,
        db: Db,
        config: WriterConfig,
    ) -> Result<CdrWriter, WriteError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| WriteError::NoRuntime)?;
        let journal = Journal::open(journal_dir, config.journal.clone())?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let (up_tx, up_rx) = watch::channel(true);
        let counters = Arc::new(Counters::default());
        let shipper = Shipper {
            counters: counters.clone(),
            reader: journal.reader(),
            journal: journal.clone(),
            db,
            config,
            stop: stop_rx,
            up: up_tx,
        };
        let task = runtime.spawn(shipper.run());
        Ok(CdrWriter {
            inner: Arc::new(Inner {
                journal,
                counters,
                stop: stop_tx,
                up: up_rx,
                task: Mutex::new(Some(task)),
                shut: AtomicBool::new(false),
            }),
        })
    }

    /// Makes `record` durable in the journal. When this returns `Ok`, the CDR survives a
    /// crash of the process or the machine; the call layer sends the final response that
    /// ends the call (the 200 to the BYE) only after it.
    pub async fn write(&self, record: &CallRecord) -> Result<(), WriteError> {
        if self.inner.shut.load(Ordering::Acquire) {
            return Err(WriteError::ShutDown);
        }
        self.inner
            .journal
            .append(record)
            .await
            .map_err(|e| match e {
                JournalError::Closed => WriteError::ShutDown,
                e => WriteError::Journal(e),
            })
    }

    /// Records in the journal that are not yet in the database.
    pub fn pending(&self) -> u64 {
        self.inner.journal.depth()
    }

    /// Whether the last attempt to reach the database succeeded.
    pub fn database_up(&self) -> bool {
        *self.inner.up.borrow()
    }

    /// Shipper counters since start.
    pub fn shipper_stats(&self) -> ShipperStats {
        let c = &self.inner.counters;
        ShipperStats {
            inserted: c.inserted.load(Ordering::Relaxed),
            failed_attempts: c.failed_attempts.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
        }
    }

    /// Journal counters.
    pub fn journal_stats(&self) -> JournalStats {
        self.inner.journal.stats()
    }

    /// Waits (at most `timeout`) until every record written before this call is in the
    /// database. Returns early, incomplete, only at the timeout: while the database is
    /// down the records stay safe in the journal either way.
    pub async fn flush(&self, timeout: Duration) -> FlushOutcome {
        let target = self.inner.journal.durable_position();
        let mut shipped = self.inner.journal.watch_shipped();
        let complete = tokio::time::timeout(timeout, shipped.wait_for(|p| *p >= target))
            .await
            .is_ok_and(|r| r.is_ok());
        FlushOutcome {
            complete,
            pending: self.pending(),
        }
    }

    /// Orderly stop: refuses new writes, ships what it can within `timeout`, stops the
    /// shipper and closes the journal (what did not ship is replayed at next start).
    pub async fn shutdown(&self, timeout: Duration) -> FlushOutcome {
        self.inner.shut.store(true, Ordering::Release);
        let outcome = self.flush(timeout).await;
        self.inner.stop.send_replace(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            tracing::error!(target: "cdr", error = %e, "CDR shipper task failed");
        }
        self.inner.journal.close().await;
        FlushOutcome {
            complete: outcome.complete,
            pending: self.pending(),
        }
    }
}

/// A shipping attempt did not finish; retry the same batch after a pause.
struct Retry;

struct Shipper {
    journal: Journal,
    counters: Arc<Counters>,
    reader: JournalReader,
    db: Db,
    config: WriterConfig,
    stop: watch::Receiver<bool>,
    up: watch::Sender<bool>,
}

impl Shipper {
    async fn run(mut self) {
        let mut backoff = self.config.retry_min;
        loop {
            if *self.stop.borrow() {
                return;
            }
            let batch = match self.read().await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(target: "cdr", error = %e, "cannot read the CDR journal");
                    if self.pause(self.config.retry_max).await {
                        return;
                    }
                    continue;
                }
            };
            if batch.entries.is_empty() {
                if batch.end > self.journal.shipped_position()
                    && self.checkpoint(batch.end, 0).await.is_err()
                {
                    return;
                }
                tokio::select! {
                    () = self.journal.wait_for_data() => {}
                    _ = self.stop.changed() => return,
                }
                continue;
            }
            loop {
                match self.ship(&batch).await {
                    Ok(()) => {
                        backoff = self.config.retry_min;
                        break;
                    }
                    Err(Retry) => {
                        if self.pause(backoff).await {
                            return;
                        }
                        backoff = (backoff * 2).min(self.config.retry_max);
                    }
                }
            }
            if self
                .checkpoint(batch.end, batch.entries.len() as u64)
                .await
                .is_err()
            {
                return;
            }
            if batch.entries.len() < self.config.batch_size
                && !self.config.ship_interval.is_zero()
                && self.pause(self.config.ship_interval).await
            {
                return;
            }
        }
    }

    /// Reads the next batch off the journal on the blocking pool.
    async fn read(&mut self) -> Result<Batch, JournalError> {
        let placeholder = self.journal.reader();
        let mut reader = std::mem::replace(&mut self.reader, placeholder);
        let max = self.config.batch_size.max(1);
        match tokio::task::spawn_blocking(move || {
            let batch = reader.read_batch(max);
            (reader, batch)
        })
        .await
        {
            Ok((reader, batch)) => {
                self.reader = reader;
                batch
            }
            // The placeholder restarts at the checkpoint: at worst a replay.
            Err(e) => Err(JournalError::Failed(format!("journal reader task: {e}"))),
        }
    }

    /// Puts every record of `batch` in the database (or in quarantine).
    async fn ship(&mut self, batch: &Batch) -> Result<(), Retry> {
        let mut records = Vec::with_capacity(batch.entries.len());
        let mut payloads = Vec::with_capacity(batch.entries.len());
        for entry in &batch.entries {
            match entry.decode() {
                Ok(r) => {
                    records.push(r);
                    payloads.push(&entry.payload);
                }
                Err(e) => {
                    self.reject(&entry.payload, &format!("undecodable: {e}"))
                        .await?
                }
            }
        }
        match self.insert(&records).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_transient() => Err(self.went_down(&e)),
            Err(e) => {
                // The data, not the database: find the rows at fault one by one so the
                // others still go in.
                tracing::warn!(target: "cdr", error = %e,
                    "CDR batch refused by the database; inserting one by one");
                for (record, payload) in records.iter().zip(payloads) {
                    match self.insert(std::slice::from_ref(record)).await {
                        Ok(()) => {}
                        Err(e) if e.is_transient() => return Err(self.went_down(&e)),
                        Err(e) => self.reject(payload, &e.to_string()).await?,
                    }
                }
                Ok(())
            }
        }
    }

    async fn insert(&mut self, records: &[CallRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let result =
            tokio::time::timeout(self.config.insert_timeout, self.db.insert_batch(records))
                .await
                .unwrap_or(Err(StoreError::Database(sqlx::Error::PoolTimedOut)));
        match result {
            Ok(rows) => {
                m::inserted(rows, started.elapsed());
                self.counters.inserted.fetch_add(rows, Ordering::Relaxed);
                if !*self.up.borrow() {
                    tracing::info!(target: "cdr", backend = self.db.backend_name(),
                        pending = self.journal.depth(),
                        "CDR database is back; shipping journaled CDRs");
                    self.up.send_replace(true);
                }
                Ok(())
            }
            Err(e) => {
                m::insert_failed();
                self.counters
                    .failed_attempts
                    .fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn went_down(&mut self, e: &StoreError) -> Retry {
        if *self.up.borrow() {
            tracing::warn!(target: "cdr", backend = self.db.backend_name(), error = %e,
                pending = self.journal.depth(),
                "CDR database unreachable; CDRs wait in the journal");
            self.up.send_replace(false);
        }
        Retry
    }

    async fn reject(&mut self, payload: &[u8], reason: &str) -> Result<(), Retry> {
        tracing::error!(target: "cdr", reason,
            "CDR refused for good; kept in the journal's rejected.jsonl");
        let journal = self.journal.clone();
        let payload = payload.to_vec();
        let reason = reason.to_owned();
        match tokio::task::spawn_blocking(move || journal.quarantine(&payload, &reason)).await {
            Ok(Ok(())) => {
                m::rejected();
                self.counters.rejected.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Ok(Err(e)) => {
                tracing::error!(target: "cdr", error = %e, "cannot write rejected.jsonl");
                Err(Retry)
            }
            Err(e) => {
                tracing::error!(target: "cdr", error = %e, "quarantine task failed");
                Err(Retry)
            }
        }
    }

    /// Moves the checkpoint, retrying until it is on disk; `Err` only when stopping.
    async fn checkpoint(&mut self, end: Position, records: u64) -> Result<(), ()> {
        let mut backoff = self.config.retry_min;
        loop {
            let journal = self.journal.clone();
            let result =
                tokio::task::spawn_blocking(move || journal.mark_shipped(end, records)).await;
            let error = match result {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) => e.to_string(),
                Err(e) => e.to_string(),
            };
            // The rows are in; only the checkpoint lags, which at worst replays them.
            tracing::error!(target: "cdr", error, "cannot write the journal checkpoint");
            if self.pause(backoff).await {
                return Err(());
            }
            backoff = (backoff * 2).min(self.config.retry_max);
        }
    }

    /// Waits `d`; true if the writer is stopping.
    async fn pause(&mut self, d: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => *self.stop.borrow(),
            _ = self.stop.changed() => true,
        }
    }
}
