//! Why the transaction layer refused a call from the TU.

use super::ServerState;
use crate::status::StatusCode;

/// A call into the [`super::TransactionLayer`] that could not be carried out. Messages
/// from the network never produce one: what cannot be matched is reported as an
/// [`super::Event`] or dropped, as RFC 3261 §17 says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// The key names no live transaction: it terminated, or never existed.
    #[error("no such transaction")]
    NoSuchTransaction,
    /// ACK is never sent in a client transaction: the layer sends the ACK for a non-2xx
    /// final response itself, and the ACK for a 2xx is sent with
    /// [`super::TransactionLayer::send_stateless`] (RFC 3261 §17.1.1.3, §13.2.2.4).
    #[error("ACK is not sent in a client transaction")]
    AckNotInTransaction,
    /// The request's top Via has no RFC 3261 branch (`z9hG4bK` and more); a client
    /// transaction needs one to match its responses (RFC 3261 §8.1.1.7, §17.1.3).
    #[error("the top Via has no RFC 3261 branch")]
    MissingBranch,
    /// A client transaction with the same branch and method is already live.
    #[error("a client transaction with this branch and method is live")]
    BranchInUse,
    /// The response cannot be sent in the server transaction's state, e.g. a second
    /// final response, or a non-2xx after a 2xx.
    #[error("cannot send {status} in state {state:?}")]
    InvalidState {
        /// The state of the transaction.
        state: ServerState,
        /// The status of the refused response.
        status: StatusCode,
    },
    /// The response's CSeq method is not the method of the server transaction's request.
    #[error("the response's CSeq does not belong to this transaction")]
    ResponseMismatch,
    /// The message lacks a header the layer needs, or has a malformed one.
    #[error("malformed message: {0}")]
    Message(#[from] crate::Error),
    /// A configuration value makes no working state machine.
    #[error("invalid transaction configuration: {0}")]
    Config(&'static str),
}

/// The result type of the transaction layer.
pub type Result<T, E = TransactionError> = std::result::Result<T, E>;
