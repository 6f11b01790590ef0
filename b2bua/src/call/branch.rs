//! One INVITE branch of a side we call: its state, CANCEL (RFC 3261 §9.1), and the
//! early dialogs of its provisionals with their PRACKs (RFC 3262 §4).

use bytes::Bytes;
use sip_core::dialog::Dialog;
use sip_core::transaction::{ClientKey, Peer, cancel_for};
use sip_core::{HeaderName, Method, Request, Response};

use super::{ClientRole, Owner};
use crate::core::Cx;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BranchState {
    /// Sent, no response yet.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A final response (or a timeout) ended it.
    Done,
    /// Its 2xx won the call.
    Won,
}

pub(super) struct EarlyDialog {
    pub(super) dialog: Dialog,
    pub(super) last_rseq: Option<u32>,
}

pub(super) struct Branch {
    pub(super) key: Option<ClientKey>,
    /// The INVITE as sent; dropped once the call is answered unless a CANCEL still
    /// waits for a provisional.
    pub(super) request: Option<Request>,
    pub(super) peer: Peer,
    pub(super) trunk: Option<usize>,
    pub(super) state: BranchState,
    /// CANCEL as soon as a provisional arrives (RFC 3261 §9.1: not before).
    pub(super) cancel_pending: bool,
    pub(super) challenges: u8,
    pub(super) early: Vec<EarlyDialog>,
}

/// RFC 3262 §4: a provisional to PRACK, with its RSeq.
pub(super) fn reliable_rseq(r: &Response) -> Option<u32> {
    if !r.headers.has_token(&HeaderName::Require, "100rel") {
        return None;
    }
    r.headers.number(&HeaderName::RSeq).ok().flatten()
}

impl Branch {
    pub(super) fn cancel(&mut self, cx: &mut Cx<'_>, owner: &mut Owner) {
        match self.state {
            BranchState::Proceeding => {
                self.state = BranchState::Done;
                let Some(request) = &self.request else { return };
                match cancel_for(request) {
                    Ok(c) => {
                        if let Err(e) = owner.send(cx, c, self.peer, ClientRole::Cancel) {
                            tracing::debug!(error = %e, "CANCEL not sent");
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "CANCEL not built"),
                }
            }
            // §9.1: a CANCEL must wait for a provisional; the branch is given up now and
            // cancelled if one arrives, released if it answers.
            BranchState::Calling => {
                self.cancel_pending = true;
                self.state = BranchState::Done;
            }
            BranchState::Done | BranchState::Won => {}
        }
    }

    /// Track the early dialog of a provisional and PRACK it if reliable. Returns
    /// whether the provisional is new (not a retransmitted reliable one).
    pub(super) fn early_dialog(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        resp: &Response,
    ) -> bool {
        let Some(tag) = resp
            .headers
            .to()
            .ok()
            .and_then(|t| t.tag())
            .map(Bytes::copy_from_slice)
        else {
            return true;
        };
        let at = match self
            .early
            .iter()
            .position(|e| e.dialog.id().remote_tag == tag)
        {
            Some(at) => at,
            None => match self.request.as_ref().map(|r| Dialog::uac(r, resp)) {
                Some(Ok(d)) => {
                    self.early.push(EarlyDialog {
                        dialog: d,
                        last_rseq: None,
                    });
                    self.early.len() - 1
                }
                _ => return true,
            },
        };
        let e = &mut self.early[at];
        let _ = e.dialog.handle_response(resp);
        let Some(rseq) = reliable_rseq(resp) else {
            return true;
        };
        // RFC 3262 §4: only the next RSeq is new; a repeat was PRACKed already.
        if e.last_rseq.is_some_and(|last| rseq <= last) {
            return false;
        }
        e.last_rseq = Some(rseq);
        let Ok(cseq) = resp.headers.cseq() else {
            return true;
        };
        let rack = format!("{rseq} {} INVITE", cseq.seq);
        match e.dialog.create_request(Method::Prack) {
            Ok(mut prack) => {
                prack.headers.push(HeaderName::RAck, Bytes::from(rack));
                let branch = cx.core.rng.branch();
                if cx
                    .core
                    .locals
                    .stamp_via(&mut prack, &self.peer, &branch)
                    .is_ok()
                    && let Err(err) = owner.send(cx, prack, self.peer, ClientRole::Prack)
                {
                    tracing::debug!(error = %err, "PRACK not sent");
                }
            }
            Err(err) => tracing::debug!(error = %err, "PRACK not built"),
        }
        true
    }
}
