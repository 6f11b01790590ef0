//! The relay over real UDP sockets on 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use media::{MediaControl, MediaEvent, SdpOptions};

#[test]
fn two_endpoints_exchange_rtp_through_a_session() {
    let (e, _rx, _dir) = engine(31000..=31099, |_| {});
    let free = e.free_port_pairs();
    let (a, b) = (Endpoint::new(), Endpoint::new());
    let to_b = e
        .offer(
            "call-1",
            "ta",
            sdp("127.0.0.1", a.port(), "").as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    let to_a = e
        .answer(
            "call-1",
            "ta",
            "tb",
            sdp("127.0.0.1", b.port(), "").as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    let (relay_for_a, relay_for_b) = (relay_addr(&to_a), relay_addr(&to_b));
    assert_ne!(relay_for_a, relay_for_b);
    assert_eq!(relay_for_a.port() % 2, 0, "RTP on the even port");
    assert!(
        std::str::from_utf8(&to_a)
            .unwrap()
            .contains(&format!("a=rtcp:{}", relay_for_a.port() + 1))
    );
    assert_eq!(e.free_port_pairs(), free - 2);
    for i in 0..20u16 {
        a.send(
            relay_for_a,
            &rtp(0, i, 160 * u32::from(i), 1, &[i as u8; 160]),
        );
        let (got, from) = b.recv().expect("A's packet reaches B");
        assert_eq!(
            from, relay_for_b,
            "sent from the port B sends to (symmetric)"
        );
        assert_eq!(got, rtp(0, i, 160 * u32::from(i), 1, &[i as u8; 160]));
        b.send(relay_for_b, &rtp(8, i, 160 * u32::from(i), 2, &[0xd5; 160]));
        let (got, from) = a.recv().expect("B's packet reaches A");
        assert_eq!(from, relay_for_a);
        assert_eq!(got[1], 8);
    }
    let st = e.stats("call-1").unwrap();
    assert_eq!(st.tags, ["ta".to_owned(), "tb".to_owned()]);
    assert_eq!(
        (
            st.streams[0].legs[0].rtp_packets,
            st.streams[0].legs[0].forwarded
        ),
        (20, 20)
    );
    assert_eq!(st.streams[0].legs[1].rtp_packets, 20);
    assert_eq!(e.list(), vec!["call-1".to_owned()]);
    let fin = e.delete("call-1").unwrap();
    assert_eq!(fin.streams[0].legs[1].forwarded, 20);
    assert_eq!(e.free_port_pairs(), free, "ports return to the pool");
    assert!(e.stats("call-1").is_err());
    // The relay's sockets are closed: nothing comes back any more.
    a.send(relay_for_a, &rtp(0, 99, 0, 1, &[0; 160]));
    assert!(b.recv_quick().is_none());
}

#[test]
fn latching_and_injection_from_a_third_address() {
    let (e, _rx, _dir) = engine(31100..=31199, |_| {});
    let (a_sdp, a_nat, b, attacker) = (
        Endpoint::new(),
        Endpoint::new(),
        Endpoint::new(),
        Endpoint::new(),
    );
    let (relay_for_a, relay_for_b) = call(&e, "call-2", a_sdp.port(), b.port());
    // Before A sends anything, B's media goes to the address in A's SDP.
    b.send(relay_for_b, &rtp(0, 1, 0, 2, &[1; 160]));
    assert!(
        a_sdp.recv().is_some(),
        "sent to the SDP address until the first packet"
    );
    // A really sends from another port (NAT): the relay latches onto it.
    a_nat.send(relay_for_a, &rtp(0, 1, 0, 1, &[2; 160]));
    assert!(b.recv().is_some());
    b.send(relay_for_b, &rtp(0, 2, 160, 2, &[3; 160]));
    assert_eq!(
        a_nat.recv().unwrap().0[12],
        3,
        "now sent to the latched address"
    );
    assert!(a_sdp.recv_quick().is_none());
    // A third party sends to the relay's port for A: dropped, counted, B hears nothing.
    for i in 0..3 {
        attacker.send(relay_for_a, &rtp(0, 500 + i, 0, 66, &[0xee; 160]));
    }
    assert!(b.recv_quick().is_none(), "injected media must not reach B");
    let st = e.stats("call-2").unwrap();
    assert_eq!(st.streams[0].legs[0].dropped_foreign, 3);
    assert_eq!(st.streams[0].legs[0].latched_rtp, Some(a_nat.addr()));
    e.delete("call-2").unwrap();
}

#[test]
fn hold_and_reinvite_update_the_session_in_place() {
    let (e, _rx, _dir) = engine(31200..=31299, |_| {});
    let (a, a2, b) = (Endpoint::new(), Endpoint::new(), Endpoint::new());
    let o = SdpOptions::default();
    let (relay_for_a, relay_for_b) = call(&e, "call-3", a.port(), b.port());
    a.send(relay_for_a, &rtp(0, 1, 0, 1, &[0; 160]));
    assert!(b.recv().is_some());
    // A puts B on hold (sendonly): same relay port, direction passed through.
    let held = e
        .offer(
            "call-3",
            "ta",
            sdp("127.0.0.1", a.port(), "a=sendonly\r\n").as_bytes(),
            &o,
        )
        .unwrap();
    assert_eq!(
        relay_addr(&held),
        relay_for_b,
        "re-INVITE keeps the relay port"
    );
    assert!(
        std::str::from_utf8(&held)
            .unwrap()
            .contains("a=sendonly\r\n")
    );
    assert!(e.stats("call-3").unwrap().streams[0].legs[0].hold);
    // RFC 2543 hold from B: c=0.0.0.0 — the zero address survives, and A's media stops.
    let zero = e
        .offer("call-3", "tb", sdp("0.0.0.0", b.port(), "").as_bytes(), &o)
        .unwrap();
    assert!(
        std::str::from_utf8(&zero)
            .unwrap()
            .contains("c=IN IP4 0.0.0.0\r\n")
    );
    a.send(relay_for_a, &rtp(0, 2, 160, 1, &[0; 160]));
    assert!(
        b.recv_quick().is_none(),
        "nothing sent towards a c=0.0.0.0 hold"
    );
    // B resumes from the same address; then A moves (new address in a re-INVITE).
    e.offer(
        "call-3",
        "tb",
        sdp("127.0.0.1", b.port(), "").as_bytes(),
        &o,
    )
    .unwrap();
    a.send(relay_for_a, &rtp(0, 3, 320, 1, &[0; 160]));
    assert!(b.recv().is_some(), "resumed");
    let moved = sdp("127.0.0.1", a2.port(), "");
    e.offer("call-3", "ta", moved.as_bytes(), &o).unwrap();
    b.send(relay_for_b, &rtp(0, 1, 0, 2, &[4; 160]));
    assert_eq!(
        a2.recv().unwrap().0[12],
        4,
        "signalled move: sent to the new SDP address"
    );
    a2.send(relay_for_a, &rtp(0, 4, 480, 1, &[0; 160]));
    assert!(
        b.recv().is_some(),
        "and the new address is accepted (re-latched)"
    );
    e.delete("call-3").unwrap();
}

#[test]
fn media_timeout_raises_an_event() {
    let (e, mut rx, _dir) = engine(31300..=31399, |c| {
        c.media_timeout = Duration::from_millis(300)
    });
    let (a, b) = (Endpoint::new(), Endpoint::new());
    let (relay_for_a, _) = call(&e, "call-4", a.port(), b.port());
    a.send(relay_for_a, &rtp(0, 1, 0, 1, &[0; 160]));
    let ev = wait_event(&mut rx, Duration::from_secs(5), |e| {
        matches!(e, MediaEvent::Timeout { .. })
    });
    let MediaEvent::Timeout {
        call_id,
        tag,
        stream,
        idle,
    } = ev
    else {
        unreachable!()
    };
    assert_eq!((&*call_id, stream), ("call-4", 0));
    assert!(idle >= Duration::from_millis(300));
    assert!(&*tag == "ta" || &*tag == "tb");
    e.delete("call-4").unwrap();
}

#[test]
fn dtmf_over_udp_becomes_an_event() {
    let (e, mut rx, _dir) = engine(31400..=31499, |_| {});
    let (a, b) = (Endpoint::new(), Endpoint::new());
    let (relay, _) = call(&e, "call-5", a.port(), b.port());
    for (i, (end, dur)) in [
        (false, 160u16),
        (false, 320),
        (false, 640),
        (true, 800),
        (true, 800),
        (true, 800),
    ]
    .iter()
    .enumerate()
    {
        a.send(
            relay,
            &rtp(
                101,
                i as u16,
                16000,
                1,
                &media::dtmf::event_payload(11, *end, 10, *dur),
            ),
        );
        assert!(b.recv().is_some(), "DTMF is relayed");
    }
    let ev = wait_event(&mut rx, Duration::from_secs(5), |e| {
        matches!(e, MediaEvent::Dtmf { .. })
    });
    let MediaEvent::Dtmf {
        digit,
        duration_ms,
        tag,
        ..
    } = ev
    else {
        unreachable!()
    };
    assert_eq!((digit, duration_ms, &*tag), ('#', 100, "ta"));
    e.delete("call-5").unwrap();
}

#[test]
fn bad_sdp_and_unknown_sessions_are_errors() {
    let (e, _rx, _dir) = engine(31500..=31509, |_| {});
    let err = e
        .offer("x", "ta", b"v=0\r\nnot sdp\r\n", &SdpOptions::default())
        .unwrap_err();
    assert!(matches!(err, media::MediaError::Sdp(_)), "{err}");
    assert!(
        e.list().is_empty(),
        "a failed first offer leaves no session"
    );
    assert!(matches!(
        e.answer(
            "nope",
            "a",
            "b",
            sdp("127.0.0.1", 4000, "").as_bytes(),
            &SdpOptions::default()
        ),
        Err(media::MediaError::UnknownSession(_))
    ));
    assert!(matches!(
        e.delete("nope"),
        Err(media::MediaError::UnknownSession(_))
    ));
    // Port exhaustion: 5 pairs in 31500..=31509, two per call.
    let o = SdpOptions::default();
    e.offer("c1", "t", sdp("127.0.0.1", 4000, "").as_bytes(), &o)
        .unwrap();
    e.offer("c2", "t", sdp("127.0.0.1", 4000, "").as_bytes(), &o)
        .unwrap();
    assert!(matches!(
        e.offer("c3", "t", sdp("127.0.0.1", 4000, "").as_bytes(), &o),
        Err(media::MediaError::PortsExhausted)
    ));
    assert_eq!(e.list(), vec!["c1".to_owned(), "c2".to_owned()]);
    e.delete("c1").unwrap();
    e.offer("c3", "t", sdp("127.0.0.1", 4000, "").as_bytes(), &o)
        .unwrap();
}

#[test]
fn rtcp_is_relayed_and_sr_rr_give_loss_jitter_and_rtt() {
    use rtcp::packet::Packet;
    use rtcp::receiver_report::ReceiverReport;
    use rtcp::reception_report::ReceptionReport;
    use rtcp::sender_report::SenderReport;
    let (e, _rx, _dir) = engine(31980..=31989, |_| {});
    let (a, a_rtcp, b, b_rtcp) = (
        Endpoint::new(),
        Endpoint::new(),
        Endpoint::new(),
        Endpoint::new(),
    );
    let rtcp_attr = |p: u16| format!("a=rtcp:{p}\r\n");
    let to_b = e
        .offer(
            "rtcp-1",
            "ta",
            sdp("127.0.0.1", a.port(), &rtcp_attr(a_rtcp.port())).as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    let to_a = e
        .answer(
            "rtcp-1",
            "ta",
            "tb",
            sdp("127.0.0.1", b.port(), &rtcp_attr(b_rtcp.port())).as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    let relay_rtcp_for_a =
        std::net::SocketAddr::new(relay_addr(&to_a).ip(), relay_addr(&to_a).port() + 1);
    let relay_rtcp_for_b =
        std::net::SocketAddr::new(relay_addr(&to_b).ip(), relay_addr(&to_b).port() + 1);
    // A sends a sender report; it reaches B's RTCP port from the relay's RTCP port.
    let ntp: u64 = 0xdead_beef_1234_5678;
    let sr: Box<dyn Packet + Send + Sync> = Box::new(SenderReport {
        ssrc: 1,
        ntp_time: ntp,
        ..Default::default()
    });
    let wire = rtcp::packet::marshal(&[sr]).unwrap();
    a_rtcp.send(relay_rtcp_for_a, &wire);
    let (got, from) = b_rtcp.recv().expect("SR relayed");
    assert_eq!((got.as_slice(), from), (&wire[..], relay_rtcp_for_b));
    // B answers with a receiver report about A's stream, 10 % lost, after holding it 0 s.
    let rr: Box<dyn Packet + Send + Sync> = Box::new(ReceiverReport {
        ssrc: 2,
        reports: vec![ReceptionReport {
            ssrc: 1,
            fraction_lost: 26,
            total_lost: 3,
            jitter: 160,
            last_sender_report: (ntp >> 16) as u32,
            delay: 0,
            ..Default::default()
        }],
        ..Default::default()
    });
    let wire = rtcp::packet::marshal(&[rr]).unwrap();
    b_rtcp.send(relay_rtcp_for_b, &wire);
    assert_eq!(a_rtcp.recv().expect("RR relayed").0, wire.to_vec());
    let st = e.stats("rtcp-1").unwrap();
    let leg_b = &st.streams[0].legs[1];
    assert_eq!(leg_b.rtcp_packets, 1);
    assert_eq!(leg_b.remote_cumulative_lost, Some(3));
    assert!((leg_b.remote_fraction_lost.unwrap() - 26.0 / 256.0).abs() < 1e-9);
    assert_eq!(leg_b.remote_jitter_ms, Some(20.0));
    let rtt = leg_b.rtt_ms.expect("round trip from LSR/DLSR");
    assert!((0.0..1000.0).contains(&rtt), "{rtt}");
    assert!(leg_b.mos.is_some());
    assert_eq!(st.streams[0].legs[0].latched_rtcp, Some(a_rtcp.addr()));
    e.delete("rtcp-1").unwrap();
}

/// After a leg latches, its peer's packets take a second socket on the same port,
/// connected to the peer. A signalled move must close that socket, so the old address
/// is a stranger again (dropped and counted, never silently swallowed), and deleting the
/// call must close every socket on the port, or the port could not be bound again.
#[test]
fn a_move_closes_the_fast_path_and_delete_frees_every_port() {
    let (e, _rx, _dir) = engine(31510..=31519, |_| {});
    let (a, a2, b) = (Endpoint::new(), Endpoint::new(), Endpoint::new());
    let o = SdpOptions::default();
    let (relay_for_a, relay_for_b) = call(&e, "call-6", a.port(), b.port());
    // Both legs latch; the later packets go through the connected sockets both ways.
    for i in 0..10u16 {
        a.send(
            relay_for_a,
            &rtp(0, i, 160 * u32::from(i), 1, &[i as u8; 160]),
        );
        assert_eq!(b.recv().expect("A to B").0[12], i as u8);
        b.send(
            relay_for_b,
            &rtp(0, i, 160 * u32::from(i), 2, &[i as u8; 160]),
        );
        let (got, from) = a.recv().expect("B to A");
        assert_eq!((got[12], from), (i as u8, relay_for_a));
    }
    // A moves to a2 (re-INVITE): B's media follows the signalled address, then a2 latches.
    e.offer(
        "call-6",
        "ta",
        sdp("127.0.0.1", a2.port(), "").as_bytes(),
        &o,
    )
    .unwrap();
    b.send(relay_for_b, &rtp(0, 10, 1600, 2, &[10; 160]));
    assert_eq!(a2.recv().expect("to the signalled address").0[12], 10);
    a2.send(relay_for_a, &rtp(0, 100, 0, 3, &[0xa2; 160]));
    assert_eq!(b.recv().expect("the new address latched").0[12], 0xa2);
    b.send(relay_for_b, &rtp(0, 11, 1760, 2, &[11; 160]));
    let (got, from) = a2.recv().expect("B to the new address");
    assert_eq!((got[12], from), (11, relay_for_a));
    assert!(a.recv_quick().is_none(), "nothing for the old address");
    // The old address is a stranger now.
    for i in 0..3u16 {
        a.send(relay_for_a, &rtp(0, 20 + i, 0, 1, &[0xee; 160]));
    }
    assert!(
        b.recv_quick().is_none(),
        "the old address's media must not reach B"
    );
    let st = e.stats("call-6").unwrap();
    assert_eq!(st.streams[0].legs[0].dropped_foreign, 3);
    assert_eq!(st.streams[0].legs[0].latched_rtp, Some(a2.addr()));
    e.delete("call-6").unwrap();
    for port in [relay_for_a, relay_for_b] {
        std::net::UdpSocket::bind(port).expect("no socket of the deleted call holds its port");
    }
}
