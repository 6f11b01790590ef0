//! The registrar: REGISTER in, responses and binding events out, lookups for routing.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use sip_core::auth::DigestServer;
use sip_core::header::HeaderName;
use sip_core::transaction::Peer;
use sip_core::{Method, Request, Response, StatusCode, Uri};

use crate::auth::{self, AuthOutcome};
use crate::binding::{Binding, BindingEvent, BindingId};
use crate::config::{ConfigError, RegistrarConfig};
use crate::extension::Extension;
use crate::guard::{Guard, Verdict};
use crate::ids::Ids;
use crate::location::Location;
use crate::metrics;
use crate::qualify::{self, QualifyRequest};
use crate::register::{self, ContactUpdate, Plan, Reject, reject};
use crate::response::DateCache;
use crate::slot::Slot;
use crate::store::{BindingRecord, Change, StoreSink};

/// How often the nonce-count table and the brute-force table are pruned.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(30);
/// Events kept for a caller that does not poll; beyond this the oldest are dropped.
const MAX_QUEUED_EVENTS: usize = 65_536;

/// The registrar of the slots' domain (RFC 3261 §10.3). See the crate documentation for
/// the call order.
pub struct Registrar {
    config: RegistrarConfig,
    digest: DigestServer,
    slots: HashMap<Extension, Slot>,
    location: Location,
    guard: Guard,
    events: VecDeque<BindingEvent>,
    dropped_events: u64,
    ids: Ids,
    store: Option<StoreSink>,
    dates: DateCache,
    housekeeping_at: Option<Instant>,
}

/// What [`Registrar::set_slots`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotsReport {
    /// Slots now provisioned.
    pub loaded: usize,
    /// Slots skipped because their credentials were made for another realm.
    pub wrong_realm: usize,
    /// Bindings removed because their slot is gone.
    pub removed_bindings: usize,
}

/// What [`Registrar::restore`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreReport {
    /// Bindings back in the index.
    pub restored: usize,
    /// Records skipped: expired, of an unknown slot, unreadable, or beyond the AOR's
    /// contact limit.
    pub skipped: usize,
}

impl Registrar {
    /// A registrar with no slots and no bindings.
    ///
    /// `secret` (at least 16 random octets) signs the digest nonces; nodes that share a
    /// database should share it, so that a nonce issued by one is accepted by another.
    /// `wall` is the current time: nonces seen before it by a previous run are treated as
    /// stale, so a request captured before a restart cannot be replayed after it.
    pub fn new(
        config: RegistrarConfig,
        secret: &[u8],
        wall: SystemTime,
    ) -> Result<Registrar, ConfigError> {
        config.validate()?;
        let mut digest = DigestServer::new(config.domain.clone(), secret, config.nonce_lifetime)?
            .with_nc_capacity(config.nonce_count_capacity);
        // Strictly before `wall`: nonces this registrar issues in its first microsecond
        // are its own.
        digest.forget_unseen_before(wall.checked_sub(Duration::from_micros(1)).unwrap_or(wall));
        Ok(Registrar {
            guard: Guard::new(config.brute_force.clone()),
            digest,
            slots: HashMap::new(),
            location: Location::default(),
            events: VecDeque::new(),
            dropped_events: 0,
            ids: Ids::new(secret, wall),
            store: None,
            dates: DateCache::default(),
            housekeeping_at: None,
            config,
        })
    }

    /// The settings.
    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// Sends every later binding change to the write-behind task behind `sink`.
    pub fn set_store(&mut self, sink: StoreSink) {
        self.store = Some(sink);
    }

