//! Reading durable records back, for the shipper.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::format::{FRAME_HEADER_LEN, Frame, HEADER_LEN, MAX_PAYLOAD, decode_frame, segment_path};
use super::{Position, Shared};
use crate::error::JournalError;
use crate::record::CallRecord;

/// Bytes read per `pread`: always room for the largest frame.
const READ_CHUNK: usize = MAX_PAYLOAD + FRAME_HEADER_LEN;

/// One journaled record.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The encoded record, as appended.
    pub payload: Vec<u8>,
    /// Position just after this record.
    pub end: Position,
}

impl Entry {
    /// Decodes the record.
    pub fn decode(&self) -> Result<CallRecord, serde_json::Error> {
        serde_json::from_slice(&self.payload)
    }
}

/// Records read by one [`JournalReader::read_batch`].
#[derive(Debug, Clone)]
pub struct Batch {
    /// The records, oldest first.
    pub entries: Vec<Entry>,
    /// Where the reader now stands; once these records are in the database, this is
    /// the position to pass to [`super::Journal::mark_shipped`]. It can move past a
    /// sealed segment's end even when `entries` is empty.
    pub end: Position,
}

/// Reads durable records in append order, never past what has been fsync'd.
pub struct JournalReader {
    shared: Arc<Shared>,
    at: Position,
    file: Option<(u64, File)>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for JournalReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalReader")
            .field("at", &self.at)
            .finish_non_exhaustive()
    }
}

impl JournalReader {
    pub(super) fn new(shared: Arc<Shared>, at: Position) -> JournalReader {
        JournalReader {
            shared,
            at,
            file: None,
            buf: Vec::new(),
        }
    }

    /// Where the next record will be read from.
    pub fn position(&self) -> Position {
        self.at
    }

    /// Reads up to `max` durable records after the current position (blocking file
    /// I/O). An empty batch means the reader has caught up with the writer.
    pub fn read_batch(&mut self, max: usize) -> Result<Batch, JournalError> {
        let mut entries = Vec::new();
        while entries.len() < max {
            let (durable, next_segment) = {
                let s = self.shared.state();
                let next = s.segments.range(self.at.segment + 1..).next().copied();
                (s.durable, next)
            };
            if self.at >= durable {
                break;
            }
            let limit = if self.at.segment == durable.segment {
                durable.offset
            } else {
                // A sealed segment: its whole length is durable. (Asked afresh: the file
                // may have been open while it was still the active segment.)
                let path = segment_path(&self.shared.dir, self.at.segment);
                open(&mut self.file, &self.shared.dir, self.at.segment)?
                    .metadata()
                    .map_err(|e| JournalError::io(&path, e))?
                    .len()
            };
            if self.at.offset >= limit {
                match next_segment {
                    Some(next) => {
                        self.at = Position {
                            segment: next,
                            offset: HEADER_LEN,
                        };
                        self.file = None;
                        continue;
                    }
                    None => break,
                }
            }
            let want = usize::try_from(limit - self.at.offset)
                .unwrap_or(READ_CHUNK)
                .min(READ_CHUNK);
            self.buf.resize(want, 0);
            let path = segment_path(&self.shared.dir, self.at.segment);
            open(&mut self.file, &self.shared.dir, self.at.segment)?
                .read_exact_at(&mut self.buf, self.at.offset)
                .map_err(|e| JournalError::io(&path, e))?;
            let mut used = 0;
            while entries.len() < max {
                match decode_frame(&self.buf[used..]) {
                    Frame::Complete { payload, len } => {
                        used += len;
                        let end = Position {
                            segment: self.at.segment,
                            offset: self.at.offset + used as u64,
                        };
                        entries.push(Entry {
                            payload: payload.to_vec(),
                            end,
                        });
                    }
                    // The chunk holds at least one whole frame, so a partial one at its
                    // start means the durable region itself is damaged.
                    Frame::Partial if used > 0 => break,
                    Frame::Partial | Frame::Invalid => {
                        return Err(JournalError::Corrupt {
                            path,
                            offset: self.at.offset + used as u64,
                        });
                    }
                }
                if used == self.buf.len() {
                    break;
                }
            }
            self.at.offset += used as u64;
        }
        Ok(Batch {
            entries,
            end: self.at,
        })
    }
}

/// The open file of `segment`, reusing `slot` when it already holds it.
fn open<'a>(
    slot: &'a mut Option<(u64, File)>,
    dir: &std::path::Path,
    segment: u64,
) -> Result<&'a File, JournalError> {
    if !matches!(slot, Some((id, _)) if *id == segment) {
        let path = segment_path(dir, segment);
        let file = File::open(&path).map_err(|e| JournalError::io(&path, e))?;
        *slot = Some((segment, file));
    }
    match slot {
        Some((_, f)) => Ok(f),
        None => Err(JournalError::Closed),
    }
}
