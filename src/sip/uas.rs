//! The checks RFC 3261 §8.2 asks of every UAS before a request reaches its module, and
//! the answers `vss serve` gives to requests no module serves.
//!
//! Order (§8.2): method inspection (405/501), header inspection (416 for the
//! Request-URI scheme, 420 for Require), content processing (415, and 406 when Accept
//! rules out the SDP an INVITE's answer must carry).

use bytes::Bytes;
use sip_core::header::HeaderName;
use sip_core::uri::Scheme;
use sip_core::{Method, Request, Response, StatusCode};

/// Option tags this server implements (RFC 3261 §8.2.2.3, §19.2): reliable provisionals
/// (RFC 3262) and session timers (RFC 4028), both handled by the B2BUA per leg.
pub(crate) const SUPPORTED: &[&str] = &["100rel", "timer"];

/// Methods this server serves today (the Allow header).
pub(crate) const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, UPDATE, INFO, PRACK";

/// Body types understood in an INVITE.
const ACCEPT: &str = "application/sdp";

/// A refusal: the status and the headers that must go with it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The status code.
    pub(crate) status: StatusCode,
    /// Extra headers (Unsupported for 420, Accept for 415, ...).
    pub(crate) headers: Vec<(HeaderName, String)>,
}

impl Refusal {
    fn new(status: StatusCode) -> Refusal {
        Refusal {
            status,
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: HeaderName, value: impl Into<String>) -> Refusal {
        self.headers.push((name, value.into()));
        self
    }
}

/// Header inspection and content processing for one request (§8.2.2, §8.2.3).
/// ACK and CANCEL are never refused here: §8.2.2.3 forbids failing them on Require, and
/// they carry nothing to process.
pub(crate) fn inspect(request: &Request) -> Result<(), Refusal> {
    if matches!(request.method, Method::Ack | Method::Cancel) {
        return Ok(());
    }
    // §8.2.2.1: a Request-URI scheme we do not serve is 416.
    if matches!(request.uri.scheme(), Scheme::Other) {
        return Err(Refusal::new(StatusCode::UNSUPPORTED_URI_SCHEME));
    }
    // §8.2.2.3: every option tag in Require must be supported. This element is both the
    // UAS and the first proxy of its slots, so Proxy-Require counts too (RFC 4475 §3.3.5).
    let unsupported: Vec<String> = request
        .headers
        .tokens(&HeaderName::Require)
        .chain(request.headers.tokens(&HeaderName::ProxyRequire))
        .filter(|tag| {
            !SUPPORTED
                .iter()
                .any(|s| s.as_bytes().eq_ignore_ascii_case(tag))
        })
        .map(|t| String::from_utf8_lossy(t).into_owned())
        .collect();
    if !unsupported.is_empty() {
        return Err(Refusal::new(StatusCode::BAD_EXTENSION)
            .with(HeaderName::Unsupported, unsupported.join(", ")));
    }
    if request.method == Method::Invite {
        inspect_invite_content(request)?;
    }
    Ok(())
}

/// §8.2.3 for an INVITE: its body, when there is one, must be SDP in no encoding; and
/// an Accept header must allow the SDP of our answer (RFC 4475 §3.3.15 → 406).
fn inspect_invite_content(request: &Request) -> Result<(), Refusal> {
    if !request.body.is_empty() {
        let ctype = request
            .headers
            .get_value(&HeaderName::ContentType)
            .map(|v| media_type(v))
            .unwrap_or_default();
        if !ctype.eq_ignore_ascii_case(ACCEPT) {
            return Err(
                Refusal::new(StatusCode::UNSUPPORTED_MEDIA_TYPE).with(HeaderName::Accept, ACCEPT)
            );
        }
        let identity = request
            .headers
            .values(&HeaderName::ContentEncoding)
            .all(|e| e.eq_ignore_ascii_case(b"identity"));
        if !identity {
            return Err(Refusal::new(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .with(HeaderName::AcceptEncoding, "identity"));
        }
    }
    if request.headers.contains(&HeaderName::Accept) {
        let sdp_ok = request.headers.values(&HeaderName::Accept).any(|v| {
            let t = media_type(v);
            t.eq_ignore_ascii_case(ACCEPT) || t.eq_ignore_ascii_case("application/*") || t == "*/*"
        });
        if !sdp_ok {
            return Err(Refusal::new(StatusCode::NOT_ACCEPTABLE)
                .with(HeaderName::Warning, "399 - \"answers are application/sdp\""));
        }
    }
    Ok(())
}

/// The `type/subtype` of a media-type value, without parameters.
fn media_type(value: &[u8]) -> String {
    let end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end]).trim().to_owned()
}

/// A response to `request` with `status`, our To tag and Server header.
pub(crate) fn response(
    request: &Request,
    status: StatusCode,
    to_tag: &str,
    server: &Bytes,
) -> Response {
    let mut r = Response::from_request(request, status);
    if status != StatusCode::TRYING {
        r.set_to_tag(to_tag);
    }
    r.headers.push(HeaderName::Server, server.clone());
    r
}

/// A refusal as a response.
pub(crate) fn refuse(
    request: &Request,
    refusal: Refusal,
    to_tag: &str,
    server: &Bytes,
) -> Response {
    let mut r = response(request, refusal.status, to_tag, server);
    for (name, value) in refusal.headers {
        r.headers.push(name, Bytes::from(value));
    }
    r
}

