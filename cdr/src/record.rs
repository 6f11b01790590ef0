//! The call detail record: one per call, covering both legs.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How a call ended, with the strings Asterisk writes in its `disposition` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Disposition {
    /// The callee answered (a 2xx to the INVITE).
    #[serde(rename = "ANSWERED")]
    Answered,
    /// Nobody answered before the ring timeout (or the callee declined with 480/408).
    #[serde(rename = "NO ANSWER")]
    NoAnswer,
    /// The callee was busy (486 or 600).
    #[serde(rename = "BUSY")]
    Busy,
    /// The call could not be set up (routing, trunk or server failure).
    #[serde(rename = "FAILED")]
    Failed,
    /// The caller gave up before the callee answered (CANCEL, 487).
    #[serde(rename = "CANCELLED")]
    Cancelled,
}

impl Disposition {
    /// Every disposition, in a stable order.
    pub const ALL: [Disposition; 5] = [
        Disposition::Answered,
        Disposition::NoAnswer,
        Disposition::Busy,
        Disposition::Failed,
        Disposition::Cancelled,
    ];

    /// The string stored in the database and shown by the API (`"NO ANSWER"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Answered => "ANSWERED",
            Disposition::NoAnswer => "NO ANSWER",
            Disposition::Busy => "BUSY",
            Disposition::Failed => "FAILED",
            Disposition::Cancelled => "CANCELLED",
        }
    }

    /// Parses the string form written by [`Disposition::as_str`].
    pub fn parse(s: &str) -> Option<Disposition> {
        Disposition::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

impl std::fmt::Display for Disposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which side ended the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum HangupSide {
    /// The calling party (A leg) hung up or cancelled.
    Caller,
    /// The called party (B leg) hung up or rejected the call.
    Callee,
    /// VSS ended the call: timeout, media timeout, maximum duration, shutdown, error.
    System,
}

impl HangupSide {
    /// Every side, in a stable order.
    pub const ALL: [HangupSide; 3] = [HangupSide::Caller, HangupSide::Callee, HangupSide::System];

    /// The string stored in the database and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            HangupSide::Caller => "caller",
            HangupSide::Callee => "callee",
            HangupSide::System => "system",
        }
    }

    /// Parses the string form written by [`HangupSide::as_str`].
    pub fn parse(s: &str) -> Option<HangupSide> {
        HangupSide::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Where the call came from and went to; decides how the Asterisk view names channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Direction {
    /// A slot (or an originate through a slot) calling out through a carrier trunk.
    Outbound,
    /// A carrier trunk calling in to a slot (DID).
    Inbound,
    /// Slot to slot, or slot to a service such as the echo test.
    Internal,
}

impl Direction {
    /// Every direction, in a stable order.
    pub const ALL: [Direction; 3] = [Direction::Outbound, Direction::Inbound, Direction::Internal];

    /// The string stored in the database and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
            Direction::Internal => "internal",
        }
    }

    /// Parses the string form written by [`Direction::as_str`].
    pub fn parse(s: &str) -> Option<Direction> {
        Direction::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// Media quality of one leg, from RTCP; every figure is absent when it was not measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LegQuality {
    /// Fraction of RTP packets lost, 0.0 to 1.0.
    pub loss: Option<f64>,
    /// Interarrival jitter in milliseconds (RFC 3550 §6.4.1).
    pub jitter_ms: Option<f64>,
    /// Estimated mean opinion score, 1.0 to 5.0.
    pub mos: Option<f64>,
}

/// A call recording file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// Path of the file, as the media engine wrote it.
    pub path: String,
    /// Whether the file was closed cleanly (false: the recorder stopped early or failed).
    pub complete: bool,
}

