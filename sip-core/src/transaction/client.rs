//! Client transactions: INVITE (RFC 3261 §17.1.1 with RFC 6026 §8.4) and non-INVITE
//! (RFC 3261 §17.1.2).

use super::Config;
use super::build::ack_for_non_2xx;
use super::event::Event;
use super::layer::{Next, Out};
use super::timers::{Armed, Side, Slot, TimerSlots};
use super::types::{ClientKey, ClientState, Peer, Timer, TransactionKey, Transmit};
use crate::header::Via;
use crate::message::{Request, Response};
use crate::method::Method;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// One client transaction.
pub(super) struct ClientTx {
    pub(super) key: ClientKey,
    pub(super) method: Method,
    pub(super) state: ClientState,
    /// Our top Via: its branch and sent-by identify responses (§17.1.3).
    pub(super) via: Via,
    pub(super) dest: Peer,
    request_bytes: Bytes,
    /// The INVITE, kept to build the ACK for a non-2xx final response.
    invite: Option<Request>,
    ack_bytes: Option<Bytes>,
    interval: Duration,
    pub(super) timers: TimerSlots,
}

impl ClientTx {
    pub(super) fn new(
        key: ClientKey,
        request: Request,
        request_bytes: Bytes,
        via: Via,
        dest: Peer,
        config: &Config,
    ) -> ClientTx {
        let method = request.method.clone();
        let invite = method == Method::Invite;
        ClientTx {
            key,
            state: if invite {
                ClientState::Calling
            } else {
                ClientState::Trying
            },
            method,
            via,
            dest,
            request_bytes,
            invite: invite.then_some(request),
            ack_bytes: None,
            interval: config.t1,
            timers: TimerSlots::default(),
        }
    }

    fn is_invite(&self) -> bool {
        self.invite.is_some()
    }

    fn transaction(&self) -> Option<TransactionKey> {
        Some(TransactionKey::Client(self.key))
    }

    fn send(&self, out: &mut Out, payload: Bytes) {
        out.transmits.push_back(Transmit {
            dest: self.dest,
            payload,
            transaction: self.transaction(),
        });
    }

    fn arm(&mut self, out: &mut Out, slot: Slot, at: Instant, timer: Timer) {
        out.timers.arm(
            &mut self.timers,
            Side::Client,
            self.key.0.index,
            slot,
            at,
            timer,
        );
    }

    /// Send the request and start Timers A and B (INVITE, §17.1.1.2) or E and F
    /// (non-INVITE, §17.1.2.2). Retransmission timers run on unreliable transports only.
    pub(super) fn start(&mut self, now: Instant, config: &Config, out: &mut Out) {
        self.send(out, self.request_bytes.clone());
        let (retransmit, timeout) = if self.is_invite() {
            (Timer::A, Timer::B)
        } else {
            (Timer::E, Timer::F)
        };
        if !self.dest.is_reliable() {
            self.arm(out, Slot::Retransmit, now + config.t1, retransmit);
        }
        self.arm(out, Slot::Deadline, now + config.t1x64(), timeout);
    }

    /// A CANCEL for this INVITE was sent: RFC 3261 §9.1 lets the INVITE wait 64*T1 more
    /// for its final response, then destroys it. A Timer B already running in Calling
    /// fires no later than that and is kept.
    pub(super) fn on_cancel_sent(&mut self, now: Instant, config: &Config, out: &mut Out) {
        if self.is_invite()
            && self.state == ClientState::Proceeding
            && self.timers.get(Slot::Deadline).is_none()
        {
            self.arm(out, Slot::Deadline, now + config.t1x64(), Timer::B);
        }
    }

    /// A response matched this transaction (§17.1.3).
    pub(super) fn on_response(
        &mut self,
        now: Instant,
        config: &Config,
        out: &mut Out,
        response: Response,
        source: Peer,
    ) -> Next {
        if self.is_invite() {
            self.invite_response(now, config, out, response, source)
        } else {
            self.non_invite_response(now, config, out, response, source)
        }
    }

    fn deliver(&self, out: &mut Out, response: Response, source: Peer) {
        out.events.push_back(Event::Response {
            key: self.key,
            response,
            source,
        });
    }

