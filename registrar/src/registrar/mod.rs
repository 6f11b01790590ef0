//! The registrar: REGISTER in, responses and binding events out, lookups for routing.
//!
//! - this file: the public API, REGISTER steps 1–5 and time;
//! - [`update`]: RFC 3261 §10.3 steps 6–7, the binding changes and their persistence;
//! - [`reply`]: the responses;
//! - [`keepalive`]: OPTIONS qualify.

mod keepalive;
mod reply;
mod update;

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
#[cfg(test)]
use crate::qualify::QualifyRequest;
use crate::register::{self, Plan, Reject, reject};
use crate::response::DateCache;
use crate::slot::Slot;
use crate::store::{BindingRecord, StoreSink};
use update::{UpdateContext, same_contact};

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
        let mut example = None;
        for s in slots {
            if s.realm() != self.config.domain {
                report.wrong_realm += 1;
                example.get_or_insert_with(|| (s.extension(), s.realm().to_owned()));
                continue;
            }
            table.insert(s.extension(), s);
        }
        if let Some((extension, realm)) = example {
            // One line for all of them: a changed domain affects every slot at once.
            tracing::warn!(
                slots = report.wrong_realm,
                example = %extension,
                slot_realm = %realm,
                domain = %self.config.domain,
                "slots provisioned for another realm cannot authenticate; provision them again"
            );
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
            || existing.iter().any(|b| same_contact(&b.contact, &contact))
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
        let ext = slot_user(aor)
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
        slot_user(aor).map(|e| self.lookup(e)).unwrap_or_default()
    }

    /// The provisioned slot of `extension`, with its HA1 credentials (for the B2BUA's
    /// proxy challenge to callers).
    pub fn slot(&self, extension: Extension) -> Option<&Slot> {
        self.slots.get(&extension)
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

/// The extension in the user part of `uri`, %-escapes decoded (RFC 3261 §19.1.4), if
/// it is one; plain digits, the usual case, are read without unescaping.
fn slot_user(uri: &Uri) -> Option<Extension> {
    let user = uri.user()?;
    if user.contains(&b'%') {
        Extension::from_digits(&uri.user_unescaped()?)
    } else {
        Extension::from_digits(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registrar_can_move_to_the_sip_core_task() {
        fn send<T: Send>() {}
        send::<Registrar>();
        send::<BindingEvent>();
        send::<QualifyRequest>();
    }
}
