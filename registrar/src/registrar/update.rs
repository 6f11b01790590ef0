//! RFC 3261 §10.3 steps 6 and 7: removing, refreshing and adding bindings, all checked
//! before any is applied, and the matching database changes.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sip_core::transaction::Peer;
use sip_core::{StatusCode, Uri};

use super::Registrar;
use crate::binding::{Binding, BindingEvent, BindingId};
use crate::extension::Extension;
use crate::register::{ContactUpdate, Reject, reject};
use crate::store::{BindingRecord, Change};

/// The context of one REGISTER's binding updates.
pub(super) struct UpdateContext<'a> {
    pub(super) now: Instant,
    pub(super) wall: SystemTime,
    pub(super) ext: Extension,
    pub(super) call_id: &'a str,
    pub(super) cseq: u32,
    pub(super) source: Peer,
    pub(super) user_agent: Option<Arc<str>>,
}

impl Registrar {
    /// RFC 3261 §10.3 step 6: `Contact: *` removes every binding, unless one of them
    /// has this Call-ID with a CSeq not lower than the request's.
    pub(super) fn remove_all(
        &mut self,
        ext: Extension,
        call_id: &str,
        cseq: u32,
    ) -> Result<(), Reject> {
        let bindings = self.location.bindings(ext);
        if bindings
            .iter()
            .any(|b| &*b.call_id == call_id && cseq <= b.cseq)
        {
            return Err(out_of_order());
        }
        let ids: Vec<BindingId> = bindings.iter().map(|b| b.id).collect();
        for id in ids {
            if let Some(b) = self.location.remove(id) {
                self.store_delete(&b);
                self.emit(BindingEvent::Removed(b));
            }
        }
        Ok(())
    }

    /// RFC 3261 §10.3 step 7: every update is checked before any is applied, so that
    /// the request changes all its bindings or none.
    pub(super) fn apply_updates(
        &mut self,
        ctx: &UpdateContext<'_>,
        updates: Vec<ContactUpdate>,
    ) -> Result<(), Reject> {
        let mut matched: Vec<(ContactUpdate, Option<BindingId>)> =
            Vec::with_capacity(updates.len());
        for u in updates {
            let existing = self
                .location
                .bindings(ctx.ext)
                .iter()
                .find(|b| same_contact(&b.contact, &u.uri));
            if let Some(b) = existing
                && &*b.call_id == ctx.call_id
                && ctx.cseq <= b.cseq
            {
                return Err(out_of_order());
            }
            let id = existing.map(|b| b.id);
            matched.push((u, id));
        }
        let kept = matched.iter().filter(|(u, _)| u.expires > 0).count();
        if kept > self.config.max_contacts {
            return Err(reject(
                StatusCode::FORBIDDEN,
                "Too many contacts in one request",
            ));
        }
        let mut touched = Vec::with_capacity(matched.len());
        for (u, id) in matched {
            match (u.expires, id) {
                (0, Some(id)) => {
                    if let Some(b) = self.location.remove(id) {
                        self.store_delete(&b);
                        self.emit(BindingEvent::Removed(b));
                    }
                }
                (0, None) => {}
                (_, Some(id)) => {
                    self.refresh(ctx, id, &u);
                    touched.push(id);
                }
                (_, None) => touched.push(self.add(ctx, u)),
            }
        }
        self.make_room(ctx.ext, &touched);
        Ok(())
    }

    fn refresh(&mut self, ctx: &UpdateContext<'_>, id: BindingId, u: &ContactUpdate) {
        let qualify_due = self.first_qualify(ctx.now, ctx.source);
        let mut was_unreachable = false;
        let updated = self.location.update(id, |b| {
            if &*b.call_id != ctx.call_id {
                b.call_id = Arc::from(ctx.call_id);
            }
            b.cseq = ctx.cseq;
            b.expires_at = ctx.now + Duration::from_secs(u64::from(u.expires));
            b.updated_at = ctx.now;
            b.q = u.q;
            b.source = ctx.source;
            if b.user_agent.as_deref() != ctx.user_agent.as_deref() {
                b.user_agent = ctx.user_agent.clone();
            }
            // A REGISTER proves the device is there.
            was_unreachable = !b.reachable;
            b.reachable = true;
            b.qualify_pending = false;
            if b.qualify_due.is_none() || qualify_due.is_none() {
                b.qualify_due = qualify_due;
            }
        });
        let Some(b) = updated.cloned() else { return };
        self.store_upsert(&b, ctx.now, ctx.wall);
        self.emit(BindingEvent::Refreshed(b.clone()));
        if was_unreachable {
            self.emit(BindingEvent::Reachable(b));
        }
    }

