//! In-kernel forwarding (`media.kernel_forwarding = "on"`) over real UDP on 127.0.0.1.
//!
//! Loading the program needs root (or CAP_BPF and CAP_NET_ADMIN). As root these tests
//! run, and fail if the kernel path cannot be loaded; otherwise they skip and say why.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use media::relay::kernel::privileged;
use media::{KernelForwarding, MediaControl, MediaEngine, MediaEvent};

/// An engine with kernel forwarding on, or `None` (with the reason printed) when this
/// process may not load eBPF programs.
fn kernel_engine(
    ports: std::ops::RangeInclusive<u16>,
    tweak: impl FnOnce(&mut media::MediaConfig),
) -> Option<(
    MediaEngine,
    tokio::sync::mpsc::Receiver<MediaEvent>,
    tempfile::TempDir,
)> {
    if !privileged() {
        eprintln!("skipped: in-kernel forwarding needs root (or CAP_BPF and CAP_NET_ADMIN)");
        return None;
    }
    let r = engine(ports, |c| {
        c.kernel_forwarding = KernelForwarding::On;
        tweak(c);
    });
    assert_eq!(r.0.kernel_interfaces(), vec!["lo".to_owned()]);
    Some(r)
}

/// A call between two fresh endpoints; returns (A, B, relay port for A, for B).
fn call_endpoints(
    e: &MediaEngine,
    id: &str,
) -> (
    Endpoint,
    Endpoint,
    std::net::SocketAddr,
    std::net::SocketAddr,
) {
    let (a, b) = (Endpoint::new(), Endpoint::new());
    let (relay_for_a, relay_for_b) = call(e, id, a.port(), b.port());
    (a, b, relay_for_a, relay_for_b)
}

fn forwarded(e: &MediaEngine) -> u64 {
    e.kernel_stats()
        .expect("kernel forwarding is on")
        .forwarded()
}

#[test]
fn after_latching_the_kernel_forwards_both_ways() {
    let Some((e, _rx, _dir)) = kernel_engine(32000..=32099, |_| {}) else {
        return;
    };
    let (a, b, relay_for_a, relay_for_b) = call_endpoints(&e, "k-1");
    let before = forwarded(&e);
    for i in 0..20u16 {
        let pa = rtp(0, i, 160 * u32::from(i), 1, &[i as u8; 160]);
        a.send(relay_for_a, &pa);
        let (got, from) = b.recv().expect("A's packet reaches B");
        assert_eq!((got, from), (pa, relay_for_b));
        let pb = rtp(8, i, 160 * u32::from(i), 2, &[0xd5 ^ i as u8; 172]);
        b.send(relay_for_b, &pb);
        let (got, from) = a.recv().expect("B's packet reaches A");
        assert_eq!((got, from), (pb, relay_for_a));
    }
    // Each leg's first packet latched it in userspace; the other 19 never left the kernel.
    assert_eq!(forwarded(&e) - before, 38);
    let st = e.stats("k-1").unwrap();
    for (leg, size) in st.streams[0].legs.iter().zip([172u64, 184]) {
        assert_eq!(
            (leg.rtp_packets, leg.kernel_packets, leg.forwarded),
            (20, 19, 20)
        );
        assert_eq!(leg.rtp_bytes, 20 * size);
        assert_eq!(leg.lost, 0, "what the kernel carried is not loss");
    }
    assert_eq!(e.kernel_stats().unwrap().entries, 2);
    // Delete takes the entries out: the ports answer nobody any more.
    let fin = e.delete("k-1").unwrap();
    assert_eq!(fin.streams[0].legs[1].kernel_packets, 19);
    assert_eq!(e.kernel_stats().unwrap().entries, 0);
    a.send(relay_for_a, &rtp(0, 99, 0, 1, &[0; 160]));
    assert!(b.recv_quick().is_none());
}

#[test]
fn injection_from_a_third_address_is_still_dropped_and_counted() {
    let Some((e, _rx, _dir)) = kernel_engine(32100..=32199, |_| {}) else {
        return;
    };
    let (a, b, relay_for_a, relay_for_b) = call_endpoints(&e, "k-2");
    let attacker = Endpoint::new();
    a.send(relay_for_a, &rtp(0, 1, 0, 1, &[1; 160]));
    assert!(b.recv().is_some());
    b.send(relay_for_b, &rtp(0, 1, 0, 2, &[2; 160]));
    assert!(a.recv().is_some());
    a.send(relay_for_a, &rtp(0, 2, 160, 1, &[3; 160]));
    assert_eq!(b.recv().unwrap().0[12], 3);
    let kernel_before = forwarded(&e);
    for i in 0..5 {
        attacker.send(relay_for_a, &rtp(0, 500 + i, 0, 66, &[0xee; 160]));
    }
    assert!(b.recv_quick().is_none(), "injected media must not reach B");
    let st = e.stats("k-2").unwrap();
    assert_eq!(st.streams[0].legs[0].dropped_foreign, 5);
    assert_eq!(
        forwarded(&e),
        kernel_before,
        "the kernel forwarded none of it"
    );
    e.delete("k-2").unwrap();
}

