//! # annulus-bench: annulus against its peers, in one run
//!
//! Claims about speed count only when annulus and its peers run side by side
//! on the same machine in the same run, so this crate measures them all
//! together and reports ratios. It is a library (the bench binary and the
//! `annulus` command-line tool both drive it) and a binary,
//! `cargo run --release -p annulus-bench [-- --quick]`.
//!
//! ## What it measures
//!
//! Every case of [`CASES`] runs between two processes pinned to two
//! different CPUs (in-process peers: two threads pinned the same way):
//!
//! - **round trips**: 8-byte (or the case's size) ping-pong, one message
//!   each way; p50, p99 and p99.9 of the round-trip time;
//! - **one-way throughput**: the peer sends as fast as it can, this process
//!   receives; messages per second from the first to the last received;
//! - **system calls per message**: both processes count their own
//!   `raw_syscalls:sys_enter` events with `perf_event_open` during each
//!   measured phase ([`syscalls`]); `None` where the kernel refuses;
//! - **pinning**: whether each side stayed on its CPU;
//! - **background load** before and after the run ([`system`]).
//!
//! [`grid`] measures the MPMC ring against crossbeam's `ArrayQueue` for
//! producer and consumer counts 1–8 × 1–8, in one process.
//!
//! ## Driving it
//!
//! ```no_run
//! let config = annulus_bench::Config::quick();
//! let report = annulus_bench::run(&config, &mut |p| eprintln!("{p}"));
//! println!("{}", report.to_markdown());
//! ```
//!
//! The peer process is this same program started again with
//! [`PEER_ARG`] first: a program that calls [`run`] must call
//! [`peer_main`] at the top of `main` (see [`Config::peer_program`]).
//!
//! Nothing here makes a timed assertion: the numbers are reported, and the
//! [`Report`] states which targets of the project they meet.
#![deny(unsafe_code)]

mod cases;
pub mod cli;
mod config;
mod driver;
mod error;
pub mod grid;
mod peer;
mod report;
mod runner;
mod stats;
pub mod syscalls;
pub mod system;
mod targets;

pub use cases::{CASES, CaseId, CaseInfo, Group};
pub use config::Config;
pub use error::BenchError;
pub use peer::{PEER_ARG, peer_main};
pub use report::{Report, Row};
pub use runner::{Progress, run};
pub use stats::Latency;
pub use targets::{Target, TargetStatus};
