//! The write-behind task: binding changes flow from the registrar (which never waits)
//! into a map keyed by (AOR, contact), so that at most one change per binding is ever
//! pending, and are written in batches, one transaction each.
//!
//! A database outage is logged once (and once more when it ends); writes are retried with
//! a growing delay, and the pending map stays bounded by the number of bindings however
//! long the outage lasts, because later changes replace earlier ones.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{Change, Store, StoreError};
use crate::extension::Extension;
use crate::metrics;

/// How the write-behind task batches and retries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WriterConfig {
    /// How long the first change of a batch waits for company (default 50 ms).
    pub batch_delay: Duration,
    /// Most changes per transaction (default 2,000); a full batch is written at once.
    pub max_batch: usize,
    /// The first retry delay after a failed write (default 200 ms).
    pub retry_min: Duration,
    /// The longest retry delay (default 10 s).
    pub retry_max: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_delay: Duration::from_millis(50),
            max_batch: 2000,
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(10),
        }
    }
}

impl WriterConfig {
    /// The same with other retry delays.
    pub fn with_retry(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min;
        self.retry_max = max.max(min);
        self
    }

    /// The same with another batch delay.
    pub fn with_batch_delay(mut self, delay: Duration) -> Self {
        self.batch_delay = delay;
        self
    }
}

enum Msg {
    Change(Change),
    Flush(oneshot::Sender<Result<(), String>>),
    Shutdown(oneshot::Sender<Result<(), String>>),
}

/// The registrar's end of the write-behind queue: sending never blocks and never fails
/// the caller (a stopped writer is logged once).
#[derive(Debug, Clone)]
pub struct StoreSink {
    tx: mpsc::UnboundedSender<Msg>,
    gone_logged: bool,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Msg::Change(c) => write!(f, "Change({c:?})"),
            Msg::Flush(_) => f.write_str("Flush"),
            Msg::Shutdown(_) => f.write_str("Shutdown"),
        }
    }
}

impl StoreSink {
    /// Queues one change.
    pub fn send(&mut self, change: Change) {
        if self.tx.send(Msg::Change(change)).is_err() && !self.gone_logged {
            self.gone_logged = true;
            tracing::error!("the binding writer has stopped; location changes are no longer saved");
        }
    }
}

/// Control of a running write-behind task.
#[derive(Debug)]
pub struct WriterHandle {
    tx: mpsc::UnboundedSender<Msg>,
    task: JoinHandle<()>,
}

impl WriterHandle {
    /// Waits until every change queued before this call is in the database. Fails when
    /// the next write attempt fails (the changes stay queued and are retried).
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush(tx))
            .map_err(|_| StoreError::WriterGone)?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::NotWritten(e)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }

    /// Writes what is pending (one attempt) and stops the task. Changes sent afterwards
    /// are dropped (and logged once by the sink).
    pub async fn shutdown(self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Shutdown(tx))
            .map_err(|_| StoreError::WriterGone)?;
        let result = rx.await;
        let _ = self.task.await;
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::NotWritten(e)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }
}

/// Starts write-behind tasks.
#[derive(Debug)]
pub struct WriteBehind;

impl WriteBehind {
    /// Spawns the task on the current tokio runtime; give the sink to
    /// [`crate::Registrar::set_store`].
    pub fn spawn(store: Store, config: WriterConfig) -> (StoreSink, WriterHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(Writer::new(store, config).run(rx));
        (
            StoreSink {
                tx: tx.clone(),
                gone_logged: false,
            },
            WriterHandle { tx, task },
        )
    }
}

struct Writer {
    store: Store,
    config: WriterConfig,
    pending: HashMap<(Extension, String), Change>,
    waiters: Vec<oneshot::Sender<Result<(), String>>>,
    next_attempt: Option<Instant>,
    backoff: Duration,
    failing: bool,
}

impl Writer {
    fn new(store: Store, config: WriterConfig) -> Writer {
        Writer {
            store,
            backoff: config.retry_min,
            config,
            pending: HashMap::new(),
            waiters: Vec::new(),
            next_attempt: None,
            failing: false,
        }
    }

