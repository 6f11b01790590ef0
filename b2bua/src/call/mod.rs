//! One call: two sides (A, the caller — for originate, the slot — and B, the callee),
//! each set up by an [`Inbound`] INVITE we answer or an [`Outgoing`] INVITE we send, and
//! each with its own [`Leg`] (dialog) once it exists. Nothing of one side's SIP identity
//! reaches the other: every message is built from the leg it is sent on.

mod answer;
mod branch;
mod end;
mod flow;
mod inbound;
mod leg;
mod originate;
mod outgoing;
mod refresh;
mod relay;

pub(crate) use inbound::Inbound;
pub(crate) use leg::Leg;
pub(crate) use outgoing::{Outgoing, OutgoingSpec, Target};
pub(crate) use relay::Relay;

use std::time::{Instant, SystemTime};

use sip_core::dialog::Dialog;
use sip_core::transaction::{ClientKey, Peer, ServerKey};
use sip_core::{HeaderName, Message, Method, Request, Response};

use crate::core::{ClientRef, Cx, ServerRef};
use crate::event::{CallDirection, CallId};
use crate::sip::msg::BuildError;
use crate::timers::{Deadlines, Target as TimerTarget};

/// 0 for A, 1 for B.
pub(crate) fn side_index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}

/// Internal key of a call (never reused).
pub(crate) type CallKey = u64;

/// The two sides of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Side {
    A,
    B,
}

impl Side {
    pub(crate) fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// The deadlines of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CallTimer {
    /// The outgoing INVITE of a side was not answered in time.
    Ring(Side),
    /// A trunk branch got no response at all in time.
    NoResponse(Side, u16),
    /// The call reached its maximum duration.
    MaxDuration,
    /// The CDR was not confirmed in time; answer the BYE anyway.
    Persist,
    /// Retransmit our reliable provisional to A (RFC 3262 §3).
    Reliable,
    /// Send a session refresh on a side (RFC 4028 §10).
    Refresh(Side),
    /// The peer of a side did not refresh in time (RFC 4028 §10).
    Expire(Side),
}

/// What one of our client transactions is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientRole {
    /// An initial INVITE branch of a side's setup.
    Invite { side: Side, branch: u16 },
    /// A CANCEL (its answer needs nothing).
    Cancel,
    /// A BYE.
    Bye { side: Side },
    /// A request relayed from the other side.
    Relay { side: Side, relay: u32 },
    /// Our session refresh.
    Refresh { side: Side },
    /// Our PRACK for a reliable provisional.
    Prack,
    /// An OPTIONS ping of a trunk.
    TrunkOptions(usize),
    /// A REGISTER of a trunk.
    TrunkRegister(usize),
    /// The BYE for a 2xx that matched nothing.
    StrayBye,
}

/// What one of the server transactions a call waits on is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerRole {
    /// A's initial INVITE.
    Invite,
    /// A request from `side` relayed to the other side.
    Relay { side: Side, relay: u32 },
    /// A BYE from `side` whose 200 waits for the CDR.
    Bye { side: Side },
    /// A re-INVITE answered locally, kept for its ACK.
    Local { side: Side },
}

/// Where the call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Being set up (for originate: either leg).
    Setup,
    /// Both sides answered.
    Answered,
    /// Ended; waiting for transactions to finish and the CDR to be confirmed.
    Ended,
}

/// How a side is being set up.
pub(crate) enum Setup {
    /// Nothing (the B side of an echo call).
    None,
    /// We answer the side's INVITE.
    Inbound(Box<Inbound>),
    /// We call the side.
    Outgoing(Box<Outgoing>),
}

/// The call-level facts a CDR needs.
#[derive(Debug, Clone)]
pub(crate) struct CallInfo {
    pub(crate) direction: CallDirection,
    pub(crate) src: String,
    pub(crate) dst: String,
    pub(crate) slot: Option<String>,
    pub(crate) trunk: Option<usize>,
    pub(crate) campaign_id: Option<String>,
    pub(crate) lead_id: Option<String>,
    pub(crate) record: bool,
    pub(crate) start: SystemTime,
    pub(crate) answer: Option<SystemTime>,
}

/// What an originated call still has to do when the slot answers.
#[derive(Debug, Clone)]
pub(crate) struct OriginatePlan {
    pub(crate) number: String,
    pub(crate) caller_id: Option<String>,
    pub(crate) ring_timeout: std::time::Duration,
}

/// A BYE whose 200 waits for the CDR.
#[derive(Debug, Clone)]
pub(crate) struct PersistWait {
    pub(crate) key: ServerKey,
    pub(crate) request: Request,
    pub(crate) token: u64,
}

