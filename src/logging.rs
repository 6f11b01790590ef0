//! Logging: `tracing` events to standard error, filtered like `RUST_LOG`.
//!
//! The filter is `RUST_LOG` when that is set (the developer's habit wins), else the
//! configuration's `log.filter` (default `info`, environment `VSS_LOG__FILTER`).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::ParseError;

use crate::config::LogConfig;

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum LogError {
    /// `RUST_LOG` holds a directive the filter syntax does not accept.
    #[error("RUST_LOG={value:?} is not a valid log filter: {source}")]
    RustLog {
        /// The variable's value.
        value: String,
        /// The parser's complaint.
        source: ParseError,
    },
    /// `RUST_LOG` is set but not valid UTF-8.
    #[error("RUST_LOG is not valid UTF-8")]
    RustLogNotUtf8,
    /// `log.filter` does not parse (validation catches this first; kept for callers that
    /// build a `LogConfig` by hand).
    #[error("log.filter {value:?} is not a valid log filter: {source}")]
    Config {
        /// The configured filter.
        value: String,
        /// The parser's complaint.
        source: ParseError,
    },
}

/// Parses a `RUST_LOG`-style filter (`info`, `vss=debug,sip_core=trace`). PostgreSQL's
/// notices ("relation ... already exists, skipping" at every migration) are kept at
/// `warn` unless the filter names `sqlx` itself.
pub(crate) fn parse_filter(directives: &str) -> Result<EnvFilter, ParseError> {
    let filter = EnvFilter::builder().parse(directives)?;
    if directives.contains("sqlx") {
        return Ok(filter);
    }
    Ok(filter.add_directive("sqlx::postgres::notice=warn".parse()?))
}

/// The filter to use: `rust_log` (the `RUST_LOG` value) when set and non-empty, else the
/// configured one.
pub(crate) fn filter(config: &LogConfig, rust_log: Option<&str>) -> Result<EnvFilter, LogError> {
    match rust_log.filter(|v| !v.trim().is_empty()) {
        Some(value) => parse_filter(value).map_err(|source| LogError::RustLog {
            value: value.to_owned(),
            source,
        }),
        None => parse_filter(&config.filter).map_err(|source| LogError::Config {
            value: config.filter.clone(),
            source,
        }),
    }
}

/// Installs the global subscriber: human-readable lines on standard error (colours only on
/// a terminal). The first call wins; later calls (tests, a second command in one process)
/// leave it in place and return `Ok`.
pub(crate) fn init(config: &LogConfig) -> Result<(), LogError> {
    let rust_log = match std::env::var("RUST_LOG") {
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => return Err(LogError::RustLogNotUtf8),
    };
    let filter = filter(config, rust_log.as_deref())?;
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
    if installed.is_err() {
        tracing::debug!("a log subscriber is already installed; keeping it");
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn config(filter: &str) -> LogConfig {
        LogConfig {
            filter: filter.into(),
        }
    }

    #[test]
    fn rust_log_wins_over_the_configuration() {
        let quiet = "sqlx::postgres::notice=warn";
        let f = filter(&config("info"), Some("vss=trace")).unwrap();
        assert_eq!(f.to_string(), format!("{quiet},vss=trace"));
        let f = filter(&config("warn"), None).unwrap();
        assert_eq!(f.to_string(), format!("{quiet},warn"));
        let f = filter(&config("warn"), Some("  ")).unwrap();
        assert_eq!(f.to_string(), format!("{quiet},warn"));
    }

    #[test]
    fn a_filter_naming_sqlx_keeps_its_notices() {
        let f = filter(&config("info,sqlx=debug"), None).unwrap();
        assert_eq!(f.to_string(), "sqlx=debug,info");
    }

    #[test]
    fn bad_filters_are_errors_naming_their_source() {
        let e = filter(&config("info"), Some("vss=loud"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("RUST_LOG=\"vss=loud\""), "{e}");
        let e = filter(&config("vss=loud"), None).unwrap_err().to_string();
        assert!(e.starts_with("log.filter \"vss=loud\""), "{e}");
    }

    #[test]
    fn init_twice_is_harmless() {
        init(&config("info")).unwrap();
        init(&config("debug")).unwrap();
    }
}
