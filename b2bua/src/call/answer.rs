//! A side answered: its leg, the SDP answer (or late offer) through the media engine,
//! the caller's 200, and the call's switch to the answered phase.

use bytes::Bytes;
use sip_core::dialog::Dialog;
use sip_core::transaction::Peer;
use sip_core::{Response, StatusCode};

use super::{Call, CallTimer, Leg, Phase, Setup, Side};
use crate::core::Cx;
use crate::event::{CallEvent, HangupSide};
use crate::sip::msg::{allows, sdp_body};
use crate::sip::sdp::{OriginStamp, first_audio_codec};
use crate::sip::session_timer::{UasOutcome, uac_result};

impl Call {
    /// A leg for a side we called, from its 2xx.
    pub(crate) fn uac_leg_for(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        dialog: Dialog,
        peer: Peer,
        response: &Response,
    ) -> Leg {
        let contact = cx
            .core
            .locals
            .contact(peer.transport, None)
            .unwrap_or_default();
        let idx = if side == Side::A { 0 } else { 1 };
        let origin = self.origins[idx]
            .take()
            .unwrap_or_else(|| OriginStamp::new(cx.core.rng.below(u64::from(u32::MAX))));
        let mut leg = Leg::new(dialog, peer, contact, origin);
        leg.allows_update = allows(&response.headers, "UPDATE");
        if cx.core.config.session_expires.is_some() {
            leg.timer = uac_result(&response.headers);
        }
        self.index_dialog(cx, side, &leg.dialog);
        leg
    }

    pub(super) fn set_leg(&mut self, side: Side, mut leg: Leg, offer: Option<Bytes>) {
        leg.last_sdp_sent = offer;
        match side {
            Side::A => self.a = Some(leg),
            Side::B => self.b = Some(leg),
        }
    }

    /// The callee answered (its leg is in place).
    pub(super) fn b_answered(&mut self, cx: &mut Cx<'_>, response: Response) {
        let sdp = sdp_body(&response.headers, &response.body);
        let media_id = self.media_id();
        let (tag_a, tag_b) = (self.tags[0].clone(), self.tags[1].clone());
        let originated = self.info.direction == crate::event::CallDirection::Originate;
        if originated || self.a_offered {
            // The 2xx answers our offer (a reliable 183 may have answered it already).
            let answer = match &sdp {
                Some(s) => cx
                    .core
                    .media
                    .answer(&media_id, &tag_a, &tag_b, s, &self.sdp_opts(Side::B))
                    .map(Some),
                None if self.early_sdp_sent || originated => Ok(None),
                None => Err(media::MediaError::NotAcceptable("2xx without an answer")),
            };
            if let Some(b) = self.b.as_mut() {
                if let Some(s) = &sdp {
                    b.note_remote_sdp(s);
                }
                if let Err(e) = b.ack(cx, &response, None) {
                    tracing::warn!(error = %e, "ACK not sent");
                }
            }
            match answer {
                Ok(for_a) => {
                    if let Some(s) = &sdp {
                        self.codec = first_audio_codec(s);
                    }
                    if !originated {
                        let body =
                            for_a.or_else(|| self.a.as_ref().and_then(|a| a.last_sdp_sent.clone()));
                        self.answer_a(cx, body.as_deref());
                    }
                    self.answered(cx);
                }
                Err(e) => {
                    tracing::info!(call = %self.id, error = %e, "callee's answer refused by the media engine");
                    self.end(
                        cx,
                        HangupSide::System,
                        StatusCode::NOT_ACCEPTABLE_HERE,
                        "media refused the answer",
                        None,
                    );
                }
            }
            return;
        }
        // Late offer: the callee's 2xx offers; the caller answers in its ACK, and the
        // callee's ACK waits for that answer.
        let offer = sdp.as_ref().map(|s| {
            cx.core
                .media
                .offer(&media_id, &tag_b, s, &self.sdp_opts(Side::B))
        });
        match offer {
            Some(Ok(for_a)) => {
                self.media_opened(cx);
                if let (Some(b), Some(s)) = (self.b.as_mut(), &sdp) {
                    b.note_remote_sdp(s);
                }
                self.late_offer = Some(response);
                self.answer_a(cx, Some(&for_a));
                self.answered(cx);
            }
            _ => {
                if let Some(b) = self.b.as_mut() {
                    let _ = b.ack(cx, &response, None);
                }
                self.end(
                    cx,
                    HangupSide::System,
                    StatusCode::NOT_ACCEPTABLE_HERE,
                    "no usable offer from the callee",
                    None,
                );
            }
        }
    }

    /// Send the caller its 200 (with our Session-Expires), confirming its dialog.
    pub(super) fn answer_a(&mut self, cx: &mut Cx<'_>, sdp: Option<&[u8]>) {
        let tag_a = self.tags[0].clone();
        let (Setup::Inbound(inb), Some(a)) = (&mut self.a_setup, self.a.as_mut()) else {
            return;
        };
        let mut ok =
            cx.core
                .locals
                .dialog_response(&inb.invite, StatusCode::OK, &tag_a, &a.contact);
        if let Some(s) = sdp {
            ok.set_body("application/sdp", a.outgoing_sdp(s));
        }
        if let UasOutcome::Timer {
            timer,
            session_expires,
            require_timer,
        } = &self.a_timer
        {
            ok.headers.push(
                sip_core::HeaderName::SessionExpires,
                session_expires.clone(),
            );
            if *require_timer {
                ok.headers
                    .push(sip_core::HeaderName::Require, Bytes::from_static(b"timer"));
            }
            a.timer = Some(*timer);
        }
        let _ = a.dialog.handle_sent_response(&ok);
        inb.final_response(cx, &mut self.owner, ok);
    }

    /// The echo service answers the caller itself.
    pub(crate) fn answer_echo(&mut self, cx: &mut Cx<'_>, sdp: &[u8]) {
        self.answer_a(cx, Some(sdp));
        self.answered(cx);
    }

    /// Once the caller has its final response, its INVITE is no longer needed (a call
    /// keeps what it needs for hours; the INVITE would pin the whole datagram).
    pub(crate) fn release_inbound(&mut self) {
        if let Setup::Inbound(inb) = &self.a_setup
            && inb.final_sent
        {
            self.a_setup = Setup::None;
        }
    }

    /// Both sides are up.
    pub(super) fn answered(&mut self, cx: &mut Cx<'_>) {
        self.phase = Phase::Answered;
        self.info.answer = Some(cx.wall());
        cx.core.stats.calls_answered += 1;
        self.owner.disarm(CallTimer::Ring(Side::A));
        self.owner.disarm(CallTimer::Ring(Side::B));
        if let Some(max) = cx.core.config.max_duration {
            self.owner.arm(cx, CallTimer::MaxDuration, cx.now + max);
        }
        self.arm_session_timer(cx, Side::A);
        self.arm_session_timer(cx, Side::B);
        self.release_inbound();
        if let Setup::Outgoing(o) = &mut self.b_setup {
            o.shrink();
        }
        if let Setup::Outgoing(o) = &mut self.a_setup {
            o.shrink();
        }
        cx.core.events.push_back(CallEvent::Answered {
            call: self.id,
            at: cx.wall(),
        });
    }
}