/// A call's handle on the shared state: its key, the transactions it waits on and its
/// deadlines.
pub(crate) struct Owner {
    pub(crate) key: CallKey,
    /// Transactions in the shared indexes that name this call.
    pub(crate) live: u32,
    pub(crate) deadlines: Deadlines<CallTimer>,
}

impl Owner {
    /// Send a request in a new client transaction and remember what it is for.
    pub(crate) fn send(
        &mut self,
        cx: &mut Cx<'_>,
        request: Request,
        peer: Peer,
        role: ClientRole,
    ) -> Result<ClientKey, BuildError> {
        let key = cx.layer.send_request(cx.now, request, peer)?;
        cx.core.clients.insert(
            key,
            ClientRef {
                call: Some(self.key),
                role,
            },
        );
        self.live += 1;
        Ok(key)
    }

    /// Remember a server transaction the call waits on.
    pub(crate) fn track(&mut self, cx: &mut Cx<'_>, key: ServerKey, role: ServerRole) {
        if cx
            .core
            .servers
            .insert(
                key,
                ServerRef {
                    call: self.key,
                    role,
                },
            )
            .is_none()
        {
            self.live += 1;
        }
    }

    /// Answer in a server transaction; a refusal by the layer (the transaction is gone)
    /// is logged, since there is nobody left to answer.
    pub(crate) fn respond(&self, cx: &mut Cx<'_>, key: &ServerKey, response: Response) {
        if let Err(e) = cx.layer.send_response(cx.now, key, response) {
            tracing::debug!(error = %e, "response not sent");
        }
    }

    pub(crate) fn arm(&mut self, cx: &mut Cx<'_>, timer: CallTimer, at: Instant) {
        self.deadlines.arm(timer, at);
        cx.core.timers.push(at, TimerTarget::Call(self.key, timer));
    }

    pub(crate) fn disarm(&mut self, timer: CallTimer) {
        self.deadlines.disarm(timer);
    }
}

/// One call.
pub(crate) struct Call {
    pub(crate) owner: Owner,
    pub(crate) id: CallId,
    pub(crate) info: CallInfo,
    pub(crate) phase: Phase,
    /// Our tag toward each side, which also names the side to the media engine.
    pub(crate) tags: [String; 2],
    pub(crate) a_setup: Setup,
    pub(crate) b_setup: Setup,
    pub(crate) a: Option<Leg>,
    pub(crate) b: Option<Leg>,
    /// A sent no SDP; B's 2xx offer went to A and B's ACK waits for A's answer.
    pub(crate) late_offer: Option<Response>,
    pub(crate) relays: Vec<Relay>,
    pub(crate) next_relay: u32,
    pub(crate) persist: Option<PersistWait>,
    pub(crate) media_open: bool,
    pub(crate) codec: Option<String>,
    pub(crate) ringing: bool,
    pub(crate) early_sdp_sent: bool,
    pub(crate) originate: Option<OriginatePlan>,
    /// The trunk whose call counter this call holds.
    pub(crate) trunk_held: Option<usize>,
    /// A's INVITE offered SDP (else late offer).
    pub(crate) a_offered: bool,
    /// Our `o=` line per side, until the side's leg takes it over.
    pub(crate) origins: [Option<crate::sip::sdp::OriginStamp>; 2],
    /// The SIP Call-ID of each side.
    pub(crate) sip_call_ids: [Option<String>; 2],
    /// The completion token of the Ended event.
    pub(crate) token: Option<u64>,
    /// Session-Expires for A's 2xx, negotiated from A's INVITE.
    pub(crate) a_timer: crate::sip::session_timer::UasOutcome,
    /// Per side: its SDP addresses are trusted (a carrier, whose media gateway often is
    /// not its signalling address); otherwise media goes to the address its SIP came
    /// from until the relay latches (a slot behind NAT writes a private `c=`).
    pub(crate) trusted: [bool; 2],
}

impl Call {
    /// A call to the echo service (the only service that answers): there is no B side,
    /// and A's new offers go to the media engine's echo.
    pub(crate) fn is_echo(&self) -> bool {
        self.info.direction == CallDirection::Service
    }

    pub(crate) fn new(key: CallKey, id: CallId, info: CallInfo, tags: [String; 2]) -> Call {
        Call {
            owner: Owner {
                key,
                live: 0,
                deadlines: Deadlines::default(),
            },
            id,
            info,
            phase: Phase::Setup,
            tags,
            a_setup: Setup::None,
            b_setup: Setup::None,
            a: None,
            b: None,
            late_offer: None,
            relays: Vec::new(),
            next_relay: 0,
            persist: None,
            media_open: false,
            codec: None,
            ringing: false,
            early_sdp_sent: false,
            originate: None,
            trunk_held: None,
            a_offered: false,
            origins: [None, None],
            sip_call_ids: [None, None],
            token: None,
            a_timer: crate::sip::session_timer::UasOutcome::None,
            trusted: [false, false],
        }
    }

