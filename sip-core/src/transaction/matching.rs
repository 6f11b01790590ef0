//! Matching messages to transactions: requests to server transactions (RFC 3261 §17.2.3,
//! with the RFC 2543 fallback), the ACK for a 2xx to its INVITE (RFC 6026 §7.1), and
//! responses to client transactions (§17.1.3).

use super::build::same_sent_by;
use super::layer::TransactionLayer;
use super::server::ServerTx;
use super::types::ServerState;
use crate::header::{Transport, Via};
use crate::message::{Request, Response};
use crate::method::Method;

/// What a server transaction remembers of the top Via of its request: the transport,
/// the sent-by and the branch, copied out of the datagram so that a transaction never
/// keeps a large message alive after the TU let go of it.
pub(super) struct ViaKey {
    /// The sent-by host, then the branch.
    text: Box<[u8]>,
    host_len: usize,
    branch: bool,
    port: u16,
    transport: Transport,
}

impl ViaKey {
    pub(super) fn of(via: &Via) -> ViaKey {
        let host = via.host();
        let branch = via.branch();
        let mut text = Vec::with_capacity(host.len() + branch.map_or(0, <[u8]>::len));
        text.extend_from_slice(host);
        if let Some(b) = branch {
            text.extend_from_slice(b);
        }
        ViaKey {
            text: text.into_boxed_slice(),
            host_len: host.len(),
            branch: branch.is_some(),
            port: via.port().unwrap_or_else(|| via.transport().default_port()),
            transport: via.transport(),
        }
    }

    pub(super) fn branch(&self) -> Option<&[u8]> {
        self.branch.then(|| &self.text[self.host_len..])
    }

    /// Same sent-by (RFC 3261 §17.2.3): host, case-insensitive, and port (defaulted).
    pub(super) fn same_sent_by(&self, via: &Via) -> bool {
        self.text[..self.host_len].eq_ignore_ascii_case(via.host())
            && self.port == via.port().unwrap_or_else(|| via.transport().default_port())
    }

    /// The same top Via for RFC 2543 matching: transport, sent-by and branch.
    pub(super) fn same_via(&self, via: &Via) -> bool {
        self.transport == via.transport() && self.same_sent_by(via) && self.branch() == via.branch()
    }
}

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
                    tx.rfc3261 && tx.via.same_sent_by(via) && want.accepts(tx, request)
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
                    && ids.uri.as_ref() == Some(&request.uri)
                    && tx.via.same_via(via)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Result;

    #[test]
    fn via_key_compares_like_the_via() -> Result<()> {
        let key = ViaKey::of(&Via::parse("SIP/2.0/UDP Host.Example.com;branch=z9hG4bK1")?);
        assert_eq!(key.branch(), Some(&b"z9hG4bK1"[..]));
        let same = Via::parse("SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK1;rport")?;
        assert!(key.same_sent_by(&same) && key.same_via(&same));
        let port = Via::parse("SIP/2.0/UDP host.example.com:5070;branch=z9hG4bK1")?;
        assert!(!key.same_sent_by(&port));
        let tcp = Via::parse("SIP/2.0/TCP host.example.com;branch=z9hG4bK1")?;
        assert!(key.same_sent_by(&tcp) && !key.same_via(&tcp));
        let other = Via::parse("SIP/2.0/UDP host.example.com;branch=z9hG4bK2")?;
        assert!(!key.same_via(&other));
        let bare = ViaKey::of(&Via::parse("SIP/2.0/UDP 192.0.2.1")?);
        assert_eq!(bare.branch(), None);
        assert!(bare.same_via(&Via::parse("SIP/2.0/UDP 192.0.2.1:5060")?));
        Ok(())
    }
}
