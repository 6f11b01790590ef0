//! The echo service's media over real UDP sockets on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use media::recording::g711::linear_to_ulaw;
use media::rtp::RtpHeader;
use media::{MediaControl, MediaError, MediaEvent, SdpOptions};
use sip_core::sdp::{Direction, SessionDescription};

/// An offer of PCMU only, as a phone behind the echo number would send it.
fn pcmu_offer(port: u16, direction: &str) -> String {
    format!(
        "v=0\r\no=phone 5 5 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na={direction}\r\n"
    )
}

#[test]
fn the_leg_gets_exactly_its_own_packets_back() {
    let (e, mut events, _dir) = engine(32200..=32299, |_| {});
    let free = e.free_port_pairs();
    let phone = Endpoint::new();
    let answer = e
        .echo(
            "echo-1",
            "phone",
            pcmu_offer(phone.port(), "sendrecv").as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    let sdp = SessionDescription::parse(&answer).unwrap();
    let m = &sdp.media()[0];
    assert_eq!(m.formats().collect::<Vec<_>>(), ["0"], "PCMU, as offered");
    assert_eq!(m.rtpmap(0).unwrap().encoding, "PCMU");
    assert_eq!(sdp.media_direction(0), Direction::SendRecv);
    let relay = relay_addr(&answer);
    assert_eq!(relay.ip().to_string(), "127.0.0.1");
    assert_eq!(relay.port() % 2, 0, "RTP on the even port");
    assert_eq!(e.free_port_pairs(), free - 1, "one leg, one port pair");

    let mut ssrc_back = None;
    for seq in 1000..1050u16 {
        let ts = 160 * u32::from(seq);
        let sent = rtp(0, seq, ts, 0xcafe_f00d, &[seq as u8; 160]);
        phone.send(relay, &sent);
        let (got, from) = phone.recv().expect("the echo comes back");
        assert_eq!(
            from, relay,
            "from the port the phone sends to (symmetric RTP)"
        );
        let h = RtpHeader::parse(&got).unwrap();
        assert_eq!(
            (h.payload_type, h.sequence, h.timestamp, h.payload(&got)),
            (0, seq, ts, &sent[12..]),
            "the same packet"
        );
        assert_eq!(got[..8], sent[..8], "header before the SSRC unchanged");
        assert_ne!(h.ssrc, 0xcafe_f00d, "under an SSRC of the relay's");
        assert_eq!(
            *ssrc_back.get_or_insert(h.ssrc),
            h.ssrc,
            "one SSRC throughout"
        );
    }
    let latched = wait_event(&mut events, Duration::from_secs(2), |ev| {
        matches!(ev, MediaEvent::Latched { .. })
    });
    assert!(
        matches!(latched, MediaEvent::Latched { ref tag, address, .. } if &**tag == "phone" && address == phone.addr())
    );

    // A third address aims at the relay's port: dropped, counted, and sent nowhere.
    let intruder = Endpoint::new();
    intruder.send(relay, &rtp(0, 7, 0, 0xbad, &[0x55; 160]));
    assert!(
        intruder.recv_quick().is_none(),
        "nothing goes back to the intruder"
    );
    assert!(phone.recv_quick().is_none(), "nor to the phone");

    // The phone's RTCP is read, not returned.
    let rtcp_port = std::net::SocketAddr::new(relay.ip(), relay.port() + 1);
    phone.send(rtcp_port, &[0x80, 201, 0, 1, 0xca, 0xfe, 0xf0, 0x0d]);
    assert!(phone.recv_quick().is_none(), "RTCP is absorbed");

    assert_eq!(e.list(), vec!["echo-1".to_owned()]);
    let stats = e.delete("echo-1").unwrap();
    assert_eq!(stats.tags, ["phone".to_owned(), String::new()]);
    let (a, b) = (&stats.streams[0].legs[0], &stats.streams[0].legs[1]);
    assert_eq!(a.local_rtp_port, relay.port());
    assert_eq!((a.rtp_packets, a.forwarded, a.dropped_foreign), (50, 50, 1));
    assert_eq!((a.rtcp_packets, a.lost), (1, 0));
    assert_eq!(a.latched_rtp, Some(phone.addr()));
    assert!(a.mos.is_some());
    assert_eq!((b.local_rtp_port, b.rtp_packets), (0, 0), "leg B is empty");
    assert_eq!(e.free_port_pairs(), free, "the pair returns to the pool");
    assert!(matches!(
        e.stats("echo-1"),
        Err(MediaError::UnknownSession(_))
    ));
    phone.send(relay, &rtp(0, 2000, 0, 0xcafe_f00d, &[0; 160]));
    assert!(phone.recv_quick().is_none(), "the socket is closed");
}

#[test]
fn reinvite_updates_the_echo_in_place() {
    let (e, _events, _dir) = engine(32300..=32309, |_| {});
    let phone = Endpoint::new();
    let first = e
        .echo(
            "echo-2",
            "phone",
            pcmu_offer(phone.port(), "sendrecv").as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    let relay = relay_addr(&first);
    let version = |b: &[u8]| {
        SessionDescription::parse(b)
            .unwrap()
            .origin()
            .unwrap()
            .version()
    };
    phone.send(relay, &rtp(0, 1, 0, 9, &[1; 160]));
    assert!(phone.recv().is_some());

    // Hold: the phone sends but wants nothing back; the echo answers recvonly.
    let held = e
        .echo(
            "echo-2",
            "phone",
            pcmu_offer(phone.port(), "sendonly").as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    assert_eq!(relay_addr(&held), relay, "same port");
    assert_eq!(
        SessionDescription::parse(&held).unwrap().media_direction(0),
        Direction::RecvOnly
    );
    assert_eq!(version(&held), version(&first) + 1, "RFC 3264 §8");
    phone.send(relay, &rtp(0, 2, 160, 9, &[2; 160]));
    assert!(phone.recv_quick().is_none(), "nothing echoed while held");

    // Resume.
    let resumed = e
        .echo(
            "echo-2",
            "phone",
            pcmu_offer(phone.port(), "sendrecv").as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    assert_eq!(relay_addr(&resumed), relay);
    assert_eq!(version(&resumed), version(&first) + 2);
    phone.send(relay, &rtp(0, 3, 320, 9, &[3; 160]));
    let (got, _) = phone.recv().expect("echoed again");
    assert_eq!(RtpHeader::parse(&got).unwrap().sequence, 3);

    let a = &e.stats("echo-2").unwrap().streams[0].legs[0];
    assert_eq!(
        (a.rtp_packets, a.forwarded, a.dropped_no_destination),
        (3, 2, 1)
    );
    assert_eq!(e.free_port_pairs(), 4, "a re-INVITE takes no new ports");
    e.delete("echo-2").unwrap();
    assert_eq!(e.free_port_pairs(), 5);
}

#[test]
fn wrong_tags_kinds_and_offers_are_errors_that_leave_nothing_behind() {
    let (e, _events, _dir) = engine(32310..=32319, |_| {});
    let free = e.free_port_pairs();
    let offer = pcmu_offer(4000, "sendrecv");
    let o = SdpOptions::default();
    assert!(matches!(
        e.echo("x", "t", b"not sdp", &o),
        Err(MediaError::Sdp(_))
    ));
    let srtp = offer.replace("RTP/AVP", "RTP/SAVP");
    assert!(matches!(
        e.echo("x", "t", srtp.as_bytes(), &o),
        Err(MediaError::NotAcceptable(_))
    ));
    assert!(e.list().is_empty(), "no half-made session");
    assert_eq!(e.free_port_pairs(), free);

    e.echo("echo-3", "phone", offer.as_bytes(), &o).unwrap();
    assert!(matches!(
        e.echo("echo-3", "someone-else", offer.as_bytes(), &o),
        Err(MediaError::UnknownTag { .. })
    ));
    assert!(matches!(
        e.offer("echo-3", "phone", offer.as_bytes(), &o),
        Err(MediaError::WrongSessionKind {
            existing: "echo",
            ..
        })
    ));
    assert!(matches!(
        e.answer("echo-3", "phone", "b", offer.as_bytes(), &o),
        Err(MediaError::WrongSessionKind {
            existing: "echo",
            ..
        })
    ));
    // A re-offer the echo cannot take fails and keeps the session as it was.
    assert!(matches!(
        e.echo("echo-3", "phone", srtp.as_bytes(), &o),
        Err(MediaError::NotAcceptable(_))
    ));
    assert_eq!(e.list(), vec!["echo-3".to_owned()]);

    e.offer("relayed", "a", offer.as_bytes(), &o).unwrap();
    assert!(matches!(
        e.echo("relayed", "a", offer.as_bytes(), &o),
        Err(MediaError::WrongSessionKind {
            existing: "relayed",
            ..
        })
    ));
    e.delete("echo-3").unwrap();
    e.delete("relayed").unwrap();
    assert_eq!(e.free_port_pairs(), free);
}

#[test]
fn recording_an_echo_puts_the_leg_left_and_the_echo_right() {
    let (e, _events, _dir) = engine(32320..=32329, |_| {});
    let phone = Endpoint::new();
    let mut o = SdpOptions::default();
    o.record = true;
    let answer = e
        .echo(
            "echo-rec",
            "phone",
            pcmu_offer(phone.port(), "sendrecv").as_bytes(),
            &o,
        )
        .unwrap();
    let relay = relay_addr(&answer);
    let path = e.stats("echo-rec").unwrap().recording.expect("recording");
    // One second of a 1 kHz tone, paced by the clock as a phone sends it: the recording's
    // timeline is the wall clock.
    let t0 = Instant::now();
    for i in 0..50u16 {
        let payload: Vec<u8> = (0..160)
            .map(|n| {
                let t = f64::from(u32::from(i) * 160 + n) / 8000.0;
                linear_to_ulaw((8000.0 * (2.0 * std::f64::consts::PI * 1000.0 * t).sin()) as i16)
            })
            .collect();
        phone.send(relay, &rtp(0, i, 160 * u32::from(i), 77, &payload));
        assert!(phone.recv().is_some());
        let due = t0 + Duration::from_millis(20 * (u64::from(i) + 1));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let report = e.delete("echo-rec").unwrap().recording_report.unwrap();
    assert_eq!(report.path, path);
    assert_eq!(report.gaps, 0);
    let mut r = hound::WavReader::open(&path).unwrap();
    assert_eq!(r.spec().channels, 2);
    let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    assert!(left.len() >= 8000, "a second of audio: {}", left.len());
    let rms =
        |x: &[i16]| (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    assert!(rms(&left) > 3000.0, "the leg's tone on the left");
    assert!(rms(&right) > 3000.0, "the echoed tone on the right");
    assert_eq!(
        left, right,
        "the echo is the leg's audio, on the same timeline"
    );
}
