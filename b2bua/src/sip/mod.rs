//! SIP helpers of the B2BUA: building our requests and responses, SDP origin handling,
//! session timers (RFC 4028), reliable provisionals (RFC 3262) and digest auth.

pub(crate) mod auth;
pub(crate) mod msg;
pub(crate) mod sdp;
pub(crate) mod session_timer;