/// One call detail record, covering both legs of a call.
///
/// The store keeps what the call layer reports and refuses nothing it can represent, so
/// that no record is ever lost: [`CallRecord::duration`] and [`CallRecord::billsec`] are
/// computed from the times and clamp at zero if a wall-clock step put `end` before
/// `start`. Times are stored with millisecond precision; finer digits are dropped.
/// A NUL character in any text field (which PostgreSQL cannot store) is stored as U+FFFD.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CallRecord {
    /// Our id for the call.
    pub call_id: Uuid,
    /// SIP Call-ID of the A leg (toward the caller).
    pub a_leg_call_id: String,
    /// SIP Call-ID of the B leg (toward the callee); absent if no B leg was ever created.
    pub b_leg_call_id: Option<String>,
    /// Where the call came from and went to.
    pub direction: Direction,
    /// When the call started (the A leg's INVITE arrived, or the originate began).
    #[serde(with = "ms_time")]
    pub start: DateTime<Utc>,
    /// When the callee answered, if it did.
    #[serde(with = "ms_time_opt", default)]
    pub answer: Option<DateTime<Utc>>,
    /// When the call ended.
    #[serde(with = "ms_time")]
    pub end: DateTime<Utc>,
    /// How the call ended.
    pub disposition: Disposition,
    /// Final SIP status code of the call attempt (200 for an answered call).
    pub sip_code: u16,
    /// Reason phrase (or Reason header text) that came with the final code.
    pub sip_reason: String,
    /// Which side ended the call.
    pub hangup_side: HangupSide,
    /// Calling number.
    pub src: String,
    /// Called number.
    pub dst: String,
    /// Slot (extension) that took part in the call.
    pub slot: Option<String>,
    /// Hub holding that slot.
    pub hub: Option<String>,
    /// Carrier trunk used, if any.
    pub trunk: Option<String>,
    /// Autodialer campaign that placed the call.
    pub campaign_id: Option<String>,
    /// Autodialer lead the call was for.
    pub lead_id: Option<String>,
    /// Attempt number for that lead (1 for the first try).
    pub attempt: Option<u32>,
    /// Audio codec negotiated (e.g. `PCMA`, `opus`).
    pub codec: Option<String>,
    /// Media quality measured on the A leg.
    #[serde(default)]
    pub a_quality: LegQuality,
    /// Media quality measured on the B leg.
    #[serde(default)]
    pub b_quality: LegQuality,
    /// The recording, if the call was recorded.
    pub recording: Option<Recording>,
    /// Name of the VSS node that handled the call.
    pub node: String,
}

impl CallRecord {
    /// Whole seconds from start to end, as Asterisk counts them (truncated, never negative).
    pub fn duration(&self) -> i64 {
        whole_seconds(self.start, self.end)
    }

    /// Whole seconds from answer to end (0 if unanswered); never more than the duration.
    pub fn billsec(&self) -> i64 {
        match self.answer {
            Some(answer) => whole_seconds(answer, self.end).min(self.duration()),
            None => 0,
        }
    }
}

fn whole_seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    let ms = to
        .timestamp_millis()
        .saturating_sub(from.timestamp_millis());
    // Asterisk's cdr.c truncates: 1999 ms of talk is 1 billable second.
    (ms / 1000).max(0)
}

/// Drops sub-millisecond digits, the precision both back ends store.
pub(crate) fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// Formats a time the way the API and CSV show it: RFC 3339, UTC, milliseconds.
pub(crate) fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Serialize for CallRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // A borrowed mirror adds the computed duration and billsec the API promises.
        #[derive(Serialize)]
        struct View<'a> {
            call_id: &'a Uuid,
            a_leg_call_id: &'a str,
            b_leg_call_id: Option<&'a str>,
            direction: Direction,
            start: String,
            answer: Option<String>,
            end: String,
            duration: i64,
            billsec: i64,
            disposition: Disposition,
            sip_code: u16,
            sip_reason: &'a str,
            hangup_side: HangupSide,
            src: &'a str,
            dst: &'a str,
            slot: Option<&'a str>,
            hub: Option<&'a str>,
            trunk: Option<&'a str>,
            campaign_id: Option<&'a str>,
            lead_id: Option<&'a str>,
            attempt: Option<u32>,
            codec: Option<&'a str>,
            a_quality: &'a LegQuality,
            b_quality: &'a LegQuality,
            recording: Option<&'a Recording>,
            node: &'a str,
        }
        View {
            call_id: &self.call_id,
            a_leg_call_id: &self.a_leg_call_id,
            b_leg_call_id: self.b_leg_call_id.as_deref(),
            direction: self.direction,
            start: format_time(self.start),
            answer: self.answer.map(format_time),
            end: format_time(self.end),
            duration: self.duration(),
            billsec: self.billsec(),
            disposition: self.disposition,
            sip_code: self.sip_code,
            sip_reason: &self.sip_reason,
            hangup_side: self.hangup_side,
            src: &self.src,
            dst: &self.dst,
            slot: self.slot.as_deref(),
            hub: self.hub.as_deref(),
            trunk: self.trunk.as_deref(),
            campaign_id: self.campaign_id.as_deref(),
            lead_id: self.lead_id.as_deref(),
            attempt: self.attempt,
            codec: self.codec.as_deref(),
            a_quality: &self.a_quality,
            b_quality: &self.b_quality,
            recording: self.recording.as_ref(),
            node: &self.node,
        }
        .serialize(serializer)
    }
}

mod ms_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

