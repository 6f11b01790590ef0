//! UDP: one receive task per socket, parsing datagrams (RFC 3261 §18.3: a datagram is
//! one message; octets after its Content-Length are ignored).

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use sip_core::transaction::Peer;
use sip_core::{Error, Message, Transport};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::{Inbound, Shared};

/// Receive buffer the kernel keeps for a SIP socket: a burst of REGISTERs from
/// thousands of slots at once must not be dropped by the kernel.
const SOCKET_BUFFER: usize = 8 * 1024 * 1024;
/// The largest datagram read (the UDP maximum).
const MAX_DATAGRAM: usize = 65_535;

/// Bind a UDP socket with large kernel buffers.
pub(super) fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    // Best effort: the kernel caps these at net.core.{r,w}mem_max.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Read datagrams until the socket fails; one bad datagram never stops the loop.
pub(super) fn spawn_receiver(socket: Arc<UdpSocket>, index: u64, shared: Arc<Shared>) {
    tokio::spawn(async move {
        let mut buf = BytesMut::with_capacity(4 * MAX_DATAGRAM);
        loop {
            if buf.capacity() - buf.len() < MAX_DATAGRAM {
                // Datagrams already handed out keep their part of the old allocation alive;
                // start a fresh one rather than copying.
                buf = BytesMut::with_capacity(4 * MAX_DATAGRAM);
            }
            let (n, from) = match socket.recv_buf_from(&mut buf).await {
                Ok(r) => r,
                Err(e) => {
                    // ICMP port-unreachable from an earlier send shows up here on Linux;
                    // it concerns that peer, not this socket.
                    tracing::debug!(error = %e, "UDP receive error");
                    continue;
                }
            };
            let datagram = buf.split_to(n).freeze();
            let peer = Peer {
                transport: Transport::Udp,
                addr: from,
                connection: Some(index),
            };
            handle_datagram(&socket, datagram, peer, &shared);
        }
    });
}

fn handle_datagram(socket: &Arc<UdpSocket>, datagram: Bytes, peer: Peer, shared: &Shared) {
    match Message::parse_datagram(datagram.clone()) {
        Ok(message) => shared.deliver(Inbound::Message { message, peer }),
        // CRLF keep-alives (RFC 5626 §3.5.1 sends them over UDP too) need no answer.
        Err(Error::Empty) => {}
        Err(e) => {
            tracing::debug!(from = %peer.addr, error = %e, "malformed SIP datagram");
            if let Some(reply) =
                sip_core::reply::error_response(&datagram, &e, &super::random_tag())
            {
                send(socket, peer.addr, reply);
            }
        }
    }
}

/// Send one datagram without waiting; when the kernel buffer is full the send finishes
/// in the background (the core must never block on the network).
pub(super) fn send(socket: &Arc<UdpSocket>, dest: SocketAddr, payload: Bytes) {
    match socket.try_send_to(&payload, dest) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            let socket = socket.clone();
            tokio::spawn(async move {
                if let Err(e) = socket.send_to(&payload, dest).await {
                    tracing::debug!(%dest, error = %e, "UDP send failed");
                }
            });
        }
        Err(e) => tracing::debug!(%dest, error = %e, "UDP send failed"),
    }
}
