//! Per-leg stream quality: sequence loss and interarrival jitter (RFC 3550 A.1, A.8),
//! RTCP SR/RR parsed with the `rtcp` crate, round-trip time, and an E-model MOS estimate
//! (ITU-T G.107).

use std::time::{Duration, Instant};

use bytes::Bytes;
use rtcp::receiver_report::ReceiverReport;
use rtcp::reception_report::ReceptionReport;
use rtcp::sender_report::SenderReport;

/// Loss and jitter of the RTP a leg sends to the relay, measured by the relay.
#[derive(Debug, Clone, Default)]
pub struct ReceiveStats {
    base_seq: u32,
    max_ext_seq: Option<u32>,
    received: u64,
    last_transit: Option<i64>,
    jitter: f64,
    started: Option<Instant>,
    ssrc: Option<u32>,
    clock_rate_hint: u32,
    /// Received and lost in earlier sequence epochs (see [`resync`](Self::resync)).
    prior_received: u64,
    prior_lost: u64,
}

impl ReceiveStats {
    /// Records one RTP packet (`clock_rate` of its payload type, Hz).
    pub fn handle_rtp(
        &mut self,
        now: Instant,
        seq: u16,
        timestamp: u32,
        ssrc: u32,
        clock_rate: u32,
    ) {
        if self.ssrc != Some(ssrc) {
            // A new source (re-INVITE, new call leg behind the peer): start counting anew.
            *self = Self {
                ssrc: Some(ssrc),
                started: self.started.or(Some(now)),
                prior_received: self.prior_received,
                prior_lost: self.prior_lost,
                ..Self::default()
            };
        }
        self.received += 1;
        let seq = u32::from(seq);
        match self.max_ext_seq {
            None => {
                self.base_seq = seq;
                self.max_ext_seq = Some(seq);
            }
            Some(max) => {
                // Extend the 16-bit sequence number with a cycle count (RFC 3550 A.1).
                let cycles = max & !0xffff;
                let mut ext = cycles | seq;
                let diff = ext as i64 - max as i64;
                if diff < -0x8000 {
                    ext = ext.wrapping_add(0x1_0000);
                } else if diff > 0x8000 {
                    ext = ext.wrapping_sub(0x1_0000);
                }
                if ext > max && ext.wrapping_sub(max) < 3000 {
                    self.max_ext_seq = Some(ext);
                }
            }
        }
        // RFC 3550 A.8: transit time in timestamp units; jitter J += (|D| - J) / 16.
        let started = *self.started.get_or_insert(now);
        let arrival = (now.saturating_duration_since(started).as_secs_f64()
            * f64::from(clock_rate.max(1))) as i64;
        let transit = arrival - i64::from(timestamp);
        if let Some(prev) = self.last_transit {
            let d = (transit - prev).unsigned_abs() as f64;
            // Ignore timestamp jumps (a new talk spurt after DTX, or a wrap) of over 10 s.
            if d < f64::from(clock_rate.max(1)) * 10.0 {
                self.jitter += (d - self.jitter) / 16.0;
            }
        }
        self.last_transit = Some(transit);
        self.clock_rate_hint = clock_rate;
    }

    /// Packets expected minus packets received (never negative).
    pub fn lost(&self) -> u64 {
        self.prior_lost + self.epoch_lost()
    }

    fn epoch_lost(&self) -> u64 {
        match self.max_ext_seq {
            Some(max) => {
                (u64::from(max.wrapping_sub(self.base_seq)) + 1).saturating_sub(self.received)
            }
            None => 0,
        }
    }

    /// Packets received.
    pub fn received(&self) -> u64 {
        self.prior_received + self.received
    }

    /// Counts packets that were forwarded without passing here (in the kernel).
    pub fn add_unseen(&mut self, packets: u64) {
        self.prior_received += packets;
    }

    /// Closes the current sequence epoch: the next packet starts a new one. Called when
    /// packets went by unseen (kernel forwarding), so that their sequence numbers are not
    /// taken for loss. Jitter carries on.
    pub fn resync(&mut self) {
        self.prior_received += self.received;
        self.prior_lost += self.epoch_lost();
        self.received = 0;
        self.max_ext_seq = None;
    }

    /// Interarrival jitter in milliseconds.
    pub fn jitter_ms(&self) -> f64 {
        self.jitter * 1000.0 / f64::from(self.clock_rate_hint.max(1))
    }
}

