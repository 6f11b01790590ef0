//! The nouns of the transaction layer: peers, datagrams to send, transaction keys,
//! states and timers.

use crate::header::Transport;
use bytes::Bytes;
use std::net::SocketAddr;

/// The other end of a message: where it came from, or where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// The transport it travels on.
    pub transport: Transport,
    /// The remote address.
    pub addr: SocketAddr,
    /// The transport's id of a TCP/TLS connection, so that responses go back on the
    /// connection the request came in on (RFC 3261 §18.2.2). `None` for UDP, or to let
    /// the transport pick or open a connection.
    pub connection: Option<u64>,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Peer {
        Peer {
            transport: Transport::Udp,
            addr,
            connection: None,
        }
    }

    /// Whether the transport delivers reliably, so that the layer never retransmits and
    /// Timers D, I, J and K are zero (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1, §17.2.2).
    pub fn is_reliable(&self) -> bool {
        self.transport != Transport::Udp
    }
}

/// A message for the transport to send.
#[derive(Clone, Debug)]
pub struct Transmit {
    /// Where it goes.
    pub dest: Peer,
    /// The printed message.
    pub payload: Bytes,
    /// The transaction that sent it, so that a send failure can be reported with
    /// [`super::TransactionLayer::handle_transport_error`]; `None` for stateless sends.
    pub transaction: Option<TransactionKey>,
}

/// An index into one of the layer's slabs, with a generation so that a key of a
/// terminated transaction never names the one that reuses its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SlabKey {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// Names a client transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey(pub(crate) SlabKey);

/// Names a server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerKey(pub(crate) SlabKey);

/// Names a client or a server transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransactionKey {
    /// A client transaction.
    Client(ClientKey),
    /// A server transaction.
    Server(ServerKey),
}

impl From<ClientKey> for TransactionKey {
    fn from(k: ClientKey) -> TransactionKey {
        TransactionKey::Client(k)
    }
}

impl From<ServerKey> for TransactionKey {
    fn from(k: ServerKey) -> TransactionKey {
        TransactionKey::Server(k)
    }
}

/// The states of a client transaction, named as RFC 3261 §17.1 (Figures 5 and 6) and
/// RFC 6026 §7.2 (Figure 5) name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// INVITE sent, no response yet (Timers A and B run).
    Calling,
    /// Non-INVITE sent, no response yet (Timers E and F run).
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived (a non-2xx one, for INVITE); waiting out
    /// retransmissions (Timer D or K).
    Completed,
    /// A 2xx to INVITE arrived; further 2xx go to the TU until Timer M (RFC 6026).
    Accepted,
    /// Done; the transaction is destroyed at once.
    Terminated,
}

/// The states of a server transaction, named as RFC 3261 §17.2 (Figures 7 and 8) and
/// RFC 6026 §7.1 (Figure 7) name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerState {
    /// Non-INVITE received, nothing sent yet.
    Trying,
    /// A provisional response was sent (for INVITE, from creation on).
    Proceeding,
    /// A final response (non-2xx, for INVITE) was sent; retransmissions of the request
    /// are answered with it.
    Completed,
    /// The ACK for a non-2xx final response arrived; waiting out ACK retransmissions
    /// (Timer I).
    Confirmed,
    /// A 2xx to INVITE was sent; it is retransmitted until the ACK arrives, and INVITE
    /// retransmissions are absorbed until Timer L (RFC 6026).
    Accepted,
    /// Done; the transaction is destroyed at once.
    Terminated,
}

/// The timers of RFC 3261 §17 (Table 4 of Appendix A) and RFC 6026 §8.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmission (T1, doubling without limit).
    A,
    /// INVITE transaction timeout (64*T1): the TU treats it as 408.
    B,
    /// Wait time for response retransmissions of an INVITE client transaction.
    D,
    /// Non-INVITE request retransmission (T1 doubling to T2).
    E,
    /// Non-INVITE transaction timeout (64*T1): the TU treats it as 408.
    F,
    /// INVITE final (non-2xx) response retransmission (T1 doubling to T2).
    G,
    /// Wait time for the ACK to a non-2xx final response (64*T1).
    H,
    /// Wait time for ACK retransmissions (T4).
    I,
    /// Wait time for non-INVITE request retransmissions (64*T1).
    J,
    /// Wait time for non-INVITE response retransmissions (T4).
    K,
    /// Wait time for INVITE retransmissions after a 2xx (64*T1, RFC 6026). When it
    /// fires and the 2xx was never acknowledged, the TU should end the session with a
    /// BYE (RFC 3261 §13.3.1.4).
    L,
    /// Wait time for 2xx retransmissions and forked 2xx at the client (64*T1, RFC 6026).
    M,
    /// Retransmission of a 2xx to INVITE until the ACK arrives (T1 doubling to T2,
    /// RFC 3261 §13.3.1.4; the RFC leaves it to the UAS core, this layer does it).
    Retransmit2xx,
}
