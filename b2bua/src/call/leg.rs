//! A leg: our dialog with one side, the address its requests go to, and what we keep
//! per leg (the SDP we sent, our `o=` line, the session timer).

use bytes::Bytes;
use sip_core::dialog::{Dialog, DialogState};
use sip_core::transaction::Peer;
use sip_core::{Message, Method, Request, Response};

use super::{ClientRole, Owner, Side};
use crate::core::Cx;
use crate::sip::msg::BuildError;
use crate::sip::sdp::{OriginStamp, origin_of};
use crate::sip::session_timer::SessionTimer;

pub(crate) struct Leg {
    pub(crate) dialog: Dialog,
    /// Where every request of the leg goes: the source of the side's INVITE, the
    /// binding's source address, or the trunk's address (the Contact may be behind NAT).
    pub(crate) peer: Peer,
    /// Our Contact on this leg.
    pub(crate) contact: Bytes,
    pub(crate) origin: OriginStamp,
    /// The SDP we sent last, for session refreshes with an unchanged description.
    pub(crate) last_sdp_sent: Option<Bytes>,
    /// The `o=` session id and version the peer sent last, to tell a refresh (same
    /// version) from a new offer (RFC 3264 §8).
    pub(crate) remote_origin: Option<(Bytes, u64)>,
    pub(crate) timer: Option<SessionTimer>,
    /// The peer listed UPDATE in Allow (refreshes then need no SDP).
    pub(crate) allows_update: bool,
    /// An INVITE of ours is pending on this leg (RFC 3261 §14.1: one at a time).
    pub(crate) invite_out: bool,
    /// An INVITE of the peer is pending on this leg (§14.2: answer another with 500/491).
    pub(crate) invite_in: bool,
    /// Our refresh in flight.
    pub(crate) refreshing: bool,
    /// The body of the ACK we sent for the initial 2xx (an answer to a 2xx offer), for
    /// the ACK sent again when the 2xx is retransmitted.
    ack_body: Option<Bytes>,
    /// That ACK's Via branch: the ACK sent again is the same request (RFC 3261
    /// §13.2.2.4), which the peer takes for a retransmission, not for a second ACK.
    ack_branch: Option<String>,
    /// We answered a re-INVITE without SDP with an offer: its ACK carries the answer.
    pub(crate) awaiting_ack_answer: bool,
    /// The peer refused UPDATE (405/501): refresh with re-INVITE.
    pub(crate) update_refused: bool,
}

impl Leg {
    pub(crate) fn new(dialog: Dialog, peer: Peer, contact: Bytes, origin: OriginStamp) -> Leg {
        Leg {
            dialog,
            peer,
            contact,
            origin,
            last_sdp_sent: None,
            remote_origin: None,
            timer: None,
            allows_update: false,
            invite_out: false,
            invite_in: false,
            refreshing: false,
            ack_body: None,
            ack_branch: None,
            awaiting_ack_answer: false,
            update_refused: false,
        }
    }

    pub(crate) fn confirmed(&self) -> bool {
        self.dialog.state() == DialogState::Confirmed
    }

    /// SDP for this leg: our `o=` line on the media engine's description; remembered.
    pub(crate) fn outgoing_sdp(&mut self, sdp: &[u8]) -> Bytes {
        let b = self.origin.stamp(sdp);
        self.last_sdp_sent = Some(b.clone());
        b
    }

    /// Note the peer's description; returns true when it is unchanged from the last one
    /// (same session id and version: a refresh, RFC 3264 §8).
    pub(crate) fn note_remote_sdp(&mut self, sdp: &[u8]) -> bool {
        let o = origin_of(sdp);
        let same = o.is_some() && o == self.remote_origin;
        if o.is_some() {
            self.remote_origin = o;
        }
        same
    }

    /// A request inside the dialog, with our Via and User-Agent (and our Contact for
    /// target refresh requests, which the dialog adds).
    pub(crate) fn request(
        &mut self,
        cx: &mut Cx<'_>,
        method: Method,
    ) -> Result<Request, BuildError> {
        let mut r = self.dialog.create_request(method)?;
        let branch = cx.core.rng.branch();
        cx.core.locals.stamp_via(&mut r, &self.peer, &branch)?;
        cx.core.locals.add_user_agent(&mut r);
        Ok(r)
    }

    /// Send an in-dialog request in a new transaction.
    pub(crate) fn send(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        request: Request,
        role: ClientRole,
    ) -> Result<(), BuildError> {
        owner.send(cx, request, self.peer, role).map(|_| ())
    }

    /// ACK a 2xx to an INVITE of ours (RFC 3261 §13.2.2.4), with an SDP answer when the
    /// 2xx carried an offer.
    pub(crate) fn ack(
        &mut self,
        cx: &mut Cx<'_>,
        response: &Response,
        sdp: Option<Bytes>,
    ) -> Result<(), BuildError> {
        let branch = cx.core.rng.branch();
        self.send_ack(cx, response, sdp.as_ref(), &branch)?;
        self.ack_body = sdp;
        self.ack_branch = Some(branch);
        Ok(())
    }

    fn send_ack(
        &mut self,
        cx: &mut Cx<'_>,
        response: &Response,
        sdp: Option<&Bytes>,
        branch: &str,
    ) -> Result<(), BuildError> {
        let mut ack = self.dialog.create_ack(response)?;
        cx.core.locals.stamp_via(&mut ack, &self.peer, branch)?;
        if let Some(sdp) = sdp {
            ack.set_body("application/sdp", sdp.clone());
        }
        cx.layer.send_stateless(self.peer, Message::Request(ack));
        Ok(())
    }

    /// ACK a retransmission of the initial 2xx again (§13.2.2.4: every 2xx gets one;
    /// ours was lost or late): the same ACK, with the same branch and answer.
    pub(crate) fn ack_again(&mut self, cx: &mut Cx<'_>, response: &Response) {
        let sent = match &self.ack_branch {
            Some(branch) => {
                let (body, branch) = (self.ack_body.clone(), branch.clone());
                self.send_ack(cx, response, body.as_ref(), &branch)
            }
            None => {
                let body = self.ack_body.clone();
                self.ack(cx, response, body)
            }
        };
        if let Err(e) = sent {
            tracing::debug!(error = %e, "ACK not sent again");
        }
    }

    /// Send BYE (RFC 3261 §15.1.1).
    pub(crate) fn bye(
        &mut self,
        cx: &mut Cx<'_>,
        owner: &mut Owner,
        side: Side,
    ) -> Result<(), BuildError> {
        let r = self.request(cx, Method::Bye)?;
        self.send(cx, owner, r, ClientRole::Bye { side })
    }
}
