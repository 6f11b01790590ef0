//! Metric names and recording helpers (the `metrics` facade; the binary installs the
//! Prometheus exporter).

use std::time::Duration;

/// Gauge: records durable in the journal and not yet in the database.
pub const JOURNAL_DEPTH: &str = "cdr_journal_depth";
/// Histogram: seconds one group commit spent in write + fdatasync.
pub const JOURNAL_SYNC_SECONDS: &str = "cdr_journal_sync_seconds";
/// Histogram: records made durable by one fsync (the group-commit factor).
pub const JOURNAL_GROUP_SIZE: &str = "cdr_journal_group_size";
/// Counter: rows newly inserted into the database.
pub const RECORDS_INSERTED: &str = "cdr_records_inserted_total";
/// Counter: batch inserts that failed (each retry counts).
pub const INSERT_FAILURES: &str = "cdr_insert_failures_total";
/// Histogram: seconds per successful batch insert (one transaction).
pub const INSERT_BATCH_SECONDS: &str = "cdr_insert_batch_seconds";
/// Counter: records set aside in `rejected.jsonl` because the database refused them.
pub const RECORDS_REJECTED: &str = "cdr_records_rejected_total";

/// Registers descriptions for every CDR metric; call once after installing a recorder.
pub fn describe() {
    metrics::describe_gauge!(
        JOURNAL_DEPTH,
        "CDRs durable in the local journal and not yet in the database"
    );
    metrics::describe_histogram!(
        JOURNAL_SYNC_SECONDS,
        metrics::Unit::Seconds,
        "Time of one journal group commit (write + fdatasync)"
    );
    metrics::describe_histogram!(JOURNAL_GROUP_SIZE, "CDRs made durable by one journal fsync");
    metrics::describe_counter!(RECORDS_INSERTED, "CDR rows inserted into the database");
    metrics::describe_counter!(INSERT_FAILURES, "CDR batch inserts that failed");
    metrics::describe_histogram!(
        INSERT_BATCH_SECONDS,
        metrics::Unit::Seconds,
        "Time of one CDR batch insert transaction"
    );
    metrics::describe_counter!(
        RECORDS_REJECTED,
        "CDRs the database refused for good, kept in rejected.jsonl"
    );
}

pub(crate) fn journal_depth(depth: u64) {
    metrics::gauge!(JOURNAL_DEPTH).set(depth as f64);
}

pub(crate) fn journal_sync(took: Duration, records: usize) {
    metrics::histogram!(JOURNAL_SYNC_SECONDS).record(took.as_secs_f64());
    metrics::histogram!(JOURNAL_GROUP_SIZE).record(records as f64);
}

pub(crate) fn inserted(rows: u64, took: Duration) {
    metrics::counter!(RECORDS_INSERTED).increment(rows);
    metrics::histogram!(INSERT_BATCH_SECONDS).record(took.as_secs_f64());
}

pub(crate) fn insert_failed() {
    metrics::counter!(INSERT_FAILURES).increment(1);
}

pub(crate) fn rejected() {
    metrics::counter!(RECORDS_REJECTED).increment(1);
}
