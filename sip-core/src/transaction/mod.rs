//! SIP transactions: RFC 3261 §17 as updated by RFC 6026, sans-IO.
//!
//! One [`TransactionLayer`] owns every client and server transaction of an element. It
//! takes messages from the transport and requests and responses from the transaction
//! user (TU), and hands back datagrams to send ([`Transmit`]), [`Event`]s for the TU and
//! the next deadline; see [`TransactionLayer`] for the call order.
//!
//! What it does on its own, as the RFCs ask:
//! - every state and timer of the four state machines (A–M), retransmitting on
//!   unreliable transports only, with Timers D, I, J and K zero on reliable ones;
//! - absorbs retransmitted requests (answering with the last response) and responses;
//! - sends 100 (Trying) for INVITE, the ACK for a non-2xx final response (§17.1.1.3),
//!   and answers CANCEL with 200 or 481 (§9.2);
//! - retransmits a 2xx to INVITE until the ACK arrives (§13.3.1.4), matching that ACK by
//!   dialog identifiers (RFC 6026 §7.1);
//! - matches by branch, falling back to the RFC 2543 rules for peers without a
//!   `z9hG4bK` branch (RFC 4475 §3.2.1);
//! - refuses new requests with 503 + Retry-After once `max_transactions` are live.
//!
//! The layer never reads a clock or draws random numbers: time comes in `now`
//! arguments, branches from [`new_branch`] with caller-supplied random bytes.

mod build;
mod client;
mod config;
mod error;
mod event;
mod incoming;
mod index;
mod layer;
mod matching;
mod server;
mod slab;
mod stamp;
mod timers;
mod types;

pub use build::{ack_for_non_2xx, cancel_for, new_branch};
pub use config::Config;
pub use error::{Result, TransactionError};
pub use event::Event;
pub use layer::{Stats, TransactionLayer};
pub use types::{
    ClientKey, ClientState, Peer, ServerKey, ServerState, Timer, TransactionKey, Transmit,
};
