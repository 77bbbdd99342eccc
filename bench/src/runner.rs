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
    /// Case `index` of `total` starts.
    Case {
        /// 1-based position.
        index: usize,
        /// Number of cases.
        total: usize,
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
            Progress::Case { index, total, name } => write!(f, "[{index}/{total}] {name}"),
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
    let mut rows = Vec::new();
    for (i, id) in config.cases.iter().enumerate() {
        let info = id.info();
        progress(&Progress::Case {
            index: i + 1,
            total: config.cases.len(),
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
        rows.push(row);
    }
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
        (config.warmup / scale, config.rounds / scale)
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
    row.throughput = m
        .client
        .stream_time
        .filter(|t| !t.is_zero() && timed > 0)
        .map(|t| timed as f64 / t.as_secs_f64());
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
