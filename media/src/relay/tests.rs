//! Sans-IO tests of the forwarding logic: packets and a simulated clock, no sockets.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::codec::CodecMap;
use super::session::{DropReason, LegConfig, RelaySession, Timeouts, Verdict};
use crate::control::{Channel, Leg, MediaEvent};
use crate::dtmf::event_payload;
use crate::rtp::write_header;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn rtp(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    write_header(&mut p, pt, false, seq, ts, 0x1234).unwrap();
    p.extend_from_slice(payload);
    p
}

fn leg(rtp: &str) -> LegConfig {
    let a = addr(rtp);
    LegConfig {
        rtp: Some(a),
        rtcp: Some(SocketAddr::new(a.ip(), a.port() + 1)),
        ..LegConfig::default()
    }
}

fn session(t0: Instant) -> RelaySession {
    let mut s = RelaySession::new(
        Arc::from("call-1"),
        Timeouts {
            media: Duration::from_secs(30),
            hold: Duration::from_secs(600),
        },
    );
    s.set_tag(Leg::A, Arc::from("ta"));
    s.set_tag(Leg::B, Arc::from("tb"));
    s.update_leg(t0, 0, Leg::A, leg("192.0.2.10:4000"), false);
    s.update_leg(t0, 0, Leg::B, leg("198.51.100.20:5000"), false);
    s
}

fn events(s: &mut RelaySession) -> Vec<MediaEvent> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

#[test]
fn sends_to_sdp_address_until_latched_then_to_the_real_source() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let natted_a = addr("203.0.113.7:61000");
    let natted_b = addr("203.0.113.8:62000");
    // A speaks first: forwarded to B's SDP address, since B has sent nothing yet.
    let v = s.handle_packet(
        t0,
        0,
        Leg::A,
        Channel::Rtp,
        natted_a,
        &rtp(0, 1, 0, &[0xff; 160]),
    );
    assert_eq!(v, Verdict::Forward(addr("198.51.100.20:5000")));
    // B speaks from behind its NAT: forwarded to A's latched (real) address.
    let v = s.handle_packet(
        t0,
        0,
        Leg::B,
        Channel::Rtp,
        natted_b,
        &rtp(0, 9, 0, &[0xff; 160]),
    );
    assert_eq!(v, Verdict::Forward(natted_a));
    // Now A's packets go to B's real address, not its SDP one.
    let v = s.handle_packet(
        t0,
        0,
        Leg::A,
        Channel::Rtp,
        natted_a,
        &rtp(0, 2, 160, &[0xff; 160]),
    );
    assert_eq!(v, Verdict::Forward(natted_b));
    let latched: Vec<_> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Latched { tag, address, .. } => Some((tag.to_string(), address)),
            _ => None,
        })
        .collect();
    assert_eq!(
        latched,
        vec![("ta".into(), natted_a), ("tb".into(), natted_b)]
    );
    // RTCP latches on its own.
    let v = s.handle_packet(
        t0,
        0,
        Leg::A,
        Channel::Rtcp,
        addr("203.0.113.7:61001"),
        &[0x80, 201, 0, 1, 0, 0, 0, 1],
    );
    assert_eq!(v, Verdict::Forward(addr("198.51.100.20:5001")));
}

#[test]
fn injection_after_latching_is_dropped_and_counted() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let a = addr("203.0.113.7:61000");
    s.handle_packet(t0, 0, Leg::A, Channel::Rtp, a, &rtp(0, 1, 0, &[0; 160]));
    for i in 0..5 {
        let v = s.handle_packet(
            t0,
            0,
            Leg::A,
            Channel::Rtp,
            addr("198.18.0.66:1234"),
            &rtp(0, 100 + i, 0, &[0; 160]),
        );
        assert_eq!(v, Verdict::Drop(DropReason::Foreign));
    }
    let st = &s.stats(t0)[0].legs[0];
    assert_eq!(
        (st.rtp_packets, st.dropped_foreign, st.forwarded),
        (1, 5, 1)
    );
    assert_eq!(st.latched_rtp, Some(a));
}

