//! Everything the binary starts for `[media]`: the engine and, if configured, the ng port.

use std::sync::Arc;

use crate::config::MediaConfig;
use crate::control::MediaEvent;
use crate::engine::MediaEngine;
use crate::error::MediaError;
use crate::ng::NgServer;

/// A running media service. Dropping it stops the ng listener; the engine's workers stop
/// when the last [`MediaEngine`] clone is dropped.
#[derive(Debug)]
pub struct MediaService {
    /// The engine, to hand to the B2BUA as its `MediaControl`.
    pub engine: MediaEngine,
    /// The ng listener, when `ng_listen` is set.
    pub ng: Option<NgServer>,
    /// Media events (timeouts, DTMF, latching, finished recordings).
    pub events: tokio::sync::mpsc::Receiver<MediaEvent>,
}

/// Starts the engine and, when `config.ng_listen` is set, the ng control listener.
pub fn start(config: MediaConfig) -> Result<MediaService, MediaError> {
    let ng_addr = config.ng_listen;
    let (engine, events) = MediaEngine::start(config)?;
    let ng = match ng_addr {
        Some(addr) => Some(NgServer::spawn(Arc::new(engine.clone()), addr)?),
        None => None,
    };
    Ok(MediaService { engine, ng, events })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::ng::NgClient;
    use crate::ng::bencode::{Value, dict};

    #[test]
    fn starts_engine_and_ng_listener() {
        let dir = tempfile::tempdir().unwrap();
        let svc = start(MediaConfig {
            rtp_ports: 32100..=32109,
            bind_ip: "127.0.0.1".parse().unwrap(),
            ng_listen: Some("127.0.0.1:0".parse().unwrap()),
            recordings_dir: dir.path().into(),
            workers: 1,
            ..MediaConfig::default()
        })
        .unwrap();
        let ng = svc.ng.as_ref().unwrap().local_addr();
        let pong = NgClient::new(ng)
            .unwrap()
            .call(&dict([("command", Value::str("ping"))]))
            .unwrap();
        assert_eq!(pong.get("result").and_then(Value::as_str), Some("pong"));
        let none = start(MediaConfig {
            ng_listen: None,
            rtp_ports: 32110..=32119,
            recordings_dir: dir.path().into(),
            ..MediaConfig::default()
        })
        .unwrap();
        assert!(none.ng.is_none());
    }
}
