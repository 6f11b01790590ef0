//! The command line: `vss [--config FILE] <COMMAND>`.
//!
//! Exit status: 0 on success (and for `--help`/`--version`); 2 for bad input, that is a
//! usage error, an invalid configuration or an invalid `RUST_LOG`; 1 for any other failure.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigError, LoadOptions};
use crate::logging::LogError;

/// VSS: a SIP stack and B2BUA for slot-based telephony.
#[derive(Debug, Parser)]
#[command(name = "vss", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Configuration file (TOML). Without it, ./vss.toml is read if it exists; environment
    /// variables VSS_SECTION__KEY override either.
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Load tools.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Run the server: SIP on the configured listeners, until SIGINT or SIGTERM.
    Serve {
        /// Run on the embedded defaults: SQLite in ./var, simulated hubs.
        #[arg(long)]
        demo: bool,
    },
    /// Apply the database migrations to database.url and stop (serve also applies them).
    Migrate,
    /// Bulk-provision slots and their SIP credentials into the database.
    Provision {
        /// What to provision.
        #[command(subcommand)]
        what: crate::provision::ProvisionCommand,
    },
    /// Validate the configuration and print the effective configuration as TOML, with
    /// secrets shown as "***".
    CheckConfig {
        /// Check the configuration `vss serve --demo` would use (the demo's simulated hubs
        /// under the file and the environment).
        #[arg(long)]
        demo: bool,
    },
}

/// `vss bench ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum BenchCommand {
    /// RTP relay load: N calls set up through an ng control port, G.711 both ways; prints
    /// offered/delivered packets, loss, latency, the relay's CPU per packet and the whole
    /// machine's busy CPU per packet (/proc/stat). --direct runs the same traffic with no
    /// relay; --baseline runs that right after the relay run and prints the relay's
    /// system-wide cost per packet.
    Rtp(crate::bench::RtpArgs),
}

/// Exit status for bad input: a usage error (as clap uses) or an invalid configuration.
pub(crate) const EXIT_BAD_INPUT: u8 = 2;
/// Exit status for any other failure.
pub(crate) const EXIT_FAILURE: u8 = 1;

/// Runs `vss` with `args` (program name first) in environment `env`, writing the command's
/// output to `out` and diagnostics to `err`.
pub(crate) fn run(
    args: impl IntoIterator<Item = OsString>,
    env: impl IntoIterator<Item = (OsString, OsString)>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to standard output with status 0; usage errors to
            // standard error with status 2 (clap's convention).
            let text = e.render().to_string();
            // Nothing sensible remains to do if the terminal is gone.
            let _ = if e.use_stderr() {
                err.write_all(text.as_bytes())
            } else {
                out.write_all(text.as_bytes())
            };
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(EXIT_BAD_INPUT));
        }
    };
    match dispatch(cli, env, out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(err, "vss: error: {}", one_line(&e));
            let bad_input = e.downcast_ref::<ConfigError>().is_some()
                || e.downcast_ref::<LogError>().is_some()
                || e.downcast_ref::<registrar::ProvisionError>()
                    .is_some_and(registrar::ProvisionError::is_bad_input);
            ExitCode::from(if bad_input {
                EXIT_BAD_INPUT
            } else {
                EXIT_FAILURE
            })
        }
    }
}

/// The error and its causes on one line. Libraries disagree on whether `Display` repeats
/// the source's message, so a cause already quoted is not repeated.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line.replace(['\n', '\r'], " ")
}

