//! On-disk format of journal segments and of the shipped-up-to checkpoint.
//!
//! A segment is a 16-byte header (`VSSCDRJ\x01` + the segment id, u64 LE) followed by
//! frames: `len: u32 LE | crc: u32 LE | payload[len]`, where `crc` is CRC-32 (IEEE) over
//! the length bytes and the payload, so a torn length is caught as surely as a torn
//! payload. The payload is one CDR as JSON.

use std::path::{Path, PathBuf};

/// Magic at the start of every segment; the last byte is the format version.
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"VSSCDRJ\x01";
/// Bytes before the first frame of a segment.
pub(crate) const HEADER_LEN: u64 = 16;
/// Bytes before a frame's payload.
pub(crate) const FRAME_HEADER_LEN: usize = 8;
/// Largest payload accepted; a CDR is about 1 KiB, so anything larger is a torn length.
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;

/// Magic of the checkpoint file.
pub(crate) const CHECKPOINT_MAGIC: [u8; 8] = *b"VSSCDRC\x01";
/// Size of the checkpoint file: magic, segment, offset, CRC.
pub(crate) const CHECKPOINT_LEN: usize = 28;
/// The checkpoint file's name inside the journal directory.
pub(crate) const CHECKPOINT_FILE: &str = "shipped";
/// Where a new checkpoint is written before it is renamed over the old one.
pub(crate) const CHECKPOINT_TMP: &str = "shipped.tmp";
/// Lock file that keeps a second process out of the directory.
pub(crate) const LOCK_FILE: &str = "LOCK";
/// Records that can never be inserted are kept here, one JSON line each.
pub(crate) const REJECTED_FILE: &str = "rejected.jsonl";

const SEGMENT_SUFFIX: &str = ".cdrj";

pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}{SEGMENT_SUFFIX}"))
}

/// The segment id a file name stands for, if it is a segment's name.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

pub(crate) fn segment_header(id: u64) -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..8].copy_from_slice(&SEGMENT_MAGIC);
    h[8..].copy_from_slice(&id.to_le_bytes());
    h
}

fn frame_crc(len: [u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len);
    h.update(payload);
    h.finalize()
}

/// Appends one frame holding `payload` to `out`.
pub(crate) fn encode_frame(payload: &[u8], out: &mut Vec<u8>) {
    // Payloads are capped by MAX_PAYLOAD before they get here; the cast cannot truncate.
    let len = (payload.len() as u32).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&frame_crc(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// What the bytes at the start of a buffer hold.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A whole, intact frame of `len` bytes (header included).
    Complete { payload: &'a [u8], len: usize },
    /// The buffer ends before the frame does; more bytes may complete it.
    Partial,
    /// The bytes are not a frame: bad length or bad checksum.
    Invalid,
}

pub(crate) fn decode_frame(buf: &[u8]) -> Frame<'_> {
    let Some((header, rest)) = buf.split_first_chunk::<FRAME_HEADER_LEN>() else {
        return Frame::Partial;
    };
    let len_bytes = [header[0], header[1], header[2], header[3]];
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let len = u32::from_le_bytes(len_bytes) as usize;
    if len == 0 || len > MAX_PAYLOAD {
        return Frame::Invalid;
    }
    let Some(payload) = rest.get(..len) else {
        return Frame::Partial;
    };
    if frame_crc(len_bytes, payload) != crc {
        return Frame::Invalid;
    }
    Frame::Complete {
        payload,
        len: FRAME_HEADER_LEN + len,
    }
}

pub(crate) fn encode_checkpoint(segment: u64, offset: u64) -> [u8; CHECKPOINT_LEN] {
    let mut b = [0u8; CHECKPOINT_LEN];
    b[..8].copy_from_slice(&CHECKPOINT_MAGIC);
    b[8..16].copy_from_slice(&segment.to_le_bytes());
    b[16..24].copy_from_slice(&offset.to_le_bytes());
    let crc = crc32fast::hash(&b[..24]);
    b[24..].copy_from_slice(&crc.to_le_bytes());
    b
}

pub(crate) fn decode_checkpoint(b: &[u8]) -> Option<(u64, u64)> {
    let b: &[u8; CHECKPOINT_LEN] = b.try_into().ok()?;
    if b[..8] != CHECKPOINT_MAGIC {
        return None;
    }
    let crc = u32::from_le_bytes(b[24..].try_into().ok()?);
    if crc32fast::hash(&b[..24]) != crc {
        return None;
    }
    let segment = u64::from_le_bytes(b[8..16].try_into().ok()?);
    let offset = u64::from_le_bytes(b[16..24].try_into().ok()?);
    Some((segment, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip_and_every_torn_prefix_is_partial() {
        let mut buf = Vec::new();
        encode_frame(b"{\"x\":1}", &mut buf);
        assert_eq!(
            decode_frame(&buf),
            Frame::Complete {
                payload: b"{\"x\":1}",
                len: buf.len()
            }
        );
        for cut in 0..buf.len() {
            assert_eq!(decode_frame(&buf[..cut]), Frame::Partial, "cut at {cut}");
        }
    }

    #[test]
    fn any_flipped_bit_is_caught() {
        let mut buf = Vec::new();
        encode_frame(b"payload bytes", &mut buf);
        for byte in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[byte] ^= 1 << bit;
                assert!(
                    !matches!(decode_frame(&bad), Frame::Complete { .. }),
                    "flip {byte}:{bit} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn zeroed_space_is_not_a_frame() {
        assert_eq!(decode_frame(&[0u8; 64]), Frame::Invalid);
        let mut huge = vec![0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0];
        huge.extend_from_slice(&[1; 16]);
        assert_eq!(decode_frame(&huge), Frame::Invalid);
    }

    #[test]
    fn checkpoint_round_trip_and_corruption() {
        let b = encode_checkpoint(7, 4096);
        assert_eq!(decode_checkpoint(&b), Some((7, 4096)));
        let mut bad = b;
        bad[10] ^= 1;
        assert_eq!(decode_checkpoint(&bad), None);
        assert_eq!(decode_checkpoint(&b[..20]), None);
    }

    #[test]
    fn segment_names() {
        let p = segment_path(Path::new("/j"), 42);
        let name = p.file_name().and_then(|n| n.to_str()).unwrap();
        assert_eq!(name, "00000000000000000042.cdrj");
        assert_eq!(parse_segment_name(name), Some(42));
        assert_eq!(parse_segment_name("shipped"), None);
        assert_eq!(parse_segment_name("42.cdrj"), None);
    }
}