#[test]
fn relatch_only_on_signalled_change() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let old = addr("203.0.113.7:61000");
    let new = addr("203.0.113.9:61000");
    s.handle_packet(t0, 0, Leg::A, Channel::Rtp, old, &rtp(0, 1, 0, &[0; 160]));
    assert_eq!(
        s.handle_packet(t0, 0, Leg::A, Channel::Rtp, new, &rtp(0, 2, 0, &[0; 160])),
        Verdict::Drop(DropReason::Foreign)
    );
    // A re-INVITE from A with the same address does not move the latch ...
    s.update_leg(t0, 0, Leg::A, leg("192.0.2.10:4000"), false);
    assert_eq!(
        s.handle_packet(t0, 0, Leg::A, Channel::Rtp, new, &rtp(0, 3, 0, &[0; 160])),
        Verdict::Drop(DropReason::Foreign)
    );
    // ... a signalled new address does.
    s.update_leg(t0, 0, Leg::A, leg("192.0.2.11:4000"), true);
    assert!(matches!(
        s.handle_packet(t0, 0, Leg::A, Channel::Rtp, new, &rtp(0, 4, 0, &[0; 160])),
        Verdict::Forward(_)
    ));
    assert_eq!(s.stats(t0)[0].legs[0].latched_rtp, Some(new));
}

#[test]
fn zero_address_hold_sends_nothing_and_resume_restores() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let a = addr("203.0.113.7:61000");
    let held = LegConfig {
        hold: true,
        mute_towards: true,
        ..LegConfig::default()
    };
    s.update_leg(t0, 0, Leg::B, held, false);
    assert_eq!(
        s.handle_packet(t0, 0, Leg::A, Channel::Rtp, a, &rtp(0, 1, 0, &[0; 160])),
        Verdict::Drop(DropReason::NoDestination)
    );
    s.update_leg(t0, 0, Leg::B, leg("198.51.100.20:5000"), true);
    assert_eq!(
        s.handle_packet(t0, 0, Leg::A, Channel::Rtp, a, &rtp(0, 2, 160, &[0; 160])),
        Verdict::Forward(addr("198.51.100.20:5000"))
    );
}

#[test]
fn malformed_packets_are_counted_and_never_latch() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let v = s.handle_packet(
        t0,
        0,
        Leg::A,
        Channel::Rtp,
        addr("198.18.0.66:1"),
        b"hello world, not rtp",
    );
    assert_eq!(v, Verdict::Drop(DropReason::Malformed));
    assert_eq!(s.stats(t0)[0].legs[0].latched_rtp, None);
    assert_eq!(s.stats(t0)[0].legs[0].errors, 1);
    assert_eq!(
        s.handle_packet(
            t0,
            7,
            Leg::A,
            Channel::Rtp,
            addr("198.18.0.66:1"),
            &rtp(0, 1, 0, &[])
        ),
        Verdict::Drop(DropReason::NoDestination)
    );
}

#[test]
fn media_timeout_on_a_simulated_clock() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let a = addr("203.0.113.7:61000");
    let b = addr("203.0.113.8:62000");
    let mut t = t0;
    for i in 0..50u16 {
        t = t0 + Duration::from_millis(20 * u64::from(i));
        s.handle_packet(
            t,
            0,
            Leg::A,
            Channel::Rtp,
            a,
            &rtp(0, i, 160 * u32::from(i), &[0; 160]),
        );
        s.handle_packet(
            t,
            0,
            Leg::B,
            Channel::Rtp,
            b,
            &rtp(0, i, 160 * u32::from(i), &[0; 160]),
        );
    }
    events(&mut s);
    // B goes silent; A keeps talking.
    for i in 50..1600u16 {
        t = t0 + Duration::from_millis(20 * u64::from(i));
        s.handle_packet(
            t,
            0,
            Leg::A,
            Channel::Rtp,
            a,
            &rtp(0, i, 160 * u32::from(i), &[0; 160]),
        );
        s.handle_timeout(t);
    }
    let timeouts: Vec<_> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Timeout { tag, idle, .. } => Some((tag.to_string(), idle)),
            _ => None,
        })
        .collect();
    assert_eq!(timeouts.len(), 1, "reported once: {timeouts:?}");
    assert_eq!(timeouts[0].0, "tb");
    assert!(timeouts[0].1 >= Duration::from_secs(30));
    s.handle_timeout(t + Duration::from_secs(100));
    assert!(
        events(&mut s)
            .iter()
            .all(|e| !matches!(e, MediaEvent::Timeout { tag, .. } if &**tag == "tb"))
    );
}

