//! The `bindings` table: loading at start, purging expired rows, and applying batches of
//! changes from the write-behind task.

use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row};

use super::{
    BindingRecord, Change, Db, Store, StoreError, from_millis, millis, parse_transport,
    transport_name, utc,
};
use crate::extension::Extension;

/// Rows per SQLite INSERT: 12 columns × 80 rows stays far below SQLite's bind limit,
/// and full chunks reuse one cached statement.
const SQLITE_ROWS_PER_STATEMENT: usize = 80;

const COLUMNS: &str = "aor, contact, call_id, cseq, expires_at, q, source_ip, source_port, \
                       transport, user_agent, registered_at, updated_at";

const ON_CONFLICT: &str = " ON CONFLICT (aor, contact) DO UPDATE SET \
    call_id = excluded.call_id, cseq = excluded.cseq, expires_at = excluded.expires_at, \
    q = excluded.q, source_ip = excluded.source_ip, source_port = excluded.source_port, \
    transport = excluded.transport, user_agent = excluded.user_agent, \
    registered_at = excluded.registered_at, updated_at = excluded.updated_at";

const PG_UPSERT: &str = "INSERT INTO bindings (aor, contact, call_id, cseq, expires_at, q, \
    source_ip, source_port, transport, user_agent, registered_at, updated_at) \
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::timestamptz[], \
    $6::int4[], $7::text[], $8::int4[], $9::text[], $10::text[], $11::timestamptz[], \
    $12::timestamptz[]) \
    ON CONFLICT (aor, contact) DO UPDATE SET \
    call_id = excluded.call_id, cseq = excluded.cseq, expires_at = excluded.expires_at, \
    q = excluded.q, source_ip = excluded.source_ip, source_port = excluded.source_port, \
    transport = excluded.transport, user_agent = excluded.user_agent, \
    registered_at = excluded.registered_at, updated_at = excluded.updated_at";

const PG_DELETE: &str = "DELETE FROM bindings WHERE (aor, contact) IN \
    (SELECT * FROM UNNEST($1::text[], $2::text[]))";

/// PostgreSQL cannot store NUL in `text`; a binding must never be refused for it.
fn clean(s: &str) -> String {
    if s.contains('\0') {
        s.replace('\0', "\u{FFFD}")
    } else {
        s.to_owned()
    }
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt {
        table: "bindings",
        what,
    }
}

/// The columns of one row, as read from either back end.
struct RawRow {
    aor: String,
    contact: String,
    call_id: String,
    cseq: i64,
    expires_at: SystemTime,
    q: Option<i32>,
    source_ip: String,
    source_port: i32,
    transport: String,
    user_agent: Option<String>,
    registered_at: SystemTime,
    updated_at: SystemTime,
}

impl RawRow {
    fn into_record(self) -> Result<BindingRecord, StoreError> {
        let extension: Extension = self
            .aor
            .parse()
            .map_err(|_| corrupt(format!("aor {:?} is not a slot extension", self.aor)))?;
        let ip: IpAddr = self
            .source_ip
            .parse()
            .map_err(|_| corrupt(format!("source_ip {:?}", self.source_ip)))?;
        let port = u16::try_from(self.source_port)
            .map_err(|_| corrupt(format!("source_port {}", self.source_port)))?;
        let transport = parse_transport(&self.transport)
            .ok_or_else(|| corrupt(format!("transport {:?}", self.transport)))?;
        let cseq = u32::try_from(self.cseq).map_err(|_| corrupt(format!("cseq {}", self.cseq)))?;
        let q = self
            .q
            .map(|q| u16::try_from(q).ok().filter(|q| *q <= 1000))
            .map(|q| q.ok_or_else(|| corrupt("q out of range".into())))
            .transpose()?;
        Ok(BindingRecord {
            extension,
            contact: self.contact,
            call_id: self.call_id,
            cseq,
            expires_at: self.expires_at,
            q,
            source: SocketAddr::new(ip, port),
            transport,
            user_agent: self.user_agent,
            registered_at: self.registered_at,
            updated_at: self.updated_at,
        })
    }
}

