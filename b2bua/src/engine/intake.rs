//! A new INVITE: checks, overload, who calls (a carrier by source address, a slot by
//! digest), where to (numbering plan), and the call that results.

use std::time::Instant;

use bytes::Bytes;
use sip_core::dialog::Dialog;
use sip_core::transaction::{Peer, ServerKey, TransactionLayer};
use sip_core::{HeaderName, NameAddr, Request, Response, StatusCode};

use super::B2bua;
use crate::call::{Call, CallInfo, Inbound, Leg, Outgoing, Setup, Side};
use crate::core::Cx;
use crate::event::{CallCreated, CallDirection, CallEvent, CallId};
use crate::locator::Locator;
use crate::route::{self, Base, Presented};
use crate::routing::{Destination, classify};
use crate::sip::auth::{SlotAuth, add_proxy_challenges, authenticate_slot};
use crate::sip::msg::{sdp_body, uri_user};
use crate::sip::sdp::OriginStamp;
use crate::sip::session_timer::{Policy, UasOutcome, uas_negotiate};

/// The option tags we support in a caller's Require (RFC 3261 §8.2.2.3).
const SUPPORTED: [&str; 2] = ["100rel", "timer"];

/// Who is calling.
enum Caller {
    Slot(String),
    Trunk(usize),
}

impl B2bua {
    fn refuse(&mut self, now: Instant, layer: &mut TransactionLayer, key: &ServerKey, r: Response) {
        if let Err(e) = layer.send_response(now, key, r) {
            tracing::debug!(error = %e, "refusal not sent");
        }
    }

    fn reply(&mut self, request: &Request, status: StatusCode, reason: Option<&str>) -> Response {
        let tag = self.core.rng.tag();
        let r = self.core.locals.response(request, status, &tag);
        match reason {
            Some(t) => r.with_reason(t),
            None => r,
        }
    }

    fn overloaded(&mut self, request: &Request) -> Response {
        self.core.stats.overload_rejections += 1;
        let mut r = self.reply(request, StatusCode::SERVICE_UNAVAILABLE, None);
        r.headers.push(
            HeaderName::RetryAfter,
            Bytes::from(self.core.config.retry_after.to_string()),
        );
        r
    }

