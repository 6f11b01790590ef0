//! Metric names and recording helpers (the `metrics` facade; the binary installs the
//! Prometheus exporter and calls [`describe`]).

use sip_core::StatusCode;

/// Counter: failed guesses (wrong password, unknown AOR, another slot's credentials).
pub const AUTH_FAILURES: &str = "vss_registrar_auth_failures_total";
/// Counter: source addresses blocked by brute-force protection.
pub const BLOCKED: &str = "vss_registrar_blocked_total";
/// Counter: REGISTERs refused because their source was blocked.
pub const BLOCKED_REQUESTS: &str = "vss_registrar_blocked_requests_total";
/// Counter: REGISTER responses, by status code (`status` label).
pub const RESPONSES: &str = "vss_registrar_responses_total";
/// Gauge: bindings in the location index.
pub const BINDINGS: &str = "vss_registrar_bindings";
/// Counter: binding events, by kind (`event` label).
pub const EVENTS: &str = "vss_registrar_binding_events_total";
/// Gauge: binding changes waiting for the database.
pub const STORE_PENDING: &str = "vss_registrar_store_pending";
/// Counter: binding changes written to the database.
pub const STORE_WRITTEN: &str = "vss_registrar_store_written_total";
/// Counter: failed database writes (each retry counts).
pub const STORE_FAILURES: &str = "vss_registrar_store_failures_total";

/// Registers descriptions for every registrar metric; call once after installing a
/// recorder.
pub fn describe() {
    metrics::describe_counter!(
        AUTH_FAILURES,
        "REGISTER authentication failures that count towards blocking the source"
    );
    metrics::describe_counter!(BLOCKED, "Source addresses blocked after repeated failures");
    metrics::describe_counter!(
        BLOCKED_REQUESTS,
        "REGISTERs refused because their source is blocked"
    );
    metrics::describe_counter!(RESPONSES, "REGISTER responses by status code");
    metrics::describe_gauge!(BINDINGS, "Bindings in the location index");
    metrics::describe_counter!(EVENTS, "Binding events by kind");
    metrics::describe_gauge!(STORE_PENDING, "Binding changes waiting for the database");
    metrics::describe_counter!(STORE_WRITTEN, "Binding changes written to the database");
    metrics::describe_counter!(STORE_FAILURES, "Failed binding writes to the database");
}

/// The status label without allocating for the codes a registrar sends.
fn status_label(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        416 => "416",
        423 => "423",
        500 => "500",
        503 => "503",
        _ => "other",
    }
}

pub(crate) fn response(status: StatusCode) {
    metrics::counter!(RESPONSES, "status" => status_label(status)).increment(1);
}

pub(crate) fn auth_failure() {
    metrics::counter!(AUTH_FAILURES).increment(1);
}

pub(crate) fn blocked() {
    metrics::counter!(BLOCKED).increment(1);
}

pub(crate) fn blocked_request() {
    metrics::counter!(BLOCKED_REQUESTS).increment(1);
}

pub(crate) fn bindings(count: usize) {
    metrics::gauge!(BINDINGS).set(count as f64);
}

pub(crate) fn event(name: &'static str) {
    metrics::counter!(EVENTS, "event" => name).increment(1);
}

pub(crate) fn store_pending(count: usize) {
    metrics::gauge!(STORE_PENDING).set(count as f64);
}

pub(crate) fn store_written(count: usize) {
    metrics::counter!(STORE_WRITTEN).increment(count as u64);
}

pub(crate) fn store_failure() {
    metrics::counter!(STORE_FAILURES).increment(1);
}
