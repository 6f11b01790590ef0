//! CPU accounting for the load generator, from `/proc`: one process's time, and the
//! whole machine's.
//!
//! A relay that forwards in user space spends its time in its own process. One that
//! forwards in the kernel (an eBPF TC program on loopback) spends it in the softirq of
//! whichever process sent the packet, here the generator: its own process's time then
//! shows almost nothing. The machine's busy time over the sending window counts both
//! kinds alike; a run without any relay (the direct baseline) gives what generating and
//! receiving the traffic cost, and the difference is the relay's.
//!
//! The machine's busy time is wall time × CPUs minus the idle, iowait and steal times of
//! `/proc/stat`, not the sum of its user, system, irq and softirq columns. Those columns
//! are sampled at each timer tick (4 ms at HZ=250), and a load that wakes every few
//! milliseconds in step with the timer defeats the sampling: on the project's VM
//! (NO_HZ idle, tick accounting) a 10 s direct run showed 11.1 s of "busy" ticks beside
//! 16.2 s of idle on two CPUs (27 s in 20), while the load tool itself used 3.6 s.
//! Under NO_HZ the kernel measures idle time exactly (`get_cpu_idle_time_us`), so the
//! complement is the honest figure; without NO_HZ it is as good as the ticks.
//!
//! The machine's figure counts every other process too, and on a saturated machine it
//! cannot grow at all: the relay's work only displaces someone else's. The attributed
//! figure counts only the processes the traffic runs in: the load tool, the relay and
//! the kernel's `ksoftirqd` threads (where softirq work goes when it is deferred). It
//! holds under other load on kernels that charge softirq time to the task it interrupts
//! (tick accounting without `CONFIG_IRQ_TIME_ACCOUNTING`, as on the project's VM): on
//! loopback that task is the sender. With `CONFIG_IRQ_TIME_ACCOUNTING` softirq time is
//! nobody's, and only the machine's figure sees a relay that forwards in the kernel.

