//! Routing the transaction layer's events to calls, trunks, or back to the caller.

use std::time::Instant;

use bytes::Bytes;
use sip_core::transaction::{Event, Peer, ServerKey, Timer, TransactionKey, TransactionLayer};
use sip_core::{Method, Request, StatusCode};

use super::B2bua;
use crate::call::{ClientRole, ServerRole, release_2xx};
use crate::core::Cx;
use crate::locator::Locator;

impl B2bua {
    /// An event of the transaction layer. Returns it when it is not the B2BUA's: a
    /// request outside a dialog other than INVITE (REGISTER, OPTIONS, MESSAGE, ...), or
    /// anything about a transaction the B2BUA did not start or is not waiting on.
    pub fn handle_event(
        &mut self,
        now: Instant,
        event: Event,
        layer: &mut TransactionLayer,
        locator: &dyn Locator,
    ) -> Option<Event> {
        match event {
            Event::Request {
                key,
                request,
                source,
            } => self.on_request(now, key, request, source, layer, locator),
            Event::Ack {
                request,
                source,
                invite,
            } => {
                // A 2xx ACK is ours when it names one of our dialogs; others are dropped
                // here (no other module sends 2xx to INVITE).
                if let Some((call, side)) = self.dialog_of(&request) {
                    self.with_call(now, layer, Some(locator), call, |c, cx| {
                        c.on_ack(cx, side, &request)
                    });
                    return None;
                }
                let _ = (source, invite);
                None
            }
            Event::Cancelled {
                invite,
                cancel,
                source,
            } => {
                let Some(r) = self.core.servers.get(&invite).copied() else {
                    return Some(Event::Cancelled {
                        invite,
                        cancel,
                        source,
                    });
                };
                self.with_call(now, layer, Some(locator), r.call, |c, cx| match r.role {
                    ServerRole::Invite => c.on_cancel(cx),
                    ServerRole::Relay { relay, .. } => c.on_relay_cancelled(cx, relay),
                    _ => {}
                });
                None
            }
            Event::Response {
                key,
                response,
                source,
            } => {
                let Some(r) = self.core.clients.get(&key).copied() else {
                    return Some(Event::Response {
                        key,
                        response,
                        source,
                    });
                };
                match (r.call, r.role) {
                    (Some(call), role) => {
                        self.with_call(now, layer, Some(locator), call, |c, cx| {
                            c.on_client_response(cx, role, response)
                        });
                    }
                    (None, ClientRole::TrunkOptions(i)) if response.status.is_final() => {
                        self.trunk_options_result(now, i, true)
                    }
                    (None, ClientRole::TrunkRegister(i)) if response.status.is_final() => {
                        self.trunk_register_result(now, i, Some(&response), layer);
                    }
                    _ => {}
                }
                None
            }
            Event::Timeout { key, timer } => {
                if self.on_failure(now, key, Some(timer), layer, locator) {
                    None
                } else {
                    Some(Event::Timeout { key, timer })
                }
            }
            Event::TransportError { key } => {
                if self.on_failure(now, key, None, layer, locator) {
                    None
                } else {
                    Some(Event::TransportError { key })
                }
            }
            Event::Stray2xx { response, source } => {
                // Only the B2BUA sends INVITEs: a 2xx nobody waits for is a late fork or
                // a retransmission after Timer M; RFC 3261 §13.2.2.4 wants it ACKed, and
                // the dialog it made is not wanted.
                let mut cx = Cx {
                    now,
                    layer,
                    core: &mut self.core,
                    locator: Some(locator),
                };
                release_2xx(&mut cx, None, &response, source);
                None
            }
            Event::Terminated { key } => {
                if self.on_terminated(now, key, layer) {
                    None
                } else {
                    Some(Event::Terminated { key })
                }
            }
            other => Some(other),
        }
    }

