//! The recorder thread and the tap the relay feeds it through.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use audiopus::coder::Decoder as OpusDecoder;
use audiopus::{Channels, SampleRate};

use super::g711;
use crate::control::{Leg, RecordingReport};
use crate::relay::codec::Codec;
use crate::rtp::RtpHeader;

/// Output sample rate: G.711's, and one libopus can decode to directly.
const RATE: u32 = 8000;
/// Largest RTP payload copied (Opus frames of 120 ms stay well below this).
const MAX_PAYLOAD: usize = 1280;
/// Packets may arrive this late and still be placed; the file trails real time by this.
const LAG: Duration = Duration::from_millis(400);
/// How often the header is rewritten so that a crash leaves a playable file.
const HEADER_EVERY: Duration = Duration::from_secs(1);
/// Queue between relay workers and the recorder (about 1.6 s of 200 calls).
const QUEUE: usize = 65536;

pub(crate) struct RecPacket {
    id: u64,
    leg: Leg,
    arrival: Instant,
    seq: u16,
    ts: u32,
    ssrc: u32,
    codec: Codec,
    clock: u32,
    len: u16,
    data: [u8; MAX_PAYLOAD],
}

// Packets travel inline: boxing them would allocate once per packet on the relay's path.
#[allow(clippy::large_enum_variant)]
pub(crate) enum RecorderMsg {
    Start {
        id: u64,
        path: PathBuf,
        start: Instant,
        dropped: Arc<AtomicU64>,
        reply: SyncSender<Result<(), String>>,
    },
    Packet(RecPacket),
    Stop {
        id: u64,
        at: Instant,
        reply: SyncSender<Result<RecordingReport, String>>,
    },
    Shutdown,
}

/// The relay's end of a recording: copies RTP payloads into the recorder's queue.
#[derive(Clone)]
pub(crate) struct RecordingTap {
    id: u64,
    tx: SyncSender<RecorderMsg>,
    dropped: Arc<AtomicU64>,
}

impl std::fmt::Debug for RecordingTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingTap")
            .field("id", &self.id)
            .finish()
    }
}