    /// Options for SDP written by `side`, whose SIP came from `from`.
    pub(crate) fn sdp_opts_from(
        &self,
        side: Side,
        from: Option<std::net::IpAddr>,
    ) -> media::SdpOptions {
        let mut o = media::SdpOptions::default();
        o.replace_origin = true;
        if self.trusted[side_index(side)] {
            o.trust_address = true;
        } else {
            o.received_from = from;
        }
        o
    }

    /// Options for SDP written by `side`, which has its leg.
    pub(crate) fn sdp_opts(&self, side: Side) -> media::SdpOptions {
        self.sdp_opts_from(side, self.leg(side).map(|l| l.peer.addr.ip()))
    }

    /// The media engine's id of the call.
    pub(crate) fn media_id(&self) -> String {
        self.id.to_string()
    }

    pub(crate) fn tag(&self, side: Side) -> &str {
        match side {
            Side::A => &self.tags[0],
            Side::B => &self.tags[1],
        }
    }

    pub(crate) fn leg_mut(&mut self, side: Side) -> Option<&mut Leg> {
        match side {
            Side::A => self.a.as_mut(),
            Side::B => self.b.as_mut(),
        }
    }

    pub(crate) fn leg(&self, side: Side) -> Option<&Leg> {
        match side {
            Side::A => self.a.as_ref(),
            Side::B => self.b.as_ref(),
        }
    }

    /// Ended, nothing in flight and the CDR confirmed (or given up on): the call can go.
    pub(crate) fn is_finished(&self) -> bool {
        self.phase == Phase::Ended && self.owner.live == 0 && self.persist.is_none()
    }

    /// Register a leg's dialog in the index that routes in-dialog requests.
    pub(crate) fn index_dialog(&self, cx: &mut Cx<'_>, side: Side, dialog: &Dialog) {
        let id = dialog.id();
        cx.core.dialogs.insert(
            (id.call_id.clone(), id.local_tag.clone()),
            (self.owner.key, side),
        );
    }

    /// Forget this call's dialogs in the index.
    pub(crate) fn unindex(&self, core: &mut crate::core::Core) {
        for leg in [&self.a, &self.b].into_iter().flatten() {
            let id = leg.dialog.id();
            core.dialogs
                .remove(&(id.call_id.clone(), id.local_tag.clone()));
        }
    }
}

/// ACK and BYE a 2xx to INVITE that no call wants (a losing fork, an answer after
/// CANCEL, a stray retransmission): RFC 3261 §13.2.2.4 needs the ACK; the BYE ends the
/// unwanted dialog (§15). `request` is the INVITE we sent, when known.
pub(crate) fn release_2xx(
    cx: &mut Cx<'_>,
    request: Option<&Request>,
    response: &Response,
    peer: Peer,
) {
    let pseudo;
    let request = match request {
        Some(r) => r,
        None => {
            // Enough of the INVITE to make a dialog: its From (with our tag), To, Call-ID
            // and CSeq are those of the response.
            let Ok(to) = response.headers.to() else {
                return;
            };
            let mut r = Request::new(Method::Invite, to.uri().clone());
            for name in [
                HeaderName::From,
                HeaderName::To,
                HeaderName::CallId,
                HeaderName::CSeq,
            ] {
                if let Some(h) = response.headers.get(&name) {
                    r.headers.push_header(h.clone());
                }
            }
            pseudo = r;
            &pseudo
        }
    };
    let mut dialog = match Dialog::uac(request, response) {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(error = %e, "2xx to release carries no usable dialog");
            return;
        }
    };
    cx.core.stats.late_answers_released += 1;
    if let Ok(mut ack) = dialog.create_ack(response) {
        let branch = cx.core.rng.branch();
        if cx.core.locals.stamp_via(&mut ack, &peer, &branch).is_ok() {
            cx.layer.send_stateless(peer, Message::Request(ack));
        }
    }
    let Ok(mut bye) = dialog.create_request(Method::Bye) else {
        return;
    };
    let branch = cx.core.rng.branch();
    if cx.core.locals.stamp_via(&mut bye, &peer, &branch).is_err() {
        return;
    }
    cx.core.locals.add_user_agent(&mut bye);
    match cx.layer.send_request(cx.now, bye, peer) {
        Ok(key) => {
            cx.core.clients.insert(
                key,
                ClientRef {
                    call: None,
                    role: ClientRole::StrayBye,
                },
            );
        }
        Err(e) => tracing::debug!(error = %e, "BYE for a released 2xx not sent"),
    }
}
