//! Reading CDRs for the control API: filters, keyset paging, single lookups.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::Db;
use crate::error::StoreError;
use crate::record::{CallRecord, Disposition, to_millis};
use crate::sql::{COLUMNS, Sql, Value, clean, decode_pg, decode_sqlite, millis_to_time};

/// Largest page [`Db::list`] returns, whatever the caller asks for.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Which CDRs to read; every field left `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CdrFilter {
    /// Calls that started at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Calls that started before this time (the range is half open).
    pub to: Option<DateTime<Utc>>,
    /// Calls through this slot.
    pub slot: Option<String>,
    /// Calls where this number is the source or the destination.
    pub number: Option<String>,
    /// Calls for this autodialer lead.
    pub lead_id: Option<String>,
    /// Calls of this autodialer campaign.
    pub campaign_id: Option<String>,
    /// Calls that ended this way.
    pub disposition: Option<Disposition>,
}

/// One page of CDRs, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CdrPage {
    /// The records on this page.
    pub items: Vec<CallRecord>,
    /// Cursor for the next page, `None` on the last one.
    pub next: Option<String>,
}

/// A position in the paging order: (start time in ms, call id), newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) start_ms: i64,
    pub(crate) call_id: Uuid,
}

const CURSOR_VERSION: u8 = 1;

impl Cursor {
    pub(crate) fn after(record: &CallRecord) -> Cursor {
        Cursor {
            start_ms: to_millis(record.start),
            call_id: record.call_id,
        }
    }

    /// Opaque to clients: a version byte, the start time and the id, base64url.
    pub(crate) fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(25);
        raw.push(CURSOR_VERSION);
        raw.extend_from_slice(&self.start_ms.to_be_bytes());
        raw.extend_from_slice(self.call_id.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    pub(crate) fn decode(s: &str) -> Result<Cursor, StoreError> {
        let raw = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| StoreError::InvalidCursor)?;
        let (version, rest) = raw.split_first().ok_or(StoreError::InvalidCursor)?;
        if *version != CURSOR_VERSION || rest.len() != 24 {
            return Err(StoreError::InvalidCursor);
        }
        let (ms, id) = rest.split_at(8);
        let ms = i64::from_be_bytes(ms.try_into().map_err(|_| StoreError::InvalidCursor)?);
        let call_id = Uuid::from_slice(id).map_err(|_| StoreError::InvalidCursor)?;
        millis_to_time(ms).ok_or(StoreError::InvalidCursor)?;
        Ok(Cursor {
            start_ms: ms,
            call_id,
        })
    }
}

/// Appends ` WHERE ...` (or nothing) for `filter` and an optional keyset position.
fn push_where(sql: &mut Sql, filter: &CdrFilter, after: Option<Cursor>) {
    let mut first = true;
    let mut and = |sql: &mut Sql| {
        sql.push(if first { " WHERE " } else { " AND " });
        first = false;
    };
    if let Some(from) = filter.from {
        and(sql);
        sql.push("start_time >= ").bind(Value::Time(from));
    }
    if let Some(to) = filter.to {
        and(sql);
        sql.push("start_time < ").bind(Value::Time(to));
    }
    if let Some(slot) = &filter.slot {
        and(sql);
        sql.push("slot = ").bind(Value::Text(clean(slot)));
    }
    if let Some(number) = &filter.number {
        and(sql);
        sql.push("(src = ")
            .bind(Value::Text(clean(number)))
            .push(" OR dst = ")
            .bind(Value::Text(clean(number)))
            .push(")");
    }
    if let Some(lead) = &filter.lead_id {
        and(sql);
        sql.push("lead_id = ").bind(Value::Text(clean(lead)));
    }
    if let Some(campaign) = &filter.campaign_id {
        and(sql);
        sql.push("campaign_id = ")
            .bind(Value::Text(clean(campaign)));
    }
    if let Some(d) = filter.disposition {
        and(sql);
        sql.push("disposition = ")
            .bind(Value::Text(d.as_str().to_owned()));
    }
    if let Some(c) = after {
        and(sql);
        // Row-value comparison: one index range scan on (..., start_time, call_id).
        let start = millis_to_time(c.start_ms).unwrap_or_default();
        sql.push("(start_time, call_id) < (")
            .bind(Value::Time(start))
            .push(", ")
            .bind(Value::Uuid(c.call_id))
            .push(")");
    }
}

