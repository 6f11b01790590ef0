//! Server transactions: INVITE (RFC 3261 §17.2.1 with RFC 6026 §8.5–8.7) and
//! non-INVITE (RFC 3261 §17.2.2).

use super::Config;
use super::client::next_deadline;
use super::error::{Result, TransactionError};
use super::event::Event;
use super::layer::{Next, Out};
use super::matching::ViaKey;
use super::timers::{Armed, Side, Slot, TimerSlots};
use super::types::{Peer, ServerKey, ServerState, Timer, TransactionKey, Transmit};
use crate::message::{Request, Response};
use crate::method::Method;
use crate::uri::Uri;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// What identifies a request without an RFC 3261 branch (RFC 3261 §17.2.3, the RFC 2543
/// rules), and what identifies the ACK for a 2xx to an INVITE (RFC 6026 §7.1: Call-ID,
/// tags and CSeq, since that ACK has a branch of its own).
pub(super) struct RequestIds {
    pub(super) call_id: Bytes,
    pub(super) from_tag: Option<Box<[u8]>>,
    pub(super) to_tag: Option<Box<[u8]>>,
    pub(super) cseq: u32,
    /// The Request-URI, for RFC 2543 matching only.
    pub(super) uri: Option<Uri>,
}

impl RequestIds {
    /// The identifiers of `request`, copied out of its datagram (see [`ViaKey`]); the
    /// Request-URI only when `rfc2543` matching needs it.
    pub(super) fn of(request: &Request, rfc2543: bool) -> Option<RequestIds> {
        let h = &request.headers;
        let uri = if rfc2543 {
            Some(Uri::parse(Bytes::copy_from_slice(request.uri.as_bytes())).ok()?)
        } else {
            None
        };
        Some(RequestIds {
            call_id: Bytes::copy_from_slice(h.call_id().ok()?),
            from_tag: h.from().ok()?.tag().map(Box::from),
            to_tag: h.to().ok()?.tag().map(Box::from),
            cseq: h.cseq().ok()?.seq,
            uri,
        })
    }
}

/// One server transaction.
pub(super) struct ServerTx {
    pub(super) key: ServerKey,
    pub(super) method: Method,
    pub(super) state: ServerState,
    /// The top Via as received (before `received`/`rport`), for matching.
    pub(super) via: ViaKey,
    /// Whether the transaction is matched by branch (else by the RFC 2543 rules).
    pub(super) rfc3261: bool,
    /// Kept for INVITE (2xx ACK matching) and for RFC 2543 matching.
    pub(super) ids: Option<Box<RequestIds>>,
    /// The To tag of the last response sent with one.
    pub(super) to_tag: Option<Box<[u8]>>,
    /// The ACK for the 2xx arrived.
    pub(super) acked: bool,
    /// A CANCEL the layer answers itself; the TU never hears of it.
    pub(super) internal: bool,
    reply_to: Peer,
    last_response: Option<Bytes>,
    interval: Duration,
    pub(super) timers: TimerSlots,
}

impl ServerTx {
    pub(super) fn new(
        key: ServerKey,
        method: Method,
        via: ViaKey,
        rfc3261: bool,
        ids: Option<Box<RequestIds>>,
        reply_to: Peer,
        internal: bool,
    ) -> ServerTx {
        ServerTx {
            key,
            state: if method == Method::Invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            method,
            via,
            rfc3261,
            ids,
            to_tag: None,
            acked: false,
            internal,
            reply_to,
            last_response: None,
            interval: Duration::ZERO,
            timers: TimerSlots::default(),
        }
    }

    pub(super) fn is_invite(&self) -> bool {
        self.method == Method::Invite
    }

    fn send(&self, out: &mut Out, payload: Bytes) {
        out.transmits.push_back(Transmit {
            dest: self.reply_to,
            payload,
            transaction: Some(TransactionKey::Server(self.key)),
        });
    }

    fn arm(&mut self, out: &mut Out, slot: Slot, at: Instant, timer: Timer) {
        out.timers.arm(
            &mut self.timers,
            Side::Server,
            self.key.0.index,
            slot,
            at,
            timer,
        );
    }

    fn reliable(&self) -> bool {
        self.reply_to.is_reliable()
    }

    /// The 100 (Trying) an INVITE server transaction sends at once (§17.2.1).
    pub(super) fn send_trying(&mut self, out: &mut Out, trying: Bytes) {
        self.send(out, trying.clone());
        self.last_response = Some(trying);
    }

