//! Persistence against real databases: SQLite in a temp dir and PostgreSQL (a fresh
//! database per test on 127.0.0.1:5432, or `VSS_TEST_PG_URL`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use registrar::provision::{self, parse_slots_csv};
use registrar::{
    ProvisionError, ProvisionSummary, Registrar, RegistrarConfig, Store, StoreOptions, WriteBehind,
    WriterConfig,
};
use sip_core::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const SLOTS_CSV: &str = "extension,password,hub,kind\n\
                         6001,pw-6001,auto1,AUTO\n\
                         6002,pw-6002,auto1,AUTO\n\
                         7001,pw-7001,mf1,MF\n\
                         8001,pw-8001,,LS\n";

async fn provisioned(store: &Store) {
    let rows = parse_slots_csv(SLOTS_CSV.as_bytes()).unwrap();
    let s = provision::provision(store, DOMAIN, &rows, wall0())
        .await
        .unwrap();
    assert_eq!(s.added, 4);
}

/// A registrar loaded from `store` the way `vss serve` starts one.
async fn start(store: &Store, h: &mut Harness) -> registrar::RestoreReport {
    h.reg = Registrar::new(RegistrarConfig::new(DOMAIN), SECRET, h.wall).unwrap();
    h.reg.set_slots(store.load_slots().await.unwrap());
    store.purge_expired_bindings(h.wall).await.unwrap();
    let records = store.load_bindings(h.wall).await.unwrap();
    h.reg.restore(h.now, h.wall, records)
}

async fn bindings_survive_a_restart(store: Store) {
    provisioned(&store).await;
    let mut h = Harness::empty(RegistrarConfig::new(DOMAIN));
    start(&store, &mut h).await;
    let (sink, writer) = WriteBehind::spawn(store.clone(), WriterConfig::default());
    h.reg.set_store(sink);

    let mut a = Phone::new(6001, tcp("203.0.113.7:40001", 9));
    let reg = a
        .next()
        .expires("3600")
        .header("User-Agent: slot-agent/1.0");
    assert_eq!(a.register(&mut h, reg).status, StatusCode::OK);
    let mut b = Phone::new(7001, udp("203.0.113.8:5060"));
    let reg = b
        .next()
        .contacts(&["<sip:7001@10.0.0.2>;q=0.5", "<sip:x@10.0.0.2>"])
        .expires("600");
    assert_eq!(b.register(&mut h, reg).status, StatusCode::OK);
    let mut c = Phone::new(8001, udp("203.0.113.9:5060"));
    let reg = c.next().expires("120");
    assert_eq!(c.register(&mut h, reg).status, StatusCode::OK);
    // One removed by the device, one expired by the clock.
    let reg = b.next().contact("<sip:x@10.0.0.2>").expires("0");
    assert_eq!(b.register(&mut h, reg).status, StatusCode::OK);
    h.advance(Duration::from_secs(200));
    assert_eq!(h.reg.binding_count(), 2);
    writer.flush().await.unwrap();
    writer.shutdown().await.unwrap();

    // "Restart" 100 s later: a new registrar, loaded from the database.
    h.skip(Duration::from_secs(100));
    let report = start(&store, &mut h).await;
    assert_eq!((report.restored, report.skipped), (2, 0));
    let a6001 = h.reg.lookup(ext(6001));
    assert_eq!(a6001.len(), 1);
    assert_eq!(a6001[0].expires_in(h.now), Duration::from_secs(3600 - 300));
    assert_eq!(a6001[0].source().addr, addr("203.0.113.7:40001"));
    assert_eq!(a6001[0].source().transport, sip_core::Transport::Tcp);
    assert_eq!(a6001[0].user_agent(), Some("slot-agent/1.0"));
    let b7001 = h.reg.lookup(ext(7001));
    assert_eq!(b7001.len(), 1);
    assert_eq!(b7001[0].contact().to_string(), "sip:7001@10.0.0.2");
    assert_eq!(b7001[0].q(), Some(500));
    assert_eq!(b7001[0].expires_in(h.now), Duration::from_secs(600 - 300));
    assert!(h.reg.lookup(ext(8001)).is_empty());
    // The device keeps refreshing with its Call-ID and the next CSeq: accepted.
    let reg = a.next();
    assert_eq!(a.register(&mut h, reg).status, StatusCode::OK);
    store.close().await;
}

#[tokio::test]
async fn sqlite_bindings_survive_a_restart() {
    let (_dir, store, _) = sqlite_store().await;
    bindings_survive_a_restart(store).await;
}

#[tokio::test]
async fn postgres_bindings_survive_a_restart() {
    let (_pg, store, _) = pg_store().await;
    bindings_survive_a_restart(store).await;
}

