//! The forwarding state of one call, free of sockets and clocks: packets and time go in,
//! verdicts and events come out. Worker threads drive it; tests drive it with a
//! simulated clock.

use std::collections::VecDeque;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::codec::{Codec, CodecMap};
use super::kernel::{MAX_DTMF_PTS, Route};
use crate::control::{Channel, Leg, LegStats, MediaEvent, StreamStats};
use crate::dtmf::DtmfDetector;
use crate::quality::{self, CodecImpairment, ReceiveStats, RtcpView};
use crate::recording::RecordingTap;
use crate::rtp::{PacketKind, classify};

/// What the SDP of one leg says about where it receives media.
#[derive(Debug, Clone, Default)]
pub struct LegConfig {
    /// RTP address from `c=` and `m=`; `None` while unknown or for `c=0.0.0.0` hold.
    pub rtp: Option<SocketAddr>,
    /// RTCP address (RFC 3605 `a=rtcp`, else RTP port + 1; the RTP address with `rtcp-mux`).
    pub rtcp: Option<SocketAddr>,
    /// The leg put the stream on hold (`sendonly`, `inactive` or `c=0.0.0.0`).
    pub hold: bool,
    /// The leg asked not to be sent anything (`c=0.0.0.0`, RFC 2543 §B.5 / RFC 3264 §8.4).
    pub mute_towards: bool,
    /// Payload types of this leg's SDP.
    pub codecs: CodecMap,
}

/// Counters of one leg.
#[derive(Debug, Clone, Copy, Default)]
struct Counters {
    rtp_packets: u64,
    rtp_bytes: u64,
    kernel_packets: u64,
    rtcp_packets: u64,
    rtcp_bytes: u64,
    forwarded: u64,
    dropped_foreign: u64,
    dropped_no_destination: u64,
    errors: u64,
}

#[derive(Debug, Default)]
struct LegState {
    cfg: LegConfig,
    latched: [Option<SocketAddr>; 2],
    last_rx: Option<Instant>,
    timeout_reported: bool,
    counters: Counters,
    recv: ReceiveStats,
    rtcp: RtcpView,
    dtmf: DtmfDetector,
    last_codec: Codec,
}

#[derive(Debug)]
struct StreamState {
    legs: [LegState; 2],
    created: Instant,
}

/// Why a packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// After latching, the packet came from another address (RTP injection / "RTP bleed").
    Foreign,
    /// The other leg has no address yet, or asked for no media (`c=0.0.0.0`).
    NoDestination,
    /// Not RTP/RTCP version 2, or truncated.
    Malformed,
    /// RTCP of an echo leg: read for statistics, never returned (see [`Mode::Echo`]).
    Absorbed,
}

/// What to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it, unchanged, from the other leg's socket of the same channel to this address.
    Forward(SocketAddr),
    /// Echo mode: send it back from the socket it arrived on to `dst`, with its RTP SSRC
    /// (octets 8..12) replaced by `ssrc`.
    Reflect {
        /// Where the leg receives (its latched address).
        dst: SocketAddr,
        /// The SSRC the echoed packet carries.
        ssrc: u32,
    },
    /// Drop it.
    Drop(DropReason),
}

/// What a session does with the packets of its legs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Two legs; each leg's packets go to the other (the normal call).
    Relay,
    /// One leg, A, looped back: its RTP returns to it (the echo service). Leg B has no
    /// sockets and stays empty.
    ///
    /// The echoed RTP carries `SSRC XOR ssrc_mask` instead of the leg's own SSRC: an
    /// endpoint that receives its own SSRC must treat it as a collision or a loop
    /// (RFC 3550 §8.2) and would change SSRC or discard the echo. XOR keeps distinct
    /// incoming sources distinct; a non-zero mask never maps an SSRC onto itself.
    ///
    /// RTCP from the leg is read for statistics (loss, jitter, MOS) and absorbed: echoed
    /// RTCP would carry the leg's own SSRC and report on the leg's own stream, and the
    /// echo generates no RTCP of its own (RFC 3550 §6 lets a sender that is not a real
    /// participant stay silent; endpoints do not depend on it).
    Echo {
        /// Non-zero mask XORed into the SSRC of echoed packets.
        ssrc_mask: u32,
    },
}

/// Timeouts that apply to a session.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// No RTP from a leg for this long raises [`MediaEvent::Timeout`].
    pub media: Duration,
    /// The same while the stream is on hold.
    pub hold: Duration,
}

/// One call's forwarding state: a list of streams (one per `m=` line), each with legs A and B.
#[derive(Debug)]
pub struct RelaySession {
    call_id: Arc<str>,
    tags: [Arc<str>; 2],
    streams: Vec<StreamState>,
    events: VecDeque<MediaEvent>,
    timeouts: Timeouts,
    recording: Option<RecordingTap>,
    mode: Mode,
}

