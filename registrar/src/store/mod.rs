//! Persistence of slots and bindings: SQLite (embedded default) or PostgreSQL, through
//! sqlx runtime queries, plus the write-behind task that keeps the database following
//! the in-memory location index without ever making SIP wait.
//!
//! Tables (migrations in `registrar/migrations/{sqlite,postgres}`, versions 2000–2999):
//! - `slots`: extension (primary key), kind, hub, realm, ha1_md5, ha1_sha256, created_at,
//!   updated_at.
//! - `bindings`: aor (the extension), contact (primary key with aor), call_id, cseq,
//!   expires_at (UTC), q (thousandths), source_ip, source_port, transport, user_agent,
//!   registered_at, updated_at.
//!
//! Times are UTC: `timestamptz` in PostgreSQL, INTEGER milliseconds since the Unix epoch
//! in SQLite (as the `cdr` crate stores them).

mod bindings;
mod slots;
mod writer;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use sip_core::Transport;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::extension::Extension;

pub use slots::{ProvisionSummary, SlotChange};
pub use writer::{StoreSink, WriteBehind, WriterConfig, WriterHandle};

/// A database problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The URL could not be parsed.
    #[error("invalid database URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    /// The URL's scheme is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL scheme {0:?}: expected sqlite:// or postgres://")]
    UnsupportedUrl(String),
    /// The directory of the SQLite file could not be created.
    #[error("cannot create directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database refused or failed a statement, or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Applying the migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row holds a value this crate cannot read back.
    #[error("corrupt row in {table}: {what}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong with it.
        what: String,
    },
    /// The write-behind task has stopped.
    #[error("the binding writer has stopped")]
    WriterGone,
    /// The write-behind task could not write the pending changes; they stay queued and
    /// are retried.
    #[error("binding changes are not in the database yet: {0}")]
    NotWritten(String),
}

/// Pool settings for [`Store::connect_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// Largest number of connections.
    pub max_connections: u32,
    /// How long to wait for a connection before reporting the database unavailable.
    pub acquire_timeout: Duration,
    /// How long SQLite waits for a lock held by another connection.
    pub sqlite_busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
        }
    }
}

/// A connection pool to the registrar's tables.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

#[derive(Debug, Clone)]
enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

enum Target {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

fn parse_url(url: &str, opts: &StoreOptions) -> Result<Target, StoreError> {
    if url.starts_with("sqlite:") {
        let o = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::InvalidUrl)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL: a binding lost to a power cut comes back at the device's next
            // REGISTER; provisioning commits are still durable in WAL mode at checkpoint.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(opts.sqlite_busy_timeout);
        Ok(Target::Sqlite(o))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Target::Postgres(
            PgConnectOptions::from_str(url).map_err(StoreError::InvalidUrl)?,
        ))
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

impl Store {
    /// Connects to `url` (`sqlite://./var/vss.db` or `postgres://user@host/db`) and checks
    /// that the database answers. A missing SQLite file and its directory are created.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, &StoreOptions::default()).await
    }

    /// [`Store::connect`] with explicit pool settings.
    pub async fn connect_with(url: &str, opts: &StoreOptions) -> Result<Store, StoreError> {
        let db = match parse_url(url, opts)? {
            Target::Sqlite(o) => {
                create_parent_dir(o.get_filename())?;
                Db::Sqlite(sqlite_pool(opts).connect_with(o).await?)
            }
            Target::Postgres(o) => Db::Postgres(pg_pool(opts).connect_with(o).await?),
        };
        Ok(Store { db })
    }

    /// Builds the pool without connecting, so that the server can start while the
    /// database is away; connections are made on first use.
    pub fn connect_lazy(url: &str, opts: &StoreOptions) -> Result<Store, StoreError> {
        let db = match parse_url(url, opts)? {
            Target::Sqlite(o) => {
                create_parent_dir(o.get_filename())?;
                Db::Sqlite(sqlite_pool(opts).connect_lazy_with(o))
            }
            Target::Postgres(o) => Db::Postgres(pg_pool(opts).connect_lazy_with(o)),
        };
        Ok(Store { db })
    }

    /// A store over an existing SQLite pool (shared with other crates).
    pub fn from_sqlite(pool: SqlitePool) -> Store {
        Store {
            db: Db::Sqlite(pool),
        }
    }

