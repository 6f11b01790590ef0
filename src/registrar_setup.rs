//! The registrar in `vss serve`: `[registrar]` and `[sip]` mapped onto the registrar
//! crate, its slots and bindings loaded from the database, its write-behind started
//! (the call order of the registrar crate's documentation, steps 1–5).

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use registrar::{
    BruteForceConfig, LocalAddr, QualifyConfig, Registrar, RegistrarConfig, Store, WriteBehind,
    WriterConfig, WriterHandle,
};

use crate::config::Config;
use crate::sip::transport::BoundAddr;

/// A registrar ready for the SIP core, and the handle that flushes its writes at exit.
pub(crate) struct Started {
    /// The registrar.
    pub(crate) registrar: Registrar,
    /// The database writer.
    pub(crate) writer: WriterHandle,
}

/// Connect, migrate, load, restore, start the writer.
pub(crate) async fn start(
    config: &Config,
    bound: &[BoundAddr],
    advertised: IpAddr,
    secret: &[u8],
    demo: bool,
) -> anyhow::Result<Started> {
    let url = config.database.url.expose();
    let store = Store::connect(url).await.with_context(|| {
        format!(
            "database.url {}: cannot connect",
            config.database.url.masked()
        )
    })?;
    registrar::migrate(&store)
        .await
        .context("registrar migrations")?;
    let wall = SystemTime::now();
    let mut registrar = Registrar::new(settings(config, bound, advertised), secret, wall)
        .context("registrar settings")?;
    let mut slots = store
        .load_slots()
        .await
        .context("cannot load the provisioned slots")?;
    if demo {
        let password = crate::secrets::demo_password()?;
        if slots.is_empty() {
            provision_demo(config, &store, wall, &password).await?;
            slots = store
                .load_slots()
                .await
                .context("cannot load the provisioned slots")?;
        }
        tracing::info!(
            slots = %demo_extensions(config).1,
            %password,
            domain = %config.sip.domain,
            "demo: register a softphone as sip:EXTENSION@DOMAIN with this password"
        );
    }
    let report = registrar.set_slots(slots);
    tracing::info!(?report, "slots loaded");
    let purged = store
        .purge_expired_bindings(wall)
        .await
        .context("cannot purge expired bindings")?;
    let records = store
        .load_bindings(wall)
        .await
        .context("cannot load the bindings")?;
    let restored = registrar.restore(Instant::now(), wall, records);
    tracing::info!(purged, ?restored, "bindings restored");
    let (sink, writer) = WriteBehind::spawn(
        store,
        WriterConfig::default()
            .with_batch_delay(Duration::from_millis(config.registrar.write_delay_ms)),
    );
    registrar.set_store(sink);
    Ok(Started { registrar, writer })
}

fn settings(config: &Config, bound: &[BoundAddr], advertised: IpAddr) -> RegistrarConfig {
    let r = &config.registrar;
    let mut c = RegistrarConfig::new(config.sip.domain.clone());
    c.min_expires = r.min_expires;
    c.default_expires = r.default_expires;
    c.max_expires = r.max_expires;
    c.max_contacts = r.max_contacts;
    c.nonce_lifetime = Duration::from_secs(r.nonce_lifetime_s);
    let mut brute = BruteForceConfig::default();
    brute.threshold = r.block_threshold;
    brute.window = Duration::from_secs(r.block_window_s);
    brute.cooldown = Duration::from_secs(r.block_cooldown_s);
    c.brute_force = brute;
    // Devices configured with an address instead of the domain put it in To.
    let mut aliases = r.domain_aliases.clone();
    for b in bound {
        let ip = if b.addr.ip().is_unspecified() {
            advertised
        } else {
            b.addr.ip()
        };
        let text = ip.to_string();
        if !aliases.contains(&text) {
            aliases.push(text);
        }
    }
    c.domain_aliases = aliases;
    let mut qualify = QualifyConfig::default();
    qualify.interval = Duration::from_secs(r.qualify_interval_s);
    qualify.local = bound
        .iter()
        .map(|b| LocalAddr {
            transport: b.transport,
            host: if b.addr.ip().is_unspecified() {
                advertised
            } else {
                b.addr.ip()
            }
            .to_string(),
            port: b.addr.port(),
        })
        .collect();
    c.qualify = qualify;
    c
}

/// The demo hubs' extensions, numbered per kind in the order the hubs are listed, and a
/// description of the ranges for the log.
fn demo_extensions(config: &Config) -> (Vec<(registrar::Extension, String)>, String) {
    let mut next: std::collections::HashMap<u16, u16> = std::collections::HashMap::new();
    let mut out = Vec::new();
    let mut ranges = Vec::new();
    for hub in &config.hubs {
        let first = hub.kind.first_extension();
        let start = *next.get(&first).unwrap_or(&first);
        let end = start + hub.slots - 1;
        out.extend(
            (start..=end).filter_map(|n| Some((registrar::Extension::new(n)?, hub.name.clone()))),
        );
        ranges.push(format!("{start}-{end} ({})", hub.name));
        next.insert(first, end + 1);
    }
    (out, ranges.join(", "))
}

/// `--demo` with an empty slot table: provision the demo hubs' slots with the demo
/// password, so that a softphone can register as a slot right away.
async fn provision_demo(
    config: &Config,
    store: &Store,
    wall: SystemTime,
    password: &str,
) -> anyhow::Result<()> {
    let (extensions, ranges) = demo_extensions(config);
    let slots: Vec<registrar::Slot> = extensions
        .into_iter()
        .map(|(ext, hub)| {
            registrar::Slot::with_password(ext, Some(hub), &config.sip.domain, password)
        })
        .collect();
    store
        .provision_slots(&slots, wall)
        .await
        .context("cannot provision the demo slots")?;
    tracing::info!(slots = %ranges, "demo: slots provisioned");
    Ok(())
}
