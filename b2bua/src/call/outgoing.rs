//! Setting up a side we call: INVITE branches to every binding of a slot at once (fork),
//! or to trunk candidates one after another (failover), with CANCEL, PRACK for reliable
//! provisionals, answers to carriers' challenges, and release of late answers.

use bytes::Bytes;
use sip_core::dialog::Dialog;
use sip_core::transaction::Peer;
use sip_core::{HeaderName, Method, Request, Response, StatusCode, Uri};

use super::branch::{Branch, BranchState};
use super::{CallTimer, ClientRole, Owner, Side, release_2xx};
use crate::core::Cx;
use crate::sip::auth;
use crate::sip::msg::{BuildError, NewRequest, new_request, reason, sdp_body};
use crate::trunk::Admission;

/// Where one INVITE goes.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) uri: Uri,
    pub(crate) peer: Peer,
    /// The trunk, for calls to carriers.
    pub(crate) trunk: Option<usize>,
    /// From for this target (a trunk's caller-ID presentation), with our tag.
    pub(crate) from: Option<String>,
    /// Headers for this target only (P-Asserted-Identity).
    pub(crate) headers: Vec<(HeaderName, Bytes)>,
}

/// What an INVITE we send carries, fixed for every branch of a side.
pub(crate) struct OutgoingSpec {
    pub(crate) side: Side,
    pub(crate) call_id: String,
    /// From, with our tag.
    pub(crate) from: String,
    /// To; `None` writes the target's Request-URI.
    pub(crate) to: Option<String>,
    pub(crate) body: Option<Bytes>,
    pub(crate) headers: Vec<(HeaderName, Bytes)>,
    pub(crate) max_forwards: u32,
    pub(crate) targets: Vec<Target>,
    /// All targets at once (fork) or one after another (trunk failover).
    pub(crate) parallel: bool,
}

/// What the side's setup reports to the call.
pub(crate) enum OutEvent {
    Nothing,
    /// A provisional response (not 100) from the branch.
    Provisional {
        status: StatusCode,
        sdp: Option<Bytes>,
        /// Where the branch's messages come from.
        peer: Peer,
    },
    /// The first 2xx: the side's dialog.
    Answered {
        dialog: Box<Dialog>,
        peer: Peer,
        response: Box<Response>,
        trunk: Option<usize>,
        /// The SDP our INVITE carried on this branch.
        offer: Option<Bytes>,
    },
    /// The winning 2xx again: ACK it again.
    Retransmitted(Box<Response>),
    /// Every branch failed and no target is left.
    Failed {
        status: StatusCode,
        reason: String,
        /// No trunk could take the call (limits reached, or down): the caller gets 503
        /// with Retry-After, not the mapped status.
        limited: bool,
    },
    /// A trunk target was started (the first, or the next after a failure); the call
    /// now holds this trunk.
    Started {
        trunk: Option<usize>,
    },
}

pub(crate) struct Outgoing {
    spec: OutgoingSpec,
    cseq: u32,
    next_target: usize,
    branches: Vec<Branch>,
    pub(crate) winner: Option<usize>,
    best: Option<(StatusCode, String, Option<usize>)>,
    pub(crate) cancelled: bool,
    /// A target was skipped because its trunk was full (the final answer is then 503).
    skipped_full: bool,
}

/// How good a final response is to report (RFC 3261 §16.7 step 6, simplified): lower
/// is better.
fn rank(s: StatusCode) -> u8 {
    match s.as_u16() {
        600..=699 => 0,
        486 => 1,
        487 => 7,
        408 => 5,
        480 => 4,
        400..=499 => 2,
        500..=599 => 6,
        _ => 3,
    }
}

/// Responses after which a trunk call tries the next trunk: timeouts and server errors,
/// and a challenge we cannot answer (wrong credentials on this trunk).
fn fails_over(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 500..=599 | 401 | 407)
}

impl Outgoing {
    pub(crate) fn new(spec: OutgoingSpec) -> Outgoing {
        Outgoing {
            spec,
            cseq: 1,
            next_target: 0,
            branches: Vec::new(),
            winner: None,
            best: None,
            cancelled: false,
            skipped_full: false,
        }
    }