impl Store {
    /// Every binding that has not expired at `now`, oldest first. Rows that cannot be
    /// read back are skipped with a warning (they expire on their own).
    pub async fn load_bindings(&self, now: SystemTime) -> Result<Vec<BindingRecord>, StoreError> {
        let raws = match &self.db {
            Db::Sqlite(pool) => {
                let rows = sqlx::query(
                    "SELECT aor, contact, call_id, cseq, expires_at, q, source_ip, source_port, \
                     transport, user_agent, registered_at, updated_at FROM bindings \
                     WHERE expires_at > ? ORDER BY updated_at",
                )
                .bind(millis(now))
                .fetch_all(pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(RawRow {
                            aor: r.try_get("aor")?,
                            contact: r.try_get("contact")?,
                            call_id: r.try_get("call_id")?,
                            cseq: r.try_get("cseq")?,
                            expires_at: from_millis(r.try_get("expires_at")?),
                            q: r.try_get("q")?,
                            source_ip: r.try_get("source_ip")?,
                            source_port: r.try_get("source_port")?,
                            transport: r.try_get("transport")?,
                            user_agent: r.try_get("user_agent")?,
                            registered_at: from_millis(r.try_get("registered_at")?),
                            updated_at: from_millis(r.try_get("updated_at")?),
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }
            Db::Postgres(pool) => {
                let rows = sqlx::query(
                    "SELECT aor, contact, call_id, cseq, expires_at, q, source_ip, source_port, \
                     transport, user_agent, registered_at, updated_at FROM bindings \
                     WHERE expires_at > $1 ORDER BY updated_at",
                )
                .bind(utc(now))
                .fetch_all(pool)
                .await?;
                let time =
                    |r: &sqlx::postgres::PgRow, c: &str| -> Result<SystemTime, sqlx::Error> {
                        Ok(SystemTime::from(r.try_get::<DateTime<Utc>, _>(c)?))
                    };
                rows.iter()
                    .map(|r| {
                        Ok(RawRow {
                            aor: r.try_get("aor")?,
                            contact: r.try_get("contact")?,
                            call_id: r.try_get("call_id")?,
                            cseq: r.try_get("cseq")?,
                            expires_at: time(r, "expires_at")?,
                            q: r.try_get("q")?,
                            source_ip: r.try_get("source_ip")?,
                            source_port: r.try_get("source_port")?,
                            transport: r.try_get("transport")?,
                            user_agent: r.try_get("user_agent")?,
                            registered_at: time(r, "registered_at")?,
                            updated_at: time(r, "updated_at")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()?
            }
        };
        let mut out = Vec::with_capacity(raws.len());
        for raw in raws {
            match raw.into_record() {
                Ok(r) => out.push(r),
                Err(e) => tracing::warn!(error = %e, "skipping a stored binding"),
            }
        }
        Ok(out)
    }

    /// Deletes the bindings that expired at or before `now`; returns how many.
    pub async fn purge_expired_bindings(&self, now: SystemTime) -> Result<u64, StoreError> {
        let n = match &self.db {
            Db::Sqlite(pool) => sqlx::query("DELETE FROM bindings WHERE expires_at <= ?")
                .bind(millis(now))
                .execute(pool)
                .await?
                .rows_affected(),
            Db::Postgres(pool) => sqlx::query("DELETE FROM bindings WHERE expires_at <= $1")
                .bind(utc(now))
                .execute(pool)
                .await?
                .rows_affected(),
        };
        Ok(n)
    }

    /// Applies `changes` in one transaction. At most one change per (aor, contact) may
    /// be given (the write-behind task coalesces them), so the order does not matter.
    pub async fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let (upserts, deletes): (Vec<&Change>, Vec<&Change>) =
            changes.iter().partition(|c| matches!(c, Change::Upsert(_)));
        let upserts: Vec<&BindingRecord> = upserts
            .into_iter()
            .filter_map(|c| match c {
                Change::Upsert(r) => Some(r),
                Change::Delete { .. } => None,
            })
            .collect();
        match &self.db {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for d in &deletes {
                    let (ext, contact) = d.key();
                    sqlx::query("DELETE FROM bindings WHERE aor = ? AND contact = ?")
                        .bind(ext.to_string())
                        .bind(contact.to_owned())
                        .execute(&mut *tx)
                        .await?;
                }
                for chunk in upserts.chunks(SQLITE_ROWS_PER_STATEMENT) {
                    let sql = sqlite_upsert_text(chunk.len());
                    let mut q = sqlx::query(AssertSqlSafe(sql));
                    for r in chunk {
                        q = q
                            .bind(r.extension.to_string())
                            .bind(r.contact.clone())
                            .bind(r.call_id.clone())
                            .bind(i64::from(r.cseq))
                            .bind(millis(r.expires_at))
                            .bind(r.q.map(i32::from))
                            .bind(r.source.ip().to_string())
                            .bind(i32::from(r.source.port()))
                            .bind(transport_name(r.transport))
                            .bind(r.user_agent.clone())
                            .bind(millis(r.registered_at))
                            .bind(millis(r.updated_at));
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                if !deletes.is_empty() {
                    let (aors, contacts): (Vec<String>, Vec<String>) = deletes
                        .iter()
                        .map(|d| {
                            let (ext, contact) = d.key();
                            (ext.to_string(), clean(contact))
                        })
                        .unzip();
                    sqlx::query(PG_DELETE)
                        .bind(aors)
                        .bind(contacts)
                        .execute(&mut *tx)
                        .await?;
                }
                if !upserts.is_empty() {
                    let c = PgColumns::from(&upserts);
                    sqlx::query(PG_UPSERT)
                        .bind(c.aor)
                        .bind(c.contact)
                        .bind(c.call_id)
                        .bind(c.cseq)
                        .bind(c.expires_at)
                        .bind(c.q)
                        .bind(c.source_ip)
                        .bind(c.source_port)
                        .bind(c.transport)
                        .bind(c.user_agent)
                        .bind(c.registered_at)
                        .bind(c.updated_at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

fn sqlite_upsert_text(rows: usize) -> String {
    let mut s = String::with_capacity(200 + rows * 30 + ON_CONFLICT.len());
    s.push_str("INSERT INTO bindings (");
    s.push_str(COLUMNS);
    s.push_str(") VALUES ");
    for i in 0..rows {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    }
    s.push_str(ON_CONFLICT);
    s
}

/// A batch of rows as PostgreSQL arrays, one per column (for `UNNEST`).
#[derive(Default)]
struct PgColumns {
    aor: Vec<String>,
    contact: Vec<String>,
    call_id: Vec<String>,
    cseq: Vec<i64>,
    expires_at: Vec<DateTime<Utc>>,
    q: Vec<Option<i32>>,
    source_ip: Vec<String>,
    source_port: Vec<i32>,
    transport: Vec<String>,
    user_agent: Vec<Option<String>>,
    registered_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
}

impl From<&Vec<&BindingRecord>> for PgColumns {
    fn from(rows: &Vec<&BindingRecord>) -> PgColumns {
        let mut c = PgColumns::default();
        for r in rows {
            c.aor.push(r.extension.to_string());
            c.contact.push(clean(&r.contact));
            c.call_id.push(clean(&r.call_id));
            c.cseq.push(i64::from(r.cseq));
            c.expires_at.push(utc(r.expires_at));
            c.q.push(r.q.map(i32::from));
            c.source_ip.push(r.source.ip().to_string());
            c.source_port.push(i32::from(r.source.port()));
            c.transport.push(transport_name(r.transport).to_owned());
            c.user_agent.push(r.user_agent.as_deref().map(clean));
            c.registered_at.push(utc(r.registered_at));
            c.updated_at.push(utc(r.updated_at));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_has_one_group_per_row() {
        let s = sqlite_upsert_text(3);
        assert_eq!(s.matches("(?, ?").count(), 3);
        assert_eq!(s.matches('?').count(), 36);
        assert!(s.ends_with("updated_at = excluded.updated_at"));
    }
}
