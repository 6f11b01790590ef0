//! Setting up a side that called us: answering its INVITE, with provisionals sent
//! reliably when it asked for 100rel (RFC 3262, terminated at this leg: we PRACK the
//! callee's reliable provisionals ourselves and send our own to the caller).

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::transaction::{Peer, ServerKey};
use sip_core::{HeaderName, Request, Response, StatusCode};

use super::{CallTimer, Owner};
use crate::core::Cx;

struct PendingReliable {
    response: Response,
    rseq: u32,
    interval: Duration,
    give_up: Instant,
    has_sdp: bool,
}

pub(crate) struct Inbound {
    pub(crate) key: ServerKey,
    pub(crate) invite: Request,
    pub(crate) source: Peer,
    pub(crate) final_sent: bool,
    /// The caller put 100rel in Supported or Require: our provisionals go reliably.
    pub(crate) reliable: bool,
    rseq: u32,
    pending: Option<PendingReliable>,
    queued_provisional: Option<Response>,
    queued_final: Option<Response>,
}

/// What a PRACK got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PrackOutcome {
    /// It acknowledged our pending provisional: answer 200.
    Acknowledged,
    /// It acknowledged nothing we sent: answer 481 (RFC 3262 §3).
    Unknown,
}

impl Inbound {
    pub(crate) fn new(key: ServerKey, invite: Request, source: Peer, first_rseq: u32) -> Inbound {
        let reliable = crate::sip::msg::supports(&invite.headers, "100rel");
        Inbound {
            key,
            invite,
            source,
            final_sent: false,
            reliable,
            rseq: first_rseq,
            pending: None,
            queued_provisional: None,
            queued_final: None,
        }
    }

    /// Send a provisional (built with our tag and Contact). Reliable ones wait for the
    /// PRACK of the previous one (RFC 3262 §3: one unacknowledged at a time); of several
    /// waiting, only the latest is kept.
    pub(crate) fn provisional(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        mut response: Response,
    ) {
        if self.final_sent {
            return;
        }
        if !self.reliable {
            owner.respond(cx, &self.key, response);
            return;
        }
        if self.pending.is_some() {
            self.queued_provisional = Some(response);
            return;
        }
        self.rseq = self.rseq.wrapping_add(1).max(1);
        response
            .headers
            .push(HeaderName::Require, Bytes::from_static(b"100rel"));
        response
            .headers
            .push(HeaderName::RSeq, Bytes::from(self.rseq.to_string()));
        let has_sdp = !response.body.is_empty();
        let t1 = cx.layer.config().t1;
        owner.respond(cx, &self.key, response.clone());
        self.pending = Some(PendingReliable {
            response,
            rseq: self.rseq,
            interval: t1,
            give_up: cx.now + t1 * 64,
            has_sdp,
        });
        // §3: retransmitted on unreliable transports only, T1 doubling.
        let at = if self.source.is_reliable() {
            cx.now + t1 * 64
        } else {
            cx.now + t1
        };
        owner.arm(cx, CallTimer::Reliable, at);
    }

    /// Send the final response. A 2xx waits while a reliable provisional with SDP is
    /// unacknowledged (RFC 3262 §3); any other final ends the retransmissions.
    pub(crate) fn final_response(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        response: Response,
    ) {
        if self.final_sent {
            return;
        }
        if response.status.is_success() && self.pending.as_ref().is_some_and(|p| p.has_sdp) {
            self.queued_final = Some(response);
            return;
        }
        self.final_sent = true;
        self.pending = None;
        self.queued_provisional = None;
        self.queued_final = None;
        owner.disarm(CallTimer::Reliable);
        owner.respond(cx, &self.key, response);
    }

    /// A PRACK arrived (RFC 3262 §3: RAck names RSeq, CSeq number and method).
    pub(crate) fn on_prack(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        prack: &Request,
    ) -> PrackOutcome {
        let Some(p) = &self.pending else {
            return PrackOutcome::Unknown;
        };
        let ok = prack
            .headers
            .get_value(&HeaderName::RAck)
            .and_then(|v| std::str::from_utf8(v).ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
            .is_some_and(|f| {
                f.len() == 3
                    && f[0].parse::<u32>().ok() == Some(p.rseq)
                    && self
                        .invite
                        .headers
                        .cseq()
                        .is_ok_and(|c| f[1].parse::<u32>().ok() == Some(c.seq))
                    && f[2].eq_ignore_ascii_case("INVITE")
            });
        if !ok {
            return PrackOutcome::Unknown;
        }
        self.pending = None;
        owner.disarm(CallTimer::Reliable);
        if let Some(f) = self.queued_final.take() {
            self.final_response(cx, owner, f);
        } else if let Some(p) = self.queued_provisional.take() {
            self.provisional(cx, owner, p);
        }
        PrackOutcome::Acknowledged
    }

    /// The retransmission timer fired. Returns true when the PRACK never came (§3: the
    /// INVITE is then rejected with a 5xx).
    pub(crate) fn on_timer(&mut self, cx: &mut Cx<'_>, owner: &mut Owner) -> bool {
        let Some(p) = &mut self.pending else {
            return false;
        };
        if cx.now >= p.give_up {
            return true;
        }
        let resend = p.response.clone();
        p.interval *= 2;
        let at = (cx.now + p.interval).min(p.give_up);
        owner.respond(cx, &self.key, resend);
        owner.arm(cx, CallTimer::Reliable, at);
        false
    }

    /// A response of ours to the INVITE, for this side (its To tag is ours).
    pub(crate) fn response(&self, cx: &Cx<'_>, status: StatusCode, tag: &str) -> Response {
        cx.core.locals.response(&self.invite, status, tag)
    }
}
