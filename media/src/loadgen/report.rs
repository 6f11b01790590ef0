//! What a load run measured, and the relay's cost against a direct baseline.

use std::fmt;
use std::net::SocketAddr;

use super::cpu::MachineCpu;

/// The results of a run.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LoadReport {
    /// No relay: each end sent straight to the other (the direct baseline).
    pub direct: bool,
    /// Calls set up.
    pub calls: usize,
    /// Seconds media flowed.
    pub seconds: f64,
    /// Packets sent (to the relay, or to the other end in the direct baseline).
    pub offered: u64,
    /// Packets that arrived (through the relay, or directly).
    pub delivered: u64,
    /// Mean one-way latency (through the relay), µs.
    pub latency_mean_us: f64,
    /// Median latency, µs.
    pub latency_p50_us: u64,
    /// 99th percentile latency, µs.
    pub latency_p99_us: u64,
    /// Largest latency, µs.
    pub latency_max_us: u64,
    /// The relay's process, if known.
    pub relay_pid: Option<u32>,
    /// CPU seconds (user + system) the relay used while media flowed.
    pub relay_cpu_seconds: Option<f64>,
    /// The whole machine's CPU times while media flowed (all CPUs, every process, the
    /// kernel's interrupt work included).
    pub machine_cpu: Option<MachineCpu>,
    /// CPU seconds (user + system) this process, the generator and receiver, used while
    /// media flowed.
    pub generator_cpu_seconds: Option<f64>,
    /// CPU seconds the kernel's `ksoftirqd` threads used while media flowed.
    pub softirqd_cpu_seconds: Option<f64>,
    /// The one-minute load average when media started: how busy the machine already was.
    pub load_average: Option<f64>,
    /// Recordings the relay reported when the calls were deleted.
    pub recordings: u64,
    /// Gaps those recordings reported (late, undecodable or dropped packets).
    pub recording_gaps: u64,
    /// Frames those recordings hold in total.
    pub recording_frames: u64,
}

impl LoadReport {
    /// Packets lost (offered but never delivered).
    pub fn lost(&self) -> u64 {
        self.offered.saturating_sub(self.delivered)
    }

    /// Loss in percent.
    pub fn loss_percent(&self) -> f64 {
        if self.offered == 0 {
            0.0
        } else {
            self.lost() as f64 * 100.0 / self.offered as f64
        }
    }

    /// `cpu_seconds` over the delivered packets, in µs each; `None` if none arrived.
    fn us_per_packet(&self, cpu_seconds: f64) -> Option<f64> {
        (self.delivered > 0).then(|| cpu_seconds * 1e6 / self.delivered as f64)
    }

    /// Relay CPU seconds per million relayed packets (equal to its µs per packet).
    pub fn cpu_seconds_per_million(&self) -> Option<f64> {
        self.us_per_packet(self.relay_cpu_seconds?)
    }

    /// The machine's busy CPU µs per delivered packet ([`MachineCpu::busy_seconds`]).
    pub fn machine_us_per_packet(&self) -> Option<f64> {
        self.us_per_packet(self.machine_cpu?.busy_seconds())
    }

    /// CPU seconds of the processes the traffic ran in: the load tool, the relay (none in
    /// the direct baseline) and `ksoftirqd` (see [`cpu`](super::cpu)).
    pub fn attributed_cpu_seconds(&self) -> Option<f64> {
        let relay = if self.direct {
            0.0
        } else {
            self.relay_cpu_seconds?
        };
        Some(self.generator_cpu_seconds? + relay + self.softirqd_cpu_seconds?)
    }

