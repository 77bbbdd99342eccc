//! [`run`]: every configured case in turn, then the grid, with the load
//! sampled before and after.

use std::fmt;

use crate::cases::{self, CaseInfo, Ctx, Measured};
use crate::config::Config;
use crate::driver::Plan;
use crate::error::Result;
use crate::grid;
use crate::report::{Report, Row};
use crate::stats::Latency;
use crate::syscalls::SyscallCounter;
use crate::system;
use crate::targets;

/// What [`run`] is doing, for a progress display.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Progress {
    /// Sampling the background load (`before`: at the start).
    SamplingLoad {
        /// Whether this is the sample before the cases.
        before: bool,
    },
    /// Case `index` of `total` starts, in repetition `round` of `rounds`.
    Case {
        /// 1-based position.
        index: usize,
        /// Number of cases.
        total: usize,
        /// 1-based repetition.
        round: u32,
        /// Number of repetitions.
        rounds: u32,
        /// The case's name.
        name: &'static str,
    },
    /// A case finished.
    CaseDone(Box<Row>),
    /// A point of the MPMC grid starts.
    Grid {
        /// Producers.
        producers: u32,
        /// Consumers.
        consumers: u32,
    },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::SamplingLoad { before: true } => f.write_str("sampling background load"),
            Progress::SamplingLoad { before: false } => f.write_str("sampling load again"),
            Progress::Case {
                index,
                total,
                round,
                rounds,
                name,
            } => write!(f, "[{round}/{rounds}: {index}/{total}] {name}"),
            Progress::CaseDone(row) => match (&row.error, row.latency, row.throughput) {
                (Some(e), _, _) => write!(f, "  {} failed: {e}", row.case.name),
                (None, l, t) => write!(
                    f,
                    "  {}: p50 {} ns, {} msg/s",
                    row.case.name,
                    l.map_or(0, |l| l.p50_ns),
                    t.map_or(0, |t| t as u64)
                ),
            },
            Progress::Grid {
                producers,
                consumers,
            } => write!(f, "MPMC grid {producers} × {consumers}"),
        }
    }
}

/// Runs the benchmark as `config` says and returns the report; `progress`
/// hears of each step. Failed cases appear in the report with their error.
pub fn run(config: &Config, progress: &mut dyn FnMut(&Progress)) -> Report {
    let machine = system::machine();
    let allowed = system::allowed_cpus();
    let mut cpus = config
        .cpus
        .or_else(|| (allowed.len() >= 2).then(|| [allowed[0], allowed[1]]));
    progress(&Progress::SamplingLoad { before: true });
    let load_before = system::background_load(config.load_window);
    if let Some([mine, _]) = cpus
        && system::pin_current_thread(mine).is_err()
    {
        cpus = None;
    }
    let counter = SyscallCounter::open();
    let repeat = config.repeat.max(1);
    let mut runs: Vec<Vec<Row>> = vec![Vec::new(); config.cases.len()];
    for round in 1..=repeat {
        for (i, id) in config.cases.iter().enumerate() {
            let info = id.info();
            progress(&Progress::Case {
                index: i + 1,
                total: config.cases.len(),
                round,
                rounds: repeat,
                name: info.name,
            });
            let plan = plan_for(config, info);
            let ctx = Ctx {
                config,
                info,
                cpus,
                plan,
                counter: counter.as_ref(),
            };
            let result = cases::run_parent(*id, &ctx);
            let main_pinned = cpus.map(|[mine, _]| system::pin_held(mine));
            let row = to_row(info, &plan, result, main_pinned);
            progress(&Progress::CaseDone(Box::new(row.clone())));
            runs[i].push(row);
        }
    }
    let rows: Vec<Row> = runs.into_iter().filter_map(merge).collect();
    // Unpinned again for the grid's threads and for the caller.
    let _ = system::set_affinity(&allowed);
    let grid = grid::run(config, progress);
    progress(&Progress::SamplingLoad { before: false });
    let load_after = system::background_load(config.load_window);
    let targets = targets::evaluate(&rows);
    Report {
        date: system::utc_date(),
        machine,
        quick: config.quick,
        repeat,
        cpus,
        syscalls_counted: counter.is_some(),
        load_before,
        load_after,
        rows,
        grid,
        targets,
    }
}

