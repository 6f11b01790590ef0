//! The database handle over both back ends, migrations, and the idempotent batch insert.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::StoreError;
use crate::record::CallRecord;
use crate::sql::{COLUMN_COUNT, COLUMNS, Dialect, Sql, record_values};

/// Rows per INSERT statement: 31 columns × 500 rows stays under both SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters, and full batches reuse one prepared statement.
pub const MAX_ROWS_PER_STATEMENT: usize = 500;

/// Pool settings for [`Db::connect_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DbOptions {
    /// Largest number of connections in the pool.
    pub max_connections: u32,
    /// How long to wait for a connection before reporting the database unavailable.
    pub acquire_timeout: Duration,
    /// How long SQLite waits for a lock held by another connection before failing.
    pub sqlite_busy_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A connection pool to the CDR database: SQLite (embedded default) or PostgreSQL.
///
/// One repository API serves both; the pools are public so the binary can share them with
/// crates that keep other tables in the same database.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Db {
    /// An SQLite file, in WAL mode.
    Sqlite(SqlitePool),
    /// A PostgreSQL server.
    Postgres(PgPool),
}

enum Target {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

fn parse_url(url: &str, opts: &DbOptions) -> Result<Target, StoreError> {
    if url.starts_with("sqlite:") {
        let o = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::InvalidUrl)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL, not NORMAL: once a batch commits, the journal forgets it, so a
            // committed transaction must survive a power loss too.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(opts.sqlite_busy_timeout);
        Ok(Target::Sqlite(o))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let o = PgConnectOptions::from_str(url).map_err(StoreError::InvalidUrl)?;
        Ok(Target::Postgres(o))
    } else {
        let scheme = url.split(':').next().unwrap_or_default();
        Err(StoreError::UnsupportedUrl(scheme.to_owned()))
    }
}

fn create_parent_dir(file: &Path) -> Result<(), StoreError> {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => std::fs::create_dir_all(dir)
            .map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            }),
        _ => Ok(()),
    }
}

impl Db {
    /// Connects to `url` (`sqlite://./var/vss.db` or `postgres://user@host/db`) and checks
    /// that the database answers. A missing SQLite file (and its directory) is created.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Db::connect_with(url, &DbOptions::default()).await
    }

    /// [`Db::connect`] with explicit pool settings.
    pub async fn connect_with(url: &str, opts: &DbOptions) -> Result<Db, StoreError> {
        match parse_url(url, opts)? {
            Target::Sqlite(o) => {
                create_parent_dir(o.get_filename())?;
                let pool = sqlite_pool(opts).connect_with(o).await?;
                Ok(Db::Sqlite(pool))
            }
            Target::Postgres(o) => Ok(Db::Postgres(pg_pool(opts).connect_with(o).await?)),
        }
    }

    /// Builds the pool without connecting, so a process can start (and journal CDRs)
    /// while the database is still away; connections are made on first use.
    pub fn connect_lazy(url: &str, opts: &DbOptions) -> Result<Db, StoreError> {
        match parse_url(url, opts)? {
            Target::Sqlite(o) => {
                create_parent_dir(o.get_filename())?;
                Ok(Db::Sqlite(sqlite_pool(opts).connect_lazy_with(o)))
            }
            Target::Postgres(o) => Ok(Db::Postgres(pg_pool(opts).connect_lazy_with(o))),
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    pub(crate) fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Closes every connection of the pool (waits for those in use to be returned).
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }

    /// Inserts `records` in one transaction with multi-row `INSERT ... ON CONFLICT
    /// (call_id) DO NOTHING`, so inserting a record again (a journal replay) is a no-op.
    /// Returns how many rows were new.
    pub async fn insert_batch(&self, records: &[CallRecord]) -> Result<u64, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        let statements: Vec<Sql> = records
            .chunks(MAX_ROWS_PER_STATEMENT)
            .map(|chunk| insert_statement(self.dialect(), chunk))
            .collect();
        let mut inserted = 0;
        match self {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for s in statements {
                    inserted += s.into_sqlite().execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                for s in statements {
                    inserted += s.into_pg().execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
            }
        }
        Ok(inserted)
    }
}

fn sqlite_pool(opts: &DbOptions) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(opts.acquire_timeout)
}

fn pg_pool(opts: &DbOptions) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(opts.acquire_timeout)
}

fn insert_statement(dialect: Dialect, chunk: &[CallRecord]) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("INSERT INTO call_records (")
        .push(COLUMNS)
        .push(") VALUES ");
    for (i, record) in chunk.iter().enumerate() {
        sql.push(if i == 0 { "(" } else { ", (" });
        for (j, value) in record_values(record).into_iter().enumerate() {
            if j > 0 {
                sql.push(", ");
            }
            sql.bind(value);
        }
        sql.push(")");
    }
    sql.push(" ON CONFLICT (call_id) DO NOTHING");
    debug_assert_eq!(sql.arg_count(), chunk.len() * COLUMN_COUNT);
    sql
}

/// Applies the CDR migrations (versions 1000–1999) to `db`.
///
/// Other crates keep their own migration sets in the same database and the same
/// `_sqlx_migrations` table; versions this crate does not know are therefore ignored
/// rather than reported as missing.
pub async fn migrate(db: &Db) -> Result<(), StoreError> {
    match db {
        Db::Sqlite(pool) => {
            let mut m = sqlx::migrate!("migrations/sqlite");
            m.set_ignore_missing(true);
            m.run(pool).await?;
        }
        Db::Postgres(pool) => {
            let mut m = sqlx::migrate!("migrations/postgres");
            m.set_ignore_missing(true);
            m.run(pool).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_back_end() {
        let o = DbOptions::default();
        assert!(matches!(
            parse_url("sqlite://./var/vss.db", &o),
            Ok(Target::Sqlite(_))
        ));
        assert!(matches!(
            parse_url("postgres://u@localhost/db", &o),
            Ok(Target::Postgres(_))
        ));
        assert!(matches!(
            parse_url("postgresql://u@localhost/db", &o),
            Ok(Target::Postgres(_))
        ));
        match parse_url("mysql://x", &o) {
            Err(StoreError::UnsupportedUrl(s)) => assert_eq!(s, "mysql"),
            _ => panic!("mysql must be refused"),
        }
    }

    #[test]
    fn sqlite_migrations_are_numbered_in_the_cdr_range() {
        let m = sqlx::migrate!("migrations/sqlite");
        let p = sqlx::migrate!("migrations/postgres");
        let versions: Vec<i64> = m.iter().map(|x| x.version).collect();
        let pg_versions: Vec<i64> = p.iter().map(|x| x.version).collect();
        assert_eq!(versions, pg_versions);
        assert!(versions.iter().all(|v| (1000..2000).contains(v)));
    }
}