    /// [`attributed_cpu_seconds`](Self::attributed_cpu_seconds) µs per delivered packet.
    pub fn attributed_us_per_packet(&self) -> Option<f64> {
        self.us_per_packet(self.attributed_cpu_seconds()?)
    }
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "calls            {}", self.calls)?;
        writeln!(f, "seconds          {:.1}", self.seconds)?;
        writeln!(
            f,
            "offered packets  {} ({:.0}/s)",
            self.offered,
            self.offered as f64 / self.seconds.max(1e-9)
        )?;
        writeln!(f, "delivered        {}", self.delivered)?;
        writeln!(
            f,
            "lost             {} ({:.4} %)",
            self.lost(),
            self.loss_percent()
        )?;
        writeln!(
            f,
            "latency µs       mean {:.0}  p50 {}  p99 {}  max {}",
            self.latency_mean_us, self.latency_p50_us, self.latency_p99_us, self.latency_max_us
        )?;
        match (
            self.direct,
            self.relay_pid,
            self.relay_cpu_seconds,
            self.cpu_seconds_per_million(),
        ) {
            (true, ..) => writeln!(
                f,
                "relay            none (direct baseline: each end sends straight to the other)"
            ),
            (false, Some(pid), Some(cpu), Some(per)) => {
                writeln!(
                    f,
                    "relay pid {pid}    cpu {cpu:.2} s  =  {per:.2} CPU-s per million packets ({:.2} µs/packet)",
                    per
                )
            }
            _ => writeln!(f, "relay cpu        unknown (no pid)"),
        }?;
        match (self.machine_cpu, self.machine_us_per_packet()) {
            (Some(cpu), Some(per)) => writeln!(
                f,
                "machine cpu      {:.2} s busy on {} CPUs ({:.1} %)  =  {per:.2} µs/packet  \
                 (wall × CPUs − idle − iowait − steal; steal {:.2} s)",
                cpu.busy_seconds(),
                cpu.times.cpus,
                cpu.busy_percent(),
                cpu.steal_seconds()
            ),
            _ => writeln!(
                f,
                "machine cpu      unknown (no /proc/stat or nothing delivered)"
            ),
        }?;
        if let Some(cpu) = self.generator_cpu_seconds {
            writeln!(
                f,
                "load tool cpu    {cpu:.2} s (this process: generator and receiver)"
            )?;
        }
        if let (Some(cpu), Some(per)) = (
            self.attributed_cpu_seconds(),
            self.attributed_us_per_packet(),
        ) {
            writeln!(
                f,
                "attributed cpu   {cpu:.2} s  =  {per:.2} µs/packet  (load tool + relay + ksoftirqd {:.2} s)",
                self.softirqd_cpu_seconds.unwrap_or(0.0)
            )?;
        }
        if let Some(load) = self.load_average {
            writeln!(f, "load average     {load:.2} (1 min, at the start)")?;
        }
        if self.recordings > 0 {
            writeln!(
                f,
                "recordings       {}  gaps {}  frames {} ({:.1} s per call)",
                self.recordings,
                self.recording_gaps,
                self.recording_frames,
                self.recording_frames as f64 / 8000.0 / self.recordings as f64
            )?;
        }
        Ok(())
    }
}

/// A relay run set against a direct baseline of the same load: what the relay itself
/// cost per packet, on the whole machine and in its own process.
#[derive(Debug, Clone, Copy)]
pub struct RelayCost<'a> {
    /// The run through the relay.
    pub relay: &'a LoadReport,
    /// The run without it.
    pub direct: &'a LoadReport,
}

impl RelayCost<'_> {
    /// The direct baseline's report, the relay run's and this cost, each under a heading:
    /// what `--baseline` prints.
    pub fn with_runs(&self, relay_at: SocketAddr) -> String {
        format!(
            "== direct baseline (no relay) ==\n{}\
             == through the relay at {relay_at} ==\n{}\
             == relay cost ==\n{self}",
            self.direct, self.relay
        )
    }

    /// Machine busy µs per packet with the relay minus that of the direct baseline. It
    /// may come out negative when the machine's other load changed between the runs.
    pub fn system_wide_us(&self) -> Option<f64> {
        Some(self.relay.machine_us_per_packet()? - self.direct.machine_us_per_packet()?)
    }

    /// Attributed µs per packet (load tool, relay, ksoftirqd) with the relay minus that of
    /// the direct baseline.
    pub fn attributed_us(&self) -> Option<f64> {
        Some(self.relay.attributed_us_per_packet()? - self.direct.attributed_us_per_packet()?)
    }
}