    /// Start: every target (fork), or the first admitted one (trunks). An event other
    /// than `Nothing` means nothing could be started.
    pub(crate) fn start(&mut self, cx: &mut Cx<'_>, owner: &mut Owner) -> OutEvent {
        if self.spec.parallel {
            let targets = std::mem::take(&mut self.spec.targets);
            for t in targets {
                if let Err(e) = self.start_branch(cx, owner, &t) {
                    tracing::warn!(error = %e, "INVITE branch not sent");
                    self.note_final(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service Unavailable".into(),
                        None,
                    );
                }
            }
            self.spec.targets.clear();
            return self.check_done();
        }
        self.start_next(cx, owner)
    }

    /// Start the next admitted trunk target.
    fn start_next(&mut self, cx: &mut Cx<'_>, owner: &mut Owner) -> OutEvent {
        let held = self.branches.last().and_then(|b| b.trunk);
        while let Some(t) = self.spec.targets.get(self.next_target).cloned() {
            self.next_target += 1;
            if let Some(i) = t.trunk
                && held != Some(i)
            {
                match cx.core.trunks.get_mut(i).map(|tr| tr.admit(cx.now)) {
                    Some(Admission::Admit) => {}
                    Some(Admission::Full) => {
                        self.skipped_full = true;
                        continue;
                    }
                    Some(Admission::Down) | None => continue,
                }
            }
            match self.start_branch(cx, owner, &t) {
                Ok(()) => {
                    if self.branches.len() > 1 {
                        cx.core.stats.trunk_failovers += 1;
                    }
                    return OutEvent::Started { trunk: t.trunk };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "INVITE to trunk not sent");
                    self.note_final(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Service Unavailable".into(),
                        t.trunk,
                    );
                }
            }
        }
        self.check_done()
    }

    fn build(&mut self, cx: &mut Cx<'_>, t: &Target) -> Result<Request, BuildError> {
        let to = match &self.spec.to {
            Some(to) => to.clone(),
            None => crate::sip::msg::name_addr(None, &t.uri.to_string(), None),
        };
        let mut r = new_request(NewRequest {
            method: Method::Invite,
            uri: t.uri.clone(),
            from: t.from.as_deref().unwrap_or(&self.spec.from),
            to: &to,
            call_id: &self.spec.call_id,
            cseq: self.cseq,
        });
        r.headers.set(
            HeaderName::MaxForwards,
            Bytes::from(self.spec.max_forwards.to_string()),
        );
        r.headers.push(
            HeaderName::Contact,
            cx.core.locals.contact(t.peer.transport, None)?,
        );
        r.headers
            .push(HeaderName::Allow, cx.core.locals.allow().clone());
        r.headers
            .push(HeaderName::Supported, cx.core.locals.supported().clone());
        for (n, v) in self.spec.headers.iter().chain(&t.headers) {
            r.headers.push(n.clone(), v.clone());
        }
        if let Some(b) = &self.spec.body {
            r.set_body("application/sdp", b.clone());
        }
        let branch = cx.core.rng.branch();
        cx.core.locals.stamp_via(&mut r, &t.peer, &branch)?;
        cx.core.locals.add_user_agent(&mut r);
        Ok(r)
    }

    fn start_branch(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        t: &Target,
    ) -> Result<(), BuildError> {
        let request = self.build(cx, t)?;
        self.send_branch(cx, owner, request, t.peer, t.trunk)
    }

    fn send_branch(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        request: Request,
        peer: Peer,
        trunk: Option<usize>,
    ) -> Result<(), BuildError> {
        let idx = self.branches.len();
        let role = ClientRole::Invite {
            side: self.spec.side,
            branch: u16::try_from(idx).unwrap_or(u16::MAX),
        };
        let key = owner.send(cx, request.clone(), peer, role)?;
        if trunk.is_some() {
            let at = cx.now + cx.core.config.trunk_answer_timeout;
            owner.arm(
                cx,
                CallTimer::NoResponse(self.spec.side, role_branch(idx)),
                at,
            );
        }
        self.branches.push(Branch {
            key: Some(key),
            request: Some(request),
            peer,
            trunk,
            state: BranchState::Calling,
            cancel_pending: false,
            challenges: 0,
            early: Vec::new(),
        });
        Ok(())
    }

    fn note_final(&mut self, status: StatusCode, reason: String, trunk: Option<usize>) {
        let better = self
            .best
            .as_ref()
            .is_none_or(|(s, _, _)| rank(status) < rank(*s));
        if better {
            self.best = Some((status, reason, trunk));
        }
    }

    fn check_done(&mut self) -> OutEvent {
        let pending = self
            .branches
            .iter()
            .any(|b| matches!(b.state, BranchState::Calling | BranchState::Proceeding));
        if pending || self.winner.is_some() {
            return OutEvent::Nothing;
        }
        match self.best.take() {
            Some((s, r, _)) => OutEvent::Failed {
                status: s,
                reason: r,
                limited: false,
            },
            None if self.skipped_full => OutEvent::Failed {
                status: StatusCode::SERVICE_UNAVAILABLE,
                reason: "Trunk limit reached".into(),
                limited: true,
            },
            None => OutEvent::Failed {
                status: StatusCode::SERVICE_UNAVAILABLE,
                reason: "No trunk available".into(),
                limited: true,
            },
        }
    }

    /// Give up every branch (caller cancelled, ring timeout, call ended).
    pub(crate) fn cancel(&mut self, cx: &mut Cx<'_>, owner: &mut Owner) {
        self.cancelled = true;
        self.next_target = self.spec.targets.len();
        for (i, b) in self.branches.iter_mut().enumerate() {
            owner.disarm(CallTimer::NoResponse(self.spec.side, role_branch(i)));
            b.cancel(cx, owner);
        }
    }

    /// A response on branch `i`.
    pub(crate) fn on_response(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        i: usize,
        resp: Response,
    ) -> OutEvent {
        let side = self.spec.side;
        let Some(b) = self.branches.get_mut(i) else {
            return OutEvent::Nothing;
        };
        owner.disarm(CallTimer::NoResponse(side, role_branch(i)));
        let status = resp.status;
        if status.is_provisional() {
            if b.cancel_pending {
                b.cancel_pending = false;
                b.state = BranchState::Proceeding;
                b.cancel(cx, owner);
                return OutEvent::Nothing;
            }
            if b.state == BranchState::Calling {
                b.state = BranchState::Proceeding;
            }
            if status == StatusCode::TRYING || b.state != BranchState::Proceeding {
                return OutEvent::Nothing;
            }
            if !b.early_dialog(cx, owner, &resp) {
                return OutEvent::Nothing;
            }
            return OutEvent::Provisional {
                status,
                sdp: sdp_body(&resp.headers, &resp.body),
                peer: b.peer,
            };
        }
        if status.is_success() {
            let same_dialog = self.winner == Some(i);
            if same_dialog {
                return OutEvent::Retransmitted(Box::new(resp));
            }
            if self.winner.is_some()
                || self.cancelled
                || b.cancel_pending
                || b.state == BranchState::Done
            {
                let (request, peer) = (b.request.take(), b.peer);
                b.state = BranchState::Done;
                release_2xx(cx, request.as_ref(), &resp, peer);
                return OutEvent::Nothing;
            }
            let made = match &b.request {
                Some(r) => Dialog::uac(r, &resp),
                None => Err(sip_core::Error::MissingHeader("the INVITE of this branch")),
            };
            return match made {
                Ok(dialog) => {
                    b.state = BranchState::Won;
                    let (peer, trunk) = (b.peer, b.trunk);
                    let offer = b
                        .request
                        .as_ref()
                        .filter(|r| !r.body.is_empty())
                        .map(|r| r.body.clone());
                    self.winner = Some(i);
                    // First 2xx wins; the other forks are cancelled.
                    for (j, other) in self.branches.iter_mut().enumerate() {
                        if j != i {
                            owner.disarm(CallTimer::NoResponse(side, role_branch(j)));
                            other.cancel(cx, owner);
                        }
                    }
                    self.next_target = self.spec.targets.len();
                    OutEvent::Answered {
                        dialog: Box::new(dialog),
                        peer,
                        response: Box::new(resp),
                        trunk,
                        offer,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "2xx without a usable dialog; released");
                    let (request, peer, trunk) = (b.request.take(), b.peer, b.trunk);
                    b.state = BranchState::Done;
                    release_2xx(cx, request.as_ref(), &resp, peer);
                    self.note_final(StatusCode::BAD_GATEWAY, "Bad Gateway".into(), trunk);
                    self.check_done()
                }
            };
        }
        // A final error.
        let was_live = matches!(b.state, BranchState::Calling | BranchState::Proceeding);
        b.state = BranchState::Done;
        b.cancel_pending = false;
        if !was_live || self.cancelled || self.winner.is_some() {
            return OutEvent::Nothing;
        }
        let trunk = b.trunk;
        if let Some(ev) = self.answer_challenge(cx, owner, i, &resp) {
            return ev;
        }
        self.note_final(status, reason(&resp), trunk);
        if !self.spec.parallel && fails_over(status) {
            return self.start_next(cx, owner);
        }
        self.check_done()
    }

    /// RFC 3261 §22.2: a carrier's 401/407 is answered once with the trunk's
    /// credentials (again only if it says our nonce was stale).
    fn answer_challenge(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        i: usize,
        resp: &Response,
    ) -> Option<OutEvent> {
        if resp.status != StatusCode::UNAUTHORIZED
            && resp.status != StatusCode::PROXY_AUTHENTICATION_REQUIRED
        {
            return None;
        }
        let b = self.branches.get(i)?;
        if !(b.challenges == 0 || (b.challenges == 1 && auth::is_stale(resp))) {
            return None;
        }
        let trunk = b.trunk?;
        let creds = cx.core.trunks.get(trunk)?.config.credentials.clone()?;
        let sent = b.request.as_ref()?;
        let uri = sent.uri.to_string();
        let cnonce = cx.core.rng.cnonce();
        let (name, value) = auth::answer_carrier(resp, &creds, "INVITE", &uri, &cnonce)?;
        let (peer, challenges) = (b.peer, b.challenges + 1);
        let mut request = sent.clone();
        // §22.2: the same Call-ID and From tag, a new CSeq and branch.
        self.cseq += 1;
        request
            .headers
            .set(HeaderName::CSeq, format!("{} INVITE", self.cseq));
        request.headers.remove(&HeaderName::Authorization);
        request.headers.remove(&HeaderName::ProxyAuthorization);
        request.headers.push(name, value);
        let branch = cx.core.rng.branch();
        if cx
            .core
            .locals
            .stamp_via(&mut request, &peer, &branch)
            .is_err()
        {
            return None;
        }
        match self.send_branch(cx, owner, request, peer, Some(trunk)) {
            Ok(()) => {
                if let Some(nb) = self.branches.last_mut() {
                    nb.challenges = challenges;
                }
                Some(OutEvent::Nothing)
            }
            Err(e) => {
                tracing::warn!(error = %e, "authenticated INVITE not sent");
                None
            }
        }
    }

    /// Branch `i` timed out (Timer B) or could not be sent: a 408 or 503 of its own.
    pub(crate) fn on_failure(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        i: usize,
        status: StatusCode,
    ) -> OutEvent {
        let Some(b) = self.branches.get_mut(i) else {
            return OutEvent::Nothing;
        };
        let was_live = matches!(b.state, BranchState::Calling | BranchState::Proceeding);
        b.state = BranchState::Done;
        b.key = None;
        owner.disarm(CallTimer::NoResponse(self.spec.side, role_branch(i)));
        if !was_live || self.cancelled || self.winner.is_some() {
            return OutEvent::Nothing;
        }
        let trunk = b.trunk;
        self.note_final(status, status.canonical_reason().into(), trunk);
        if !self.spec.parallel {
            return self.start_next(cx, owner);
        }
        self.check_done()
    }

    /// A trunk sent nothing at all in time: give the branch up (CANCEL if it ever
    /// answers provisionally) and try the next target.
    pub(crate) fn on_no_response(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        i: usize,
    ) -> OutEvent {
        let Some(b) = self.branches.get_mut(i) else {
            return OutEvent::Nothing;
        };
        if b.state != BranchState::Calling {
            return OutEvent::Nothing;
        }
        b.cancel_pending = true;
        b.state = BranchState::Done;
        let trunk = b.trunk;
        if self.cancelled || self.winner.is_some() {
            return OutEvent::Nothing;
        }
        self.note_final(
            StatusCode::REQUEST_TIMEOUT,
            "No response from trunk".into(),
            trunk,
        );
        if !self.spec.parallel {
            return self.start_next(cx, owner);
        }
        self.check_done()
    }

    /// Drop what is only needed before the answer.
    pub(crate) fn shrink(&mut self) {
        self.spec.body = None;
        self.spec.targets = Vec::new();
        self.spec.headers = Vec::new();
        for b in &mut self.branches {
            if !b.cancel_pending {
                b.request = None;
            }
            b.early = Vec::new();
        }
    }

    /// Whether any branch still waits for a response (or a CANCEL to send).
    pub(crate) fn pending(&self) -> bool {
        self.branches
            .iter()
            .any(|b| matches!(b.state, BranchState::Calling | BranchState::Proceeding))
    }
}

pub(crate) fn role_branch(i: usize) -> u16 {
    u16::try_from(i).unwrap_or(u16::MAX)
}