    /// The TU hands a response to the transaction.
    pub(super) fn send_response(
        &mut self,
        now: Instant,
        config: &Config,
        out: &mut Out,
        response: &Response,
    ) -> Result<Next> {
        let status = response.status;
        let invalid = TransactionError::InvalidState {
            state: self.state,
            status,
        };
        let next_state = match (self.is_invite(), self.state) {
            (true, ServerState::Proceeding) if status.is_provisional() => ServerState::Proceeding,
            (true, ServerState::Proceeding) if status.is_success() => ServerState::Accepted,
            (true, ServerState::Proceeding) => ServerState::Completed,
            // RFC 6026 §8.5: further 2xx from the TU in Accepted are sent.
            (true, ServerState::Accepted) if status.is_success() => ServerState::Accepted,
            (false, ServerState::Trying | ServerState::Proceeding) if status.is_provisional() => {
                ServerState::Proceeding
            }
            (false, ServerState::Trying | ServerState::Proceeding) => ServerState::Completed,
            _ => return Err(invalid),
        };
        let bytes = response.to_bytes();
        // The To tag serves CANCEL answers and ACK matching, which need it for INVITE
        // and RFC 2543 transactions only; other responses skip parsing To again.
        if self.ids.is_some()
            && let Some(tag) = response.headers.to().ok().and_then(|t| t.tag())
        {
            self.to_tag = Some(Box::from(tag));
        }
        self.send(out, bytes.clone());
        self.last_response = Some(bytes);
        let entering = self.state != next_state;
        self.state = next_state;
        if !entering {
            return Ok(Next::Stay);
        }
        match next_state {
            ServerState::Accepted => {
                // RFC 6026 §8.5: Timer L = 64*T1. The 2xx itself is retransmitted, T1
                // doubling to T2, until the ACK comes (RFC 3261 §13.3.1.4).
                self.interval = config.t1;
                if !self.reliable() {
                    self.arm(out, Slot::Retransmit, now + config.t1, Timer::Retransmit2xx);
                }
                self.arm(out, Slot::Deadline, now + config.t1x64(), Timer::L);
            }
            ServerState::Completed if self.is_invite() => {
                // §17.2.1: Timer G (unreliable only) and Timer H.
                self.interval = config.t1;
                if !self.reliable() {
                    self.arm(out, Slot::Retransmit, now + config.t1, Timer::G);
                }
                self.arm(out, Slot::Deadline, now + config.t1x64(), Timer::H);
            }
            ServerState::Completed => {
                // §17.2.2: Timer J = 64*T1 on unreliable transports, zero on reliable.
                if self.reliable() {
                    self.state = ServerState::Terminated;
                    return Ok(Next::Terminate);
                }
                self.arm(out, Slot::Deadline, now + config.t1x64(), Timer::J);
            }
            _ => {}
        }
        Ok(Next::Stay)
    }

    /// A retransmission of the request arrived (§17.2.1, §17.2.2): answered with the
    /// last response in Proceeding and Completed, absorbed otherwise.
    pub(super) fn on_retransmission(&mut self, out: &mut Out) {
        out.stats.retransmissions_absorbed += 1;
        if matches!(self.state, ServerState::Proceeding | ServerState::Completed)
            && let Some(last) = &self.last_response
        {
            self.send(out, last.clone());
            out.stats.retransmissions_sent += 1;
        }
    }

    /// An ACK matched this INVITE transaction by the rules of §17.2.3. Returns whether
    /// it goes to the TU (RFC 6026 §7.1: ACKs in Accepted do).
    pub(super) fn on_ack(&mut self, now: Instant, config: &Config, out: &mut Out) -> (Next, bool) {
        match self.state {
            ServerState::Completed => {
                // §17.2.1: Confirmed; Timer I = T4 (zero on reliable transports).
                out.timers.cancel_all(&mut self.timers);
                self.state = ServerState::Confirmed;
                if self.reliable() {
                    self.state = ServerState::Terminated;
                    return (Next::Terminate, false);
                }
                self.arm(out, Slot::Deadline, now + config.t4, Timer::I);
                (Next::Stay, false)
            }
            ServerState::Accepted => {
                self.on_2xx_ack(out);
                (Next::Stay, true)
            }
            _ => {
                out.stats.retransmissions_absorbed += 1;
                (Next::Stay, false)
            }
        }
    }

    /// The ACK for the 2xx arrived: stop retransmitting it.
    pub(super) fn on_2xx_ack(&mut self, out: &mut Out) {
        self.acked = true;
        out.timers.cancel(&mut self.timers, Slot::Retransmit);
    }

    /// A timer of this transaction fired.
    pub(super) fn on_timer(
        &mut self,
        armed: Armed,
        now: Instant,
        config: &Config,
        out: &mut Out,
    ) -> Next {
        match armed.timer {
            Timer::G if self.state == ServerState::Completed => {
                // §17.2.1: resend the final response, interval MIN(2*T, T2).
                self.resend(out);
                self.interval = (self.interval * 2).min(config.t2);
                let at = next_deadline(armed.at, self.interval, now);
                self.arm(out, Slot::Retransmit, at, Timer::G);
                Next::Stay
            }
            Timer::Retransmit2xx if self.state == ServerState::Accepted && !self.acked => {
                self.resend(out);
                self.interval = (self.interval * 2).min(config.t2);
                let at = next_deadline(armed.at, self.interval, now);
                // Past 64*T1 Timer L takes over (RFC 3261 §13.3.1.4).
                if self.timers.get(Slot::Deadline).is_some_and(|l| at < l.at) {
                    self.arm(out, Slot::Retransmit, at, Timer::Retransmit2xx);
                }
                Next::Stay
            }
            Timer::H => {
                // §17.2.1: no ACK for the non-2xx final response; tell the TU.
                out.stats.timeouts += 1;
                self.timeout(out, Timer::H)
            }
            Timer::L if !self.acked => {
                // §13.3.1.4: the 2xx was never acknowledged; the TU should send BYE.
                out.stats.timeouts += 1;
                self.timeout(out, Timer::L)
            }
            Timer::I | Timer::J | Timer::L => {
                self.state = ServerState::Terminated;
                Next::Terminate
            }
            _ => Next::Stay,
        }
    }

    fn timeout(&mut self, out: &mut Out, timer: Timer) -> Next {
        self.state = ServerState::Terminated;
        if !self.internal {
            out.events.push_back(Event::Timeout {
                key: TransactionKey::Server(self.key),
                timer,
            });
        }
        Next::Terminate
    }

    fn resend(&self, out: &mut Out) {
        if let Some(last) = &self.last_response {
            out.stats.retransmissions_sent += 1;
            self.send(out, last.clone());
        }
    }
}