    /// Replaces the provisioned slots (at start, and whenever provisioning changed them
    /// while running). Slots made for another realm are skipped with a warning; bindings
    /// of slots that are gone are removed ([`BindingEvent::Removed`]).
    pub fn set_slots(&mut self, slots: impl IntoIterator<Item = Slot>) -> SlotsReport {
        let mut report = SlotsReport::default();
        let mut table = HashMap::new();
        for s in slots {
            if s.realm() != self.config.domain {
                tracing::warn!(
                    extension = %s.extension(),
                    slot_realm = s.realm(),
                    domain = %self.config.domain,
                    "slot was provisioned for another realm and cannot authenticate; provision it again"
                );
                report.wrong_realm += 1;
                continue;
            }
            table.insert(s.extension(), s);
        }
        report.loaded = table.len();
        self.slots = table;
        let gone: Vec<BindingId> = self
            .location
            .iter()
            .filter(|b| !self.slots.contains_key(&b.extension))
            .map(|b| b.id)
            .collect();
        for id in gone {
            if let Some(b) = self.location.remove(id) {
                self.store_delete(&b);
                self.emit(BindingEvent::Removed(b));
                report.removed_bindings += 1;
            }
        }
        metrics::bindings(self.location.len());
        report
    }

    /// Whether `extension` is provisioned.
    pub fn is_provisioned(&self, extension: Extension) -> bool {
        self.slots.contains_key(&extension)
    }

    /// Puts bindings loaded from the database back, with the expiry they had left at
    /// `wall` (call after [`set_slots`](Self::set_slots)). Each restored binding is
    /// reported as [`BindingEvent::Added`], so that event consumers build their state
    /// the same way as for live registrations. Nothing is written back.
    pub fn restore(
        &mut self,
        now: Instant,
        wall: SystemTime,
        records: impl IntoIterator<Item = BindingRecord>,
    ) -> RestoreReport {
        let mut report = RestoreReport::default();
        for r in records {
            match self.restore_one(now, wall, r) {
                true => report.restored += 1,
                false => report.skipped += 1,
            }
        }
        metrics::bindings(self.location.len());
        report
    }

    fn restore_one(&mut self, now: Instant, wall: SystemTime, r: BindingRecord) -> bool {
        let Ok(left) = r.expires_at.duration_since(wall) else {
            return false;
        };
        if left.is_zero() || !self.slots.contains_key(&r.extension) {
            return false;
        }
        let Ok(contact) = Uri::parse(Bytes::from(r.contact.into_bytes())) else {
            return false;
        };
        let existing = self.location.bindings(r.extension);
        if existing.len() >= self.config.max_contacts
            || existing.iter().any(|b| b.contact.equivalent(&contact))
        {
            return false;
        }
        let age = |t: SystemTime| wall.duration_since(t).unwrap_or_default();
        let source = Peer {
            transport: r.transport,
            addr: r.source,
            connection: None,
        };
        let binding = Binding {
            id: self.location.next_id(),
            extension: r.extension,
            contact,
            q: r.q,
            call_id: Arc::from(r.call_id),
            cseq: r.cseq,
            expires_at: now + left,
            registered_at: now.checked_sub(age(r.registered_at)).unwrap_or(now),
            updated_at: now.checked_sub(age(r.updated_at)).unwrap_or(now),
            source,
            user_agent: r.user_agent.map(Arc::from),
            reachable: true,
            qualify_pending: false,
            qualify_due: self.first_qualify(now, source),
        };
        self.emit(BindingEvent::Added(binding.clone()));
        self.location.insert(binding);
        true
    }

    /// Processes one REGISTER received from `source` (the transport's peer: address,
    /// port, transport, connection) and returns the response to send in its server
    /// transaction. Binding changes are queued as events (drain [`poll_event`]) and, with
    /// a store attached, as database writes.
    ///
    /// `now` drives expiry and the brute-force windows; `wall` is the time of day, for
    /// digest nonces, the Date header and the database.
    ///
    /// [`poll_event`]: Self::poll_event
    pub fn handle_register(
        &mut self,
        now: Instant,
        wall: SystemTime,
        request: &Request,
        source: Peer,
    ) -> Response {
        self.housekeeping_at.get_or_insert(now + HOUSEKEEPING_EVERY);
        let response = match self.register(now, wall, request, source) {
            Ok(r) => r,
            Err(Refusal::Reject(r)) => self.refuse(request, &r),
            Err(Refusal::Challenge { stale }) => self.challenge(request, wall, stale),
            Err(Refusal::TooBrief) => {
                let mut resp = self.reply(request, StatusCode::INTERVAL_TOO_BRIEF, None);
                resp.headers.push(
                    HeaderName::MinExpires,
                    self.config.min_expires.to_string().into_bytes(),
                );
                resp
            }
        };
        metrics::response(response.status);
        response
    }

