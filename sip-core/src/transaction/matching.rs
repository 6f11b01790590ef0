//! Matching messages to transactions: requests to server transactions (RFC 3261 §17.2.3,
//! with the RFC 2543 fallback), the ACK for a 2xx to its INVITE (RFC 6026 §7.1), and
//! responses to client transactions (§17.1.3).

use super::build::{same_sent_by, same_via};
use super::layer::TransactionLayer;
use super::server::ServerTx;
use super::types::ServerState;
use crate::header::Via;
use crate::message::{Request, Response};
use crate::method::Method;

/// Which server transaction a request is looking for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Want {
    /// One with the request's own method (a retransmission).
    Same,
    /// The INVITE an ACK acknowledges.
    Invite,
    /// The request a CANCEL cancels: any method but CANCEL and ACK (§9.2).
    Cancellable,
}

impl Want {
    fn accepts(self, tx: &ServerTx, request: &Request) -> bool {
        match self {
            Want::Same => tx.method == request.method,
            Want::Invite => tx.is_invite(),
            Want::Cancellable => !matches!(tx.method, Method::Cancel | Method::Ack),
        }
    }
}

impl TransactionLayer {
    /// The server transaction a request belongs to, by slab index.
    pub(super) fn find_server(&self, request: &Request, via: &Via, want: Want) -> Option<u32> {
        if via.has_rfc3261_branch() {
            // §17.2.3: branch, sent-by, and method (ACK matches its INVITE).
            let branch = via.branch()?;
            return self.server_branches.get(branch).iter().copied().find(|&i| {
                self.servers.get_index(i).is_some_and(|tx| {
                    tx.rfc3261 && same_sent_by(&tx.via, via) && want.accepts(tx, request)
                })
            });
        }
        // §17.2.3, RFC 2543 peers (and RFC 4475 §3.2.1's bare magic cookie): Request-URI,
        // To tag, From tag, Call-ID, CSeq and top Via; for ACK the To tag is that of the
        // response the transaction sent, and the CSeq method is not compared.
        let h = &request.headers;
        let call_id = h.call_id().ok()?;
        let seq = h.cseq().ok()?.seq;
        let from_tag = h.from().ok()?.tag();
        let to_tag = h.to().ok()?.tag();
        self.server_call_ids
            .get(call_id)
            .iter()
            .copied()
            .find(|&i| {
                let Some(tx) = self.servers.get_index(i) else {
                    return false;
                };
                let Some(ids) = tx.ids.as_deref() else {
                    return false;
                };
                let expected_to_tag = match want {
                    Want::Invite => tx.to_tag.as_deref(),
                    Want::Same | Want::Cancellable => ids.to_tag.as_deref(),
                };
                !tx.rfc3261
                    && want.accepts(tx, request)
                    && ids.cseq == seq
                    && ids.from_tag.as_deref() == from_tag
                    && expected_to_tag == to_tag
                    && ids.uri == request.uri
                    && same_via(&tx.via, via)
            })
    }

    /// The Accepted INVITE server transaction that an ACK with a branch of its own
    /// acknowledges: same Call-ID, From tag, To tag (the one our 2xx carried) and CSeq
    /// number (RFC 3261 §13.3.1.4, RFC 6026 §7.1).
    pub(super) fn find_accepted_invite(&self, ack: &Request) -> Option<u32> {
        let h = &ack.headers;
        let call_id = h.call_id().ok()?;
        let seq = h.cseq().ok()?.seq;
        let from_tag = h.from().ok()?.tag();
        let to_tag = h.to().ok()?.tag()?;
        self.server_call_ids
            .get(call_id)
            .iter()
            .copied()
            .find(|&i| {
                self.servers.get_index(i).is_some_and(|tx| {
                    tx.is_invite()
                        && tx.state == ServerState::Accepted
                        && tx.to_tag.as_deref() == Some(to_tag)
                        && tx.ids.as_deref().is_some_and(|ids| {
                            ids.cseq == seq && ids.from_tag.as_deref() == from_tag
                        })
                })
            })
    }

    /// The client transaction of a response (§17.1.3: top Via branch and CSeq method;
    /// the sent-by is ours too, as §18.1.2 asks). `None` when the response has no
    /// usable Via or CSeq; otherwise the match, if any, and whether the response is a
    /// 2xx to INVITE (which the TU must hear of even when nothing matches).
    pub(super) fn match_response(&self, response: &Response) -> Option<(Option<u32>, bool)> {
        let via = response.headers.top_via().ok()?;
        let cseq = response.headers.cseq().ok()?;
        let stray_2xx = response.status.is_success() && cseq.method == Method::Invite;
        let found = via.branch().and_then(|branch| {
            self.client_branches.get(branch).iter().copied().find(|&i| {
                self.clients
                    .get_index(i)
                    .is_some_and(|tx| tx.method == cseq.method && same_sent_by(&tx.via, via))
            })
        });
        Some((found, stray_2xx))
    }
}
