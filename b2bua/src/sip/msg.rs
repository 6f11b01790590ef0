//! Building the messages the B2BUA sends: our Via and Contact per transport, requests
//! outside dialogs, and responses with our tag and Contact only (topology hiding: no
//! header of the other leg is ever copied).

use bytes::Bytes;
use sip_core::transaction::Peer;
use sip_core::{HeaderName, Method, Request, Response, StatusCode, Transport, Uri};

use crate::config::B2buaConfig;

/// Why a message could not be built or sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum BuildError {
    /// No listener of the transport the destination needs.
    #[error("no local address for {0}")]
    NoLocalAddress(Transport),
    /// sip-core refused what we built (a bad URI from configuration or a peer).
    #[error("{0}")]
    Sip(String),
}

impl From<sip_core::Error> for BuildError {
    fn from(e: sip_core::Error) -> BuildError {
        BuildError::Sip(e.to_string())
    }
}

impl From<sip_core::transaction::TransactionError> for BuildError {
    fn from(e: sip_core::transaction::TransactionError) -> BuildError {
        BuildError::Sip(e.to_string())
    }
}

struct Local {
    transport: Transport,
    /// `host:port` for Via.
    sent_by: String,
    /// `sip:host:port[;transport=x]` without a user.
    contact_tail: String,
}

/// Our Via sent-by and Contact per transport, printed once at start.
pub(crate) struct Locals {
    entries: Vec<Local>,
    user_agent: Option<Bytes>,
    allow: Bytes,
    supported: Bytes,
}

/// The methods we take inside a dialog (RFC 3261 §20.5).
const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK";

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

impl Locals {
    pub(crate) fn new(config: &B2buaConfig) -> Locals {
        let entries = config
            .listen
            .iter()
            .map(|l| {
                let hp = host_port(&l.host(), l.addr.port());
                let param = match l.transport {
                    Transport::Udp => String::new(),
                    t => format!(";transport={}", t.as_str().to_ascii_lowercase()),
                };
                // `sip:` with `transport=tls` rather than `sips:`: the leg is TLS to the
                // peer, not end to end (RFC 5630 §3.1.3), and phones take it better.
                let scheme = "sip";
                Local {
                    transport: l.transport,
                    sent_by: hp.clone(),
                    contact_tail: format!("{scheme}:{hp}{param}"),
                }
            })
            .collect();
        Locals {
            entries,
            user_agent: config
                .user_agent
                .as_ref()
                .map(|u| Bytes::copy_from_slice(u.as_bytes())),
            allow: Bytes::from_static(ALLOW.as_bytes()),
            supported: Bytes::from_static(b"100rel, timer"),
        }
    }

    fn get(&self, t: Transport) -> Result<&Local, BuildError> {
        self.entries
            .iter()
            .find(|l| l.transport == t)
            .ok_or(BuildError::NoLocalAddress(t))
    }

    /// A Via for a request to `peer` (RFC 3261 §18.1.1), with `rport` (RFC 3581) so that
    /// NATed peers answer where we sent from.
    pub(crate) fn via(&self, peer: &Peer, branch: &str) -> Result<Bytes, BuildError> {
        let l = self.get(peer.transport)?;
        Ok(Bytes::from(format!(
            "SIP/2.0/{} {};branch={branch};rport",
            peer.transport.as_str(),
            l.sent_by
        )))
    }

    /// Our Contact for messages on `transport`, with an optional user part.
    pub(crate) fn contact(
        &self,
        transport: Transport,
        user: Option<&str>,
    ) -> Result<Bytes, BuildError> {
        let l = self.get(transport)?;
        Ok(Bytes::from(match user {
            Some(u) => {
                let (scheme, rest) = l
                    .contact_tail
                    .split_once(':')
                    .unwrap_or(("sip", &l.contact_tail));
                format!("<{scheme}:{u}@{rest}>")
            }
            None => format!("<{}>", l.contact_tail),
        }))
    }

    /// Put a top Via with a fresh branch on `request` for `peer`.
    pub(crate) fn stamp_via(
        &self,
        request: &mut Request,
        peer: &Peer,
        branch: &str,
    ) -> Result<(), BuildError> {
        request.headers.remove(&HeaderName::Via);
        request
            .headers
            .push_front(HeaderName::Via, self.via(peer, branch)?);
        Ok(())
    }

