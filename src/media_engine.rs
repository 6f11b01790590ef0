//! The media engine in `vss serve`: `[media]` mapped onto the media crate's settings.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;

use crate::config::Config;

/// The media crate's settings for this configuration.
///
/// The relay binds the SIP listen address when that is a specific address (one host, one
/// identity), else every address; SDP carries `media.public_ip`, else that address, else
/// the address this host reaches the outside world from.
pub(crate) fn settings(config: &Config) -> media::MediaConfig {
    let sip_ip = config
        .sip
        .listen
        .first()
        .map(|l| l.addr.ip())
        .filter(|ip| !ip.is_unspecified());
    let bind_ip = sip_ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let public_ip = config.media.public_ip.or(sip_ip).or_else(|| {
        let found = outbound_ip();
        match found {
            Some(ip) => tracing::info!(%ip, "media.public_ip not set; SDP will carry this host's outbound address"),
            None => tracing::warn!("media.public_ip not set and no outbound address found; SDP will carry 127.0.0.1"),
        }
        found.or(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
    });
    media::MediaConfig {
        rtp_ports: config.media.rtp_ports.first..=config.media.rtp_ports.last,
        bind_ip,
        public_ip,
        ng_listen: config.media.ng_listen,
        recordings_dir: config.media.recordings_dir.clone(),
        record_calls: config.media.record_calls,
        media_timeout: Duration::from_secs(config.media.media_timeout_s),
        kernel_forwarding: config.media.kernel_forwarding.into(),
        ..media::MediaConfig::default()
    }
}

/// The address peers reach this host at: `media.public_ip`, else the first SIP listen
/// address when it is a specific one, else the address of the default route (127.0.0.1
/// on a host without one).
pub(crate) fn advertised_ip(config: &Config) -> IpAddr {
    let sip_ip = config
        .sip
        .listen
        .first()
        .map(|l| l.addr.ip())
        .filter(|ip| !ip.is_unspecified());
    if let Some(ip) = config.media.public_ip.or(sip_ip) {
        return ip;
    }
    match outbound_ip() {
        Some(ip) => ip,
        None => {
            tracing::warn!("media.public_ip not set and no default route; advertising 127.0.0.1");
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        }
    }
}

/// The local address of the default route: connecting a UDP socket sends nothing, it
/// only asks the routing table.
fn outbound_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    // TEST-NET-1 (RFC 5737): never answered, only used to pick the route.
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified()).then_some(ip)
}

/// The echo service (`b2bua.echo_number`) over the media engine's echo mode.
pub(crate) struct EngineEcho(pub(crate) media::MediaEngine);

impl b2bua::EchoMedia for EngineEcho {
    fn echo(
        &self,
        call_id: &str,
        tag: &str,
        offer: &[u8],
        opts: &media::SdpOptions,
    ) -> Result<bytes::Bytes, media::MediaError> {
        self.0.echo(call_id, tag, offer, opts)
    }
}
