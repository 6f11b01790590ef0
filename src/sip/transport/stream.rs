//! TCP and TLS: one task per connection reads through a [`StreamFramer`] and a writer
//! task drains the connection's queue. RFC 3261 §18.3: Content-Length delimits every
//! message; a framing error is answered (when it can be) and the connection closed,
//! since the stream cannot be resynchronised.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use sip_core::framing::{Frame, StreamFramer};
use sip_core::transaction::{Peer, TransactionKey};
use sip_core::{Error, Message, Transport};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use super::{Connection, Inbound, Shared};

/// Bind a listening TCP socket.
pub(super) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Accept connections until the listener fails; `tls` wraps each one when set.
pub(super) fn spawn_acceptor(listener: TcpListener, tls: Option<TlsAcceptor>, shared: Arc<Shared>) {
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let shared = shared.clone();
            match &tls {
                None => {
                    tokio::spawn(run(tcp, remote, Transport::Tcp, shared, None));
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        let handshake = tokio::time::timeout(
                            std::time::Duration::from_secs(10),
                            acceptor.accept(tcp),
                        )
                        .await;
                        match handshake {
                            Ok(Ok(stream)) => {
                                run(stream, remote, Transport::Tls, shared, None).await
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(%remote, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%remote, "TLS handshake timed out"),
                        }
                    });
                }
            }
        }
    });
}

/// Open a TCP connection to `remote` and send `first` on it. Called from the SIP core's
/// thread; the connection lives on the stream runtime like every other.
pub(super) fn connect(
    remote: SocketAddr,
    first: Bytes,
    transaction: Option<TransactionKey>,
    shared: Arc<Shared>,
) {
    let runtime = shared.streams.clone();
    runtime.spawn(async move {
        let connected = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            TcpStream::connect(remote),
        )
        .await;
        match connected {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                run(tcp, remote, Transport::Tcp, shared, Some(first)).await;
            }
            Ok(Err(e)) => {
                tracing::debug!(%remote, error = %e, "TCP connect failed");
                shared.deliver(Inbound::Unreachable {
                    peer: Peer {
                        transport: Transport::Tcp,
                        addr: remote,
                        connection: None,
                    },
                    transaction,
                });
            }
            Err(_) => {
                tracing::debug!(%remote, "TCP connect timed out");
                shared.deliver(Inbound::Unreachable {
                    peer: Peer {
                        transport: Transport::Tcp,
                        addr: remote,
                        connection: None,
                    },
                    transaction,
                });
            }
        }
    });
}

/// Serve one connection until it closes, fails, idles out or breaks framing.
async fn run<S>(
    io: S,
    remote: SocketAddr,
    transport: Transport,
    shared: Arc<Shared>,
    first: Option<Bytes>,
) where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let id = shared.connection_id();
    let (tx, mut rx) = mpsc::channel::<Bytes>(shared.limits.write_queue);
    if !shared.register(
        id,
        Connection {
            remote,
            transport,
            tx: tx.clone(),
        },
    ) {
        tracing::warn!(%remote, "too many SIP connections; refusing");
        return;
    }
    if let Some(first) = first {
        let _ = tx.try_send(first);
    }
    let peer = Peer {
        transport,
        addr: remote,
        connection: Some(id),
    };
    let (mut reader, mut writer) = tokio::io::split(io);
    let writer_task = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = writer.shutdown().await;
    });
    let mut framer = StreamFramer::new();
    let mut buf = vec![0u8; 16 * 1024];
    let idle = shared.limits.idle_timeout;
    'read: loop {
        let n = match tokio::time::timeout(idle, reader.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => n,
            Err(_) => {
                tracing::debug!(%remote, "idle SIP connection closed");
                break;
            }
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                // RFC 5626 §4.4.1: answer a CRLFCRLF ping with a CRLF pong.
                Ok(Some(Frame::Ping)) => {
                    let _ = tx.try_send(Bytes::from_static(b"\r\n"));
                }
                Ok(Some(Frame::Message(raw))) => match Message::parse_stream(raw.clone()) {
                    Ok(message) => shared.deliver(Inbound::Message { message, peer }),
                    Err(e) => {
                        // The frame was cut by Content-Length, so the stream stays in step:
                        // answer and go on.
                        answer_error(&tx, &raw, &e, remote);
                    }
                },
                Err(e) => {
                    let pending = framer_head(&framer);
                    answer_error(&tx, &pending, &e, remote);
                    tracing::debug!(%remote, error = %e, "SIP stream framing error; closing");
                    break 'read;
                }
            }
        }
    }
    shared.unregister(id);
    drop(tx);
    let _ = writer_task.await;
}

fn answer_error(tx: &mpsc::Sender<Bytes>, raw: &[u8], e: &Error, remote: SocketAddr) {
    tracing::debug!(%remote, error = %e, "malformed SIP message on stream");
    if let Some(reply) = sip_core::reply::error_response(raw, e, &super::random_tag()) {
        let _ = tx.try_send(reply);
    }
}

/// What the framer holds, for building an error answer from its headers.
fn framer_head(framer: &StreamFramer) -> Vec<u8> {
    framer.peek().to_vec()
}