impl RelaySession {
    /// A session with no streams yet.
    pub fn new(call_id: Arc<str>, timeouts: Timeouts) -> Self {
        Self {
            call_id,
            tags: [Arc::from(""), Arc::from("")],
            streams: Vec::new(),
            events: VecDeque::new(),
            timeouts,
            recording: None,
            mode: Mode::Relay,
        }
    }

    /// An echo session with no streams yet: leg A's RTP is returned to leg A, with its SSRC
    /// XORed with `ssrc_mask` (made non-zero if it is zero). See [`Mode::Echo`].
    pub fn echo(call_id: Arc<str>, timeouts: Timeouts, ssrc_mask: u32) -> Self {
        Self {
            mode: Mode::Echo {
                ssrc_mask: if ssrc_mask == 0 {
                    0x5eed_ec40
                } else {
                    ssrc_mask
                },
            },
            ..Self::new(call_id, timeouts)
        }
    }

    /// Whether the session relays between two legs or echoes one.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The leg whose socket sends what arrives on `leg`: the other leg when relaying, the
    /// same leg when echoing.
    pub fn output_leg(&self, leg: Leg) -> Leg {
        match self.mode {
            Mode::Relay => leg.other(),
            Mode::Echo { .. } => leg,
        }
    }

    /// Records the SIP tag of a leg, used in events.
    pub fn set_tag(&mut self, leg: Leg, tag: Arc<str>) {
        self.tags[leg.index()] = tag;
    }

    /// Applies what a new SDP of `leg` says about stream `stream` (created when new).
    ///
    /// `relatch` forgets the learned addresses of that leg: a re-INVITE that signals a new
    /// address is the only way to move a latched leg (protection against hijacking).
    pub fn update_leg(
        &mut self,
        now: Instant,
        stream: usize,
        leg: Leg,
        cfg: LegConfig,
        relatch: bool,
    ) {
        while self.streams.len() <= stream {
            self.streams.push(StreamState {
                legs: Default::default(),
                created: now,
            });
        }
        let st = &mut self.streams[stream];
        let l = &mut st.legs[leg.index()];
        if relatch {
            l.latched = [None, None];
        }
        l.cfg = cfg;
        // A new description restarts the idle clock: hold and resume change what is expected.
        l.last_rx = Some(now);
        l.timeout_reported = false;
    }

    /// Starts (or with `None` stops) copying RTP to a recording.
    pub(crate) fn set_recording(&mut self, tap: Option<RecordingTap>) {
        self.recording = tap;
    }

    /// Whether a recording is attached.
    pub fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

