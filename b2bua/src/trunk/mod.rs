//! Carrier trunks: configuration, and at run time their health (OPTIONS pings), call
//! limits (concurrent calls, calls per second) and registration with the carrier.

mod acl;
mod config;
pub(crate) mod register;

pub use acl::{IpNet, IpNetError};
pub use config::{CallerId, TrunkConfig, TrunkCredentials};

/// Digits, `+`, `*`, `#`, not empty.
pub(crate) fn config_is_dial_string(s: &str) -> bool {
    config::is_dial_string(s, false)
}
pub(crate) use register::Registration;

use std::time::{Duration, Instant};

use sip_core::transaction::{ClientKey, Peer};
use sip_core::{Method, Request, Uri};

use crate::limits::TokenBucket;
use crate::random::Random;
use crate::sip::msg::{BuildError, Locals, NewRequest, name_addr, new_request};

/// What a trunk says to a new outbound call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Admit,
    /// OPTIONS pings go unanswered.
    Down,
    /// At its concurrent call limit or calls-per-second limit.
    Full,
}

/// The state of a trunk, as [`crate::B2bua::trunks`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkStatus {
    /// The trunk's name.
    pub name: String,
    /// Whether it answers OPTIONS (always true without pings).
    pub reachable: bool,
    /// `None` when it does not register; else whether the registration is current.
    pub registered: Option<bool>,
    /// Calls through it now.
    pub active_calls: usize,
}

pub(crate) struct TrunkState {
    pub(crate) config: TrunkConfig,
    pub(crate) up: bool,
    pub(crate) active: usize,
    cps: Option<TokenBucket>,
    pub(crate) options_due: Option<Instant>,
    pub(crate) options_key: Option<ClientKey>,
    pub(crate) registration: Option<Registration>,
}

impl TrunkState {
    pub(crate) fn new(config: TrunkConfig, now: Instant, rng: &mut Random) -> TrunkState {
        // Spread the first pings so that many trunks do not fire at once.
        let options_due = config
            .options_interval
            .map(|_| now + Duration::from_millis(rng.below(1000)));
        let registration = config.register.then(|| Registration::new(now, rng));
        TrunkState {
            cps: config.max_cps.map(TokenBucket::new),
            up: true,
            active: 0,
            options_due,
            options_key: None,
            registration,
            config,
        }
    }

    pub(crate) fn status(&self) -> TrunkStatus {
        TrunkStatus {
            name: self.config.name.clone(),
            reachable: self.up,
            registered: self.registration.as_ref().map(Registration::is_registered),
            active_calls: self.active,
        }
    }

    /// Whether a new outbound call may use the trunk now; takes a calls-per-second
    /// token when it may.
    pub(crate) fn admit(&mut self, now: Instant) -> Admission {
        if !self.up {
            return Admission::Down;
        }
        if self.config.max_calls.is_some_and(|m| self.active >= m) {
            return Admission::Full;
        }
        if let Some(b) = &mut self.cps
            && !b.try_take(now)
        {
            return Admission::Full;
        }
        Admission::Admit
    }

    /// Whether an inbound call fits the concurrent-call limit.
    pub(crate) fn admit_inbound(&self) -> bool {
        self.config.max_calls.is_none_or(|m| self.active < m)
    }

    /// The Request-URI for a number (or for the trunk itself with `None`).
    pub(crate) fn uri(&self, user: Option<&str>) -> Result<Uri, BuildError> {
        Ok(Uri::sip(user, &self.config.host, self.config.port)?)
    }

    /// Where requests go, first choice first.
    pub(crate) fn peers(&self) -> impl Iterator<Item = Peer> + '_ {
        self.config.addresses.iter().map(|a| Peer {
            transport: self.config.transport,
            addr: *a,
            connection: None,
        })
    }

    /// The OPTIONS ping to send now.
    pub(crate) fn options_request(
        &self,
        locals: &Locals,
        rng: &mut Random,
        domain: &str,
    ) -> Result<(Request, Peer), BuildError> {
        let peer = self
            .peers()
            .next()
            .ok_or(BuildError::Sip("trunk without address".into()))?;
        let uri = self.uri(None)?;
        let from = name_addr(None, &format!("sip:vss@{domain}"), Some(&rng.tag()));
        let to = name_addr(None, &uri.to_string(), None);
        let call_id = rng.call_id();
        let mut r = new_request(NewRequest {
            method: Method::Options,
            uri,
            from: &from,
            to: &to,
            call_id: &call_id,
            cseq: 1,
        });
        locals.stamp_via(&mut r, &peer, &rng.branch())?;
        locals.add_user_agent(&mut r);
        Ok((r, peer))
    }

    /// The ping got an answer (`true`) or none (`false`); returns whether the trunk
    /// changed state.
    pub(crate) fn options_result(&mut self, now: Instant, answered: bool) -> bool {
        self.options_key = None;
        self.options_due = self.config.options_interval.map(|i| now + i);
        let changed = self.up != answered;
        self.up = answered;
        changed
    }
}
