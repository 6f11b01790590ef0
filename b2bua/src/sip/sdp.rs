//! SDP as the B2BUA handles it on top of the media engine's rewriting: our own `o=` line
//! per leg (RFC 3264 §8: one session id per leg, the version bumped only when the
//! description changes), the codec for the CDR, and the offer of an originated call.

use std::net::SocketAddr;

use bytes::Bytes;
use sip_core::sdp::SessionDescription;

/// Static payload types of RFC 3551 that carry audio names without an rtpmap.
fn static_name(pt: u8) -> Option<&'static str> {
    Some(match pt {
        0 => "PCMU",
        3 => "GSM",
        4 => "G723",
        8 => "PCMA",
        9 => "G722",
        18 => "G729",
        _ => return None,
    })
}

/// The lines of a body, without their line ends.
fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    body.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
}

/// The `o=` fields a peer's description carries: (session id, version).
pub(crate) fn origin_of(body: &[u8]) -> Option<(Bytes, u64)> {
    let o = lines(body).find(|l| l.starts_with(b"o="))?;
    let mut f = o[2..].split(|&b| b == b' ');
    let _user = f.next()?;
    let sid = f.next()?;
    let ver = std::str::from_utf8(f.next()?).ok()?.parse().ok()?;
    Some((Bytes::copy_from_slice(sid), ver))
}

/// The `o=` of the descriptions we send to one leg: a fixed session id and a version
/// that grows whenever the rest of the description changes.
#[derive(Debug, Clone)]
pub(crate) struct OriginStamp {
    session_id: u64,
    version: u64,
    /// A hash of what we sent last without its `o=` line (a hash, not a copy: a call
    /// keeps one per leg for its whole life).
    last: Option<u64>,
}

impl OriginStamp {
    pub(crate) fn new(session_id: u64) -> OriginStamp {
        OriginStamp {
            session_id,
            version: 0,
            last: None,
        }
    }

    /// `body` with its `o=` replaced by ours: user `-`, our session id, our version
    /// (bumped if the body differs from the last one), the address the body had there
    /// (the media engine writes the relay's).
    pub(crate) fn stamp(&mut self, body: &[u8]) -> Bytes {
        let mut rest = Vec::with_capacity(body.len());
        let mut origin_addr: Option<(String, String)> = None;
        for l in lines(body) {
            if l.starts_with(b"o=") && origin_addr.is_none() {
                let f: Vec<&[u8]> = l[2..].split(|&b| b == b' ').collect();
                if f.len() >= 6 {
                    origin_addr = Some((
                        String::from_utf8_lossy(f[4]).into_owned(),
                        String::from_utf8_lossy(f[5]).into_owned(),
                    ));
                }
                rest.extend_from_slice(b"o=\r\n");
                continue;
            }
            rest.extend_from_slice(l);
            rest.extend_from_slice(b"\r\n");
        }
        let rest = Bytes::from(rest);
        let mut h = std::hash::DefaultHasher::new();
        std::hash::Hash::hash(&rest[..], &mut h);
        let digest = std::hash::Hasher::finish(&h);
        if self.last != Some(digest) {
            self.version += 1;
            self.last = Some(digest);
        }
        let (atype, addr) = origin_addr.unwrap_or_else(|| ("IP4".into(), "0.0.0.0".into()));
        let origin = format!(
            "o=- {} {} IN {atype} {addr}\r\n",
            self.session_id, self.version
        );
        let mut out = Vec::with_capacity(rest.len() + origin.len());
        let mut done = false;
        for l in lines(&rest) {
            if l == b"o=" && !done {
                out.extend_from_slice(origin.as_bytes());
                done = true;
                continue;
            }
            out.extend_from_slice(l);
            out.extend_from_slice(b"\r\n");
        }
        Bytes::from(out)
    }
}

/// The encoding name of the first audio format of a description (the codec a CDR
/// reports for an answer).
pub(crate) fn first_audio_codec(body: &[u8]) -> Option<String> {
    let sdp = SessionDescription::parse(body).ok()?;
    let m = sdp
        .media()
        .iter()
        .find(|m| m.media_type() == "audio" && !m.is_rejected())?;
    let fmt = m.formats().next()?;
    let pt: u8 = fmt.parse().ok()?;
    match m.rtpmap(pt) {
        Some(map) => Some(map.encoding.to_owned()),
        None => static_name(pt).map(str::to_owned),
    }
}

/// The description the relay gets for the not-yet-known destination of an originated
/// call: G.711 A-law and µ-law with RFC 4733 events, media to `placeholder` until the
/// destination answers.
pub(crate) fn originate_offer(placeholder: SocketAddr, session_id: u64) -> Bytes {
    let (atype, ip) = match placeholder.ip() {
        std::net::IpAddr::V4(v4) => ("IP4", v4.to_string()),
        std::net::IpAddr::V6(v6) => ("IP6", v6.to_string()),
    };
    Bytes::from(format!(
        "v=0\r\no=- {session_id} 1 IN {atype} {ip}\r\ns=-\r\nc=IN {atype} {ip}\r\nt=0 0\r\n\
m=audio {} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n",
        placeholder.port()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=alice 2890844526 7 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";

    #[test]
    fn origin_is_ours_and_versions_follow_changes() {
        let mut o = OriginStamp::new(42);
        let a = o.stamp(SDP.as_bytes());
        let text = String::from_utf8_lossy(&a).into_owned();
        assert!(text.contains("o=- 42 1 IN IP4 192.0.2.1\r\n"), "{text}");
        assert!(!text.contains("alice"));
        assert_eq!(origin_of(&a), Some((Bytes::from_static(b"42"), 1)));
        let again = o.stamp(SDP.as_bytes());
        assert_eq!(again, a, "an unchanged description keeps its version");
        let changed = SDP.replace("40000", "40002");
        let b = o.stamp(changed.as_bytes());
        assert_eq!(origin_of(&b).map(|x| x.1), Some(2));
        assert!(SessionDescription::parse(&b).is_ok());
    }

    #[test]
    fn codec_names_come_from_rtpmap_or_static_types() {
        assert_eq!(first_audio_codec(SDP.as_bytes()).as_deref(), Some("PCMU"));
        let opus = SDP
            .replace("RTP/AVP 0 101", "RTP/AVP 111")
            .replace("telephone-event/8000", "x")
            + "a=rtpmap:111 opus/48000/2\r\n";
        assert_eq!(first_audio_codec(opus.as_bytes()).as_deref(), Some("opus"));
        assert_eq!(first_audio_codec(b"junk"), None);
    }

    #[test]
    fn originate_offer_parses() {
        let b = originate_offer(SocketAddr::from(([127, 0, 0, 1], 9)), 5);
        let sdp = SessionDescription::parse(&b);
        assert!(sdp.is_ok());
        assert_eq!(first_audio_codec(&b).as_deref(), Some("PCMA"));
    }
}
