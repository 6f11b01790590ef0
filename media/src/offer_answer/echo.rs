//! Offer/answer for the echo service: the relay itself answers a leg's offer (RFC 3264
//! §6) with its own address, and keeps its `o=` line across re-offers (§8).
//!
//! The answer is written from scratch rather than by rewriting the offer: only what the
//! echo really does may be promised. It lists every offered payload type (the echo
//! returns whatever the leg sends, so it needs no transcoding, and RFC 4733
//! telephone-event comes back too) with their `rtpmap` and `fmtp`, keeps `ptime` and
//! `maxptime` (the echo sends at the leg's own packetisation), accepts `rtcp-mux`
//! (RFC 5761 §5.1.1), and leaves out what the relay cannot honour: ICE, SRTP keys,
//! `rtcp-fb` feedback, `ssrc` and `msid` (the echo sends under an SSRC of its own).

use std::fmt::Write as _;
use std::net::IpAddr;

use bytes::Bytes;
use sip_core::sdp::{Direction, MediaDescription, SessionDescription};

/// Plain RTP profiles. SRTP would need keys of the relay's own (and its authentication
/// covers the SSRC the echo rewrites); UDPTL and other transports are not RTP.
const ECHO_PROTOS: &[&str] = &["RTP/AVP", "RTP/AVPF"];

/// Attributes copied from an offered stream into the answer, when they name an offered
/// format (`rtpmap`, `fmtp`) or describe packetisation (`ptime`, `maxptime`).
const COPIED: &[&str] = &["rtpmap", "fmtp", "ptime", "maxptime"];

/// The largest initial `o=` session id and version (RFC 3264 §5: less than 2^62 − 1).
const ORIGIN_LIMIT: u64 = (1 << 62) - 2;

/// Whether the echo accepts offered stream `m`: not disabled, plain RTP, one port, and
/// at least one format.
pub(crate) fn acceptable(m: &MediaDescription) -> bool {
    !m.is_rejected()
        && m.port_count().is_none()
        && ECHO_PROTOS
            .iter()
            .any(|p| m.proto().eq_ignore_ascii_case(p))
        && m.formats().next().is_some()
}

/// The direction the echo answers for stream `index` of `offer` (RFC 3264 §6.1).
///
/// The echo sends only what it receives, so it sends only when the offerer both sends
/// and receives: sendrecv is answered sendrecv, sendonly (or a `c=0.0.0.0` hold, RFC 3264
/// §8.4) recvonly, and recvonly or inactive inactive (§6.1 allows sendonly or inactive
/// for recvonly; an echo of nothing is inactive).
pub(crate) fn answer_direction(offer: &SessionDescription, index: usize) -> Direction {
    let offered = offer.media_direction(index);
    let zero = offer.media_connection(index).is_some_and(|c| c.is_hold());
    match (offered.sends(), offered.receives() && !zero) {
        (true, true) => Direction::SendRecv,
        (true, false) => Direction::RecvOnly,
        (false, _) => Direction::Inactive,
    }
}

/// The relay's `o=` line for one echo session.
#[derive(Debug, Clone)]
pub(crate) struct EchoOrigin {
    session_id: u64,
    version: u64,
    /// The last answer without its `v=` and `o=` lines: an unchanged answer keeps its
    /// version, a changed one increments it by one (RFC 3264 §8).
    last: Option<Vec<u8>>,
}

impl EchoOrigin {
    /// An origin with this session id (any number; it is brought into RFC 3264 §5's range).
    pub(crate) fn new(session_id: u64) -> Self {
        let session_id = session_id % ORIGIN_LIMIT + 1;
        Self {
            session_id,
            version: session_id,
            last: None,
        }
    }

    /// The version the last answer carried.
    #[cfg(test)]
    pub(crate) fn version(&self) -> u64 {
        self.version
    }
}

