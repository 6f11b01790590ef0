//! Errors, one enum per concern: the database store, the journal, the writer handle.

use std::path::PathBuf;

/// An error from the database side: connecting, migrating, inserting, querying.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database URL is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported database URL scheme in {0:?} (expected sqlite:// or postgres://)")]
    UnsupportedUrl(String),
    /// The URL names the right back end but could not be parsed.
    #[error("invalid database URL: {0}")]
    InvalidUrl(#[source] sqlx::Error),
    /// The directory holding the SQLite file could not be created.
    #[error("cannot create database directory {path}: {source}")]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Applying the CDR migrations failed.
    #[error("CDR migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database (or the connection to it) reported an error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A paging cursor was not one this crate produced.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A stored row holds a value this version cannot read (e.g. an unknown disposition).
    #[error("stored CDR row is invalid: column {column}: {detail}")]
    InvalidRow {
        /// The column holding the bad value.
        column: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// Writing CSV output failed.
    #[error("writing CSV failed: {0}")]
    Output(#[source] std::io::Error),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed (the database is away, a
    /// connection broke, the pool is exhausted, the schema is not there yet) as opposed to
    /// an error that the data itself causes and that a retry would only repeat.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Database(e) => sqlx_error_is_transient(e),
            StoreError::Migrate(_) => true,
            _ => false,
        }
    }
}

fn sqlx_error_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                // SQLSTATE class 22 (data exception) and 23 (integrity constraint) are
                // caused by the row; everything else (connection failure, shutdown,
                // missing database or table, lock timeout) passes with time.
                let code = pg.code();
                !(code.starts_with("22") || code.starts_with("23"))
            } else {
                // SQLite result codes: the primary code is the low byte of the extended
                // one. TOOBIG (18), CONSTRAINT (19), MISMATCH (20) and RANGE (25) come
                // from the row; BUSY, LOCKED, IOERR, "no such table" do not.
                let primary = db
                    .code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .map(|c| c & 0xff);
                !matches!(primary, Some(18 | 19 | 20 | 25))
            }
        }
        sqlx::Error::Encode(_) | sqlx::Error::InvalidArgument(_) => false,
        _ => true,
    }
}

/// An error from the local journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// A file operation on the journal failed.
    #[error("journal I/O error on {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another `Journal` in this one) holds the journal directory.
    #[error("journal directory {0} is locked by another writer")]
    Locked(PathBuf),
    /// A file in the journal directory is not a journal segment this version can read.
    #[error("{path} is not a CDR journal segment: {detail}")]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// An encoded record is larger than a journal frame may be (1 MiB).
    #[error("CDR too large for the journal: {0} bytes")]
    TooLarge(usize),
    /// A record could not be encoded.
    #[error("cannot encode CDR: {0}")]
    Encode(#[source] serde_json::Error),
    /// A durable record failed its checksum while being read back: the disk lost data
    /// after it was synced. Reopening the journal truncates at that point.
    #[error("journal segment {path} is corrupt at offset {offset}")]
    Corrupt {
        /// The segment.
        path: PathBuf,
        /// Where the bad frame starts.
        offset: u64,
    },
    /// An earlier write or fsync failed, so the journal refuses appends until it is
    /// reopened (after an fsync error the kernel may have dropped the unsynced pages,
    /// so nothing written since the last good sync can be trusted).
    #[error("journal is failed after an earlier I/O error: {0}")]
    Failed(String),
    /// The journal was closed.
    #[error("journal is closed")]
    Closed,
}

impl JournalError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: path.into(),
            source,
        }
    }
}

/// An error from [`crate::CdrWriter`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The record could not be made durable in the journal; the caller must treat the
    /// CDR as not written.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The writer was shut down.
    #[error("CDR writer is shut down")]
    ShutDown,
    /// [`crate::CdrWriter::start`] was called outside a tokio runtime.
    #[error("CDR writer must be started inside a tokio runtime")]
    NoRuntime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_problems_are_transient_and_bad_data_is_not() {
        let io = StoreError::Database(sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(io.is_transient());
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_transient());
        assert!(!StoreError::Database(sqlx::Error::Encode("x".into())).is_transient());
        assert!(!StoreError::InvalidCursor.is_transient());
    }
}
