//! The SIP core task: the sans-IO transaction layer driven by the transports and a
//! clock, and the requests it delivers dispatched to the modules that serve them.
//!
//! One task owns the layer, so the protocol state needs no locks; the transports do
//! the parsing on their own tasks and hand over whole messages.

use std::time::Instant;

use bytes::Bytes;
use sip_core::Request;
use sip_core::transaction::{Event, ServerKey, TransactionLayer};
use tokio::sync::{mpsc, watch};

use super::transport::{Inbound, Transports, random_tag};
use super::uas;

/// Most inbound messages handled before the layer's output is flushed; bounds latency
/// under load while amortising the per-wake-up work.
const BATCH: usize = 64;

/// The SIP core: the transaction layer and what answers its requests.
pub(crate) struct SipCore {
    layer: TransactionLayer,
    transports: Transports,
    server_header: Bytes,
}

impl SipCore {
    /// A core over `layer`, sending through `transports`; `server` is the Server header.
    pub(crate) fn new(layer: TransactionLayer, transports: Transports, server: &str) -> SipCore {
        SipCore {
            layer,
            transports,
            server_header: Bytes::copy_from_slice(server.as_bytes()),
        }
    }

    /// Run until `shutdown` turns true or the transports close.
    pub(crate) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
        mut shutdown: watch::Receiver<bool>,
    ) {
        loop {
            let deadline = self.layer.poll_timeout();
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
                    self.layer.handle_timeout(Instant::now());
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
                    self.serve_request(key, &request);
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
                Event::Timeout { key, timer } => {
                    tracing::debug!(?key, ?timer, "transaction timed out")
                }
                Event::TransportError { key } => {
                    tracing::debug!(?key, "transaction transport error")
                }
                _ => {}
            }
        }
    }

    /// RFC 3261 §8.2: inspect, then let the module for the method answer.
    fn serve_request(&mut self, key: ServerKey, request: &Request) {
        let tag = random_tag();
        let response = match uas::inspect(request) {
            Err(refusal) => Some(uas::refuse(request, refusal, &tag, &self.server_header)),
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

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