    /// The call and side of an in-dialog request: our tag is its To tag.
    fn dialog_of(&self, request: &Request) -> Option<(crate::call::CallKey, crate::call::Side)> {
        let call_id = request.headers.call_id().ok()?;
        let tag = request.headers.to().ok()?.tag()?;
        self.core
            .dialogs
            .get(&(call_id.clone(), Bytes::copy_from_slice(tag)))
            .copied()
    }

    fn on_request(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: Request,
        source: Peer,
        layer: &mut TransactionLayer,
        locator: &dyn Locator,
    ) -> Option<Event> {
        if request.in_dialog() {
            if let Some((call, side)) = self.dialog_of(&request) {
                self.with_call(now, layer, Some(locator), call, |c, cx| {
                    c.on_request(cx, side, key, request)
                });
                return None;
            }
            // RFC 3261 §12.2.2: a request for a dialog we do not have gets 481.
            if matches!(
                request.method,
                Method::Invite
                    | Method::Bye
                    | Method::Update
                    | Method::Info
                    | Method::Prack
                    | Method::Refer
                    | Method::Notify
            ) {
                let r = self
                    .core
                    .locals
                    .response(&request, StatusCode::CALL_DOES_NOT_EXIST, "");
                if let Err(e) = layer.send_response(now, &key, r) {
                    tracing::debug!(error = %e, "481 not sent");
                }
                return None;
            }
            return Some(Event::Request {
                key,
                request,
                source,
            });
        }
        match request.method {
            Method::Invite => {
                self.on_new_invite(now, key, request, source, layer, locator);
                None
            }
            Method::Bye | Method::Update | Method::Info | Method::Prack => {
                let r = self
                    .core
                    .locals
                    .response(&request, StatusCode::CALL_DOES_NOT_EXIST, "");
                if let Err(e) = layer.send_response(now, &key, r) {
                    tracing::debug!(error = %e, "481 not sent");
                }
                None
            }
            _ => Some(Event::Request {
                key,
                request,
                source,
            }),
        }
    }

    /// A timeout (`Some(timer)`) or transport failure of a transaction. Returns whether
    /// it was ours.
    fn on_failure(
        &mut self,
        now: Instant,
        key: TransactionKey,
        timer: Option<Timer>,
        layer: &mut TransactionLayer,
        locator: &dyn Locator,
    ) -> bool {
        match key {
            TransactionKey::Client(k) => {
                let Some(r) = self.core.clients.get(&k).copied() else {
                    return false;
                };
                let status = if timer.is_some() {
                    StatusCode::REQUEST_TIMEOUT
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                match (r.call, r.role) {
                    (Some(call), role) => {
                        self.with_call(now, layer, Some(locator), call, |c, cx| {
                            c.on_client_failure(cx, role, status)
                        });
                    }
                    (None, ClientRole::TrunkOptions(i)) => self.trunk_options_result(now, i, false),
                    (None, ClientRole::TrunkRegister(i)) => {
                        self.trunk_register_result(now, i, None, layer)
                    }
                    _ => {}
                }
                true
            }
            TransactionKey::Server(k) => {
                let Some(r) = self.core.servers.get(&k).copied() else {
                    return false;
                };
                self.with_call(now, layer, Some(locator), r.call, |c, cx| {
                    c.on_server_failure(cx, r.role, timer)
                });
                true
            }
        }
    }

    /// A transaction is gone: forget it, and let its call go when nothing else holds it.
    fn on_terminated(
        &mut self,
        now: Instant,
        key: TransactionKey,
        layer: &mut TransactionLayer,
    ) -> bool {
        let call = match key {
            TransactionKey::Client(k) => match self.core.clients.remove(&k) {
                Some(r) => r.call,
                None => return false,
            },
            TransactionKey::Server(k) => match self.core.servers.remove(&k) {
                Some(r) => Some(r.call),
                None => return false,
            },
        };
        if let Some(call) = call {
            self.with_call(now, layer, None, call, |c, _| {
                c.owner.live = c.owner.live.saturating_sub(1)
            });
        }
        true
    }
}
