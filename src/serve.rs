//! `vss serve`: everything in one process, started in order and stopped in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use sip_core::transaction::{Config as TransactionConfig, TransactionLayer};
use tokio::sync::watch;

use crate::config::Config;
use crate::sip::server::{Modules, Shutdown, SipCore};
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
    let coalesce = Duration::from_micros(config.sip.coalesce_us);
    let sip = SipThread::start(coalesce).context("cannot start the SIP thread")?;
    let result = runtime.block_on(serve(config, demo, sip.handle.clone()));
    sip.stop();
    result
}

/// The SIP core's own thread: a current-thread runtime that runs the core task (the
/// transaction layer, the registrar, the B2BUA) and the UDP receivers together. A
/// datagram is then read, handled and answered without crossing threads: no futex
/// wake-up per message, and one `epoll_wait` per burst for both sides. Everything that
/// may block or is heavy per connection (databases, CDR journal, TCP/TLS) stays on the
/// multi-threaded runtime; the media engine has threads of its own.
///
/// Under load the thread coalesces its wake-ups ([`Coalescer`], `sip.coalesce_us`): a
/// sleep and a wake-up per datagram cost more than the message itself.
struct SipThread {
    handle: tokio::runtime::Handle,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl SipThread {
    fn start(coalesce: Duration) -> anyhow::Result<SipThread> {
        let coalescer = Arc::new(Coalescer::new(coalesce));
        let unparked = coalescer.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // The thread is about to wait in epoll: under load, let datagrams gather first.
            .on_thread_park(move || {
                if let Some(pause) = coalescer.before_park(Instant::now()) {
                    std::thread::sleep(pause);
                    coalescer.parking(Instant::now());
                }
            })
            .on_thread_unpark(move || unparked.after_unpark(Instant::now()))
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("vss-sip".into())
            .spawn(move || {
                // Spawned tasks run while this thread is inside block_on.
                runtime.block_on(async {
                    let _ = stopped.await;
                });
            })?;
        Ok(SipThread {
            handle,
            stop,
            thread,
        })
    }

    /// Ends the thread; tasks still on it (the UDP receivers) are dropped.
    fn stop(self) {
        let _ = self.stop.send(());
        if self.thread.join().is_err() {
            tracing::error!("the SIP thread panicked");
        }
    }
}

/// Interrupt moderation for the SIP thread, as a network card does it: when the thread
/// is woken again less than `window` after it went to sleep (messages arrive faster
/// than one per window), it sleeps `window` before it next waits for the sockets, so
/// that one wake-up reads what gathered meanwhile: many datagrams per `recvmmsg` and per
/// `epoll_wait`, instead of a sleep and a wake-up per message. A thread that slept
/// longer than `window` was idle: the next message is served at once. The delay it adds
/// is at most `window` per message, and only under load.
struct Coalescer {
    window: Duration,
    /// When the thread last went to sleep, in nanoseconds since `epoch`.
    parked_at: AtomicU64,
    /// Whether the last sleep ended within `window`.
    busy: AtomicBool,
    epoch: Instant,
}

impl Coalescer {
    fn new(window: Duration) -> Coalescer {
        Coalescer {
            window,
            parked_at: AtomicU64::new(0),
            busy: AtomicBool::new(false),
            epoch: Instant::now(),
        }
    }

    /// The thread has nothing to do at `now`: how long to sleep before it waits for the
    /// sockets, if at all. Call [`Coalescer::parking`] after such a sleep.
    fn before_park(&self, now: Instant) -> Option<Duration> {
        self.parking(now);
        (!self.window.is_zero() && self.busy.load(Ordering::Relaxed)).then_some(self.window)
    }

