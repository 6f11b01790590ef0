//! The shared state every call works against: configuration, the indexes that route
//! transactions and dialogs to calls, timers, the event queue, trunks, media.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use media::{MediaControl, MediaError, SdpOptions};
use sip_core::auth::DigestServer;
use sip_core::transaction::{ClientKey, ServerKey, TransactionLayer};

use crate::call::{CallKey, ClientRole, ServerRole, Side};
use crate::config::B2buaConfig;
use crate::event::CallEvent;
use crate::locator::Locator;
use crate::random::Random;
use crate::sip::msg::Locals;
use crate::timers::TimerQueue;
use crate::trunk::TrunkState;

/// What the echo service needs from the media engine beyond [`MediaControl`]: answer a
/// leg's offer with the relay and send the leg's own media back to it.
/// `media::MediaEngine::echo` (and `media::testing::FakeMedia::echo`) implement exactly
/// this operation; the binary implements the trait by calling it. A B2BUA built without an
/// `EchoMedia` answers the echo number 503.
pub trait EchoMedia: Send + Sync {
    /// Answer `offer` (written by the leg `tag` of call `call_id`) with SDP pointing at
    /// the relay, which from then on returns every RTP packet of the leg to it. The
    /// session ends with [`MediaControl::delete`].
    fn echo(
        &self,
        call_id: &str,
        tag: &str,
        offer: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError>;
}

/// A client transaction of ours: whose it is and what for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientRef {
    /// The call; `None` for trunk pings, registrations and BYEs for stray 2xx.
    pub(crate) call: Option<CallKey>,
    pub(crate) role: ClientRole,
}

/// A server transaction a call still waits on.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ServerRef {
    pub(crate) call: CallKey,
    pub(crate) role: ServerRole,
}

/// Counters for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// INVITEs that became calls.
    pub calls_created: u64,
    /// Calls answered.
    pub calls_answered: u64,
    /// Calls ended.
    pub calls_ended: u64,
    /// New INVITEs refused with 503 because of `max_calls` or `max_cps`.
    pub overload_rejections: u64,
    /// INVITEs challenged with 407.
    pub auth_challenges: u64,
    /// INVITEs refused after a failed authentication.
    pub auth_failures: u64,
    /// Outbound calls moved to another trunk after a failure.
    pub trunk_failovers: u64,
    /// 200s to BYE sent without the CDR confirmed, after the persistence timeout.
    pub persist_timeouts: u64,
    /// 2xx answers from forks that lost, or stray 2xx, answered with ACK and BYE.
    pub late_answers_released: u64,
}

pub(crate) struct Core {
    pub(crate) config: B2buaConfig,
    pub(crate) locals: Locals,
    pub(crate) rng: Random,
    pub(crate) media: Arc<dyn MediaControl>,
    pub(crate) echo: Option<Arc<dyn EchoMedia>>,
    pub(crate) digest: DigestServer,
    pub(crate) clients: HashMap<ClientKey, ClientRef>,
    pub(crate) servers: HashMap<ServerKey, ServerRef>,
    /// In-dialog requests find their call by (Call-ID, our tag).
    pub(crate) dialogs: HashMap<(Bytes, Bytes), (CallKey, Side)>,
    pub(crate) timers: TimerQueue,
    pub(crate) events: VecDeque<CallEvent>,
    pub(crate) trunks: Vec<TrunkState>,
    /// Completion tokens waiting for `handle_call_persisted`.
    pub(crate) tokens: HashMap<u64, CallKey>,
    pub(crate) next_token: u64,
    pub(crate) stats: Stats,
    /// Calls not yet ended.
    pub(crate) active_calls: usize,
    /// Wall clock = `wall_anchor.1 + (now - wall_anchor.0)`.
    pub(crate) wall_anchor: (Instant, SystemTime),
}

impl Core {
    pub(crate) fn wall(&self, now: Instant) -> SystemTime {
        let (i, w) = self.wall_anchor;
        match now.checked_duration_since(i) {
            Some(d) => w + d,
            None => w.checked_sub(i.duration_since(now)).unwrap_or(w),
        }
    }

    pub(crate) fn new_token(&mut self, call: CallKey) -> u64 {
        self.next_token += 1;
        self.tokens.insert(self.next_token, call);
        self.next_token
    }
}

/// What a call's code works with during one input.
pub(crate) struct Cx<'a> {
    pub(crate) now: Instant,
    pub(crate) layer: &'a mut TransactionLayer,
    pub(crate) core: &'a mut Core,
    /// Present when the input may need slot bindings (requests and responses).
    pub(crate) locator: Option<&'a dyn Locator>,
}

impl Cx<'_> {
    pub(crate) fn wall(&self) -> SystemTime {
        self.core.wall(self.now)
    }
}
