//! Call recording (F-14): RTP of both legs decoded to PCM and written as one stereo WAV
//! (leg A left, leg B right) on a common 8 kHz timeline.
//!
//! Relay workers copy each RTP payload into a bounded queue (no allocation, never
//! blocking); one recorder thread decodes (G.711 with [`g711`], Opus with libopus),
//! places samples by RTP timestamp anchored to arrival time, fills what never arrived
//! with silence, and writes incrementally. The WAV header is rewritten about once a
//! second, so a crash leaves a playable file; [`wav::repair_dir`] fixes the rest at start.

pub mod g711;
mod recorder;
pub mod wav;

pub use recorder::recording_path;
pub(crate) use recorder::{RecorderHandle, RecordingTap};
