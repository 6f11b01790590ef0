//! SDP offer/answer through the relay: what a leg's SDP tells the relay, and the SDP the
//! other leg gets, pointing at the relay (RFC 3264; rtpengine's default rewriting).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;
use sip_core::sdp::{Rtcp, SessionDescription};

use crate::control::SdpOptions;
use crate::relay::codec::CodecMap;
use crate::relay::session::LegConfig;

pub(crate) mod echo;

/// ICE attributes removed unless asked to keep them: candidates would route media
/// around the relay.
const ICE_ATTRIBUTES: &[&str] = &[
    "candidate",
    "remote-candidates",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "ice-mismatch",
    "end-of-candidates",
];

/// What one `m=` line of a leg's SDP says.
#[derive(Debug, Clone)]
pub(crate) struct StreamDesc {
    /// Port 0: the stream is rejected or disabled.
    pub rejected: bool,
    /// `c=0.0.0.0` (RFC 2543 hold): keep the zero address in the rewritten SDP.
    pub zero_address: bool,
    /// The relay-facing configuration of the leg.
    pub cfg: LegConfig,
}

/// Reads every media description of a leg's SDP.
pub(crate) fn describe(
    sdp: &SessionDescription,
    address_override: Option<IpAddr>,
) -> Vec<StreamDesc> {
    sdp.media()
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let conn = sdp.media_connection(i);
            let zero = conn.is_some_and(|c| c.is_hold());
            // Host names in c= are legal but not resolved here: the relay uses the override
            // if it has one, else waits to latch onto the first packet.
            let ip = if zero {
                None
            } else {
                address_override.or_else(|| {
                    conn.and_then(|c| c.address().ip())
                        .filter(|ip| !ip.is_unspecified())
                })
            };
            let rejected = m.is_rejected();
            let rtp = ip
                .filter(|_| !rejected)
                .map(|ip| SocketAddr::new(ip, m.port()));
            let mux = m.attribute("rtcp-mux").is_some();
            let rtcp = match (m.rtcp(), rtp) {
                (_, None) => None,
                (_, Some(a)) if mux => Some(a),
                (Some(r), Some(a)) => {
                    let rip = r
                        .connection
                        .as_ref()
                        .and_then(|c| c.address().ip())
                        .unwrap_or(a.ip());
                    Some(SocketAddr::new(rip, r.port))
                }
                (None, Some(a)) => Some(SocketAddr::new(a.ip(), a.port().wrapping_add(1))),
            };
            StreamDesc {
                rejected,
                zero_address: zero,
                cfg: LegConfig {
                    rtp,
                    rtcp,
                    hold: sdp.is_hold(i),
                    mute_towards: zero,
                    codecs: CodecMap::from_media(m),
                },
            }
        })
        .collect()
}