    /// Add User-Agent (requests) when configured.
    pub(crate) fn add_user_agent(&self, request: &mut Request) {
        if let Some(ua) = &self.user_agent {
            request.headers.push(HeaderName::UserAgent, ua.clone());
        }
    }

    /// A response to `request` (RFC 3261 §8.2.6): its Via, From, To, Call-ID and CSeq,
    /// our To tag when it had none, Server when configured; nothing else.
    pub(crate) fn response(&self, request: &Request, status: StatusCode, to_tag: &str) -> Response {
        let mut r = Response::from_request(request, status);
        if status != StatusCode::TRYING {
            r.set_to_tag(to_tag);
        }
        if let Some(ua) = &self.user_agent {
            r.headers.push(HeaderName::Server, ua.clone());
        }
        r
    }

    /// A dialog-establishing response (18x, 2xx to INVITE): with our Contact, Allow and
    /// Supported (RFC 3261 §12.1.1, §13.3.1.4).
    pub(crate) fn dialog_response(
        &self,
        request: &Request,
        status: StatusCode,
        to_tag: &str,
        contact: &Bytes,
    ) -> Response {
        let mut r = self.response(request, status, to_tag);
        r.headers.push(HeaderName::Contact, contact.clone());
        r.headers.push(HeaderName::Allow, self.allow.clone());
        r.headers
            .push(HeaderName::Supported, self.supported.clone());
        r
    }

    /// The Allow value.
    pub(crate) fn allow(&self) -> &Bytes {
        &self.allow
    }

    /// The Supported value of our INVITEs.
    pub(crate) fn supported(&self) -> &Bytes {
        &self.supported
    }
}

/// The pieces of a request outside a dialog.
pub(crate) struct NewRequest<'a> {
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    /// From, with our tag.
    pub(crate) from: &'a str,
    pub(crate) to: &'a str,
    pub(crate) call_id: &'a str,
    pub(crate) cseq: u32,
}

/// A request outside any dialog (RFC 3261 §8.1.1), without Via (added per attempt).
pub(crate) fn new_request(r: NewRequest<'_>) -> Request {
    let mut q = Request::new(r.method.clone(), r.uri);
    q.headers
        .push(HeaderName::MaxForwards, Bytes::from_static(b"70"));
    q.headers
        .push(HeaderName::From, Bytes::copy_from_slice(r.from.as_bytes()));
    q.headers
        .push(HeaderName::To, Bytes::copy_from_slice(r.to.as_bytes()));
    q.headers.push(
        HeaderName::CallId,
        Bytes::copy_from_slice(r.call_id.as_bytes()),
    );
    q.headers
        .push(HeaderName::CSeq, format!("{} {}", r.cseq, r.method));
    q
}

/// A `name-addr` text: `"display" <uri>;tag=t`.
pub(crate) fn name_addr(display: Option<&str>, uri: &str, tag: Option<&str>) -> String {
    let mut s = String::with_capacity(uri.len() + 48);
    if let Some(d) = display {
        s.push('"');
        for c in d.chars().filter(|c| !c.is_control()) {
            if c == '"' || c == '\\' {
                s.push('\\');
            }
            s.push(c);
        }
        s.push_str("\" ");
    }
    s.push('<');
    s.push_str(uri);
    s.push('>');
    if let Some(t) = tag {
        s.push_str(";tag=");
        s.push_str(t);
    }
    s
}

/// The user part of a URI as text (digits of a dialled number), unescaped.
pub(crate) fn uri_user(uri: &Uri) -> Option<String> {
    let user = uri.user_unescaped()?;
    let s = std::str::from_utf8(&user).ok()?;
    // A visual separator is not part of the number (RFC 3966 §5.1.1).
    let s: String = s
        .chars()
        .filter(|c| !matches!(c, '-' | '.' | '(' | ')'))
        .collect();
    (!s.is_empty()).then_some(s)
}

