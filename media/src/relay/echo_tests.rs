//! Sans-IO tests of echo mode: one leg looped back, on a simulated clock.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::codec::CodecMap;
use super::session::{DropReason, LegConfig, Mode, RelaySession, Timeouts, Verdict};
use crate::control::{Channel, Leg, MediaEvent};
use crate::dtmf::event_payload;
use crate::rtp::write_header;

const MASK: u32 = 0x0f0f_a5a5;
const SSRC: u32 = 0x1234_5678;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    write_header(&mut p, pt, false, seq, ts, SSRC).unwrap();
    p.extend_from_slice(payload);
    p
}

/// What the caller's SDP said: 10.0.0.5 is private, its packets come from a NAT.
fn caller() -> LegConfig {
    LegConfig {
        rtp: Some(addr("10.0.0.5:4000")),
        rtcp: Some(addr("10.0.0.5:4001")),
        ..LegConfig::default()
    }
}

fn session(t0: Instant) -> RelaySession {
    let mut s = RelaySession::echo(
        Arc::from("echo-1"),
        Timeouts {
            media: Duration::from_secs(30),
            hold: Duration::from_secs(600),
        },
        MASK,
    );
    s.set_tag(Leg::A, Arc::from("caller"));
    s.update_leg(t0, 0, Leg::A, caller(), false);
    s
}

fn events(s: &mut RelaySession) -> Vec<MediaEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

const NAT: &str = "203.0.113.7:61000";

#[test]
fn rtp_returns_to_the_latched_source_under_another_ssrc() {
    let t0 = Instant::now();
    let mut s = session(t0);
    assert_eq!(s.mode(), Mode::Echo { ssrc_mask: MASK });
    assert_eq!(
        s.output_leg(Leg::A),
        Leg::A,
        "sent from the socket it came in on"
    );
    for seq in 0..10u16 {
        let v = s.handle_packet(
            t0 + Duration::from_millis(20 * u64::from(seq)),
            0,
            Leg::A,
            Channel::Rtp,
            addr(NAT),
            &rtp(0, seq, 160 * u32::from(seq), &[seq as u8; 160]),
        );
        assert_eq!(
            v,
            Verdict::Reflect {
                dst: addr(NAT),
                ssrc: SSRC ^ MASK
            },
            "to where the packets come from, not the SDP's private address"
        );
    }
    let ev = events(&mut s);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert!(matches!(
        &ev[0],
        MediaEvent::Latched { tag, address, channel: Channel::Rtp, .. }
            if &**tag == "caller" && *address == addr(NAT)
    ));
    let st = s.stats(t0 + Duration::from_millis(200));
    assert_eq!(st.len(), 1);
    let (a, b) = (&st[0].legs[0], &st[0].legs[1]);
    assert_eq!((a.rtp_packets, a.rtp_bytes, a.forwarded), (10, 1720, 10));
    assert_eq!(a.latched_rtp, Some(addr(NAT)));
    assert!(a.mos.is_some());
    assert_eq!((b.rtp_packets, b.forwarded, b.latched_rtp), (0, 0, None));
}

#[test]
fn a_zero_mask_still_changes_the_ssrc() {
    let t0 = Instant::now();
    let mut s = RelaySession::echo(
        Arc::from("echo-0"),
        Timeouts {
            media: Duration::from_secs(30),
            hold: Duration::from_secs(600),
        },
        0,
    );
    s.update_leg(t0, 0, Leg::A, caller(), false);
    match s.handle_packet(
        t0,
        0,
        Leg::A,
        Channel::Rtp,
        addr(NAT),
        &rtp(0, 1, 0, &[0; 160]),
    ) {
        Verdict::Reflect { ssrc, .. } => assert_ne!(ssrc, SSRC),
        v => panic!("not reflected: {v:?}"),
    }
}

#[test]
fn injection_after_latching_is_dropped_and_counted() {
    let t0 = Instant::now();
    let mut s = session(t0);
    s.handle_packet(
        t0,
        0,
        Leg::A,
        Channel::Rtp,
        addr(NAT),
        &rtp(0, 1, 0, &[0; 160]),
    );
    for seq in 2..5 {
        assert_eq!(
            s.handle_packet(
                t0,
                0,
                Leg::A,
                Channel::Rtp,
                addr("198.51.100.66:40000"),
                &rtp(0, seq, 0, &[0; 160])
            ),
            Verdict::Drop(DropReason::Foreign)
        );
    }
    let a = &s.stats(t0)[0].legs[0];
    assert_eq!((a.dropped_foreign, a.rtp_packets, a.forwarded), (3, 1, 1));
    assert_eq!(
        a.latched_rtp,
        Some(addr(NAT)),
        "the attacker did not move the latch"
    );
}

#[test]
fn a_signalled_new_address_moves_the_echo() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let moved = addr("203.0.113.9:50000");
    s.handle_packet(
        t0,
        0,
        Leg::A,
        Channel::Rtp,
        addr(NAT),
        &rtp(0, 1, 0, &[0; 160]),
    );
    let moved_cfg = LegConfig {
        rtp: Some(addr("10.0.0.6:4000")),
        rtcp: Some(addr("10.0.0.6:4001")),
        ..LegConfig::default()
    };
    s.update_leg(t0, 0, Leg::A, moved_cfg, true);
    assert_eq!(
        s.handle_packet(
            t0,
            0,
            Leg::A,
            Channel::Rtp,
            moved,
            &rtp(0, 2, 160, &[0; 160])
        ),
        Verdict::Reflect {
            dst: moved,
            ssrc: SSRC ^ MASK
        }
    );
}

