//! The SIP core task: the sans-IO transaction layer driven by the transports and a
//! clock, and its events dispatched to the modules that serve them — the registrar
//! (REGISTER, qualify), the B2BUA (calls), and the answers of RFC 3261 §8.2 for the rest.
//!
//! One task owns the layer and every module, so protocol state needs no locks; the
//! transports parse on their own tasks, and CDRs are journaled on theirs.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use b2bua::{B2bua, CallEvent, CompletionToken};
use bytes::Bytes;
use cdr::CdrWriter;
use registrar::{BindingEvent, BindingId, Registrar};
use sip_core::transaction::{
    ClientKey, Event, Peer, ServerKey, TransactionKey, TransactionLayer, Transmit,
};
use sip_core::{HeaderName, Message, Method, Request, Response};
use tokio::sync::{mpsc, watch};

use super::transport::{Inbound, SendBatch, Transports, random_tag};
use super::uas;
use crate::calls::RegistrarLocator;

/// Most inbound messages handled before the layer's output is flushed; bounds latency
/// under load while amortising the per-wake-up work.
const BATCH: usize = 64;

/// The modules of the core, built by `vss serve`.
pub(crate) struct Modules {
    /// Slot registration.
    pub(crate) registrar: Registrar,
    /// Calls.
    pub(crate) b2bua: B2bua,
    /// The media engine's events (timeouts, DTMF) for the B2BUA.
    pub(crate) media_events: mpsc::Receiver<media::MediaEvent>,
    /// Where finished calls are journaled.
    pub(crate) cdr: CdrWriter,
    /// This node's name in CDRs.
    pub(crate) node: String,
}

/// The SIP core: the transaction layer and the modules that answer its requests.
pub(crate) struct SipCore {
    layer: TransactionLayer,
    transports: Transports,
    server_header: Bytes,
    registrar: Registrar,
    b2bua: B2bua,
    cdr: CdrWriter,
    node: String,
    /// Qualify OPTIONS in flight: which binding each client transaction pings.
    qualifying: HashMap<ClientKey, BindingId>,
    /// CDRs journaled: the B2BUA may now answer the BYE that ended the call.
    persisted_tx: mpsc::UnboundedSender<CompletionToken>,
    /// What the layer gave to send this round, and the UDP batch it leaves in (kept to
    /// reuse their allocations).
    outbox: Vec<Transmit>,
    send_batch: SendBatch,
}

/// How the core stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shutdown {
    /// How long calls may go on after the stop signal before they are hung up.
    pub(crate) grace: Duration,
}

impl SipCore {
    /// A core over `layer`, sending through `transports`; `server` is the Server header.
    pub(crate) fn new(
        layer: TransactionLayer,
        transports: Transports,
        server: &str,
        modules: Modules,
    ) -> (SipCore, Receivers) {
        let (persisted_tx, persisted_rx) = mpsc::unbounded_channel();
        let core = SipCore {
            layer,
            transports,
            server_header: Bytes::copy_from_slice(server.as_bytes()),
            registrar: modules.registrar,
            b2bua: modules.b2bua,
            cdr: modules.cdr,
            node: modules.node,
            qualifying: HashMap::new(),
            persisted_tx,
            outbox: Vec::new(),
            send_batch: SendBatch::default(),
        };
        (
            core,
            Receivers {
                media: modules.media_events,
                persisted: persisted_rx,
            },
        )
    }

