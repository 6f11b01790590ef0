//! What the transaction layer tells the transaction user (TU).

use super::types::{ClientKey, Peer, ServerKey, Timer, TransactionKey};
use crate::message::{Request, Response};

/// An event for the TU, taken with [`super::TransactionLayer::poll_event`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A request created a server transaction. The TU answers it with
    /// [`super::TransactionLayer::send_response`]. The top Via already carries
    /// `received`/`rport` (RFC 3261 §18.2.1, RFC 3581), so responses built from it with
    /// [`Response::from_request`] are right.
    Request {
        /// The new server transaction.
        key: ServerKey,
        /// The request.
        request: Request,
        /// Where it came from.
        source: Peer,
    },
    /// A request [`super::Config::stateless`] chose to leave without a transaction. The TU
    /// answers it with [`super::TransactionLayer::send_stateless`] to `reply_to`; the top
    /// Via is stamped as for [`Event::Request`].
    Stateless {
        /// The request.
        request: Request,
        /// Where it came from.
        source: Peer,
        /// Where its responses go (RFC 3261 §18.2.2, RFC 3581).
        reply_to: Peer,
    },
    /// An ACK outside any non-2xx INVITE transaction: the ACK for a 2xx (RFC 6026 §7.1:
    /// always passed to the TU), matched to the Accepted INVITE server transaction by
    /// Call-ID, tags and CSeq so that its 2xx retransmission stopped, or matching
    /// nothing (`invite` is `None`): the dialog layer decides what it means.
    Ack {
        /// The ACK, top Via stamped.
        request: Request,
        /// Where it came from.
        source: Peer,
        /// The INVITE server transaction it acknowledged, if one is still live.
        invite: Option<ServerKey>,
    },
    /// A CANCEL matched an INVITE server transaction that has sent no final response.
    /// The layer already answered the CANCEL with 200 (RFC 3261 §9.2); the TU should now
    /// answer the INVITE with 487 (Request Terminated).
    Cancelled {
        /// The INVITE server transaction to answer with 487.
        invite: ServerKey,
        /// The CANCEL, top Via stamped.
        cancel: Request,
        /// Where the CANCEL came from.
        source: Peer,
    },
    /// A response for a client transaction: every provisional, the final response, and
    /// in the Accepted state every further 2xx (retransmissions and forks, RFC 6026 §8.4).
    Response {
        /// The client transaction.
        key: ClientKey,
        /// The response.
        response: Response,
        /// Where it came from.
        source: Peer,
    },
    /// A transaction timed out. For a client transaction (Timer B or F) the TU acts as
    /// on a 408 response (RFC 3261 §8.1.3.1). For a server transaction, Timer H means the
    /// ACK for a non-2xx final response never came (§17.2.1); Timer L means the 2xx was
    /// retransmitted for 64*T1 without an ACK, and the TU should send BYE (§13.3.1.4).
    Timeout {
        /// The transaction.
        key: TransactionKey,
        /// Which timer fired: B, F, H or L.
        timer: Timer,
    },
    /// The transport could not send a message of this transaction (RFC 3261 §17.1.4,
    /// §17.2.4); the transaction is terminated. A client TU acts as on a 503.
    TransportError {
        /// The transaction.
        key: TransactionKey,
    },
    /// A 2xx to INVITE that matches no client transaction (RFC 3261 §17.1.1.2 leaves it
    /// to the core): a retransmission after Timer M, or a fork that arrived late. The TU
    /// must ACK it and, if it wants no such dialog, send BYE.
    Stray2xx {
        /// The response.
        response: Response,
        /// Where it came from.
        source: Peer,
    },
    /// A transaction the TU knows reached the Terminated state; its key is dead.
    Terminated {
        /// The transaction.
        key: TransactionKey,
    },
}
