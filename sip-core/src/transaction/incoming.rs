//! Requests from the network: new server transactions, retransmissions, ACK and CANCEL
//! (RFC 3261 §17.2.3, §9.2; RFC 6026 §7.1), and the 503 of overload.

use super::build::{layer_response, reply_peer};
use super::event::Event;
use super::layer::{Next, TransactionLayer};
use super::matching::{ViaKey, Want};
use super::server::{RequestIds, ServerTx};
use super::stamp::stamp;
use super::types::{Peer, ServerKey, ServerState, Transmit};
use crate::header::{HeaderName, Via};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::status::StatusCode;
use std::time::Instant;

impl TransactionLayer {
    pub(super) fn handle_request(&mut self, now: Instant, request: Request, source: Peer) {
        let Ok(via) = request.top_via().cloned() else {
            // A parsed request always has a Via; one built in code might not.
            return;
        };
        match request.method {
            Method::Ack => self.handle_ack(now, request, via, source),
            Method::Cancel => self.handle_cancel(now, request, via, source),
            _ => self.handle_new_or_retransmitted(request, via, source),
        }
    }

    fn handle_new_or_retransmitted(&mut self, mut request: Request, via: Via, source: Peer) {
        if let Some(i) = self.find_server(&request, &via, Want::Same) {
            if let Some((_, tx)) = self.servers.get_index_mut(i) {
                tx.on_retransmission(&mut self.out);
            }
            return;
        }
        if self.config.stateless.is_some_and(|f| f(&request)) {
            // No state: this goes before the overload check, since it costs none.
            self.out.stats.stateless_requests += 1;
            stamp(&mut request, &via, &source, self.config.force_rport);
            let reply_to = reply_peer(&via, &source, self.config.force_rport);
            self.out.events.push_back(Event::Stateless {
                request,
                source,
                reply_to,
            });
            return;
        }
        if self.len() >= self.config.max_transactions {
            self.reject_overloaded(request, &via, source);
            return;
        }
        let Some(key) = self.create_server(&request, &via, &source, false) else {
            return;
        };
        stamp(&mut request, &via, &source, self.config.force_rport);
        if request.method == Method::Invite && self.config.send_trying {
            // RFC 3261 §17.2.1: 100 (Trying) at once, built as §8.2.6 says.
            let trying = Response::from_request(&request, StatusCode::TRYING).to_bytes();
            if let Some(tx) = self.servers.get_mut(key.0) {
                tx.send_trying(&mut self.out, trying);
            }
        }
        self.out.events.push_back(Event::Request {
            key,
            request,
            source,
        });
    }

    /// Create a server transaction and index it; `None` if the request lacks what the
    /// indexes need (never the case for a parsed request).
    fn create_server(
        &mut self,
        request: &Request,
        via: &Via,
        source: &Peer,
        internal: bool,
    ) -> Option<ServerKey> {
        let rfc3261 = via.has_rfc3261_branch();
        let ids = if request.method == Method::Invite || !rfc3261 {
            Some(Box::new(RequestIds::of(request, !rfc3261)?))
        } else {
            None
        };
        let reply_to = reply_peer(via, source, self.config.force_rport);
        let call_id = ids.as_ref().map(|i| i.call_id.clone());
        let method = request.method.clone();
        let key = self.servers.insert_with(|k| {
            ServerTx::new(
                ServerKey(k),
                method,
                ViaKey::of(via),
                rfc3261,
                ids,
                reply_to,
                internal,
            )
        });
        if rfc3261 && let Some(branch) = via.branch() {
            self.server_branches.insert(branch, key.index);
        }
        if let Some(call_id) = call_id {
            self.server_call_ids.insert(&call_id, key.index);
        }
        Some(ServerKey(key))
    }

