//! How a call reacts while it is set up and running: provisionals and answers from a
//! side we call, CANCEL and ACK from the caller, timers, media timeouts.

use bytes::Bytes;
use sip_core::transaction::{Peer, Timer};
use sip_core::{Request, Response, StatusCode};

use super::outgoing::OutEvent;
use super::{Call, CallTimer, ClientRole, Leg, Owner, Phase, ServerRole, Setup, Side};
use crate::core::Cx;
use crate::event::{CallEvent, HangupSide};
use crate::sip::msg::sdp_body;
use crate::sip::sdp::first_audio_codec;

/// What the caller gets for a callee's final error: codes that say something about the
/// callee pass, codes about the hop behind us (its authentication, its server errors)
/// become 502, redirections (not followed) 480.
pub(crate) fn map_final(s: StatusCode) -> StatusCode {
    match s.as_u16() {
        486 | 600 => StatusCode::BUSY_HERE,
        404 | 410 | 484 | 604 => StatusCode::NOT_FOUND,
        408 => StatusCode::REQUEST_TIMEOUT,
        480 | 300..=399 => StatusCode::TEMPORARILY_UNAVAILABLE,
        487 => StatusCode::REQUEST_TERMINATED,
        488 | 606 => StatusCode::NOT_ACCEPTABLE_HERE,
        403 => StatusCode::FORBIDDEN,
        603 => StatusCode::DECLINE,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Whether a failure is the callee's own answer (else ours or the network's).
fn callee_said(s: StatusCode) -> bool {
    matches!(s.as_u16(), 403 | 404 | 410 | 480 | 484..=486 | 488 | 600..=699)
}

impl Call {
    /// Borrow a side's leg and the owner at once.
    pub(crate) fn leg_owner(&mut self, side: Side) -> (Option<&mut Leg>, &mut Owner) {
        let leg = match side {
            Side::A => self.a.as_mut(),
            Side::B => self.b.as_mut(),
        };
        (leg, &mut self.owner)
    }

    /// Borrow a side's setup and the owner at once.
    pub(crate) fn setup_owner(&mut self, side: Side) -> (&mut Setup, &mut Owner) {
        let setup = match side {
            Side::A => &mut self.a_setup,
            Side::B => &mut self.b_setup,
        };
        (setup, &mut self.owner)
    }

    /// A response of one of our client transactions.
    pub(crate) fn on_client_response(&mut self, cx: &mut Cx<'_>, role: ClientRole, resp: Response) {
        match role {
            ClientRole::Invite { side, branch } => {
                let ev = match self.setup_owner(side) {
                    (Setup::Outgoing(out), owner) => {
                        out.on_response(cx, owner, usize::from(branch), resp)
                    }
                    _ => return,
                };
                self.on_out_event(cx, side, ev);
            }
            ClientRole::Relay { side, relay } => self.on_relay_response(cx, side, relay, resp),
            ClientRole::Refresh { side } => self.on_refresh_response(cx, side, Some(resp)),
            ClientRole::Bye { .. } | ClientRole::Cancel | ClientRole::Prack => {}
            ClientRole::TrunkOptions(_) | ClientRole::TrunkRegister(_) | ClientRole::StrayBye => {}
        }
    }

    /// One of our client transactions timed out or could not be sent.
    pub(crate) fn on_client_failure(
        &mut self,
        cx: &mut Cx<'_>,
        role: ClientRole,
        status: StatusCode,
    ) {
        match role {
            ClientRole::Invite { side, branch } => {
                let ev = match self.setup_owner(side) {
                    (Setup::Outgoing(out), owner) => {
                        out.on_failure(cx, owner, usize::from(branch), status)
                    }
                    _ => return,
                };
                self.on_out_event(cx, side, ev);
            }
            ClientRole::Relay { side, relay } => self.on_relay_failure(cx, side, relay),
            ClientRole::Refresh { side } => self.on_refresh_response(cx, side, None),
            _ => {}
        }
    }

    /// One of the server transactions we wait on timed out or failed.
    pub(crate) fn on_server_failure(
        &mut self,
        cx: &mut Cx<'_>,
        role: ServerRole,
        timer: Option<Timer>,
    ) {
        match (role, timer) {
            // RFC 3261 §13.3.1.4: a 2xx never acknowledged ends the session with BYE.
            (
                ServerRole::Invite | ServerRole::Local { .. } | ServerRole::Relay { .. },
                Some(Timer::L),
            ) => {
                self.end(
                    cx,
                    HangupSide::System,
                    StatusCode::OK,
                    "no ACK for 2xx",
                    None,
                );
            }
            (ServerRole::Invite, None) => {
                self.end(
                    cx,
                    HangupSide::System,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "caller unreachable",
                    None,
                );
            }
            _ => {}
        }
    }

    pub(crate) fn on_out_event(&mut self, cx: &mut Cx<'_>, side: Side, ev: OutEvent) {
        match ev {
            OutEvent::Nothing => {}
            OutEvent::Started { trunk } => self.hold_trunk(cx, trunk),
            OutEvent::Provisional { status, sdp, peer } => {
                self.on_provisional(cx, side, status, sdp, Some(peer))
            }
            OutEvent::Answered {
                dialog,
                peer,
                response,
                trunk,
                offer,
            } => {
                if trunk.is_some() {
                    self.info.trunk = trunk;
                    self.trusted[super::side_index(side)] = true;
                }
                self.owner.disarm(CallTimer::Ring(side));
                let leg = self.uac_leg_for(cx, side, *dialog, peer, &response);
                self.set_leg(side, leg, offer);
                match side {
                    Side::B => self.b_answered(cx, *response),
                    Side::A => self.slot_answered(cx, *response),
                }
            }
            OutEvent::Retransmitted(response) => {
                // While the caller's answer is awaited, the callee's ACK must wait too.
                if side == Side::B && self.late_offer.is_some() {
                    return;
                }
                if let Some(l) = self.leg_mut(side) {
                    l.ack_again(cx, &response);
                }
            }
            OutEvent::Failed {
                status,
                reason,
                limited,
            } => {
                if limited {
                    self.end(
                        cx,
                        HangupSide::System,
                        StatusCode::SERVICE_UNAVAILABLE,
                        &reason,
                        None,
                    );
                    return;
                }
                let hangup = if callee_said(status) {
                    if side == Side::A {
                        HangupSide::Caller
                    } else {
                        HangupSide::Callee
                    }
                } else {
                    HangupSide::System
                };
                self.end(cx, hangup, map_final(status), &reason, None);
            }
        }
    }

    fn hold_trunk(&mut self, cx: &mut Cx<'_>, trunk: Option<usize>) {
        if let Some(old) = self.trunk_held.take()
            && let Some(t) = cx.core.trunks.get_mut(old)
        {
            t.active = t.active.saturating_sub(1);
        }
        if let Some(i) = trunk
            && let Some(t) = cx.core.trunks.get_mut(i)
        {
            self.trusted[1] = true;
            t.active += 1;
            self.trunk_held = Some(i);
            self.info.trunk = Some(i);
        }
    }

    fn on_provisional(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        status: StatusCode,
        sdp: Option<Bytes>,
        peer: Option<Peer>,
    ) {
        if self.phase != Phase::Setup || side == Side::A {
            return;
        }
        if !self.ringing {
            self.ringing = true;
            cx.core.events.push_back(CallEvent::Ringing {
                call: self.id,
                early_media: sdp.is_some(),
                at: cx.wall(),
            });
        }
        // Early media: the callee's answer goes to the caller in a provisional (only
        // when the caller made the offer; otherwise it is the callee's offer, which goes
        // with the 2xx).
        let mut for_a = None;
        let originated = self.info.direction == crate::event::CallDirection::Originate;
        if let Some(sdp) = sdp.filter(|_| self.a_offered || originated) {
            match cx.core.media.answer(
                &self.media_id(),
                self.tag(Side::A),
                self.tag(Side::B),
                &sdp,
                &self.sdp_opts_from(Side::B, peer.map(|p| p.addr.ip())),
            ) {
                Ok(b) => for_a = Some(b),
                Err(e) => {
                    tracing::info!(call = %self.id, error = %e, "early media refused by the media engine")
                }
            }
        }
        let tag_a = self.tags[0].clone();
        if let (Setup::Inbound(inb), Some(a)) = (&mut self.a_setup, self.a.as_mut()) {
            let mut r = cx
                .core
                .locals
                .dialog_response(&inb.invite, status, &tag_a, &a.contact);
            if let Some(b) = &for_a {
                r.set_body("application/sdp", a.outgoing_sdp(b));
                self.early_sdp_sent = true;
            }
            inb.provisional(cx, &mut self.owner, r);
        }
    }

    /// The caller cancelled its INVITE (the layer answered the CANCEL).
    pub(crate) fn on_cancel(&mut self, cx: &mut Cx<'_>) {
        self.end(
            cx,
            HangupSide::Caller,
            StatusCode::REQUEST_TERMINATED,
            "caller cancelled",
            None,
        );
    }

    /// An ACK for one of our 2xx.
    pub(crate) fn on_ack(&mut self, cx: &mut Cx<'_>, side: Side, request: &Request) {
        let sdp = sdp_body(&request.headers, &request.body);
        let media_id = self.media_id();
        let (tag_side, tag_other) = (self.tag(side).to_owned(), self.tag(side.other()).to_owned());
        let opts = self.sdp_opts(side);
        if side == Side::A
            && let Some(resp) = self.late_offer.take()
        {
            let answer = sdp.as_ref().map(|s| {
                cx.core
                    .media
                    .answer(&media_id, &tag_other, &tag_side, s, &opts)
            });
            if let Some(s) = &sdp {
                self.codec = first_audio_codec(s);
                if let Some(a) = self.a.as_mut() {
                    a.note_remote_sdp(s);
                }
            }
            match answer {
                Some(Ok(for_b)) => {
                    if let Some(b) = self.b.as_mut() {
                        let body = b.outgoing_sdp(&for_b);
                        if let Err(e) = b.ack(cx, &resp, Some(body)) {
                            tracing::warn!(error = %e, "ACK not sent");
                        }
                    }
                }
                _ => {
                    if let Some(b) = self.b.as_mut() {
                        let _ = b.ack(cx, &resp, None);
                    }
                    self.end(
                        cx,
                        HangupSide::System,
                        StatusCode::OK,
                        "caller sent no usable answer",
                        None,
                    );
                }
            }
            return;
        }
        let Some(leg) = self.leg_mut(side) else {
            return;
        };
        if leg.awaiting_ack_answer {
            leg.awaiting_ack_answer = false;
            if let Some(s) = &sdp
                && !leg.note_remote_sdp(s)
                && let Err(e) = cx
                    .core
                    .media
                    .answer(&media_id, &tag_other, &tag_side, s, &opts)
            {
                tracing::info!(error = %e, "answer in ACK refused by the media engine");
            }
        }
    }

    /// A deadline of the call passed.
    pub(crate) fn on_timer(&mut self, cx: &mut Cx<'_>, timer: CallTimer) {
        match timer {
            CallTimer::Ring(side) => {
                if let (Setup::Outgoing(out), owner) = self.setup_owner(side) {
                    out.cancel(cx, owner);
                }
                let hangup = HangupSide::System;
                self.end(
                    cx,
                    hangup,
                    StatusCode::TEMPORARILY_UNAVAILABLE,
                    "no answer",
                    None,
                );
            }
            CallTimer::NoResponse(side, branch) => {
                let ev = match self.setup_owner(side) {
                    (Setup::Outgoing(out), owner) => {
                        out.on_no_response(cx, owner, usize::from(branch))
                    }
                    _ => return,
                };
                self.on_out_event(cx, side, ev);
            }
            CallTimer::MaxDuration => {
                self.end(
                    cx,
                    HangupSide::System,
                    StatusCode::OK,
                    "maximum call duration",
                    None,
                );
            }
            CallTimer::Persist => {
                cx.core.stats.persist_timeouts += 1;
                tracing::error!(call = %self.id, "CDR not confirmed in time; answering the BYE anyway");
                self.answer_bye(cx);
            }
            CallTimer::Reliable => {
                let gave_up = match self.setup_owner(Side::A) {
                    (Setup::Inbound(inb), owner) => inb.on_timer(cx, owner),
                    _ => false,
                };
                if gave_up {
                    // RFC 3262 §3: no PRACK for 64*T1: reject the INVITE with a 5xx.
                    self.end(
                        cx,
                        HangupSide::System,
                        StatusCode::SERVER_INTERNAL_ERROR,
                        "no PRACK from the caller",
                        None,
                    );
                }
            }
            CallTimer::Refresh(side) => self.send_refresh(cx, side),
            CallTimer::Expire(side) => {
                tracing::info!(call = %self.id, ?side, "session timer expired");
                self.end(
                    cx,
                    HangupSide::System,
                    StatusCode::OK,
                    "session timer expired",
                    None,
                );
            }
        }
    }

    /// The media engine saw no RTP for its timeout.
    pub(crate) fn on_media_timeout(&mut self, cx: &mut Cx<'_>) {
        if self.phase == Phase::Answered {
            self.end(
                cx,
                HangupSide::System,
                StatusCode::OK,
                "media timeout",
                None,
            );
        }
    }

    /// Track A's INVITE server transaction.
    pub(crate) fn track_invite(&mut self, cx: &mut Cx<'_>) {
        if let Setup::Inbound(inb) = &self.a_setup {
            let key = inb.key;
            self.owner.track(cx, key, ServerRole::Invite);
        }
    }
}