#[test]
fn dtmf_passes_through_userspace_and_becomes_an_event() {
    let Some((e, mut rx, _dir)) = kernel_engine(32200..=32299, |_| {}) else {
        return;
    };
    let (a, b, relay_for_a, relay_for_b) = call_endpoints(&e, "k-3");
    a.send(relay_for_a, &rtp(0, 1, 0, 1, &[1; 160]));
    assert!(b.recv().is_some());
    b.send(relay_for_b, &rtp(0, 1, 0, 2, &[2; 160]));
    assert!(a.recv().is_some());
    a.send(relay_for_a, &rtp(0, 2, 160, 1, &[2; 160]));
    assert!(b.recv().is_some());
    let dtmf_before = e.kernel_stats().unwrap().passed_dtmf;
    for (i, (end, dur)) in [(false, 160u16), (false, 320), (true, 800), (true, 800)]
        .into_iter()
        .enumerate()
    {
        let p = rtp(
            101,
            10 + i as u16,
            16000,
            1,
            &media::dtmf::event_payload(5, end, 10, dur),
        );
        a.send(relay_for_a, &p);
        let (got, from) = b.recv().expect("DTMF is relayed");
        assert_eq!((got, from), (p, relay_for_b));
    }
    assert_eq!(e.kernel_stats().unwrap().passed_dtmf - dtmf_before, 4);
    let ev = wait_event(&mut rx, Duration::from_secs(5), |e| {
        matches!(e, MediaEvent::Dtmf { .. })
    });
    let MediaEvent::Dtmf { digit, tag, .. } = ev else {
        unreachable!()
    };
    assert_eq!((digit, &*tag), ('5', "ta"));
    let st = e.stats("k-3").unwrap();
    assert_eq!(st.streams[0].legs[0].kernel_packets, 1, "only the audio");
    e.delete("k-3").unwrap();
}

#[test]
fn recording_start_takes_the_call_out_of_the_kernel_without_a_gap() {
    let Some((e, _rx, _dir)) = kernel_engine(32300..=32399, |_| {}) else {
        return;
    };
    let (a, b, relay_for_a, relay_for_b) = call_endpoints(&e, "k-4");
    b.send(relay_for_b, &rtp(0, 0, 0, 2, &[0xff; 160]));
    assert!(a.recv().is_some());
    let t0 = Instant::now();
    let send = |i: u16| {
        a.send(relay_for_a, &rtp(0, i, 160 * u32::from(i), 7, &[0x55; 160]));
        assert!(b.recv().is_some(), "packet {i} reaches B");
        let due = t0 + Duration::from_millis(20 * (u64::from(i) + 1));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    };
    for i in 0..25u16 {
        send(i);
    }
    let in_kernel = e.stats("k-4").unwrap().streams[0].legs[0].kernel_packets;
    assert_eq!(in_kernel, 24, "all but the latching packet");
    e.start_recording("k-4").unwrap();
    assert_eq!(e.kernel_stats().unwrap().entries, 0);
    for i in 25..50u16 {
        send(i);
    }
    let report = e.stop_recording("k-4").unwrap();
    assert_eq!(report.gaps, 0, "nothing late, nothing dropped");
    assert_eq!(report.lost_packets, [0, 0]);
    let st = e.stats("k-4").unwrap();
    assert_eq!(
        st.streams[0].legs[0].kernel_packets, in_kernel,
        "all recorded here"
    );
    assert_eq!(st.streams[0].legs[0].rtp_packets, 50);
    // Stopping the recording hands the call back to the kernel.
    assert_eq!(e.kernel_stats().unwrap().entries, 2);
    e.delete("k-4").unwrap();
}

#[test]
fn media_timeout_follows_the_kernel_last_seen_time() {
    let Some((e, mut rx, _dir)) = kernel_engine(32400..=32499, |c| {
        c.media_timeout = Duration::from_millis(600)
    }) else {
        return;
    };
    let (a, b, relay_for_a, relay_for_b) = call_endpoints(&e, "k-5");
    // 1.5 s of media both ways, nearly all of it forwarded in the kernel: longer than the
    // timeout, so only the kernel's last-seen time keeps it away.
    let t0 = Instant::now();
    for i in 0..75u16 {
        a.send(relay_for_a, &rtp(0, i, 160 * u32::from(i), 1, &[1; 160]));
        b.send(relay_for_b, &rtp(0, i, 160 * u32::from(i), 2, &[2; 160]));
        assert!(b.recv().is_some() && a.recv().is_some());
        let due = t0 + Duration::from_millis(20 * (u64::from(i) + 1));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let st = e.stats("k-5").unwrap();
    assert!(st.streams[0].legs[0].kernel_packets >= 70);
    while let Ok(ev) = rx.try_recv() {
        assert!(
            !matches!(ev, MediaEvent::Timeout { .. }),
            "timeout while media flows: {ev:?}"
        );
    }
    // Silence: now the timeout comes.
    let ev = wait_event(&mut rx, Duration::from_secs(5), |e| {
        matches!(e, MediaEvent::Timeout { .. })
    });
    let MediaEvent::Timeout { call_id, idle, .. } = ev else {
        unreachable!()
    };
    assert_eq!(&*call_id, "k-5");
    assert!(idle >= Duration::from_millis(600));
    e.delete("k-5").unwrap();
}

#[test]
fn off_keeps_everything_in_userspace() {
    let (e, _rx, _dir) = engine(32500..=32599, |c| {
        c.kernel_forwarding = KernelForwarding::Off;
    });
    assert!(e.kernel_stats().is_none());
    let (a, b, relay_for_a, relay_for_b) = call_endpoints(&e, "k-6");
    for i in 0..5u16 {
        a.send(relay_for_a, &rtp(0, i, 0, 1, &[1; 160]));
        assert!(b.recv().is_some());
        b.send(relay_for_b, &rtp(0, i, 0, 2, &[2; 160]));
        assert!(a.recv().is_some());
    }
    let st = e.stats("k-6").unwrap();
    assert_eq!(st.streams[0].legs[0].kernel_packets, 0);
    assert_eq!(st.streams[0].legs[0].rtp_packets, 5);
    e.delete("k-6").unwrap();
}
