//! OPTIONS qualify of bindings: handing out pings and taking their outcomes.

use std::time::Instant;

use super::Registrar;
use crate::binding::{BindingEvent, BindingId};
use crate::qualify::{self, QualifyRequest};

impl Registrar {
    /// The next OPTIONS to send to check a binding, if one is due at `now`.
    ///
    /// A binding whose previous OPTIONS is still unanswered when the next is due is
    /// counted as not answering ([`BindingEvent::Unreachable`], once).
    pub fn poll_qualify(&mut self, now: Instant) -> Option<QualifyRequest> {
        let interval = self.config.qualify.interval;
        if interval.is_zero() {
            return None;
        }
        while let Some(id) = self.location.qualify_due(now) {
            let b = self.location.get(id)?;
            let Some(local) = self.config.qualify.local_for(b.source.transport).cloned() else {
                self.location.update(id, |b| b.qualify_due = None);
                continue;
            };
            let missed = b.qualify_pending;
            let mut went_unreachable = false;
            let b = self.location.update(id, |b| {
                if missed && b.reachable {
                    b.reachable = false;
                    went_unreachable = true;
                }
                b.qualify_pending = true;
                b.qualify_due = Some(now + interval);
            })?;
            let b = b.clone();
            if went_unreachable {
                self.emit(BindingEvent::Unreachable(b.clone()));
            }
            match qualify::options_for(&b, &local, &self.config.domain, &mut self.ids) {
                Ok(q) => return Some(q),
                Err(e) => {
                    tracing::warn!(error = %e, host = %local.host, "cannot build a qualify OPTIONS; qualify is off for this binding");
                    self.location.update(id, |b| {
                        b.qualify_pending = false;
                        b.qualify_due = None;
                    });
                }
            }
        }
        None
    }

    /// The outcome of a qualify OPTIONS: `answered` is true for any response (even an
    /// error status proves the device is there), false for a timeout or a transport
    /// error. A binding that stops answering is reported [`BindingEvent::Unreachable`]
    /// once, and [`BindingEvent::Reachable`] when it answers again.
    pub fn handle_qualify_result(&mut self, id: BindingId, answered: bool) {
        let mut changed = false;
        let Some(b) = self.location.update(id, |b| {
            b.qualify_pending = false;
            if b.reachable != answered {
                b.reachable = answered;
                changed = true;
            }
        }) else {
            return;
        };
        if changed {
            let b = b.clone();
            self.emit(if answered {
                BindingEvent::Reachable(b)
            } else {
                BindingEvent::Unreachable(b)
            });
        }
    }
}
