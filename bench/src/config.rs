//! What a run measures and how long it takes.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::cases::{CASES, CaseId};

/// The parameters of a run. Start from [`Config::full`] or [`Config::quick`]
/// and change fields.
#[derive(Clone, Debug)]
pub struct Config {
    /// Whether this is the quick (CI) run; recorded in the report.
    pub quick: bool,
    /// The cases to run, in order (default: all of [`CASES`]).
    pub cases: Vec<CaseId>,
    /// Times the whole list of cases runs; each case reports its median
    /// repetition, so load that comes and goes spreads over all cases
    /// instead of hitting one.
    pub repeat: u32,
    /// The two CPUs to pin this process and the peer to; `None`: the first
    /// two this process may use (no pinning with fewer than two).
    pub cpus: Option<[usize; 2]>,
    /// Unmeasured round trips before the measured ones.
    pub warmup: u32,
    /// Measured round trips per case.
    pub rounds: u32,
    /// Messages of the throughput phase of a fast case; slow cases (those
    /// that sleep in the kernel on every message) send a tenth.
    pub messages: u64,
    /// Bytes the throughput phase moves at most per case, which caps the
    /// message count of the 4 KiB and 64 KiB cases.
    pub byte_budget: u64,
    /// MPMC producer × consumer counts to compare with `ArrayQueue` ([`crate::grid`]).
    pub grid: Vec<(u32, u32)>,
    /// Messages per grid point.
    pub grid_messages: u64,
    /// How long the background load is sampled before and after the run.
    pub load_window: Duration,
    /// A case still unfinished after this long is abandoned (its peer killed).
    pub case_timeout: Duration,
    /// The program started as the peer process, and the arguments it gets
    /// before [`PEER_ARG`](crate::PEER_ARG). Default: this executable, no
    /// arguments. That program must call [`peer_main`](crate::peer_main)
    /// at the start of `main`.
    pub peer_program: (PathBuf, Vec<OsString>),
}

impl Config {
    /// The full run: three repetitions of 50 000 measured round trips and
    /// 500 000 messages per fast case; about three minutes.
    pub fn full() -> Config {
        Config {
            quick: false,
            cases: CASES.iter().map(|c| c.id).collect(),
            repeat: 3,
            cpus: None,
            warmup: 5_000,
            rounds: 50_000,
            messages: 500_000,
            byte_budget: 1 << 30,
            grid: vec![(1, 1), (1, 2), (2, 1), (2, 2)],
            grid_messages: 1_000_000,
            load_window: Duration::from_secs(1),
            case_timeout: Duration::from_secs(60),
            peer_program: (default_program(), Vec::new()),
        }
    }

    /// The quick run: every case, a few thousand messages each; seconds.
    /// It checks that everything runs, its numbers are rough.
    pub fn quick() -> Config {
        Config {
            quick: true,
            repeat: 1,
            warmup: 200,
            rounds: 2_000,
            messages: 20_000,
            byte_budget: 16 << 20,
            grid: vec![(1, 1), (2, 2)],
            grid_messages: 20_000,
            load_window: Duration::from_millis(200),
            case_timeout: Duration::from_secs(30),
            ..Config::full()
        }
    }

    /// Throughput messages for a case of `size`-byte messages.
    pub(crate) fn messages_for(&self, slow: bool, size: usize) -> u64 {
        let base = if slow {
            self.messages / 10
        } else {
            self.messages
        };
        let cap = self.byte_budget / size.max(1) as u64;
        base.min(cap).max(1)
    }
}

fn default_program() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"))
}