mod ms_time_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => DateTime::parse_from_rfc3339(&s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(serde::de::Error::custom),
        }
    }
}

/// A complete record for unit tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn sample(n: u128) -> CallRecord {
    use chrono::TimeZone;
    let start = Utc
        .timestamp_millis_opt(1_700_000_000_000 + n as i64 * 1000)
        .single()
        .unwrap_or_default();
    CallRecord {
        call_id: Uuid::from_u128(n),
        a_leg_call_id: format!("a-{n}@vss"),
        b_leg_call_id: Some(format!("b-{n}@vss")),
        direction: Direction::Outbound,
        start,
        answer: Some(start + chrono::Duration::milliseconds(1500)),
        end: start + chrono::Duration::milliseconds(9000),
        disposition: Disposition::Answered,
        sip_code: 200,
        sip_reason: "OK".into(),
        hangup_side: HangupSide::Callee,
        src: "6001".into(),
        dst: format!("7999{n:07}"),
        slot: Some("6001".into()),
        hub: Some("auto1".into()),
        trunk: Some("carrier1".into()),
        campaign_id: None,
        lead_id: None,
        attempt: None,
        codec: Some("PCMA".into()),
        a_quality: LegQuality::default(),
        b_quality: LegQuality::default(),
        recording: None,
        node: "node-a".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().unwrap()
    }

    fn record(start: i64, answer: Option<i64>, end: i64) -> CallRecord {
        CallRecord {
            call_id: Uuid::from_u128(7),
            a_leg_call_id: "a@x".into(),
            b_leg_call_id: None,
            direction: Direction::Outbound,
            start: at(start),
            answer: answer.map(at),
            end: at(end),
            disposition: if answer.is_some() {
                Disposition::Answered
            } else {
                Disposition::NoAnswer
            },
            sip_code: 200,
            sip_reason: "OK".into(),
            hangup_side: HangupSide::Caller,
            src: "6001".into(),
            dst: "79990001122".into(),
            slot: None,
            hub: None,
            trunk: None,
            campaign_id: None,
            lead_id: None,
            attempt: None,
            codec: None,
            a_quality: LegQuality::default(),
            b_quality: LegQuality::default(),
            recording: None,
            node: "n1".into(),
        }
    }

    #[test]
    fn duration_and_billsec_truncate_like_asterisk() {
        let r = record(1_000, Some(3_500), 12_499);
        assert_eq!(r.duration(), 11);
        assert_eq!(r.billsec(), 8);
        let unanswered = record(1_000, None, 31_000);
        assert_eq!(unanswered.duration(), 30);
        assert_eq!(unanswered.billsec(), 0);
    }

    #[test]
    fn billsec_never_exceeds_duration_and_clock_steps_clamp_to_zero() {
        for (start, answer, end) in [(0, 999, 1_998), (500, 500, 2_499), (10, 1_009, 2_008)] {
            let r = record(start, Some(answer), end);
            assert!(r.billsec() <= r.duration(), "{start} {answer} {end}");
        }
        let stepped = record(10_000, Some(12_000), 5_000);
        assert_eq!(stepped.duration(), 0);
        assert_eq!(stepped.billsec(), 0);
    }

    #[test]
    fn strings_match_asterisk() {
        let names: Vec<_> = Disposition::ALL.iter().map(|d| d.as_str()).collect();
        assert_eq!(
            names,
            ["ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CANCELLED"]
        );
        for d in Disposition::ALL {
            assert_eq!(Disposition::parse(d.as_str()), Some(d));
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{}\"", d.as_str()));
        }
        for h in HangupSide::ALL {
            assert_eq!(HangupSide::parse(h.as_str()), Some(h));
        }
        for d in Direction::ALL {
            assert_eq!(Direction::parse(d.as_str()), Some(d));
        }
        assert_eq!(Disposition::parse("CONGESTION"), None);
    }

    #[test]
    fn json_has_the_api_fields_and_round_trips() {
        let mut r = record(
            1_700_000_000_123,
            Some(1_700_000_002_000),
            1_700_000_010_999,
        );
        r.recording = Some(Recording {
            path: "/r/x.wav".into(),
            complete: true,
        });
        r.a_quality.mos = Some(4.2);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["start"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["duration"], 10);
        assert_eq!(v["billsec"], 8);
        assert_eq!(v["disposition"], "ANSWERED");
        assert_eq!(v["recording"]["complete"], true);
        assert_eq!(v["a_quality"]["mos"], 4.2);
        let back: CallRecord = serde_json::from_value(v).unwrap();
        assert_eq!(back, r);
    }
}