fn dispatch(
    cli: Cli,
    env: impl IntoIterator<Item = (OsString, OsString)>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let load = |demo| LoadOptions::for_process(cli.config.clone(), demo, env);
    match cli.command {
        Command::CheckConfig { demo } => check_config(&load(demo)?, out),
        Command::Migrate => crate::migrate::run(&load(false)?, out),
        Command::Provision { what } => crate::provision::run(&load(false)?, what, out),
        Command::Bench(BenchCommand::Rtp(args)) => {
            // The configuration only supplies the default ng address.
            let config_ng = if args.needs_config_ng() {
                Config::load(&load(false)?)?.media.ng_listen
            } else {
                None
            };
            crate::bench::rtp(&args, config_ng, out)
        }
        Command::Serve { demo } => {
            let config = Config::load(&load(demo)?)?;
            crate::logging::init(&config.log)?;
            crate::serve::run(&config, demo)
        }
    }
}

/// `vss check-config`: load and validate, then print the effective configuration.
fn check_config(options: &LoadOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = Config::load(options)?;
    let provenance = options.provenance();
    crate::logging::init(&config.log)?;
    tracing::debug!(sources = %provenance, "configuration is valid");
    writeln!(
        out,
        "# Effective vss configuration; secrets are shown as \"***\".\n\
         # Sources, later ones winning: {provenance}.\n"
    )?;
    out.write_all(config.to_toml()?.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Runs `vss` with `args` and the environment `env` in-process, for tests: the exit
/// code (0, [`EXIT_FAILURE`], [`EXIT_BAD_INPUT`], or 255 for anything else), standard
/// output and standard error.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn run_with(args: &[&str], env: &[(&str, &str)]) -> (u8, String, String) {
    use std::ffi::OsString;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(
        args.iter().map(OsString::from),
        env.iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        &mut out,
        &mut err,
    );
    // ExitCode has no accessor; compare with the ones `run` can return.
    let code = [0u8, EXIT_FAILURE, EXIT_BAD_INPUT]
        .into_iter()
        .find(|c| ExitCode::from(*c) == code)
        .unwrap_or(u8::MAX);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn error_chains_print_on_one_line_without_repeats() {
        let io = std::io::Error::other("disk on fire");
        let e = anyhow::Error::new(ConfigError::File {
            path: "vss.toml".into(),
            source: io,
        });
        assert_eq!(
            one_line(&e),
            "cannot read configuration file vss.toml: disk on fire"
        );
        let e = anyhow::Error::msg("inner\nsecond line").context("outer");
        assert_eq!(one_line(&e), "outer: inner second line");
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn config_is_accepted_before_and_after_the_subcommand() {
        for args in [
            ["vss", "--config", "a.toml", "check-config"],
            ["vss", "check-config", "--config", "a.toml"],
            ["vss", "-c", "a.toml", "check-config"],
            ["vss", "check-config", "-c", "a.toml"],
        ] {
            let cli = Cli::try_parse_from(args).unwrap();
            assert_eq!(cli.config, Some(PathBuf::from("a.toml")), "{args:?}");
            assert!(matches!(cli.command, Command::CheckConfig { demo: false }));
        }
        let cli = Cli::try_parse_from(["vss", "check-config", "--demo"]).unwrap();
        assert!(matches!(cli.command, Command::CheckConfig { demo: true }));
    }

    #[test]
    fn help_and_version_succeed_on_stdout() {
        for args in [
            &["vss", "--help"][..],
            &["vss", "check-config", "--help"],
            &["vss", "help", "check-config"],
        ] {
            let (code, out, err) = run_with(args, &[]);
            assert_eq!(code, 0, "{args:?}");
            assert!(out.contains("Usage: vss"), "{args:?}: {out}");
            assert!(out.contains("--config <FILE>"), "{args:?}: {out}");
            assert!(err.is_empty());
        }
        let (code, out, _) = run_with(&["vss", "--version"], &[]);
        assert_eq!(code, 0);
        assert_eq!(out.trim(), concat!("vss ", env!("CARGO_PKG_VERSION")));
    }

    #[test]
    fn usage_errors_exit_2_on_stderr() {
        for args in [
            &["vss"][..],
            &["vss", "frobnicate"],
            &["vss", "check-config", "--bogus"],
        ] {
            let (code, out, err) = run_with(args, &[]);
            assert_eq!(code, EXIT_BAD_INPUT, "{args:?}");
            assert!(out.is_empty(), "{args:?}");
            assert!(err.contains("Usage:"), "{args:?}: {err}");
        }
    }

    #[test]
    fn bench_rtp_direct_runs_without_a_relay() {
        let (code, out, err) = run_with(
            &[
                "vss",
                "bench",
                "rtp",
                "--direct",
                "--calls",
                "2",
                "--seconds",
                "1",
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("offered packets  200 "), "{out}");
        assert!(out.contains("delivered        200\n"), "{out}");
        assert!(
            out.contains("relay            none (direct baseline"),
            "{out}"
        );
        assert!(out.contains("machine cpu "), "{out}");
        // A baseline has no relay to address, count or ask to record.
        for extra in [
            &["--ng", "127.0.0.1:22222"][..],
            &["--pid", "1"],
            &["--record"],
            &["--baseline"],
        ] {
            let mut args = vec!["vss", "bench", "rtp", "--direct"];
            args.extend_from_slice(extra);
            let (code, _, err) = run_with(&args, &[]);
            assert_eq!(code, EXIT_BAD_INPUT, "{extra:?}");
            assert!(err.contains("cannot be used with"), "{extra:?}: {err}");
        }
        let (code, out, _) = run_with(&["vss", "bench", "rtp", "--help"], &[]);
        assert_eq!(code, 0);
        assert!(
            out.contains("--direct") && out.contains("--baseline"),
            "{out}"
        );
    }

    #[test]
    fn check_config_prints_a_loadable_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vss.toml");
        std::fs::write(
            &file,
            "[sip]\ndomain = \"vss.example.net\"\n[api]\njwt_secret = \"0123456789abcdef0123456789abcdef\"\n",
        )
        .unwrap();
        let file = file.to_str().unwrap();
        let (code, out, err) = run_with(
            &["vss", "check-config", "--config", file],
            &[("VSS_MEDIA__RECORD_CALLS", "true")],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.starts_with("# Effective vss configuration"), "{out}");
        assert!(
            out.contains(file) && out.contains("VSS_MEDIA__RECORD_CALLS"),
            "{out}"
        );
        assert!(out.contains("domain = \"vss.example.net\""), "{out}");
        assert!(out.contains("record_calls = true"), "{out}");
        assert!(out.contains("jwt_secret = \"***\""), "{out}");
        assert!(!out.contains("0123456789abcdef"), "{out}");
    }

    #[test]
    fn check_config_demo_shows_the_simulated_hubs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty.toml");
        std::fs::write(&file, "").unwrap();
        let (code, out, err) = run_with(
            &[
                "vss",
                "check-config",
                "--demo",
                "-c",
                file.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.matches("[[hubs]]").count(), 3, "{out}");
        assert!(out.contains("--demo defaults"), "{out}");
    }

    #[test]
    fn a_bad_configuration_is_one_line_and_exit_2() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("vss.toml");
        std::fs::write(&file, "[sip]\nlisten = [\"udp:0.0.0.0:5060\"]\nlistn = 1\n").unwrap();
        let (code, out, err) = run_with(
            &["vss", "check-config", "--config", file.to_str().unwrap()],
            &[],
        );
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("vss: error: unknown key `sip.listn`"),
            "{err}"
        );

        let missing = dir.path().join("missing.toml");
        let (code, _, err) = run_with(
            &["vss", "check-config", "--config", missing.to_str().unwrap()],
            &[],
        );
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(err.contains("cannot read configuration file") && err.contains("missing.toml"));
        assert_eq!(err.lines().count(), 1, "{err}");

        let (code, _, err) = run_with(&["vss", "check-config"], &[("VSS_SIP__T1_MS", "fast")]);
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(
            err.contains("VSS_SIP__T1_MS") && err.contains("\"fast\""),
            "{err}"
        );
    }
}
