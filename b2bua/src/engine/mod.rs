//! [`B2bua`]: the transaction user that owns every call.

mod dispatch;
mod intake;
mod originate;
mod trunks;

pub use originate::OriginateOptions;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use media::{MediaControl, MediaEvent};
use sip_core::auth::DigestServer;
use sip_core::transaction::TransactionLayer;

use crate::call::{Call, CallKey};
use crate::config::B2buaConfig;
use crate::core::{Core, Cx, EchoMedia, Stats};
use crate::error::{ConfigError, HangupError};
use crate::event::{CallEvent, CallId, CompletionToken, HangupSide};
use crate::limits::TokenBucket;
use crate::locator::Locator;
use crate::random::Random;
use crate::sip::msg::Locals;
use crate::timers::{Target, TimerQueue};
use crate::trunk::{TrunkState, TrunkStatus};

/// The B2BUA: every call between slots, services and carrier trunks, as a deterministic
/// transaction user with no sockets, no clock and no random source of its own.
///
/// # Call order
///
/// The binary's SIP core task owns one [`TransactionLayer`] and this B2BUA, and drives
/// both with the same clock:
///
/// 1. Drain [`TransactionLayer::poll_event`] and give each event to
///    [`handle_event`](Self::handle_event) with the layer and the [`Locator`]. An event
///    that is not the B2BUA's (REGISTER, OPTIONS outside a dialog, transactions of other
///    modules) comes back as `Some(event)` for the next module.
/// 2. Give every [`MediaEvent`] of the media engine to
///    [`handle_media_event`](Self::handle_media_event).
/// 3. Include [`poll_timeout`](Self::poll_timeout) in the task's next deadline; when it
///    passes, call [`handle_timeout`](Self::handle_timeout).
/// 4. After any of these, drain [`poll_call_event`](Self::poll_call_event): hand
///    [`CallEvent::Ended`] to the CDR journal and, once the record is on disk, call
///    [`handle_call_persisted`](Self::handle_call_persisted) with its token (the 200 to
///    the BYE that ended the call waits for it, at most
///    [`B2buaConfig::persist_timeout`]).
/// 5. Then drain the layer's transmits and events again (every input may have sent
///    messages), as the layer's own call order says.
///
/// [`originate`](Self::originate) and [`hangup`](Self::hangup) come from the control
/// API at any time, followed by steps 4 and 5.
pub struct B2bua {
    core: Core,
    calls: HashMap<CallKey, Call>,
    by_id: HashMap<CallId, CallKey>,
    next_key: CallKey,
    cps: TokenBucket,
    accepting: bool,
}

impl B2bua {
    /// A B2BUA with no calls. `now` and `wall` are the same instant on the monotonic
    /// and the wall clock (wall time dates CDRs and digest nonces); `seed` feeds every
    /// tag, branch, Call-ID and call id (fill it from the OS random source).
    ///
    /// `echo` implements the echo service; without it the echo number is answered 503.
    pub fn new(
        config: B2buaConfig,
        media: Arc<dyn MediaControl>,
        echo: Option<Arc<dyn EchoMedia>>,
        now: Instant,
        wall: SystemTime,
        seed: [u8; 32],
    ) -> Result<B2bua, ConfigError> {
        config.validate()?;
        let digest = DigestServer::new(
            config.domain.clone(),
            &config.auth_secret,
            config.nonce_lifetime,
        )
        .map_err(|e| ConfigError::invalid("auth_secret", e.to_string()))?;
        let mut rng = Random::new(seed);
        let mut timers = TimerQueue::default();
        let trunks: Vec<TrunkState> = config
            .trunks
            .iter()
            .map(|t| TrunkState::new(t.clone(), now, &mut rng))
            .collect();
        for (i, t) in trunks.iter().enumerate() {
            if let Some(at) = t.options_due {
                timers.push(at, Target::TrunkOptions(i));
            }
            if let Some(at) = t.registration.as_ref().and_then(|r| r.due) {
                timers.push(at, Target::TrunkRegister(i));
            }
        }
        let cps = TokenBucket::new(config.max_cps);
        Ok(B2bua {
            core: Core {
                locals: Locals::new(&config),
                config,
                rng,
                media,
                echo,
                digest,
                clients: HashMap::new(),
                servers: HashMap::new(),
                dialogs: HashMap::new(),
                timers,
                events: VecDeque::new(),
                trunks,
                tokens: HashMap::new(),
                next_token: 0,
                stats: Stats::default(),
                active_calls: 0,
                wall_anchor: (now, wall),
            },
            calls: HashMap::new(),
            by_id: HashMap::new(),
            next_key: 0,
            cps,
            accepting: true,
        })
    }

