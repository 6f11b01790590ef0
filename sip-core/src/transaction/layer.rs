//! The transaction layer: every client and server transaction of one SIP element.

use super::Config;
use super::build::TagSource;
use super::client::ClientTx;
use super::error::{Result, TransactionError};
use super::event::Event;
use super::index::MultiIndex;
use super::server::ServerTx;
use super::slab::Slab;
use super::timers::{Side, TimerQueue};
use super::types::{
    ClientKey, ClientState, Peer, ServerKey, ServerState, SlabKey, TransactionKey, Transmit,
};
use crate::message::{Message, Request, Response};
use crate::method::Method;
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
    /// New requests handed to the TU without a transaction ([`super::Config::stateless`]).
    pub stateless_requests: u64,
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
    pub(super) tags: TagSource,
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
        // Ending a transaction needs no clock; `now` keeps every `handle_*` alike.
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