#[test]
fn hold_uses_the_hold_timeout() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let sendonly = LegConfig {
        hold: true,
        ..leg("192.0.2.10:4000")
    };
    s.update_leg(t0, 0, Leg::A, sendonly, false);
    s.handle_timeout(t0 + Duration::from_secs(120));
    assert!(events(&mut s).is_empty(), "silence on hold is expected");
    s.handle_timeout(t0 + Duration::from_secs(601));
    assert_eq!(events(&mut s).len(), 2, "both legs past the hold timeout");
}

#[test]
fn dtmf_events_carry_digit_and_duration() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut cfg = leg("192.0.2.10:4000");
    let sdp = sip_core::sdp::SessionDescription::parse(
        b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n",
    )
    .unwrap();
    cfg.codecs = CodecMap::from_media(&sdp.media()[0]);
    s.update_leg(t0, 0, Leg::A, cfg, false);
    let a = addr("203.0.113.7:61000");
    for (seq, p) in [
        event_payload(1, false, 10, 160),
        event_payload(1, false, 10, 480),
        event_payload(1, true, 10, 960),
        event_payload(1, true, 10, 960),
        event_payload(1, true, 10, 960),
    ]
    .into_iter()
    .enumerate()
    {
        let v = s.handle_packet(
            t0,
            0,
            Leg::A,
            Channel::Rtp,
            a,
            &rtp(101, seq as u16, 8000, &p),
        );
        assert!(
            matches!(v, Verdict::Forward(_)),
            "DTMF is relayed, not swallowed"
        );
    }
    let digits: Vec<_> = events(&mut s)
        .into_iter()
        .filter_map(|e| match e {
            MediaEvent::Dtmf {
                digit,
                duration_ms,
                tag,
                ..
            } => Some((digit, duration_ms, tag.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(digits, vec![('1', 120, "ta".to_owned())]);
}

#[test]
fn loss_and_mos_in_stats() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let a = addr("203.0.113.7:61000");
    for i in 0..100u16 {
        if i % 10 == 5 {
            continue; // 10 % loss
        }
        let t = t0 + Duration::from_millis(20 * u64::from(i));
        s.handle_packet(
            t,
            0,
            Leg::A,
            Channel::Rtp,
            a,
            &rtp(0, i, 160 * u32::from(i), &[0; 160]),
        );
    }
    let st = &s.stats(t0 + Duration::from_secs(2))[0].legs[0];
    assert_eq!((st.rtp_packets, st.lost), (90, 10));
    let mos = st.mos.unwrap();
    assert!(mos > 2.0 && mos < 4.0, "{mos}");
    assert!(
        s.stats(t0)[0].legs[1].mos.is_none(),
        "no media from B, no estimate"
    );
}

/// A small deterministic generator, so the garbage below is the same on every run.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn random_datagrams_never_panic_and_garbage_is_counted() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = [0u8; 300];
    for i in 0..20_000u32 {
        let len = (xorshift(&mut seed) % 300) as usize;
        for b in buf[..len].iter_mut() {
            *b = xorshift(&mut seed) as u8;
        }
        // Half of them look like RTP/RTCP version 2, to get past the first check.
        if i % 2 == 0 && len > 0 {
            buf[0] = (buf[0] & 0x3f) | 0x80;
        }
        let leg = if i % 3 == 0 { Leg::B } else { Leg::A };
        let ch = if i % 5 == 0 {
            Channel::Rtcp
        } else {
            Channel::Rtp
        };
        let src = SocketAddr::from(([198, 18, 0, (i % 7) as u8], 1000 + (i % 3) as u16));
        let _ = s.handle_packet(t0, 0, leg, ch, src, &buf[..len]);
        let _ = crate::rtp::classify(&buf[..len]);
    }
    s.handle_timeout(t0 + Duration::from_secs(1));
    let stats = s.stats(t0);
    assert!(stats[0].legs[0].errors > 0, "garbage is counted");
    while s.poll_event().is_some() {}
}
