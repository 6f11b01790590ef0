//! Requests inside an established call: re-INVITE and UPDATE (new offers go through the
//! media engine to the other side, or on an echo call to the echo again; refreshes with
//! an unchanged description are answered at this leg), INFO (relayed, e.g. SIP INFO DTMF), OPTIONS, PRACK, and our own session
//! refreshes (RFC 4028).

use bytes::Bytes;
use sip_core::transaction::ServerKey;
use sip_core::{HeaderName, Method, Request, Response, StatusCode};

use super::Call;
use super::inbound::PrackOutcome;
use super::{ClientRole, Phase, ServerRole, Setup, Side};
use crate::core::Cx;
use crate::event::HangupSide;
use crate::sip::msg::{reason, sdp_body};
use crate::sip::session_timer::{self, UasOutcome, uac_headers, uas_negotiate};

/// A request from one side waiting for the other side's answer.
pub(crate) struct Relay {
    id: u32,
    /// The side that sent it.
    from: Side,
    server: ServerKey,
    request: Request,
    /// The session timer the answer to `from` will set (re-INVITE, UPDATE).
    timer: UasOutcome,
    /// The requester gave up (CANCEL): the answer goes nowhere.
    cancelled: bool,
    /// The re-INVITE we relayed, to CANCEL it when the requester cancels its own.
    sent: Option<Request>,
    /// A provisional came back (a CANCEL may be sent, RFC 3261 §9.1).
    provisional: bool,
    /// Send a CANCEL when the first provisional comes.
    cancel_pending: bool,
}

/// Headers that describe an INFO payload (RFC 6086) and travel with it.
const INFO_HEADERS: [&str; 3] = ["content-type", "info-package", "content-disposition"];

impl Call {
    pub(super) fn policy(cx: &Cx<'_>) -> Option<session_timer::Policy> {
        cx.core
            .config
            .session_expires
            .map(|se| session_timer::Policy {
                session_expires: se,
                min_se: cx.core.config.min_se,
            })
    }

    fn respond_simple(
        &self,
        cx: &mut Cx<'_>,
        key: &ServerKey,
        request: &Request,
        status: StatusCode,
    ) {
        let r = cx.core.locals.response(request, status, "");
        self.owner.respond(cx, key, r);
    }

