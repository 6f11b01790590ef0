//! An in-memory [`MediaControl`] for other crates' tests (feature `testing`): it keeps
//! sessions and tags exactly like the engine and rewrites SDP the same way (echo answers
//! included), but opens no socket and moves no packet. Every call is logged for
//! assertions.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use sip_core::sdp::SessionDescription;

use crate::control::{MediaControl, RecordingReport, SdpOptions, SessionStats, StreamStats};
use crate::error::MediaError;
use crate::offer_answer::echo::{EchoOrigin, acceptable, answer};
use crate::offer_answer::{describe, rewrite};

/// One call made on the fake, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeCall {
    /// `offer(call_id, from_tag)`.
    Offer(String, String),
    /// `answer(call_id, from_tag, to_tag)`.
    Answer(String, String, String),
    /// `echo(call_id, tag)`.
    Echo(String, String),
    /// `delete(call_id)`.
    Delete(String),
    /// `start_recording(call_id)`.
    StartRecording(String),
    /// `stop_recording(call_id)`.
    StopRecording(String),
}

#[derive(Debug)]
struct FakeSession {
    tags: [Option<String>; 2],
    /// Fake relay ports per stream: [leg A, leg B].
    ports: Vec<[u16; 2]>,
    created: SystemTime,
    recording: bool,
    /// Set for an echo session (leg B has no port: 0).
    echo: Option<EchoOrigin>,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<String, FakeSession>,
    log: Vec<FakeCall>,
    next_port: u16,
    fail_next: Option<String>,
}

/// The fake. Relay ports start at 40000 and count up by two; the relay address is
/// `192.0.2.1` unless set with [`FakeMedia::with_ip`].
#[derive(Debug)]
pub struct FakeMedia {
    ip: IpAddr,
    state: Mutex<State>,
}

impl Default for FakeMedia {
    fn default() -> Self {
        Self::with_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
    }
}

