//! Errors of the media engine's control API.

use sip_core::sdp::SdpError;

/// Why a media control request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The SDP body could not be parsed; the B2BUA answers 488 Not Acceptable Here.
    #[error("bad SDP: {0}")]
    Sdp(#[from] SdpError),
    /// The SDP is well-formed but offers nothing the relay can carry (for example an
    /// `m=` line with a port count, which a relay cannot map).
    #[error("SDP not acceptable: {0}")]
    NotAcceptable(&'static str),
    /// No session exists under this call id.
    #[error("unknown call-id {0:?}")]
    UnknownSession(String),
    /// The tags do not match any leg of the session.
    #[error("tag {tag:?} does not belong to call {call_id:?}")]
    UnknownTag {
        /// The call id.
        call_id: String,
        /// The tag that matched no leg.
        tag: String,
    },
    /// The call id names a session of the other kind: an offer or answer for an echo
    /// session, or an echo request for a relayed call.
    #[error("call {call_id:?} is already a {existing} session")]
    WrongSessionKind {
        /// The call id.
        call_id: String,
        /// What the session is: `"echo"` or `"relayed"`.
        existing: &'static str,
    },
    /// An answer arrived for a session that has seen no offer.
    #[error("answer without an offer for call {0:?}")]
    NoOffer(String),
    /// The RTP port range has no free even/odd pair left.
    #[error("no free RTP port pair in the configured range")]
    PortsExhausted,
    /// A socket operation failed.
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// A relay worker thread is gone (it panicked or the engine is shutting down).
    #[error("relay worker unavailable")]
    WorkerGone,
    /// Recording was requested but could not be started or finished.
    #[error("recording: {0}")]
    Recording(String),
    /// The configuration is unusable (bad port range, unparsable address).
    #[error("media configuration: {0}")]
    Config(String),
}
