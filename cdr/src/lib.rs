//! Call detail records (flow F-13): one durable record per call, covering both legs.
//!
//! The path of a record:
//! 1. The call layer (through an adapter in the binary; this crate knows nothing of SIP)
//!    builds a [`CallRecord`] and calls [`CdrWriter::write`], which returns once the
//!    record is fsync'd in the local [`Journal`] (group commit: concurrent writes share
//!    one fsync). Only then is the call's final response sent.
//! 2. A shipper task reads the journal and inserts batches into the database (after a
//!    batch smaller than the maximum it waits [`WriterConfig::ship_interval`], so that
//!    steady traffic is not shipped record by record) —
//!    SQLite (embedded default) or PostgreSQL, one [`Db`] API over both — with
//!    `INSERT ... ON CONFLICT (call_id) DO NOTHING` in one transaction, so a replay never
//!    duplicates. While the database is down, records wait in the journal; the shipper
//!    retries with backoff, logs once when the database goes and once when it returns,
//!    and at start replays whatever was not shipped.
//! 3. The control API reads records back with [`Db::list`] (filters, keyset paging),
//!    [`Db::get`], [`Db::count`] and [`Db::export_csv`]. Tools written for Asterisk read
//!    the `cdr` view, which has Asterisk's column names.
//!
//! Migrations (versions 1000–1999, one set per back end) are applied by [`migrate`].
//! Metrics are listed in [`metrics`].

// Tests may unwrap; the library build (linted on its own) may not.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod csv;
mod db;
mod error;
pub mod journal;
pub mod metrics;
mod query;
mod record;
mod sql;
mod writer;

pub use csv::{CSV_HEADER, write_csv_header, write_csv_record};
pub use db::{Db, DbOptions, MAX_ROWS_PER_STATEMENT, migrate};
pub use error::{JournalError, StoreError, WriteError};
pub use journal::{Journal, JournalOptions, JournalStats, Position};
pub use query::{CdrFilter, CdrPage, MAX_PAGE_SIZE};
pub use record::{CallRecord, Direction, Disposition, HangupSide, LegQuality, Recording};
pub use writer::{CdrWriter, FlushOutcome, ShipperStats, WriterConfig};
