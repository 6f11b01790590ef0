//! Session timers per leg (RFC 4028): arming the deadlines after each negotiation,
//! our refreshes (UPDATE when the peer allows it, else a re-INVITE with the description
//! it already has), and what their answers mean.

use std::time::Duration;

use bytes::Bytes;
use sip_core::{HeaderName, Method, Response, StatusCode};

use super::{Call, CallTimer, ClientRole, Side};
use crate::core::Cx;
use crate::event::HangupSide;
use crate::sip::msg::sdp_body;
use crate::sip::session_timer::{self, SessionTimer, uac_headers};

impl Call {
    /// (Re)arm a leg's session timer deadlines after a negotiation (RFC 4028 §10).
    pub(crate) fn arm_session_timer(&mut self, cx: &mut Cx<'_>, side: Side) {
        let Some(t) = self.leg(side).and_then(|l| l.timer) else {
            self.owner.disarm(CallTimer::Refresh(side));
            self.owner.disarm(CallTimer::Expire(side));
            return;
        };
        if t.we_refresh {
            self.owner
                .arm(cx, CallTimer::Refresh(side), cx.now + t.refresh_in());
        } else {
            self.owner.disarm(CallTimer::Refresh(side));
        }
        self.owner
            .arm(cx, CallTimer::Expire(side), cx.now + t.expire_in());
    }

    /// Our turn to refresh a leg: UPDATE without SDP when the peer allows it, else a
    /// re-INVITE with the description it already has (RFC 4028 §7.4, §10).
    pub(crate) fn send_refresh(&mut self, cx: &mut Cx<'_>, side: Side) {
        let Some(policy) = Self::policy(cx) else {
            return;
        };
        let retry = cx.now + Duration::from_secs(2);
        let (Some(leg), owner) = self.leg_owner(side) else {
            return;
        };
        let Some(t) = leg.timer else { return };
        if leg.refreshing || leg.invite_out || leg.invite_in {
            owner.arm(cx, CallTimer::Refresh(side), retry);
            return;
        }
        let use_update = leg.allows_update && !leg.update_refused;
        let method = if use_update {
            Method::Update
        } else {
            Method::Invite
        };
        let built = leg.request(cx, method).map(|mut r| {
            for (n, v) in uac_headers(policy, Some(t.interval), true) {
                r.headers.push(n, v);
            }
            r.headers
                .push(HeaderName::Supported, Bytes::from_static(b"timer"));
            if !use_update && let Some(sdp) = &leg.last_sdp_sent {
                r.set_body("application/sdp", sdp.clone());
            }
            r
        });
        match built.and_then(|r| leg.send(cx, owner, r, ClientRole::Refresh { side })) {
            Ok(()) => {
                leg.refreshing = true;
                if !use_update {
                    leg.invite_out = true;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "session refresh not sent");
                owner.arm(cx, CallTimer::Refresh(side), retry);
            }
        }
    }

    /// The answer to our refresh (`None`: no answer at all).
    pub(crate) fn on_refresh_response(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        resp: Option<Response>,
    ) {
        let Some(resp) = resp else {
            if let Some(leg) = self.leg_mut(side) {
                leg.refreshing = false;
                leg.invite_out = false;
            }
            self.end(
                cx,
                HangupSide::System,
                StatusCode::OK,
                "session refresh failed",
                None,
            );
            return;
        };
        let status = resp.status;
        if status.is_provisional() {
            return;
        }
        let jitter = Duration::from_millis(2000 + cx.core.rng.below(2000));
        let min_se = cx.core.config.min_se;
        let media_id = self.media_id();
        let (tag_side, tag_other) = (self.tag(side).to_owned(), self.tag(side.other()).to_owned());
        let opts = self.sdp_opts(side);
        let Some(leg) = self.leg_mut(side) else {
            return;
        };
        leg.refreshing = false;
        let was_invite = resp
            .headers
            .cseq()
            .is_ok_and(|c| c.method == Method::Invite);
        if was_invite {
            leg.invite_out = false;
        }
        let _ = leg.dialog.handle_response(&resp);
        if status.is_success() {
            if was_invite && let Err(e) = leg.ack(cx, &resp, None) {
                tracing::warn!(error = %e, "ACK for a refresh not sent");
            }
            if let Some(sdp) = sdp_body(&resp.headers, &resp.body)
                && !leg.note_remote_sdp(&sdp)
                && let Err(e) = cx
                    .core
                    .media
                    .answer(&media_id, &tag_other, &tag_side, &sdp, &opts)
            {
                tracing::info!(error = %e, "changed answer to a refresh refused by the media engine");
            }
            // §7.2: no Session-Expires in the 2xx means the peer does not take part.
            leg.timer = session_timer::uac_result(&resp.headers);
            self.arm_session_timer(cx, side);
            return;
        }
        match status.as_u16() {
            // §7.4: retry at once with the interval the peer asks for.
            422 => {
                let min = session_timer::parse_min_se(&resp.headers)
                    .map_or(min_se, |s| Duration::from_secs(u64::from(s)));
                if let Some(t) = &mut leg.timer {
                    t.interval = t.interval.max(min);
                }
                self.send_refresh(cx, side);
            }
            405 | 501 if !was_invite => {
                leg.update_refused = true;
                self.send_refresh(cx, side);
            }
            491 => self
                .owner
                .arm(cx, CallTimer::Refresh(side), cx.now + jitter),
            // RFC 4028 §10: a refresh ending with 408 or 481 ends the session.
            408 | 481 => self.end(
                cx,
                HangupSide::System,
                StatusCode::OK,
                "session refresh failed",
                None,
            ),
            _ => {
                let next = leg
                    .timer
                    .map(|t: SessionTimer| t.refresh_in())
                    .unwrap_or(jitter);
                self.owner.arm(cx, CallTimer::Refresh(side), cx.now + next);
            }
        }
    }
}
