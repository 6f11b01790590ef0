//! The SIP transports of `vss serve`: UDP, TCP and TLS sockets feeding the sans-IO core.
//!
//! Receive tasks parse what arrives and hand whole messages to the SIP core task through
//! one bounded channel; anything that fails to parse is answered right there
//! (400/505/513, RFC 3261 §18.3; nothing for responses) and never reaches the core. The
//! core sends through [`Transports::send`], which never blocks: UDP datagrams go out at
//! once, stream messages are queued to the connection's writer task.
//!
//! The UDP receivers run on the runtime given to [`Transports::bind`], which `vss serve`
//! makes the SIP core's own single thread: a datagram is then read, parsed, handled and
//! answered on one thread, with no cross-thread wake-up (futex) per message, and one
//! `epoll_wait` per burst instead of one per side. TCP and TLS connections, whose
//! reads and TLS work are heavier and per connection, stay on the calling
//! (multi-threaded) runtime and reach the core through the same channel.
//!
//! A [`Peer`]'s `connection` names where an answer must go back: for TCP/TLS it is the
//! connection's id; for UDP it is the index of the listening socket the request came in
//! on, so responses leave from the address the client sent to (NAT bindings expect it).

mod stream;
mod tls;
mod udp;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sip_core::transaction::{Peer, TransactionKey, Transmit};
use sip_core::{Message, Transport};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use crate::config::{SipConfig, Transport as ConfTransport};

pub(crate) use tls::load_tls_config;
pub(crate) use udp::SendBatch;

/// What the transports hand to the SIP core.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A parsed, validated message and where it came from.
    Message {
        /// The message.
        message: Message,
        /// Its source.
        peer: Peer,
    },
    /// A message could not be delivered to `peer` (connection refused or lost).
    Unreachable {
        /// The destination that failed.
        peer: Peer,
        /// The transaction whose message it was, if any.
        transaction: Option<TransactionKey>,
    },
}

/// A socket this process listens on, as bound (the port filled in when the
/// configuration said 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoundAddr {
    /// The transport.
    pub(crate) transport: Transport,
    /// The local address.
    pub(crate) addr: SocketAddr,
}

/// Limits of the stream transports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamLimits {
    /// Most simultaneous TCP/TLS connections; more are refused at accept.
    pub(crate) max_connections: usize,
    /// A connection with no traffic for this long is closed (RFC 5626 clients send
    /// keep-alives well within it).
    pub(crate) idle_timeout: Duration,
    /// Messages queued for one connection's writer before new ones are dropped.
    pub(crate) write_queue: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_connections: 10_000,
            idle_timeout: Duration::from_secs(3600),
            write_queue: 256,
        }
    }
}

/// The sending half of a live stream connection.
#[derive(Clone)]
struct Connection {
    remote: SocketAddr,
    transport: Transport,
    tx: mpsc::Sender<Bytes>,
}

/// State shared by the listeners, the connection tasks and [`Transports::send`].
pub(crate) struct Shared {
    inbound: mpsc::Sender<Inbound>,
    /// The runtime of the stream tasks, where [`Transports::send`] (called on the SIP
    /// core's thread) opens outgoing TCP connections.
    streams: Handle,
    connections: Mutex<HashMap<u64, Connection>>,
    next_connection: AtomicU64,
    limits: StreamLimits,
    /// Datagrams and stream messages dropped because the core was too busy to take them.
    pub(crate) overload_drops: AtomicU64,
}

