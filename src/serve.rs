//! `vss serve`: everything in one process, started in order and stopped in order.

use std::time::Duration;

use anyhow::Context;
use sip_core::transaction::{Config as TransactionConfig, TransactionLayer};
use tokio::sync::watch;

use crate::config::Config;
use crate::sip::server::SipCore;
use crate::sip::transport::{StreamLimits, Transports};

/// Messages waiting between the transports and the SIP core before new ones are dropped.
const INBOUND_QUEUE: usize = 65_536;

/// Run the server until SIGINT or SIGTERM.
pub(crate) fn run(config: &Config, demo: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vss")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, demo))
}

async fn serve(config: &Config, demo: bool) -> anyhow::Result<()> {
    tracing::info!(version = env!("CARGO_PKG_VERSION"), demo, domain = %config.sip.domain, "vss starting");
    let (transports, inbound) =
        Transports::bind(&config.sip, StreamLimits::default(), INBOUND_QUEUE)
            .await
            .context("cannot open the SIP sockets")?;
    let layer_config = TransactionConfig {
        t1: Duration::from_millis(config.sip.t1_ms),
        t2: Duration::from_millis(config.sip.t2_ms),
        t4: Duration::from_millis(config.sip.t4_ms),
        force_rport: config.sip.force_rport,
        tag_secret: rand::random(),
        ..TransactionConfig::default()
    };
    let layer = TransactionLayer::new(layer_config).context("transaction timers")?;
    let media = media::start(crate::media_engine::settings(config))
        .context("cannot start the media engine")?;
    if let Some(ng) = &media.ng {
        tracing::info!(addr = %ng.local_addr(), "media control (rtpengine ng protocol) listening");
    }
    let media_events = tokio::spawn(drain_media_events(media.events));
    let advertised = crate::media_engine::advertised_ip(config);
    let started = crate::registrar_setup::start(config, transports.bound(), advertised).await?;
    let core = SipCore::new(layer, transports, &config.sip.user_agent, started.registrar);
    let (stop_tx, stop_rx) = watch::channel(false);
    let core_task = tokio::spawn(core.run(inbound, stop_rx));
    tracing::info!("vss ready");

    shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), core_task).await;
    if let Err(e) = started.writer.shutdown().await {
        tracing::warn!(error = %e, "registrar database writes not flushed");
    }
    drop(media.ng);
    drop(media.engine);
    media_events.abort();
    tracing::info!("vss stopped");
    Ok(())
}

/// Media events (timeouts, DTMF, recordings) until a module consumes them: the engine
/// also serves rtpengine-style control over its ng port, whose users get the same
/// information by querying.
async fn drain_media_events(mut events: tokio::sync::mpsc::Receiver<media::MediaEvent>) {
    while let Some(event) = events.recv().await {
        tracing::debug!(?event, "media event");
    }
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd, kill).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops vss");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