#[test]
fn rtcp_is_read_and_absorbed_on_its_port_and_muxed() {
    let t0 = Instant::now();
    let mut s = session(t0);
    // An empty receiver report (RFC 3550 §6.4.2), from the RTCP port and muxed.
    let rr = [0x80, 201, 0, 1, 0x12, 0x34, 0x56, 0x78];
    assert_eq!(
        s.handle_packet(t0, 0, Leg::A, Channel::Rtcp, addr("203.0.113.7:61001"), &rr),
        Verdict::Drop(DropReason::Absorbed)
    );
    assert_eq!(
        s.handle_packet(t0, 0, Leg::A, Channel::Rtp, addr(NAT), &rr),
        Verdict::Drop(DropReason::Absorbed)
    );
    let a = &s.stats(t0)[0].legs[0];
    assert_eq!((a.rtcp_packets, a.rtcp_bytes, a.forwarded), (2, 16, 0));
    assert_eq!(a.latched_rtcp, Some(addr("203.0.113.7:61001")));
}

#[test]
fn a_leg_that_asks_for_nothing_gets_nothing_until_it_resumes() {
    let t0 = Instant::now();
    let mut s = session(t0);
    // A sendonly re-offer: the echo answers recvonly and must not send.
    let held = LegConfig {
        hold: true,
        mute_towards: true,
        ..caller()
    };
    s.update_leg(t0, 0, Leg::A, held, false);
    assert_eq!(
        s.handle_packet(
            t0,
            0,
            Leg::A,
            Channel::Rtp,
            addr(NAT),
            &rtp(0, 1, 0, &[0; 160])
        ),
        Verdict::Drop(DropReason::NoDestination)
    );
    assert_eq!(s.stats(t0)[0].legs[0].dropped_no_destination, 1);
    assert!(s.stats(t0)[0].legs[0].hold);
    s.update_leg(t0, 0, Leg::A, caller(), false);
    assert!(matches!(
        s.handle_packet(
            t0,
            0,
            Leg::A,
            Channel::Rtp,
            addr(NAT),
            &rtp(0, 2, 160, &[0; 160])
        ),
        Verdict::Reflect { .. }
    ));
}

#[test]
fn malformed_packets_are_counted_and_never_echoed() {
    let t0 = Instant::now();
    let mut s = session(t0);
    assert_eq!(
        s.handle_packet(t0, 0, Leg::A, Channel::Rtp, addr(NAT), b"not an rtp packet"),
        Verdict::Drop(DropReason::Malformed)
    );
    let a = &s.stats(t0)[0].legs[0];
    assert_eq!((a.errors, a.latched_rtp, a.forwarded), (1, None, 0));
}

#[test]
fn silence_times_out_on_a_simulated_clock_and_hold_waits_longer() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut t = t0;
    for seq in 0..100u16 {
        t = t0 + Duration::from_millis(20 * u64::from(seq));
        s.handle_packet(
            t,
            0,
            Leg::A,
            Channel::Rtp,
            addr(NAT),
            &rtp(0, seq, 160 * u32::from(seq), &[0; 160]),
        );
        s.handle_timeout(t);
    }
    events(&mut s);
    s.handle_timeout(t + Duration::from_secs(29));
    assert!(events(&mut s).is_empty(), "not yet");
    s.handle_timeout(t + Duration::from_secs(30));
    let ev = events(&mut s);
    assert!(
        matches!(&ev[..], [MediaEvent::Timeout { tag, stream: 0, idle, .. }]
            if &**tag == "caller" && *idle >= Duration::from_secs(30)),
        "{ev:?}"
    );
    // The empty leg B never times out: it is not part of an echo.
    s.handle_timeout(t + Duration::from_secs(3600));
    assert!(events(&mut s).is_empty());

    // On hold (a sendonly or inactive offer) the hold timeout applies instead.
    let mut s = session(t0);
    let held = LegConfig {
        hold: true,
        mute_towards: true,
        ..caller()
    };
    s.update_leg(t0, 0, Leg::A, held, false);
    s.handle_timeout(t0 + Duration::from_secs(120));
    assert!(events(&mut s).is_empty(), "silence on hold is expected");
    s.handle_timeout(t0 + Duration::from_secs(600));
    assert_eq!(events(&mut s).len(), 1);
}

#[test]
fn dtmf_is_echoed_and_reported() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let sdp = sip_core::sdp::SessionDescription::parse(
        b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
    )
    .unwrap();
    let cfg = LegConfig {
        codecs: CodecMap::from_media(&sdp.media()[0]),
        ..caller()
    };
    s.update_leg(t0, 0, Leg::A, cfg, false);
    for (seq, p) in [
        event_payload(5, false, 10, 160),
        event_payload(5, false, 10, 800),
        event_payload(5, true, 10, 1600),
    ]
    .into_iter()
    .enumerate()
    {
        let v = s.handle_packet(
            t0,
            0,
            Leg::A,
            Channel::Rtp,
            addr(NAT),
            &rtp(101, seq as u16, 8000, &p),
        );
        assert!(matches!(v, Verdict::Reflect { .. }), "{v:?}");
    }
    let digits: Vec<(char, u32)> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf {
                digit, duration_ms, ..
            } => Some((digit, duration_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec![('5', 200)]);
}
