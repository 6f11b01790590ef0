#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::path::PathBuf;

use super::*;

const LINPHONE: &str = "v=0\r\n\
o=6001 1234 5678 IN IP4 192.168.1.20\r\n\
s=Talk\r\n\
c=IN IP4 192.168.1.20\r\n\
t=0 0\r\n\
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
m=audio 7078 RTP/AVP 96 0 8 101\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=rtcp-fb:* trr-int 1000\r\n";

const ASTERISK: &str = "v=0\r\n\
o=- 1955371316 1955371316 IN IP4 10.0.0.5\r\n\
s=Asterisk\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 14506 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=sendrecv\r\n";

const SIPP: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

const RTCP_AND_HOLD: &str = "v=0\r\n\
o=- 20518 0 IN IP6 2001:db8::5\r\n\
s=-\r\n\
c=IN IP6 2001:db8::5\r\n\
t=0 0\r\n\
a=sendonly\r\n\
m=audio 49170 RTP/AVP 8\r\n\
a=rtcp:53020 IN IP4 126.16.64.4\r\n\
m=video 0 RTP/AVP 31\r\n";

fn parse(s: &str) -> SessionDescription {
    match SessionDescription::parse(s.as_bytes()) {
        Ok(sdp) => sdp,
        Err(e) => panic!("parse failed: {e}\n{s}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn typical_offers_round_trip() {
    for body in [LINPHONE, ASTERISK, SIPP, RTCP_AND_HOLD] {
        let sdp = parse(body);
        assert_eq!(sdp.to_string(), body);
        assert_eq!(&sdp.to_bytes()[..], body.as_bytes());
    }
}

#[test]
fn linphone_typed_view() {
    let sdp = parse(LINPHONE);
    let o = sdp.origin().unwrap();
    assert_eq!(
        (o.username(), o.session_id(), o.version()),
        ("6001", "1234", 5678)
    );
    assert_eq!(
        sdp.connection().unwrap().address().ip(),
        Some(ip("192.168.1.20"))
    );
    let m = &sdp.media()[0];
    assert_eq!(m.media_type(), "audio");
    assert_eq!(m.port(), 7078);
    assert_eq!(m.proto(), "RTP/AVP");
    assert_eq!(m.formats().collect::<Vec<_>>(), ["96", "0", "8", "101"]);
    let opus = m.rtpmap(96).unwrap();
    assert_eq!(
        (opus.encoding, opus.clock_rate, opus.channels),
        ("opus", Some(48000), Some(2))
    );
    assert_eq!(m.fmtp(96).unwrap().param("useinbandfec"), Some("1"));
    assert_eq!(m.telephone_event().unwrap().payload_type, 101);
    assert_eq!(m.ptime(), None);
    assert_eq!(sdp.media_direction(0), Direction::SendRecv, "RFC default");
    assert!(!sdp.is_hold(0));
    assert_eq!(
        sdp.attribute("rtcp-xr").unwrap().value.unwrap(),
        "rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics"
    );
}

#[test]
fn asterisk_typed_view() {
    let sdp = parse(ASTERISK);
    let m = &sdp.media()[0];
    assert_eq!(m.ptime(), Some(20));
    assert_eq!(m.direction(), Some(Direction::SendRecv));
    assert_eq!(m.fmtp(101).unwrap().params, "0-16");
    assert_eq!(m.rtpmaps().count(), 3);
    assert_eq!(m.rtcp(), None);
}

#[test]
fn rtcp_attribute_and_session_hold() {
    let sdp = parse(RTCP_AND_HOLD);
    let rtcp = sdp.media()[0].rtcp().unwrap();
    assert_eq!(rtcp.port, 53020);
    assert_eq!(
        rtcp.connection.unwrap().address().ip(),
        Some(ip("126.16.64.4"))
    );
    assert_eq!(sdp.direction(), Some(Direction::SendOnly));
    assert_eq!(
        sdp.media_direction(0),
        Direction::SendOnly,
        "session level applies"
    );
    assert!(sdp.is_hold(0));
    assert!(sdp.media()[1].is_rejected());
    assert_eq!(
        sdp.connection().unwrap().address().ip(),
        Some(ip("2001:db8::5"))
    );
    assert_eq!(*sdp.connection().unwrap().addr_type(), AddrType::Ip6);
}

#[test]
fn hold_forms() {
    let inactive = ASTERISK.replace("a=sendrecv", "a=inactive");
    assert!(parse(&inactive).is_hold(0));
    let recvonly = ASTERISK.replace("a=sendrecv", "a=recvonly");
    assert!(!parse(&recvonly).is_hold(0));
    let rfc2543 = SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
    let sdp = parse(&rfc2543);
    assert!(sdp.is_hold(0));
    assert_eq!(sdp.media_direction(0), Direction::SendRecv);
    // A media-level direction overrides the session level.
    let mixed = RTCP_AND_HOLD.replace("a=rtcp:53020", "a=sendrecv\r\na=rtcp:53020");
    assert!(!parse(&mixed).is_hold(0));
}

#[test]
fn relay_rewrite() {
    let mut sdp = parse(ASTERISK);
    sdp.set_connection(ip("203.0.113.5"));
    sdp.set_origin_address(ip("203.0.113.5")).unwrap();
    assert_eq!(sdp.bump_version().unwrap(), 1955371317);
    let m = &mut sdp.media_mut()[0];
    m.set_port(30000);
    m.set_rtcp(Some(&Rtcp {
        port: 30001,
        connection: None,
    }));
    m.set_direction(Direction::SendOnly);
    let expected = ASTERISK
        .replace("10.0.0.5", "203.0.113.5")
        .replace("1955371316 1955371316", "1955371316 1955371317")
        .replace("14506", "30000")
        .replace("a=sendrecv\r\n", "a=sendonly\r\na=rtcp:30001\r\n");
    assert_eq!(sdp.to_string(), expected);
    // The rewritten description parses again to the same thing.
    assert_eq!(parse(&expected), sdp);

    let m = &mut sdp.media_mut()[0];
    m.set_rtcp(None);
    m.remove_direction();
    assert!(!sdp.to_string().contains("a=rtcp:"));
    assert_eq!(sdp.media_direction(0), Direction::SendRecv);
}

#[test]
fn set_connection_inserts_in_order_and_rewrites_media_level() {
    let body = "v=0\r\no=- 1 1 IN IP4 host.example\r\ns=-\r\nt=0 0\r\n\
                m=audio 5000 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 192.0.2.1\r\n\
                m=audio 6000 RTP/AVP 0\r\ni=second\r\nc=IN IP4 192.0.2.2\r\n";
    let mut sdp = parse(body);
    sdp.set_connection(ip("2001:db8::1"));
    let out = sdp.to_string();
    assert!(
        out.starts_with(
            "v=0\r\no=- 1 1 IN IP4 host.example\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\n"
        ),
        "{out}"
    );
    assert!(!out.contains("192.0.2."), "{out}");
    sdp.media_mut()[0].remove_connection();
    sdp.media_mut()[0].set_connection(ip("192.0.2.9"));
    assert!(
        sdp.to_string()
            .contains("m=audio 5000 RTP/AVP 0\r\ni=voice\r\nc=IN IP4 192.0.2.9\r\n")
    );
}

#[test]
fn lf_only_is_accepted_and_printed_with_crlf() {
    let lf = SIPP.replace("\r\n", "\n");
    assert_eq!(parse(&lf).to_string(), SIPP);
    let no_final_eol = SIPP.trim_end();
    assert_eq!(parse(no_final_eol).to_string(), SIPP);
}

#[test]
fn hostnames_and_multicast_kept() {
    let body = "v=0\r\no=- 1 1 IN IP4 media.example.com\r\ns=-\r\nc=IN IP4 224.2.1.1/127/3\r\nt=0 0\r\nm=audio 5004/2 RTP/AVP 0\r\nc=IN IP4 media.example.com\r\n";
    let sdp = parse(body);
    assert_eq!(sdp.to_string(), body);
    assert_eq!(sdp.media()[0].port_count(), Some(2));
    assert_eq!(
        sdp.media_connection(0).unwrap().address().as_str(),
        "media.example.com"
    );
    assert_eq!(sdp.media_connection(0).unwrap().address().ip(), None);
}

#[test]
fn attribute_editing() {
    let mut sdp = parse(LINPHONE);
    let m = &mut sdp.media_mut()[0];
    m.push_attribute(
        "candidate",
        Some("1 1 UDP 2130706431 192.168.1.20 7078 typ host"),
    )
    .unwrap();
    m.push_attribute(
        "candidate",
        Some("1 2 UDP 2130706430 192.168.1.20 7079 typ host"),
    )
    .unwrap();
    assert_eq!(m.remove_attributes("candidate"), 2);
    assert_eq!(sdp.to_string(), LINPHONE);
    let m = &mut sdp.media_mut()[0];
    assert!(m.push_attribute("bad name", None).is_err());
    assert!(m.push_attribute("x", Some("a\r\nm=evil")).is_err());
}

#[test]
fn version_overflow_is_an_error() {
    let body = SIPP.replace("2353687637", &u64::MAX.to_string());
    let mut sdp = parse(&body);
    assert_eq!(sdp.bump_version(), Err(SdpError::VersionOverflow));
    sdp.set_version(7).unwrap();
    assert_eq!(sdp.origin().unwrap().version(), 7);
}

#[test]
fn errors_name_the_line() {
    let cases: &[(&str, SdpError)] = &[
        ("", SdpError::Empty),
        ("\r\n", SdpError::Empty),
        (
            "v=1\r\no=- 1 1 IN IP4 a\r\n",
            SdpError::BadVersion { line: 1 },
        ),
        ("o=- 1 1 IN IP4 a\r\n", SdpError::BadVersion { line: 1 }),
        ("v=0\r\no=- 1 1 IN IP4\r\n", SdpError::BadOrigin { line: 2 }),
        (
            "v=0\r\no=- 1 x IN IP4 a\r\n",
            SdpError::BadOrigin { line: 2 },
        ),
        ("v=0\r\ns=-\r\n", SdpError::MissingOrigin),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4\r\n",
            SdpError::BadConnection { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nhello\r\n",
            SdpError::MalformedLine { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nX=1\r\n",
            SdpError::MalformedLine { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n",
            SdpError::BadMedia { line: 4 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n",
            SdpError::BadMedia { line: 4 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 1.2.3.4\r\nm=audio 5\r\n",
            SdpError::BadMedia { line: 4 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP  0\r\n",
            SdpError::BadMedia { line: 4 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 5000 RTP/AVP 0\r\n",
            SdpError::MissingConnection { line: 3 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 0\r\na=rtpmap:abc PCMU/8000\r\n",
            SdpError::BadAttribute {
                line: 5,
                name: "rtpmap",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 0\r\na=rtcp:x\r\n",
            SdpError::BadAttribute {
                line: 5,
                name: "rtcp",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 1.2.3.4\r\nm=audio 5 RTP/AVP 0\r\na=ptime\r\n",
            SdpError::BadAttribute {
                line: 5,
                name: "ptime",
            },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 a\r\n\r\ns=-\r\n",
            SdpError::EmptyLine { line: 3 },
        ),
    ];
    for (body, want) in cases {
        assert_eq!(
            SessionDescription::parse(body.as_bytes()).as_ref(),
            Err(want),
            "{body:?}"
        );
    }
    assert_eq!(
        SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 a\r\ns=\xff\r\n"),
        Err(SdpError::NotUtf8 { line: 3 })
    );
    // A rejected stream needs no address.
    assert!(
        SessionDescription::parse(b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 0 RTP/AVP 0\r\n").is_ok()
    );
    assert!(
        SdpError::BadMedia { line: 4 }
            .to_string()
            .contains("line 4")
    );
}

#[test]
fn garbage_never_panics() {
    // Every prefix and a few byte mutations of a valid body: errors or parses, never panics.
    let bodies = [LINPHONE, ASTERISK, RTCP_AND_HOLD];
    for body in bodies {
        let b = body.as_bytes();
        for cut in 0..b.len() {
            let _ = SessionDescription::parse(&b[..cut]);
        }
        for i in 0..b.len() {
            for x in [b' ', b'/', b'\n', b'=', b':', 0xff] {
                let mut m = b.to_vec();
                m[i] = x;
                if let Ok(sdp) = SessionDescription::parse(&m) {
                    // Whatever parses must print and parse again to the same description.
                    assert_eq!(
                        SessionDescription::parse_bytes(sdp.to_bytes()).as_ref(),
                        Ok(&sdp)
                    );
                }
            }
        }
    }
}

fn conformance_dir(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/conformance")
        .join(rel)
}

/// The body of a SIP message file: what follows the first empty line.
fn body_of(msg: &[u8]) -> &[u8] {
    let at = msg.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let at = at.or_else(|| msg.windows(2).position(|w| w == b"\n\n").map(|i| i + 2));
    &msg[at.unwrap_or(msg.len())..]
}

#[test]
fn rfc5118_ipv6_bodies() {
    let dir = conformance_dir("rfc5118/valid");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.contains("sdp") {
            continue;
        }
        let msg = std::fs::read(&path).unwrap();
        let body = body_of(&msg);
        let sdp = SessionDescription::parse(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(&sdp.to_bytes()[..], body, "{name} round trip");
        seen += 1;
        match name.as_str() {
            "ipv6-in-sdp.dat" => {
                assert_eq!(
                    sdp.connection().unwrap().address().ip(),
                    Some(ip("2001:db8::20"))
                );
                assert_eq!(sdp.media()[0].rtpmap(2).unwrap().encoding, "G726-32");
                assert_eq!(sdp.media()[1].port(), 6024);
            }
            "mult-ip-in-sdp.dat" => {
                assert_eq!(
                    sdp.media_connection(0).unwrap().address().ip(),
                    Some(ip("192.0.2.1"))
                );
                assert_eq!(
                    sdp.media_connection(1).unwrap().address().ip(),
                    Some(ip("2001:db8::1"))
                );
                assert_eq!(sdp.origin().unwrap().address().as_str(), "host.example.com");
            }
            other => panic!("unexpected SDP file {other}"),
        }
    }
    assert_eq!(seen, 2);
}

#[test]
fn rfc4475_sdp_bodies() {
    let mut seen = 0;
    for sub in ["valid", "semantic", "invalid"] {
        let dir = conformance_dir(&format!("rfc4475/{sub}"));
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let msg = std::fs::read(&path).unwrap();
            let body = body_of(&msg);
            if !body.starts_with(b"v=0") {
                continue;
            }
            seen += 1;
            let name = path.display().to_string();
            // Every SDP body in RFC 4475 is well-formed SDP, even inside invalid messages,
            // except the unreferenced test.dat.
            let sdp = SessionDescription::parse(body).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&sdp.to_bytes()[..], body, "{name} round trip");
            assert!(!sdp.media().is_empty(), "{name}");
        }
    }
    assert!(seen >= 10, "only {seen} RFC 4475 SDP bodies found");
    // RFC 4475 esc01/longreq carry `a=rtpmap:31 LPC`: RFC 2327 style with no clock rate.
    let sdp = SessionDescription::parse(
        b"v=0\r\no=mhandley 29739 7272939 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49217 RTP/AVP 0 12\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n",
    )
    .unwrap();
    assert_eq!(sdp.media()[1].rtpmap(31).unwrap().clock_rate, None);
    // The unreferenced test.dat body is not SDP a relay can use.
    let junk =
        body_of(&std::fs::read(conformance_dir("rfc4475/unreferenced/test.dat")).unwrap()).to_vec();
    assert_eq!(
        SessionDescription::parse(&junk),
        Err(SdpError::MalformedLine { line: 2 })
    );
}

#[test]
fn utf8_text_is_kept_and_invalid_utf8_rejected_anywhere() {
    let body = SIPP.replace("s=-", "s=Café — réunion");
    assert_eq!(parse(&body).to_string(), body);
    for at in [0usize, 7, 8, 15, 16, 40] {
        let mut b = SIPP.as_bytes().to_vec();
        let i = at.min(b.len() - 1);
        if b[i] == b'\r' || b[i] == b'\n' {
            continue;
        }
        b[i] = 0xc3; // a lone UTF-8 lead byte
        assert!(SessionDescription::parse(&b).is_err(), "byte {i}");
    }
}
