//! SQL text with bind values, written once and executed on either back end.
//!
//! Statements are built from `'static` fragments plus bind parameters, never from data,
//! which is why handing the text to sqlx through `AssertSqlSafe` is sound. Both back ends
//! get the same statement shape; only placeholders (`$n` against `?`) and the binding of
//! times and ids differ: PostgreSQL stores `timestamptz`/`uuid`, SQLite integer
//! milliseconds and hyphenated text (which sorts like PostgreSQL's `uuid`).

use chrono::{DateTime, TimeZone, Utc};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{AssertSqlSafe, Postgres, Row, Sqlite};
use uuid::Uuid;

use crate::error::StoreError;
use crate::record::{
    CallRecord, Direction, Disposition, HangupSide, LegQuality, Recording, to_millis,
};

/// Which SQL flavour a statement is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    Sqlite,
}

/// One bind parameter, typed so that a NULL still carries its SQL type.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Int32(i32),
    OptReal(Option<f64>),
    Bool(bool),
    Time(DateTime<Utc>),
    OptTime(Option<DateTime<Utc>>),
    Uuid(Uuid),
}

/// PostgreSQL cannot store NUL in `text`; a record must never be refused for it.
pub(crate) fn clean(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    }
}

fn clean_opt(s: &Option<String>) -> Option<String> {
    s.as_deref().map(clean)
}

/// Statement text plus its bind values, in order.
#[derive(Debug)]
pub(crate) struct Sql {
    dialect: Dialect,
    text: String,
    args: Vec<Value>,
}

impl Sql {
    pub(crate) fn new(dialect: Dialect) -> Sql {
        Sql {
            dialect,
            text: String::with_capacity(256),
            args: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, fragment: &'static str) -> &mut Sql {
        self.text.push_str(fragment);
        self
    }

    pub(crate) fn bind(&mut self, value: Value) -> &mut Sql {
        self.args.push(value);
        match self.dialect {
            Dialect::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.args.len().to_string());
            }
            Dialect::Sqlite => self.text.push('?'),
        }
        self
    }

    #[cfg(test)]
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    pub(crate) fn arg_count(&self) -> usize {
        self.args.len()
    }

    pub(crate) fn into_pg(self) -> Query<'static, Postgres, PgArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text));
        for v in self.args {
            q = match v {
                Value::Text(s) => q.bind(s),
                Value::OptText(s) => q.bind(s),
                Value::Int(i) => q.bind(i),
                Value::OptInt(i) => q.bind(i),
                Value::Int32(i) => q.bind(i),
                Value::OptReal(f) => q.bind(f),
                Value::Bool(b) => q.bind(b),
                Value::Time(t) => q.bind(truncate_ms(t)),
                Value::OptTime(t) => q.bind(t.map(truncate_ms)),
                Value::Uuid(u) => q.bind(u),
            };
        }
        q
    }

    pub(crate) fn into_sqlite(self) -> Query<'static, Sqlite, SqliteArguments> {
        let mut q = sqlx::query(AssertSqlSafe(self.text));
        for v in self.args {
            q = match v {
                Value::Text(s) => q.bind(s),
                Value::OptText(s) => q.bind(s),
                Value::Int(i) => q.bind(i),
                Value::OptInt(i) => q.bind(i),
                Value::Int32(i) => q.bind(i),
                Value::OptReal(f) => q.bind(f),
                Value::Bool(b) => q.bind(b),
                Value::Time(t) => q.bind(to_millis(t)),
                Value::OptTime(t) => q.bind(t.map(to_millis)),
                Value::Uuid(u) => q.bind(u.hyphenated().to_string()),
            };
        }
        q
    }
}

fn truncate_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    millis_to_time(to_millis(t)).unwrap_or(t)
}