impl fmt::Display for RelayCost<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (
            self.relay.machine_us_per_packet(),
            self.direct.machine_us_per_packet(),
        ) {
            (Some(r), Some(d)) => writeln!(
                f,
                "relay cost per packet (system-wide)  {r:.2} − {d:.2} = {:.2} µs  \
                 (machine busy µs/packet: with the relay − direct baseline)",
                r - d
            ),
            _ => writeln!(f, "relay cost per packet (system-wide)  unknown"),
        }?;
        match (
            self.relay.attributed_us_per_packet(),
            self.direct.attributed_us_per_packet(),
        ) {
            (Some(r), Some(d)) => writeln!(
                f,
                "relay cost per packet (attributed)   {r:.2} − {d:.2} = {:.2} µs  \
                 (load tool + relay + ksoftirqd µs/packet: with the relay − direct baseline)",
                r - d
            ),
            _ => writeln!(f, "relay cost per packet (attributed)   unknown"),
        }?;
        match (self.relay.relay_pid, self.relay.cpu_seconds_per_million()) {
            (Some(pid), Some(per)) => writeln!(
                f,
                "relay cost per packet (per-process)  {per:.2} µs  (relay pid {pid} only)"
            ),
            _ => writeln!(f, "relay cost per packet (per-process)  unknown (no pid)"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::loadgen::CpuTimes;
    use std::time::Duration;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-6)
    }

    fn run(direct: bool, busy_ticks: u64, delivered: u64) -> LoadReport {
        LoadReport {
            direct,
            calls: 10,
            seconds: 1.0,
            offered: 1000,
            delivered,
            relay_pid: (!direct).then_some(42),
            relay_cpu_seconds: (!direct).then_some(0.004),
            // Two CPUs for one second: 200 ticks, less idle and steal.
            machine_cpu: Some(MachineCpu {
                times: CpuTimes {
                    idle: 197 - busy_ticks,
                    steal: 3,
                    cpus: 2,
                    ..CpuTimes::default()
                },
                wall: Duration::from_secs(1),
            }),
            generator_cpu_seconds: Some(0.001),
            softirqd_cpu_seconds: Some(0.002),
            load_average: Some(1.5),
            ..LoadReport::default()
        }
    }

    #[test]
    fn per_packet_figures() {
        // USER_HZ is 100 on every Linux architecture Rust targets.
        let r = run(false, 2, 1000);
        assert!(close(r.machine_us_per_packet(), 20.0), "{r:?}");
        assert_eq!(r.cpu_seconds_per_million(), Some(4.0));
        let nothing = run(false, 2, 0);
        assert_eq!(nothing.machine_us_per_packet(), None);
        assert_eq!(nothing.cpu_seconds_per_million(), None);
        let text = r.to_string();
        assert!(
            text.contains("machine cpu      0.02 s busy on 2 CPUs (1.0 %)  =  20.00 µs/packet"),
            "{text}"
        );
        assert!(text.contains("steal 0.03 s)"), "{text}");
        assert!(text.contains("(4.00 µs/packet)"), "{text}");
        assert!(text.contains("load average     1.50"), "{text}");
        // Load tool 1 ms + relay 4 ms + ksoftirqd 2 ms over 1000 packets.
        assert_eq!(r.attributed_us_per_packet(), Some(7.0));
        assert!(
            text.contains(
                "attributed cpu   0.01 s  =  7.00 µs/packet  (load tool + relay + ksoftirqd 0.00 s)"
            ),
            "{text}"
        );
        // No relay in the baseline: its pid and time, if any, are not counted.
        let direct = LoadReport {
            relay_cpu_seconds: Some(9.0),
            ..run(true, 1, 500)
        };
        assert_eq!(direct.attributed_us_per_packet(), Some(6.0));
        let d = direct.to_string();
        assert!(d.contains("relay            none (direct baseline"), "{d}");
        assert!(!d.contains("relay pid"), "{d}");
    }

    #[test]
    fn relay_cost_is_the_difference_and_shows_both_terms() {
        let (relay, direct) = (run(false, 3, 1000), run(true, 1, 1000));
        let cost = RelayCost {
            relay: &relay,
            direct: &direct,
        };
        assert!(close(cost.system_wide_us(), 20.0));
        let text = cost.to_string();
        assert!(
            text.contains("relay cost per packet (system-wide)  30.00 − 10.00 = 20.00 µs"),
            "{text}"
        );
        assert!(
            text.contains("relay cost per packet (per-process)  4.00 µs  (relay pid 42 only)"),
            "{text}"
        );
        // 7 µs with the relay, 3 µs without: the relay's 4 µs.
        assert_eq!(cost.attributed_us(), Some(4.0));
        assert!(
            text.contains("relay cost per packet (attributed)   7.00 − 3.00 = 4.00 µs"),
            "{text}"
        );
        // --baseline's output: each run's report, then the cost, under their headings.
        assert_eq!(
            cost.with_runs("127.0.0.1:22222".parse().unwrap()),
            format!(
                "== direct baseline (no relay) ==\n{direct}\
                 == through the relay at 127.0.0.1:22222 ==\n{relay}\
                 == relay cost ==\n{text}"
            )
        );
        // A noisy machine can make the relay look cheaper than nothing: shown, not hidden.
        let busy_baseline = run(true, 4, 1000);
        let negative = RelayCost {
            relay: &relay,
            direct: &busy_baseline,
        };
        assert!(close(negative.system_wide_us(), -10.0));
        assert!(negative.to_string().contains("= -10.00 µs"));
        let unknown = RelayCost {
            relay: &run(false, 3, 0),
            direct: &direct,
        };
        assert_eq!(unknown.system_wide_us(), None);
        assert!(unknown.to_string().contains("(system-wide)  unknown"));
        assert!(unknown.to_string().contains("(per-process)  unknown"));
        assert!(unknown.to_string().contains("(attributed)   unknown"));
    }
}