fn plan_for(config: &Config, info: &CaseInfo) -> Plan {
    let (warmup, rounds) = if info.round_trips {
        let scale = if info.slow { 4 } else { 1 };
        // Large messages: at most the byte budget each way.
        let cap = (config.byte_budget / info.size.max(1) as u64).min(u64::from(u32::MAX)) as u32;
        (
            (config.warmup / scale).min(cap / 10),
            (config.rounds / scale).min(cap).max(1),
        )
    } else {
        (0, 0)
    };
    Plan {
        warmup,
        rounds,
        messages: if info.throughput {
            config.messages_for(info.slow, info.size).max(2)
        } else {
            0
        },
        size: info.size,
    }
}

/// One row from a case's repetitions: the latencies of the repetition with
/// the median p50, the median throughputs, the most system calls, pinning
/// held only if it held every time; the first error if any failed.
fn merge(mut runs: Vec<Row>) -> Option<Row> {
    if let Some(failed) = runs.iter().find(|r| r.error.is_some()) {
        return Some(failed.clone());
    }
    if runs.len() <= 1 {
        return runs.pop();
    }
    let mut row = runs[0].clone();
    let mut by_p50: Vec<_> = runs.iter().filter_map(|r| r.latency).collect();
    by_p50.sort_by_key(|l| l.p50_ns);
    row.latency = by_p50.get(by_p50.len() / 2).copied();
    let mid = |f: fn(&Row) -> Option<f64>| {
        let mut v: Vec<f64> = runs.iter().filter_map(f).collect();
        v.sort_unstable_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    row.throughput = mid(|r| r.throughput);
    row.throughput_mean = mid(|r| r.throughput_mean);
    let most = |f: fn(&Row) -> Option<f64>| runs.iter().filter_map(f).reduce(f64::max);
    row.rtt_syscalls = most(|r| r.rtt_syscalls);
    row.msg_syscalls = most(|r| r.msg_syscalls);
    row.pinned = runs.iter().map(|r| r.pinned).reduce(|a, b| match (a, b) {
        (Some(x), Some(y)) => Some(x && y),
        _ => None,
    })?;
    Some(row)
}

/// The median of at least three window rates.
fn median(rates: &mut [f64]) -> Option<f64> {
    if rates.len() < 3 {
        return None;
    }
    rates.sort_unstable_by(f64::total_cmp);
    Some(rates[rates.len() / 2])
}

fn to_row(
    case: &'static CaseInfo,
    plan: &Plan,
    result: Result<Measured>,
    main_pinned: Option<bool>,
) -> Row {
    let mut row = Row {
        case,
        latency: None,
        throughput: None,
        throughput_mean: None,
        rtt_syscalls: None,
        msg_syscalls: None,
        pinned: None,
        error: None,
    };
    let mut m = match result {
        Ok(m) => m,
        Err(e) => {
            row.error = Some(e);
            return row;
        }
    };
    row.latency = Latency::from_samples(&mut m.client.rtt_ns);
    let messages = if m.messages > 0 {
        m.messages
    } else {
        plan.messages
    };
    // The clock starts at the first message: `messages - 1` are timed.
    let timed = messages.saturating_sub(1);
    let mean = m
        .client
        .stream_time
        .filter(|t| !t.is_zero() && timed > 0)
        .map(|t| timed as f64 / t.as_secs_f64());
    row.throughput_mean = mean;
    row.throughput = median(&mut m.client.stream_windows).or(mean);
    let both = |a: Option<u64>, b: Option<u64>| Some(a? + b?);
    if plan.rounds > 0 {
        row.rtt_syscalls = both(m.client.rtt_syscalls, m.peer.server.rtt_syscalls)
            .map(|n| n as f64 / f64::from(plan.rounds));
    }
    if timed > 0 {
        row.msg_syscalls = both(m.client.stream_syscalls, m.peer.server.stream_syscalls)
            .map(|n| n as f64 / timed as f64);
    }
    row.pinned = match (main_pinned, m.peer.pinned) {
        (Some(a), Some(b)) => Some(a && b),
        _ => None,
    };
    row
}
