//! `vss bench rtp`: the RTP load tool (issue 4) against any relay with an ng port.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use media::loadgen::{LoadConfig, RelayCost};

/// Options of `vss bench rtp`.
#[derive(Debug, clap::Args)]
pub(crate) struct RtpArgs {
    /// Concurrent calls; each sends G.711 at 50 packets/s in each direction from both ends.
    #[arg(long, default_value_t = 100)]
    pub(crate) calls: usize,
    /// Seconds of media.
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// The relay's ng control port (a running `vss serve`, or rtpengine); default: this
    /// configuration's `media.ng_listen`.
    #[arg(long, value_name = "ADDR")]
    pub(crate) ng: Option<SocketAddr>,
    /// The relay's process id, for its CPU time; default: the owner of the ng port.
    #[arg(long)]
    pub(crate) pid: Option<u32>,
    /// The address the simulated ends use and write into their SDP.
    #[arg(long, default_value = "127.0.0.1")]
    pub(crate) local_ip: IpAddr,
    /// Ask the relay to record every call.
    #[arg(long)]
    pub(crate) record: bool,
    /// No relay: each end sends straight to the other end's socket, with the same calls,
    /// rate, sizes and pacing. Its machine CPU per packet is what generating and
    /// receiving the traffic costs.
    #[arg(long, conflicts_with_all = ["ng", "pid", "record", "baseline"])]
    pub(crate) direct: bool,
    /// Run the direct baseline right after the relay run, and print the relay's cost per
    /// packet system-wide: the machine's busy CPU per packet with the relay minus without
    /// (the figure that also counts a relay forwarding in the kernel).
    #[arg(long)]
    pub(crate) baseline: bool,
}

impl RtpArgs {
    /// Whether the run needs an ng address from the configuration.
    pub(crate) fn needs_config_ng(&self) -> bool {
        !self.direct && self.ng.is_none()
    }
}

/// Run the load and print the report.
pub(crate) fn rtp(
    args: &RtpArgs,
    config_ng: Option<SocketAddr>,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    if args.calls == 0 || args.seconds == 0 {
        anyhow::bail!("--calls and --seconds must be at least 1");
    }
    let config = |ng| LoadConfig {
        ng,
        calls: args.calls,
        duration: Duration::from_secs(args.seconds),
        relay_pid: args.pid,
        local_ip: args.local_ip,
        record: args.record,
    };
    let direct = || media::loadgen::run(&config(None)).context("direct baseline run");
    if args.direct {
        write!(out, "{}", direct()?)?;
        return Ok(());
    }
    let ng = args
        .ng
        .or(config_ng)
        .context("no ng address: give --ng ADDR or set media.ng_listen")?;
    let report =
        media::loadgen::run(&config(Some(ng))).with_context(|| format!("load run against {ng}"))?;
    // After, not before: a relay that cannot be reached fails at once.
    match args.baseline.then(direct).transpose()? {
        None => write!(out, "{report}")?,
        Some(direct) => {
            let cost = RelayCost {
                relay: &report,
                direct: &direct,
            };
            write!(out, "{}", cost.with_runs(ng))?;
        }
    }
    Ok(())
}