/// What the RTCP a leg sends says about the stream it receives from the relay, and the
/// round trip between the relay and that leg.
#[derive(Debug, Clone, Default)]
pub struct RtcpView {
    /// Recent sender reports from this leg: (middle 32 bits of the NTP time, arrival).
    sr_log: [(u32, Option<Instant>); 4],
    sr_next: usize,
    /// Last fraction lost reported by this leg, 0..=1.
    pub fraction_lost: Option<f64>,
    /// Cumulative packets lost reported by this leg.
    pub cumulative_lost: Option<u32>,
    /// Interarrival jitter reported by this leg, in milliseconds (8 kHz assumed unless the
    /// caller knows better).
    pub jitter_ms: Option<f64>,
    /// Round-trip time between the relay and this leg.
    pub rtt: Option<Duration>,
    /// Sender reports received.
    pub sender_reports: u64,
    /// Receiver reports (RR packets, or SR packets with report blocks) received.
    pub receiver_reports: u64,
}

impl RtcpView {
    /// Finds when the relay saw the SR whose NTP middle bits are `lsr`.
    fn sr_seen(&self, lsr: u32) -> Option<Instant> {
        self.sr_log
            .iter()
            .find(|(m, t)| *m == lsr && t.is_some())
            .and_then(|(_, t)| *t)
    }
}

/// Parses one RTCP datagram from leg `from` and updates both legs' views: SRs are logged
/// on `from`; report blocks update `from`'s loss/jitter, and their LSR/DLSR, matched
/// against the SR the relay saw from `other`, give `from`'s round-trip time
/// (RFC 3550 §6.4.1). Returns false for a datagram the `rtcp` crate rejects.
pub fn handle_rtcp(
    now: Instant,
    datagram: &[u8],
    from: &mut RtcpView,
    other: &RtcpView,
    clock_rate: u32,
) -> bool {
    // RTCP arrives about every 5 s per leg, so the crate's allocations stay off the hot path.
    let mut buf = Bytes::copy_from_slice(datagram);
    let packets = match rtcp::packet::unmarshal(&mut buf) {
        Ok(p) => p,
        Err(_) => return false,
    };
    for p in &packets {
        let any = p.as_any();
        let reports: &[ReceptionReport] = if let Some(sr) = any.downcast_ref::<SenderReport>() {
            from.sender_reports += 1;
            let middle = (sr.ntp_time >> 16) as u32;
            from.sr_log[from.sr_next % 4] = (middle, Some(now));
            from.sr_next = from.sr_next.wrapping_add(1);
            &sr.reports
        } else if let Some(rr) = any.downcast_ref::<ReceiverReport>() {
            &rr.reports
        } else {
            continue;
        };
        if let Some(r) = reports.first() {
            from.receiver_reports += 1;
            from.fraction_lost = Some(f64::from(r.fraction_lost) / 256.0);
            from.cumulative_lost = Some(r.total_lost);
            from.jitter_ms = Some(f64::from(r.jitter) * 1000.0 / f64::from(clock_rate.max(1)));
            if r.last_sender_report != 0
                && let Some(seen) = other.sr_seen(r.last_sender_report)
            {
                let dlsr = Duration::from_secs_f64(f64::from(r.delay) / 65536.0);
                if let Some(rtt) = now.saturating_duration_since(seen).checked_sub(dlsr) {
                    from.rtt = Some(rtt);
                }
            }
        }
    }
    true
}

/// Codec impairment for the E-model: equipment impairment `Ie` and packet-loss robustness
/// `Bpl` (ITU-T G.113 Appendix I). G.711 with packet loss concealment: Ie 0, Bpl 25.1.
/// Opus has no G.113 entry; Ie 0 / Bpl 20 is a conservative stand-in for wideband Opus
/// heard through a narrowband path.
#[derive(Debug, Clone, Copy)]
pub struct CodecImpairment {
    /// Equipment impairment factor.
    pub ie: f64,
    /// Packet-loss robustness factor.
    pub bpl: f64,
}

impl CodecImpairment {
    /// G.711 (PCMU/PCMA) with packet loss concealment.
    pub const G711: Self = Self { ie: 0.0, bpl: 25.1 };
    /// Opus (see the type's documentation).
    pub const OPUS: Self = Self { ie: 0.0, bpl: 20.0 };
}

