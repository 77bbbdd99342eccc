//! The second process of a case: this program started again with
//! [`PEER_ARG`], a case name and the case's parameters. It pins itself, runs
//! the case's peer side, and prints one line of results on stdout for the
//! parent.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cases::{self, CaseId};
use crate::config::Config;
use crate::driver::{Plan, ServerResult};
use crate::error::{BenchError, Result, ctx, fail};
use crate::syscalls::SyscallCounter;
use crate::system;

/// The hidden argument that makes this program the peer of a case.
pub const PEER_ARG: &str = "--annulus-bench-peer";

/// Prefix of the peer's result line.
const RESULT_PREFIX: &str = "annulus-bench-peer:";

/// Runs the peer side of a case if this process was started as one (its
/// arguments contain [`PEER_ARG`]) and returns the exit code; `None` for an
/// ordinary start. Call it first thing in `main` of any program that calls
/// [`run`](crate::run):
///
/// ```no_run
/// // First thing in `main`:
/// if let Some(code) = annulus_bench::peer_main() {
///     std::process::exit(code);
/// }
/// // ... parse arguments, annulus_bench::run(...)
/// ```
pub fn peer_main() -> Option<i32> {
    let args: Vec<String> = std::env::args().collect();
    let at = args.iter().position(|a| a == PEER_ARG)?;
    Some(match run_peer(&args[at + 1..]) {
        Ok(line) => {
            println!("{RESULT_PREFIX} {line}");
            0
        }
        Err(e) => {
            eprintln!("annulus-bench peer: {e}");
            1
        }
    })
}

/// What the case's peer side gets.
#[derive(Debug)]
pub(crate) struct PeerCtx {
    pub(crate) plan: Plan,
    /// The case's own parameters (object names, descriptors, ...).
    pub(crate) params: Vec<String>,
    pub(crate) timeout: Duration,
    pub(crate) counter: Option<SyscallCounter>,
}

impl PeerCtx {
    /// Parameter `i`, or an error naming it.
    pub(crate) fn param(&self, i: usize) -> Result<&str> {
        self.params
            .get(i)
            .map(String::as_str)
            .ok_or_else(|| BenchError::new(format!("peer parameter {i} missing")))
    }

    /// Parameter `i` as a number.
    pub(crate) fn param_num<T: std::str::FromStr>(&self, i: usize) -> Result<T> {
        self.param(i)?
            .parse()
            .map_err(|_| BenchError::new(format!("peer parameter {i} is not a number")))
    }
}

fn run_peer(args: &[String]) -> Result<String> {
    let mut it = args.iter();
    let name = it.next().ok_or(BenchError::new("no case name"))?;
    let case = CaseId::from_name(name).ok_or_else(|| BenchError::new("unknown case"))?;
    let mut cpu = None;
    let mut plan = Plan {
        warmup: 0,
        rounds: 0,
        messages: 0,
        size: 8,
    };
    let mut timeout = Duration::from_secs(60);
    let mut params = Vec::new();
    for arg in it {
        let (key, value) = arg.split_once('=').unwrap_or((arg, ""));
        let num = || -> Result<u64> { value.parse().map_err(ctx(key)) };
        match key {
            "cpu" => cpu = Some(num()? as usize),
            "warmup" => plan.warmup = num()? as u32,
            "rounds" => plan.rounds = num()? as u32,
            "messages" => plan.messages = num()?,
            "size" => plan.size = num()? as usize,
            "timeout_ms" => timeout = Duration::from_millis(num()?),
            "p" => params.push(value.to_owned()),
            _ => return fail(format!("unknown peer argument {arg}")),
        }
    }
    if let Some(cpu) = cpu {
        system::pin_current_thread(cpu)?;
    }
    let ctx = PeerCtx {
        plan,
        params,
        timeout,
        counter: SyscallCounter::open(),
    };
    let result = cases::run_peer(case, &ctx)?;
    let pinned = cpu.map(system::pin_held);
    Ok(format_result(pinned, &result))
}

fn format_result(pinned: Option<bool>, r: &ServerResult) -> String {
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let pin = match pinned {
        None => "-",
        Some(true) => "1",
        Some(false) => "0",
    };
    format!(
        "pinned={pin} rtt_sys={} stream_sys={}",
        opt(r.rtt_syscalls),
        opt(r.stream_syscalls)
    )
}

/// What the peer reported.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct PeerReport {
    /// Whether the peer stayed pinned (`None`: not pinned).
    pub(crate) pinned: Option<bool>,
    pub(crate) server: ServerResult,
}

fn parse_result(line: &str) -> Option<PeerReport> {
    let rest = line.trim().strip_prefix(RESULT_PREFIX)?;
    let mut report = PeerReport::default();
    for field in rest.split_whitespace() {
        let (key, value) = field.split_once('=')?;
        let num = value.parse::<u64>().ok();
        match key {
            "pinned" => report.pinned = num.map(|v| v == 1),
            "rtt_sys" => report.server.rtt_syscalls = num,
            "stream_sys" => report.server.stream_syscalls = num,
            _ => return None,
        }
    }
    Some(report)
}

/// A running peer process. Dropping it kills the process if it is still
/// running, so a failed case leaves nothing behind.
#[derive(Debug)]
pub(crate) struct Peer {
    child: Option<Child>,
    timeout: Duration,
}

impl Peer {
    /// Starts the peer of `case` on `cpu` with the case's `params`.
    pub(crate) fn spawn(
        config: &Config,
        case: CaseId,
        cpu: Option<usize>,
        plan: &Plan,
        params: &[String],
    ) -> Result<Peer> {
        let (program, prefix) = &config.peer_program;
        let mut cmd = Command::new(program);
        cmd.args(prefix).arg(PEER_ARG).arg(case.name());
        if let Some(cpu) = cpu {
            cmd.arg(format!("cpu={cpu}"));
        }
        cmd.arg(format!("warmup={}", plan.warmup))
            .arg(format!("rounds={}", plan.rounds))
            .arg(format!("messages={}", plan.messages))
            .arg(format!("size={}", plan.size))
            .arg(format!("timeout_ms={}", config.case_timeout.as_millis()));
        for p in params {
            cmd.arg(format!("p={p}"));
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(ctx("starting the peer process"))?;
        Ok(Peer {
            child: Some(child),
            timeout: config.case_timeout,
        })
    }

    /// The peer's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Waits for the peer to exit and returns its report.
    pub(crate) fn finish(self) -> Result<PeerReport> {
        let timeout = self.timeout;
        self.finish_within(timeout)
    }

    /// As [`Peer::finish`], killing the peer if it has not exited within
    /// `timeout`.
    pub(crate) fn finish_within(mut self, timeout: Duration) -> Result<PeerReport> {
        let mut child = self.child.take().ok_or(BenchError::new("no peer"))?;
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(ctx("waiting for the peer"))? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return fail("the peer did not exit in time");
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        if !status.success() {
            return fail(format!("peer failed ({status}): {}", err.trim()));
        }
        out.lines()
            .find_map(parse_result)
            .ok_or_else(|| BenchError::new("the peer printed no result"))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_through_text() {
        let r = ServerResult {
            rtt_syscalls: Some(3),
            stream_syscalls: None,
        };
        let line = format!("{RESULT_PREFIX} {}", format_result(Some(true), &r));
        assert_eq!(
            parse_result(&line),
            Some(PeerReport {
                pinned: Some(true),
                server: r
            })
        );
        assert_eq!(parse_result("garbage"), None);
    }
}
