//! Helpers for black-box tests that run the `vss` binary.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `vss serve` child process, killed when dropped.
pub(crate) struct Server {
    child: Child,
    /// Where it listens, by transport name ("udp", "tcp", "tls").
    pub(crate) listening: Vec<(String, SocketAddr)>,
    /// Lines it logged after start-up.
    pub(crate) log: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Start `vss serve` with `toml` as its configuration (in a fresh directory, which is
    /// also its working directory), and wait until every listener is up.
    pub(crate) fn start(toml: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("vss.toml");
        std::fs::write(&config, toml).unwrap();
        let expected = toml.matches("udp:").count()
            + toml.matches("tcp:").count()
            + toml.matches("tls:").count();
        Server::start_in(dir, &config, expected)
    }

    fn start_in(dir: tempfile::TempDir, config: &Path, expected: usize) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vss"))
            .args(["serve", "--config"])
            .arg(config)
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vss");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listening = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while listening.len() < expected {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => {
                    let _ = child.kill();
                    panic!("vss serve did not report its listeners in time");
                }
            };
            if let Some(found) = parse_listening(&line) {
                listening.push(found);
            }
        }
        Server {
            child,
            listening,
            log: rx,
            _dir: dir,
        }
    }

    /// The first listener of `transport`.
    pub(crate) fn addr(&self, transport: &str) -> SocketAddr {
        self.listening
            .iter()
            .find(|(t, _)| t == transport)
            .map(|(_, a)| *a)
            .expect("listener")
    }

    /// Whether the process is still running.
    pub(crate) fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The working directory of the server.
    pub(crate) fn dir(&self) -> PathBuf {
        self._dir.path().to_path_buf()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `SIP listening transport="udp" addr=127.0.0.1:40000` → ("udp", addr).
fn parse_listening(line: &str) -> Option<(String, SocketAddr)> {
    if !line.contains("SIP listening") {
        return None;
    }
    let transport = line
        .split("transport=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .trim_matches('"')
        .to_owned();
    let addr = line
        .split("addr=")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((transport, addr))
}

/// A minimal configuration listening on loopback with ports picked by the kernel.
pub(crate) fn loopback_config(extra: &str) -> String {
    format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\", \"tcp:127.0.0.1:0\"]\ndomain = \"vss.test\"\n[media]\nng_listen = \"\"\n[database]\nurl = \"sqlite://./vss.db\"\n{extra}"
    )
}
