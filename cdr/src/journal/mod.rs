//! The durable local journal: where a CDR lives between the end of a call and its row in
//! the database.
//!
//! # Files (all inside the directory the caller names)
//! - `NNNNNNNNNNNNNNNNNNNN.cdrj`: append-only segments of checksummed frames, see
//!   [`format`](self). Only the newest segment is written; it is sealed and a new one
//!   begun once it passes [`JournalOptions::segment_bytes`].
//! - `shipped`: the checkpoint — the position up to which every record is in the
//!   database — replaced atomically (write, fsync, rename, fsync the directory).
//! - `rejected.jsonl`: records the database refuses for good, kept for an operator.
//! - `LOCK`: held with an exclusive file lock while a process has the journal open.
//!
//! # Compaction
//! Once the checkpoint moves into a later segment, every earlier segment is wholly in the
//! database and is deleted. So the journal holds at most the unshipped records plus one
//! segment; while the database is down it grows by one segment at a time and shrinks
//! again as the backlog ships.
//!
//! # Encoding
//! Payloads are JSON (serde_json). A CDR is about 1 KiB and encodes in a few
//! microseconds, nothing beside an fsync; in exchange a newer binary reads an older
//! journal (new optional fields default to absent) and an operator can read a segment
//! during an incident with nothing but `strings`.
//!
//! # Crash safety
//! [`Journal::append`] returns only after the frame is fsync'd. A crash mid-write leaves
//! a torn tail that fails its length or checksum test; [`Journal::open`] truncates the
//! segment there (with a log line) and keeps every record before it. A crash after the
//! database commit but before the checkpoint replays a batch, which the unique call id
//! makes harmless.

mod format;
mod reader;
mod recovery;
mod writer;

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{Notify, mpsc, oneshot, watch};

use crate::error::JournalError;
use crate::metrics as m;
use crate::record::CallRecord;
use format::{
    CHECKPOINT_FILE, CHECKPOINT_TMP, LOCK_FILE, MAX_PAYLOAD, REJECTED_FILE, encode_checkpoint,
    encode_frame, segment_header, segment_path,
};
pub use reader::{Batch, Entry, JournalReader};
use recovery::recover;
use writer::{Command, Writer};

/// A place in the journal: a segment and a byte offset in it. Positions order the
/// records: every record before a position was appended before every record after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// Segment id (its file name).
    pub segment: u64,
    /// Byte offset inside the segment.
    pub offset: u64,
}

/// Tuning of a [`Journal`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JournalOptions {
    /// A segment is sealed and a new one started once it grows past this many bytes.
    pub segment_bytes: u64,
    /// Most bytes one group commit writes before it syncs.
    pub max_batch_bytes: usize,
    /// Appends that may wait for the writer thread before `append` itself waits.
    pub queue_depth: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_bytes: 16 << 20,
            max_batch_bytes: 4 << 20,
            queue_depth: 16_384,
        }
    }
}

/// Counters of a [`Journal`], for tests, benches and status pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalStats {
    /// Records appended (made durable) since the journal was opened.
    pub appended: u64,
    /// fsyncs done for appends since open; `appended / syncs` is the group-commit factor.
    pub syncs: u64,
    /// Records durable in the journal and not yet marked shipped.
    pub depth: u64,
    /// Segment files on disk.
    pub segments: usize,
}

struct State {
    durable: Position,
    shipped: Position,
    depth: u64,
    segments: BTreeSet<u64>,
    failed: Option<String>,
    appended: u64,
    syncs: u64,
}

/// What the writer thread, the readers and the handles share.
pub(crate) struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    new_data: Notify,
    shipped: watch::Sender<Position>,
    _lock: File,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain counters behind; they
        // stay meaningful, so keep going rather than propagate the poison.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The append-only, fsync'd, checksummed CDR journal. Cloning gives another handle to
