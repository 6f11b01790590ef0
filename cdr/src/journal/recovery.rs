//! Opening a journal after a stop or a crash: finish an interrupted compaction, check
//! every segment, truncate a torn tail, count what is left to ship.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::format::{
    CHECKPOINT_FILE, CHECKPOINT_LEN, Frame, HEADER_LEN, SEGMENT_MAGIC, decode_checkpoint,
    decode_frame, parse_segment_name, segment_header, segment_path,
};
use super::{Position, create_segment, io};
use crate::error::JournalError;

pub(super) struct Recovered {
    pub(super) durable: Position,
    pub(super) shipped: Position,
    pub(super) depth: u64,
    pub(super) segments: BTreeSet<u64>,
}

pub(super) fn list_segments(dir: &Path) -> Result<BTreeSet<u64>, JournalError> {
    let mut ids = BTreeSet::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if let Some(id) = entry.file_name().to_str().and_then(parse_segment_name) {
            ids.insert(id);
        }
    }
    Ok(ids)
}

fn read_checkpoint(dir: &Path) -> Result<Option<Position>, JournalError> {
    let path = dir.join(CHECKPOINT_FILE);
    let mut buf = Vec::with_capacity(CHECKPOINT_LEN);
    match File::open(&path) {
        Ok(mut f) => {
            f.read_to_end(&mut buf).map_err(io(&path))?;
        }
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(JournalError::io(&path, e)),
    }
    match decode_checkpoint(&buf) {
        Some((segment, offset)) => Ok(Some(Position { segment, offset })),
        None => {
            // The rename is atomic, so this is damage, not a crash; replaying from the
            // oldest segment is safe because inserts are idempotent.
            tracing::warn!(target: "cdr", path = %path.display(),
                "journal checkpoint unreadable; replaying every segment on disk");
            Ok(None)
        }
    }
}

/// Checks a segment's header and returns the length of its valid prefix and the
/// offsets at which its frames start, truncating any torn or corrupt tail.
fn scan_segment(dir: &Path, id: u64) -> Result<(u64, Vec<u64>), JournalError> {
    let path = segment_path(dir, id);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io(&path))?;
    let header = segment_header(id);
    if (bytes.len() as u64) < HEADER_LEN {
        if header.starts_with(&bytes) {
            // Crashed while creating the segment: nothing was ever appended to it.
            file.write_all_at(&header, 0)
                .and_then(|()| file.sync_all())
                .map_err(io(&path))?;
            return Ok((HEADER_LEN, Vec::new()));
        }
        return Err(JournalError::NotAJournal {
            path,
            detail: "shorter than a segment header".into(),
        });
    }
    if bytes[..8] != SEGMENT_MAGIC || bytes[..HEADER_LEN as usize] != header {
        return Err(JournalError::NotAJournal {
            path,
            detail: "bad header (magic, version or segment id)".into(),
        });
    }
    let mut offset = HEADER_LEN as usize;
    let mut starts = Vec::new();
    while offset < bytes.len() {
        match decode_frame(&bytes[offset..]) {
            Frame::Complete { len, .. } => {
                starts.push(offset as u64);
                offset += len;
            }
            Frame::Partial | Frame::Invalid => break,
        }
    }
    if offset < bytes.len() {
        let dropped = bytes.len() - offset;
        // Appends are acknowledged only after their fsync, so a torn tail holds only
        // records that nobody was told were written.
        tracing::warn!(target: "cdr", path = %path.display(), offset, dropped_bytes = dropped,
            "journal: torn or corrupt tail truncated");
        file.set_len(offset as u64)
            .and_then(|()| file.sync_all())
            .map_err(io(&path))?;
    }
    Ok((offset as u64, starts))
}

pub(super) fn recover(dir: &Path) -> Result<Recovered, JournalError> {
    let mut segments = list_segments(dir)?;
    let first = segments.first().copied().unwrap_or(1);
    let mut shipped = read_checkpoint(dir)?.unwrap_or(Position {
        segment: first,
        offset: HEADER_LEN,
    });
    // Finish a compaction that a crash interrupted.
    let keep = segments.split_off(&shipped.segment);
    for id in std::mem::replace(&mut segments, keep) {
        let path = segment_path(dir, id);
        std::fs::remove_file(&path).map_err(io(&path))?;
    }
    if segments.is_empty() {
        let id = shipped.segment.max(1);
        create_segment(dir, id)?;
        segments.insert(id);
    }
    let oldest = segments.first().copied().unwrap_or(shipped.segment);
    if shipped.segment < oldest {
        shipped = Position {
            segment: oldest,
            offset: HEADER_LEN,
        };
    }
    let mut depth = 0;
    let mut durable = shipped;
    for &id in &segments {
        let (len, starts) = scan_segment(dir, id)?;
        if id == shipped.segment && shipped.offset != len && !starts.contains(&shipped.offset) {
            tracing::warn!(target: "cdr", segment = id, offset = shipped.offset,
                "journal checkpoint is not at a record boundary; replaying its segment");
            shipped.offset = HEADER_LEN;
        }
        depth += starts
            .iter()
            .filter(|&&o| {
                Position {
                    segment: id,
                    offset: o,
                } >= shipped
            })
            .count() as u64;
        durable = Position {
            segment: id,
            offset: len,
        };
    }
    if depth > 0 {
        tracing::info!(target: "cdr", records = depth, "journal holds unshipped CDRs; replaying");
    }
    Ok(Recovered {
        durable,
        shipped,
        depth,
        segments,
    })
}