    fn invite_response(
        &mut self,
        now: Instant,
        config: &Config,
        out: &mut Out,
        response: Response,
        source: Peer,
    ) -> Next {
        let status = response.status;
        match self.state {
            ClientState::Calling | ClientState::Proceeding => {
                // RFC 3261 §17.1.1.2: no retransmission once a response arrived; Timer B
                // bounds only the Calling state (Figure 5).
                out.timers.cancel(&mut self.timers, Slot::Retransmit);
                if status.is_provisional() {
                    if self.state == ClientState::Calling {
                        out.timers.cancel(&mut self.timers, Slot::Deadline);
                    }
                    self.state = ClientState::Proceeding;
                    self.deliver(out, response, source);
                    return Next::Stay;
                }
                out.timers.cancel(&mut self.timers, Slot::Deadline);
                if status.is_success() {
                    // RFC 6026 §8.4: Accepted, Timer M = 64*T1; the TU sends the ACK.
                    self.state = ClientState::Accepted;
                    self.arm(out, Slot::Deadline, now + config.t1x64(), Timer::M);
                    self.deliver(out, response, source);
                    return Next::Stay;
                }
                // RFC 3261 §17.1.1.2: 300-699 → ACK, Completed, Timer D.
                self.state = ClientState::Completed;
                if let Some(invite) = &self.invite
                    && let Ok(ack) = ack_for_non_2xx(invite, &response)
                {
                    let bytes = ack.to_bytes();
                    self.send(out, bytes.clone());
                    self.ack_bytes = Some(bytes);
                }
                self.deliver(out, response, source);
                if self.dest.is_reliable() {
                    return Next::Terminate;
                }
                self.arm(out, Slot::Deadline, now + config.timer_d, Timer::D);
                Next::Stay
            }
            ClientState::Completed if status.is_final() && !status.is_success() => {
                // §17.1.1.2: a retransmitted final response gets the ACK again and is
                // not passed up.
                if let Some(ack) = &self.ack_bytes {
                    self.send(out, ack.clone());
                }
                out.stats.retransmissions_absorbed += 1;
                Next::Stay
            }
            ClientState::Accepted if status.is_success() => {
                // RFC 6026 §8.4: every 2xx in Accepted goes to the TU (retransmissions
                // and forks alike).
                self.deliver(out, response, source);
                Next::Stay
            }
            _ => {
                out.stats.retransmissions_absorbed += 1;
                Next::Stay
            }
        }
    }

    fn non_invite_response(
        &mut self,
        now: Instant,
        config: &Config,
        out: &mut Out,
        response: Response,
        source: Peer,
    ) -> Next {
        match self.state {
            ClientState::Trying | ClientState::Proceeding => {
                if response.status.is_provisional() {
                    // §17.1.2.2: Timer E keeps running; it is capped at T2 from here.
                    self.state = ClientState::Proceeding;
                    self.deliver(out, response, source);
                    return Next::Stay;
                }
                out.timers.cancel_all(&mut self.timers);
                self.state = ClientState::Completed;
                self.deliver(out, response, source);
                if self.dest.is_reliable() {
                    // Timer K is zero on reliable transports.
                    return Next::Terminate;
                }
                self.arm(out, Slot::Deadline, now + config.t4, Timer::K);
                Next::Stay
            }
            _ => {
                // Completed: response retransmissions are absorbed.
                out.stats.retransmissions_absorbed += 1;
                Next::Stay
            }
        }
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
            Timer::A if self.state == ClientState::Calling => {
                // §17.1.1.2: retransmit, and double the interval (no T2 cap for INVITE).
                self.retransmit(out);
                self.interval = self.interval.saturating_mul(2);
                let at = next_deadline(armed.at, self.interval, now);
                self.arm(out, Slot::Retransmit, at, Timer::A);
                Next::Stay
            }
            Timer::E if matches!(self.state, ClientState::Trying | ClientState::Proceeding) => {
                // §17.1.2.2: MIN(2*E, T2) in Trying, T2 in Proceeding.
                self.retransmit(out);
                self.interval = if self.state == ClientState::Trying {
                    (self.interval * 2).min(config.t2)
                } else {
                    config.t2
                };
                let at = next_deadline(armed.at, self.interval, now);
                self.arm(out, Slot::Retransmit, at, Timer::E);
                Next::Stay
            }
            Timer::B | Timer::F => {
                self.state = ClientState::Terminated;
                out.stats.timeouts += 1;
                out.events.push_back(Event::Timeout {
                    key: TransactionKey::Client(self.key),
                    timer: armed.timer,
                });
                Next::Terminate
            }
            Timer::D | Timer::K | Timer::M => {
                self.state = ClientState::Terminated;
                Next::Terminate
            }
            _ => Next::Stay,
        }
    }

    fn retransmit(&self, out: &mut Out) {
        out.stats.retransmissions_sent += 1;
        self.send(out, self.request_bytes.clone());
    }
}

/// The next retransmission, counted from when the timer was due so that a late wake-up
/// does not shift the schedule, but never in the past.
pub(super) fn next_deadline(due: Instant, interval: Duration, now: Instant) -> Instant {
    let at = due + interval;
    if at > now { at } else { now + interval }
}
