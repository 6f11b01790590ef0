//! Repairing WAV files whose writer died before it could fix the header.
//!
//! The recorder rewrites the header about once a second, so a crash loses at most that
//! much; this pass makes the remainder playable: RIFF and `data` sizes are set from the
//! file's real length, trimmed to whole frames.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// What the repair pass did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepairOutcome {
    /// The header already matched the file.
    Intact,
    /// Sizes were rewritten (and a partial frame trimmed).
    Repaired {
        /// Frames in the repaired file.
        frames: u64,
    },
    /// Not a RIFF/WAVE file this module understands; left alone.
    NotWav,
}

/// Repairs one file in place.
pub fn repair_file(path: &Path) -> io::Result<RepairOutcome> {
    let mut f = OpenOptions::new().read(true).write(true).open(path)?;
    let len = f.metadata()?.len();
    let mut head = [0u8; 12];
    if len < 44
        || f.read_exact(&mut head).is_err()
        || &head[0..4] != b"RIFF"
        || &head[8..12] != b"WAVE"
    {
        return Ok(RepairOutcome::NotWav);
    }
    // Walk the chunks to find fmt (block align) and data (its size field and start).
    let mut pos = 12u64;
    let mut block_align: Option<u64> = None;
    loop {
        if pos + 8 > len {
            return Ok(RepairOutcome::NotWav);
        }
        let mut ch = [0u8; 8];
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut ch)?;
        let size = u64::from(u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]));
        match &ch[0..4] {
            b"fmt " => {
                let mut fmt = [0u8; 16];
                f.read_exact(&mut fmt)?;
                block_align = Some(u64::from(u16::from_le_bytes([fmt[12], fmt[13]])).max(1));
            }
            b"data" => {
                let Some(align) = block_align else {
                    return Ok(RepairOutcome::NotWav);
                };
                let data_start = pos + 8;
                let real = (len - data_start) / align * align;
                let riff_size = data_start + real - 8;
                let want_data =
                    u32::try_from(real).unwrap_or(u32::MAX / align as u32 * align as u32);
                let want_riff = u32::try_from(riff_size).unwrap_or(u32::MAX);
                if u64::from(want_data) == size
                    && u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]))
                        == riff_size
                    && data_start + real == len
                {
                    return Ok(RepairOutcome::Intact);
                }
                f.set_len(data_start + real)?;
                f.seek(SeekFrom::Start(4))?;
                f.write_all(&want_riff.to_le_bytes())?;
                f.seek(SeekFrom::Start(pos + 4))?;
                f.write_all(&want_data.to_le_bytes())?;
                f.sync_all()?;
                return Ok(RepairOutcome::Repaired {
                    frames: real / align,
                });
            }
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
}

/// Repairs every `.wav` under `dir` (recursively); returns the files that were changed.
/// A missing directory is not an error: there is nothing to repair.
pub fn repair_dir(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut repaired = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
            {
                match repair_file(&path) {
                    Ok(RepairOutcome::Repaired { .. }) => repaired.push(path),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot repair recording")
                    }
                }
            }
        }
    }
    Ok(repaired)
}

/// Opens a file only to check it exists and is readable (used by tests and tools).
pub fn frames_of(path: &Path) -> io::Result<u64> {
    let r = hound::WavReader::new(File::open(path)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(u64::from(r.duration()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec() -> hound::WavSpec {
        hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        }
    }

    #[test]
    fn truncated_file_becomes_playable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("call.wav");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut w = hound::WavWriter::create(&path, spec()).unwrap();
        for i in 0..4000 {
            w.write_sample(i as i16).unwrap();
            w.write_sample(-(i as i16)).unwrap();
        }
        w.finalize().unwrap(); // the header says 4000 frames
        // A crash after the last header update: 2000 more frames and half a frame reached
        // the disk, but the header was never rewritten.
        let f = OpenOptions::new().append(true).open(&path).unwrap();
        (&f).write_all(&vec![0u8; 2000 * 4]).unwrap();
        (&f).write_all(&[1, 2]).unwrap();
        drop(f);
        assert_eq!(repair_dir(dir.path()).unwrap(), vec![path.clone()]);
        assert_eq!(frames_of(&path).unwrap(), 4000 + 2000);
        assert_eq!(repair_file(&path).unwrap(), RepairOutcome::Intact);
        let mut r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.samples::<i16>().count(), 12000);
    }

    #[test]
    fn non_wav_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.wav");
        std::fs::write(
            &p,
            b"not a wav file at all, but long enough to have a header....",
        )
        .unwrap();
        assert_eq!(repair_file(&p).unwrap(), RepairOutcome::NotWav);
        assert!(repair_dir(&dir.path().join("missing")).unwrap().is_empty());
    }
}
