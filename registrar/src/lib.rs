//! Registrar (flow F-09): slot registration over SIP (RFC 3261 §10).
//!
//! Only provisioned slots (extensions 6001–8999, [`Extension`]) of the configured domain
//! can register, with digest authentication (MD5 and SHA-256, RFC 7616 / RFC 8760)
//! against HA1 hashes stored per slot. Bindings keep the address the REGISTER really
//! came from (NAT), expire, may be pinged with OPTIONS (qualify), and are reported as
//! [`BindingEvent`]s. The in-memory index answers [`Registrar::lookup`]; the database
//! follows it through a write-behind task and gives the bindings back after a restart.
//!
//! # Shape
//!
//! [`Registrar`] is sans-IO and synchronous, owned by the SIP core task (no locks): time
//! comes in as arguments (`now: Instant` for expiry and windows, `wall: SystemTime` for
//! digest nonces, the Date header and the database), nothing reads a clock, a socket
//! or a random source. Persistence ([`Store`], [`WriteBehind`]) is async (tokio, sqlx)
//! and never on the REGISTER path: the registrar pushes changes into an unbounded
//! channel and goes on.
//!
//! # Call order
//!
//! At start (async context):
//! 1. `let store = Store::connect(url).await?; registrar::migrate(&store).await?;`
//! 2. `let mut reg = Registrar::new(RegistrarConfig::new(domain), &secret, SystemTime::now())?;`
//! 3. `reg.set_slots(store.load_slots().await?);`
//! 4. `store.purge_expired_bindings(wall).await?;`
//!    `reg.restore(Instant::now(), wall, store.load_bindings(wall).await?);` — restored
//!    bindings come out as [`BindingEvent::Added`].
//! 5. `let (sink, writer) = WriteBehind::spawn(store.clone(), WriterConfig::default());`
//!    `reg.set_store(sink);`
//!
//! In the SIP core task, for each REGISTER the transaction layer delivers
//! (`Event::Request { key, request, source }`):
//! 1. `let response = reg.handle_register(now, wall, &request, source);` — send it with
//!    `layer.send_response(now, &key, response)` (add a Server header first if wanted);
//! 2. drain [`Registrar::poll_event`] and hand the events to the slot state machine.
//!
//! Timers: include [`Registrar::poll_timeout`] in the core's deadline; when it passes
//! call [`Registrar::handle_timeout`]`(now, wall)`, then drain
//! [`Registrar::poll_qualify`]`(now)`: send each [`QualifyRequest::request`] with
//! `layer.send_request(now, request, target)`, remember `ClientKey → binding`, and on the
//! final response call [`Registrar::handle_qualify_result`]`(binding, true)`; on
//! `Event::Timeout`/`TransportError` for that key, `(binding, false)`. Drain events again.
//!
//! Routing: [`Registrar::lookup`]`(extension)` (or [`Registrar::lookup_uri`]) gives the
//! bindings, best first; send to [`Binding::source`], the REGISTER's real source.
//!
//! Provisioning while running: after `vss provision slots` (or the API's import) wrote
//! the table, call `reg.set_slots(store.load_slots().await?)` (e.g. on SIGHUP or from
//! the import handler). Provisioning also works with the server stopped; the next start
//! loads the slots.
//!
//! At shutdown: `writer.shutdown().await` writes what is pending.
//!
//! Also: call [`metrics::describe`] once after installing the metrics recorder; put the
//! server's listen addresses in [`RegistrarConfig::domain_aliases`] when devices are
//! configured with an IP instead of the domain; set [`QualifyConfig`] (interval and one
//! [`LocalAddr`] per transport) to enable OPTIONS keep-alives.
//!
//! # Decisions
//!
//! - Unprovisioned or foreign AORs get 404 before any challenge (RFC 3261 §10.3 step 5);
//!   the numbering plan is public, and each 404 counts towards brute-force blocking.
//! - A wrong password gets 403, not another 401: slots are devices with nobody to type a
//!   password, and 403 makes them back off instead of retrying in a loop. A stale or
//!   replayed nonce (nonce-count not increasing) gets 401 with `stale=true`.
//! - Credentials of one slot used for another AOR: 403 (RFC 3261 §10.3 step 4).
//! - Authorization of an unknown scheme or another realm is ignored (401 challenge).
//! - More contacts than `max_contacts`: the bindings refreshed longest ago are removed
//!   ([`BindingEvent::Removed`]); a single request asking for more is refused with 403.
//! - The Request-URI's host is not checked (devices commonly put the server's address
//!   there); the AOR (To) must be in the domain or one of its aliases.
//! - Contacts must be SIP or SIPS URIs (slots are reached over SIP only).
//!
//! Not implemented: RFC 5626 outbound (`reg-id`/`+sip.instance`) and RFC 3327 Path;
//! bindings learnt by another node sharing the database are not seen until a restart.

mod auth;
mod binding;
mod config;
mod extension;
mod guard;
mod ids;
mod location;
pub mod metrics;
pub mod provision;
mod qualify;
mod register;
mod registrar;
mod response;
mod slot;
mod store;

pub use binding::{Binding, BindingEvent, BindingId};
pub use config::{BruteForceConfig, ConfigError, LocalAddr, QualifyConfig, RegistrarConfig};
pub use extension::{Extension, NotAnExtension, SlotKind};
pub use provision::{ProvisionError, ProvisionRow, RowError};
pub use qualify::QualifyRequest;
pub use registrar::{Registrar, RestoreReport, SlotsReport};
pub use slot::{BadHa1, Slot};
pub use store::{
    BindingRecord, Change, ProvisionSummary, SlotChange, Store, StoreError, StoreOptions,
    StoreSink, WriteBehind, WriterConfig, WriterHandle, migrate,
};
