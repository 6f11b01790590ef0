//! The control seam: what the B2BUA (or the ng protocol) asks of the media engine, and the
//! events the engine reports back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::error::MediaError;

/// The two sides of a call: A sent the first offer (its From tag), B answered (To tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leg {
    /// The caller's side.
    A,
    /// The callee's side.
    B,
}

impl Leg {
    /// 0 for A, 1 for B.
    pub fn index(self) -> usize {
        match self {
            Leg::A => 0,
            Leg::B => 1,
        }
    }

    /// The other side.
    pub fn other(self) -> Leg {
        match self {
            Leg::A => Leg::B,
            Leg::B => Leg::A,
        }
    }
}

/// RTP or RTCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The even port.
    Rtp,
    /// The odd port.
    Rtcp,
}

impl Channel {
    /// 0 for RTP, 1 for RTCP.
    pub fn index(self) -> usize {
        match self {
            Channel::Rtp => 0,
            Channel::Rtcp => 1,
        }
    }
}

/// Statistics of what one leg sent to the relay, and what its RTCP says.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct LegStats {
    /// The relay's RTP port for this leg (the leg sends here).
    pub local_rtp_port: u16,
    /// RTP packets accepted from the leg (including those forwarded in the kernel).
    pub rtp_packets: u64,
    /// Of `rtp_packets`, those the kernel forwarded without the relay seeing them (see
    /// `media.kernel_forwarding`); they are in `rtp_bytes` and `forwarded` too.
    pub kernel_packets: u64,
    /// RTP bytes accepted from the leg.
    pub rtp_bytes: u64,
    /// RTCP packets accepted from the leg.
    pub rtcp_packets: u64,
    /// RTCP bytes accepted from the leg.
    pub rtcp_bytes: u64,
    /// Packets forwarded to the other leg (in an echo session: returned to this leg).
    pub forwarded: u64,
    /// Packets from a foreign address after latching, dropped (RTP injection).
    pub dropped_foreign: u64,
    /// Packets dropped because the other leg had no address or asked for none (in an
    /// echo session: because this leg's SDP asked to receive nothing).
    pub dropped_no_destination: u64,
    /// Malformed packets.
    pub errors: u64,
    /// RTP packets lost between the leg and the relay (sequence gaps).
    pub lost: u64,
    /// Interarrival jitter of the leg's RTP at the relay, ms.
    pub jitter_ms: f64,
    /// Fraction lost the leg reports in RTCP about what it receives (0..=1).
    pub remote_fraction_lost: Option<f64>,
    /// Cumulative loss the leg reports in RTCP.
    pub remote_cumulative_lost: Option<u32>,
    /// Jitter the leg reports in RTCP, ms.
    pub remote_jitter_ms: Option<f64>,
    /// Round trip between the relay and the leg, from RTCP LSR/DLSR, ms.
    pub rtt_ms: Option<f64>,
    /// E-model MOS estimate for this leg (ITU-T G.107), once media or RTCP was seen.
    pub mos: Option<f64>,
    /// RTP address from the leg's SDP.
    pub signalled_rtp: Option<SocketAddr>,
    /// RTCP address from the leg's SDP.
    pub signalled_rtcp: Option<SocketAddr>,
    /// RTP address learned from the leg's first packet.
    pub latched_rtp: Option<SocketAddr>,
    /// RTCP address learned from the leg's first RTCP packet.
    pub latched_rtcp: Option<SocketAddr>,
    /// Time since the last packet from the leg.
    pub idle: Option<Duration>,
    /// The leg's SDP put the stream on hold.
    pub hold: bool,
}

/// Both legs of one media stream (`m=` line).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamStats {
    /// Leg A then leg B.
    pub legs: [LegStats; 2],
}

/// What a recording produced, reported when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordingReport {
    /// The WAV file.
    pub path: PathBuf,
    /// Stereo frames written (8 kHz: 8000 per second).
    pub frames: u64,
    /// Packets missing per leg (sequence gaps), written as silence.
    pub lost_packets: [u64; 2],
    /// Packets that could not be placed: arrived too late for the timeline, undecodable,
    /// or dropped because the recorder fell behind. Zero means the file is complete.
    pub gaps: u64,
}

/// The state of a call's media, as reported by [`MediaControl::stats`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SessionStats {
    /// The call id.
    pub call_id: String,
    /// When the session was created.
    pub created: SystemTime,
    /// When the last offer or answer was handled.
    pub last_signal: SystemTime,
    /// Tag of leg A and of leg B (empty until known).
    pub tags: [String; 2],
    /// One entry per `m=` line.
    pub streams: Vec<StreamStats>,
    /// The recording, if one is running: its path.
    pub recording: Option<PathBuf>,
    /// When the session was deleted with a recording running, its report.
    pub recording_report: Option<RecordingReport>,
}