/// The Content-Type says SDP.
pub(crate) fn is_sdp(headers: &sip_core::Headers) -> bool {
    headers
        .get_value(&HeaderName::ContentType)
        .is_some_and(|v| {
            let v = v.as_ref();
            v.len() >= 15 && v[..15].eq_ignore_ascii_case(b"application/sdp")
        })
}

/// The SDP body of a message, if it has one.
pub(crate) fn sdp_body(headers: &sip_core::Headers, body: &Bytes) -> Option<Bytes> {
    (!body.is_empty() && is_sdp(headers)).then(|| body.clone())
}

/// Whether an option tag is in Require or Supported.
pub(crate) fn supports(headers: &sip_core::Headers, tag: &str) -> bool {
    headers.has_token(&HeaderName::Supported, tag) || headers.has_token(&HeaderName::Require, tag)
}

/// Whether the peer listed `method` in Allow (absent Allow: assume only RFC 3261 basics).
pub(crate) fn allows(headers: &sip_core::Headers, method: &str) -> bool {
    headers.has_token(&HeaderName::Allow, method)
}

/// The reason phrase as text.
pub(crate) fn reason(response: &Response) -> String {
    String::from_utf8_lossy(&response.reason).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LocalAddr;
    use std::net::SocketAddr;

    fn locals() -> Locals {
        let mut c = B2buaConfig::new(
            "vss.test",
            vec![
                LocalAddr::new(Transport::Udp, SocketAddr::from(([10, 0, 0, 1], 5060))),
                LocalAddr::new(Transport::Tcp, SocketAddr::from(([10, 0, 0, 1], 5070))),
            ],
            &[1; 16],
        );
        c.user_agent = Some("vss".into());
        Locals::new(&c)
    }

    #[test]
    fn via_and_contact_per_transport() -> Result<(), BuildError> {
        let l = locals();
        let udp = Peer::udp(SocketAddr::from(([192, 0, 2, 1], 5060)));
        assert_eq!(
            &l.via(&udp, "z9hG4bKx")?[..],
            b"SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKx;rport"
        );
        let tcp = Peer {
            transport: Transport::Tcp,
            ..udp
        };
        assert_eq!(
            &l.contact(Transport::Tcp, Some("acct"))?[..],
            b"<sip:acct@10.0.0.1:5070;transport=tcp>"
        );
        assert_eq!(
            &l.contact(Transport::Udp, None)?[..],
            b"<sip:10.0.0.1:5060>"
        );
        assert!(l.via(&tcp, "z9hG4bKy").is_ok());
        let tls = Peer {
            transport: Transport::Tls,
            ..udp
        };
        assert_eq!(
            l.via(&tls, "z9hG4bKz"),
            Err(BuildError::NoLocalAddress(Transport::Tls))
        );
        Ok(())
    }

    #[test]
    fn requests_validate_and_users_read() -> Result<(), BuildError> {
        let l = locals();
        let uri = Uri::parse_str("sip:+49-30-123@carrier.example")?;
        assert_eq!(uri_user(&uri).as_deref(), Some("+4930123"));
        let from = name_addr(Some("Q \"x\""), "sip:6001@vss.test", Some("abc"));
        assert_eq!(from, "\"Q \\\"x\\\"\" <sip:6001@vss.test>;tag=abc");
        let mut r = new_request(NewRequest {
            method: Method::Options,
            uri,
            from: &from,
            to: "<sip:carrier.example>",
            call_id: "c1",
            cseq: 1,
        });
        l.stamp_via(
            &mut r,
            &Peer::udp(SocketAddr::from(([192, 0, 2, 1], 5060))),
            "z9hG4bK1",
        )?;
        l.add_user_agent(&mut r);
        sip_core::message::validate(&sip_core::Message::Request(r.clone()))?;
        let resp = l.dialog_response(
            &r,
            StatusCode::OK,
            "t1",
            &Bytes::from_static(b"<sip:10.0.0.1>"),
        );
        assert_eq!(resp.headers.to()?.tag(), Some(&b"t1"[..]));
        assert!(allows(&resp.headers, "UPDATE"));
        assert!(supports(&resp.headers, "timer"));
        Ok(())
    }
}