async fn provisioning(store: Store) {
    let rows = parse_slots_csv(SLOTS_CSV.as_bytes()).unwrap();
    let s = provision::provision(&store, DOMAIN, &rows, wall0())
        .await
        .unwrap();
    assert_eq!(
        s,
        ProvisionSummary {
            added: 4,
            updated: 0,
            unchanged: 0
        }
    );
    // Re-running the same file changes nothing and duplicates nothing.
    let s = provision::provision(&store, DOMAIN, &rows, wall0())
        .await
        .unwrap();
    assert_eq!((s.added, s.updated, s.unchanged), (0, 0, 4));
    // A new password and a new hub update two slots; a new extension is added.
    let changed = "kind,extension,password,hub\nAUTO,6001,new-pw,auto1\nMF,7001,pw-7001,mf2\n\
                   AUTO,6003,pw-6003,auto1\n";
    let rows = parse_slots_csv(changed.as_bytes()).unwrap();
    let s = provision::provision(&store, DOMAIN, &rows, wall0())
        .await
        .unwrap();
    assert_eq!((s.added, s.updated, s.unchanged), (1, 2, 0));
    let slots = store.load_slots().await.unwrap();
    assert_eq!(slots.len(), 5);
    let s6001 = slots.iter().find(|s| s.extension() == ext(6001)).unwrap();
    assert_eq!(
        s6001.ha1_md5(),
        sip_core::auth::ha1(sip_core::auth::Algorithm::Md5, "6001", DOMAIN, "new-pw")
    );
    assert_eq!(
        s6001.ha1_sha256(),
        sip_core::auth::ha1(sip_core::auth::Algorithm::Sha256, "6001", DOMAIN, "new-pw")
    );
    let s8001 = slots.iter().find(|s| s.extension() == ext(8001)).unwrap();
    assert_eq!(s8001.hub(), None);
    assert_eq!(
        slots
            .iter()
            .find(|s| s.extension() == ext(7001))
            .unwrap()
            .hub(),
        Some("mf2")
    );
    // A file with a bad row is refused as a whole, naming the line; nothing is written.
    let bad = "extension,password,hub,kind\n6004,pw,a,AUTO\n7002,pw,a,LS\n";
    match parse_slots_csv(bad.as_bytes()) {
        Err(ProvisionError::BadRows(e)) => {
            assert_eq!(e.len(), 1);
            assert_eq!(e[0].line, 3);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.load_slots().await.unwrap().len(), 5);
    store.close().await;
}

#[tokio::test]
async fn sqlite_provisioning_adds_updates_and_refuses() {
    let (_dir, store, _) = sqlite_store().await;
    provisioning(store).await;
}

#[tokio::test]
async fn postgres_provisioning_adds_updates_and_refuses() {
    let (_pg, store, _) = pg_store().await;
    provisioning(store).await;
}

#[tokio::test]
async fn postgres_provisioning_is_one_transaction() {
    let (_pg, store, _) = pg_store().await;
    provisioned(&store).await;
    // A slot the database refuses (a realm with NUL cannot be stored in text) makes the
    // whole batch fail: the valid slot before it must not be written either.
    let slots = vec![
        registrar::Slot::with_password(ext(6005), None, DOMAIN, "pw"),
        registrar::Slot::with_password(ext(6006), None, "bad\0realm", "pw"),
    ];
    assert!(store.provision_slots(&slots, wall0()).await.is_err());
    let loaded = store.load_slots().await.unwrap();
    assert_eq!(loaded.len(), 4);
    assert!(loaded.iter().all(|s| s.extension() != ext(6005)));
}

#[tokio::test]
async fn migrations_are_idempotent_and_share_the_table() {
    let (_dir, store, url) = sqlite_store().await;
    registrar::migrate(&store).await.unwrap();
    let again = Store::connect(&url).await.unwrap();
    registrar::migrate(&again).await.unwrap();
    assert_eq!(again.backend_name(), "sqlite");
}

/// A TCP relay to PostgreSQL that a test can open and cut, to play "the database went
/// away" without touching the real server.
struct Relay {
    addr: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn closed() -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        Relay {
            addr,
            tasks: Arc::new(Mutex::new(Vec::new())),
        }
    }

    fn url(&self, name: &str) -> String {
        format!("postgres://postgres@{}/{name}", self.addr)
    }

    async fn open(&self, upstream: SocketAddr) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        let tasks = self.tasks.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test]
async fn a_database_outage_never_blocks_registrations_and_heals() {
    let (pg, store, _) = pg_store().await;
    provisioned(&store).await;
    let slots = store.load_slots().await.unwrap();
    let upstream = {
        let u = admin_url();
        let host = u
            .split('@')
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap();
        tokio::net::lookup_host(host).await.unwrap().next().unwrap()
    };
    let relay = Relay::closed().await;
    let mut opts = StoreOptions::default();
    opts.acquire_timeout = Duration::from_millis(300);
    let down = Store::connect_lazy(&relay.url(&pg.name), &opts).unwrap();
    let config = WriterConfig::default()
        .with_batch_delay(Duration::from_millis(5))
        .with_retry(Duration::from_millis(10), Duration::from_millis(50));
    let (sink, writer) = WriteBehind::spawn(down, config);
    let mut h = Harness::empty(RegistrarConfig::new(DOMAIN));
    h.reg.set_slots(slots);
    h.reg.set_store(sink);
    for (n, port) in [(6001, 40001), (6002, 40002), (7001, 40003)] {
        let mut p = Phone::new(n, udp(&format!("203.0.113.7:{port}")));
        let reg = p.next();
        assert_eq!(p.register(&mut h, reg).status, StatusCode::OK);
    }
    assert!(writer.flush().await.is_err(), "the database is down");
    assert!(store.load_bindings(h.wall).await.unwrap().is_empty());
    relay.open(upstream).await;
    let mut ok = false;
    for _ in 0..100 {
        if writer.flush().await.is_ok() {
            ok = true;
            break;
        }
    }
    assert!(
        ok,
        "the writer never caught up after the database came back"
    );
    let rows = store.load_bindings(h.wall).await.unwrap();
    assert_eq!(rows.len(), 3);
    writer.shutdown().await.unwrap();
    store.close().await;
}