use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc` times (`USER_HZ`).
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no pointer arguments.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// The machine's CPU time by kind, summed over all CPUs, in clock ticks: the aggregate
/// `cpu` line of `/proc/stat` (proc(5)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Normal processes in user mode (guest time is already in it).
    pub user: u64,
    /// Niced processes in user mode (niced guest time is already in it).
    pub nice: u64,
    /// Kernel mode on behalf of processes.
    pub system: u64,
    /// Idle.
    pub idle: u64,
    /// Idle with I/O outstanding.
    pub iowait: u64,
    /// Hardware interrupts.
    pub irq: u64,
    /// Software interrupts: on loopback, most of the packet path below the sockets.
    pub softirq: u64,
    /// Time the hypervisor ran something else while this machine wanted to run.
    pub steal: u64,
    /// CPUs counted (the `cpuN` lines).
    pub cpus: usize,
}

impl CpuTimes {
    /// Parses the text of `/proc/stat`; `None` if it has no aggregate `cpu` line with at
    /// least the seven fields from `user` to `softirq`.
    pub fn parse(stat: &str) -> Option<CpuTimes> {
        let mut total = None;
        let mut cpus = 0;
        for line in stat.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("cpu") => {
                    let f: Vec<u64> = words.map_while(|w| w.parse().ok()).collect();
                    if f.len() < 7 {
                        return None;
                    }
                    total = Some(CpuTimes {
                        user: f[0],
                        nice: f[1],
                        system: f[2],
                        idle: f[3],
                        iowait: f[4],
                        irq: f[5],
                        softirq: f[6],
                        // Linux before 2.6.11 has no steal column.
                        steal: f.get(7).copied().unwrap_or(0),
                        cpus: 0,
                    });
                }
                Some(w) if w.starts_with("cpu") && w[3..].parse::<u32>().is_ok() => cpus += 1,
                _ => {}
            }
        }
        total.map(|t| CpuTimes { cpus, ..t })
    }

    /// The machine's times now; `None` where `/proc/stat` cannot be read.
    pub fn read() -> Option<CpuTimes> {
        CpuTimes::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// Ticks some CPU worked as the timer tick sampled it: user, nice, system, irq and
    /// softirq (guest time is already in user and nice). Biased for loads in step with
    /// the tick: [`MachineCpu::busy_seconds`] is the figure to use.
    pub fn sampled_busy(&self) -> u64 {
        self.user + self.nice + self.system + self.irq + self.softirq
    }

    /// The times spent from `earlier` to `self`; `None` if a counter went backwards
    /// (not two readings of one machine in order).
    pub fn since(&self, earlier: &CpuTimes) -> Option<CpuTimes> {
        Some(CpuTimes {
            user: self.user.checked_sub(earlier.user)?,
            nice: self.nice.checked_sub(earlier.nice)?,
            system: self.system.checked_sub(earlier.system)?,
            idle: self.idle.checked_sub(earlier.idle)?,
            iowait: self.iowait.checked_sub(earlier.iowait)?,
            irq: self.irq.checked_sub(earlier.irq)?,
            softirq: self.softirq.checked_sub(earlier.softirq)?,
            steal: self.steal.checked_sub(earlier.steal)?,
            cpus: self.cpus,
        })
    }
}

/// One reading of the machine's times, and when it was taken.
#[derive(Debug, Clone, Copy)]
pub struct CpuReading {
    times: CpuTimes,
    at: Instant,
}

impl CpuReading {
    /// Reads `/proc/stat` now; `None` where it cannot be read.
    pub fn now() -> Option<CpuReading> {
        let times = CpuTimes::read()?;
        Some(CpuReading {
            times,
            at: Instant::now(),
        })
    }

    /// The machine's CPU use from `earlier` to this reading.
    pub fn since(&self, earlier: &CpuReading) -> Option<MachineCpu> {
        Some(MachineCpu {
            times: self.times.since(&earlier.times)?,
            wall: self.at.checked_duration_since(earlier.at)?,
        })
    }
}

/// The machine's CPU use over an interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MachineCpu {
    /// The `/proc/stat` times spent in the interval.
    pub times: CpuTimes,
    /// How long the interval was.
    pub wall: Duration,
}

impl MachineCpu {
    /// CPU seconds the machine worked: wall time × CPUs less idle and iowait, which are
    /// not work, and steal, which is another guest of the hypervisor running while this
    /// machine waited (it comes and goes with the neighbours, not with our packets).
    pub fn busy_seconds(&self) -> f64 {
        let all = self.wall.as_secs_f64() * self.times.cpus as f64;
        let not_busy = (self.times.idle + self.times.iowait + self.times.steal) as f64;
        (all - not_busy / ticks_per_second()).max(0.0)
    }

    /// [`busy_seconds`](Self::busy_seconds) as a share of all the CPUs' time, in percent:
    /// near 100, the machine was saturated and other work was displaced, not added to.
    pub fn busy_percent(&self) -> f64 {
        let all = self.wall.as_secs_f64() * self.times.cpus as f64;
        if all > 0.0 {
            (self.busy_seconds() * 100.0 / all).min(100.0)
        } else {
            0.0
        }
    }

    /// Stolen CPU seconds.
    pub fn steal_seconds(&self) -> f64 {
        self.times.steal as f64 / ticks_per_second()
    }
}

/// The one-minute load average, from `/proc/loadavg`.
pub fn load_average() -> Option<f64> {
    parse_load_average(&std::fs::read_to_string("/proc/loadavg").ok()?)
}

fn parse_load_average(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// The kernel's softirq threads (`ksoftirqd/N`), one per CPU.
pub fn ksoftirqd_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.starts_with("ksoftirqd/"))
        })
        .collect()
}

/// User + system CPU seconds of all of `pids` together; `None` if one cannot be read.
pub fn cpu_seconds_of(pids: &[u32]) -> Option<f64> {
    pids.iter().map(|&p| cpu_seconds(p)).sum()
}

/// User + system CPU seconds of a process, from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    process_ticks(&stat).map(|t| t as f64 / ticks_per_second())
}

/// utime + stime of a `/proc/PID/stat` text.
fn process_ticks(stat: &str) -> Option<u64> {
    // The command name may contain spaces; fields resume after its closing parenthesis.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = rest.split(' ').collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name and state.
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The process that owns a local UDP port (found through `/proc/net/udp*` and the
/// processes' open sockets); `None` if it cannot be seen (another user's process).
pub fn owner_of_udp_port(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let Some(local) = cols.get(1) else { continue };
            let Some((_, p)) = local.rsplit_once(':') else {
                continue;
            };
            if u16::from_str_radix(p, 16).ok() == Some(port)
                && let Some(inode) = cols.get(9)
            {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && inodes.iter().any(|i| target.as_os_str() == i.as_str())
            {
                return Some(pid);
            }
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    /// A real /proc/stat of a two-CPU machine (kernel 6.x), shortened after `intr`.
    const STAT: &str = "cpu  254086 1120 63290 1906421 2302 0 8744 31 0 0\n\
        cpu0 126751 553 31563 953542 1146 0 5821 17 0 0\n\
        cpu1 127335 567 31727 952879 1156 0 2923 14 0 0\n\
        intr 19823412 0 9 0 0 0 0 0 0 0 0\n\
        ctxt 41243552\nbtime 1764166000\nprocesses 95315\n";

    #[test]
    fn proc_stat_aggregate_line_and_cpu_count() {
        let t = CpuTimes::parse(STAT).unwrap();
        assert_eq!(
            t,
            CpuTimes {
                user: 254086,
                nice: 1120,
                system: 63290,
                idle: 1906421,
                iowait: 2302,
                irq: 0,
                softirq: 8744,
                steal: 31,
                cpus: 2,
            }
        );
        assert_eq!(t.sampled_busy(), 254086 + 1120 + 63290 + 8744);
    }

    #[test]
    fn proc_stat_old_and_broken_forms() {
        // No steal column (before 2.6.11): counted as none.
        let old = CpuTimes::parse("cpu 10 0 5 100 0 1 2\ncpu0 10 0 5 100 0 1 2\n").unwrap();
        assert_eq!((old.steal, old.sampled_busy(), old.cpus), (0, 18, 1));
        for bad in [
            "",
            "cpu0 1 2 3 4 5 6 7 8\n",
            "cpu 1 2 3\n",
            "cpu 1 2 x 4 5 6 7 8\n",
            "cpu -1 2 3 4 5 6 7 8\n",
            "intr 1 2 3\n",
        ] {
            assert_eq!(CpuTimes::parse(bad), None, "{bad:?}");
        }
        // "cpufreq" or the like is not a CPU.
        let t = CpuTimes::parse("cpu 1 1 1 1 1 1 1 1\ncpux 1\ncpu3 1 1 1 1 1 1 1 1\n").unwrap();
        assert_eq!(t.cpus, 1);
    }

    #[test]
    fn intervals_and_counters_that_go_backwards() {
        let a = CpuTimes::parse(STAT).unwrap();
        let b = CpuTimes {
            user: a.user + 300,
            system: a.system + 150,
            softirq: a.softirq + 50,
            idle: a.idle + 1000,
            steal: a.steal + 7,
            ..a
        };
        let d = b.since(&a).unwrap();
        assert_eq!(
            (d.sampled_busy(), d.idle, d.steal, d.cpus),
            (500, 1000, 7, 2)
        );
        assert_eq!(a.since(&b), None);
        assert_eq!(a.since(&a).unwrap().sampled_busy(), 0);
    }

    #[test]
    fn machine_busy_is_what_idle_iowait_and_steal_leave() {
        // USER_HZ is 100 on every Linux architecture Rust targets.
        let m = |idle, iowait, steal, secs| MachineCpu {
            times: CpuTimes {
                user: 999_999, // sampled, not used
                idle,
                iowait,
                steal,
                cpus: 2,
                ..CpuTimes::default()
            },
            wall: Duration::from_secs(secs),
        };
        // 20 CPU-seconds, 15 idle, 0.5 iowait, 0.5 stolen: 4 worked.
        let x = m(1500, 50, 50, 10);
        assert!((x.busy_seconds() - 4.0).abs() < 1e-9, "{x:?}");
        assert!((x.busy_percent() - 20.0).abs() < 1e-9, "{x:?}");
        assert!((x.steal_seconds() - 0.5).abs() < 1e-9);
        // Idle rounded up past the wall time: nothing worked, not less than nothing.
        assert_eq!(m(2001, 0, 0, 10).busy_seconds(), 0.0);
        assert_eq!(m(0, 0, 0, 0).busy_percent(), 0.0);
        assert_eq!(m(0, 0, 0, 10).busy_percent(), 100.0);
        // Readings in order give an interval.
        let r0 = CpuReading::now().unwrap();
        let r1 = CpuReading::now().unwrap();
        let i = r1.since(&r0).unwrap();
        assert!(i.times.cpus >= 1 && i.busy_percent() <= 100.0);
    }

    #[test]
    fn this_machine_and_this_process() {
        let now = CpuTimes::read().unwrap();
        assert!(now.cpus >= 1);
        assert!(load_average().unwrap() >= 0.0);
        assert_eq!(
            parse_load_average("1.98 0.96 0.41 3/190 11650\n"),
            Some(1.98)
        );
        assert_eq!(parse_load_average(""), None);
        assert!(cpu_seconds(std::process::id()).is_some());
        assert!(cpu_seconds(u32::MAX).is_none());
        assert_eq!(
            process_ticks("1 (a) b) S 0 0 0 0 0 0 0 0 0 0 7 8 0"),
            Some(15)
        );
        assert_eq!(process_ticks("1 (no close"), None);
        assert_eq!(process_ticks("1 (x)"), None);
        let me = std::process::id();
        assert!(cpu_seconds_of(&[me, me]).unwrap() >= 2.0 * cpu_seconds(me).unwrap());
        assert_eq!(cpu_seconds_of(&[me, u32::MAX]), None);
        assert_eq!(cpu_seconds_of(&[]), Some(0.0));
        let ksoftirqd = ksoftirqd_pids();
        assert!(!ksoftirqd.contains(&me));
        assert!(cpu_seconds_of(&ksoftirqd).is_some());
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        assert_eq!(
            owner_of_udp_port(s.local_addr().unwrap().port()),
            Some(std::process::id())
        );
    }
}