    /// Run `f` on a call with a context; remove the call if it is finished afterwards.
    fn with_call<R>(
        &mut self,
        now: Instant,
        layer: &mut TransactionLayer,
        locator: Option<&dyn Locator>,
        key: CallKey,
        f: impl FnOnce(&mut Call, &mut Cx<'_>) -> R,
    ) -> Option<R> {
        let call = self.calls.get_mut(&key)?;
        let mut cx = Cx {
            now,
            layer,
            core: &mut self.core,
            locator,
        };
        let r = f(call, &mut cx);
        if call.is_finished() {
            self.remove_call(key);
        }
        Some(r)
    }

    fn remove_call(&mut self, key: CallKey) {
        if let Some(c) = self.calls.remove(&key) {
            c.unindex(&mut self.core);
            self.by_id.remove(&c.id);
            if let Some(t) = c.token {
                self.core.tokens.remove(&t);
            }
        }
    }

    /// The next call event.
    pub fn poll_call_event(&mut self) -> Option<CallEvent> {
        self.core.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.core.timers.next()
    }

    /// Time passed: fire every deadline due at `now` (ring and trunk timeouts, session
    /// timers, maximum duration, CDR waits, trunk pings and registrations).
    pub fn handle_timeout(&mut self, now: Instant, layer: &mut TransactionLayer) {
        while let Some((at, target)) = self.core.timers.pop_due(now) {
            match target {
                Target::Call(key, timer) => {
                    let due = self
                        .calls
                        .get_mut(&key)
                        .is_some_and(|c| c.owner.deadlines.fire(timer, at));
                    if due {
                        self.with_call(now, layer, None, key, |call, cx| call.on_timer(cx, timer));
                    }
                }
                Target::TrunkOptions(i) => self.trunk_options_due(now, at, i, layer),
                Target::TrunkRegister(i) => self.trunk_register_due(now, at, i, layer),
            }
        }
        self.compact_timers();
    }

    /// Stale heap entries (moved deadlines) are dropped once they dominate.
    fn compact_timers(&mut self) {
        let live = self.calls.len() * 4 + self.core.trunks.len() * 2 + 64;
        if self.core.timers.len() > live * 4 {
            let calls = &self.calls;
            let trunks = &self.core.trunks;
            self.core.timers.compact(|at, t| match t {
                Target::Call(k, timer) => calls
                    .get(k)
                    .is_some_and(|c| c.owner.deadlines.get(*timer) == Some(*at)),
                Target::TrunkOptions(i) => {
                    trunks.get(*i).is_some_and(|t| t.options_due == Some(*at))
                }
                Target::TrunkRegister(i) => trunks
                    .get(*i)
                    .and_then(|t| t.registration.as_ref())
                    .is_some_and(|r| r.due == Some(*at)),
            });
        }
    }

    /// An event of the media engine: a media timeout ends its call with BYE both ways.
    pub fn handle_media_event(
        &mut self,
        now: Instant,
        event: MediaEvent,
        layer: &mut TransactionLayer,
    ) {
        if let MediaEvent::Timeout {
            call_id, tag, idle, ..
        } = &event
        {
            let Some(key) = CallId::parse(call_id).and_then(|id| self.by_id.get(&id).copied())
            else {
                return;
            };
            tracing::info!(call = %call_id, leg = %tag, ?idle, "media timeout");
            self.with_call(now, layer, None, key, |call, cx| call.on_media_timeout(cx));
        }
    }

    /// The CDR of [`CallEvent::Ended`] with this token is journaled: the 200 to the BYE
    /// that ended the call goes out now. Unknown or repeated tokens are ignored.
    pub fn handle_call_persisted(
        &mut self,
        now: Instant,
        token: CompletionToken,
        layer: &mut TransactionLayer,
    ) {
        let Some(key) = self.core.tokens.remove(&token.0) else {
            return;
        };
        self.with_call(now, layer, None, key, |call, cx| {
            call.on_persisted(cx, token.0)
        });
    }

    /// End a call from the API (`POST /call/end`): BYE to answered sides, CANCEL or a
    /// final response to the others.
    pub fn hangup(
        &mut self,
        now: Instant,
        call: CallId,
        layer: &mut TransactionLayer,
    ) -> Result<(), HangupError> {
        let key = *self.by_id.get(&call).ok_or(HangupError::NoSuchCall)?;
        let ended = self.with_call(now, layer, None, key, |c, cx| {
            if c.phase == crate::call::Phase::Ended {
                return false;
            }
            c.end(
                cx,
                HangupSide::System,
                sip_core::StatusCode::REQUEST_TERMINATED,
                "hung up through the API",
                None,
            );
            true
        });
        if ended == Some(true) {
            Ok(())
        } else {
            Err(HangupError::NoSuchCall)
        }
    }

    /// Re-align the wall clock (e.g. after NTP stepped it): `now` and `wall` are the
    /// same instant.
    pub fn set_wall_clock(&mut self, now: Instant, wall: SystemTime) {
        self.core.wall_anchor = (now, wall);
    }

    /// Stop (`false`) or resume taking new calls: while stopped, new INVITEs get 503
    /// and calls in progress go on (orderly shutdown).
    pub fn set_accepting(&mut self, accepting: bool) {
        self.accepting = accepting;
    }

    /// Calls not yet ended.
    pub fn active_calls(&self) -> usize {
        self.core.active_calls
    }

    /// The ids of the calls held in memory, for shutdown (hang them all up) and the
    /// control API's listing.
    pub fn call_ids(&self) -> Vec<CallId> {
        self.by_id.keys().copied().collect()
    }

    /// Calls still held in memory (ended ones wait for their transactions and CDR).
    pub fn calls_in_memory(&self) -> usize {
        self.calls.len()
    }

    /// Counters for metrics.
    pub fn stats(&self) -> Stats {
        self.core.stats
    }

    /// The state of every trunk, in configuration order.
    pub fn trunks(&self) -> Vec<TrunkStatus> {
        self.core.trunks.iter().map(TrunkState::status).collect()
    }

    /// How long a BYE's 200 waits for [`handle_call_persisted`](Self::handle_call_persisted).
    pub fn persist_timeout(&self) -> Duration {
        self.core.config.persist_timeout
    }

    /// The configuration.
    pub fn config(&self) -> &B2buaConfig {
        &self.core.config
    }
}