    /// The thread waits for the sockets from `now` on.
    fn parking(&self, now: Instant) {
        let at = now.saturating_duration_since(self.epoch).as_nanos();
        self.parked_at
            .store(u64::try_from(at).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The thread woke up at `now`.
    fn after_unpark(&self, now: Instant) {
        let parked = self.epoch + Duration::from_nanos(self.parked_at.load(Ordering::Relaxed));
        let slept = now.saturating_duration_since(parked);
        self.busy.store(slept < self.window, Ordering::Relaxed);
    }
}

async fn serve(config: &Config, demo: bool, sip: tokio::runtime::Handle) -> anyhow::Result<()> {
    tracing::info!(version = env!("CARGO_PKG_VERSION"), demo, domain = %config.sip.domain, "vss starting");
    let (transports, inbound) =
        Transports::bind(&config.sip, StreamLimits::default(), INBOUND_QUEUE, &sip)
            .await
            .context("cannot open the SIP sockets")?;
    let layer_config = TransactionConfig {
        t1: Duration::from_millis(config.sip.t1_ms),
        t2: Duration::from_millis(config.sip.t2_ms),
        t4: Duration::from_millis(config.sip.t4_ms),
        force_rport: config.sip.force_rport,
        max_transactions: config.sip.max_transactions,
        tag_secret: rand::random(),
        stateless: Some(crate::sip::server::register_without_credentials),
        ..TransactionConfig::default()
    };
    let layer = TransactionLayer::new(layer_config).context("transaction timers")?;
    let media = media::start(crate::media_engine::settings(config))
        .context("cannot start the media engine")?;
    if let Some(ng) = &media.ng {
        tracing::info!(addr = %ng.local_addr(), "media control (rtpengine ng protocol) listening");
    }
    let advertised = crate::media_engine::advertised_ip(config);
    let secret = match &config.sip.nonce_secret {
        Some(s) => s.expose().as_bytes().to_vec(),
        None => crate::secrets::load_or_create("sip_nonce_secret")?,
    };
    let started =
        crate::registrar_setup::start(config, transports.bound(), advertised, &secret, demo)
            .await?;
    let cdr = crate::calls::cdr_writer(config).await?;
    let engine: Arc<dyn media::MediaControl> = Arc::new(media.engine.clone());
    let echo: Arc<dyn b2bua::EchoMedia> =
        Arc::new(crate::media_engine::EngineEcho(media.engine.clone()));
    let b2bua = crate::calls::b2bua(
        config,
        transports.bound(),
        advertised,
        &secret,
        engine,
        Some(echo),
    )
    .await?;
    let modules = Modules {
        registrar: started.registrar,
        b2bua,
        media_events: media.events,
        cdr,
        node: config.cdr.node.clone(),
    };
    let (core, receivers) = SipCore::new(layer, transports, &config.sip.user_agent, modules);
    let (stop_tx, stop_rx) = watch::channel(false);
    let grace = Duration::from_secs(config.b2bua.shutdown_grace_s);
    let core_task = sip.spawn(core.run(inbound, receivers, stop_rx, Shutdown { grace }));
    tracing::info!("vss ready");

    shutdown_signal().await;
    tracing::info!("shutting down: no new calls");
    let _ = stop_tx.send(true);
    // The core ends once the calls are over (or hung up after the grace period).
    match tokio::time::timeout(grace + Duration::from_secs(15), core_task).await {
        Ok(Ok(cdr)) => {
            let flushed = cdr.shutdown(Duration::from_secs(10)).await;
            if flushed.complete {
                tracing::info!("call records flushed to the database");
            } else {
                tracing::warn!(
                    pending = flushed.pending,
                    "call records left in the journal; they go to the database at the next start"
                );
            }
        }
        Ok(Err(e)) => tracing::error!(error = %e, "SIP core failed"),
        Err(_) => tracing::error!("SIP core did not stop in time"),
    }
    if let Err(e) = started.writer.shutdown().await {
        tracing::warn!(error = %e, "registrar database writes not flushed");
    }
    drop(media.ng);
    drop(media.engine);
    tracing::info!("vss stopped");
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn an_idle_thread_is_not_delayed() {
        let c = Coalescer::new(5 * MS);
        let t0 = Instant::now();
        assert_eq!(c.before_park(t0), None, "first sleep");
        c.after_unpark(t0 + 50 * MS);
        assert_eq!(c.before_park(t0 + 50 * MS), None, "slept 50 ms: idle");
    }

    #[test]
    fn wake_ups_closer_than_the_window_are_coalesced_until_traffic_thins() {
        let c = Coalescer::new(5 * MS);
        let t0 = Instant::now();
        assert_eq!(c.before_park(t0), None);
        let t1 = t0 + Duration::from_micros(200);
        c.after_unpark(t1);
        assert_eq!(
            c.before_park(t1),
            Some(5 * MS),
            "woken 200 us after sleeping: busy"
        );
        // After the pause the sockets had data at once: still busy.
        let t2 = t1 + 5 * MS;
        c.parking(t2);
        c.after_unpark(t2);
        assert_eq!(c.before_park(t2), Some(5 * MS));
        // Then nothing came for 30 ms: idle again, no pause.
        let t3 = t2 + MS;
        c.parking(t3);
        c.after_unpark(t3 + 30 * MS);
        assert_eq!(c.before_park(t3 + 30 * MS), None);
    }

    #[test]
    fn a_zero_window_never_pauses() {
        let c = Coalescer::new(Duration::ZERO);
        let t0 = Instant::now();
        assert_eq!(c.before_park(t0), None);
        c.after_unpark(t0);
        assert_eq!(c.before_park(t0), None);
    }
}