    /// Decides the fate of one datagram that arrived on `leg`'s `channel` socket of
    /// stream `stream` from `src`.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        stream: usize,
        leg: Leg,
        channel: Channel,
        src: SocketAddr,
        packet: &[u8],
    ) -> Verdict {
        let Some(st) = self.streams.get_mut(stream) else {
            return Verdict::Drop(DropReason::NoDestination);
        };
        let [a, b] = &mut st.legs;
        let (me, peer) = match leg {
            Leg::A => (a, &*b),
            Leg::B => (b, &*a),
        };
        let kind = match channel {
            Channel::Rtp => classify(packet),
            Channel::Rtcp if packet.len() >= 8 && packet[0] >> 6 == 2 => PacketKind::Rtcp,
            Channel::Rtcp => PacketKind::Invalid,
        };
        if kind == PacketKind::Invalid {
            me.counters.errors += 1;
            return Verdict::Drop(DropReason::Malformed);
        }
        let ch = channel.index();
        match me.latched[ch] {
            // Symmetric RTP: the first valid packet teaches us where the peer really is.
            None => {
                me.latched[ch] = Some(src);
                self.events.push_back(MediaEvent::Latched {
                    call_id: self.call_id.clone(),
                    tag: self.tags[leg.index()].clone(),
                    stream,
                    channel,
                    address: src,
                });
            }
            Some(addr) if addr != src => {
                me.counters.dropped_foreign += 1;
                return Verdict::Drop(DropReason::Foreign);
            }
            Some(_) => {}
        }
        me.last_rx = Some(now);
        me.timeout_reported = false;
        let mut media = None;
        match kind {
            PacketKind::Rtp(h) => {
                me.counters.rtp_packets += 1;
                me.counters.rtp_bytes += packet.len() as u64;
                let (codec, clock) = me.cfg.codecs.get(h.payload_type);
                if codec == Codec::TelephoneEvent {
                    me.dtmf
                        .handle_payload(h.timestamp, h.payload(packet), clock);
                    while let Some(d) = me.dtmf.poll_digit() {
                        self.events.push_back(MediaEvent::Dtmf {
                            call_id: self.call_id.clone(),
                            tag: self.tags[leg.index()].clone(),
                            digit: d.digit,
                            duration_ms: d.duration_ms,
                            volume: d.volume,
                        });
                    }
                } else {
                    me.recv
                        .handle_rtp(now, h.sequence, h.timestamp, h.ssrc, clock);
                    me.last_codec = codec;
                }
                if let Some(tap) = &self.recording {
                    tap.packet(leg, now, &h, packet, codec, clock);
                }
                media = Some((h, codec, clock));
            }
            PacketKind::Rtcp => {
                me.counters.rtcp_packets += 1;
                me.counters.rtcp_bytes += packet.len() as u64;
                let clock = 8000;
                if !quality::handle_rtcp(now, packet, &mut me.rtcp, &peer.rtcp, clock) {
                    me.counters.errors += 1;
                }
            }
            PacketKind::Invalid => {}
        }
        if let Mode::Echo { ssrc_mask } = self.mode {
            let Some((h, codec, clock)) = media else {
                return Verdict::Drop(DropReason::Absorbed);
            };
            if me.cfg.mute_towards {
                // The leg's SDP asked to receive nothing (sendonly, inactive, 0.0.0.0).
                me.counters.dropped_no_destination += 1;
                return Verdict::Drop(DropReason::NoDestination);
            }
            // This packet latched the address or matched it, so the echo always goes where
            // the leg really is, never to a private address its SDP may give.
            let dst = me.latched[ch].unwrap_or(src);
            me.counters.forwarded += 1;
            if let Some(tap) = &self.recording {
                // The other channel of the file holds what the caller hears back.
                tap.packet(leg.other(), now, &h, packet, codec, clock);
            }
            return Verdict::Reflect {
                dst,
                ssrc: h.ssrc ^ ssrc_mask,
            };
        }
        if peer.cfg.mute_towards {
            me.counters.dropped_no_destination += 1;
            return Verdict::Drop(DropReason::NoDestination);
        }
        let learned = peer.latched[ch];
        let signalled = match channel {
            Channel::Rtp => peer.cfg.rtp,
            Channel::Rtcp => peer.cfg.rtcp,
        };
        // Until the peer's first packet, send where its SDP said (as rtpengine does).
        match learned.or(signalled) {
            Some(dst) => {
                me.counters.forwarded += 1;
                Verdict::Forward(dst)
            }
            None => {
                me.counters.dropped_no_destination += 1;
                Verdict::Drop(DropReason::NoDestination)
            }
        }
    }

    /// Where `leg`'s RTP of `stream` may be forwarded in the kernel, as (latched source,
    /// destination, the leg's telephone-event payload types): when forwarding it is plain
    /// copying. Not for an echo, a recorded call, a stream on hold or muted towards the
    /// other leg, an unlatched leg, a destination not yet known, IPv6, or more DTMF
    /// payload types than the kernel entry holds. RTCP always stays here (statistics).
    pub fn kernel_path(
        &self,
        stream: usize,
        leg: Leg,
    ) -> Option<(SocketAddrV4, SocketAddrV4, [u8; MAX_DTMF_PTS])> {
        if self.mode != Mode::Relay || self.recording.is_some() {
            return None;
        }
        let st = self.streams.get(stream)?;
        let (me, peer) = (&st.legs[leg.index()], &st.legs[leg.other().index()]);
        if me.cfg.hold || peer.cfg.hold || peer.cfg.mute_towards {
            return None;
        }
        let rtp = Channel::Rtp.index();
        let (SocketAddr::V4(src), SocketAddr::V4(dst)) =
            (me.latched[rtp]?, peer.latched[rtp].or(peer.cfg.rtp)?)
        else {
            return None;
        };
        let dtmf = Route::dtmf_slots(me.cfg.codecs.payload_types(Codec::TelephoneEvent))?;
        Some((src, dst, dtmf))
    }

    /// Credits `leg` with RTP the kernel forwarded for it: counters, and the idle clock
    /// (`last_seen`: when the kernel saw the latest of them).
    pub(crate) fn handle_kernel_counters(
        &mut self,
        stream: usize,
        leg: Leg,
        packets: u64,
        bytes: u64,
        last_seen: Option<Instant>,
    ) {
        let Some(st) = self.streams.get_mut(stream) else {
            return;
        };
        let l = &mut st.legs[leg.index()];
        if packets > 0 {
            l.counters.rtp_packets += packets;
            l.counters.rtp_bytes += bytes;
            l.counters.forwarded += packets;
            l.counters.kernel_packets += packets;
            l.recv.add_unseen(packets);
        }
        if let Some(t) = last_seen
            && l.last_rx.is_none_or(|prev| t > prev)
        {
            l.last_rx = Some(t);
            l.timeout_reported = false;
        }
    }

    /// `leg`'s RTP of `stream` is no longer forwarded in the kernel: the next packet here
    /// starts a new sequence epoch, so what the kernel carried is not counted as lost.
    pub(crate) fn kernel_left(&mut self, stream: usize, leg: Leg) {
        if let Some(st) = self.streams.get_mut(stream) {
            st.legs[leg.index()].recv.resync();
        }
    }

    /// The address `leg` latched onto for `channel` of `stream`, if it has.
    pub fn latched(&self, stream: usize, leg: Leg, channel: Channel) -> Option<SocketAddr> {
        self.streams.get(stream)?.legs[leg.index()].latched[channel.index()]
    }

    /// Checks media timeouts; events are read with [`poll_event`](Self::poll_event).
    pub fn handle_timeout(&mut self, now: Instant) {
        for (i, st) in self.streams.iter_mut().enumerate() {
            let held = st.legs.iter().any(|l| l.cfg.hold);
            let limit = if held {
                self.timeouts.hold
            } else {
                self.timeouts.media
            };
            for (li, l) in st.legs.iter_mut().enumerate() {
                if l.cfg.rtp.is_none() && l.latched[0].is_none() && !l.cfg.hold {
                    // No SDP from this leg yet (offer without answer): nothing to expect.
                    continue;
                }
                let idle = now.saturating_duration_since(l.last_rx.unwrap_or(st.created));
                if idle >= limit && !l.timeout_reported {
                    l.timeout_reported = true;
                    self.events.push_back(MediaEvent::Timeout {
                        call_id: self.call_id.clone(),
                        tag: self.tags[li].clone(),
                        stream: i,
                        idle,
                    });
                }
            }
        }
    }

    /// The next event (latching, DTMF, timeout), oldest first.
    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Statistics of every stream.
    pub fn stats(&self, now: Instant) -> Vec<StreamStats> {
        self.streams
            .iter()
            .map(|st| StreamStats {
                legs: [leg_stats(&st.legs[0], now), leg_stats(&st.legs[1], now)],
            })
            .collect()
    }
}

