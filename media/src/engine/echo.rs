//! The echo service (number 9001): a session of one leg whose media the relay returns.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use sip_core::sdp::{Direction, SessionDescription};

use super::{MediaEngine, SessionCtl, StreamCtl};
use crate::control::{Leg, SdpOptions};
use crate::error::MediaError;
use crate::offer_answer::describe;
use crate::offer_answer::echo::{EchoOrigin, acceptable, answer, answer_direction};
use crate::relay::session::{RelaySession, Timeouts};
use crate::relay::worker::Command;

impl MediaEngine {
    /// Answers `offer`, written by the leg `tag` of call `call_id`, on behalf of the echo
    /// service: the returned SDP points the leg at the relay, which from then on sends
    /// every RTP packet of the leg back to it. A later offer under the same call id and
    /// tag (a re-INVITE) updates the session in place, on the same ports;
    /// [`MediaControl::delete`](crate::MediaControl::delete) ends it and returns its
    /// [`SessionStats`](crate::SessionStats), with the leg as leg A (leg B stays empty).
    ///
    /// - The answer lists every offered payload type of each plain RTP stream
    ///   (`RTP/AVP`, `RTP/AVPF`; telephone-event included) at the relay's address; other
    ///   streams (SRTP, T.38, port counts) are rejected with port 0, and an offer with no
    ///   RTP stream at all is [`MediaError::NotAcceptable`] (a 488). Its direction is
    ///   RFC 3264 §6.1's: sendrecv for sendrecv, recvonly for sendonly or a `c=0.0.0.0`
    ///   hold, inactive for recvonly or inactive; nothing is echoed unless it is sendrecv.
    /// - The relay latches onto the source of the leg's first packet and echoes there;
    ///   packets from any other address afterwards are dropped and counted
    ///   (`dropped_foreign`). Media timeout, DTMF and latching events, and statistics are
    ///   the relay's.
    /// - Echoed RTP keeps its sequence numbers, timestamps and payload but carries an SSRC
    ///   of the relay's (the leg's SSRC XOR a per-session mask): RFC 3550 §8.2 tells an
    ///   endpoint that receives its own SSRC to treat it as a collision or a loop. RTCP
    ///   from the leg is read for statistics and not returned; the echo sends none.
    /// - Recording (by `opts.record` or configuration) writes the leg's audio to the left
    ///   channel and the echoed audio, as sent back, to the right; while the leg holds
    ///   (nothing is echoed) the right channel is silent.
    ///
    /// Errors: [`MediaError::Sdp`] for an unparsable offer, [`MediaError::UnknownTag`] for
    /// another tag under an echo session's call id, [`MediaError::WrongSessionKind`] when
    /// the call id is a relayed call, [`MediaError::PortsExhausted`] when no port is free.
    pub fn echo(
        &self,
        call_id: &str,
        tag: &str,
        offer: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError> {
        let parsed = SessionDescription::parse(offer)?;
        let mut sessions = self.sessions();
        let created = !sessions.contains_key(call_id);
        if created {
            let mut s = self.new_session()?;
            let random = RandomState::new();
            // Distinct per session, so two echo calls never share an outgoing SSRC pattern.
            let mask = random.hash_one((s.key, 0u8)) as u32;
            s.echo = Some(EchoOrigin::new(random.hash_one((s.key, 1u8))));
            s.tags[0] = Some(Arc::from(tag));
            let relay = RelaySession::echo(
                Arc::from(call_id),
                Timeouts {
                    media: self.inner.config.media_timeout,
                    hold: self.inner.config.hold_timeout,
                },
                mask,
            );
            self.worker(&s)?.send(Command::AddSession {
                key: s.key,
                session: Box::new(relay),
                in_kernel: s.in_kernel.clone(),
            })?;
            sessions.insert(call_id.to_owned(), s);
        }
        let Some(s) = sessions.get_mut(call_id) else {
            return Err(MediaError::UnknownSession(call_id.to_owned()));
        };
        if s.echo.is_none() {
            return Err(MediaError::WrongSessionKind {
                call_id: call_id.to_owned(),
                existing: "relayed",
            });
        }
        if s.tags[0].as_deref() != Some(tag) {
            return Err(MediaError::UnknownTag {
                call_id: call_id.to_owned(),
                tag: tag.to_owned(),
            });
        }
        let result = self.apply_echo_offer(call_id, s, &parsed, opts);
        if result.is_err() && created {
            self.discard_new_session(sessions, call_id);
        }
        result
    }

    /// Applies the leg's offer to an echo session and writes the answer.
    fn apply_echo_offer(
        &self,
        call_id: &str,
        s: &mut SessionCtl,
        offer: &SessionDescription,
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError> {
        let descs = describe(offer, opts.address_override());
        let accepted: Vec<bool> = offer.media().iter().map(acceptable).collect();
        if !accepted.contains(&true) {
            return Err(MediaError::NotAcceptable("no plain RTP stream to echo"));
        }
        let mut ports = Vec::with_capacity(descs.len());
        for (i, (d, &ok)) in descs.into_iter().zip(&accepted).enumerate() {
            if s.streams.len() <= i {
                s.streams.push(StreamCtl {
                    ports: [None, None],
                    signalled: [None, None],
                });
            }
            if ok && s.streams[i].ports[0].is_none() {
                let (port, rtp, rtcp) = self.bind_pair()?;
                // Recorded first: if the worker is gone, teardown still frees the pair.
                s.streams[i].ports[0] = Some(port);
                self.worker(s)?.send(Command::AddSockets {
                    key: s.key,
                    stream: i,
                    leg: Leg::A,
                    rtp,
                    rtcp,
                })?;
            }
            let direction = answer_direction(offer, i);
            let mut cfg = d.cfg;
            // The echo sends only what the answer promises (RFC 3264 §6.1).
            cfg.mute_towards = !ok || !direction.sends();
            // Anything short of sendrecv is a hold: the hold timeout applies.
            cfg.hold = direction != Direction::SendRecv;
            self.signal_leg(s, i, Leg::A, cfg)?;
            ports.push(if ok { s.streams[i].ports[0] } else { None });
        }
        s.last_signal = SystemTime::now();
        let Some(origin) = s.echo.as_mut() else {
            return Err(MediaError::WrongSessionKind {
                call_id: call_id.to_owned(),
                existing: "relayed",
            });
        };
        let out = answer(offer, &ports, self.inner.advertised, origin);
        if (opts.record || self.inner.config.record_calls) && s.recording.is_none() {
            self.start_recording_locked(call_id, s)?;
        }
        Ok(out)
    }
}