    fn register(
        &mut self,
        now: Instant,
        wall: SystemTime,
        request: &Request,
        source: Peer,
    ) -> Result<Response, Refusal> {
        if request.method != Method::Register {
            return Err(reject(StatusCode::METHOD_NOT_ALLOWED, "Only REGISTER here").into());
        }
        if !request.uri.is_sip() {
            return Err(
                reject(StatusCode::UNSUPPORTED_URI_SCHEME, "Unsupported URI Scheme").into(),
            );
        }
        let ip = source.addr.ip();
        if self.guard.is_blocked(ip, now) {
            metrics::blocked_request();
            return Err(reject(StatusCode::FORBIDDEN, "Forbidden").into());
        }
        let to = request
            .headers
            .to()
            .map_err(|_| reject(StatusCode::BAD_REQUEST, "Malformed To header"))?;
        let aor = to.uri();
        // RFC 3261 §10.3 step 5 and RFC 4475 §3.3.4: an AOR must be a SIP or SIPS URI.
        if !aor.is_sip() {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "Address-of-record must be a SIP or SIPS URI",
            )
            .into());
        }
        // RFC 3261 §10.3 step 5: only AORs of this domain that are provisioned slots.
        let ext = aor
            .user_unescaped()
            .and_then(|u| Extension::from_digits(&u))
            .filter(|e| self.config.is_local_host(aor.host()) && self.slots.contains_key(e));
        let Some(ext) = ext else {
            self.failure(ip, now);
            return Err(reject(StatusCode::NOT_FOUND, "Not Found").into());
        };
        // RFC 3261 §10.3 steps 3 and 4.
        match auth::authenticate(&mut self.digest, wall, request, ext, &self.slots) {
            AuthOutcome::Authenticated => {}
            AuthOutcome::Challenge { stale, why } => {
                tracing::debug!(extension = %ext, from = %source.addr, why, "REGISTER challenged");
                return Err(Refusal::Challenge { stale });
            }
            AuthOutcome::Refuse {
                status,
                reason,
                counted,
            } => {
                tracing::debug!(extension = %ext, from = %source.addr, reason, "REGISTER refused");
                if counted {
                    self.failure(ip, now);
                }
                return Err(reject(status, reason).into());
            }
        }
        let call_id = register::call_id(request)?;
        let cseq = request
            .headers
            .cseq()
            .map_err(|_| reject(StatusCode::BAD_REQUEST, "Malformed CSeq header"))?
            .seq;
        let plan = register::read_plan(request, &self.config).map_err(|r| {
            if r.status == StatusCode::INTERVAL_TOO_BRIEF {
                Refusal::TooBrief
            } else {
                Refusal::Reject(r)
            }
        })?;
        match plan {
            Plan::Query => {}
            Plan::RemoveAll => self.remove_all(ext, call_id, cseq)?,
            Plan::Update(updates) => {
                let ctx = UpdateContext {
                    now,
                    wall,
                    ext,
                    call_id,
                    cseq,
                    source,
                    user_agent: register::user_agent(request).map(Arc::from),
                };
                self.apply_updates(&ctx, updates)?;
            }
        }
        metrics::bindings(self.location.len());
        Ok(self.ok(request, now, wall, ext))
    }

    /// RFC 3261 §10.3 step 6: `Contact: *` removes every binding, unless one of them
    /// has this Call-ID with a CSeq not lower than the request's.
    fn remove_all(&mut self, ext: Extension, call_id: &str, cseq: u32) -> Result<(), Reject> {
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
    fn apply_updates(
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
                .find(|b| b.contact.equivalent(&u.uri));
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

    fn first_qualify(&self, now: Instant, source: Peer) -> Option<Instant> {
        let q = &self.config.qualify;
        (!q.interval.is_zero() && q.local_for(source.transport).is_some()).then(|| now + q.interval)
    }

    /// The bindings of `extension` for call routing: reachable ones first, then by
    /// q-value (highest first; no q counts as 1.0), then most recently refreshed first.
    pub fn lookup(&self, extension: Extension) -> Vec<Binding> {
        let mut v = self.location.bindings(extension).to_vec();
        v.sort_by(|a, b| {
            b.reachable
                .cmp(&a.reachable)
                .then(b.q.unwrap_or(1000).cmp(&a.q.unwrap_or(1000)))
                .then(b.updated_at.cmp(&a.updated_at))
        });
        v
    }

    /// [`lookup`](Self::lookup) for an AOR URI: empty unless it is a SIP URI of this
    /// domain whose user is a slot extension.
    pub fn lookup_uri(&self, aor: &Uri) -> Vec<Binding> {
        if !aor.is_sip() || !self.config.is_local_host(aor.host()) {
            return Vec::new();
        }
        aor.user_unescaped()
            .and_then(|u| Extension::from_digits(&u))
            .map(|e| self.lookup(e))
            .unwrap_or_default()
    }

    /// Whether `extension` has at least one binding.
    pub fn is_registered(&self, extension: Extension) -> bool {
        !self.location.bindings(extension).is_empty()
    }

    /// One binding by id.
    pub fn binding(&self, id: BindingId) -> Option<&Binding> {
        self.location.get(id)
    }

    /// Every binding, in no particular order.
    pub fn bindings(&self) -> impl Iterator<Item = &Binding> {
        self.location.iter()
    }

    /// The extensions that have at least one binding.
    pub fn registered_extensions(&self) -> impl Iterator<Item = Extension> + '_ {
        self.location.extensions()
    }

    /// How many bindings there are.
    pub fn binding_count(&self) -> usize {
        self.location.len()
    }

    /// The next binding event, oldest first. Drain after every `handle_*` call.
    pub fn poll_event(&mut self) -> Option<BindingEvent> {
        self.events.pop_front()
    }

    /// Events dropped because the queue was full (the caller stopped polling).
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    /// When [`handle_timeout`](Self::handle_timeout) (and, with qualify on,
    /// [`poll_qualify`](Self::poll_qualify)) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let qualify = if self.config.qualify.interval.is_zero() {
            None
        } else {
            self.location.next_qualify()
        };
        [self.location.next_expiry(), qualify, self.housekeeping_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Time passed: removes the bindings that expired by `now` ([`BindingEvent::Expired`])
    /// and, every 30 s, prunes the nonce-count and brute-force tables (`wall` is for the
    /// nonce table).
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        let mut expired = 0;
        while let Some(b) = self.location.pop_expired(now) {
            self.store_delete(&b);
            self.emit(BindingEvent::Expired(b));
            expired += 1;
        }
        if expired > 0 {
            metrics::bindings(self.location.len());
        }
        match self.housekeeping_at {
            Some(at) if now < at => {}
            _ => {
                self.digest.prune(wall);
                self.guard.sweep(now);
                self.housekeeping_at = Some(now + HOUSEKEEPING_EVERY);
            }
        }
    }

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

    // ---- helpers ------------------------------------------------------------------

    fn emit(&mut self, event: BindingEvent) {
        metrics::event(event.name());
        if self.events.len() >= MAX_QUEUED_EVENTS {
            self.events.pop_front();
            self.dropped_events += 1;
            if self.dropped_events == 1 {
                tracing::warn!("binding events are not being polled; dropping the oldest");
            }
        }
        self.events.push_back(event);
    }

    fn failure(&mut self, ip: std::net::IpAddr, now: Instant) {
        metrics::auth_failure();
        if self.guard.record_failure(ip, now) == Verdict::Blocked {
            metrics::blocked();
            tracing::warn!(
                source = %ip,
                failures = self.config.brute_force.threshold,
                window_s = self.config.brute_force.window.as_secs(),
                cooldown_s = self.config.brute_force.cooldown.as_secs(),
                "REGISTER source blocked after repeated authentication failures"
            );
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

    fn store_delete(&mut self, b: &Binding) {
        if let Some(sink) = self.store.as_mut() {
            sink.send(Change::Delete {
                extension: b.extension,
                contact: String::from_utf8_lossy(b.contact.as_bytes()).into_owned(),
            });
        }
    }

    /// A response to `request` with a To tag (RFC 3261 §8.2.6.2).
    fn reply(&mut self, request: &Request, status: StatusCode, reason: Option<&str>) -> Response {
        let mut r = Response::from_request(request, status);
        if let Some(reason) = reason {
            r = r.with_reason(reason);
        }
        let tag = self.ids.tag();
        r.set_to_tag(&tag);
        r
    }

    fn refuse(&mut self, request: &Request, why: &Reject) -> Response {
        let canonical = why.status.canonical_reason() == why.reason;
        let mut r = self.reply(request, why.status, (!canonical).then_some(why.reason));
        if why.status == StatusCode::METHOD_NOT_ALLOWED {
            r.headers.push(HeaderName::Allow, &b"REGISTER"[..]);
        }
        r
    }

    /// 401 with one challenge per algorithm, SHA-256 first (RFC 8760 §2.4), sharing one
    /// nonce.
    fn challenge(&mut self, request: &Request, wall: SystemTime, stale: bool) -> Response {
        let mut r = self.reply(request, StatusCode::UNAUTHORIZED, None);
        for c in self.digest.challenges(wall, stale) {
            r.headers
                .push(HeaderName::WwwAuthenticate, c.to_string().into_bytes());
        }
        r
    }

    /// RFC 3261 §10.3 step 8: 200 listing every current binding with its remaining
    /// expiry, and a Date header.
    fn ok(
        &mut self,
        request: &Request,
        now: Instant,
        wall: SystemTime,
        ext: Extension,
    ) -> Response {
        let mut r = self.reply(request, StatusCode::OK, None);
        for b in self.location.bindings(ext) {
            let mut v = Vec::with_capacity(b.contact.as_bytes().len() + 32);
            v.push(b'<');
            v.extend_from_slice(b.contact.as_bytes());
            v.extend_from_slice(b">;expires=");
            v.extend_from_slice(b.expires_in(now).as_secs().to_string().as_bytes());
            if let Some(q) = b.q {
                v.extend_from_slice(b";q=");
                v.extend_from_slice(format_q(q).as_bytes());
            }
            r.headers.push(HeaderName::Contact, v);
        }
        r.headers.push(HeaderName::Date, self.dates.get(wall));
        r
    }
}

/// The context of one REGISTER's binding updates.
struct UpdateContext<'a> {
    now: Instant,
    wall: SystemTime,
    ext: Extension,
    call_id: &'a str,
    cseq: u32,
    source: Peer,
    user_agent: Option<Arc<str>>,
}

/// Why a REGISTER is not answered 200.
enum Refusal {
    Reject(Reject),
    Challenge { stale: bool },
    TooBrief,
}

impl From<Reject> for Refusal {
    fn from(r: Reject) -> Refusal {
        Refusal::Reject(r)
    }
}

/// RFC 3261 §10.3 steps 6 and 7: a CSeq not higher than the binding's for the same
/// Call-ID fails the request with 500.
fn out_of_order() -> Reject {
    reject(StatusCode::SERVER_INTERNAL_ERROR, "Out of order CSeq")
}

/// A q-value in thousandths as RFC 3261 §25.1 writes it: `1`, `0.5`, `0.25`, `0.125`.
pub(crate) fn format_q(q: u16) -> String {
    if q >= 1000 {
        return "1".to_owned();
    }
    let mut s = format!("0.{q:03}");
    while s.ends_with('0') && s.len() > 3 {
        s.pop();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values_print_short() {
        assert_eq!(format_q(1000), "1");
        assert_eq!(format_q(500), "0.5");
        assert_eq!(format_q(250), "0.25");
        assert_eq!(format_q(125), "0.125");
        assert_eq!(format_q(0), "0.0");
        assert_eq!(format_q(10), "0.01");
    }
}