fn leg_stats(l: &LegState, now: Instant) -> LegStats {
    let c = l.counters;
    let received = l.recv.received();
    let lost = l.recv.lost();
    let local_loss = if received + lost > 0 {
        lost as f64 * 100.0 / (received + lost) as f64
    } else {
        0.0
    };
    let remote_loss = l.rtcp.fraction_lost.map_or(0.0, |f| f * 100.0);
    let loss = local_loss.max(remote_loss);
    let jitter = l.recv.jitter_ms().max(l.rtcp.jitter_ms.unwrap_or(0.0));
    let rtt_ms = l.rtcp.rtt.map(|d| d.as_secs_f64() * 1000.0);
    // One-way delay: half the round trip, plus a jitter buffer of twice the jitter, plus a
    // 20 ms packetisation time.
    let delay = rtt_ms.unwrap_or(0.0) / 2.0 + 2.0 * jitter + 20.0;
    let codec = if l.last_codec == Codec::Opus {
        CodecImpairment::OPUS
    } else {
        CodecImpairment::G711
    };
    LegStats {
        rtp_packets: c.rtp_packets,
        rtp_bytes: c.rtp_bytes,
        kernel_packets: c.kernel_packets,
        rtcp_packets: c.rtcp_packets,
        rtcp_bytes: c.rtcp_bytes,
        forwarded: c.forwarded,
        dropped_foreign: c.dropped_foreign,
        dropped_no_destination: c.dropped_no_destination,
        errors: c.errors,
        lost,
        jitter_ms: l.recv.jitter_ms(),
        remote_fraction_lost: l.rtcp.fraction_lost,
        remote_cumulative_lost: l.rtcp.cumulative_lost,
        remote_jitter_ms: l.rtcp.jitter_ms,
        rtt_ms,
        mos: (received > 0 || l.rtcp.receiver_reports > 0)
            .then(|| quality::mos(delay, loss, codec)),
        signalled_rtp: l.cfg.rtp,
        signalled_rtcp: l.cfg.rtcp,
        latched_rtp: l.latched[0],
        latched_rtcp: l.latched[1],
        idle: l.last_rx.map(|t| now.saturating_duration_since(t)),
        hold: l.cfg.hold,
        ..LegStats::default()
    }
}
