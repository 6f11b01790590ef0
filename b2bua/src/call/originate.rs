//! The second half of an originated call: the slot answered, now the number is called
//! and the two are bridged.
//!
//! The slot was offered the relay with G.711 and telephone-event (for a destination not
//! known yet); its answer, narrowed to one codec, becomes the offer to the destination,
//! so the relay never transcodes and the slot never needs a re-INVITE.

use bytes::Bytes;
use sip_core::{Response, StatusCode};

use super::outgoing::Outgoing;
use super::{Call, CallTimer, Setup, Side};
use crate::core::Cx;
use crate::event::HangupSide;
use crate::route::{self, Base, Presented};
use crate::routing::{Destination, classify};
use crate::sip::msg::sdp_body;
use crate::sip::sdp::OriginStamp;

impl Call {
    /// The slot answered the originate INVITE (its leg is in place).
    pub(crate) fn slot_answered(&mut self, cx: &mut Cx<'_>, response: Response) {
        let media_id = self.media_id();
        let (tag_a, tag_b) = (self.tags[0].clone(), self.tags[1].clone());
        let sdp = sdp_body(&response.headers, &response.body);
        let answered = sdp.as_ref().map(|s| {
            cx.core
                .media
                .answer(&media_id, &tag_b, &tag_a, s, &self.sdp_opts(Side::A))
        });
        if let Some(a) = self.a.as_mut() {
            if let Some(s) = &sdp {
                a.note_remote_sdp(s);
            }
            if let Err(e) = a.ack(cx, &response, None) {
                tracing::warn!(error = %e, "ACK to the slot not sent");
            }
        }
        let (Some(sdp), Some(Ok(_))) = (sdp, answered) else {
            self.end(
                cx,
                HangupSide::System,
                StatusCode::NOT_ACCEPTABLE_HERE,
                "slot's answer refused by the media engine",
                None,
            );
            return;
        };
        let Some(plan) = self.originate.clone() else {
            return;
        };
        let for_dest = match cx
            .core
            .media
            .offer(&media_id, &tag_a, &sdp, &self.sdp_opts(Side::A))
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(call = %self.id, error = %e, "offer to the destination refused by the media engine");
                self.end(
                    cx,
                    HangupSide::System,
                    StatusCode::NOT_ACCEPTABLE_HERE,
                    "media refused the offer",
                    None,
                );
                return;
            }
        };
        let mut origin = OriginStamp::new(cx.core.rng.below(u64::from(u32::MAX)));
        let body: Bytes = origin.stamp(&for_dest);
        self.origins[1] = Some(origin);
        let call_id = cx.core.rng.call_id();
        let base = Base {
            side: Side::B,
            call_id: call_id.clone(),
            local_tag: tag_b,
            body: Some(body),
            headers: Vec::new(),
            max_forwards: 70,
        };
        let caller = Presented {
            number: plan
                .caller_id
                .clone()
                .or_else(|| self.info.slot.clone())
                .unwrap_or_default(),
            display: None,
        };
        let spec = match classify(&plan.number, &cx.core.config.echo_number) {
            Destination::Slot(ext) => route::to_slot(cx, &ext, &caller, base),
            Destination::External(n) => route::to_trunks(cx, &n, &caller, base),
            Destination::Echo | Destination::UnknownService => {
                Err((StatusCode::NOT_FOUND, "Not a number to originate to"))
            }
        };
        let spec = match spec {
            Ok(s) => s,
            Err((status, reason)) => {
                self.end(cx, HangupSide::System, status, reason, None);
                return;
            }
        };
        self.sip_call_ids[1] = Some(call_id);
        let mut out = Box::new(Outgoing::new(spec));
        let ev = out.start(cx, &mut self.owner);
        self.b_setup = Setup::Outgoing(out);
        self.owner
            .arm(cx, CallTimer::Ring(Side::B), cx.now + plan.ring_timeout);
        self.on_out_event(cx, Side::B, ev);
    }
}
