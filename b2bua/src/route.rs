//! Building the INVITE plan of a side we call: every binding of a slot at once, or the
//! trunks matching a number one after another, with the caller presented per trunk.

use bytes::Bytes;
use sip_core::{HeaderName, StatusCode};

use crate::call::{OutgoingSpec, Side, Target};
use crate::core::Cx;
use crate::sip::msg::name_addr;
use crate::sip::session_timer::{Policy, uac_headers};

/// Who is calling, as the callee will see it.
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    pub(crate) number: String,
    pub(crate) display: Option<String>,
}

/// What every INVITE of the side shares.
pub(crate) struct Base {
    pub(crate) side: Side,
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    pub(crate) body: Option<Bytes>,
    pub(crate) headers: Vec<(HeaderName, Bytes)>,
    pub(crate) max_forwards: u32,
}

/// Why no INVITE can be sent.
pub(crate) type Refusal = (StatusCode, &'static str);

fn with_timer_headers(
    cx: &Cx<'_>,
    mut headers: Vec<(HeaderName, Bytes)>,
) -> Vec<(HeaderName, Bytes)> {
    if let Some(se) = cx.core.config.session_expires {
        let policy = Policy {
            session_expires: se,
            min_se: cx.core.config.min_se,
        };
        headers.extend(uac_headers(policy, None, false));
    }
    headers
}

/// Fork to every binding of slot `ext` (RFC 3261 §16.6-style parallel search; the first
/// 2xx wins).
pub(crate) fn to_slot(
    cx: &Cx<'_>,
    ext: &str,
    caller: &Presented,
    base: Base,
) -> Result<OutgoingSpec, Refusal> {
    let bindings = cx.locator.map(|l| l.lookup(ext)).unwrap_or_default();
    if bindings.is_empty() {
        return Err((StatusCode::TEMPORARILY_UNAVAILABLE, "Slot not registered"));
    }
    let domain = &cx.core.config.domain;
    let targets = bindings
        .into_iter()
        .map(|b| Target {
            uri: b.contact.without_headers(),
            peer: b.peer,
            trunk: None,
            from: None,
            headers: Vec::new(),
        })
        .collect();
    Ok(OutgoingSpec {
        side: base.side,
        from: name_addr(
            caller.display.as_deref(),
            &format!("sip:{}@{domain}", caller.number),
            Some(&base.local_tag),
        ),
        to: Some(name_addr(None, &format!("sip:{ext}@{domain}"), None)),
        call_id: base.call_id,
        body: base.body,
        headers: with_timer_headers(cx, base.headers),
        max_forwards: base.max_forwards,
        targets,
        parallel: true,
    })
}

/// The trunks for `number`, longest prefix first, each address of each in turn.
pub(crate) fn to_trunks(
    cx: &Cx<'_>,
    number: &str,
    caller: &Presented,
    base: Base,
) -> Result<OutgoingSpec, Refusal> {
    let configs: Vec<_> = cx.core.trunks.iter().map(|t| t.config.clone()).collect();
    let order = crate::routing::trunk_candidates(&configs, number);
    if order.is_empty() {
        return Err((StatusCode::NOT_FOUND, "No route to this number"));
    }
    let domain = &cx.core.config.domain;
    let mut targets = Vec::new();
    for i in order {
        let Some(t) = cx.core.trunks.get(i) else {
            continue;
        };
        let Ok(uri) = t.uri(Some(number)) else {
            continue;
        };
        let id = &t.config.caller_id;
        let user = id.from_user.as_deref().unwrap_or(&caller.number);
        let from = name_addr(
            id.from_display.as_deref(),
            &format!("sip:{user}@{domain}"),
            Some(&base.local_tag),
        );
        let mut headers = Vec::new();
        if let Some(pai) = &id.pai {
            let uri = if pai.contains(':') {
                pai.clone()
            } else {
                format!("sip:{pai}@{}", t.config.host)
            };
            headers.push((
                HeaderName::PAssertedIdentity,
                Bytes::from(format!("<{uri}>")),
            ));
        }
        for peer in t.peers() {
            targets.push(Target {
                uri: uri.clone(),
                peer,
                trunk: Some(i),
                from: Some(from.clone()),
                headers: headers.clone(),
            });
        }
    }
    Ok(OutgoingSpec {
        side: base.side,
        from: name_addr(
            None,
            &format!("sip:{}@{domain}", caller.number),
            Some(&base.local_tag),
        ),
        to: None,
        call_id: base.call_id,
        body: base.body,
        headers: with_timer_headers(cx, base.headers),
        max_forwards: base.max_forwards,
        targets,
        parallel: false,
    })
}