impl RecordingTap {
    /// Queues one RTP packet of `leg`; a full queue counts a gap instead of blocking.
    pub(crate) fn packet(
        &self,
        leg: Leg,
        now: Instant,
        h: &RtpHeader,
        packet: &[u8],
        codec: Codec,
        clock: u32,
    ) {
        if !matches!(codec, Codec::Pcmu | Codec::Pcma | Codec::Opus) {
            return; // DTMF events, comfort noise and unknown codecs are not audio we decode
        }
        let payload = h.payload(packet);
        if payload.len() > MAX_PAYLOAD {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut p = RecPacket {
            id: self.id,
            leg,
            arrival: now,
            seq: h.sequence,
            ts: h.timestamp,
            ssrc: h.ssrc,
            codec,
            clock,
            len: payload.len() as u16,
            data: [0; MAX_PAYLOAD],
        };
        p.data[..payload.len()].copy_from_slice(payload);
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.tx.try_send(RecorderMsg::Packet(p))
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The control side's handle on the recorder thread.
pub(crate) struct RecorderHandle {
    tx: SyncSender<RecorderMsg>,
    next_id: AtomicU64,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RecorderHandle {
    pub(crate) fn spawn() -> std::io::Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("media-recorder".into())
            .spawn(move || {
                Recorder {
                    rx,
                    recs: HashMap::new(),
                }
                .run()
            })?;
        Ok(Self {
            tx,
            next_id: AtomicU64::new(1),
            thread: Some(thread),
        })
    }

    /// Opens the file and returns the tap for the relay.
    pub(crate) fn start(&self, path: PathBuf, start: Instant) -> Result<RecordingTap, String> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let dropped = Arc::new(AtomicU64::new(0));
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        self.tx
            .send(RecorderMsg::Start {
                id,
                path,
                start,
                dropped: dropped.clone(),
                reply,
            })
            .map_err(|_| "recorder thread is gone".to_owned())?;
        rx.recv_timeout(Duration::from_secs(5))
            .map_err(|_| "recorder did not answer".to_owned())??;
        Ok(RecordingTap {
            id,
            tx: self.tx.clone(),
            dropped,
        })
    }

    /// Writes what remains up to `at`, finalises the file and reports.
    pub(crate) fn stop(&self, tap: &RecordingTap, at: Instant) -> Result<RecordingReport, String> {
        let (reply, rx) = std::sync::mpsc::sync_channel(1);
        self.tx
            .send(RecorderMsg::Stop {
                id: tap.id,
                at,
                reply,
            })
            .map_err(|_| "recorder thread is gone".to_owned())?;
        rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| "recorder did not answer".to_owned())?
    }
}

impl Drop for RecorderHandle {
    fn drop(&mut self) {
        let _ = self.tx.send(RecorderMsg::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Track {
    pending: VecDeque<i16>,
    anchor: Option<(u32, u32, i64)>, // ssrc, timestamp, position
    last_seq: Option<u16>,
    lost: u64,
    opus: Option<OpusDecoder>,
}

impl Track {
    fn new() -> Self {
        Self {
            pending: VecDeque::new(),
            anchor: None,
            last_seq: None,
            lost: 0,
            opus: None,
        }
    }
}

struct Rec {
    path: PathBuf,
    writer: Option<hound::WavWriter<BufWriter<File>>>,
    start: Instant,
    flushed: u64,
    legs: [Track; 2],
    gaps: u64,
    dropped: Arc<AtomicU64>,
    last_header: Instant,
    scratch: Vec<i16>,
}

impl Rec {
    fn place(&mut self, p: &RecPacket) {
        let arrival_pos = (p
            .arrival
            .saturating_duration_since(self.start)
            .as_secs_f64()
            * f64::from(RATE)) as i64;
        let t = &mut self.legs[p.leg.index()];
        if let Some(last) = t.last_seq
            && t.anchor.is_some_and(|(s, _, _)| s == p.ssrc)
        {
            let delta = p.seq.wrapping_sub(last) as i16;
            if delta > 1 {
                t.lost += (delta - 1) as u64;
            }
            if delta <= 0 && delta > -100 {
                // Duplicate or reordered: placed by timestamp below, sequence unchanged.
            } else {
                t.last_seq = Some(p.seq);
            }
        } else {
            t.last_seq = Some(p.seq);
        }
        let clock = i64::from(p.clock.max(1));
        let mut pos = match t.anchor {
            Some((ssrc, ts0, pos0)) if ssrc == p.ssrc => {
                pos0 + i64::from(p.ts.wrapping_sub(ts0) as i32) * i64::from(RATE) / clock
            }
            _ => arrival_pos,
        };
        // A new SSRC, or a timestamp that disagrees with the clock by over a second:
        // re-anchor on arrival time so the two channels stay aligned.
        if t.anchor.is_none_or(|(s, _, _)| s != p.ssrc)
            || (pos - arrival_pos).abs() > i64::from(RATE)
        {
            t.anchor = Some((p.ssrc, p.ts, arrival_pos));
            pos = arrival_pos;
        }
        self.scratch.clear();
        let payload = &p.data[..usize::from(p.len)];
        match p.codec {
            Codec::Pcmu => self
                .scratch
                .extend(payload.iter().map(|&b| g711::ulaw_to_linear(b))),
            Codec::Pcma => self
                .scratch
                .extend(payload.iter().map(|&b| g711::alaw_to_linear(b))),
            Codec::Opus => {
                if t.opus.is_none() {
                    t.opus = OpusDecoder::new(SampleRate::Hz8000, Channels::Mono).ok();
                }
                let Some(dec) = t.opus.as_mut() else {
                    self.gaps += 1;
                    return;
                };
                self.scratch.resize(960, 0); // 120 ms at 8 kHz, Opus' longest frame
                match dec.decode(Some(payload), &mut self.scratch[..], false) {
                    Ok(n) => self.scratch.truncate(n),
                    Err(_) => {
                        self.gaps += 1;
                        return;
                    }
                }
            }
            _ => return,
        }
        let start = pos - self.flushed as i64;
        let mut samples = &self.scratch[..];
        let mut offset = start;
        if offset < 0 {
            let skip = (-offset) as usize;
            if skip >= samples.len() {
                self.gaps += 1; // arrived after its place was written
                return;
            }
            samples = &samples[skip..];
            offset = 0;
        }
        let offset = offset as usize;
        if offset > 60 * RATE as usize {
            self.gaps += 1; // absurdly far ahead; refuse rather than allocate minutes
            return;
        }
        if t.pending.len() < offset + samples.len() {
            t.pending.resize(offset + samples.len(), 0);
        }
        for (i, s) in samples.iter().enumerate() {
            t.pending[offset + i] = *s;
        }
    }

    /// Writes frames up to `until` (exclusive), silence where nothing arrived.
    fn flush_until(&mut self, until: u64) -> Result<(), hound::Error> {
        let Some(w) = self.writer.as_mut() else {
            return Ok(());
        };
        while self.flushed < until {
            let l = self.legs[0].pending.pop_front().unwrap_or(0);
            let r = self.legs[1].pending.pop_front().unwrap_or(0);
            w.write_sample(l)?;
            w.write_sample(r)?;
            self.flushed += 1;
        }
        Ok(())
    }

    fn report(&self) -> RecordingReport {
        RecordingReport {
            path: self.path.clone(),
            frames: self.flushed,
            lost_packets: [self.legs[0].lost, self.legs[1].lost],
            gaps: self.gaps + self.dropped.load(Ordering::Relaxed),
        }
    }
}

struct Recorder {
    rx: Receiver<RecorderMsg>,
    recs: HashMap<u64, Rec>,
}

impl Recorder {
    fn run(mut self) {
        let mut last_flush = Instant::now();
        loop {
            match self.rx.recv_timeout(Duration::from_millis(100)) {
                Ok(RecorderMsg::Packet(p)) => {
                    if let Some(r) = self.recs.get_mut(&p.id) {
                        r.place(&p);
                    }
                }
                Ok(RecorderMsg::Start {
                    id,
                    path,
                    start,
                    dropped,
                    reply,
                }) => {
                    let _ = reply.send(self.open(id, path, start, dropped));
                }
                Ok(RecorderMsg::Stop { id, at, reply }) => {
                    let _ = reply.send(self.close(id, at));
                }
                Ok(RecorderMsg::Shutdown) | Err(RecvTimeoutError::Disconnected) => {
                    let now = Instant::now();
                    let ids: Vec<u64> = self.recs.keys().copied().collect();
                    for id in ids {
                        let _ = self.close(id, now);
                    }
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if now.saturating_duration_since(last_flush) >= Duration::from_millis(100) {
                last_flush = now;
                self.flush_all(now);
            }
        }
    }

    fn open(
        &mut self,
        id: u64,
        path: PathBuf,
        start: Instant,
        dropped: Arc<AtomicU64>,
    ) -> Result<(), String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(&path, spec)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        self.recs.insert(
            id,
            Rec {
                path,
                writer: Some(writer),
                start,
                flushed: 0,
                legs: [Track::new(), Track::new()],
                gaps: 0,
                dropped,
                last_header: Instant::now(),
                scratch: Vec::with_capacity(960),
            },
        );
        Ok(())
    }

    fn close(&mut self, id: u64, at: Instant) -> Result<RecordingReport, String> {
        let mut r = self
            .recs
            .remove(&id)
            .ok_or_else(|| "no such recording".to_owned())?;
        // Packets still queued for this recording are placed first.
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                RecorderMsg::Packet(p) if p.id == id => r.place(&p),
                RecorderMsg::Packet(p) => {
                    if let Some(o) = self.recs.get_mut(&p.id) {
                        o.place(&p);
                    }
                }
                RecorderMsg::Start {
                    id,
                    path,
                    start,
                    dropped,
                    reply,
                } => {
                    let _ = reply.send(self.open(id, path, start, dropped));
                }
                RecorderMsg::Stop {
                    id: other,
                    at,
                    reply,
                } => {
                    let _ = reply.send(self.close(other, at));
                }
                RecorderMsg::Shutdown => break,
            }
        }
        let end = (at.saturating_duration_since(r.start).as_secs_f64() * f64::from(RATE)) as u64;
        let result = r.flush_until(end);
        let finalized = r.writer.take().map(hound::WavWriter::finalize);
        result.map_err(|e| e.to_string())?;
        if let Some(Err(e)) = finalized {
            return Err(e.to_string());
        }
        Ok(r.report())
    }

    fn flush_all(&mut self, now: Instant) {
        for r in self.recs.values_mut() {
            let target = now.saturating_duration_since(r.start).saturating_sub(LAG);
            let frames = (target.as_secs_f64() * f64::from(RATE)) as u64;
            if let Err(e) = r.flush_until(frames) {
                tracing::warn!(path = %r.path.display(), error = %e, "recording write failed");
                r.writer = None;
            }
            if now.saturating_duration_since(r.last_header) >= HEADER_EVERY {
                r.last_header = now;
                if let Some(w) = r.writer.as_mut()
                    && let Err(e) = w.flush()
                {
                    tracing::warn!(path = %r.path.display(), error = %e, "recording header update failed");
                }
            }
        }
    }
}

/// The file for a call: `pattern` under `dir`, with `{call_id}` (made safe for a file
/// name), `{date}` (YYYY-MM-DD, UTC) and `{time}` (HHMMSS, UTC) replaced.
pub fn recording_path(dir: &Path, pattern: &str, call_id: &str, now: SystemTime) -> PathBuf {
    let safe: String = call_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let safe = if safe.is_empty() || safe.chars().all(|c| c == '.') {
        "call".to_owned()
    } else {
        safe
    };
    let secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86400) as i64);
    let tod = secs % 86400;
    let date = format!("{y:04}-{m:02}-{d:02}");
    let time = format!("{:02}{:02}{:02}", tod / 3600, tod / 60 % 60, tod % 60);
    let rel = pattern
        .replace("{call_id}", &safe)
        .replace("{date}", &date)
        .replace("{time}", &time);
    dir.join(rel)
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn path_pattern() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000); // 2023-11-14 22:13:20 UTC
        let p = recording_path(
            Path::new("/rec"),
            "{date}/{call_id}-{time}.wav",
            "a/../b c@x",
            t,
        );
        assert_eq!(p, PathBuf::from("/rec/2023-11-14/a_.._b_c@x-221320.wav"));
        let p = recording_path(Path::new("/rec"), "{call_id}.wav", "..", t);
        assert_eq!(p, PathBuf::from("/rec/call.wav"));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19723), (2024, 1, 1));
    }
}