    fn add(&mut self, ctx: &UpdateContext<'_>, u: ContactUpdate) -> BindingId {
        let b = Binding {
            id: self.location.next_id(),
            extension: ctx.ext,
            contact: u.uri,
            q: u.q,
            call_id: Arc::from(ctx.call_id),
            cseq: ctx.cseq,
            expires_at: ctx.now + Duration::from_secs(u64::from(u.expires)),
            registered_at: ctx.now,
            updated_at: ctx.now,
            source: ctx.source,
            user_agent: ctx.user_agent.clone(),
            reachable: true,
            qualify_pending: false,
            qualify_due: self.first_qualify(ctx.now, ctx.source),
        };
        let id = b.id;
        self.store_upsert(&b, ctx.now, ctx.wall);
        self.emit(BindingEvent::Added(b.clone()));
        self.location.insert(b);
        id
    }

    /// Keeps an AOR within `max_contacts` by removing the bindings refreshed longest ago
    /// that this request did not touch. The newest registration is the one most likely
    /// to be the device as it is now (after a reboot or a NAT change the old contact is
    /// dead until it expires), so it wins rather than being refused.
    fn make_room(&mut self, ext: Extension, touched: &[BindingId]) {
        loop {
            let bindings = self.location.bindings(ext);
            if bindings.len() <= self.config.max_contacts {
                return;
            }
            let oldest = bindings
                .iter()
                .filter(|b| !touched.contains(&b.id))
                .min_by_key(|b| (b.updated_at, b.id))
                .map(|b| b.id);
            let Some(id) = oldest else { return };
            if let Some(b) = self.location.remove(id) {
                tracing::debug!(extension = %ext, contact = %b.contact, "binding dropped to make room for a newer contact");
                self.store_delete(&b);
                self.emit(BindingEvent::Removed(b));
            }
        }
    }

    fn store_upsert(&mut self, b: &Binding, now: Instant, wall: SystemTime) {
        let Some(sink) = self.store.as_mut() else {
            return;
        };
        let at = |t: Instant| {
            if t >= now {
                wall + (t - now)
            } else {
                wall.checked_sub(now - t).unwrap_or(wall)
            }
        };
        sink.send(Change::Upsert(BindingRecord {
            extension: b.extension,
            contact: String::from_utf8_lossy(b.contact.as_bytes()).into_owned(),
            call_id: b.call_id.to_string(),
            cseq: b.cseq,
            expires_at: at(b.expires_at),
            q: b.q,
            source: b.source.addr,
            transport: b.source.transport,
            user_agent: b.user_agent.as_deref().map(str::to_owned),
            registered_at: at(b.registered_at),
            updated_at: at(b.updated_at),
        }));
    }

    pub(super) fn store_delete(&mut self, b: &Binding) {
        if let Some(sink) = self.store.as_mut() {
            sink.send(Change::Delete {
                extension: b.extension,
                contact: String::from_utf8_lossy(b.contact.as_bytes()).into_owned(),
            });
        }
    }
}

/// RFC 3261 §10.3 step 7: contacts are matched by URI equivalence (§19.1.4). The same
/// text is always equivalent, and that is what a device refreshing its binding sends, so
/// the full comparison (which unescapes both sides) only runs when the texts differ.
pub(super) fn same_contact(a: &Uri, b: &Uri) -> bool {
    a.as_bytes() == b.as_bytes() || a.equivalent(b)
}

/// RFC 3261 §10.3 steps 6 and 7: a CSeq not higher than the binding's for the same
/// Call-ID fails the request with 500.
fn out_of_order() -> Reject {
    reject(StatusCode::SERVER_INTERNAL_ERROR, "Out of order CSeq")
}
