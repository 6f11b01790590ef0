//! The end of a call: hang up every side that is still there, close the media session,
//! report the CDR, and hold the 200 to the BYE until the CDR is journaled (issue 6).

use sip_core::transaction::ServerKey;
use sip_core::{Request, StatusCode};

use super::{Call, CallTimer, PersistWait, Phase, ServerRole, Setup, Side};
use crate::core::Cx;
use crate::event::{CallEnded, CallEvent, CompletionToken, Disposition, HangupSide, Recording};

impl Call {
    /// End the call: `hangup` says who, `status` is what an unanswered caller gets (and
    /// the CDR code when unanswered), `from` is the side whose BYE ended it (it gets no
    /// BYE back).
    pub(crate) fn end(
        &mut self,
        cx: &mut Cx<'_>,
        hangup: HangupSide,
        status: StatusCode,
        reason: &str,
        from: Option<Side>,
    ) {
        if self.phase == Phase::Ended {
            return;
        }
        let answered = self.phase == Phase::Answered;
        self.phase = Phase::Ended;
        cx.core.active_calls = cx.core.active_calls.saturating_sub(1);
        let persist = self.owner.deadlines.get(CallTimer::Persist);
        self.owner.deadlines.clear();
        if let Some(at) = persist {
            self.owner.deadlines.arm(CallTimer::Persist, at);
        }
        self.abort_relays(cx);
        for side in [Side::A, Side::B] {
            // The side whose BYE ended the call gets no BYE back, but a pending INVITE
            // of its early dialog still gets its 487 (RFC 3261 §15.1.2).
            self.hang_up_side(cx, side, status, Some(side) != from);
        }
        if let Some(t) = self.trunk_held.take()
            && let Some(tr) = cx.core.trunks.get_mut(t)
        {
            tr.active = tr.active.saturating_sub(1);
        }
        let (media, recording) = self.close_media(cx);
        let token = cx.core.new_token(self.owner.key);
        self.token = Some(token);
        cx.core.stats.calls_ended += 1;
        let disposition = if answered {
            Disposition::Answered
        } else {
            match status.as_u16() {
                486 | 600 => Disposition::Busy,
                480 | 408 => Disposition::NoAnswer,
                487 => Disposition::Cancelled,
                _ => Disposition::Failed,
            }
        };
        tracing::debug!(call = %self.id, ?hangup, code = status.as_u16(), reason, "call ended");
        let info = &self.info;
        let ended = CallEnded {
            call: self.id,
            direction: info.direction,
            a_call_id: self.sip_call_ids[0].clone(),
            b_call_id: self.sip_call_ids[1].clone(),
            src: info.src.clone(),
            dst: info.dst.clone(),
            slot: info.slot.clone(),
            trunk: info
                .trunk
                .and_then(|t| cx.core.trunks.get(t))
                .map(|t| t.config.name.clone()),
            start: info.start,
            answer: info.answer,
            end: cx.wall(),
            sip_code: if answered { 200 } else { status.as_u16() },
            reason: reason.to_owned(),
            hangup,
            disposition,
            codec: self.codec.clone(),
            media,
            recording,
            campaign_id: info.campaign_id.clone(),
            lead_id: info.lead_id.clone(),
            token: CompletionToken(token),
        };
        cx.core.events.push_back(CallEvent::Ended(Box::new(ended)));
    }

    fn hang_up_side(&mut self, cx: &mut Cx<'_>, side: Side, status: StatusCode, bye: bool) {
        let tag = self.tag(side).to_owned();
        let mut bye = bye;
        match self.setup_owner(side) {
            (Setup::Inbound(inb), owner) if !inb.final_sent => {
                let code = if status.is_success() {
                    StatusCode::REQUEST_TERMINATED
                } else {
                    status
                };
                let mut r = inb.response(cx, code, &tag);
                if code == StatusCode::SERVICE_UNAVAILABLE {
                    // RFC 3261 §21.5.4: say when to come back.
                    let after = cx.core.config.retry_after.to_string();
                    r.headers
                        .push(sip_core::HeaderName::RetryAfter, bytes::Bytes::from(after));
                }
                inb.final_response(cx, owner, r);
                // Its 2xx never went out (it waited for a PRACK): the error ends it.
                bye = false;
            }
            (Setup::Outgoing(out), owner) if out.pending() => out.cancel(cx, owner),
            _ => {}
        }
        // A 2xx whose ACK waited for the caller's answer still needs its ACK.
        if side == Side::B
            && let Some(resp) = self.late_offer.take()
            && let Some(b) = self.b.as_mut()
        {
            let _ = b.ack(cx, &resp, None);
        }
        if let (Some(leg), owner) = self.leg_owner(side)
            && bye
            && leg.confirmed()
            && let Err(e) = leg.bye(cx, owner, side)
        {
            tracing::warn!(error = %e, "BYE not sent");
        }
    }