    pub(super) fn on_new_invite(
        &mut self,
        now: Instant,
        key: ServerKey,
        request: Request,
        source: Peer,
        layer: &mut TransactionLayer,
        locator: &dyn Locator,
    ) {
        // A B2BUA is a UA on each side, but slot → trunk → back loops are real: count
        // hops like a proxy would (RFC 3261 §16.3 step 3, §16.6 step 3).
        let max_forwards = request.headers.max_forwards().ok().flatten().unwrap_or(70);
        if max_forwards == 0 {
            let r = self.reply(&request, StatusCode::TOO_MANY_HOPS, None);
            return self.refuse(now, layer, &key, r);
        }
        let unsupported: Vec<String> = request
            .headers
            .tokens(&HeaderName::Require)
            .filter(|t| {
                !SUPPORTED
                    .iter()
                    .any(|s| s.as_bytes().eq_ignore_ascii_case(t))
            })
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect();
        if !unsupported.is_empty() {
            let mut r = self.reply(&request, StatusCode::BAD_EXTENSION, None);
            r.headers
                .push(HeaderName::Unsupported, Bytes::from(unsupported.join(", ")));
            return self.refuse(now, layer, &key, r);
        }
        if !self.accepting || self.core.active_calls >= self.core.config.max_calls {
            let r = self.overloaded(&request);
            return self.refuse(now, layer, &key, r);
        }
        let caller = match self
            .core
            .trunks
            .iter()
            .position(|t| t.config.admits(source.addr.ip()))
        {
            Some(t) => Caller::Trunk(t),
            None => {
                let wall = self.core.wall(now);
                match authenticate_slot(&mut self.core.digest, wall, &request, locator) {
                    SlotAuth::Slot(ext) => Caller::Slot(ext),
                    SlotAuth::Challenge { stale } => {
                        self.core.stats.auth_challenges += 1;
                        let mut r =
                            self.reply(&request, StatusCode::PROXY_AUTHENTICATION_REQUIRED, None);
                        add_proxy_challenges(&mut r, &mut self.core.digest, wall, stale);
                        return self.refuse(now, layer, &key, r);
                    }
                    SlotAuth::Refuse(status, why) => {
                        self.core.stats.auth_failures += 1;
                        tracing::info!(from = %source.addr, why, "INVITE refused");
                        let r = self.reply(&request, status, Some(why));
                        return self.refuse(now, layer, &key, r);
                    }
                }
            }
        };
        if !self.cps.try_take(now) {
            let r = self.overloaded(&request);
            return self.refuse(now, layer, &key, r);
        }
        if !request.body.is_empty() && !crate::sip::msg::is_sdp(&request.headers) {
            let mut r = self.reply(&request, StatusCode::UNSUPPORTED_MEDIA_TYPE, None);
            r.headers
                .push(HeaderName::Accept, Bytes::from_static(b"application/sdp"));
            return self.refuse(now, layer, &key, r);
        }
        let Some(number) = uri_user(&request.uri) else {
            let r = self.reply(&request, StatusCode::NOT_FOUND, None);
            return self.refuse(now, layer, &key, r);
        };
        // What the call is: direction, numbers, slot, and where the B side goes.
        let (direction, src, display, dst, slot, dest, trunk) = match &caller {
            Caller::Slot(ext) => {
                let dest = classify(&number, &self.core.config.echo_number);
                let direction = match dest {
                    Destination::Slot(_) => CallDirection::Internal,
                    Destination::Echo | Destination::UnknownService => CallDirection::Service,
                    Destination::External(_) => CallDirection::Outbound,
                };
                let display = request
                    .headers
                    .from()
                    .ok()
                    .and_then(|f| f.display_name().map(|d| d.into_owned()));
                (
                    direction,
                    ext.clone(),
                    display,
                    number.clone(),
                    Some(ext.clone()),
                    dest,
                    None,
                )
            }
            Caller::Trunk(t) => {
                let cfg = &self.core.trunks[*t].config;
                let to_user = request.headers.to().ok().and_then(|to| uri_user(to.uri()));
                let ext = cfg
                    .dids
                    .get(&number)
                    .or_else(|| to_user.as_ref().and_then(|u| cfg.dids.get(u)));
                let Some(ext) = ext.cloned() else {
                    tracing::info!(trunk = %cfg.name, number, "call from the carrier to an unknown DID");
                    let r = self.reply(&request, StatusCode::NOT_FOUND, None);
                    return self.refuse(now, layer, &key, r);
                };
                if !self.core.trunks[*t].admit_inbound() {
                    let r = self.overloaded(&request);
                    return self.refuse(now, layer, &key, r);
                }
                let from = request.headers.from().ok();
                let src = from
                    .and_then(|f| uri_user(f.uri()))
                    .unwrap_or_else(|| "anonymous".into());
                let display = from.and_then(|f| f.display_name().map(|d| d.into_owned()));
                let dst = to_user
                    .filter(|u| cfg.dids.contains_key(u))
                    .unwrap_or(number.clone());
                (
                    CallDirection::Inbound,
                    src,
                    display,
                    dst,
                    Some(ext.clone()),
                    Destination::Slot(ext),
                    Some(*t),
                )
            }
        };
        if dest == Destination::UnknownService {
            let r = self.reply(&request, StatusCode::NOT_FOUND, None);
            return self.refuse(now, layer, &key, r);
        }
        let policy = self.core.config.session_expires.map(|se| Policy {
            session_expires: se,
            min_se: self.core.config.min_se,
        });
        let a_timer = uas_negotiate(&request.headers, policy);
        if let UasOutcome::TooSmall(min) = a_timer {
            let mut r = self.reply(&request, StatusCode::SESSION_INTERVAL_TOO_SMALL, None);
            r.headers
                .push(HeaderName::MinSe, Bytes::from(min.to_string()));
            return self.refuse(now, layer, &key, r);
        }

        // The A side: our dialog with the caller, with our tag and Contact.
        let rng = &mut self.core.rng;
        let id = CallId::from_random(rng.u128());
        let tags = [rng.tag(), rng.tag()];
        let first_rseq = u32::try_from(rng.below(1 << 20)).unwrap_or(0) + 1;
        let a_origin = OriginStamp::new(rng.below(u64::from(u32::MAX)));
        let b_origin = OriginStamp::new(rng.below(u64::from(u32::MAX)));
        let contact = match self.core.locals.contact(source.transport, None) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "no local address to answer on");
                let r = self.reply(&request, StatusCode::SERVICE_UNAVAILABLE, None);
                return self.refuse(now, layer, &key, r);
            }
        };
        let mut dialog = match Dialog::uas(&request, &tags[0]) {
            Ok(d) => d,
            Err(e) => {
                let r = self.reply(&request, StatusCode::BAD_REQUEST, Some(&e.to_string()));
                return self.refuse(now, layer, &key, r);
            }
        };
        if let Ok(c) = NameAddr::parse(&String::from_utf8_lossy(&contact)) {
            dialog.set_local_contact(c);
        }
        let call_key = self.next_key;
        self.next_key += 1;
        let wall = self.core.wall(now);
        let info = CallInfo {
            direction,
            src: src.clone(),
            dst: dst.clone(),
            slot: slot.clone(),
            trunk,
            campaign_id: None,
            lead_id: None,
            record: self.core.config.record_calls,
            start: wall,
            answer: None,
        };
        let mut call = Call::new(call_key, id, info, tags);
        call.sip_call_ids[0] = request
            .headers
            .call_id()
            .ok()
            .map(|c| String::from_utf8_lossy(c).into_owned());
        call.a_timer = a_timer;
        call.origins[1] = Some(b_origin);
        let offer = sdp_body(&request.headers, &request.body);
        call.a_offered = offer.is_some();
        let mut a_leg = Leg::new(dialog, source, contact, a_origin);
        a_leg.allows_update = crate::sip::msg::allows(&request.headers, "UPDATE");
        if let Some(o) = &offer {
            a_leg.note_remote_sdp(o);
        }
        call.a = Some(a_leg);
        call.a_setup = Setup::Inbound(Box::new(Inbound::new(
            key,
            request.clone(),
            source,
            first_rseq,
        )));
        if let Some(t) = trunk {
            call.trusted[0] = true;
            call.trunk_held = Some(t);
            self.core.trunks[t].active += 1;
        }
        self.core.active_calls += 1;
        self.core.stats.calls_created += 1;
        self.core.events.push_back(CallEvent::Created(CallCreated {
            call: id,
            direction,
            src: src.clone(),
            dst: dst.clone(),
            slot,
            campaign_id: None,
            lead_id: None,
            at: wall,
        }));
        let mut cx = Cx {
            now,
            layer,
            core: &mut self.core,
            locator: Some(locator),
        };
        if let Some(a) = &call.a {
            call.index_dialog(&mut cx, Side::A, &a.dialog.clone());
        }
        call.track_invite(&mut cx);
        start_b_side(
            &mut call,
            &mut cx,
            dest,
            Presented {
                number: src,
                display,
            },
            offer,
            max_forwards - 1,
        );
        let finished = call.is_finished();
        self.by_id.insert(id, call_key);
        self.calls.insert(call_key, call);
        if finished {
            self.remove_call(call_key);
        }
    }
}