/// The answer to an OPTIONS addressed to this server (RFC 3261 §11.2): 200 with what we
/// allow, accept and support. Carriers and monitors ping with it.
pub(crate) fn options(request: &Request, to_tag: &str, server: &Bytes) -> Response {
    let mut r = response(request, StatusCode::OK, to_tag, server);
    r.headers
        .push(HeaderName::Allow, Bytes::from_static(ALLOW.as_bytes()));
    r.headers
        .push(HeaderName::Accept, Bytes::from_static(ACCEPT.as_bytes()));
    r.headers
        .push(HeaderName::AcceptEncoding, Bytes::from_static(b"identity"));
    r.headers
        .push(HeaderName::AcceptLanguage, Bytes::from_static(b"en"));
    if !SUPPORTED.is_empty() {
        r.headers
            .push(HeaderName::Supported, Bytes::from(SUPPORTED.join(", ")));
    }
    r
}

/// What `vss serve` answers to a request no module took, or `None` for ACK (never
/// answered, §17.2.3).
pub(crate) fn unhandled(request: &Request, to_tag: &str, server: &Bytes) -> Option<Response> {
    let status = match &request.method {
        Method::Ack => return None,
        Method::Options => return Some(options(request, to_tag, server)),
        // §12.2.2: an in-dialog request that matches no dialog (no module keeps dialogs
        // yet, so none matches); BYE outside a dialog gets the same answer.
        _ if request.in_dialog() => StatusCode::CALL_DOES_NOT_EXIST,
        Method::Bye | Method::Prack | Method::Update | Method::Info => {
            StatusCode::CALL_DOES_NOT_EXIST
        }
        // No route exists to any Request-URI until the B2BUA routes calls.
        Method::Invite => StatusCode::NOT_FOUND,
        Method::Extension(_) => StatusCode::NOT_IMPLEMENTED,
        _ => StatusCode::METHOD_NOT_ALLOWED,
    };
    let mut r = response(request, status, to_tag, server);
    if matches!(
        status,
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED
    ) {
        // §21.4.6: a 405 must list what is allowed; a 501 may.
        r.headers
            .push(HeaderName::Allow, Bytes::from_static(ALLOW.as_bytes()));
    }
    Some(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use sip_core::Message;

    fn req(text: &str) -> Request {
        match Message::parse_datagram(Bytes::copy_from_slice(
            text.replace('\n', "\r\n").as_bytes(),
        ))
        .unwrap()
        {
            Message::Request(r) => r,
            Message::Response(_) => panic!("not a request"),
        }
    }

    const BASE: &str = "OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:c@d>;tag=1\nTo: <sip:a@b>\nCall-ID: x\nCSeq: 1 OPTIONS\n";

    #[test]
    fn require_and_scheme() {
        let r = req(&format!("{BASE}Require: foo, bar\nProxy-Require: baz\n\n"));
        let refusal = inspect(&r).unwrap_err();
        assert_eq!(refusal.status, StatusCode::BAD_EXTENSION);
        assert_eq!(
            refusal.headers,
            vec![(HeaderName::Unsupported, "foo, bar, baz".to_owned())]
        );
        let tel = req(&format!(
            "{}\n",
            BASE.replace("OPTIONS sip:a@b", "OPTIONS tel:+123")
        ));
        assert!(inspect(&tel).is_ok());
        let other = req(&format!(
            "{}\n",
            BASE.replace("OPTIONS sip:a@b", "OPTIONS foo:bar")
        ));
        assert_eq!(
            inspect(&other).unwrap_err().status,
            StatusCode::UNSUPPORTED_URI_SCHEME
        );
    }

    #[test]
    fn invite_content() {
        let inv = BASE.replace("OPTIONS", "INVITE");
        let r = req(&format!(
            "{inv}Content-Type: application/unknownformat\nContent-Length: 3\n\nabc"
        ));
        assert_eq!(
            inspect(&r).unwrap_err().status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let r = req(&format!("{inv}Accept: text/nobodyKnowsThis\n\n"));
        assert_eq!(inspect(&r).unwrap_err().status, StatusCode::NOT_ACCEPTABLE);
        let r = req(&format!(
            "{inv}Accept: application/sdp;level=1, text/html\nContent-Type: Application/SDP\nContent-Length: 3\n\nv=0"
        ));
        assert!(inspect(&r).is_ok());
    }

    #[test]
    fn unhandled_answers() {
        let server = Bytes::from_static(b"VSS/test");
        let r = req(&format!("{BASE}\n"));
        let resp = unhandled(&r, "t", &server).unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert!(resp.headers.contains(&HeaderName::Allow));
        assert_eq!(resp.headers.to().unwrap().tag(), Some(&b"t"[..]));
        let bye = req(&format!(
            "{}\n",
            BASE.replace("OPTIONS", "BYE")
                .replace("To: <sip:a@b>", "To: <sip:a@b>;tag=9")
        ));
        assert_eq!(
            unhandled(&bye, "t", &server).unwrap().status,
            StatusCode::CALL_DOES_NOT_EXIST
        );
        let ext = req(&format!("{}\n", BASE.replace("OPTIONS", "FOO")));
        assert_eq!(
            unhandled(&ext, "t", &server).unwrap().status,
            StatusCode::NOT_IMPLEMENTED
        );
        let reg = req(&format!("{}\n", BASE.replace("OPTIONS", "REGISTER")));
        assert_eq!(
            unhandled(&reg, "t", &server).unwrap().status,
            StatusCode::METHOD_NOT_ALLOWED
        );
        let ack = req(&format!("{}\n", BASE.replace("OPTIONS", "ACK")));
        assert!(unhandled(&ack, "t", &server).is_none());
    }
}