    /// A store over an existing PostgreSQL pool (shared with other crates).
    pub fn from_postgres(pool: PgPool) -> Store {
        Store {
            db: Db::Postgres(pool),
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs.
    pub fn backend_name(&self) -> &'static str {
        match self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }
}

fn sqlite_pool(opts: &StoreOptions) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(opts.acquire_timeout)
}

fn pg_pool(opts: &StoreOptions) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(opts.max_connections.max(1))
        .acquire_timeout(opts.acquire_timeout)
}

/// Applies the registrar migrations (versions 2000–2999).
///
/// Other crates keep their own migrations in the same database and the same
/// `_sqlx_migrations` table, so versions this crate does not know are ignored.
pub async fn migrate(store: &Store) -> Result<(), StoreError> {
    match &store.db {
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

/// One binding as the database holds it: what survives a restart.
///
/// The TCP/TLS connection id is not kept (connections do not survive a restart); a
/// restored binding is reached by opening a connection to its source address, or over
/// UDP, until the device registers again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRecord {
    /// The slot (AOR user).
    pub extension: Extension,
    /// The contact URI as first registered (with `aor`, the row's key).
    pub contact: String,
    /// The Call-ID of the last REGISTER.
    pub call_id: String,
    /// The CSeq number of the last REGISTER.
    pub cseq: u32,
    /// When the binding expires.
    pub expires_at: SystemTime,
    /// The q-value in thousandths.
    pub q: Option<u16>,
    /// The address the REGISTER came from.
    pub source: SocketAddr,
    /// Its transport.
    pub transport: Transport,
    /// The User-Agent.
    pub user_agent: Option<String>,
    /// When the binding was created.
    pub registered_at: SystemTime,
    /// When it was last refreshed.
    pub updated_at: SystemTime,
}

/// One change for the database, as the registrar emits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert or update a binding.
    Upsert(BindingRecord),
    /// Delete the binding of `extension` with `contact`.
    Delete {
        /// The slot.
        extension: Extension,
        /// The contact text, as in [`BindingRecord::contact`].
        contact: String,
    },
}

impl Change {
    /// The row the change is about.
    pub(crate) fn key(&self) -> (Extension, &str) {
        match self {
            Change::Upsert(r) => (r.extension, &r.contact),
            Change::Delete { extension, contact } => (*extension, contact),
        }
    }
}

pub(crate) fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    if ms >= 0 {
        UNIX_EPOCH + Duration::from_millis(ms.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_millis(ms.unsigned_abs())
    }
}

pub(crate) fn utc(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

pub(crate) fn transport_name(t: Transport) -> &'static str {
    t.as_str()
}

pub(crate) fn parse_transport(s: &str) -> Option<Transport> {
    match Transport::from_token(s.as_bytes()) {
        Transport::Other => None,
        t => Some(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_pick_the_back_end() {
        let o = StoreOptions::default();
        assert!(matches!(
            parse_url("sqlite://./var/vss.db", &o),
            Ok(Target::Sqlite(_))
        ));
        assert!(matches!(
            parse_url("postgresql://u@localhost/db", &o),
            Ok(Target::Postgres(_))
        ));
        assert!(matches!(
            parse_url("mysql://x", &o),
            Err(StoreError::UnsupportedUrl(s)) if s == "mysql"
        ));
    }

    #[test]
    fn migrations_are_numbered_in_the_registrar_range() {
        let m = sqlx::migrate!("migrations/sqlite");
        let p = sqlx::migrate!("migrations/postgres");
        let v: Vec<i64> = m.iter().map(|x| x.version).collect();
        let pv: Vec<i64> = p.iter().map(|x| x.version).collect();
        assert_eq!(v, pv);
        assert!(!v.is_empty() && v.iter().all(|n| (2000..3000).contains(n)));
    }

    #[test]
    fn times_round_trip_through_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(from_millis(millis(t)), t);
        let before = UNIX_EPOCH - Duration::from_millis(5);
        assert_eq!(from_millis(millis(before)), before);
        assert_eq!(parse_transport("tls"), Some(Transport::Tls));
        assert_eq!(parse_transport("pigeon"), None);
    }
}
