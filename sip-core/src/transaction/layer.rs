//! The transaction layer: every client and server transaction of one SIP element.

use super::Config;
use super::build::{TagSource, layer_response, reply_peer};
use super::client::ClientTx;
use super::error::{Result, TransactionError};
use super::event::Event;
use super::index::MultiIndex;
use super::server::{RequestIds, ServerTx};
use super::slab::Slab;
use super::timers::{Side, TimerQueue};
use super::types::{
    ClientKey, ClientState, Peer, ServerKey, ServerState, SlabKey, TransactionKey, Transmit,
};
use crate::header::{HeaderName, Via};
use crate::message::{Message, Request, Response};
use crate::method::Method;
use crate::status::StatusCode;
use std::collections::VecDeque;
use std::time::Instant;

/// Counters of what the layer did, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests and responses sent again: timer-driven retransmissions, and answers to
    /// retransmitted requests.
    pub retransmissions_sent: u64,
    /// Retransmitted requests and responses absorbed by a transaction.
    pub retransmissions_absorbed: u64,
    /// Responses that matched no client transaction and were dropped (a stray 2xx to
    /// INVITE is reported as [`Event::Stray2xx`] instead).
    pub stray_responses: u64,
    /// New requests refused with 503 because `max_transactions` was reached.
    pub overload_rejections: u64,
    /// Transactions ended by Timer B, F, H or an unacknowledged 2xx (Timer L).
    pub timeouts: u64,
}

/// What a state machine asks of the layer after handling an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    Stay,
    Terminate,
}

/// The outputs the state machines write to.
pub(super) struct Out {
    pub(super) transmits: VecDeque<Transmit>,
    pub(super) events: VecDeque<Event>,
    pub(super) timers: TimerQueue,
    pub(super) stats: Stats,
}

/// Every client and server transaction of one SIP element (RFC 3261 §17, RFC 6026), as a
/// deterministic state machine: no sockets, no clock, no random numbers.
///
/// # Call order
///
/// The caller (a transport driver plus the transaction user, TU) owns the clock and the
/// sockets and drives the layer like this, after every input:
///
/// 1. Feed every parsed message from the network to [`handle_message`] with the time
///    and the [`Peer`] it came from; TU requests and responses go in with
///    [`send_request`], [`send_response`] and [`send_stateless`].
/// 2. Drain [`poll_transmit`] and send each [`Transmit`]; if a send fails, report it
///    with [`handle_transport_error`].
/// 3. Drain [`poll_event`] and let the TU act on each [`Event`] (which may call
///    `send_*` again, so loop back to 2 until both are empty).
/// 4. Ask [`poll_timeout`] for the next deadline and call [`handle_timeout`] when it
///    passes (or earlier: nothing happens before a deadline); then go to 2.
///
/// Time only moves forward through the `now` arguments, so tests step a simulated clock
/// and never sleep.
///
/// [`handle_message`]: TransactionLayer::handle_message
/// [`send_request`]: TransactionLayer::send_request
/// [`send_response`]: TransactionLayer::send_response
/// [`send_stateless`]: TransactionLayer::send_stateless
/// [`poll_transmit`]: TransactionLayer::poll_transmit
/// [`handle_transport_error`]: TransactionLayer::handle_transport_error
/// [`poll_event`]: TransactionLayer::poll_event
/// [`poll_timeout`]: TransactionLayer::poll_timeout
/// [`handle_timeout`]: TransactionLayer::handle_timeout
pub struct TransactionLayer {
    pub(super) config: Config,
    pub(super) clients: Slab<ClientTx>,
    pub(super) servers: Slab<ServerTx>,
    /// Client transactions by the branch of our top Via (§17.1.3).
    pub(super) client_branches: MultiIndex,
    /// Server transactions with an RFC 3261 branch, by branch (§17.2.3).
    pub(super) server_branches: MultiIndex,
    /// INVITE server transactions and those matched by the RFC 2543 rules, by Call-ID.
    pub(super) server_call_ids: MultiIndex,
    pub(super) out: Out,
    tags: TagSource,
}

