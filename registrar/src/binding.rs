//! Bindings (RFC 3261 §10: an AOR bound to a contact address) and the events the
//! registrar reports about them.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sip_core::Uri;
use sip_core::transaction::Peer;

use crate::extension::Extension;

/// Names one binding for as long as it lives in this process (ids are not reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BindingId(pub(crate) u64);

impl BindingId {
    /// The number, for logs.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for BindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b{}", self.0)
    }
}

/// One registered contact of a slot, with where its REGISTER really came from.
///
/// Requests to the slot go to [`source`](Self::source) — the address, port, transport
/// and connection the REGISTER arrived on — not to the host in the contact URI, which
/// behind NAT is a private address (RFC 3581, and what Kamailio's `fix_nated_register`
/// achieves). Cloning is cheap: the strings are shared.
#[derive(Clone)]
pub struct Binding {
    pub(crate) id: BindingId,
    pub(crate) extension: Extension,
    /// The contact URI, in its own buffer (never a slice of a request).
    pub(crate) contact: Uri,
    pub(crate) q: Option<u16>,
    pub(crate) call_id: Arc<str>,
    pub(crate) cseq: u32,
    pub(crate) expires_at: Instant,
    pub(crate) registered_at: Instant,
    pub(crate) updated_at: Instant,
    pub(crate) source: Peer,
    pub(crate) user_agent: Option<Arc<str>>,
    pub(crate) reachable: bool,
    /// An OPTIONS for this binding was handed out and not answered yet.
    pub(crate) qualify_pending: bool,
    /// When the next OPTIONS is due (the key of the qualify schedule), if qualified.
    pub(crate) qualify_due: Option<Instant>,
}

impl Binding {
    /// The id.
    pub fn id(&self) -> BindingId {
        self.id
    }

    /// The slot (AOR user).
    pub fn extension(&self) -> Extension {
        self.extension
    }

    /// The contact URI as registered.
    pub fn contact(&self) -> &Uri {
        &self.contact
    }

    /// The `q` preference in thousandths (RFC 3261 §20.10), if the contact gave one.
    pub fn q(&self) -> Option<u16> {
        self.q
    }

    /// The Call-ID of the REGISTER that created or last refreshed the binding.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The CSeq number of that REGISTER.
    pub fn cseq(&self) -> u32 {
        self.cseq
    }

    /// When the binding expires.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    /// Time left before expiry at `now` (zero once expired).
    pub fn expires_in(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }

    /// When the binding was first created (in this process, or as restored).
    pub fn registered_at(&self) -> Instant {
        self.registered_at
    }

    /// When the binding was last added or refreshed.
    pub fn updated_at(&self) -> Instant {
        self.updated_at
    }

    /// Where the REGISTER came from: send requests for the slot here.
    pub fn source(&self) -> Peer {
        self.source
    }

    /// The User-Agent of the REGISTER, if any (at most 128 characters).
    pub fn user_agent(&self) -> Option<&str> {
        self.user_agent.as_deref()
    }

    /// False after the binding stopped answering OPTIONS (qualify), until it answers.
    pub fn is_reachable(&self) -> bool {
        self.reachable
    }
}

impl fmt::Debug for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Binding")
            .field("id", &self.id)
            .field("extension", &self.extension)
            .field("contact", &self.contact.to_string())
            .field("source", &self.source)
            .field("q", &self.q)
            .field("call_id", &self.call_id)
            .field("cseq", &self.cseq)
            .field("reachable", &self.reachable)
            .finish_non_exhaustive()
    }
}

/// What happened to a binding. Each carries the binding as it is (or was, for the
/// removals): its extension, contact and source address.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum BindingEvent {
    /// A REGISTER created the binding.
    Added(Binding),
    /// A REGISTER renewed or updated the binding (new expiry, possibly a new Call-ID or
    /// source address after a device reboot or a NAT rebinding).
    Refreshed(Binding),
    /// A REGISTER removed it (expiry 0, `Contact: *`), or it made room for a newer
    /// contact of the same AOR, or its slot was deprovisioned.
    Removed(Binding),
    /// Its time ran out.
    Expired(Binding),
    /// It stopped answering OPTIONS.
    Unreachable(Binding),
    /// It answers OPTIONS again.
    Reachable(Binding),
}

impl BindingEvent {
    /// The binding the event is about.
    pub fn binding(&self) -> &Binding {
        match self {
            BindingEvent::Added(b)
            | BindingEvent::Refreshed(b)
            | BindingEvent::Removed(b)
            | BindingEvent::Expired(b)
            | BindingEvent::Unreachable(b)
            | BindingEvent::Reachable(b) => b,
        }
    }

    /// A short lowercase name (`added`, `refreshed`, ...), for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            BindingEvent::Added(_) => "added",
            BindingEvent::Refreshed(_) => "refreshed",
            BindingEvent::Removed(_) => "removed",
            BindingEvent::Expired(_) => "expired",
            BindingEvent::Unreachable(_) => "unreachable",
            BindingEvent::Reachable(_) => "reachable",
        }
    }
}
