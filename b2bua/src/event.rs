//! What the B2BUA reports about calls: [`CallEvent`]s for the control API and the CDR
//! writer.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use media::SessionStats;

/// Our id of a call, covering both legs: 128 random bits printed as a UUID (version 4
/// form), so that ids from several nodes never collide.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(u128);

impl CallId {
    /// A call id from random bits (the version and variant bits are set as in a UUID v4).
    pub fn from_random(bits: u128) -> CallId {
        let v = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
        CallId(v)
    }

    /// The id as a number.
    pub fn as_u128(self) -> u128 {
        self.0
    }

    /// Parse the UUID text form (hyphens optional, any case).
    pub fn parse(s: &str) -> Option<CallId> {
        let hex: String = s.chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 {
            return None;
        }
        u128::from_str_radix(&hex, 16).ok().map(CallId)
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )
    }
}

impl fmt::Debug for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CallId({self})")
    }
}

/// Which way a call goes, by the numbering plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallDirection {
    /// A slot called another slot.
    Internal,
    /// A slot called a number outside the slot ranges, through a trunk.
    Outbound,
    /// A carrier called a DID that rings a slot.
    Inbound,
    /// A slot called a service number (9001 echo).
    Service,
    /// Click-to-call or the autodialer: we called the slot, then the number.
    Originate,
}

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HangupSide {
    /// The calling party: BYE or CANCEL from it (for originate, the slot).
    Caller,
    /// The called party: BYE from it, or it refused the call.
    Callee,
    /// We did: a failure, a timer (ring, max duration, session, media), or a hangup
    /// through the API.
    System,
}

/// The outcome of a call, as CDRs classify it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disposition {
    /// The callee answered.
    Answered,
    /// Nobody answered before a timeout (or 480/408).
    NoAnswer,
    /// The callee was busy (486, 600).
    Busy,
    /// The call failed for any other reason.
    Failed,
    /// The caller gave up before an answer.
    Cancelled,
}

impl Disposition {
    /// The Asterisk CDR spelling (`ANSWERED`, `NO ANSWER`, `BUSY`, `FAILED`,
    /// `CANCELLED`).
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "ANSWERED",
            Disposition::NoAnswer => "NO ANSWER",
            Disposition::Busy => "BUSY",
            Disposition::Failed => "FAILED",
            Disposition::Cancelled => "CANCELLED",
        }
    }
}

/// A call's recording, as far as the B2BUA knows it at the end of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The file.
    pub path: PathBuf,
    /// Whether the file is complete: no packet that could not be placed (the media
    /// engine's `gaps` is 0) and the recording was stopped cleanly.
    pub complete: bool,
    /// Packets that could not be placed in the file.
    pub gaps: u64,
}

/// Names the wait for a CDR to be journaled: hand it back to
/// [`crate::B2bua::handle_call_persisted`] once the record is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompletionToken(pub(crate) u64);

/// A call came in or was originated and is being routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallCreated {
    /// The call.
    pub call: CallId,
    /// Which way it goes.
    pub direction: CallDirection,
    /// The calling number (slot extension, carrier caller id, or originate caller id).
    pub src: String,
    /// The called number.
    pub dst: String,
    /// The slot taking part, if any.
    pub slot: Option<String>,
    /// Campaign id given to originate.
    pub campaign_id: Option<String>,
    /// Lead id given to originate.
    pub lead_id: Option<String>,
    /// When.
    pub at: SystemTime,
}

/// Everything a CDR needs about a finished call.
#[derive(Debug, Clone)]
pub struct CallEnded {
    /// The call.
    pub call: CallId,
    /// Which way it went.
    pub direction: CallDirection,
    /// SIP Call-ID of the caller's leg (for originate, the leg to the slot).
    pub a_call_id: Option<String>,
    /// SIP Call-ID of the callee's leg, if one was started.
    pub b_call_id: Option<String>,
    /// Calling number.
    pub src: String,
    /// Called number.
    pub dst: String,
    /// The slot taking part, if any.
    pub slot: Option<String>,
    /// The trunk of the leg that answered (or was tried last), if any.
    pub trunk: Option<String>,
    /// When the call started.
    pub start: SystemTime,
    /// When it was answered.
    pub answer: Option<SystemTime>,
    /// When it ended.
    pub end: SystemTime,
    /// The final status of the call: 200 when answered, else the code the caller got
    /// (or, for originate, the failing leg's code).
    pub sip_code: u16,
    /// Why it ended, in words (`"caller hung up"`, `"Busy Here"`, `"media timeout"`).
    pub reason: String,
    /// Who ended it.
    pub hangup: HangupSide,
    /// The CDR disposition.
    pub disposition: Disposition,
    /// The audio codec agreed (encoding name of the first audio format of the answer).
    pub codec: Option<String>,
    /// Media statistics from the media engine at the end (per leg loss, jitter, MOS):
    /// in every stream `legs[0]` is the caller's side (for originate, the slot) and
    /// `legs[1]` the callee's.
    pub media: Option<SessionStats>,
    /// The recording, if the call was recorded.
    pub recording: Option<Recording>,
    /// Campaign id given to originate.
    pub campaign_id: Option<String>,
    /// Lead id given to originate.
    pub lead_id: Option<String>,
    /// Hand back to [`crate::B2bua::handle_call_persisted`] once the CDR is journaled;
    /// until then (or [`crate::B2bua::persist_timeout`]) the 200 to the BYE that ended
    /// the call is held back.
    pub token: CompletionToken,
}

impl CallEnded {
    /// From start to end.
    pub fn duration(&self) -> Duration {
        self.end.duration_since(self.start).unwrap_or_default()
    }

    /// From answer to end (zero when unanswered).
    pub fn billsec(&self) -> Duration {
        self.answer
            .and_then(|a| self.end.duration_since(a).ok())
            .unwrap_or_default()
    }
}

/// What happened to a call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CallEvent {
    /// A call was accepted for routing.
    Created(CallCreated),
    /// The callee is ringing (first 180 or 183).
    Ringing {
        /// The call.
        call: CallId,
        /// Whether early media (SDP in the provisional) came with it.
        early_media: bool,
        /// When.
        at: SystemTime,
    },
    /// The callee answered and the caller got the 200.
    Answered {
        /// The call.
        call: CallId,
        /// When.
        at: SystemTime,
    },
    /// The call is over; journal the record, then call
    /// [`crate::B2bua::handle_call_persisted`] with its token.
    Ended(Box<CallEnded>),
}

impl CallEvent {
    /// The call the event is about.
    pub fn call(&self) -> CallId {
        match self {
            CallEvent::Created(c) => c.call,
            CallEvent::Ringing { call, .. } | CallEvent::Answered { call, .. } => *call,
            CallEvent::Ended(e) => e.call,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_print_as_uuid_v4_and_parse_back() {
        let id = CallId::from_random(u128::MAX);
        let s = id.to_string();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4", "version nibble");
        assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "variant bits");
        assert_eq!(CallId::parse(&s), Some(id));
        assert_eq!(CallId::parse(&s.replace('-', "").to_uppercase()), Some(id));
        assert_eq!(CallId::parse("nope"), None);
    }
}
