//! Sans-IO SIP protocol core.
//!
//! Everything here is the protocol and nothing but the protocol: no sockets, no async
//! runtime, no clock reads. Inputs are `handle_*(now, ...)`, outputs are `poll_*()`, and
//! time is always an argument.

/// Digest authentication (RFC 7616, RFC 8760): challenges, credentials, server and client.
pub mod auth;
/// SDP (RFC 8866): parse, inspect and rewrite session descriptions for the media relay.
pub mod sdp;