    /// While changes wait for their batch, the channel is not watched: the task sleeps
    /// until the batch is due and then takes everything queued meanwhile. The registrar's
    /// sends then wake nobody, and the task runs once per batch instead of once per
    /// change (a cross-thread wake-up per REGISTER was a tenth of its cost). While writes
    /// are failing the channel is watched, so that a flush retries at once.
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        loop {
            let deadline = self.next_attempt.filter(|_| !self.pending.is_empty());
            let listen = deadline.is_none() || self.failing;
            tokio::select! {
                msg = rx.recv(), if listen => {
                    if self.file(msg).await || self.drain(&mut rx).await {
                        return;
                    }
                    metrics::store_pending(self.pending.len());
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    if self.drain(&mut rx).await {
                        return;
                    }
                    // The batch is due (what was drained can only make it due sooner).
                    // A failure is logged and retried inside.
                    let _ = self.write_batch().await;
                }
            }
            if self.pending.is_empty() {
                for w in self.waiters.drain(..) {
                    let _ = w.send(Ok(()));
                }
            }
        }
    }

    /// Files one received message, `None` meaning every sender is gone; true when the
    /// task must end, its last write done (a shutdown, or no sender left).
    async fn file(&mut self, msg: Option<Msg>) -> bool {
        let done = match msg {
            Some(msg) => match self.take(msg) {
                Some(done) => Some(done),
                None => return false,
            },
            None => None,
        };
        let result = self.write_all_once().await;
        if let Some(done) = done {
            let _ = done.send(result);
        }
        true
    }

    /// Files everything queued; true when the task must end (see [`Self::file`]).
    async fn drain(&mut self, rx: &mut mpsc::UnboundedReceiver<Msg>) -> bool {
        loop {
            let msg = match rx.try_recv() {
                Ok(msg) => Some(msg),
                Err(mpsc::error::TryRecvError::Empty) => return false,
                Err(mpsc::error::TryRecvError::Disconnected) => None,
            };
            if self.file(msg).await {
                return true;
            }
        }
    }

    /// Files one message; returns the reply channel if it asks the task to stop.
    fn take(&mut self, msg: Msg) -> Option<oneshot::Sender<Result<(), String>>> {
        let now = Instant::now();
        match msg {
            Msg::Change(c) => {
                let (ext, contact) = c.key();
                let key = (ext, contact.to_owned());
                self.pending.insert(key, c);
                if self.next_attempt.is_none() {
                    self.next_attempt = Some(now + self.config.batch_delay);
                }
                if self.pending.len() >= self.config.max_batch && !self.failing {
                    self.next_attempt = Some(now);
                }
                None
            }
            Msg::Flush(w) => {
                self.waiters.push(w);
                self.next_attempt = Some(now);
                None
            }
            Msg::Shutdown(w) => Some(w),
        }
    }

    /// Writes one batch; on failure puts it back under any newer changes and schedules a
    /// retry.
    async fn write_batch(&mut self) -> Result<(), String> {
        let take = self.pending.len().min(self.config.max_batch.max(1));
        let keys: Vec<(Extension, String)> = self.pending.keys().take(take).cloned().collect();
        let batch: Vec<Change> = keys.iter().filter_map(|k| self.pending.remove(k)).collect();
        let result = self.store.apply(&batch).await;
        let now = Instant::now();
        match result {
            Ok(()) => {
                metrics::store_written(batch.len());
                if self.failing {
                    self.failing = false;
                    tracing::info!(
                        written = batch.len(),
                        "database reachable again; binding changes are being written"
                    );
                }
                self.backoff = self.config.retry_min;
                self.next_attempt = (!self.pending.is_empty()).then_some(now);
                metrics::store_pending(self.pending.len());
                Ok(())
            }
            Err(e) => {
                metrics::store_failure();
                if !self.failing {
                    self.failing = true;
                    tracing::warn!(
                        error = %e,
                        pending = batch.len() + self.pending.len(),
                        "cannot write bindings to the database; they stay in memory and are retried"
                    );
                } else {
                    tracing::debug!(error = %e, "binding write retry failed");
                }
                for c in batch {
                    let (ext, contact) = c.key();
                    let key = (ext, contact.to_owned());
                    self.pending.entry(key).or_insert(c);
                }
                self.next_attempt = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(self.config.retry_max);
                metrics::store_pending(self.pending.len());
                let text = e.to_string();
                for w in self.waiters.drain(..) {
                    let _ = w.send(Err(text.clone()));
                }
                Err(text)
            }
        }
    }

    /// Writes everything pending, stopping at the first failure.
    async fn write_all_once(&mut self) -> Result<(), String> {
        while !self.pending.is_empty() {
            self.write_batch().await?;
        }
        for w in self.waiters.drain(..) {
            let _ = w.send(Ok(()));
        }
        Ok(())
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
