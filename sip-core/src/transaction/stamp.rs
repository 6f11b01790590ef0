//! Stamping the top Via of a received request with `received` and `rport` (RFC 3261
//! §18.2.1, RFC 3581 §4), written straight into the header bytes.
//!
//! [`Via::stamped`] gives the same result (the tests below hold the two to it) but builds
//! text and parses it again; on the path of every new request that was the largest
//! single cost of a whole transaction, so the layer writes the bytes itself.

use super::types::Peer;
use crate::header::{HeaderName, Via};
use crate::message::Request;
use bytes::{BufMut, BytesMut};
use std::fmt::Write;

/// The stamped via-parm, or `None` when the Via needs nothing (the sent-by host is the
/// source address and no `rport` was asked for).
pub(super) fn stamped_bytes(
    via: &Via,
    source: std::net::SocketAddr,
    force_rport: bool,
) -> Option<BytesMut> {
    // With force_rport every request is treated as asking for rport (RFC 3581 §4), so
    // the client sees in the response where it was answered.
    let wants_rport = match via.rport() {
        Some(None) => true,
        Some(Some(p)) => force_rport && p != source.port(),
        None => force_rport,
    };
    if !wants_rport && via.host_ip() == Some(source.ip()) {
        return None;
    }
    let raw = via.as_bytes();
    let params = via.params().as_bytes();
    // The parameters end the via-parm; the head is everything before them.
    let start = (params.as_ptr() as usize).wrapping_sub(raw.as_ptr() as usize);
    if start > raw.len() || start + params.len() != raw.len() {
        let mut out = BytesMut::new();
        out.put_slice(via.stamped(source).as_bytes());
        return Some(out);
    }
    let mut out = BytesMut::with_capacity(raw.len() + 48);
    out.put_slice(&raw[..start]);
    for (name, value) in via.params().iter() {
        if name.eq_ignore_ascii_case(b"received") || name.eq_ignore_ascii_case(b"rport") {
            continue;
        }
        out.put_u8(b';');
        out.put_slice(name);
        if let Some(v) = value {
            out.put_u8(b'=');
            out.put_slice(v);
        }
    }
    // Writing to a BytesMut cannot fail.
    let _ = write!(out, ";received={}", source.ip());
    if wants_rport {
        let _ = write!(out, ";rport={}", source.port());
    }
    Some(out)
}

/// Add `received`/`rport` to the request's top Via.
pub(super) fn stamp(request: &mut Request, via: &Via, source: &Peer, force_rport: bool) {
    let Some(bytes) = stamped_bytes(via, source.addr, force_rport) else {
        return;
    };
    let headers = &mut request.headers;
    headers.pop_first_value(&HeaderName::Via);
    headers.push_front(HeaderName::Via, bytes.freeze());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Error, Result};
    use std::net::SocketAddr;

    #[test]
    fn same_bytes_as_via_stamped() -> Result<()> {
        let sources: Vec<SocketAddr> = ["203.0.113.9:40000", "10.0.0.1:5062", "[2001:db8::7]:5070"]
            .iter()
            .map(|s| s.parse().map_err(|_| Error::Empty))
            .collect::<Result<_>>()?;
        let vias = [
            "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx;rport",
            "SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx",
            "SIP/2.0/TCP pc33.example.com;branch=z9hG4bKx;received=1.2.3.4;rport=9",
            "SIP/2.0/UDP [2001:db8::7]:5070;branch=z9hG4bKx;rport",
            "SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw",
            "SIP/2.0/UDP host ; branch = z9hG4bKy ; ttl=3",
        ];
        for text in vias {
            let via = Via::parse(text)?;
            for src in &sources {
                let ours = stamped_bytes(&via, *src, false);
                let reference = via.stamped(*src);
                match ours {
                    Some(b) => assert_eq!(&b[..], reference.as_bytes(), "{text} from {src}"),
                    None => assert_eq!(reference.as_bytes(), via.as_bytes(), "{text} from {src}"),
                }
            }
        }
        Ok(())
    }

    #[test]
    fn only_the_top_via_changes() -> Result<()> {
        let text = "OPTIONS sip:a@b SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport, SIP/2.0/UDP p1;branch=z9hG4bK0\r\n\
Via: SIP/2.0/UDP p0;branch=z9hG4bKz\r\n\
From: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let crate::message::Message::Request(mut req) =
            crate::message::Message::parse_datagram(bytes::Bytes::from_static(text.as_bytes()))?
        else {
            return Err(Error::Empty);
        };
        let via = req.top_via()?.clone();
        let src: SocketAddr = "203.0.113.9:40000".parse().map_err(|_| Error::Empty)?;
        stamp(&mut req, &via, &Peer::udp(src), false);
        let hosts: Vec<Vec<u8>> = req.headers.vias()?.map(|v| v.host().to_vec()).collect();
        assert_eq!(
            hosts,
            vec![b"10.0.0.1".to_vec(), b"p1".to_vec(), b"p0".to_vec()]
        );
        assert_eq!(req.top_via()?.rport(), Some(Some(40000)));
        assert_eq!(req.top_via()?.received(), Some(&b"203.0.113.9"[..]));
        Ok(())
    }
}

#[cfg(test)]
mod force_rport_tests {
    use super::*;

    #[test]
    fn forced_rport_is_written() -> crate::error::Result<()> {
        let src: std::net::SocketAddr = "203.0.113.9:40000"
            .parse()
            .map_err(|_| crate::error::Error::Empty)?;
        let via = Via::parse("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx")?;
        let out = stamped_bytes(&via, src, true).map(|b| b.to_vec());
        assert_eq!(
            out.as_deref(),
            Some(
                &b"SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx;received=203.0.113.9;rport=40000"[..]
            )
        );
        let same = Via::parse("SIP/2.0/UDP 203.0.113.9:5062;branch=z9hG4bKx")?;
        let out = stamped_bytes(&same, src, true).map(|b| b.to_vec());
        assert_eq!(
            out.as_deref(),
            Some(
                &b"SIP/2.0/UDP 203.0.113.9:5062;branch=z9hG4bKx;received=203.0.113.9;rport=40000"[..]
            )
        );
        assert!(
            stamped_bytes(
                &same,
                "203.0.113.9:5062"
                    .parse()
                    .map_err(|_| crate::error::Error::Empty)?,
                false
            )
            .is_none()
        );
        Ok(())
    }
}