pub(crate) fn millis_to_time(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// Columns of `call_records` that a record fills, in insert order.
pub(crate) const COLUMNS: &str = "call_id, a_leg_call_id, b_leg_call_id, direction, \
    start_time, answer_time, end_time, duration, billsec, disposition, sip_code, sip_reason, \
    hangup_side, src, dst, slot, hub, trunk, campaign_id, lead_id, attempt, codec, \
    a_loss, a_jitter_ms, a_mos, b_loss, b_jitter_ms, b_mos, recording_path, \
    recording_complete, node";

/// Number of entries in [`COLUMNS`].
pub(crate) const COLUMN_COUNT: usize = 31;

/// The bind values of one record, in [`COLUMNS`] order.
pub(crate) fn record_values(r: &CallRecord) -> [Value; COLUMN_COUNT] {
    [
        Value::Uuid(r.call_id),
        Value::Text(clean(&r.a_leg_call_id)),
        Value::OptText(clean_opt(&r.b_leg_call_id)),
        Value::Text(r.direction.as_str().to_owned()),
        Value::Time(r.start),
        Value::OptTime(r.answer),
        Value::Time(r.end),
        Value::Int(r.duration()),
        Value::Int(r.billsec()),
        Value::Text(r.disposition.as_str().to_owned()),
        Value::Int32(i32::from(r.sip_code)),
        Value::Text(clean(&r.sip_reason)),
        Value::Text(r.hangup_side.as_str().to_owned()),
        Value::Text(clean(&r.src)),
        Value::Text(clean(&r.dst)),
        Value::OptText(clean_opt(&r.slot)),
        Value::OptText(clean_opt(&r.hub)),
        Value::OptText(clean_opt(&r.trunk)),
        Value::OptText(clean_opt(&r.campaign_id)),
        Value::OptText(clean_opt(&r.lead_id)),
        Value::OptInt(r.attempt.map(i64::from)),
        Value::OptText(clean_opt(&r.codec)),
        Value::OptReal(r.a_quality.loss),
        Value::OptReal(r.a_quality.jitter_ms),
        Value::OptReal(r.a_quality.mos),
        Value::OptReal(r.b_quality.loss),
        Value::OptReal(r.b_quality.jitter_ms),
        Value::OptReal(r.b_quality.mos),
        Value::OptText(r.recording.as_ref().map(|rec| clean(&rec.path))),
        Value::Bool(r.recording.as_ref().is_some_and(|rec| rec.complete)),
        Value::Text(clean(&r.node)),
    ]
}

/// The times and id of a row, whose storage differs per back end.
struct RowKey {
    call_id: Uuid,
    start: DateTime<Utc>,
    answer: Option<DateTime<Utc>>,
    end: DateTime<Utc>,
}

fn bad(column: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::InvalidRow {
        column,
        detail: detail.into(),
    }
}

fn time_from_millis(column: &'static str, ms: i64) -> Result<DateTime<Utc>, StoreError> {
    millis_to_time(ms).ok_or_else(|| bad(column, format!("{ms} ms is out of range")))
}

pub(crate) fn decode_pg(row: &PgRow) -> Result<CallRecord, StoreError> {
    let key = RowKey {
        call_id: row.try_get("call_id")?,
        start: row.try_get("start_time")?,
        answer: row.try_get("answer_time")?,
        end: row.try_get("end_time")?,
    };
    decode_rest(row, key)
}

pub(crate) fn decode_sqlite(row: &SqliteRow) -> Result<CallRecord, StoreError> {
    let id: String = row.try_get("call_id")?;
    let answer: Option<i64> = row.try_get("answer_time")?;
    let key = RowKey {
        call_id: Uuid::parse_str(&id).map_err(|e| bad("call_id", e.to_string()))?,
        start: time_from_millis("start_time", row.try_get("start_time")?)?,
        answer: answer
            .map(|ms| time_from_millis("answer_time", ms))
            .transpose()?,
        end: time_from_millis("end_time", row.try_get("end_time")?)?,
    };
    decode_rest(row, key)
}

/// The columns both back ends store with the same Rust types.
fn decode_rest<R>(row: &R, key: RowKey) -> Result<CallRecord, StoreError>
where
    R: Row,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i32: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<f64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let direction: String = row.try_get("direction")?;
    let disposition: String = row.try_get("disposition")?;
    let hangup_side: String = row.try_get("hangup_side")?;
    let sip_code: i32 = row.try_get("sip_code")?;
    let attempt: Option<i64> = row.try_get("attempt")?;
    let recording_path: Option<String> = row.try_get("recording_path")?;
    let recording_complete: bool = row.try_get("recording_complete")?;
    Ok(CallRecord {
        call_id: key.call_id,
        a_leg_call_id: row.try_get("a_leg_call_id")?,
        b_leg_call_id: row.try_get("b_leg_call_id")?,
        direction: Direction::parse(&direction).ok_or_else(|| bad("direction", direction))?,
        start: key.start,
        answer: key.answer,
        end: key.end,
        disposition: Disposition::parse(&disposition)
            .ok_or_else(|| bad("disposition", disposition))?,
        sip_code: u16::try_from(sip_code).map_err(|e| bad("sip_code", e.to_string()))?,
        sip_reason: row.try_get("sip_reason")?,
        hangup_side: HangupSide::parse(&hangup_side)
            .ok_or_else(|| bad("hangup_side", hangup_side))?,
        src: row.try_get("src")?,
        dst: row.try_get("dst")?,
        slot: row.try_get("slot")?,
        hub: row.try_get("hub")?,
        trunk: row.try_get("trunk")?,
        campaign_id: row.try_get("campaign_id")?,
        lead_id: row.try_get("lead_id")?,
        attempt: attempt
            .map(u32::try_from)
            .transpose()
            .map_err(|e| bad("attempt", e.to_string()))?,
        codec: row.try_get("codec")?,
        a_quality: LegQuality {
            loss: row.try_get("a_loss")?,
            jitter_ms: row.try_get("a_jitter_ms")?,
            mos: row.try_get("a_mos")?,
        },
        b_quality: LegQuality {
            loss: row.try_get("b_loss")?,
            jitter_ms: row.try_get("b_jitter_ms")?,
            mos: row.try_get("b_mos")?,
        },
        recording: recording_path.map(|path| Recording {
            path,
            complete: recording_complete,
        }),
        node: row.try_get("node")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_dialect() {
        let mut pg = Sql::new(Dialect::Postgres);
        pg.push("a = ")
            .bind(Value::Int(1))
            .push(" AND b = ")
            .bind(Value::Int(2));
        assert_eq!(pg.text(), "a = $1 AND b = $2");
        let mut lite = Sql::new(Dialect::Sqlite);
        lite.push("a = ")
            .bind(Value::Int(1))
            .push(" AND b = ")
            .bind(Value::Int(2));
        assert_eq!(lite.text(), "a = ? AND b = ?");
        assert_eq!(lite.arg_count(), 2);
    }

    #[test]
    fn column_list_matches_values() {
        assert_eq!(COLUMNS.split(',').count(), COLUMN_COUNT);
    }

    #[test]
    fn nul_is_replaced_not_refused() {
        assert_eq!(clean("a\0b"), "a\u{FFFD}b");
        assert_eq!(clean("plain"), "plain");
    }
}
