//! The writer thread: group commit.
//!
//! Appenders queue encoded frames; the thread takes every frame waiting (up to
//! `max_batch_bytes`), writes them with one positional write, calls `fdatasync` once and
//! then answers all of them. While it syncs, new appends queue up and form the next
//! group, so the number of fsyncs per second stays bounded by the disk, not by the call
//! rate. A plain thread rather than a tokio task: the work is blocking file I/O.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::format::{HEADER_LEN, segment_path};
use super::{JournalOptions, Position, Shared, create_segment};
use crate::error::JournalError;
use crate::metrics as m;

pub(crate) enum Command {
    Append {
        frame: Vec<u8>,
        done: oneshot::Sender<Result<(), JournalError>>,
    },
    Close {
        done: oneshot::Sender<()>,
    },
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Command>,
    file: File,
    at: Position,
    options: JournalOptions,
    buf: Vec<u8>,
    waiters: Vec<oneshot::Sender<Result<(), JournalError>>>,
}

impl Writer {
    pub(super) fn new(
        shared: Arc<Shared>,
        rx: mpsc::Receiver<Command>,
        file: File,
        at: Position,
        options: JournalOptions,
    ) -> Writer {
        Writer {
            shared,
            rx,
            file,
            at,
            options,
            buf: Vec::new(),
            waiters: Vec::new(),
        }
    }

    pub(super) fn spawn(self) -> Result<(), JournalError> {
        let dir = self.shared.dir.clone();
        std::thread::Builder::new()
            .name("cdr-journal".into())
            .spawn(move || self.run())
            .map(|_| ())
            .map_err(|e| JournalError::io(dir, e))
    }

    fn run(mut self) {
        while let Some(first) = self.rx.blocking_recv() {
            let mut close = self.take(first);
            while close.is_none() && self.buf.len() < self.options.max_batch_bytes {
                match self.rx.try_recv() {
                    Ok(cmd) => close = self.take(cmd),
                    Err(_) => break,
                }
            }
            if let Some(done) = close {
                // Appends already queued were accepted: write them, then stop.
                self.rx.close();
                while let Ok(cmd) = self.rx.try_recv() {
                    if let Some(other) = self.take(cmd) {
                        let _ = other.send(());
                    }
                }
                self.commit();
                // Release the files (and the directory lock, via `shared`) before
                // answering, so a reopen right after `close` finds the journal free.
                drop(self);
                let _ = done.send(());
                return;
            }
            self.commit();
        }
        // Every handle is gone; nothing can be waiting.
    }

    fn take(&mut self, cmd: Command) -> Option<oneshot::Sender<()>> {
        match cmd {
            Command::Append { frame, done } => {
                self.buf.extend_from_slice(&frame);
                self.waiters.push(done);
                None
            }
            Command::Close { done } => Some(done),
        }
    }

    fn fail_all(&mut self, reason: &str) {
        for w in self.waiters.drain(..) {
            let _ = w.send(Err(JournalError::Failed(reason.to_owned())));
        }
        self.buf.clear();
    }

    fn commit(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let failed = self.shared.state().failed.clone();
        if let Some(reason) = failed {
            self.fail_all(&reason);
            return;
        }
        let started = Instant::now();
        let result = self
            .file
            .write_all_at(&self.buf, self.at.offset)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = result {
            let path = segment_path(&self.shared.dir, self.at.segment);
            let reason = format!("{}: {e}", path.display());
            tracing::error!(target: "cdr", error = %reason,
                "journal write failed; refusing further CDR appends until restart");
            self.shared.state().failed = Some(reason.clone());
            self.fail_all(&reason);
            return;
        }
        m::journal_sync(started.elapsed(), self.waiters.len());
        self.at.offset += self.buf.len() as u64;
        let n = self.waiters.len() as u64;
        {
            let mut s = self.shared.state();
            s.durable = self.at;
            s.depth += n;
            s.appended += n;
            s.syncs += 1;
            // Under the lock, so the gauge never goes back to a stale value.
            m::journal_depth(s.depth);
        }
        self.shared.new_data.notify_one();
        for w in self.waiters.drain(..) {
            let _ = w.send(Ok(()));
        }
        self.buf.clear();
        if self.at.offset >= self.options.segment_bytes {
            self.rotate();
        }
    }

    /// Seals the current segment and starts the next one.
    fn rotate(&mut self) {
        let next = self.at.segment + 1;
        match create_segment(&self.shared.dir, next) {
            Ok(file) => {
                self.file = file;
                self.at = Position {
                    segment: next,
                    offset: HEADER_LEN,
                };
                let mut s = self.shared.state();
                s.segments.insert(next);
                s.durable = self.at;
            }
            Err(e) => {
                tracing::error!(target: "cdr", error = %e,
                    "cannot start a new journal segment; refusing further CDR appends");
                self.shared.state().failed = Some(e.to_string());
            }
        }
        self.shared.new_data.notify_one();
    }
}