/// the same journal.
#[derive(Clone)]
pub struct Journal {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Command>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("dir", &self.shared.dir)
            .finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |e| JournalError::io(path, e)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

/// Creates segment `id` holding only its header, durably (file and directory entry).
fn create_segment(dir: &Path, id: u64) -> Result<File, JournalError> {
    let path = segment_path(dir, id);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .map_err(io(&path))?;
    file.write_all_at(&segment_header(id), 0)
        .and_then(|()| file.sync_all())
        .map_err(io(&path))?;
    sync_dir(dir)?;
    Ok(file)
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`, recovers it — truncating a torn
    /// tail, finishing an interrupted compaction — and starts its writer thread.
    ///
    /// Fails with [`JournalError::Locked`] if another handle or process has it open.
    pub fn open(dir: impl AsRef<Path>, options: JournalOptions) -> Result<Journal, JournalError> {
        let (journal, writer) = Journal::open_parts(dir.as_ref(), options)?;
        writer.spawn()?;
        Ok(journal)
    }

    fn open_parts(dir: &Path, options: JournalOptions) -> Result<(Journal, Writer), JournalError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked(dir.to_owned()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(JournalError::io(&lock_path, e)),
        }
        let rec = recover(dir)?;
        let (tx, rx) = mpsc::channel(options.queue_depth.max(1));
        let last = rec.durable.segment;
        let path = segment_path(dir, last);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        m::journal_depth(rec.depth);
        let (shipped_tx, _) = watch::channel(rec.shipped);
        let shared = Arc::new(Shared {
            dir: dir.to_owned(),
            state: Mutex::new(State {
                durable: rec.durable,
                shipped: rec.shipped,
                depth: rec.depth,
                segments: rec.segments,
                failed: None,
                appended: 0,
                syncs: 0,
            }),
            new_data: Notify::new(),
            shipped: shipped_tx,
            _lock: lock,
        });
        let writer = Writer::new(shared.clone(), rx, file, rec.durable, options);
        Ok((Journal { shared, tx }, writer))
    }

    /// Appends `record` and returns once it is on disk (fsync'd). Concurrent appends are
    /// written and synced together (group commit), so many calls share one fsync.
    pub async fn append(&self, record: &CallRecord) -> Result<(), JournalError> {
        let payload = serde_json::to_vec(record).map_err(JournalError::Encode)?;
        self.append_payload(&payload).await
    }

    async fn append_payload(&self, payload: &[u8]) -> Result<(), JournalError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(JournalError::TooLarge(payload.len()));
        }
        if let Some(reason) = self.shared.state().failed.clone() {
            return Err(JournalError::Failed(reason));
        }
        let mut frame = Vec::with_capacity(payload.len() + format::FRAME_HEADER_LEN);
        encode_frame(payload, &mut frame);
        let (done, result) = oneshot::channel();
        self.tx
            .send(Command::Append { frame, done })
            .await
            .map_err(|_| JournalError::Closed)?;
        result.await.map_err(|_| JournalError::Closed)?
    }

    /// Records durable and not yet marked shipped.
    pub fn depth(&self) -> u64 {
        self.shared.state().depth
    }

    /// Counters since open.
    pub fn stats(&self) -> JournalStats {
        let s = self.shared.state();
        JournalStats {
            appended: s.appended,
            syncs: s.syncs,
            depth: s.depth,
            segments: s.segments.len(),
        }
    }

    /// End of the durable records: everything before it survives a crash.
    pub fn durable_position(&self) -> Position {
        self.shared.state().durable
    }

    /// The checkpoint: every record before it is in the database.
    pub fn shipped_position(&self) -> Position {
        self.shared.state().shipped
    }

    /// Watches the checkpoint move.
    pub fn watch_shipped(&self) -> watch::Receiver<Position> {
        self.shared.shipped.subscribe()
    }

    /// A reader starting at the checkpoint, i.e. at the first record not yet shipped.
    /// The journal has one shipper; two readers would ship the same records twice
    /// (harmlessly, but uselessly).
    pub fn reader(&self) -> JournalReader {
        let start = self.shipped_position();
        JournalReader::new(self.shared.clone(), start)
    }

    /// Resolves when records may have been appended since the last call (a permit is
    /// kept if nobody was waiting, so no wake-up is ever lost).
    pub async fn wait_for_data(&self) {
        self.shared.new_data.notified().await;
    }

    /// Records that every record before `end` is in the database, `records` of them
    /// since the last checkpoint: writes the checkpoint durably, then deletes segments
    /// that lie wholly before it. Blocking file I/O.
    pub fn mark_shipped(&self, end: Position, records: u64) -> Result<(), JournalError> {
        let dir = &self.shared.dir;
        if end <= self.shipped_position() {
            return Ok(());
        }
        let tmp = dir.join(CHECKPOINT_TMP);
        let dst = dir.join(CHECKPOINT_FILE);
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&encode_checkpoint(end.segment, end.offset))
                .and_then(|()| f.sync_all())
                .map_err(io(&tmp))?;
        }
        std::fs::rename(&tmp, &dst).map_err(io(&dst))?;
        sync_dir(dir)?;
        let doomed = {
            let mut s = self.shared.state();
            s.shipped = end;
            s.depth = s.depth.saturating_sub(records);
            m::journal_depth(s.depth);
            let keep = s.segments.split_off(&end.segment);
            std::mem::replace(&mut s.segments, keep)
        };
        self.shared.shipped.send_replace(end);
        for id in doomed {
            let path = segment_path(dir, id);
            if let Err(e) = std::fs::remove_file(&path)
                && e.kind() != ErrorKind::NotFound
            {
                // Harmless: the next open deletes shipped segments again.
                tracing::warn!(target: "cdr", path = %path.display(), error = %e,
                    "cannot delete shipped journal segment");
            }
        }
        Ok(())
    }

    /// Sets aside a record the database refuses for good, so it neither blocks the
    /// records behind it nor disappears: appended as a JSON line to `rejected.jsonl`.
    pub fn quarantine(&self, payload: &[u8], reason: &str) -> Result<(), JournalError> {
        let path = self.shared.dir.join(REJECTED_FILE);
        let record = serde_json::from_slice::<serde_json::Value>(payload)
            .unwrap_or_else(|_| String::from_utf8_lossy(payload).into_owned().into());
        let line = serde_json::json!({
            "rejected_at": crate::record::format_time(chrono::Utc::now()),
            "reason": reason,
            "record": record,
        });
        let mut bytes = serde_json::to_vec(&line).map_err(JournalError::Encode)?;
        bytes.push(b'\n');
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(&bytes)
            .and_then(|()| f.sync_data())
            .map_err(io(&path))?;
        Ok(())
    }

    /// Writes what is queued, stops the writer thread and waits for it. Appends after
    /// this fail with [`JournalError::Closed`]. The directory lock is released when the
    /// last handle (and reader) is dropped.
    pub async fn close(&self) {
        let (done, finished) = oneshot::channel();
        if self.tx.send(Command::Close { done }).await.is_ok() {
            let _ = finished.await;
        }
    }
}

#[cfg(test)]
mod tests;
