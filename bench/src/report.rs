//! The results of a run and their markdown table.

use std::fmt::Write as _;

use crate::cases::{CaseInfo, Group};
use crate::error::BenchError;
use crate::grid::GridPoint;
use crate::stats::Latency;
use crate::system::{Load, Machine};
use crate::targets::{Target, TargetStatus};

/// One case's results.
#[derive(Clone, Debug)]
pub struct Row {
    /// The case.
    pub case: &'static CaseInfo,
    /// Round-trip percentiles (`None` without a round-trip phase).
    pub latency: Option<Latency>,
    /// One-way messages per second: the median rate of windows of 4096
    /// messages (the mean where the phase had fewer than three windows).
    pub throughput: Option<f64>,
    /// One-way messages per second over the whole phase, preemptions
    /// included.
    pub throughput_mean: Option<f64>,
    /// System calls per round trip, both sides together.
    pub rtt_syscalls: Option<f64>,
    /// System calls per message of the one-way phase, both sides together.
    pub msg_syscalls: Option<f64>,
    /// Whether both sides stayed on their CPUs (`None`: not pinned).
    pub pinned: Option<bool>,
    /// Why the case could not be measured.
    pub error: Option<BenchError>,
}

/// Everything a run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The day of the run (UTC), `YYYY-MM-DD`.
    pub date: String,
    /// The machine.
    pub machine: Machine,
    /// Whether this was the quick run.
    pub quick: bool,
    /// Repetitions of the case list (each row is the median repetition).
    pub repeat: u32,
    /// The CPUs the two sides were pinned to.
    pub cpus: Option<[usize; 2]>,
    /// Whether system calls could be counted.
    pub syscalls_counted: bool,
    /// Background load before the run.
    pub load_before: Load,
    /// Background load after the run.
    pub load_after: Load,
    /// One row per case, in [`CASES`](crate::CASES) order.
    pub rows: Vec<Row>,
    /// MPMC against `ArrayQueue`, per producer × consumer count.
    pub grid: Vec<GridPoint>,
    /// The project's performance targets against this run's figures.
    pub targets: Vec<Target>,
}