/// The answer to `offer`: the relay at `relay_ip`, stream `i` on `ports[i]` when the
/// echo accepted it (`None`: rejected with port 0, RFC 3264 §6).
pub(crate) fn answer(
    offer: &SessionDescription,
    ports: &[Option<u16>],
    relay_ip: IpAddr,
    origin: &mut EchoOrigin,
) -> Bytes {
    let family = if relay_ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut body = String::with_capacity(512);
    // Writing to a String cannot fail, so the results of write! are ignored.
    let _ = write!(body, "s=-\r\nc=IN {family} {relay_ip}\r\nt=0 0\r\n");
    let session_ptime = offer.attribute("ptime").and_then(|a| a.value);
    for (i, m) in offer.media().iter().enumerate() {
        let formats: Vec<&str> = m.formats().collect();
        let port = ports.get(i).copied().flatten();
        let _ = write!(
            body,
            "m={} {} {}",
            m.media_type(),
            port.unwrap_or(0),
            m.proto()
        );
        for f in &formats {
            let _ = write!(body, " {f}");
        }
        body.push_str("\r\n");
        let Some(port) = port else { continue };
        let mut ptime = false;
        for a in m.attributes().filter(|a| COPIED.contains(&a.name)) {
            let Some(value) = a.value else { continue };
            let names_format = || {
                let pt = value.split(' ').next().unwrap_or_default();
                formats.contains(&pt)
            };
            if matches!(a.name, "rtpmap" | "fmtp") && !names_format() {
                continue;
            }
            ptime |= a.name == "ptime";
            let _ = write!(body, "a={}:{value}\r\n", a.name);
        }
        if let (false, Some(p)) = (ptime, session_ptime) {
            let _ = write!(body, "a=ptime:{p}\r\n");
        }
        // RFC 5761 §5.1.1: an answerer that accepts multiplexing includes a=rtcp-mux;
        // the relay demultiplexes RTCP on the RTP port (RFC 5761 §4).
        if m.attribute("rtcp-mux").is_some() {
            let _ = write!(body, "a=rtcp-mux\r\na=rtcp:{port}\r\n");
        } else {
            let _ = write!(body, "a=rtcp:{}\r\n", port.saturating_add(1));
        }
        let _ = write!(body, "a={}\r\n", answer_direction(offer, i));
    }
    if origin
        .last
        .as_deref()
        .is_some_and(|last| last != body.as_bytes())
    {
        origin.version = origin.version.saturating_add(1);
    }
    let mut out = format!(
        "v=0\r\no=- {} {} IN {family} {relay_ip}\r\n",
        origin.session_id, origin.version
    );
    out.push_str(&body);
    origin.last = Some(body.into_bytes());
    Bytes::from(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=alice 7 7 IN IP4 10.0.0.5\r\ns=call\r\nc=IN IP4 10.0.0.5\r\n\
        t=0 0\r\na=ptime:30\r\nm=audio 14506 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=rtpmap:96 opus/48000/2\r\n\
        a=candidate:1 1 UDP 1 10.0.0.5 14506 typ host\r\na=ssrc:1234 cname:x\r\n\
        a=rtcp-fb:* nack\r\na=sendrecv\r\n\
        m=audio 5000 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n\
        m=image 6000 udptl t38\r\nm=video 0 RTP/AVP 31\r\n";

    fn parse(s: &str) -> SessionDescription {
        SessionDescription::parse(s.as_bytes()).unwrap()
    }

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn only_plain_rtp_streams_are_accepted() {
        let offer = parse(OFFER);
        let accepted: Vec<bool> = offer.media().iter().map(acceptable).collect();
        assert_eq!(accepted, [true, false, false, false]);
        let counted = parse(&OFFER.replace("m=audio 14506 RTP/AVP", "m=audio 14506/2 RTP/AVP"));
        assert!(
            !acceptable(&counted.media()[0]),
            "port counts cannot be echoed"
        );
        let avpf = parse(&OFFER.replace("14506 RTP/AVP", "14506 RTP/AVPF"));
        assert!(acceptable(&avpf.media()[0]));
    }

    #[test]
    fn answer_lists_the_offered_formats_at_the_relay() {
        let offer = parse(OFFER);
        let mut origin = EchoOrigin::new(42);
        let out = answer(
            &offer,
            &[Some(30000), None, None, None],
            "203.0.113.5".parse().unwrap(),
            &mut origin,
        );
        let t = text(&out);
        assert_eq!(
            t,
            "v=0\r\no=- 43 43 IN IP4 203.0.113.5\r\ns=-\r\nc=IN IP4 203.0.113.5\r\nt=0 0\r\n\
             m=audio 30000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:30\r\n\
             a=rtcp:30001\r\na=sendrecv\r\n\
             m=audio 0 RTP/SAVP 0\r\nm=image 0 udptl t38\r\nm=video 0 RTP/AVP 31\r\n"
        );
        // What the parser makes of it: a valid answer with the offer's m= lines (§6).
        let parsed = SessionDescription::parse(&out).unwrap();
        assert_eq!(parsed.media().len(), offer.media().len());
        assert!(parsed.media()[0].telephone_event().is_some());
        assert!(
            parsed.media()[1..]
                .iter()
                .all(MediaDescription::is_rejected)
        );
    }

    #[test]
    fn rtcp_mux_is_accepted_on_the_rtp_port_and_ipv6_is_written_as_such() {
        let offer = parse(&OFFER.replace("a=sendrecv", "a=rtcp-mux"));
        let out = answer(
            &offer,
            &[Some(30000)],
            "2001:db8::5".parse().unwrap(),
            &mut EchoOrigin::new(1),
        );
        let t = text(&out);
        assert!(t.contains("a=rtcp-mux\r\na=rtcp:30000\r\n"), "{t}");
        assert!(t.contains("c=IN IP6 2001:db8::5\r\n") && t.contains("IN IP6 2001:db8::5\r\ns=-"));
    }

    #[test]
    fn directions_follow_rfc_3264() {
        let cases = [
            ("a=sendrecv", "10.0.0.5", Direction::SendRecv),
            ("a=sendonly", "10.0.0.5", Direction::RecvOnly),
            ("a=recvonly", "10.0.0.5", Direction::Inactive),
            ("a=inactive", "10.0.0.5", Direction::Inactive),
            ("a=sendrecv", "0.0.0.0", Direction::RecvOnly),
            ("a=sendonly", "0.0.0.0", Direction::RecvOnly),
        ];
        for (attr, ip, want) in cases {
            let offer = parse(&OFFER.replace("a=sendrecv", attr).replace("10.0.0.5", ip));
            assert_eq!(answer_direction(&offer, 0), want, "{attr} {ip}");
            let out = answer(
                &offer,
                &[Some(30000)],
                "203.0.113.5".parse().unwrap(),
                &mut EchoOrigin::new(1),
            );
            let parsed = SessionDescription::parse(&out).unwrap();
            assert_eq!(parsed.media_direction(0), want, "{attr} {ip}");
        }
        // No attribute at all is sendrecv (RFC 3264 §5.1); a session-level one applies.
        let bare = parse(&OFFER.replace("a=sendrecv\r\n", ""));
        assert_eq!(answer_direction(&bare, 0), Direction::SendRecv);
        let session = parse(
            &OFFER
                .replace("a=sendrecv\r\n", "")
                .replace("a=ptime:30\r\n", "a=sendonly\r\n"),
        );
        assert_eq!(answer_direction(&session, 0), Direction::RecvOnly);
    }

    #[test]
    fn version_moves_only_when_the_answer_changes() {
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let mut origin = EchoOrigin::new(u64::MAX);
        let first = answer(&parse(OFFER), &[Some(30000)], ip, &mut origin);
        let v0 = origin.version();
        assert!(v0 <= ORIGIN_LIMIT + 1, "RFC 3264 §5 range");
        let same = answer(&parse(OFFER), &[Some(30000)], ip, &mut origin);
        assert_eq!(
            (origin.version(), &first),
            (v0, &same),
            "a no-op keeps the version"
        );
        let held = parse(&OFFER.replace("a=sendrecv", "a=sendonly"));
        let changed = answer(&held, &[Some(30000)], ip, &mut origin);
        assert_eq!(origin.version(), v0 + 1);
        let o = SessionDescription::parse(&changed).unwrap();
        assert_eq!(o.origin().unwrap().version(), v0 + 1);
        let first = SessionDescription::parse(&first).unwrap();
        assert_eq!(
            o.origin().unwrap().session_id(),
            first.origin().unwrap().session_id(),
            "the session id never changes"
        );
    }
}