    /// The media session exists now: start its recording if the call is recorded (the
    /// engine may also have started it from the offer's flag; starting twice is
    /// harmless).
    pub(crate) fn media_opened(&mut self, cx: &mut Cx<'_>) {
        if self.media_open {
            return;
        }
        self.media_open = true;
        if self.info.record
            && let Err(e) = cx.core.media.start_recording(&self.media_id())
        {
            tracing::warn!(call = %self.id, error = %e, "recording not started");
        }
    }

    /// Stop the recording and delete the media session; what the CDR reports of them.
    fn close_media(&mut self, cx: &mut Cx<'_>) -> (Option<media::SessionStats>, Option<Recording>) {
        if !self.media_open {
            return (None, None);
        }
        self.media_open = false;
        let id = self.media_id();
        let mut recording = None;
        if self.info.record {
            match cx.core.media.stop_recording(&id) {
                Ok(report) => {
                    recording = Some(Recording {
                        complete: report.gaps == 0,
                        gaps: report.gaps,
                        path: report.path,
                    });
                }
                Err(e) => {
                    tracing::warn!(call = %self.id, error = %e, "recording did not stop cleanly")
                }
            }
        }
        match cx.core.media.delete(&id) {
            Ok(mut stats) => {
                // The media engine names legs by who offered first; an originated call's
                // first offer stands for the destination. Report the caller first always.
                if self.info.direction == crate::event::CallDirection::Originate {
                    for st in &mut stats.streams {
                        st.legs.swap(0, 1);
                    }
                    stats.tags.swap(0, 1);
                }
                if recording.is_none()
                    && let Some(report) = &stats.recording_report
                {
                    recording = Some(Recording {
                        complete: false,
                        gaps: report.gaps,
                        path: report.path.clone(),
                    });
                }
                (Some(stats), recording)
            }
            Err(e) => {
                tracing::warn!(call = %self.id, error = %e, "media session not deleted");
                (None, recording)
            }
        }
    }

    /// A BYE from `side` (already checked against its dialog): the other side gets its
    /// BYE at once; the 200 waits for the CDR (issue 6) or the persistence timeout.
    pub(crate) fn on_bye(&mut self, cx: &mut Cx<'_>, side: Side, key: ServerKey, request: Request) {
        let (hangup, reason) = match side {
            Side::A => (HangupSide::Caller, "caller hung up"),
            Side::B => (HangupSide::Callee, "callee hung up"),
        };
        self.owner.track(cx, key, ServerRole::Bye { side });
        self.end(
            cx,
            hangup,
            StatusCode::REQUEST_TERMINATED,
            reason,
            Some(side),
        );
        let Some(token) = self.token else { return };
        self.persist = Some(PersistWait {
            key,
            request,
            token,
        });
        let at = cx.now + cx.core.config.persist_timeout;
        self.owner.arm(cx, CallTimer::Persist, at);
    }

    /// The CDR is journaled: the held 200 goes out.
    pub(crate) fn on_persisted(&mut self, cx: &mut Cx<'_>, token: u64) {
        if self.persist.as_ref().is_some_and(|p| p.token == token) {
            self.answer_bye(cx);
        }
    }

    /// The persistence wait is over (confirmed or timed out): answer the BYE.
    pub(crate) fn answer_bye(&mut self, cx: &mut Cx<'_>) {
        self.owner.disarm(CallTimer::Persist);
        if let Some(p) = self.persist.take() {
            let r = cx.core.locals.response(&p.request, StatusCode::OK, "");
            self.owner.respond(cx, &p.key, r);
        }
    }
}