impl Db {
    /// One page of CDRs matching `filter`, newest first. `limit` is clamped to
    /// 1..=[`MAX_PAGE_SIZE`]; `cursor` is the `next` of the previous page.
    pub async fn list(
        &self,
        filter: &CdrFilter,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<CdrPage, StoreError> {
        let after = cursor.map(Cursor::decode).transpose()?;
        self.list_after(filter, limit, after).await
    }

    pub(crate) async fn list_after(
        &self,
        filter: &CdrFilter,
        limit: u32,
        after: Option<Cursor>,
    ) -> Result<CdrPage, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let mut sql = Sql::new(self.dialect());
        sql.push("SELECT ").push(COLUMNS).push(" FROM call_records");
        push_where(&mut sql, filter, after);
        // One row more than asked tells whether another page exists.
        sql.push(" ORDER BY start_time DESC, call_id DESC LIMIT ")
            .bind(Value::Int(i64::from(limit) + 1));
        let mut items = match self {
            Db::Sqlite(pool) => sql
                .into_sqlite()
                .fetch_all(pool)
                .await?
                .iter()
                .map(decode_sqlite)
                .collect::<Result<Vec<_>, _>>()?,
            Db::Postgres(pool) => sql
                .into_pg()
                .fetch_all(pool)
                .await?
                .iter()
                .map(decode_pg)
                .collect::<Result<Vec<_>, _>>()?,
        };
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next = match items.last() {
            Some(last) if more => Some(Cursor::after(last).encode()),
            _ => None,
        };
        Ok(CdrPage { items, next })
    }

    /// How many CDRs match `filter` (the `total` of a list response).
    pub async fn count(&self, filter: &CdrFilter) -> Result<u64, StoreError> {
        let mut sql = Sql::new(self.dialect());
        sql.push("SELECT COUNT(*) AS n FROM call_records");
        push_where(&mut sql, filter, None);
        let n: i64 = match self {
            Db::Sqlite(pool) => sqlx::Row::try_get(&sql.into_sqlite().fetch_one(pool).await?, "n")?,
            Db::Postgres(pool) => sqlx::Row::try_get(&sql.into_pg().fetch_one(pool).await?, "n")?,
        };
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// The CDR of one call, if it has been stored.
    pub async fn get(&self, call_id: Uuid) -> Result<Option<CallRecord>, StoreError> {
        let mut sql = Sql::new(self.dialect());
        sql.push("SELECT ")
            .push(COLUMNS)
            .push(" FROM call_records WHERE call_id = ")
            .bind(Value::Uuid(call_id));
        match self {
            Db::Sqlite(pool) => sql
                .into_sqlite()
                .fetch_optional(pool)
                .await?
                .as_ref()
                .map(decode_sqlite)
                .transpose(),
            Db::Postgres(pool) => sql
                .into_pg()
                .fetch_optional(pool)
                .await?
                .as_ref()
                .map(decode_pg)
                .transpose(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::Dialect;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            start_ms: 1_700_000_000_123,
            call_id: Uuid::from_u128(0xdead_beef),
        };
        let s = c.encode();
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(Cursor::decode(&s).unwrap(), c);
        for bad in ["", "!!!", "AQ", &s[..s.len() - 2], &format!("{s}AA")] {
            assert!(
                matches!(Cursor::decode(bad), Err(StoreError::InvalidCursor)),
                "{bad}"
            );
        }
        let mut wrong_version = URL_SAFE_NO_PAD.decode(&s).unwrap();
        wrong_version[0] = 9;
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode(wrong_version)).is_err());
    }

    #[test]
    fn where_clause_has_one_bind_per_value() {
        let f = CdrFilter {
            from: Some(Utc::now()),
            number: Some("6001".into()),
            disposition: Some(Disposition::Busy),
            ..CdrFilter::default()
        };
        let mut sql = Sql::new(Dialect::Postgres);
        push_where(&mut sql, &f, None);
        assert_eq!(
            sql.text(),
            " WHERE start_time >= $1 AND (src = $2 OR dst = $3) AND disposition = $4"
        );
        let mut empty = Sql::new(Dialect::Sqlite);
        push_where(&mut empty, &CdrFilter::default(), None);
        assert_eq!(empty.text(), "");
    }
}
