//! The project's performance targets (issue 7), judged on one run's rows.

use crate::report::Row;

/// Whether a run meets a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetStatus {
    /// Met in this run.
    Met,
    /// Missed in this run.
    Missed,
    /// A case it needs did not run or failed.
    Unmeasured,
}

/// One target and what this run measured for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// The goal, in words.
    pub goal: &'static str,
    /// The measured ratio or figure, in words.
    pub measured: String,
    /// The verdict.
    pub status: TargetStatus,
}

struct Rows<'a>(&'a [Row]);

impl Rows<'_> {
    fn get(&self, name: &str) -> Option<&Row> {
        self.0
            .iter()
            .find(|r| r.case.name == name && r.error.is_none())
    }
    fn p50(&self, name: &str) -> Option<f64> {
        Some(self.get(name)?.latency?.p50_ns as f64)
    }
    fn tput(&self, name: &str) -> Option<f64> {
        self.get(name)?.throughput
    }
}

fn judge(goal: &'static str, value: Option<f64>, ok: impl Fn(f64) -> bool, what: &str) -> Target {
    match value {
        Some(v) => Target {
            goal,
            measured: format!("{what} = {v:.2}"),
            status: if ok(v) {
                TargetStatus::Met
            } else {
                TargetStatus::Missed
            },
        },
        None => Target {
            goal,
            measured: format!("{what}: not measured"),
            status: TargetStatus::Unmeasured,
        },
    }
}

fn div(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

/// The busy cases, where no side ever needs to sleep.
const AWAKE: [&str; 8] = [
    "spsc-busy",
    "spsc-chunk",
    "mpmc-1p1c",
    "mq-busy",
    "sem-busy",
    "stream-8",
    "stream-4k",
    "stream-64k",
];

/// Judges every target on `rows`.
pub(crate) fn evaluate(rows: &[Row]) -> Vec<Target> {
    let r = Rows(rows);
    let mut out = vec![
        judge(
            "busy SPSC RTT ≤ 1.2× the hardware floor",
            div(r.p50("spsc-busy"), r.p50("floor-atomic")),
            |v| v <= 1.2,
            "p50 spsc-busy ÷ floor-atomic",
        ),
        judge(
            "blocking SPSC RTT ≤ 1.0× raw futex ping-pong",
            div(r.p50("spsc-blocking"), r.p50("floor-futex")),
            |v| v <= 1.0,
            "p50 spsc-blocking ÷ floor-futex",
        ),
        judge(
            "blocking SPSC RTT ≤ 0.9× pipe",
            div(r.p50("spsc-blocking"), r.p50("pipe-8")),
            |v| v <= 0.9,
            "p50 spsc-blocking ÷ pipe-8",
        ),
        judge(
            "blocking SPSC RTT ≤ 0.9× eventfd",
            div(r.p50("spsc-blocking"), r.p50("eventfd")),
            |v| v <= 0.9,
            "p50 spsc-blocking ÷ eventfd",
        ),
        judge(
            "adaptive SPSC RTT (steady ping-pong) ≤ 2× the floor",
            div(r.p50("spsc-adaptive"), r.p50("floor-atomic")),
            |v| v <= 2.0,
            "p50 spsc-adaptive ÷ floor-atomic",
        ),
        judge(
            "SPSC throughput across processes ≥ 1.0× rtrb between threads",
            div(r.tput("spsc-busy"), r.tput("rtrb")),
            |v| v >= 1.0,
            "spsc-busy ÷ rtrb",
        ),
        judge(
            "chunked SPSC throughput ≥ 3× rtrb",
            div(r.tput("spsc-chunk"), r.tput("rtrb")),
            |v| v >= 3.0,
            "spsc-chunk ÷ rtrb",
        ),
        judge(
            "MPMC 1P1C throughput ≥ 2× crossbeam ArrayQueue",
            div(r.tput("mpmc-1p1c"), r.tput("array-queue")),
            |v| v >= 2.0,
            "mpmc-1p1c (processes) ÷ array-queue (threads)",
        ),
        judge(
            "message queue, busy: ≥ 10× faster than POSIX mq",
            div(r.p50("posix-mq"), r.p50("mq-busy")),
            |v| v >= 10.0,
            "p50 posix-mq ÷ mq-busy",
        ),
        judge(
            "message queue, blocking: not slower than POSIX mq",
            div(r.p50("mq-blocking"), r.p50("posix-mq")),
            |v| v <= 1.0,
            "p50 mq-blocking ÷ posix-mq",
        ),
        judge(
            "semaphore, busy: ≥ 10× faster than System V semop",
            div(r.p50("sysv-sem"), r.p50("sem-busy")),
            |v| v >= 10.0,
            "p50 sysv-sem ÷ sem-busy",
        ),
        judge(
            "semaphore, blocking: not slower than System V semop",
            div(r.p50("sem-blocking"), r.p50("sysv-sem")),
            |v| v <= 1.0,
            "p50 sem-blocking ÷ sysv-sem",
        ),
    ];
    let awake: Vec<f64> = AWAKE
        .iter()
        .filter_map(|name| r.get(name))
        .flat_map(|row| [row.rtt_syscalls, row.msg_syscalls])
        .flatten()
        .collect();
    out.push(judge(
        "zero system calls per message while the peer is awake",
        (!awake.is_empty()).then(|| awake.iter().copied().fold(0.0, f64::max)),
        |v| v == 0.0,
        "most syscalls per message or round trip over the busy annulus cases",
    ));
    let busy = r.get("spsc-busy").and_then(|row| row.latency);
    out.push(judge(
        "p99.9 of busy SPSC RTT ≤ 3× its p50",
        busy.map(|l| l.p999_ns as f64 / l.p50_ns.max(1) as f64),
        |v| v <= 3.0,
        "p99.9 ÷ p50 of spsc-busy",
    ));
    out
}