impl FakeMedia {
    /// A fake that writes `ip` into SDP.
    pub fn with_ip(ip: IpAddr) -> Self {
        Self {
            ip,
            state: Mutex::new(State {
                next_port: 40000,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.state().log.clone()
    }

    /// Makes the next offer or answer fail with `NotAcceptable` (to test 488 paths).
    pub fn fail_next(&self, reason: &str) {
        self.state().fail_next = Some(reason.to_owned());
    }

    /// Whether a session is being recorded.
    pub fn is_recording(&self, call_id: &str) -> bool {
        self.state()
            .sessions
            .get(call_id)
            .is_some_and(|s| s.recording)
    }

    fn apply(
        &self,
        call_id: &str,
        author: usize,
        sdp: &[u8],
        opts: &SdpOptions,
        answer: bool,
        tags: (&str, &str),
    ) -> Result<Bytes, MediaError> {
        let mut parsed = SessionDescription::parse(sdp)?;
        let mut st = self.state();
        if st.fail_next.take().is_some() {
            return Err(MediaError::NotAcceptable("failure injected by FakeMedia"));
        }
        let descs = describe(&parsed, opts.address_override());
        let mut next = st.next_port;
        let s = st
            .sessions
            .entry(call_id.to_owned())
            .or_insert_with(|| FakeSession {
                tags: [None, None],
                ports: Vec::new(),
                created: SystemTime::now(),
                recording: false,
                echo: None,
            });
        if s.echo.is_some() {
            return Err(MediaError::WrongSessionKind {
                call_id: call_id.to_owned(),
                existing: "echo",
            });
        }
        if answer && descs.len() > s.ports.len() {
            return Err(MediaError::NotAcceptable(
                "answer has more m= lines than the offer",
            ));
        }
        while s.ports.len() < descs.len() {
            s.ports.push([next, next.wrapping_add(2)]);
            next = next.wrapping_add(4);
        }
        if author == 0 && s.tags[0].is_none() {
            s.tags[0] = Some(tags.0.to_owned());
        }
        if answer && s.tags[1].is_none() {
            s.tags[1] = Some(tags.1.to_owned());
        }
        let ports: Vec<Option<u16>> = s.ports.iter().map(|p| Some(p[1 - author])).collect();
        st.next_port = next;
        Ok(rewrite(&mut parsed, &descs, &ports, self.ip, opts))
    }

    /// What [`MediaEngine::echo`](crate::MediaEngine::echo) does, without sockets: the
    /// same answer SDP and errors, a session whose leg A is `tag` and whose leg B stays
    /// empty (port 0), re-offers updating it in place; ended with `delete`.
    pub fn echo(
        &self,
        call_id: &str,
        tag: &str,
        offer: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError> {
        let parsed = SessionDescription::parse(offer)?;
        let mut st = self.state();
        st.log.push(FakeCall::Echo(call_id.into(), tag.into()));
        if st.fail_next.take().is_some() {
            return Err(MediaError::NotAcceptable("failure injected by FakeMedia"));
        }
        let accepted: Vec<bool> = parsed.media().iter().map(acceptable).collect();
        match st.sessions.get(call_id) {
            Some(s) if s.echo.is_none() => {
                return Err(MediaError::WrongSessionKind {
                    call_id: call_id.into(),
                    existing: "relayed",
                });
            }
            Some(s) if s.tags[0].as_deref() != Some(tag) => {
                return Err(MediaError::UnknownTag {
                    call_id: call_id.into(),
                    tag: tag.into(),
                });
            }
            _ if !accepted.contains(&true) => {
                return Err(MediaError::NotAcceptable("no plain RTP stream to echo"));
            }
            _ => {}
        }
        let mut next = st.next_port;
        let s = st
            .sessions
            .entry(call_id.to_owned())
            .or_insert_with(|| FakeSession {
                tags: [Some(tag.to_owned()), None],
                ports: Vec::new(),
                created: SystemTime::now(),
                recording: false,
                echo: Some(EchoOrigin::new(u64::from(next))),
            });
        while s.ports.len() < accepted.len() {
            s.ports.push([next, 0]);
            next = next.wrapping_add(2);
        }
        let ports: Vec<Option<u16>> = s
            .ports
            .iter()
            .zip(&accepted)
            .map(|(p, &ok)| ok.then_some(p[0]))
            .collect();
        if opts.record {
            s.recording = true;
        }
        let Some(origin) = s.echo.as_mut() else {
            return Err(MediaError::UnknownSession(call_id.into()));
        };
        let out = answer(&parsed, &ports, self.ip, origin);
        st.next_port = next;
        Ok(out)
    }
}

impl MediaControl for FakeMedia {
    fn offer(
        &self,
        call_id: &str,
        from_tag: &str,
        sdp: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError> {
        self.state()
            .log
            .push(FakeCall::Offer(call_id.into(), from_tag.into()));
        let author = match self.state().sessions.get(call_id) {
            Some(s) if s.tags[1].as_deref() == Some(from_tag) => 1,
            Some(s) if s.tags[0].as_deref().is_some_and(|a| a != from_tag) => {
                return Err(MediaError::UnknownTag {
                    call_id: call_id.into(),
                    tag: from_tag.into(),
                });
            }
            _ => 0,
        };
        self.apply(call_id, author, sdp, opts, false, (from_tag, ""))
    }

    fn answer(
        &self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        sdp: &[u8],
        opts: &SdpOptions,
    ) -> Result<Bytes, MediaError> {
        self.state().log.push(FakeCall::Answer(
            call_id.into(),
            from_tag.into(),
            to_tag.into(),
        ));
        let author = match self.state().sessions.get(call_id) {
            None => return Err(MediaError::UnknownSession(call_id.into())),
            Some(s) if s.tags[0].as_deref() == Some(to_tag) => 0,
            Some(_) => 1,
        };
        self.apply(call_id, author, sdp, opts, true, (from_tag, to_tag))
    }

    fn delete(&self, call_id: &str) -> Result<SessionStats, MediaError> {
        let mut st = self.state();
        st.log.push(FakeCall::Delete(call_id.into()));
        let s = st
            .sessions
            .remove(call_id)
            .ok_or_else(|| MediaError::UnknownSession(call_id.into()))?;
        Ok(fake_stats(call_id, &s))
    }

    fn stats(&self, call_id: &str) -> Result<SessionStats, MediaError> {
        let st = self.state();
        let s = st
            .sessions
            .get(call_id)
            .ok_or_else(|| MediaError::UnknownSession(call_id.into()))?;
        Ok(fake_stats(call_id, s))
    }

    fn list(&self) -> Vec<String> {
        let mut v: Vec<String> = self.state().sessions.keys().cloned().collect();
        v.sort();
        v
    }

    fn start_recording(&self, call_id: &str) -> Result<PathBuf, MediaError> {
        let mut st = self.state();
        st.log.push(FakeCall::StartRecording(call_id.into()));
        let s = st
            .sessions
            .get_mut(call_id)
            .ok_or_else(|| MediaError::UnknownSession(call_id.into()))?;
        s.recording = true;
        Ok(PathBuf::from(format!("{call_id}.wav")))
    }

    fn stop_recording(&self, call_id: &str) -> Result<RecordingReport, MediaError> {
        let mut st = self.state();
        st.log.push(FakeCall::StopRecording(call_id.into()));
        let s = st
            .sessions
            .get_mut(call_id)
            .ok_or_else(|| MediaError::UnknownSession(call_id.into()))?;
        if !std::mem::replace(&mut s.recording, false) {
            return Err(MediaError::Recording(format!(
                "call {call_id:?} is not being recorded"
            )));
        }
        Ok(RecordingReport {
            path: PathBuf::from(format!("{call_id}.wav")),
            ..RecordingReport::default()
        })
    }
}

fn fake_stats(call_id: &str, s: &FakeSession) -> SessionStats {
    let mut streams = vec![StreamStats::default(); s.ports.len()];
    for (st, p) in streams.iter_mut().zip(&s.ports) {
        st.legs[0].local_rtp_port = p[0];
        st.legs[1].local_rtp_port = p[1];
    }
    SessionStats {
        call_id: call_id.to_owned(),
        created: s.created,
        last_signal: s.created,
        tags: [0, 1].map(|i| s.tags[i].clone().unwrap_or_default()),
        streams,
        recording: s.recording.then(|| PathBuf::from(format!("{call_id}.wav"))),
        recording_report: None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OFFER: &[u8] = b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
        m=audio 4000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

    #[test]
    fn echo_answers_like_the_engine_and_keeps_one_leg() {
        let m = FakeMedia::default();
        let o = SdpOptions::default();
        let out = m.echo("e1", "phone", OFFER, &o).unwrap();
        let sdp = SessionDescription::parse(&out).unwrap();
        assert_eq!(sdp.media()[0].port(), 40000);
        assert!(sdp.media()[0].telephone_event().is_some());
        let again = m.echo("e1", "phone", OFFER, &o).unwrap();
        assert_eq!(again, out, "a re-offer keeps port and version");
        let st = m.stats("e1").unwrap();
        assert_eq!(st.tags, ["phone".to_owned(), String::new()]);
        assert_eq!(
            (
                st.streams[0].legs[0].local_rtp_port,
                st.streams[0].legs[1].local_rtp_port
            ),
            (40000, 0)
        );
        assert!(matches!(
            m.echo("e1", "other", OFFER, &o),
            Err(MediaError::UnknownTag { .. })
        ));
        assert!(matches!(
            m.offer("e1", "phone", OFFER, &o),
            Err(MediaError::WrongSessionKind {
                existing: "echo",
                ..
            })
        ));
        m.offer("r1", "a", OFFER, &o).unwrap();
        assert!(matches!(
            m.echo("r1", "a", OFFER, &o),
            Err(MediaError::WrongSessionKind {
                existing: "relayed",
                ..
            })
        ));
        let srtp = std::str::from_utf8(OFFER)
            .unwrap()
            .replace("RTP/AVP", "RTP/SAVP");
        assert!(matches!(
            m.echo("e2", "phone", srtp.as_bytes(), &o),
            Err(MediaError::NotAcceptable(_))
        ));
        m.fail_next("test");
        assert!(m.echo("e3", "phone", OFFER, &o).is_err());
        assert_eq!(m.list(), ["e1".to_owned(), "r1".to_owned()]);
        m.delete("e1").unwrap();
        assert_eq!(
            m.calls()[..2],
            [
                FakeCall::Echo("e1".into(), "phone".into()),
                FakeCall::Echo("e1".into(), "phone".into())
            ]
        );
    }
}
