//! `vss provision slots FILE.csv`: bulk slots and SIP credentials (CONTRACT.md).
//!
//! The file's header is `extension,password,hub,kind` (any column order, `hub` may be
//! empty). Every row is checked first; a bad file is refused as a whole with every bad
//! line named. Valid files are written in one transaction to `database.url` (after the
//! registrar's migrations), with HA1 hashes for the realm `sip.domain`; re-running a file
//! updates the slots instead of duplicating them. Works with the server stopped; a running
//! server picks the slots up when it reloads them (see the registrar crate docs).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use clap::Subcommand;

use crate::config::{Config, LoadOptions};

/// What `vss provision` provisions.
#[derive(Debug, Subcommand)]
pub(crate) enum ProvisionCommand {
    /// Add or update slots from a CSV file with the header `extension,password,hub,kind`
    /// (kind AUTO, MF or LS, matching the extension's range; hub optional).
    Slots {
        /// The CSV file.
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
    },
}

/// Runs one `vss provision` command.
pub(crate) fn run(
    options: &LoadOptions,
    command: ProvisionCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let config = Config::load(options)?;
    crate::logging::init(&config.log)?;
    match command {
        ProvisionCommand::Slots { file } => slots(&config, &file, out),
    }
}

fn slots(config: &Config, file: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let rows =
        registrar::provision::parse_slots_csv(input).with_context(|| file.display().to_string())?;
    let realm = &config.sip.domain;
    let url = &config.database.url;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let summary = runtime.block_on(async {
        let store = registrar::Store::connect(url.expose())
            .await
            .with_context(|| format!("cannot open the database {}", url.masked()))?;
        registrar::migrate(&store).await?;
        let summary =
            registrar::provision::provision(&store, realm, &rows, SystemTime::now()).await;
        store.close().await;
        anyhow::Ok(summary?)
    })?;
    writeln!(
        out,
        "{}: {} slots for realm {realm}: {} added, {} updated, {} unchanged",
        file.display(),
        rows.len(),
        summary.added,
        summary.updated,
        summary.unchanged
    )?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    fn run(args: &[&str]) -> (u8, String, String) {
        crate::cli::run_with(args, &[])
    }

    #[test]
    fn provision_slots_adds_then_updates_and_refuses_bad_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("var/vss.db");
        let config = dir.path().join("vss.toml");
        std::fs::write(
            &config,
            format!(
                "[sip]\ndomain = \"vss.test\"\n[database]\nurl = \"sqlite://{}\"\n",
                db.display()
            ),
        )
        .unwrap();
        let csv = dir.path().join("slots.csv");
        std::fs::write(
            &csv,
            "extension,password,hub,kind\n6001,pw1,auto1,AUTO\n7001,pw2,,MF\n",
        )
        .unwrap();
        let (config, csv) = (config.to_str().unwrap(), csv.to_str().unwrap());

        let (code, out, err) = run(&["vss", "provision", "slots", csv, "--config", config]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("2 slots for realm vss.test: 2 added, 0 updated, 0 unchanged"),
            "{out}"
        );
        let (code, out, _) = run(&["vss", "-c", config, "provision", "slots", csv]);
        assert_eq!(code, 0);
        assert!(out.contains("0 added, 0 updated, 2 unchanged"), "{out}");

        let bad = dir.path().join("bad.csv");
        std::fs::write(
            &bad,
            "extension,password,hub,kind\n6002,pw,,AUTO\n6003,pw,,LS\n",
        )
        .unwrap();
        let (code, out, err) = run(&[
            "vss",
            "provision",
            "slots",
            bad.to_str().unwrap(),
            "-c",
            config,
        ]);
        assert_eq!(code, crate::cli::EXIT_BAD_INPUT);
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("bad.csv") && err.contains("line 3:"), "{err}");

        let (code, _, err) = run(&[
            "vss",
            "provision",
            "slots",
            "/nonexistent.csv",
            "-c",
            config,
        ]);
        assert_eq!(code, crate::cli::EXIT_FAILURE);
        assert!(err.contains("cannot open /nonexistent.csv"), "{err}");
    }
}
