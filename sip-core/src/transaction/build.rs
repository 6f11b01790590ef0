//! Messages the transaction layer builds: branches, the ACK for a non-2xx final
//! response, CANCEL, and where responses go.

use super::types::Peer;
use crate::error::{Error, Result};
use crate::header::{HeaderName, MAGIC_COOKIE, Via};
use crate::message::{Request, Response};
use crate::method::Method;
use bytes::Bytes;
use std::hash::{DefaultHasher, Hasher};
use std::net::SocketAddr;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A branch for a new client transaction: the RFC 3261 magic cookie followed by the
/// caller's random bytes in hex (RFC 3261 §8.1.1.7: unique across space and time). The
/// layer never draws random numbers itself; pass 16 bytes from a CSPRNG.
pub fn new_branch(random: &[u8; 16]) -> String {
    let mut s = String::with_capacity(MAGIC_COOKIE.len() + 32);
    s.push_str(MAGIC_COOKIE);
    for b in random {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// The ACK for a non-2xx final response, as the INVITE client transaction sends it
/// (RFC 3261 §17.1.1.3): Request-URI, Call-ID, From, CSeq number and the top Via of the
/// INVITE; the To of the response (with its tag); the INVITE's Route header fields.
pub fn ack_for_non_2xx(invite: &Request, response: &Response) -> Result<Request> {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    let via = invite.top_via()?;
    ack.headers
        .push(HeaderName::Via, Bytes::copy_from_slice(via.as_bytes()));
    copy_header(&mut ack, invite, HeaderName::MaxForwards, Some("70"));
    copy_header(&mut ack, invite, HeaderName::From, None);
    let to = response
        .headers
        .get(&HeaderName::To)
        .ok_or(Error::MissingHeader("To"))?;
    ack.headers.push_header(to.clone());
    copy_header(&mut ack, invite, HeaderName::CallId, None);
    let seq = invite.headers.cseq()?.seq;
    ack.headers.push(HeaderName::CSeq, format!("{seq} ACK"));
    for route in invite.headers.get_all(&HeaderName::Route) {
        ack.headers.push_header(route.clone());
    }
    Ok(ack)
}

/// A CANCEL for a request this element sent (RFC 3261 §9.1): Request-URI, Call-ID, To,
/// From and CSeq number of the request, one Via equal to its top Via (so the CANCEL
/// shares the branch and reaches the same server transaction), its Route header fields,
/// and CSeq method CANCEL. Send it with [`super::TransactionLayer::send_request`] to the
/// same destination, once a provisional response has arrived.
pub fn cancel_for(request: &Request) -> Result<Request> {
    let mut cancel = Request::new(Method::Cancel, request.uri.clone());
    let via = request.top_via()?;
    cancel
        .headers
        .push(HeaderName::Via, Bytes::copy_from_slice(via.as_bytes()));
    copy_header(&mut cancel, request, HeaderName::MaxForwards, Some("70"));
    copy_header(&mut cancel, request, HeaderName::From, None);
    copy_header(&mut cancel, request, HeaderName::To, None);
    copy_header(&mut cancel, request, HeaderName::CallId, None);
    let seq = request.headers.cseq()?.seq;
    cancel
        .headers
        .push(HeaderName::CSeq, format!("{seq} CANCEL"));
    for route in request.headers.get_all(&HeaderName::Route) {
        cancel.headers.push_header(route.clone());
    }
    Ok(cancel)
}

fn copy_header(to: &mut Request, from: &Request, name: HeaderName, default: Option<&'static str>) {
    match from.headers.get(&name) {
        Some(h) => to.headers.push_header(h.clone()),
        None => {
            if let Some(d) = default {
                to.headers.push(name, Bytes::from_static(d.as_bytes()));
            }
        }
    }
}

/// Where the responses to a request received from `source` with top Via `via` go
/// (RFC 3261 §18.2.2, RFC 3581 §4): on a reliable transport, back on the same
/// connection; otherwise to the source address (the `received` address) and to the
/// source port when the client asked for `rport`, else to the sent-by port.
pub(super) fn reply_peer(via: &Via, source: &Peer, force_rport: bool) -> Peer {
    if source.is_reliable() {
        return *source;
    }
    let port = match via.rport() {
        Some(_) => source.addr.port(),
        None if force_rport => source.addr.port(),
        None => via.port().unwrap_or_else(|| via.transport().default_port()),
    };
    Peer {
        transport: source.transport,
        addr: SocketAddr::new(source.addr.ip(), port),
        connection: source.connection,
    }
}

/// A response the layer answers by itself: copied from the request, with a To tag.
pub(super) fn layer_response(request: &Request, status: crate::StatusCode, tag: &str) -> Response {
    let mut r = Response::from_request(request, status);
    r.set_to_tag(tag);
    r
}

/// Invents To tags for the layer's own answers, from a secret and a counter, so that
/// they are unique and not guessable without the secret (RFC 3261 §19.3).
pub(super) struct TagSource {
    secret: [u8; 16],
    counter: u64,
}

impl TagSource {
    pub(super) fn new(secret: [u8; 16]) -> TagSource {
        TagSource { secret, counter: 0 }
    }

    pub(super) fn next_tag(&mut self) -> String {
        self.counter = self.counter.wrapping_add(1);
        let mut h = DefaultHasher::new();
        h.write(&self.secret);
        h.write_u64(self.counter);
        let v = h.finish();
        let mut s = String::with_capacity(16);
        for i in (0..16).rev() {
            s.push(HEX[((v >> (i * 4)) & 15) as usize] as char);
        }
        s
    }
}

/// The sent-by of two Vias is the same host and port (RFC 3261 §17.2.3), the port
/// defaulting by transport.
pub(super) fn same_sent_by(a: &Via, b: &Via) -> bool {
    a.host().eq_ignore_ascii_case(b.host())
        && a.port().unwrap_or_else(|| a.transport().default_port())
            == b.port().unwrap_or_else(|| b.transport().default_port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::status::StatusCode;

    fn invite() -> Result<Request> {
        let text = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKother\r\n\
Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
Max-Forwards: 69\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
Content-Length: 0\r\n\r\n";
        match Message::parse_datagram(Bytes::from_static(text.as_bytes()))? {
            Message::Request(r) => Ok(r),
            Message::Response(_) => Err(Error::Empty),
        }
    }

    #[test]
    fn branch_is_cookie_and_hex() {
        let b = new_branch(&[0xab; 16]);
        assert_eq!(b, format!("z9hG4bK{}", "ab".repeat(16)));
        let via = Via::new(crate::Transport::Udp, "h", None, &b, false);
        assert!(via.is_ok_and(|v| v.has_rfc3261_branch()));
    }

    #[test]
    fn ack_for_non_2xx_follows_17_1_1_3() -> Result<()> {
        let inv = invite()?;
        let mut busy = Response::from_request(&inv, StatusCode::BUSY_HERE);
        busy.set_to_tag("8321234356");
        let ack = ack_for_non_2xx(&inv, &busy)?;
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri, inv.uri);
        let vias: Vec<_> = ack.headers.vias()?.collect();
        assert_eq!(vias.len(), 1, "only the top Via");
        assert_eq!(vias[0].branch(), Some(&b"z9hG4bKnashds8"[..]));
        assert_eq!(ack.headers.to()?.tag(), Some(&b"8321234356"[..]));
        assert_eq!(ack.headers.from()?.tag(), Some(&b"1928301774"[..]));
        assert_eq!(ack.headers.cseq()?.seq, 314159);
        assert_eq!(ack.headers.cseq()?.method, Method::Ack);
        assert_eq!(ack.headers.addr_list(&HeaderName::Route)?.len(), 2);
        assert_eq!(ack.headers.max_forwards()?, Some(69));
        assert!(!ack.headers.contains(&HeaderName::Contact));
        crate::message::validate(&Message::Request(ack))?;
        Ok(())
    }

    #[test]
    fn cancel_follows_9_1() -> Result<()> {
        let inv = invite()?;
        let cancel = cancel_for(&inv)?;
        assert_eq!(cancel.method, Method::Cancel);
        assert_eq!(cancel.headers.vias()?.count(), 1);
        assert_eq!(cancel.top_via()?.branch(), inv.top_via()?.branch());
        assert_eq!(cancel.headers.cseq()?.seq, 314159);
        assert_eq!(cancel.headers.cseq()?.method, Method::Cancel);
        assert_eq!(cancel.headers.to()?.tag(), None);
        crate::message::validate(&Message::Request(cancel))?;
        Ok(())
    }

    #[test]
    fn replies_follow_18_2_2_and_rport() -> Result<()> {
        let src: SocketAddr = "203.0.113.9:40000".parse().map_err(|_| Error::Empty)?;
        let plain = Via::parse("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx")?;
        assert_eq!(
            reply_peer(&plain, &Peer::udp(src), false).addr.to_string(),
            "203.0.113.9:5062"
        );
        let rport = Via::parse("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx;rport")?;
        assert_eq!(reply_peer(&rport, &Peer::udp(src), false).addr, src);
        assert_eq!(reply_peer(&plain, &Peer::udp(src), true).addr, src);
        let noport = Via::parse("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx")?;
        assert_eq!(
            reply_peer(&noport, &Peer::udp(src), false).addr.port(),
            5060
        );
        let tcp = Peer {
            transport: crate::Transport::Tcp,
            addr: src,
            connection: Some(42),
        };
        assert_eq!(reply_peer(&plain, &tcp, false), tcp);
        Ok(())
    }

    #[test]
    fn tags_differ_and_depend_on_the_secret() {
        let mut a = TagSource::new([1; 16]);
        let mut b = TagSource::new([2; 16]);
        let (a1, a2, b1) = (a.next_tag(), a.next_tag(), b.next_tag());
        assert_eq!(a1.len(), 16);
        assert_ne!(a1, a2);
        assert_ne!(a1, b1);
    }

    #[test]
    fn sent_by_defaults_the_port() -> Result<()> {
        let a = Via::parse("SIP/2.0/UDP Host.Example.com;branch=z9hG4bK1")?;
        let b = Via::parse("SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK1")?;
        let c = Via::parse("SIP/2.0/UDP host.example.com:5070;branch=z9hG4bK1")?;
        assert!(same_sent_by(&a, &b));
        assert!(!same_sent_by(&a, &c));
        Ok(())
    }
}
