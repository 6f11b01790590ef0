//! The SIP core task: the sans-IO transaction layer driven by the transports and a
//! clock, and the requests it delivers dispatched to the modules that serve them.
//!
//! One task owns the layer, so the protocol state needs no locks; the transports do
//! the parsing on their own tasks and hand over whole messages.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use registrar::{BindingEvent, BindingId, Registrar};
use sip_core::transaction::{ClientKey, Event, Peer, ServerKey, TransactionKey, TransactionLayer};
use sip_core::{HeaderName, Method, Request};
use tokio::sync::{mpsc, watch};

use super::transport::{Inbound, Transports, random_tag};
use super::uas;

/// Most inbound messages handled before the layer's output is flushed; bounds latency
/// under load while amortising the per-wake-up work.
const BATCH: usize = 64;

/// The SIP core: the transaction layer and the modules that answer its requests.
pub(crate) struct SipCore {
    layer: TransactionLayer,
    transports: Transports,
    server_header: Bytes,
    registrar: Registrar,
    /// Qualify OPTIONS in flight: which binding each client transaction pings.
    qualifying: HashMap<ClientKey, BindingId>,
}

impl SipCore {
    /// A core over `layer`, sending through `transports`; `server` is the Server header.
    pub(crate) fn new(
        layer: TransactionLayer,
        transports: Transports,
        server: &str,
        registrar: Registrar,
    ) -> SipCore {
        SipCore {
            layer,
            transports,
            server_header: Bytes::copy_from_slice(server.as_bytes()),
            registrar,
            qualifying: HashMap::new(),
        }
    }

    /// Run until `shutdown` turns true or the transports close.
    pub(crate) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let deadline = earliest(self.layer.poll_timeout(), self.registrar.poll_timeout());
            tokio::select! {
                biased;
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        break;
                    }
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
                _ = sleep_until(deadline), if deadline.is_some() => {
                    let now = Instant::now();
                    self.layer.handle_timeout(now);
                    self.registrar.handle_timeout(now, SystemTime::now());
                    self.send_qualify(now);
                }
            }
            self.flush();
        }
        tracing::info!(
            dropped_under_overload = self.transports.overload_drops(),
            "SIP core stopped"
        );
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

    /// Hand every pending event to whoever serves it.
    fn dispatch_events(&mut self) {
        while let Some(event) = self.layer.poll_event() {
            match event {
                Event::Request {
                    key,
                    request,
                    source,
                } => {
                    tracing::debug!(method = %request.method, from = %source.addr, "request");
                    self.serve_request(key, &request, source);
                }
                Event::Cancelled { invite, .. } => {
                    // Every request is answered as it arrives, so no INVITE is ever left
                    // open for a CANCEL to find; the B2BUA will answer 487 here.
                    tracing::debug!(?invite, "CANCEL for an INVITE already answered");
                }
                Event::Ack { .. } => {}
                Event::Stray2xx { source, .. } => {
                    // No module sends INVITEs yet, so no 2xx can be ours.
                    tracing::debug!(from = %source.addr, "2xx to INVITE matching no transaction; ignored");
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
                _ => {}
            }
        }
        self.drain_binding_events();
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

    /// RFC 3261 §8.2: inspect, then let the module for the method answer.
    fn serve_request(&mut self, key: ServerKey, request: &Request, source: Peer) {
        let tag = random_tag();
        let response = match uas::inspect(request) {
            Err(refusal) => Some(uas::refuse(request, refusal, &tag, &self.server_header)),
            Ok(()) if request.method == Method::Register => {
                let mut response = self.registrar.handle_register(
                    Instant::now(),
                    SystemTime::now(),
                    request,
                    source,
                );
                response
                    .headers
                    .push(HeaderName::Server, self.server_header.clone());
                Some(response)
            }
            Ok(()) => uas::unhandled(request, &tag, &self.server_header),
        };
        if let Some(response) = response {
            self.respond(key, response);
        }
    }

    fn respond(&mut self, key: ServerKey, response: sip_core::Response) {
        if let Err(e) = self.layer.send_response(Instant::now(), &key, response) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    fn flush(&mut self) {
        self.dispatch_events();
        while let Some(t) = self.layer.poll_transmit() {
            self.transports.send(t);
        }
    }
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
