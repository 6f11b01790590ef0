//! Originate (click-to-call, the autodialer): call the slot with an auto-answer hint,
//! then the number, and bridge the two through the media engine.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::HeaderName;
use sip_core::transaction::TransactionLayer;

use super::B2bua;
use crate::call::{Call, CallInfo, CallTimer, OriginatePlan, Outgoing, Setup, Side};
use crate::core::Cx;
use crate::error::OriginateError;
use crate::event::{CallCreated, CallDirection, CallEvent, CallId};
use crate::locator::Locator;
use crate::route::{self, Base, Presented};
use crate::routing::slot_extension;
use crate::sip::sdp::{OriginStamp, originate_offer};
use crate::trunk::config_is_dial_string;

/// What an originated call carries besides the slot and the number.
#[derive(Debug, Clone, Default)]
pub struct OriginateOptions {
    /// The number presented to the destination (trunk caller-ID settings still apply);
    /// `None` presents the slot's extension.
    pub caller_id: Option<String>,
    /// Record the call (also when `[media] record_calls` is off).
    pub record: bool,
    /// The autodialer campaign, copied into the CDR.
    pub campaign_id: Option<String>,
    /// The autodialer lead, copied into the CDR.
    pub lead_id: Option<String>,
    /// How long each side may ring (the slot, then the destination); `None` uses the
    /// configured ring timeout.
    pub ring_timeout: Option<Duration>,
}

impl B2bua {
    /// Call `slot` with an auto-answer hint (`Call-Info: <sip:domain>;answer-after=0` and
    /// `Alert-Info: <http://x>;info=alert-autoanswer`); when it answers, call `number`
    /// by the routing rules and bridge the two. Events and the CDR follow as for any
    /// call ([`CallDirection::Originate`]); the returned id works with
    /// [`hangup`](Self::hangup).
    pub fn originate(
        &mut self,
        now: Instant,
        slot: &str,
        number: &str,
        options: OriginateOptions,
        layer: &mut TransactionLayer,
        locator: &dyn Locator,
    ) -> Result<CallId, OriginateError> {
        let ext = slot_extension(slot)
            .ok_or_else(|| OriginateError::NotASlot(slot.to_owned()))?
            .to_owned();
        if !config_is_dial_string(number) {
            return Err(OriginateError::BadNumber(number.to_owned()));
        }
        if !self.accepting || self.core.active_calls >= self.core.config.max_calls {
            self.core.stats.overload_rejections += 1;
            return Err(OriginateError::Overloaded);
        }
        if locator.lookup(&ext).is_empty() {
            return Err(OriginateError::NotRegistered(ext));
        }
        if !self.cps.try_take(now) {
            self.core.stats.overload_rejections += 1;
            return Err(OriginateError::Overloaded);
        }
        let rng = &mut self.core.rng;
        let id = CallId::from_random(rng.u128());
        let tags = [rng.tag(), rng.tag()];
        let mut a_origin = OriginStamp::new(rng.below(u64::from(u32::MAX)));
        let placeholder_sid = rng.below(u64::from(u32::MAX));
        let record = options.record || self.core.config.record_calls;
        // The relay is offered a destination that does not exist yet; the slot gets the
        // relay's side of it.
        let mut opts = media::SdpOptions::default();
        opts.replace_origin = true;
        opts.record = record;
        // The placeholder stands for nobody; its address is used as written.
        opts.trust_address = true;
        let media_id = id.to_string();
        let synthetic = originate_offer(self.core.config.originate_placeholder, placeholder_sid);
        let for_slot = self
            .core
            .media
            .offer(&media_id, &tags[1], &synthetic, &opts)
            .map_err(|e| OriginateError::Media(e.to_string()))?;
        let body = a_origin.stamp(&for_slot);
        // From the API: kept between a second and an hour.
        let ring_timeout = options
            .ring_timeout
            .unwrap_or(self.core.config.ring_timeout)
            .clamp(Duration::from_secs(1), Duration::from_secs(3600));
        let call_key = self.next_key;
        self.next_key += 1;
        let wall = self.core.wall(now);
        let info = CallInfo {
            direction: CallDirection::Originate,
            src: ext.clone(),
            dst: number.to_owned(),
            slot: Some(ext.clone()),
            trunk: None,
            campaign_id: options.campaign_id.clone(),
            lead_id: options.lead_id.clone(),
            record,
            start: wall,
            answer: None,
        };
        let mut call = Call::new(call_key, id, info, tags);
        call.originate = Some(OriginatePlan {
            number: number.to_owned(),
            caller_id: options.caller_id.clone(),
            ring_timeout,
        });
        call.origins[0] = Some(a_origin);
        let domain = self.core.config.domain.clone();
        let call_id = self.core.rng.call_id();
        call.sip_call_ids[0] = Some(call_id.clone());
        let base = Base {
            side: Side::A,
            call_id,
            local_tag: call.tag(Side::A).to_owned(),
            body: Some(body),
            headers: vec![
                (
                    HeaderName::CallInfo,
                    Bytes::from(format!("<sip:{domain}>;answer-after=0")),
                ),
                (
                    HeaderName::AlertInfo,
                    Bytes::from_static(b"<http://x>;info=alert-autoanswer"),
                ),
            ],
            max_forwards: 70,
        };
        // The slot sees whom it is about to be connected to.
        let shown = Presented {
            number: number.to_owned(),
            display: None,
        };
        self.core.active_calls += 1;
        self.core.stats.calls_created += 1;
        self.core.events.push_back(CallEvent::Created(CallCreated {
            call: id,
            direction: CallDirection::Originate,
            src: ext.clone(),
            dst: number.to_owned(),
            slot: Some(ext.clone()),
            campaign_id: options.campaign_id,
            lead_id: options.lead_id,
            at: wall,
        }));
        let mut cx = Cx {
            now,
            layer,
            core: &mut self.core,
            locator: Some(locator),
        };
        call.media_opened(&mut cx);
        match route::to_slot(&cx, &ext, &shown, base) {
            Ok(spec) => {
                let mut out = Box::new(Outgoing::new(spec));
                let ev = out.start(&mut cx, &mut call.owner);
                call.a_setup = Setup::Outgoing(out);
                call.owner
                    .arm(&mut cx, CallTimer::Ring(Side::A), now + ring_timeout);
                call.on_out_event(&mut cx, Side::A, ev);
            }
            Err((status, reason)) => call.end(
                &mut cx,
                crate::event::HangupSide::System,
                status,
                reason,
                None,
            ),
        }
        let finished = call.is_finished();
        self.by_id.insert(id, call_key);
        self.calls.insert(call_key, call);
        if finished {
            self.remove_call(call_key);
        }
        Ok(id)
    }
}
