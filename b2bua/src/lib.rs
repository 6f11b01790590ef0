//! B2BUA (flow F-03): calls between slots, services and carrier trunks.
//!
//! Every call has two legs with independent dialogs — a caller side (A) and a callee
//! side (B) — and nothing of one side's SIP identity (Call-ID, tags, Via, Contact,
//! Record-Route, SDP origin) reaches the other. SDP always goes through the media engine
//! ([`media::MediaControl`]): the caller's offer becomes the relay's offer to the
//! callee, the callee's answer the relay's answer to the caller, and re-INVITEs and
//! UPDATEs update the session in place.
//!
//! [`B2bua`] is a transaction user over sip-core's [`TransactionLayer`], sans-IO like
//! it: the binary's SIP core task hands it the layer's events, the media engine's
//! events and the time, and drains [`CallEvent`]s; see [`B2bua`] for the call order.
//! Slots are found through the [`Locator`] trait (the binary adapts the registrar).
//!
//! # What it does
//!
//! - Routing by the numbering plan: 6001–8999 fork to every binding of the slot (first
//!   2xx wins, the others are cancelled, 480 when none is registered); 9001 is the echo
//!   service ([`EchoMedia`]); any other number goes to the trunk with the longest
//!   matching prefix, failing over to the next on 408, 5xx or no response at all.
//!   Calls from a carrier (recognised by source address) to a DID ring its slot.
//! - Callers are authenticated: slots by digest (407 with Proxy-Authenticate, MD5 and
//!   SHA-256), carriers by their trunk's ACL. Carriers' own 401/407 are answered once
//!   with the trunk's credentials.
//! - Trunks: per-trunk concurrent call and calls-per-second limits, caller-ID
//!   presentation (From, P-Asserted-Identity), OPTIONS pings (a trunk that stops
//!   answering is skipped), registration with refresh and backoff.
//! - Originate (click-to-call): [`B2bua::originate`], [`B2bua::hangup`].
//! - Overload: beyond `max_calls` or `max_cps`, new INVITEs get 503 with Retry-After.
//! - Relayed inside calls: 180/183 with early media, re-INVITE (hold, resume, codec
//!   change), UPDATE, INFO; BYE from either side; CANCEL.
//! - Timers: ring timeout, maximum duration, session timers (RFC 4028) per leg, media
//!   timeout (from the media engine), 2xx never acknowledged (Timer L), and the CDR
//!   persistence wait.
//!
//! # Decisions
//!
//! - **100rel is terminated per leg** (RFC 3262): we send `Supported: 100rel` to callees
//!   and PRACK their reliable provisionals ourselves; a caller that lists 100rel in
//!   Supported or Require gets our provisionals reliably (RSeq, retransmitted until its
//!   PRACK, the 2xx held while a provisional with SDP is unacknowledged). No PRACK
//!   crosses the B2BUA, so neither side depends on the other's 100rel support.
//! - **Session timers per leg** (RFC 4028): each leg negotiates its own interval and
//!   refresher; we refresh with UPDATE when the peer allows it (else a re-INVITE with the
//!   unchanged description), and a refresh from a peer with no SDP change is answered at
//!   its leg without disturbing the other. A leg whose refreshes stop, or whose refresh
//!   fails with 408/481/timeout, ends the call with BYE both ways.
//! - **Originate uses the relay's own offer**: the slot is offered G.711 (A-law, µ-law)
//!   and telephone-event pointing at the relay; its answer, narrowed to one codec,
//!   becomes the offer to the destination. No re-INVITE of the slot and no transcoding.
//! - **Media addresses**: SDP from a slot is sent with `received_from` = the address
//!   its SIP came from (a phone behind NAT writes a private `c=`; the relay then sends
//!   there until it latches); SDP from a carrier is trusted as written
//!   (`trust_address`), since carriers' media gateways are often not their SIP address.
//! - **CDR before the 200 to BYE**: a BYE ends the call at once toward the other side;
//!   its own 200 waits for [`B2bua::handle_call_persisted`] (at most
//!   [`B2buaConfig::persist_timeout`], then it is sent anyway with an error log).
//! - **Error mapping** toward the caller: 486/600 → 486, 404/410/484/604 → 404, 408 →
//!   408, 480 and 3xx → 480, 488/606 → 488, 403 → 403, 603 → 603, everything else
//!   (5xx, a carrier's refused credentials, other 4xx about the hop) → 502. Our own ring
//!   timeout is 480.
//!
//! [`TransactionLayer`]: sip_core::transaction::TransactionLayer

mod call;
mod config;
mod core;
mod engine;
mod error;
mod event;
mod limits;
mod locator;
mod random;
mod route;
mod routing;
mod sip;
mod timers;
pub mod trunk;

pub use config::{B2buaConfig, LocalAddr};
pub use core::{EchoMedia, Stats};
pub use engine::{B2bua, OriginateOptions};
pub use error::{ConfigError, HangupError, OriginateError};
pub use event::{
    CallCreated, CallDirection, CallEnded, CallEvent, CallId, CompletionToken, Disposition,
    HangupSide, Recording,
};
pub use locator::{Binding, Locator, SlotCredentials};
pub use trunk::{CallerId, IpNet, TrunkConfig, TrunkCredentials, TrunkStatus};
