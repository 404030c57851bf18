//! CPU time and memory of a process, read from `/proc` (Linux).

use std::time::Instant;

/// Clock ticks per second of `/proc/PID/stat` (`USER_HZ`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;
/// The resolution of CPU times read from `/proc`, in milliseconds.
pub const TICK_MS: f64 = 1000.0 / TICKS_PER_SECOND;

/// CPU time (user + system) of a process in milliseconds.
pub fn cpu_ms(pid: u32) -> Option<f64> {
    cpu_times_ms(pid).map(|(user, system)| user + system)
}

/// CPU time of a process in milliseconds: `(user, system)`. System time is
/// the kernel working for the process: for a server on loopback, mostly the
/// TCP stack sending (and, on loopback, receiving) its writes.
pub fn cpu_times_ms(pid: u32) -> Option<(f64, f64)> {
    stat_cpu_times_ms(&format!("/proc/{pid}/stat"))
}

/// The calling thread's CPU time in milliseconds: `(user, system)`.
pub fn thread_cpu_times_ms() -> Option<(f64, f64)> {
    stat_cpu_times_ms("/proc/thread-self/stat")
}

fn stat_cpu_times_ms(path: &str) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let ms = |ticks: f64| ticks * 1000.0 / TICKS_PER_SECOND;
    Some((ms(utime), ms(stime)))
}

/// CPU time (user + system) of the children a process has waited for, in
/// milliseconds (`cutime` + `cstime`): how the generator counts what a
/// child such as `wrk` used, once it has exited.
pub fn children_cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let cutime: f64 = fields.get(13)?.parse().ok()?;
    let cstime: f64 = fields.get(14)?.parse().ok()?;
    Some((cutime + cstime) * 1000.0 / TICKS_PER_SECOND)
}

/// Resident set size of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A sample of the server and of the generator at one moment.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    at: Instant,
    server_cpu_ms: Option<(f64, f64)>,
    server_rss_kib: Option<f64>,
    own_cpu_ms: Option<f64>,
}

/// What happened between two samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct Delta {
    /// Wall time in seconds.
    pub wall_s: f64,
    /// Server CPU time in milliseconds (None without a pid).
    pub server_cpu_ms: Option<f64>,
    /// The part of it spent in the kernel, in milliseconds.
    pub server_sys_ms: Option<f64>,
    /// Change of the server's RSS in KiB.
    pub server_rss_kib: Option<f64>,
    /// The server's RSS at the end, KiB.
    pub server_rss_end_kib: Option<f64>,
    /// The generator's CPU use as a fraction of the machine's cores.
    pub generator_load: f64,
}

impl Sample {
    /// Sample now; `pids`: the server's processes (summed; none: not
    /// measured).
    pub fn take(pids: &[u32]) -> Sample {
        let sum = |read: fn(u32) -> Option<f64>| -> Option<f64> {
            if pids.is_empty() {
                return None;
            }
            pids.iter().map(|p| read(*p)).sum()
        };
        Sample {
            at: Instant::now(),
            server_cpu_ms: sum(|p| cpu_times_ms(p).map(|t| t.0))
                .zip(sum(|p| cpu_times_ms(p).map(|t| t.1))),
            server_rss_kib: sum(rss_kib),
            own_cpu_ms: cpu_ms(std::process::id()),
        }
    }

    /// The server's RSS (summed over its processes) in KiB, if measured.
    pub fn server_rss_kib(&self) -> Option<f64> {
        self.server_rss_kib
    }

    /// From this sample to a later one.
    pub fn until(&self, later: &Sample) -> Delta {
        let wall_s = (later.at - self.at).as_secs_f64();
        let diff = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
        let cores = std::thread::available_parallelism()
            .map(|n| n.get() as f64)
            .unwrap_or(1.0);
        let own = diff(self.own_cpu_ms, later.own_cpu_ms).unwrap_or(0.0);
        Delta {
            wall_s,
            server_cpu_ms: diff(
                self.server_cpu_ms.map(|(u, s)| u + s),
                later.server_cpu_ms.map(|(u, s)| u + s),
            ),
            server_sys_ms: diff(
                self.server_cpu_ms.map(|(_, s)| s),
                later.server_cpu_ms.map(|(_, s)| s),
            ),
            server_rss_kib: diff(self.server_rss_kib, later.server_rss_kib),
            server_rss_end_kib: later.server_rss_kib,
            generator_load: if wall_s > 0.0 {
                own / 1000.0 / wall_s / cores
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        assert!(cpu_ms(std::process::id()).is_some());
        assert!(children_cpu_ms(std::process::id()).is_some());
        assert!(rss_kib(std::process::id()).unwrap() > 100.0);
    }
}
