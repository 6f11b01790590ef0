//! `vss migrate`: apply every database migration (the registrar's and the CDR store's)
//! to `database.url` and stop. `vss serve` applies the same ones at start; running them
//! first lets an upgrade fail early, before the server is stopped (docs/operations.md).

use std::io::Write;

use anyhow::Context;

use crate::config::{Config, LoadOptions};

pub(crate) fn run(options: &LoadOptions, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = Config::load(options)?;
    crate::logging::init(&config.log)?;
    let url = &config.database.url;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = registrar::Store::connect(url.expose())
            .await
            .with_context(|| format!("cannot open the database {}", url.masked()))?;
        let migrated = registrar::migrate(&store)
            .await
            .context("registrar migrations");
        store.close().await;
        migrated?;
        let db = cdr::Db::connect(url.expose())
            .await
            .with_context(|| format!("cannot open the database {}", url.masked()))?;
        let migrated = cdr::migrate(&db).await.context("CDR migrations");
        db.close().await;
        migrated?;
        anyhow::Ok(())
    })?;
    writeln!(
        out,
        "{}: registrar and CDR migrations applied; the schema is current",
        url.masked()
    )?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    fn run(args: &[&str], env: &[(&str, &str)]) -> (String, String) {
        let (_, out, err) = crate::cli::run_with(args, env);
        (out, err)
    }

    #[test]
    fn migrate_creates_the_schema_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("vss.db");
        let url = format!("sqlite://{}", db.display());
        let env = [("VSS_DATABASE__URL", url.as_str())];
        for _ in 0..2 {
            let (out, err) = run(&["vss", "migrate"], &env);
            assert!(out.contains("migrations applied"), "out: {out}\nerr: {err}");
        }
        // Both crates' tables are there: provisioning (registrar) and the CDR view work.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = registrar::Store::connect(&url).await.unwrap();
            assert!(store.load_slots().await.unwrap().is_empty());
            store.close().await;
            let cdrs = cdr::Db::connect(&url).await.unwrap();
            assert_eq!(cdrs.count(&cdr::CdrFilter::default()).await.unwrap(), 0);
            cdrs.close().await;
        });
    }

    #[test]
    fn migrate_names_a_database_it_cannot_reach() {
        let (out, err) = run(
            &["vss", "migrate"],
            &[("VSS_DATABASE__URL", "postgres://nobody@127.0.0.1:1/none")],
        );
        assert!(out.is_empty(), "{out}");
        assert!(err.contains("cannot open the database"), "{err}");
    }
}
