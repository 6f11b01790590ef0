//! Sans-IO SIP protocol core.
//!
//! Everything here is the protocol and nothing but the protocol: no sockets, no async
//! runtime, no clock reads. Inputs are `handle_*(now, ...)`, outputs are `poll_*()`, and
//! time is always an argument.
//!
//! - [`message`]: requests and responses, parsed zero-copy from [`bytes::Bytes`] and
//!   validated (RFC 3261 §7, §8.2; RFC 4475), printed back.
//! - [`header`], [`uri`]: typed views of the headers and URIs the stack reads.
//! - [`framing`]: cutting messages out of TCP/TLS streams.
//! - [`reply`]: answers to requests that could not be parsed.

/// Digest authentication (RFC 7616, RFC 8760): challenges, credentials, server and client.
pub mod auth;
/// Dialogs (RFC 3261 §12): creation, in-dialog requests, CSeq order, target refresh, 481.
pub mod dialog;
pub mod error;
pub mod framing;
pub mod header;
pub mod message;
pub mod method;
mod params;
pub mod reply;
/// SDP (RFC 8866): parse, inspect and rewrite session descriptions for the media relay.
pub mod sdp;
pub mod status;
mod syntax;
/// Transactions (RFC 3261 §17, RFC 6026): client and server state machines, sans-IO.
pub mod transaction;
pub mod uri;

pub use error::{Error, Result};
pub use header::{CSeq, Header, HeaderName, Headers, NameAddr, Transport, Via};
pub use message::{Message, Request, Response};
pub use method::Method;
pub use params::{ParamIter, Params};
pub use status::StatusCode;
pub use uri::Uri;