    fn deadline(&mut self) -> Option<Instant> {
        [
            self.layer.poll_timeout(),
            self.registrar.poll_timeout(),
            self.b2bua.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Run until `stop` turns true and the calls are over (or the grace period passed),
    /// or the transports close. Returns the CDR writer for an orderly flush.
    pub(crate) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut rx: Receivers,
        mut stop: watch::Receiver<bool>,
        shutdown: Shutdown,
    ) -> CdrWriter {
        let mut stopping_since: Option<Instant> = None;
        let mut hung_up = false;
        loop {
            if let Some(since) = stopping_since {
                if self.b2bua.active_calls() == 0 && self.b2bua.calls_in_memory() == 0 {
                    break;
                }
                if !hung_up && since.elapsed() >= shutdown.grace {
                    self.hang_up_all();
                    hung_up = true;
                }
                if since.elapsed() >= shutdown.grace + Duration::from_secs(5) {
                    tracing::warn!(
                        calls = self.b2bua.calls_in_memory(),
                        "calls still open at shutdown"
                    );
                    break;
                }
            }
            let deadline = self.deadline();
            let tick = stopping_since.map(|_| Instant::now() + Duration::from_millis(200));
            tokio::select! {
                biased;
                changed = stop.changed(), if stopping_since.is_none() => {
                    if changed.is_err() || *stop.borrow() {
                        tracing::info!(calls = self.b2bua.active_calls(), "no new calls; waiting for calls in progress");
                        self.b2bua.set_accepting(false);
                        stopping_since = Some(Instant::now());
                    }
                }
                Some(token) = rx.persisted.recv() => {
                    self.b2bua.handle_call_persisted(Instant::now(), token, &mut self.layer);
                }
                item = inbound.recv() => {
                    let Some(item) = item else { break };
                    self.handle_inbound(item);
                    // Take what else is queued before flushing.
                    for _ in 1..BATCH {
                        match inbound.try_recv() {
                            Ok(item) => self.handle_inbound(item),
                            Err(_) => break,
                        }
                    }
                }
                Some(event) = rx.media.recv() => {
                    self.b2bua.handle_media_event(Instant::now(), event, &mut self.layer);
                }
                _ = sleep_until(earliest(deadline, tick)), if deadline.is_some() || tick.is_some() => {
                    let now = Instant::now();
                    self.layer.handle_timeout(now);
                    self.registrar.handle_timeout(now, SystemTime::now());
                    self.b2bua.handle_timeout(now, &mut self.layer);
                    self.send_qualify(now);
                }
            }
            self.flush();
        }
        tracing::info!(
            dropped_under_overload = self.transports.overload_drops(),
            "SIP core stopped"
        );
        self.cdr
    }

    /// End every call still up (shutdown after the grace period): BYE both ways, CDRs
    /// written as for any other hang-up.
    fn hang_up_all(&mut self) {
        let now = Instant::now();
        let ids = self.b2bua.call_ids();
        tracing::info!(calls = ids.len(), "hanging up the calls still in progress");
        for id in ids {
            if let Err(e) = self.b2bua.hangup(now, id, &mut self.layer) {
                tracing::debug!(call = %id, error = %e, "hang-up at shutdown");
            }
        }
    }

    fn handle_inbound(&mut self, item: Inbound) {
        let now = Instant::now();
        match item {
            Inbound::Message { message, peer } => self.layer.handle_message(now, message, peer),
            Inbound::Unreachable { peer, transaction } => {
                tracing::debug!(dest = %peer.addr, "destination unreachable");
                if let Some(key) = transaction {
                    self.layer.handle_transport_error(now, key);
                }
            }
        }
        self.dispatch_events();
    }

    /// Hand every pending event to whoever serves it: REGISTER to the registrar, the
    /// rest to the B2BUA, and what the B2BUA gives back to the §8.2 answers and qualify.
    fn dispatch_events(&mut self) {
        while let Some(event) = self.layer.poll_event() {
            let now = Instant::now();
            let event = match event {
                Event::Request {
                    key,
                    request,
                    source,
                } => {
                    // §8.2 header inspection and content processing come first, for
                    // every module (416, 420, 415, 406).
                    if let Err(refusal) = uas::inspect(&request) {
                        let response =
                            uas::refuse(&request, refusal, &random_tag(), &self.server_header);
                        self.respond(key, response);
                        continue;
                    }
                    if request.method == Method::Register {
                        self.register(now, key, &request, source);
                        continue;
                    }
                    Event::Request {
                        key,
                        request,
                        source,
                    }
                }
                Event::Stateless {
                    request,
                    source,
                    reply_to,
                } => {
                    self.stateless(now, &request, source, reply_to);
                    continue;
                }
                other => other,
            };
            let locator = RegistrarLocator(&self.registrar);
            let Some(event) = self
                .b2bua
                .handle_event(now, event, &mut self.layer, &locator)
            else {
                continue;
            };
            self.unclaimed(event);
        }
        self.drain_binding_events();
        self.drain_call_events();
    }

    /// Events no module claimed.
    fn unclaimed(&mut self, event: Event) {
        match event {
            Event::Request {
                key,
                request,
                source,
            } => {
                tracing::debug!(method = %request.method, from = %source.addr, "request");
                if let Some(response) = uas::unhandled(&request, &random_tag(), &self.server_header)
                {
                    self.respond(key, response);
                }
            }
            Event::Response { key, response, .. } => {
                if response.status.is_final()
                    && let Some(binding) = self.qualifying.remove(&key)
                {
                    // Any final answer means the binding is alive (RFC 3261 §11).
                    self.registrar.handle_qualify_result(binding, true);
                }
            }
            Event::Timeout { key, timer } => {
                tracing::debug!(?key, ?timer, "transaction timed out");
                self.qualify_failed(key);
            }
            Event::TransportError { key } => {
                tracing::debug!(?key, "transaction transport error");
                self.qualify_failed(key);
            }
            Event::Terminated { key } => self.qualify_failed(key),
            Event::Cancelled { invite, .. } => {
                tracing::debug!(?invite, "CANCEL for an INVITE already answered")
            }
            Event::Stray2xx { source, .. } => tracing::debug!(from = %source.addr, "stray 2xx"),
            other => tracing::debug!(?other, "unclaimed transaction event"),
        }
    }

    /// A request the layer kept no transaction for ([`register_without_credentials`]):
    /// answered the same way, sent straight back.
    fn stateless(&mut self, now: Instant, request: &Request, source: Peer, reply_to: Peer) {
        let response = match uas::inspect(request) {
            Err(refusal) => uas::refuse(request, refusal, &random_tag(), &self.server_header),
            Ok(()) => self.register_response(now, request, source),
        };
        self.layer
            .send_stateless(reply_to, Message::Response(response));
    }

    fn register(&mut self, now: Instant, key: ServerKey, request: &Request, source: Peer) {
        let response = self.register_response(now, request, source);
        self.respond(key, response);
    }

    /// The registrar's answer to a REGISTER, with our Server header.
    fn register_response(&mut self, now: Instant, request: &Request, source: Peer) -> Response {
        let mut response = self
            .registrar
            .handle_register(now, SystemTime::now(), request, source);
        response
            .headers
            .push(HeaderName::Server, self.server_header.clone());
        response
    }

    /// A qualify ping that ended without a final answer.
    fn qualify_failed(&mut self, key: TransactionKey) {
        if let TransactionKey::Client(key) = key
            && let Some(binding) = self.qualifying.remove(&key)
        {
            self.registrar.handle_qualify_result(binding, false);
        }
    }

    /// Send the OPTIONS pings the registrar wants now.
    fn send_qualify(&mut self, now: Instant) {
        while let Some(q) = self.registrar.poll_qualify(now) {
            match self.layer.send_request(now, q.request, q.target) {
                Ok(key) => {
                    self.qualifying.insert(key, q.binding);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "qualify OPTIONS not sent");
                    self.registrar.handle_qualify_result(q.binding, false);
                }
            }
        }
        self.drain_binding_events();
    }