/// Open the media session with A's offer and start the B side (or answer as the echo
/// service).
fn start_b_side(
    call: &mut Call,
    cx: &mut Cx<'_>,
    dest: Destination,
    caller: Presented,
    offer: Option<Bytes>,
    max_forwards: u32,
) {
    let media_id = call.media_id();
    let mut opts = call.sdp_opts(Side::A);
    opts.record = call.info.record;
    if dest == Destination::Echo {
        let Some(echo) = cx.core.echo.clone() else {
            return call.end(
                cx,
                crate::event::HangupSide::System,
                StatusCode::SERVICE_UNAVAILABLE,
                "echo service needs media echo support",
                None,
            );
        };
        let Some(sdp) = offer else {
            return call.end(
                cx,
                crate::event::HangupSide::System,
                StatusCode::NOT_ACCEPTABLE_HERE,
                "echo needs an offer",
                None,
            );
        };
        match echo.echo(&media_id, call.tag(Side::A), &sdp, &opts) {
            Ok(answer) => {
                call.media_opened(cx);
                call.codec = crate::sip::sdp::first_audio_codec(&sdp);
                call.answer_echo(cx, &answer);
            }
            Err(e) => {
                tracing::info!(error = %e, "echo refused by the media engine");
                call.end(
                    cx,
                    crate::event::HangupSide::System,
                    StatusCode::NOT_ACCEPTABLE_HERE,
                    "media refused the offer",
                    None,
                );
            }
        }
        return;
    }
    let body = match &offer {
        Some(sdp) => match cx
            .core
            .media
            .offer(&media_id, call.tag(Side::A), sdp, &opts)
        {
            Ok(b) => {
                call.media_opened(cx);
                let stamped = call.origins[1].as_mut().map(|o| o.stamp(&b)).unwrap_or(b);
                Some(stamped)
            }
            Err(e) => {
                tracing::info!(call = %call.id, error = %e, "offer refused by the media engine");
                return call.end(
                    cx,
                    crate::event::HangupSide::System,
                    StatusCode::NOT_ACCEPTABLE_HERE,
                    "media refused the offer",
                    None,
                );
            }
        },
        None => None,
    };
    let call_id = cx.core.rng.call_id();
    let base = Base {
        side: Side::B,
        call_id: call_id.clone(),
        local_tag: call.tag(Side::B).to_owned(),
        body,
        headers: Vec::new(),
        max_forwards,
    };
    let spec = match &dest {
        Destination::Slot(ext) => route::to_slot(cx, ext, &caller, base),
        Destination::External(n) => route::to_trunks(cx, n, &caller, base),
        Destination::Echo | Destination::UnknownService => {
            Err((StatusCode::NOT_FOUND, "Not Found"))
        }
    };
    let spec = match spec {
        Ok(s) => s,
        Err((status, reason)) => {
            return call.end(cx, crate::event::HangupSide::System, status, reason, None);
        }
    };
    call.sip_call_ids[1] = Some(call_id);
    let mut out = Box::new(Outgoing::new(spec));
    let ev = out.start(cx, &mut call.owner);
    call.b_setup = Setup::Outgoing(out);
    let ring = cx.core.config.ring_timeout;
    call.owner
        .arm(cx, crate::call::CallTimer::Ring(Side::B), cx.now + ring);
    call.on_out_event(cx, Side::B, ev);
}