/// Estimates MOS-CQE with the ITU-T G.107 E-model from one-way delay, packet loss and codec.
///
/// R = 93.2 − Id − Ie,eff (default Ro − Is, A = 0); Id = 0.024·d + 0.11·(d − 177.3)·H(d − 177.3);
/// Ie,eff = Ie + (95 − Ie)·Ppl / (Ppl + Bpl) for random loss; MOS from R per G.107 Annex B.
pub fn mos(one_way_delay_ms: f64, loss_percent: f64, codec: CodecImpairment) -> f64 {
    let d = one_way_delay_ms.max(0.0);
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let ppl = loss_percent.clamp(0.0, 100.0);
    let ie_eff = codec.ie + (95.0 - codec.ie) * ppl / (ppl + codec.bpl);
    let r = 93.2 - id - ie_eff;
    if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        (1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6).clamp(1.0, 4.5)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_wrap() {
        let t0 = Instant::now();
        let mut s = ReceiveStats::default();
        let mut seq: u16 = 65530;
        for i in 0..20u32 {
            if i != 7 && i != 8 {
                s.handle_rtp(
                    t0 + Duration::from_millis(20 * u64::from(i)),
                    seq,
                    160 * i,
                    1,
                    8000,
                );
            }
            seq = seq.wrapping_add(1);
        }
        assert_eq!(s.received(), 18);
        assert_eq!(s.lost(), 2, "two missing across the 16-bit wrap");
        assert!(s.jitter_ms() < 0.01, "perfectly paced stream has no jitter");
    }

    #[test]
    fn jitter_from_uneven_arrival() {
        let t0 = Instant::now();
        let mut s = ReceiveStats::default();
        for i in 0..200u32 {
            let wobble = if i % 2 == 0 { 0 } else { 10 };
            s.handle_rtp(
                t0 + Duration::from_millis(u64::from(20 * i + wobble)),
                i as u16,
                160 * i,
                1,
                8000,
            );
        }
        // |D| alternates around 10 ms, so J converges near 10 ms.
        assert!((s.jitter_ms() - 10.0).abs() < 1.0, "{}", s.jitter_ms());
    }

    #[test]
    fn new_ssrc_restarts_counting() {
        let t0 = Instant::now();
        let mut s = ReceiveStats::default();
        s.handle_rtp(t0, 100, 0, 1, 8000);
        s.handle_rtp(t0, 5000, 0, 2, 8000);
        s.handle_rtp(t0, 5001, 160, 2, 8000);
        assert_eq!((s.received(), s.lost()), (2, 0));
    }

    #[test]
    fn rtt_from_sr_and_rr() {
        use rtcp::packet::Packet;
        let t0 = Instant::now();
        let mut a = RtcpView::default();
        let mut b = RtcpView::default();
        let ntp: u64 = 0x1234_5678_9abc_def0;
        let sr: Box<dyn Packet + Send + Sync> = Box::new(SenderReport {
            ssrc: 1,
            ntp_time: ntp,
            ..Default::default()
        });
        let wire = rtcp::packet::marshal(&[sr]).unwrap();
        let b_view = b.clone();
        assert!(handle_rtcp(t0, &wire, &mut a, &b_view, 8000));
        let rr: Box<dyn Packet + Send + Sync> = Box::new(ReceiverReport {
            ssrc: 2,
            reports: vec![ReceptionReport {
                ssrc: 1,
                fraction_lost: 64,
                total_lost: 12,
                jitter: 80,
                last_sender_report: (ntp >> 16) as u32,
                delay: 65536 / 2, // 500 ms held at B
                ..Default::default()
            }],
            ..Default::default()
        });
        let wire = rtcp::packet::marshal(&[rr]).unwrap();
        assert!(handle_rtcp(
            t0 + Duration::from_millis(560),
            &wire,
            &mut b,
            &a,
            8000
        ));
        let rtt = b.rtt.unwrap();
        assert!(
            rtt >= Duration::from_millis(59) && rtt <= Duration::from_millis(61),
            "{rtt:?}"
        );
        assert_eq!(b.fraction_lost, Some(0.25));
        assert_eq!(b.cumulative_lost, Some(12));
        assert_eq!(b.jitter_ms, Some(10.0));
        assert!(!handle_rtcp(t0, &[0x80, 200, 0, 1], &mut b, &a, 8000));
    }

    #[test]
    fn mos_shape() {
        let perfect = mos(20.0, 0.0, CodecImpairment::G711);
        assert!(perfect > 4.3 && perfect <= 4.5, "{perfect}");
        let lossy = mos(20.0, 5.0, CodecImpairment::G711);
        assert!(lossy < perfect && lossy > 3.0, "{lossy}");
        assert!(mos(400.0, 0.0, CodecImpairment::G711) < perfect);
        assert!(mos(0.0, 100.0, CodecImpairment::G711) < 1.5);
        assert!(mos(1000.0, 50.0, CodecImpairment::G711) < 1.5);
    }
}
