//! Media engine (flows F-10 and F-14): RTP/RTCP relay, call recording, and an
//! rtpengine-compatible control protocol.
//!
//! - [`start`] brings up the engine and the ng listener from a [`MediaConfig`] (the
//!   `[media]` section). [`MediaEngine`] implements [`MediaControl`], the API the B2BUA
//!   drives: SDP offer and answer in, SDP pointing at the relay out; sessions with an
//!   even/odd RTP/RTCP port pair per leg and stream; re-INVITEs update a session in place.
//! - The relay sends to the address a leg's SDP gave until the leg's first packet, then
//!   latches onto the packet's real source (symmetric RTP, for NATed slots); packets from
//!   any other source are dropped and counted. Only a re-INVITE with a new address moves
//!   a latched leg.
//! - [`MediaEngine::echo`] serves the echo number (9001): the relay answers a leg's offer
//!   itself and returns the leg's RTP to it (under an SSRC of its own), with the same
//!   latching, injection protection, timeouts, statistics and recording as a relayed call.
//! - [`MediaEvent`]s report media timeouts, RFC 4733 DTMF digits, latching, and finished
//!   recordings. RTCP is relayed and parsed for loss, jitter, round-trip time and an
//!   E-model MOS ([`quality`]).
//! - Forwarding runs on one thread per CPU, each with its own epoll set, `recvmmsg` and
//!   `sendmmsg`, and no allocation per packet ([`relay`]). The per-call logic
//!   ([`relay::session::RelaySession`]) is sans-IO and tested with a simulated clock.
//! - Latched, plain RTP can be forwarded inside the kernel instead ([`relay::kernel`]:
//!   an eBPF program at TC ingress, `media.kernel_forwarding`); whatever it leaves alone
//!   reaches the sockets and is relayed as above.
//! - Recording ([`recording`]) writes stereo WAV (leg A left, leg B right) from G.711 and
//!   Opus, with gaps counted and truncated files repaired at start.
//! - [`ng`] serves rtpengine's ng protocol so Kamailio's rtpengine module can use VSS as
//!   its relay; [`loadgen`] is the RTP load generator behind `vss bench rtp`.
//!
//! Not done here: SRTP/DTLS and ICE (ICE attributes are removed so media cannot bypass
//! the relay), transcoding, and mixing address families (the relay binds one
//! `bind_ip`; a peer of the other family cannot be reached). RTCP parsing allocates,
//! at about one report per leg every five seconds.

mod config;
mod control;
pub mod dtmf;
mod engine;
mod error;
pub mod loadgen;
pub mod ng;
mod offer_answer;
pub mod ports;
pub mod quality;
pub mod recording;
pub mod relay;
pub mod rtp;
mod service;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use config::{KernelForwarding, MediaConfig};
pub use control::{
    Channel, Leg, LegStats, MediaControl, MediaEvent, RecordingReport, SdpOptions, SessionStats,
    StreamStats,
};
pub use engine::MediaEngine;
pub use error::MediaError;
pub use relay::kernel::{KernelError, KernelStats};
pub use service::{MediaService, start};