    /// A request inside a dialog of this call (not ACK, not CANCEL).
    pub(crate) fn on_request(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        key: ServerKey,
        request: Request,
    ) {
        if self.phase == Phase::Ended {
            let status = if request.method == Method::Bye {
                StatusCode::OK
            } else {
                StatusCode::CALL_DOES_NOT_EXIST
            };
            self.respond_simple(cx, &key, &request, status);
            return;
        }
        let Some(leg) = self.leg_mut(side) else {
            self.respond_simple(cx, &key, &request, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        };
        // The peer's tag must be the one of our dialog (a losing fork has another).
        let remote_ok = request
            .headers
            .from()
            .ok()
            .map(|f| f.tag().unwrap_or_default() == &leg.dialog.id().remote_tag[..])
            .unwrap_or(false);
        if !remote_ok {
            self.respond_simple(cx, &key, &request, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        }
        if let Err(e) = leg.dialog.handle_request(&request) {
            // RFC 3261 §12.2.2: a lower CSeq is answered 500.
            tracing::debug!(error = %e, "in-dialog request refused");
            self.respond_simple(cx, &key, &request, StatusCode::SERVER_INTERNAL_ERROR);
            return;
        }
        match request.method {
            Method::Bye => self.on_bye(cx, side, key, request),
            Method::Prack => self.on_prack(cx, side, key, &request),
            Method::Options => {
                let mut r = cx.core.locals.response(&request, StatusCode::OK, "");
                r.headers
                    .push(HeaderName::Allow, cx.core.locals.allow().clone());
                self.owner.respond(cx, &key, r);
            }
            Method::Invite | Method::Update | Method::Info if self.phase != Phase::Answered => {
                // Before the answer the other side has no dialog to carry it (RFC 3311
                // §5.2 lets a UAS refuse an early UPDATE this way).
                let mut r =
                    cx.core
                        .locals
                        .response(&request, StatusCode::SERVER_INTERNAL_ERROR, "");
                r.headers
                    .push(HeaderName::RetryAfter, Bytes::from_static(b"1"));
                self.owner.respond(cx, &key, r);
            }
            Method::Invite | Method::Update => self.on_offer_request(cx, side, key, request),
            Method::Info => self.relay_info(cx, side, key, request),
            _ => self.respond_simple(cx, &key, &request, StatusCode::NOT_IMPLEMENTED),
        }
    }

    fn on_prack(&mut self, cx: &mut Cx<'_>, side: Side, key: ServerKey, request: &Request) {
        let outcome = match (&mut self.a_setup, side) {
            (Setup::Inbound(inb), Side::A) => inb.on_prack(cx, &mut self.owner, request),
            _ => PrackOutcome::Unknown,
        };
        let status = match outcome {
            PrackOutcome::Acknowledged => StatusCode::OK,
            PrackOutcome::Unknown => StatusCode::CALL_DOES_NOT_EXIST,
        };
        self.respond_simple(cx, &key, request, status);
        self.release_inbound();
    }

    /// A re-INVITE or UPDATE: a refresh (no SDP, or the same version) is answered here;
    /// a new offer goes through the media engine to the other side.
    fn on_offer_request(&mut self, cx: &mut Cx<'_>, side: Side, key: ServerKey, request: Request) {
        if self.is_echo() {
            return self.on_echo_offer(cx, side, key, request);
        }
        let is_invite = request.method == Method::Invite;
        let other = side.other();
        let (busy_here, busy_there) = match (self.leg(side), self.leg(other)) {
            (Some(x), Some(y)) => (x.invite_in || x.invite_out, y.invite_in || y.invite_out),
            _ => (true, true),
        };
        if busy_here && is_invite {
            // RFC 3261 §14.2: an INVITE while one of ours is pending gets 491; while the
            // peer's previous one is pending, 500 with Retry-After.
            let out = self.leg(side).is_some_and(|l| l.invite_out);
            let status = if out {
                StatusCode::REQUEST_PENDING
            } else {
                StatusCode::SERVER_INTERNAL_ERROR
            };
            let mut r = cx.core.locals.response(&request, status, "");
            if !out {
                r.headers
                    .push(HeaderName::RetryAfter, Bytes::from_static(b"1"));
            }
            self.owner.respond(cx, &key, r);
            return;
        }
        let Some(timer) = self.negotiate_timer(cx, &key, &request) else {
            return;
        };
        let sdp = sdp_body(&request.headers, &request.body);
        let unchanged = match (&sdp, self.leg_mut(side)) {
            (Some(s), Some(leg)) => leg.note_remote_sdp(s),
            _ => false,
        };
        if sdp.is_none() || unchanged {
            self.answer_locally(cx, side, key, &request, timer, sdp.is_none());
            return;
        }
        if busy_there {
            let r = cx
                .core
                .locals
                .response(&request, StatusCode::REQUEST_PENDING, "");
            self.owner.respond(cx, &key, r);
            return;
        }
        let Some(sdp) = sdp else { return };
        let opts = self.sdp_opts(side);
        let for_other = match cx
            .core
            .media
            .offer(&self.media_id(), self.tag(side), &sdp, &opts)
        {
            Ok(b) => b,
            Err(e) => {
                tracing::info!(call = %self.id, error = %e, "re-offer refused by the media engine");
                self.respond_simple(cx, &key, &request, StatusCode::NOT_ACCEPTABLE_HERE);
                return;
            }
        };
        let id = self.next_relay;
        self.next_relay += 1;
        let policy = Self::policy(cx);
        let (Some(y), owner) = self.leg_owner(other) else {
            return;
        };
        let built = y.request(cx, request.method.clone()).map(|mut r| {
            let body = y.outgoing_sdp(&for_other);
            r.set_body("application/sdp", body);
            if let (Some(p), Some(t)) = (policy, y.timer) {
                for (n, v) in uac_headers(p, Some(t.interval), t.we_refresh) {
                    r.headers.push(n, v);
                }
                r.headers
                    .push(HeaderName::Supported, Bytes::from_static(b"timer"));
            }
            r
        });
        let mut copy = None;
        let sent = built.and_then(|r| {
            if is_invite {
                y.invite_out = true;
                copy = Some(r.clone());
            }
            y.send(
                cx,
                owner,
                r,
                ClientRole::Relay {
                    side: other,
                    relay: id,
                },
            )
        });
        if let Err(e) = sent {
            tracing::warn!(error = %e, "re-offer not relayed");
            if let Some(y) = self.leg_mut(other) {
                y.invite_out = false;
            }
            self.respond_simple(cx, &key, &request, StatusCode::SERVER_INTERNAL_ERROR);
            return;
        }
        if is_invite && let Some(x) = self.leg_mut(side) {
            x.invite_in = true;
        }
        self.owner
            .track(cx, key, ServerRole::Relay { side, relay: id });
        self.relays.push(Relay {
            id,
            from: side,
            server: key,
            request,
            timer,
            cancelled: false,
            sent: copy,
            provisional: false,
            cancel_pending: false,
        });
    }

    /// The session timer of a re-INVITE or UPDATE (RFC 4028 §9); `None` when it asked for
    /// too short an interval and has been answered 422 with our Min-SE.
    fn negotiate_timer(
        &self,
        cx: &mut Cx<'_>,
        key: &ServerKey,
        request: &Request,
    ) -> Option<UasOutcome> {
        let timer = uas_negotiate(&request.headers, Self::policy(cx));
        if let UasOutcome::TooSmall(min) = timer {
            let mut r =
                cx.core
                    .locals
                    .response(request, StatusCode::SESSION_INTERVAL_TOO_SMALL, "");
            r.headers
                .push(HeaderName::MinSe, Bytes::from(min.to_string()));
            self.owner.respond(cx, key, r);
            return None;
        }
        Some(timer)
    }

    /// A re-INVITE or UPDATE of the caller of the echo service, which has no other side:
    /// a new offer (hold, resume, another port or codec) goes to the media engine's echo
    /// again, which updates the session in place, and its answer goes back in our 200.
    fn on_echo_offer(&mut self, cx: &mut Cx<'_>, side: Side, key: ServerKey, request: Request) {
        let is_invite = request.method == Method::Invite;
        if is_invite && self.leg(side).is_some_and(|l| l.invite_out) {
            // RFC 3261 §14.2: our own refresh re-INVITE is pending.
            let r = cx
                .core
                .locals
                .response(&request, StatusCode::REQUEST_PENDING, "");
            self.owner.respond(cx, &key, r);
            return;
        }
        let Some(timer) = self.negotiate_timer(cx, &key, &request) else {
            return;
        };
        let sdp = sdp_body(&request.headers, &request.body);
        let Some(sdp) = sdp else {
            return self.answer_locally(cx, side, key, &request, timer, true);
        };
        let Some(leg) = self.leg_mut(side) else {
            return self.respond_simple(cx, &key, &request, StatusCode::CALL_DOES_NOT_EXIST);
        };
        let before = leg.remote_origin.clone();
        if leg.note_remote_sdp(&sdp) {
            return self.answer_locally(cx, side, key, &request, timer, false);
        }
        let mut opts = self.sdp_opts(side);
        opts.record = self.info.record;
        let answer = match &cx.core.echo {
            Some(echo) => echo.echo(&self.media_id(), self.tag(side), &sdp, &opts),
            None => Err(media::MediaError::NotAcceptable("no echo support")),
        };
        let answer = match answer {
            Ok(b) => b,
            Err(e) => {
                tracing::info!(call = %self.id, error = %e, "echo re-offer refused by the media engine");
                // The refused offer did not take effect: the next one with its version
                // is new, not a refresh.
                if let Some(leg) = self.leg_mut(side) {
                    leg.remote_origin = before;
                }
                return self.respond_simple(cx, &key, &request, StatusCode::NOT_ACCEPTABLE_HERE);
            }
        };
        if let Some(c) = crate::sip::sdp::first_audio_codec(&sdp) {
            self.codec = Some(c);
        }
        let Some(leg) = self.leg_mut(side) else {
            return;
        };
        let mut ok = cx
            .core
            .locals
            .dialog_response(&request, StatusCode::OK, "", &leg.contact);
        ok.set_body("application/sdp", leg.outgoing_sdp(&answer));
        self.send_local_ok(cx, side, key, is_invite, ok, timer);
    }

    /// Answer a refresh at this leg: 200 with the description we sent last (an answer
    /// that did not change, or an offer when the request had none).
    fn answer_locally(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        key: ServerKey,
        request: &Request,
        timer: UasOutcome,
        no_sdp: bool,
    ) {
        let is_invite = request.method == Method::Invite;
        let Some(leg) = self.leg_mut(side) else {
            return;
        };
        let mut r = cx
            .core
            .locals
            .dialog_response(request, StatusCode::OK, "", &leg.contact);
        if is_invite && let Some(sdp) = &leg.last_sdp_sent {
            r.set_body("application/sdp", sdp.clone());
            if no_sdp {
                // Our 2xx carries the offer; the ACK brings the answer (RFC 3264 §4).
                leg.awaiting_ack_answer = true;
            }
        }
        self.send_local_ok(cx, side, key, is_invite, r, timer);
    }

    /// Sends a 200 we built ourselves for a request at `side`: with the session timer it
    /// negotiated, and, answering an INVITE, kept for its ACK.
    fn send_local_ok(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        key: ServerKey,
        is_invite: bool,
        mut ok: Response,
        timer: UasOutcome,
    ) {
        Self::apply_timer_headers(&mut ok, &timer);
        if let UasOutcome::Timer { timer: t, .. } = timer
            && let Some(leg) = self.leg_mut(side)
        {
            leg.timer = Some(t);
        }
        if is_invite {
            self.owner.track(cx, key, ServerRole::Local { side });
        }
        self.owner.respond(cx, &key, ok);
        self.arm_session_timer(cx, side);
    }

    pub(super) fn apply_timer_headers(r: &mut Response, timer: &UasOutcome) {
        if let UasOutcome::Timer {
            session_expires,
            require_timer,
            ..
        } = timer
        {
            r.headers
                .push(HeaderName::SessionExpires, session_expires.clone());
            if *require_timer {
                r.headers
                    .push(HeaderName::Require, Bytes::from_static(b"timer"));
            }
        }
    }

    /// INFO (RFC 6086), e.g. DTMF: the payload goes to the other side, its answer back.
    fn relay_info(&mut self, cx: &mut Cx<'_>, side: Side, key: ServerKey, request: Request) {
        if self.is_echo() {
            // Nobody to relay it to; a 481 would tell the caller its dialog is gone
            // (RFC 3261 §12.2.1.2). The echo returns RTP DTMF (RFC 4733) by itself.
            return self.respond_simple(cx, &key, &request, StatusCode::OK);
        }
        let other = side.other();
        let id = self.next_relay;
        self.next_relay += 1;
        let (Some(y), owner) = self.leg_owner(other) else {
            self.respond_simple(cx, &key, &request, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        };
        let sent = y.request(cx, Method::Info).and_then(|mut r| {
            for h in request.headers.iter() {
                let n = h.name().as_str().to_ascii_lowercase();
                if INFO_HEADERS.contains(&n.as_str()) {
                    r.headers.push_header(h.clone());
                }
            }
            r.body = request.body.clone();
            y.send(
                cx,
                owner,
                r,
                ClientRole::Relay {
                    side: other,
                    relay: id,
                },
            )
        });
        if let Err(e) = sent {
            tracing::warn!(error = %e, "INFO not relayed");
            self.respond_simple(cx, &key, &request, StatusCode::SERVER_INTERNAL_ERROR);
            return;
        }
        self.owner
            .track(cx, key, ServerRole::Relay { side, relay: id });
        self.relays.push(Relay {
            id,
            from: side,
            server: key,
            request,
            timer: UasOutcome::None,
            cancelled: false,
            sent: None,
            provisional: false,
            cancel_pending: false,
        });
    }

    /// The requester cancelled a relayed re-INVITE.
    pub(crate) fn on_relay_cancelled(&mut self, cx: &mut Cx<'_>, relay: u32) {
        let Some(r) = self.relays.iter_mut().find(|r| r.id == relay) else {
            return;
        };
        r.cancelled = true;
        let (from, key) = (r.from, r.server);
        let resp = cx
            .core
            .locals
            .response(&r.request, StatusCode::REQUEST_TERMINATED, "");
        // Cancel what we relayed too, once it may be (§9.1: after a provisional).
        let cancel_now = r.provisional;
        r.cancel_pending = !r.provisional;
        let to_cancel = if cancel_now { r.sent.take() } else { None };
        self.owner.respond(cx, &key, resp);
        if let Some(x) = self.leg_mut(from) {
            x.invite_in = false;
        }
        if let Some(sent) = to_cancel {
            self.cancel_relayed(cx, from.other(), &sent);
        }
    }

    fn cancel_relayed(&mut self, cx: &mut Cx<'_>, side: Side, sent: &Request) {
        let (Some(y), owner) = self.leg_owner(side) else {
            return;
        };
        let peer = y.peer;
        match sip_core::transaction::cancel_for(sent) {
            Ok(c) => {
                if let Err(e) = owner.send(cx, c, peer, ClientRole::Cancel) {
                    tracing::debug!(error = %e, "CANCEL of a relayed re-INVITE not sent");
                }
            }
            Err(e) => tracing::debug!(error = %e, "CANCEL of a relayed re-INVITE not built"),
        }
    }

    /// The other side answered a relayed request (`side` is where we sent it).
    pub(crate) fn on_relay_response(
        &mut self,
        cx: &mut Cx<'_>,
        side: Side,
        relay: u32,
        resp: Response,
    ) {
        let status = resp.status;
        if status.is_provisional() {
            let Some(r) = self.relays.iter_mut().find(|r| r.id == relay) else {
                return;
            };
            r.provisional = true;
            if std::mem::take(&mut r.cancel_pending)
                && let Some(sent) = r.sent.take()
            {
                self.cancel_relayed(cx, side, &sent);
            }
            return;
        }
        let Some(at) = self.relays.iter().position(|r| r.id == relay) else {
            return;
        };
        let r = self.relays.remove(at);
        let from = r.from;
        let method = r.request.method.clone();
        let mut answer_sdp = None;
        let mut y_gone = false;
        if let Some(y) = self.leg_mut(side) {
            let _ = y.dialog.handle_response(&resp);
            if method == Method::Invite {
                y.invite_out = false;
                if status.is_success()
                    && let Err(e) = y.ack(cx, &resp, None)
                {
                    tracing::warn!(error = %e, "ACK for a relayed re-INVITE not sent");
                }
            }
            if status.is_success() {
                if let Some(t) = session_timer::uac_result(&resp.headers) {
                    y.timer = Some(t);
                }
                if let Some(sdp) = sdp_body(&resp.headers, &resp.body) {
                    y.note_remote_sdp(&sdp);
                    answer_sdp = Some(sdp);
                }
            }
            y_gone =
                status == StatusCode::CALL_DOES_NOT_EXIST || status == StatusCode::REQUEST_TIMEOUT;
        }
        if status.is_success() {
            self.arm_session_timer(cx, side);
        }
        if let Some(x) = self.leg_mut(from)
            && method == Method::Invite
        {
            x.invite_in = false;
        }
        if r.cancelled {
            return;
        }
        let reply = if status.is_success() && method != Method::Info {
            match answer_sdp {
                Some(sdp) => match cx.core.media.answer(
                    &self.media_id(),
                    self.tag(from),
                    self.tag(side),
                    &sdp,
                    &self.sdp_opts(side),
                ) {
                    Ok(for_x) => {
                        // A codec change shows in the CDR.
                        if let Some(c) = crate::sip::sdp::first_audio_codec(&sdp) {
                            self.codec = Some(c);
                        }
                        let Some(x) = self.leg_mut(from) else { return };
                        let mut ok = cx.core.locals.dialog_response(
                            &r.request,
                            StatusCode::OK,
                            "",
                            &x.contact,
                        );
                        ok.set_body("application/sdp", x.outgoing_sdp(&for_x));
                        Self::apply_timer_headers(&mut ok, &r.timer);
                        if let UasOutcome::Timer { timer: t, .. } = r.timer {
                            x.timer = Some(t);
                        }
                        ok
                    }
                    Err(e) => {
                        tracing::warn!(call = %self.id, error = %e, "answer to a re-offer refused by the media engine");
                        cx.core
                            .locals
                            .response(&r.request, StatusCode::SERVER_INTERNAL_ERROR, "")
                    }
                },
                None => cx
                    .core
                    .locals
                    .response(&r.request, StatusCode::SERVER_INTERNAL_ERROR, ""),
            }
        } else if status.is_success() {
            cx.core.locals.response(&r.request, StatusCode::OK, "")
        } else {
            let mapped = match status.as_u16() {
                401 | 407 | 408 | 481 => StatusCode::SERVER_INTERNAL_ERROR,
                606 => StatusCode::NOT_ACCEPTABLE_HERE,
                _ => status,
            };
            cx.core
                .locals
                .response(&r.request, mapped, "")
                .with_reason(&reason(&resp))
        };
        let ok = reply.status.is_success();
        self.owner.respond(cx, &r.server, reply);
        if ok {
            self.arm_session_timer(cx, from);
        }
        if y_gone {
            // RFC 3261 §12.2.1.2: 481 or 408 to a request in a dialog ends it.
            self.end(
                cx,
                HangupSide::System,
                StatusCode::OK,
                "other leg's dialog is gone",
                None,
            );
        }
    }

    /// A relayed request got no answer (timeout, transport failure): the other side is
    /// unreachable, so the call ends (RFC 3261 §12.2.1.2).
    pub(crate) fn on_relay_failure(&mut self, cx: &mut Cx<'_>, side: Side, relay: u32) {
        let Some(at) = self.relays.iter().position(|r| r.id == relay) else {
            return;
        };
        let r = self.relays.remove(at);
        if let Some(y) = self.leg_mut(side) {
            y.invite_out = false;
        }
        if let Some(x) = self.leg_mut(r.from) {
            x.invite_in = false;
        }
        if !r.cancelled {
            let resp = cx
                .core
                .locals
                .response(&r.request, StatusCode::REQUEST_TIMEOUT, "");
            self.owner.respond(cx, &r.server, resp);
        }
        self.end(
            cx,
            HangupSide::System,
            StatusCode::OK,
            "other leg stopped answering",
            None,
        );
    }

    /// Answer pending relayed requests at the end of the call.
    pub(crate) fn abort_relays(&mut self, cx: &mut Cx<'_>) {
        for r in std::mem::take(&mut self.relays) {
            if !r.cancelled {
                let resp = cx
                    .core
                    .locals
                    .response(&r.request, StatusCode::REQUEST_TERMINATED, "");
                self.owner.respond(cx, &r.server, resp);
            }
        }
    }
}