/// Rewrites a leg's SDP for the other leg: connection address = `relay_ip`, each
/// accepted stream's port = the relay port in `ports[i]` (the port the *other* leg sends
/// to), `a=rtcp` = that port + 1 (or the same port with `rtcp-mux`). Codecs, `ptime`,
/// `fmtp` and direction attributes pass through; `c=0.0.0.0` hold is preserved.
pub(crate) fn rewrite(
    sdp: &mut SessionDescription,
    streams: &[StreamDesc],
    ports: &[Option<u16>],
    relay_ip: IpAddr,
    opts: &SdpOptions,
) -> Bytes {
    sdp.set_connection(relay_ip);
    if opts.replace_origin {
        // The origin is required by the parser, so this cannot fail here.
        let _ = sdp.set_origin_address(relay_ip);
    }
    for (i, m) in sdp.media_mut().iter_mut().enumerate() {
        let desc = streams.get(i);
        if !opts.keep_ice {
            for a in ICE_ATTRIBUTES {
                m.remove_attributes(a);
            }
        }
        match (ports.get(i).copied().flatten(), desc) {
            (Some(port), Some(d)) if !d.rejected => {
                m.set_port(port);
                let mux = m.attribute("rtcp-mux").is_some();
                let rtcp_port = if mux { port } else { port.saturating_add(1) };
                m.set_rtcp(Some(&Rtcp {
                    port: rtcp_port,
                    connection: None,
                }));
                if d.zero_address {
                    m.set_connection(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
                }
            }
            _ => {
                m.set_port(0);
                m.set_rtcp(None);
            }
        }
    }
    sdp.to_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
        m=audio 14506 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
        a=ptime:20\r\na=candidate:1 1 UDP 1 10.0.0.5 14506 typ host\r\na=sendrecv\r\n\
        m=video 0 RTP/AVP 31\r\n";

    #[test]
    fn describe_and_rewrite() {
        let mut sdp = SessionDescription::parse(OFFER.as_bytes()).unwrap();
        let d = describe(&sdp, None);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].cfg.rtp, Some("10.0.0.5:14506".parse().unwrap()));
        assert_eq!(d[0].cfg.rtcp, Some("10.0.0.5:14507".parse().unwrap()));
        assert!(!d[0].cfg.hold && d[1].rejected);
        let out = rewrite(
            &mut sdp,
            &d,
            &[Some(30000), None],
            "203.0.113.5".parse().unwrap(),
            &SdpOptions::default(),
        );
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.contains("c=IN IP4 203.0.113.5\r\n"));
        assert!(text.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"));
        assert!(text.contains("a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\na=rtcp:30001\r\n"));
        assert!(text.contains("m=video 0 RTP/AVP 31\r\n"));
        assert!(!text.contains("candidate"));
        assert!(!text.contains("10.0.0.5 14506"));
        assert!(
            text.contains("o=- 1 1 IN IP4 10.0.0.5"),
            "origin kept unless asked"
        );
    }

    #[test]
    fn hold_forms_and_rtcp_variants() {
        let held = OFFER.replace("c=IN IP4 10.0.0.5", "c=IN IP4 0.0.0.0");
        let mut sdp = SessionDescription::parse(held.as_bytes()).unwrap();
        let d = describe(&sdp, None);
        assert!(d[0].cfg.hold && d[0].cfg.mute_towards && d[0].cfg.rtp.is_none());
        let out = rewrite(
            &mut sdp,
            &d,
            &[Some(30000), None],
            "203.0.113.5".parse().unwrap(),
            &SdpOptions::default(),
        );
        let again = SessionDescription::parse(&out).unwrap();
        assert!(again.is_hold(0), "zero address survives the rewrite");

        let sendonly = OFFER.replace("a=sendrecv", "a=sendonly");
        let d = describe(
            &SessionDescription::parse(sendonly.as_bytes()).unwrap(),
            None,
        );
        assert!(d[0].cfg.hold && !d[0].cfg.mute_towards);

        let natted = describe(
            &SessionDescription::parse(OFFER.as_bytes()).unwrap(),
            Some("203.0.113.77".parse().unwrap()),
        );
        assert_eq!(
            natted[0].cfg.rtp,
            Some("203.0.113.77:14506".parse().unwrap()),
            "received-from wins"
        );
        assert_eq!(
            natted[0].cfg.rtcp,
            Some("203.0.113.77:14507".parse().unwrap())
        );
        let held = OFFER.replace("c=IN IP4 10.0.0.5", "c=IN IP4 0.0.0.0");
        let held = describe(
            &SessionDescription::parse(held.as_bytes()).unwrap(),
            Some("203.0.113.77".parse().unwrap()),
        );
        assert!(
            held[0].cfg.rtp.is_none() && held[0].cfg.mute_towards,
            "hold still honoured"
        );

        let rtcp = OFFER.replace("a=sendrecv", "a=rtcp:5000 IN IP4 10.0.0.9");
        let d = describe(&SessionDescription::parse(rtcp.as_bytes()).unwrap(), None);
        assert_eq!(d[0].cfg.rtcp, Some("10.0.0.9:5000".parse().unwrap()));

        let mux = OFFER.replace("a=sendrecv", "a=rtcp-mux");
        let mut sdp = SessionDescription::parse(mux.as_bytes()).unwrap();
        let d = describe(&sdp, None);
        assert_eq!(d[0].cfg.rtcp, d[0].cfg.rtp);
        let out = rewrite(
            &mut sdp,
            &d,
            &[Some(30000), None],
            "203.0.113.5".parse().unwrap(),
            &SdpOptions::default(),
        );
        assert!(
            std::str::from_utf8(&out)
                .unwrap()
                .contains("a=rtcp:30000\r\n")
        );
    }
}