    fn handle_ack(&mut self, now: Instant, mut request: Request, via: Via, source: Peer) {
        // An ACK for a non-2xx final response belongs to the INVITE transaction
        // (§17.2.3); a peer that reuses the INVITE branch for a 2xx ACK lands here too.
        if let Some(i) = self.find_server(&request, &via, Want::Invite) {
            let Some((key, tx)) = self.servers.get_index_mut(i) else {
                return;
            };
            let (next, to_tu) = tx.on_ack(now, &self.config, &mut self.out);
            if next == Next::Terminate {
                self.remove_server(key);
            }
            if to_tu {
                stamp(&mut request, &via, &source, self.config.force_rport);
                self.out.events.push_back(Event::Ack {
                    request,
                    source,
                    invite: Some(ServerKey(key)),
                });
            }
            return;
        }
        // RFC 6026 §7.1: the ACK for a 2xx has its own branch; find the Accepted INVITE
        // by dialog identifiers and CSeq so that its 2xx retransmission stops.
        let invite = self.find_accepted_invite(&request).and_then(|i| {
            let (key, tx) = self.servers.get_index_mut(i)?;
            tx.on_2xx_ack(&mut self.out);
            Some(ServerKey(key))
        });
        stamp(&mut request, &via, &source, self.config.force_rport);
        self.out.events.push_back(Event::Ack {
            request,
            source,
            invite,
        });
    }

    fn handle_cancel(&mut self, now: Instant, mut request: Request, via: Via, source: Peer) {
        if let Some(i) = self.find_server(&request, &via, Want::Same) {
            if let Some((_, tx)) = self.servers.get_index_mut(i) {
                tx.on_retransmission(&mut self.out);
            }
            return;
        }
        // RFC 3261 §9.2: the INVITE (or other request) this CANCEL names, found by the
        // §17.2.3 rules as if the CANCEL had the method of the cancelled request.
        let target = self
            .find_server(&request, &via, Want::Cancellable)
            .and_then(|i| self.servers.get_index(i).map(|tx| (i, tx)))
            .map(|(i, tx)| {
                let pending = tx.is_invite() && tx.state == ServerState::Proceeding;
                (i, tx.key, tx.to_tag.clone(), pending)
            });
        stamp(&mut request, &via, &source, self.config.force_rport);
        let (status, tag) = match &target {
            Some((_, _, Some(tag), _)) => {
                (StatusCode::OK, String::from_utf8_lossy(tag).into_owned())
            }
            Some((_, _, None, _)) => (StatusCode::OK, self.tags.next_tag()),
            // §9.2: no matching transaction → 481.
            None => (StatusCode::CALL_DOES_NOT_EXIST, self.tags.next_tag()),
        };
        let response = layer_response(&request, status, &tag);
        if self.len() >= self.config.max_transactions {
            // Under overload the CANCEL is still answered, statelessly: it sheds load.
            self.out.transmits.push_back(Transmit {
                dest: reply_peer(&via, &source, self.config.force_rport),
                payload: response.to_bytes(),
                transaction: None,
            });
        } else if let Some(key) = self.create_server(&request, &via, &source, true)
            && let Some(tx) = self.servers.get_mut(key.0)
            && let Ok(Next::Terminate) =
                tx.send_response(now, &self.config, &mut self.out, &response)
        {
            self.remove_server(key.0);
        }
        if let Some((_, invite, _, true)) = target {
            self.out.events.push_back(Event::Cancelled {
                invite,
                cancel: request,
                source,
            });
        }
    }

    /// RFC 3261 §17.2 leaves overload to the element: refuse, statelessly, with 503 and
    /// Retry-After (§21.5.4) rather than keep state for the request.
    fn reject_overloaded(&mut self, mut request: Request, via: &Via, source: Peer) {
        self.out.stats.overload_rejections += 1;
        stamp(&mut request, via, &source, self.config.force_rport);
        let tag = self.tags.next_tag();
        let mut response = layer_response(&request, StatusCode::SERVICE_UNAVAILABLE, &tag);
        response
            .headers
            .push(HeaderName::RetryAfter, self.config.retry_after.to_string());
        self.out.transmits.push_back(Transmit {
            dest: reply_peer(via, &source, self.config.force_rport),
            payload: response.to_bytes(),
            transaction: None,
        });
    }
}