impl TransactionLayer {
    /// A layer with no transactions.
    pub fn new(config: Config) -> Result<TransactionLayer> {
        config.validate()?;
        Ok(TransactionLayer {
            tags: TagSource::new(config.tag_secret),
            config,
            clients: Slab::new(),
            servers: Slab::new(),
            client_branches: MultiIndex::new(),
            server_branches: MultiIndex::new(),
            server_call_ids: MultiIndex::new(),
            out: Out {
                transmits: VecDeque::new(),
                events: VecDeque::new(),
                timers: TimerQueue::new(),
                stats: Stats::default(),
            },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How many transactions are live (client and server).
    pub fn len(&self) -> usize {
        self.clients.len() + self.servers.len()
    }

    /// Whether no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the layer has done so far.
    pub fn stats(&self) -> Stats {
        self.out.stats
    }

    /// The state of a live client transaction.
    pub fn client_state(&self, key: &ClientKey) -> Option<ClientState> {
        self.clients.get(key.0).map(|t| t.state)
    }

    /// The state of a live server transaction.
    pub fn server_state(&self, key: &ServerKey) -> Option<ServerState> {
        self.servers.get(key.0).map(|t| t.state)
    }

    // ---- inputs -----------------------------------------------------------------------

    /// A message arrived from `source`. Requests get their top Via stamped with
    /// `received`/`rport` (RFC 3261 §18.2.1, RFC 3581 §4) before the TU sees them.
    pub fn handle_message(&mut self, now: Instant, message: Message, source: Peer) {
        match message {
            Message::Request(r) => self.handle_request(now, r, source),
            Message::Response(r) => self.handle_response(now, r, source),
        }
        self.maybe_compact();
    }

    fn handle_request(&mut self, now: Instant, request: Request, source: Peer) {
        let Ok(via) = request.top_via().cloned() else {
            // A parsed request always has a Via; one built in code might not.
            return;
        };
        match request.method {
            Method::Ack => self.handle_ack(now, request, via, source),
            Method::Cancel => self.handle_cancel(now, request, via, source),
            _ => self.handle_new_or_retransmitted(now, request, via, source),
        }
    }

    fn handle_new_or_retransmitted(
        &mut self,
        now: Instant,
        mut request: Request,
        via: Via,
        source: Peer,
    ) {
        if let Some(i) = self.find_server(&request, &via, super::matching::Want::Same) {
            if let Some((_, tx)) = self.servers.get_index_mut(i) {
                tx.on_retransmission(&mut self.out);
            }
            return;
        }
        if self.len() >= self.config.max_transactions {
            self.reject_overloaded(request, &via, source);
            return;
        }
        let Some(key) = self.create_server(&request, &via, &source, false) else {
            return;
        };
        stamp(&mut request, &via, &source);
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
        let _ = now;
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
            Some(Box::new(RequestIds::of(request)?))
        } else {
            None
        };
        let reply_to = reply_peer(via, source);
        let call_id = ids.as_ref().map(|i| i.call_id.clone());
        let method = request.method.clone();
        let key = self.servers.insert_with(|k| {
            ServerTx::new(
                ServerKey(k),
                method,
                via.clone(),
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
        use super::matching::Want;
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
                stamp(&mut request, &via, &source);
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
        stamp(&mut request, &via, &source);
        self.out.events.push_back(Event::Ack {
            request,
            source,
            invite,
        });
    }

    fn handle_cancel(&mut self, now: Instant, mut request: Request, via: Via, source: Peer) {
        use super::matching::Want;
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
        stamp(&mut request, &via, &source);
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
            self.out.stats.overload_rejections += 1;
            self.out.transmits.push_back(Transmit {
                dest: reply_peer(&via, &source),
                payload: response.to_bytes(),
                transaction: None,
            });
        } else if let Some(key) = self.create_server(&request, &via, &source, true)
            && let Some(tx) = self.servers.get_mut(key.0)
        {
            if let Ok(Next::Terminate) =
                tx.send_response(now, &self.config, &mut self.out, &response)
            {
                self.remove_server(key.0);
            }
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
        stamp(&mut request, via, &source);
        let tag = self.tags.next_tag();
        let mut response = layer_response(&request, StatusCode::SERVICE_UNAVAILABLE, &tag);
        response
            .headers
            .push(HeaderName::RetryAfter, self.config.retry_after.to_string());
        self.out.transmits.push_back(Transmit {
            dest: reply_peer(via, &source),
            payload: response.to_bytes(),
            transaction: None,
        });
    }

    fn handle_response(&mut self, now: Instant, response: Response, source: Peer) {
        let Some((found, stray_2xx)) = self.match_response(&response) else {
            self.out.stats.stray_responses += 1;
            return;
        };
        let Some(i) = found else {
            if stray_2xx {
                self.out
                    .events
                    .push_back(Event::Stray2xx { response, source });
            } else {
                self.out.stats.stray_responses += 1;
            }
            return;
        };
        let Some((key, tx)) = self.clients.get_index_mut(i) else {
            return;
        };
        if tx.on_response(now, &self.config, &mut self.out, response, source) == Next::Terminate {
            self.remove_client(key);
        }
    }

    /// Send a request in a new client transaction. The caller has put a top Via with a
    /// fresh RFC 3261 branch on it ([`super::new_branch`]).
    ///
    /// A CANCEL shares the branch of the request it cancels (RFC 3261 §9.1,
    /// [`super::cancel_for`]); sending one gives that INVITE 64*T1 more to receive its
    /// final response before it times out as by Timer B.
    pub fn send_request(
        &mut self,
        now: Instant,
        request: Request,
        dest: Peer,
    ) -> Result<ClientKey> {
        if request.method == Method::Ack {
            return Err(TransactionError::AckNotInTransaction);
        }
        let via = request.top_via()?.clone();
        if !via.has_rfc3261_branch() {
            return Err(TransactionError::MissingBranch);
        }
        let Some(branch) = via.branch() else {
            return Err(TransactionError::MissingBranch);
        };
        if request.headers.cseq()?.method != request.method {
            return Err(crate::Error::CSeqMismatch.into());
        }
        request.headers.call_id()?;
        request.headers.from()?;
        request.headers.to()?;
        let clients = &self.clients;
        if self.client_branches.get(branch).iter().any(|&i| {
            clients
                .get_index(i)
                .is_some_and(|t| t.method == request.method)
        }) {
            return Err(TransactionError::BranchInUse);
        }
        let cancel = request.method == Method::Cancel;
        let bytes = request.to_bytes();
        let config = &self.config;
        let key = self.clients.insert_with(|k| {
            ClientTx::new(ClientKey(k), request, bytes, via.clone(), dest, config)
        });
        self.client_branches.insert(branch, key.index);
        if let Some(tx) = self.clients.get_mut(key) {
            tx.start(now, &self.config, &mut self.out);
        }
        if cancel {
            let invites: Vec<u32> = self.client_branches.get(branch).to_vec();
            for i in invites {
                if let Some((_, tx)) = self.clients.get_index_mut(i) {
                    tx.on_cancel_sent(now, &self.config, &mut self.out);
                }
            }
        }
        self.maybe_compact();
        Ok(ClientKey(key))
    }

    /// Send a response in a server transaction. Build it from the request of the
    /// [`Event::Request`] with [`Response::from_request`] and add a To tag (§8.2.6).
    pub fn send_response(
        &mut self,
        now: Instant,
        key: &ServerKey,
        response: Response,
    ) -> Result<()> {
        let tx = self
            .servers
            .get_mut(key.0)
            .filter(|t| !t.internal)
            .ok_or(TransactionError::NoSuchTransaction)?;
        if response.headers.cseq()?.method != tx.method {
            return Err(TransactionError::ResponseMismatch);
        }
        let next = tx.send_response(now, &self.config, &mut self.out, &response)?;
        if next == Next::Terminate {
            self.remove_server(key.0);
        }
        self.maybe_compact();
        Ok(())
    }

    /// Send a message outside any transaction: the ACK for a 2xx (RFC 3261 §13.2.2.4),
    /// a stateless reply, a response forwarded statelessly.
    pub fn send_stateless(&mut self, dest: Peer, message: Message) {
        self.out.transmits.push_back(Transmit {
            dest,
            payload: message.to_bytes(),
            transaction: None,
        });
    }

    /// Time passed: fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(entry) = self.out.timers.pop_due(now) {
            match entry.side {
                Side::Client => {
                    let Some((key, tx)) = self.clients.get_index_mut(entry.index) else {
                        continue;
                    };
                    let Some(armed) = self.out.timers.fire(&entry, &mut tx.timers) else {
                        continue;
                    };
                    if tx.on_timer(armed, now, &self.config, &mut self.out) == Next::Terminate {
                        self.remove_client(key);
                    }
                }
                Side::Server => {
                    let Some((key, tx)) = self.servers.get_index_mut(entry.index) else {
                        continue;
                    };
                    let Some(armed) = self.out.timers.fire(&entry, &mut tx.timers) else {
                        continue;
                    };
                    if tx.on_timer(armed, now, &self.config, &mut self.out) == Next::Terminate {
                        self.remove_server(key);
                    }
                }
            }
        }
        self.maybe_compact();
    }

    /// The transport failed to send a message of transaction `key` (RFC 3261 §17.1.4,
    /// §17.2.4): the transaction ends and the TU is told.
    pub fn handle_transport_error(&mut self, now: Instant, key: TransactionKey) {
        let _ = now;
        match key {
            TransactionKey::Client(k) => {
                if self.clients.get(k.0).is_some() {
                    self.out.events.push_back(Event::TransportError { key });
                    self.remove_client(k.0);
                }
            }
            TransactionKey::Server(k) => {
                if let Some(tx) = self.servers.get(k.0) {
                    if !tx.internal {
                        self.out.events.push_back(Event::TransportError { key });
                    }
                    self.remove_server(k.0);
                }
            }
        }
    }

    // ---- outputs ----------------------------------------------------------------------

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// When [`TransactionLayer::handle_timeout`] must next be called, if any timer runs.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        loop {
            let entry = *self.out.timers.peek()?;
            if self.is_current(&entry) {
                return Some(entry.at);
            }
            self.out.timers.pop();
        }
    }

    // ---- bookkeeping ------------------------------------------------------------------

    fn is_current(&self, entry: &super::timers::Entry) -> bool {
        match entry.side {
            Side::Client => self
                .clients
                .get_index(entry.index)
                .is_some_and(|t| TimerQueue::is_current(entry, &t.timers)),
            Side::Server => self
                .servers
                .get_index(entry.index)
                .is_some_and(|t| TimerQueue::is_current(entry, &t.timers)),
        }
    }

    fn maybe_compact(&mut self) {
        if self.out.timers.wants_compaction() {
            let (clients, servers) = (&self.clients, &self.servers);
            self.out.timers.compact(|e| match e.side {
                Side::Client => clients
                    .get_index(e.index)
                    .is_some_and(|t| TimerQueue::is_current(e, &t.timers)),
                Side::Server => servers
                    .get_index(e.index)
                    .is_some_and(|t| TimerQueue::is_current(e, &t.timers)),
            });
        }
    }

    pub(super) fn remove_client(&mut self, key: SlabKey) {
        let Some(mut tx) = self.clients.remove(key) else {
            return;
        };
        self.out.timers.cancel_all(&mut tx.timers);
        if let Some(branch) = tx.via.branch() {
            self.client_branches.remove(branch, key.index);
        }
        self.out.events.push_back(Event::Terminated {
            key: TransactionKey::Client(ClientKey(key)),
        });
    }

    pub(super) fn remove_server(&mut self, key: SlabKey) {
        let Some(mut tx) = self.servers.remove(key) else {
            return;
        };
        self.out.timers.cancel_all(&mut tx.timers);
        if tx.rfc3261
            && let Some(branch) = tx.via.branch()
        {
            self.server_branches.remove(branch, key.index);
        }
        if let Some(ids) = &tx.ids {
            self.server_call_ids.remove(&ids.call_id, key.index);
        }
        if !tx.internal {
            self.out.events.push_back(Event::Terminated {
                key: TransactionKey::Server(ServerKey(key)),
            });
        }
    }
}

/// Add `received`/`rport` to the top Via (RFC 3261 §18.2.1, RFC 3581 §4).
fn stamp(request: &mut Request, via: &Via, source: &Peer) {
    let stamped = via.stamped(source.addr);
    if stamped.as_bytes() != via.as_bytes() {
        request.headers.set_top_via(&stamped);
    }
}
