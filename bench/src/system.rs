//! The machine the run happens on: CPU pinning, background load, and a
//! description for the report.

use std::fs;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};

use crate::error::{Result, ctx};

/// CPUs this thread may run on.
pub fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Restricts the calling thread to `cpu` (`sched_setaffinity`).
///
/// # Errors
///
/// The kernel's refusal (a CPU outside the allowed set).
pub fn pin_current_thread(cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).map_err(ctx("sched_setaffinity"))
}

/// Restricts the calling thread to the CPUs in `cpus`.
///
/// # Errors
///
/// As [`pin_current_thread`].
pub fn set_affinity(cpus: &[usize]) -> Result<()> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c);
    }
    sched_setaffinity(None, &set).map_err(ctx("sched_setaffinity"))
}

/// Whether the calling thread is still pinned to `cpu` alone and running on
/// it now.
pub fn pin_held(cpu: usize) -> bool {
    let only_cpu = allowed_cpus() == [cpu];
    only_cpu && sched_getcpu() == cpu
}

/// CPU time counters of the whole machine (`/proc/stat`, first line), in
/// clock ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTimes {
    /// Ticks spent not idle (user, nice, system, irq, softirq, steal).
    pub busy: u64,
    /// All ticks.
    pub total: u64,
}

/// Reads [`CpuTimes`]; `None` without `/proc/stat`.
pub fn cpu_times() -> Option<CpuTimes> {
    let text = fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let get = |i: usize| fields.get(i).copied().unwrap_or(0);
    let idle = get(3) + get(4);
    let total: u64 = fields.iter().take(8).sum();
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// The machine's load while this process stands still.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Load {
    /// `/proc/loadavg`: 1, 5 and 15 minute averages.
    pub loadavg: [f64; 3],
    /// Share of all CPUs busy with other work over the sampling window,
    /// in percent.
    pub busy_percent: Option<f64>,
}

/// Samples the background load: sleeps `window` and reports how busy the
/// CPUs were meanwhile, with the load averages.
pub fn background_load(window: Duration) -> Load {
    let before = cpu_times();
    std::thread::sleep(window);
    let after = cpu_times();
    let busy_percent = match (before, after) {
        (Some(a), Some(b)) if b.total > a.total => {
            Some(100.0 * (b.busy - a.busy) as f64 / (b.total - a.total) as f64)
        }
        _ => None,
    };
    Load {
        loadavg: loadavg().unwrap_or([0.0; 3]),
        busy_percent,
    }
}

fn loadavg() -> Option<[f64; 3]> {
    let text = fs::read_to_string("/proc/loadavg").ok()?;
    let mut it = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// A description of the machine for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    /// CPU model name from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// CPUs online.
    pub cpus: usize,
    /// Kernel release.
    pub kernel: String,
}

/// Describes this machine.
pub fn machine() -> Machine {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown CPU".to_owned(), |(_, m)| m.trim().to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned());
    Machine {
        cpu_model,
        cpus,
        kernel,
    }
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub fn utc_date() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Howard Hinnant's days-to-civil: the proleptic Gregorian date of `days`
/// since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn pinning_holds_on_an_allowed_cpu() {
        let allowed = allowed_cpus();
        let cpu = *allowed.last().unwrap();
        std::thread::spawn(move || {
            pin_current_thread(cpu).unwrap();
            assert!(pin_held(cpu));
        })
        .join()
        .unwrap();
    }
}
