//! Checks that span values: what one value alone cannot tell (TLS files for a `tls:`
//! listener, duplicate names, two services on one port).

use std::net::SocketAddr;

use figment::Figment;

use super::Config;
use super::error::{ConfigError, Origin, origin_of};

/// Builds validation errors that name the key, the value and where the value came from.
pub(crate) struct Validator<'a> {
    figment: &'a Figment,
}

impl<'a> Validator<'a> {
    /// A validator for a configuration merged by `figment`.
    pub(crate) fn new(figment: &'a Figment) -> Self {
        Self { figment }
    }

    /// An error for `key` (written `trunks[1].name`); `message` quotes the value.
    pub(crate) fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            key: key.to_owned(),
            message: message.into(),
            origin: self.origin(key),
        }
    }

    /// Where the value at `key` came from.
    pub(crate) fn origin(&self, key: &str) -> Origin {
        origin_of(self.figment, key)
    }
}

/// Trunk and hub names appear in logs, metrics labels, CDRs and URLs: keep them plain.
pub(crate) fn check_name(v: &Validator<'_>, key: &str, name: &str) -> Result<(), ConfigError> {
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    if name.is_empty() || name.len() > 64 || !name.bytes().all(plain) {
        return Err(v.invalid(
            key,
            format!("{name:?} is not a name (1 to 64 letters, digits, `-`, `_`, `.`)"),
        ));
    }
    Ok(())
}

/// A socket the server will bind, for conflict checks.
struct Bind {
    key: String,
    value: String,
    stream: bool,
    addr: SocketAddr,
    /// For the media range: the last port (inclusive).
    last_port: Option<u16>,
}

impl Bind {
    fn ports(&self) -> std::ops::RangeInclusive<u16> {
        self.addr.port()..=self.last_port.unwrap_or(self.addr.port())
    }

    fn overlaps(&self, other: &Bind) -> bool {
        // Port 0 asks the kernel for a free port, which never collides.
        if self.addr.port() == 0 || other.addr.port() == 0 {
            return false;
        }
        let (a, b) = (self.ports(), other.ports());
        let same_ip = self.addr.ip() == other.addr.ip()
            || self.addr.ip().is_unspecified()
            || other.addr.ip().is_unspecified();
        self.stream == other.stream && same_ip && a.start() <= b.end() && b.start() <= a.end()
    }
}

/// Two services on one port would fail at start-up with "address in use"; say which keys
/// collide now instead.
pub(super) fn check_ports(config: &Config, v: &Validator<'_>) -> Result<(), ConfigError> {
    let mut binds: Vec<Bind> = Vec::new();
    for (i, l) in config.sip.listen.iter().enumerate() {
        binds.push(Bind {
            key: format!("sip.listen[{i}]"),
            value: l.to_string(),
            stream: l.transport.is_stream(),
            addr: l.addr,
            last_port: None,
        });
    }
    if let Some(ng) = config.media.ng_listen {
        binds.push(Bind {
            key: "media.ng_listen".into(),
            value: ng.to_string(),
            stream: false,
            addr: ng,
            last_port: None,
        });
    }
    binds.push(Bind {
        key: "api.listen".into(),
        value: config.api.listen.to_string(),
        stream: true,
        addr: config.api.listen,
        last_port: None,
    });
    let range = config.media.rtp_ports;
    binds.push(Bind {
        key: "media.rtp_ports".into(),
        value: range.to_string(),
        stream: false,
        addr: SocketAddr::from(([0, 0, 0, 0], range.first)),
        last_port: Some(range.last),
    });
    for (i, a) in binds.iter().enumerate() {
        if let Some(b) = binds[..i].iter().find(|b| b.overlaps(a)) {
            return Err(v.invalid(
                &a.key,
                format!(
                    "{:?} uses the same port as {} ({:?}, {})",
                    a.value,
                    b.key,
                    b.value,
                    v.origin(&b.key)
                ),
            ));
        }
    }
    Ok(())
}