    /// Binding changes: the slot state machine will consume them once the control API
    /// runs; until then they are logged.
    fn drain_binding_events(&mut self) {
        while let Some(event) = self.registrar.poll_event() {
            match &event {
                BindingEvent::Refreshed { .. } => tracing::debug!(?event, "binding"),
                _ => tracing::info!(?event, "binding"),
            }
        }
    }

    /// Call events: a finished call is journaled (durably, before the BYE that ended it
    /// is answered), the others are logged until the control API consumes them.
    fn drain_call_events(&mut self) {
        while let Some(event) = self.b2bua.poll_call_event() {
            match event {
                CallEvent::Ended(ended) => {
                    tracing::info!(call = %ended.call, src = %ended.src, dst = %ended.dst, code = ended.sip_code,
                        reason = %ended.reason, disposition = ended.disposition.as_str(), "call ended");
                    let record = crate::calls::record(&ended, &self.node);
                    let writer = self.cdr.clone();
                    let done = self.persisted_tx.clone();
                    let token = ended.token;
                    tokio::spawn(async move {
                        if let Err(e) = writer.write(&record).await {
                            // The journal refused it: nothing waiting longer would fix.
                            tracing::error!(call = %record.call_id, error = %e, "CDR NOT JOURNALED");
                        }
                        let _ = done.send(token);
                    });
                }
                other => tracing::debug!(event = ?other, "call"),
            }
        }
    }

    fn respond(&mut self, key: ServerKey, response: Response) {
        if let Err(e) = self.layer.send_response(Instant::now(), &key, response) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    fn flush(&mut self) {
        self.dispatch_events();
        while let Some(t) = self.layer.poll_transmit() {
            self.outbox.push(t);
        }
        self.transports
            .send_all(&mut self.outbox, &mut self.send_batch);
    }
}

/// The channels the core task reads besides the transports.
pub(crate) struct Receivers {
    media: mpsc::Receiver<media::MediaEvent>,
    persisted: mpsc::UnboundedReceiver<CompletionToken>,
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}

/// The requests the SIP core answers without a transaction (RFC 3261 §8.2.7): a
/// REGISTER without credentials, which the registrar can only challenge (401) or refuse
/// (404, 403, 400) and never changes a binding for. At 2,000 REGISTER/s that is half the
/// transactions, each of which would live 32 s (Timer J) for nothing: a retransmitted
/// copy just gets another challenge.
pub(crate) fn register_without_credentials(request: &Request) -> bool {
    request.method == Method::Register && !request.headers.contains(&HeaderName::Authorization)
}