impl Shared {
    fn connection_id(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed)
    }

    fn register(&self, id: u64, conn: Connection) -> bool {
        let mut map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= self.limits.max_connections {
            return false;
        }
        map.insert(id, conn);
        true
    }

    fn unregister(&self, id: u64) {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    fn connection(&self, id: u64) -> Option<Connection> {
        self.connections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&id)
            .cloned()
    }

    fn connection_to(&self, transport: Transport, remote: SocketAddr) -> Option<(u64, Connection)> {
        let map = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .find(|(_, c)| c.transport == transport && c.remote == remote)
            .map(|(id, c)| (*id, c.clone()))
    }

    /// Hand a message to the core; when the core is overloaded the message is dropped
    /// (UDP peers retransmit; a 503 would cost the same work we are short of).
    fn deliver(&self, item: Inbound) {
        if self.inbound.try_send(item).is_err() {
            self.overload_drops.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Every SIP socket of this process.
pub(crate) struct Transports {
    shared: Arc<Shared>,
    udp: Vec<(SocketAddr, Arc<udp::Socket>)>,
    bound: Vec<BoundAddr>,
}

impl Transports {
    /// Bind every listener of `config` and start their tasks. Messages arrive on the
    /// returned receiver. The UDP sockets and their receive tasks belong to `udp_runtime`
    /// (run the SIP core there too, see the module documentation); TCP and TLS belong to
    /// the runtime this is called on.
    pub(crate) async fn bind(
        config: &SipConfig,
        limits: StreamLimits,
        queue: usize,
        udp_runtime: &Handle,
    ) -> anyhow::Result<(Transports, mpsc::Receiver<Inbound>)> {
        let (tx, rx) = mpsc::channel(queue);
        let shared = Arc::new(Shared {
            inbound: tx,
            streams: Handle::current(),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
            limits,
            overload_drops: AtomicU64::new(0),
        });
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key))
                if config
                    .listen
                    .iter()
                    .any(|l| l.transport == ConfTransport::Tls) =>
            {
                Some(load_tls_config(cert, key)?)
            }
            _ => None,
        };
        let mut udp = Vec::new();
        let mut bound = Vec::new();
        for listen in &config.listen {
            match listen.transport {
                ConfTransport::Udp => {
                    let index = udp.len() as u64;
                    let socket = {
                        // The socket registers with the reactor of the runtime entered here.
                        let _sip = udp_runtime.enter();
                        Arc::new(udp::bind(listen.addr)?)
                    };
                    let local = socket.get_ref().local_addr()?;
                    udp_runtime.spawn(udp::receive(socket.clone(), index, shared.clone()));
                    tracing::info!(transport = "udp", addr = %local, "SIP listening");
                    udp.push((local, socket));
                    bound.push(BoundAddr {
                        transport: Transport::Udp,
                        addr: local,
                    });
                }
                ConfTransport::Tcp => {
                    let listener = stream::bind(listen.addr)?;
                    let local = listener.local_addr()?;
                    stream::spawn_acceptor(listener, None, shared.clone());
                    tracing::info!(transport = "tcp", addr = %local, "SIP listening");
                    bound.push(BoundAddr {
                        transport: Transport::Tcp,
                        addr: local,
                    });
                }
                ConfTransport::Tls => {
                    let acceptor = tls.clone().ok_or_else(|| {
                        anyhow::anyhow!("sip.listen has {listen} but sip.tls_cert and sip.tls_key are not both set")
                    })?;
                    let listener = stream::bind(listen.addr)?;
                    let local = listener.local_addr()?;
                    stream::spawn_acceptor(listener, Some(acceptor), shared.clone());
                    tracing::info!(transport = "tls", addr = %local, "SIP listening");
                    bound.push(BoundAddr {
                        transport: Transport::Tls,
                        addr: local,
                    });
                }
            }
        }
        Ok((Transports { shared, udp, bound }, rx))
    }

    /// Every listening socket, as bound.
    pub(crate) fn bound(&self) -> &[BoundAddr] {
        &self.bound
    }

    /// How many inbound messages were dropped because the core was overloaded.
    pub(crate) fn overload_drops(&self) -> u64 {
        self.shared.overload_drops.load(Ordering::Relaxed)
    }

    /// Send without blocking. Stream messages to a peer with no live connection open one
    /// (TCP); a failure comes back as [`Inbound::Unreachable`].
    pub(crate) fn send(&self, t: Transmit) {
        let Transmit {
            dest,
            payload,
            transaction,
        } = t;
        match dest.transport {
            Transport::Udp => self.send_udp(dest, payload, transaction),
            Transport::Tcp | Transport::Tls => self.send_stream(dest, payload, transaction),
            other => {
                tracing::warn!(transport = %other, dest = %dest.addr, "no such transport; message dropped");
                self.shared.deliver(Inbound::Unreachable {
                    peer: dest,
                    transaction,
                });
            }
        }
    }

    /// Send everything in `out` (emptied), in order. Consecutive UDP datagrams from one
    /// socket leave in one `sendmmsg`: the answers to a burst of requests cost one system
    /// call, not one each.
    pub(crate) fn send_all(&self, out: &mut Vec<Transmit>, batch: &mut udp::SendBatch) {
        let mut current: Option<Arc<udp::Socket>> = None;
        for t in out.drain(..) {
            if t.dest.transport != Transport::Udp {
                if let Some(socket) = current.take() {
                    batch.send(&socket);
                }
                self.send(t);
                continue;
            }
            let Some(socket) = self.udp_socket(&t.dest, t.transaction) else {
                continue;
            };
            match &current {
                Some(c) if Arc::ptr_eq(c, &socket) => {}
                _ => {
                    if let Some(previous) = current.replace(socket) {
                        batch.send(&previous);
                    }
                }
            }
            batch.push(t.dest.addr, t.payload);
        }
        if let Some(socket) = current {
            batch.send(&socket);
        }
    }

    fn send_udp(&self, dest: Peer, payload: Bytes, transaction: Option<TransactionKey>) {
        if let Some(socket) = self.udp_socket(&dest, transaction) {
            udp::send(&socket, dest.addr, payload);
        }
    }

    /// The UDP socket to reach `dest` from: the one its message came in on, else one of
    /// its address family. `None` (reported to the transaction) when there is none.
    fn udp_socket(
        &self,
        dest: &Peer,
        transaction: Option<TransactionKey>,
    ) -> Option<Arc<udp::Socket>> {
        let by_index = dest
            .connection
            .and_then(|i| self.udp.get(usize::try_from(i).ok()?));
        let socket = by_index
            .or_else(|| {
                self.udp
                    .iter()
                    .find(|(local, _)| local.is_ipv4() == dest.addr.is_ipv4())
            })
            .map(|(_, s)| s.clone());
        if socket.is_none() {
            tracing::warn!(dest = %dest.addr, "no UDP socket for this address family; message dropped");
            self.shared.deliver(Inbound::Unreachable {
                peer: *dest,
                transaction,
            });
        }
        socket
    }

    fn send_stream(&self, dest: Peer, payload: Bytes, transaction: Option<TransactionKey>) {
        let existing = match dest.connection {
            Some(id) => self.shared.connection(id),
            None => self
                .shared
                .connection_to(dest.transport, dest.addr)
                .map(|(_, c)| c),
        }
        .or_else(|| {
            self.shared
                .connection_to(dest.transport, dest.addr)
                .map(|(_, c)| c)
        });
        match existing {
            Some(conn) => {
                if conn.tx.try_send(payload).is_err() {
                    tracing::warn!(dest = %dest.addr, "connection write queue full or closed; message dropped");
                    self.shared.deliver(Inbound::Unreachable {
                        peer: dest,
                        transaction,
                    });
                }
            }
            None if dest.transport == Transport::Tcp => {
                stream::connect(dest.addr, payload, transaction, self.shared.clone())
            }
            None => {
                // RFC 3261 §18.2.2: a response goes back on the connection of its request;
                // when that is gone we do not open TLS connections of our own (carrier TLS
                // trunks are configured with their own client settings).
                tracing::warn!(dest = %dest.addr, "TLS connection gone; message dropped");
                self.shared.deliver(Inbound::Unreachable {
                    peer: dest,
                    transaction,
                });
            }
        }
    }
}

/// A random To tag (RFC 3261 §19.3: at least 32 bits of randomness).
pub(crate) fn random_tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}