impl Report {
    /// The row of case `name`, if it ran.
    pub fn row(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.case.name == name)
    }

    /// The whole report as markdown: a header, the table of cases with
    /// ratios, the MPMC grid and the targets.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        self.header(&mut s);
        self.cases_table(&mut s);
        self.grid_table(&mut s);
        self.targets_table(&mut s);
        s
    }

    fn header(&self, s: &mut String) {
        let m = &self.machine;
        let _ = writeln!(
            s,
            "Run {} ({}, {}) on {} × {}, Linux {}.",
            self.date,
            if self.quick { "quick" } else { "full" },
            match self.repeat {
                0 | 1 => "one repetition".to_owned(),
                n => format!("median of {n} repetitions"),
            },
            m.cpus,
            m.cpu_model,
            m.kernel
        );
        let pin = match self.cpus {
            Some([a, b]) => format!("pinned to CPUs {a} and {b}"),
            None => "not pinned (fewer than two CPUs)".to_owned(),
        };
        let _ = writeln!(
            s,
            "Processes (threads for the in-process peers) {pin}. Background load \
             before: {}; after: {}.",
            load(&self.load_before),
            load(&self.load_after)
        );
        if !self.syscalls_counted {
            let _ = writeln!(
                s,
                "System calls were not counted: perf_event_open refused (needs root or \
                 kernel.perf_event_paranoid <= -1)."
            );
        }
        s.push('\n');
    }

    fn cases_table(&self, s: &mut String) {
        let floor = self.row("floor-atomic").and_then(|r| r.latency);
        let rtrb = self.row("rtrb").and_then(|r| r.throughput);
        s.push_str(
            "| case | RTT p50 µs | p99 µs | p99.9 µs | p50 ÷ floor | throughput | ÷ rtrb \
             | mean throughput | syscalls/RTT | syscalls/msg | pinned |\n",
        );
        s.push_str("| --- | --: | --: | --: | --: | --: | --: | --: | --: | --: | --- |\n");
        let mut group = None;
        for r in &self.rows {
            if group != Some(r.case.group) {
                group = Some(r.case.group);
                let _ = writeln!(
                    s,
                    "| **{}** | | | | | | | | | | |",
                    group_name(r.case.group)
                );
            }
            if let Some(e) = &r.error {
                let _ = writeln!(s, "| {} | failed: {} | | | | | | | | | |", r.case.name, e);
                continue;
            }
            let (p50, p99, p999, vs_floor) = match r.latency {
                Some(l) => (
                    us(l.p50_ns),
                    us(l.p99_ns),
                    us(l.p999_ns),
                    floor.map_or_else(dash, |f| ratio(l.p50_ns as f64 / f.p50_ns as f64)),
                ),
                None => (dash(), dash(), dash(), dash()),
            };
            let (tput, vs_rtrb) = match r.throughput {
                Some(t) => (
                    throughput(t, r.case.size),
                    rtrb.map_or_else(dash, |base| ratio(t / base)),
                ),
                None => (dash(), dash()),
            };
            let mean = r
                .throughput_mean
                .map_or_else(dash, |t| throughput(t, r.case.size));
            let pinned = match r.pinned {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "—",
            };
            let _ = writeln!(
                s,
                "| {} | {p50} | {p99} | {p999} | {vs_floor} | {tput} | {vs_rtrb} | {mean} | {} | {} | {pinned} |",
                r.case.name,
                syscalls(r.rtt_syscalls),
                syscalls(r.msg_syscalls),
            );
        }
        s.push('\n');
    }

    fn grid_table(&self, s: &mut String) {
        if self.grid.is_empty() {
            return;
        }
        s.push_str(
            "MPMC ring against crossbeam `ArrayQueue`, one process, threads unpinned, \
             busy polling with a yield after each failed attempt:\n\n",
        );
        s.push_str("| producers × consumers | annulus MPMC | ArrayQueue | ratio |\n");
        s.push_str("| --- | --: | --: | --: |\n");
        for g in &self.grid {
            let cell = |v: Option<f64>| v.map_or_else(dash, |t| throughput(t, 8));
            let r = match (g.annulus, g.array_queue) {
                (Some(a), Some(b)) => ratio(a / b),
                _ => g.error.clone().unwrap_or_else(dash),
            };
            let _ = writeln!(
                s,
                "| {} × {} | {} | {} | {r} |",
                g.producers,
                g.consumers,
                cell(g.annulus),
                cell(g.array_queue)
            );
        }
        s.push('\n');
    }

    fn targets_table(&self, s: &mut String) {
        if self.targets.is_empty() {
            return;
        }
        s.push_str("| target | measured in this run | status |\n| --- | --- | --- |\n");
        for t in &self.targets {
            let status = match t.status {
                TargetStatus::Met => "met",
                TargetStatus::Missed => "**missed**",
                TargetStatus::Unmeasured => "not measured",
            };
            let _ = writeln!(s, "| {} | {} | {status} |", t.goal, t.measured);
        }
    }
}

fn group_name(g: Group) -> &'static str {
    match g {
        Group::Floor => "floors",
        Group::Annulus => "annulus (two processes)",
        Group::Kernel => "kernel IPC (two processes)",
        Group::InProcess => "Rust rings (two threads)",
        Group::SharedMemory => "other shared-memory IPC (two processes)",
    }
}

fn load(l: &Load) -> String {
    let busy = l
        .busy_percent
        .map_or_else(String::new, |b| format!(", CPUs {b:.0}% busy"));
    format!(
        "loadavg {:.2} {:.2} {:.2}{busy}",
        l.loadavg[0], l.loadavg[1], l.loadavg[2]
    )
}

fn dash() -> String {
    "—".to_owned()
}

fn us(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us < 10.0 {
        format!("{us:.2}")
    } else {
        format!("{us:.1}")
    }
}

fn ratio(r: f64) -> String {
    if r < 10.0 {
        format!("{r:.2}×")
    } else {
        format!("{r:.0}×")
    }
}

fn throughput(per_sec: f64, size: usize) -> String {
    let m = per_sec / 1e6;
    if size <= 8 {
        format!("{m:.2} M/s")
    } else {
        format!("{:.2} GB/s", per_sec * size as f64 / 1e9)
    }
}

fn syscalls(v: Option<f64>) -> String {
    match v {
        None => dash(),
        Some(0.0) => "0".to_owned(),
        Some(v) if v < 0.01 => format!("{v:.4}"),
        Some(v) => format!("{v:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(us(512), "0.51");
        assert_eq!(us(15_250), "15.2");
        assert_eq!(ratio(1.234), "1.23×");
        assert_eq!(throughput(12_345_678.0, 8), "12.35 M/s");
        assert_eq!(throughput(100_000.0, 65536), "6.55 GB/s");
        assert_eq!(syscalls(Some(0.0)), "0");
        assert_eq!(syscalls(Some(2.0)), "2.00");
    }
}
