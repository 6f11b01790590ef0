//! Runs the RTP load generator against a relay, until `vss bench rtp` wires it in.
//!
//! ```text
//! cargo run --release -p media --example rtp_load -- --calls 1000 --seconds 20
//!     starts a VSS relay in a child process (ng on 127.0.0.1:22299) and loads it
//! cargo run --release -p media --example rtp_load -- --calls 300 --seconds 20 --ng 127.0.0.1:22223
//!     loads an already running relay (VSS or rtpengine) through its ng port
//! cargo run --release -p media --example rtp_load -- relay --ng 127.0.0.1:22299 [--workers N]
//!     runs only the relay ([--coalesce-us N] sets the wake-up coalescing,
//!     [--kernel auto|on|off] its in-kernel forwarding, media.kernel_forwarding; default auto)
//! cargo run --release -p media --example rtp_load -- --calls 1000 --seconds 20 --direct
//!     no relay: each end sends straight to the other (the direct baseline)
//! add --baseline to a relay run to run the direct baseline right after it and print the
//!     relay's cost per packet system-wide (machine CPU with the relay − without)
//! add --record to record every call (the report then counts recordings and their gaps)
//! ```
#![allow(missing_docs)]

use std::net::SocketAddr;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::loadgen::{LoadConfig, RelayCost, run};
use media::ng::NgClient;
use media::ng::bencode::{Value, dict};
use media::{MediaConfig, MediaEngine};

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
}

fn relay(args: &[String]) -> Result<(), String> {
    let ng: SocketAddr =
        arg(args, "--ng").unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 22299)));
    let cfg = MediaConfig {
        rtp_ports: 30000..=39999,
        bind_ip: "127.0.0.1".parse().map_err(|e| format!("{e}"))?,
        ng_listen: Some(ng),
        workers: arg(args, "--workers").unwrap_or(0),
        coalesce: std::time::Duration::from_micros(arg(args, "--coalesce-us").unwrap_or(500)),
        kernel_forwarding: match args.iter().position(|a| a == "--kernel") {
            Some(i) => args
                .get(i + 1)
                .ok_or("--kernel needs auto, on or off")?
                .parse()
                .map_err(|e: media::MediaError| e.to_string())?,
            None => media::KernelForwarding::Auto,
        },
        recordings_dir: std::env::temp_dir().join("vss-rtp-load-recordings"),
        ..MediaConfig::default()
    };
    let (engine, mut events) = MediaEngine::start(cfg).map_err(|e| e.to_string())?;
    let _server = media::ng::NgServer::spawn(Arc::new(engine), ng).map_err(|e| e.to_string())?;
    eprintln!("relay: ng on {ng}");
    // Events are not needed here; drain them so nothing accumulates.
    loop {
        while events.try_recv().is_ok() {}
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_for_ping(ng: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(mut c) = NgClient::new(ng)
            && let Ok(r) = c.call(&dict([("command", Value::str("ping"))]))
            && r.get("result").and_then(Value::as_str) == Some("pong")
        {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Options that take a value, then flags.
const OPTIONS: [&str; 7] = [
    "--calls",
    "--seconds",
    "--ng",
    "--pid",
    "--workers",
    "--coalesce-us",
    "--kernel",
];
const FLAGS: [&str; 3] = ["--direct", "--baseline", "--record"];

/// The first argument that is neither an option with its value nor a flag.
fn unknown(args: &[String]) -> Option<&str> {
    let mut rest = args
        .iter()
        .skip(usize::from(args.first().is_some_and(|a| a == "relay")));
    while let Some(a) = rest.next() {
        if OPTIONS.contains(&a.as_str()) {
            rest.next()?;
        } else if !FLAGS.contains(&a.as_str()) {
            return Some(a);
        }
    }
    None
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(a) = unknown(&args) {
        eprintln!(
            "rtp_load: unknown argument {a:?}; usage: see media/examples/rtp_load.rs or `vss bench rtp --help`"
        );
        return ExitCode::from(2);
    }
    if args.first().map(String::as_str) == Some("relay") {
        if let Err(e) = relay(&args) {
            eprintln!("relay: {e}");
        }
        return ExitCode::FAILURE;
    }
    let calls = arg(&args, "--calls").unwrap_or(100);
    let seconds: f64 = arg(&args, "--seconds").unwrap_or(10.0);
    let flag = |name: &str| args.iter().any(|a| a == name);
    let (direct, baseline) = (flag("--direct"), flag("--baseline"));
    if direct && (baseline || args.iter().any(|a| a == "--ng" || a == "--pid")) {
        eprintln!("--direct runs without a relay: it takes no --ng, --pid or --baseline");
        return ExitCode::FAILURE;
    }
    let config = |ng: Option<SocketAddr>, relay_pid: Option<u32>| LoadConfig {
        ng,
        calls,
        duration: Duration::from_secs_f64(seconds),
        relay_pid,
        local_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        record: flag("--record"),
    };
    if direct {
        return match run(&config(None, None)) {
            Ok(report) => {
                print!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("direct baseline failed: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut child = None;
    let ng: SocketAddr = match arg(&args, "--ng") {
        Some(ng) => ng,
        None => {
            let ng = SocketAddr::from(([127, 0, 0, 1], 22299));
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("cannot find myself: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let mut cmd = Command::new(exe);
            cmd.args(["relay", "--ng", &ng.to_string()]);
            for flag in ["--workers", "--coalesce-us"] {
                if let Some(w) = arg::<u64>(&args, flag) {
                    cmd.args([flag, &w.to_string()]);
                }
            }
            match cmd.spawn() {
                Ok(c) => child = Some(c),
                Err(e) => {
                    eprintln!("cannot start the relay: {e}");
                    return ExitCode::FAILURE;
                }
            }
            ng
        }
    };
    if !wait_for_ping(ng) {
        eprintln!("no ng answer from {ng}");
        if let Some(mut c) = child {
            let _ = c.kill();
            let _ = c.wait();
        }
        return ExitCode::FAILURE;
    }
    let relay_pid = arg(&args, "--pid").or(child.as_ref().map(|c| c.id()));
    let result = run(&config(Some(ng), relay_pid));
    if let Some(mut c) = child {
        let _ = c.kill();
        let _ = c.wait();
    }
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            eprintln!("load failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    if !baseline {
        print!("{report}");
        return ExitCode::SUCCESS;
    }
    // After the relay run (and once the relay this tool started is gone): a relay that
    // cannot be reached fails at once.
    match run(&config(None, None)) {
        Ok(direct) => {
            let cost = RelayCost {
                relay: &report,
                direct: &direct,
            };
            print!("{}", cost.with_runs(ng));
            ExitCode::SUCCESS
        }
        Err(e) => {
            print!("{report}");
            eprintln!("direct baseline failed: {e}");
            ExitCode::FAILURE
        }
    }
}