/// What the media engine reports on its own.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MediaEvent {
    /// A leg sent nothing for the configured media timeout: the call is probably dead.
    Timeout {
        /// The call id.
        call_id: Arc<str>,
        /// Tag of the silent leg.
        tag: Arc<str>,
        /// Index of the stream (`m=` line).
        stream: usize,
        /// How long the leg has been silent.
        idle: Duration,
    },
    /// An RFC 4733 DTMF digit ended.
    Dtmf {
        /// The call id.
        call_id: Arc<str>,
        /// Tag of the leg that sent it.
        tag: Arc<str>,
        /// `0`-`9`, `*`, `#`, `A`-`D`, `!` (flash).
        digit: char,
        /// Duration, ms.
        duration_ms: u32,
        /// Power, -dBm0.
        volume: u8,
    },
    /// The relay learned a leg's real address from its first packet.
    Latched {
        /// The call id.
        call_id: Arc<str>,
        /// Tag of the leg.
        tag: Arc<str>,
        /// Index of the stream.
        stream: usize,
        /// RTP or RTCP.
        channel: Channel,
        /// The learned address.
        address: SocketAddr,
    },
    /// A recording finished (stopped, or its session was deleted).
    RecordingFinished {
        /// The call id.
        call_id: Arc<str>,
        /// What was written.
        report: RecordingReport,
    },
}

/// Options of an offer or answer, as the ng protocol's flags give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SdpOptions {
    /// Also write the relay's address into `o=` (ng `replace: ["origin"]`).
    pub replace_origin: bool,
    /// Keep ICE attributes (by default they are removed: they would route media around
    /// the relay).
    pub keep_ice: bool,
    /// Start recording this call now.
    pub record: bool,
    /// Where the SIP message carrying this SDP came from (ng `received-from`). Unless
    /// `trust_address` is set, media is sent to this address (with the SDP's ports)
    /// rather than to the SDP's `c=` address, which behind NAT is often private: what
    /// rtpengine does by default. `c=0.0.0.0` hold is still honoured.
    pub received_from: Option<std::net::IpAddr>,
    /// Use the SDP's `c=` address even when `received_from` is known (ng `trust-address`).
    pub trust_address: bool,
    /// Use this address instead of both (ng `media address`).
    pub media_address: Option<std::net::IpAddr>,
}

impl SdpOptions {
    /// The address that replaces the SDP's `c=` for sending, if any.
    pub(crate) fn address_override(&self) -> Option<std::net::IpAddr> {
        self.media_address.or(if self.trust_address {
            None
        } else {
            self.received_from
        })
    }
}

/// What the B2BUA asks of the media engine. Implemented by [`MediaEngine`](crate::MediaEngine)
/// and, for other crates' tests, by `testing::FakeMedia` (feature `testing`).
///
/// Calls are identified by a call id and each side by its SIP tag, as in rtpengine's ng
/// protocol: the first offer's `from_tag` becomes leg A, the answer's `to_tag` leg B. A
/// later offer from either tag is a re-INVITE and updates the session in place (same
/// relay ports). Methods do not block on the network; they may wait briefly (microseconds)
/// for a relay worker.
pub trait MediaControl: Send + Sync {
    /// Handles an SDP offer written by `from_tag`'s side; returns the SDP to forward to the
    /// other side (pointing at the relay). Creates the session on first use.
    fn offer(
        &self,
        call_id: &str,
        from_tag: &str,
        sdp: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError>;

    /// Handles an SDP answer written by `to_tag`'s side to an offer from `from_tag`;
    /// returns the SDP to forward to `from_tag`'s side.
    fn answer(
        &self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        sdp: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError>;

    /// Ends the session, frees its ports, and returns its final statistics.
    fn delete(&self, call_id: &str) -> Result<SessionStats, MediaError>;

    /// Current statistics of a session.
    fn stats(&self, call_id: &str) -> Result<SessionStats, MediaError>;

    /// Call ids of every session.
    fn list(&self) -> Vec<String>;

    /// Starts recording a call; returns the file's path. Starting twice is harmless.
    fn start_recording(&self, call_id: &str) -> Result<PathBuf, MediaError>;

    /// Stops recording a call and returns what was written.
    fn stop_recording(&self, call_id: &str) -> Result<RecordingReport, MediaError>;
}
