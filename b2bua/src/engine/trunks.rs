//! Driving the trunks: OPTIONS pings and registrations, and their results.

use std::time::Instant;

use sip_core::Response;
use sip_core::transaction::TransactionLayer;

use super::B2bua;
use crate::call::ClientRole;
use crate::core::ClientRef;
use crate::timers::Target;
use crate::trunk::register::RegisterStep;

impl B2bua {
    pub(super) fn trunk_options_due(
        &mut self,
        now: Instant,
        at: Instant,
        i: usize,
        layer: &mut TransactionLayer,
    ) {
        let core = &mut self.core;
        let Some(t) = core.trunks.get_mut(i) else {
            return;
        };
        if t.options_due != Some(at) || t.options_key.is_some() {
            return;
        }
        t.options_due = None;
        match t.options_request(&core.locals, &mut core.rng, &core.config.domain) {
            Ok((req, peer)) => match layer.send_request(now, req, peer) {
                Ok(key) => {
                    t.options_key = Some(key);
                    core.clients.insert(
                        key,
                        ClientRef {
                            call: None,
                            role: ClientRole::TrunkOptions(i),
                        },
                    );
                }
                Err(e) => {
                    tracing::warn!(trunk = %t.config.name, error = %e, "OPTIONS not sent");
                    self.trunk_options_result(now, i, false);
                }
            },
            Err(e) => {
                tracing::warn!(trunk = %t.config.name, error = %e, "OPTIONS not built");
                self.trunk_options_result(now, i, false);
            }
        }
    }

    pub(super) fn trunk_options_result(&mut self, now: Instant, i: usize, answered: bool) {
        let Some(t) = self.core.trunks.get_mut(i) else {
            return;
        };
        if t.options_result(now, answered) {
            if answered {
                tracing::info!(trunk = %t.config.name, "trunk answers OPTIONS again; routing to it");
            } else {
                tracing::warn!(trunk = %t.config.name, "trunk stopped answering OPTIONS; skipped by routing");
            }
        }
        if let Some(at) = t.options_due {
            self.core.timers.push(at, Target::TrunkOptions(i));
        }
    }

    pub(super) fn trunk_register_due(
        &mut self,
        now: Instant,
        at: Instant,
        i: usize,
        layer: &mut TransactionLayer,
    ) {
        let core = &mut self.core;
        let Some(t) = core.trunks.get_mut(i) else {
            return;
        };
        let Some(mut reg) = t.registration.take() else {
            return;
        };
        if reg.due != Some(at) || reg.key.is_some() {
            t.registration = Some(reg);
            return;
        }
        reg.due = None;
        reg.on_due(now);
        let sent = reg
            .request(t, &core.locals, &mut core.rng)
            .map_err(|e| e.to_string())
            .and_then(|(req, peer)| {
                layer
                    .send_request(now, req, peer)
                    .map_err(|e| e.to_string())
            });
        match sent {
            Ok(key) => {
                reg.key = Some(key);
                core.clients.insert(
                    key,
                    ClientRef {
                        call: None,
                        role: ClientRole::TrunkRegister(i),
                    },
                );
                t.registration = Some(reg);
            }
            Err(e) => {
                tracing::warn!(trunk = %t.config.name, error = %e, "REGISTER not sent");
                t.registration = Some(reg);
                self.trunk_register_result(now, i, None, layer);
            }
        }
    }

    /// The final response to a trunk's REGISTER (`None`: no answer).
    pub(super) fn trunk_register_result(
        &mut self,
        now: Instant,
        i: usize,
        response: Option<&Response>,
        layer: &mut TransactionLayer,
    ) {
        let core = &mut self.core;
        let Some(t) = core.trunks.get_mut(i) else {
            return;
        };
        let Some(mut reg) = t.registration.take() else {
            return;
        };
        let uri = t.uri(None).map(|u| u.to_string()).unwrap_or_default();
        let step = reg.handle_result(now, &t.config, response, &uri, &mut core.rng);
        match &step {
            RegisterStep::Registered(expires) => {
                tracing::info!(trunk = %t.config.name, ?expires, "registered with the carrier");
            }
            RegisterStep::Failed(status) => {
                tracing::warn!(trunk = %t.config.name, status = status.as_u16(), "registration with the carrier failed; retrying later");
            }
            RegisterStep::Resend => {}
        }
        let due = reg.due;
        t.registration = Some(reg);
        match (step, due) {
            // A challenge answered or Min-Expires obeyed: send again at once.
            (RegisterStep::Resend, Some(at)) => self.trunk_register_due(now, at, i, layer),
            (_, Some(at)) => core.timers.push(at, Target::TrunkRegister(i)),
            (_, None) => {}
        }
    }
}
