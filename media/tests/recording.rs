//! Recorded calls over real UDP: the WAV has the expected length and each channel the
//! expected content.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use media::recording::g711::linear_to_ulaw;
use media::{MediaControl, SdpOptions};

fn tone(freq: f64, n: usize, start: usize, rate: f64) -> Vec<i16> {
    (0..n)
        .map(|i| {
            (8000.0 * (2.0 * std::f64::consts::PI * freq * (start + i) as f64 / rate).sin()) as i16
        })
        .collect()
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Zero crossings per second, about twice the frequency of a pure tone.
fn crossings_per_second(x: &[i16], rate: f64) -> f64 {
    let c = x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    c as f64 * rate / x.len() as f64
}

fn read_channels(path: &std::path::Path) -> (hound::WavSpec, Vec<i16>, Vec<i16>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    let left = s.iter().step_by(2).copied().collect();
    let right = s.iter().skip(1).step_by(2).copied().collect();
    (spec, left, right)
}

#[test]
fn tone_on_leg_a_only_lands_in_the_left_channel_with_silence_for_loss() {
    let (e, _rx, dir) = engine(31700..=31799, |_| {});
    let (a, b) = (Endpoint::new(), Endpoint::new());
    let mut o = SdpOptions::default();
    o.record = true;
    let t_start = Instant::now();
    e.offer("rec-1", "ta", sdp("127.0.0.1", a.port(), "").as_bytes(), &o)
        .unwrap();
    let to_a = e
        .answer(
            "rec-1",
            "ta",
            "tb",
            sdp("127.0.0.1", b.port(), "").as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    let path = e.stats("rec-1").unwrap().recording.unwrap();
    assert!(path.starts_with(dir.path()));
    let relay = relay_addr(&to_a);
    // 1.5 s of a 440 Hz tone from A, paced at 20 ms; packets 30..35 are "lost".
    let t0 = Instant::now();
    for i in 0..75u16 {
        let pcm = tone(440.0, 160, 160 * usize::from(i), 8000.0);
        let payload: Vec<u8> = pcm.iter().map(|&s| linear_to_ulaw(s)).collect();
        if !(30..35).contains(&i) {
            a.send(relay, &rtp(0, i, 160 * u32::from(i), 7, &payload));
        }
        // Pace by the clock, not by sleeping a fixed amount per packet.
        let due = t0 + Duration::from_millis(20 * (u64::from(i) + 1));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let report = e.stop_recording("rec-1").unwrap();
    let elapsed = t_start.elapsed().as_secs_f64();
    assert_eq!(report.path, path);
    assert_eq!(report.lost_packets, [5, 0]);
    assert_eq!(report.gaps, 0, "nothing late, nothing dropped");
    let (spec, left, right) = read_channels(&path);
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 8000, 16)
    );
    assert_eq!(left.len() as u64, report.frames);
    // The file covers the call from the start of recording to the stop, on the clock.
    assert!(
        left.len() >= 75 * 160,
        "at least the 1.5 s sent: {}",
        left.len()
    );
    assert!(
        (left.len() as f64) <= elapsed * 8000.0 + 1.0,
        "{} frames for {elapsed} s",
        left.len()
    );
    assert!(rms(&right) < 1.0, "leg B sent nothing: silence");
    // Find the tone in the left channel and check its pitch and the 100 ms hole.
    let start = left.iter().position(|&s| s.abs() > 1000).unwrap();
    let first = &left[start..start + 30 * 160 - 80];
    assert!(rms(first) > 4000.0, "tone level {}", rms(first));
    let hz = crossings_per_second(first, 8000.0) / 2.0;
    assert!((hz - 440.0).abs() < 10.0, "tone at {hz} Hz");
    let hole = &left[start + 30 * 160 + 40..start + 35 * 160 - 40];
    assert!(
        rms(hole) < 1.0,
        "lost packets are silence, rms {}",
        rms(hole)
    );
    assert!(rms(&left[start + 35 * 160 + 40..start + 75 * 160 - 40]) > 4000.0);
    e.delete("rec-1").unwrap();
}

#[test]
fn opus_on_leg_b_is_decoded_into_the_right_channel() {
    use audiopus::coder::Encoder;
    use audiopus::{Application, Channels, SampleRate};
    let (e, mut rx, _dir) = engine(31800..=31899, |_| {});
    let (a, b) = (Endpoint::new(), Endpoint::new());
    let opus_sdp = |port: u16| {
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n"
        )
    };
    // The rewritten offer tells B where to send.
    let to_b = e
        .offer(
            "rec-2",
            "ta",
            opus_sdp(a.port()).as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    e.answer(
        "rec-2",
        "ta",
        "tb",
        opus_sdp(b.port()).as_bytes(),
        &SdpOptions::default(),
    )
    .unwrap();
    e.start_recording("rec-2").unwrap();
    let relay = relay_addr(&to_b);
    let enc = Encoder::new(SampleRate::Hz48000, Channels::Mono, Application::Voip).unwrap();
    let t0 = Instant::now();
    let mut out = [0u8; 1500];
    for i in 0..50u16 {
        let pcm = tone(300.0, 960, 960 * usize::from(i), 48000.0);
        let n = enc.encode(&pcm, &mut out).unwrap();
        b.send(relay, &rtp(111, i, 960 * u32::from(i), 9, &out[..n]));
        let due = t0 + Duration::from_millis(20 * (u64::from(i) + 1));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let stats = e.delete("rec-2").unwrap();
    let report = stats.recording_report.unwrap();
    assert_eq!((report.gaps, report.lost_packets), (0, [0, 0]));
    let (_, left, right) = read_channels(&report.path);
    assert!(rms(&left) < 1.0);
    let start = right.iter().position(|&s| s.abs() > 500).unwrap();
    let body = &right[start + 800..start + 40 * 160];
    assert!(rms(body) > 2000.0, "decoded Opus level {}", rms(body));
    let hz = crossings_per_second(body, 8000.0) / 2.0;
    assert!((hz - 300.0).abs() < 15.0, "tone at {hz} Hz");
    let finished = wait_event(&mut rx, Duration::from_secs(2), |e| {
        matches!(e, media::MediaEvent::RecordingFinished { .. })
    });
    assert!(
        matches!(finished, media::MediaEvent::RecordingFinished { report: r, .. } if r == report)
    );
}

#[test]
fn recording_twice_keeps_both_files() {
    let (e, _rx, _dir) = engine(31950..=31959, |_| {});
    let (a, b) = (Endpoint::new(), Endpoint::new());
    e.offer(
        "rec-3",
        "ta",
        sdp("127.0.0.1", a.port(), "").as_bytes(),
        &SdpOptions::default(),
    )
    .unwrap();
    e.answer(
        "rec-3",
        "ta",
        "tb",
        sdp("127.0.0.1", b.port(), "").as_bytes(),
        &SdpOptions::default(),
    )
    .unwrap();
    let first = e.start_recording("rec-3").unwrap();
    assert_eq!(
        e.start_recording("rec-3").unwrap(),
        first,
        "starting twice is harmless"
    );
    let r1 = e.stop_recording("rec-3").unwrap();
    assert!(e.stop_recording("rec-3").is_err(), "nothing to stop");
    let second = e.start_recording("rec-3").unwrap();
    assert_ne!(first, second);
    let r2 = e.stop_recording("rec-3").unwrap();
    assert!(r1.path.exists() && r2.path.exists());
    assert!(hound::WavReader::open(&r1.path).is_ok() && hound::WavReader::open(&r2.path).is_ok());
    e.delete("rec-3").unwrap();
}

#[test]
fn the_file_plays_while_the_call_is_still_being_recorded() {
    // What a crash would leave behind: the header is rewritten about once a second.
    let (e, _rx, _dir) = engine(31960..=31969, |_| {});
    let (a, b) = (Endpoint::new(), Endpoint::new());
    e.offer(
        "rec-4",
        "ta",
        sdp("127.0.0.1", a.port(), "").as_bytes(),
        &SdpOptions::default(),
    )
    .unwrap();
    let to_a = e
        .answer(
            "rec-4",
            "ta",
            "tb",
            sdp("127.0.0.1", b.port(), "").as_bytes(),
            &SdpOptions::default(),
        )
        .unwrap();
    let path = e.start_recording("rec-4").unwrap();
    let relay = relay_addr(&to_a);
    let t0 = Instant::now();
    let mut i = 0u16;
    let mut frames = 0;
    while t0.elapsed() < Duration::from_secs(5) && frames == 0 {
        a.send(relay, &rtp(0, i, 160 * u32::from(i), 7, &[0x80; 160]));
        i += 1;
        std::thread::sleep(Duration::from_millis(20));
        if let Ok(r) = hound::WavReader::open(&path) {
            frames = r.duration();
        }
    }
    assert!(frames > 0, "header updated while recording");
    let report = e.stop_recording("rec-4").unwrap();
    assert!(report.frames >= u64::from(frames));
    e.delete("rec-4").unwrap();
}
