//! `annulus-bench`: runs the suite and prints the markdown report (the
//! options are [`annulus_bench::cli`]'s; `annulus bench` takes the same).
//!
//! Progress goes to stderr, the report to stdout. `--case NAME --count N`
//! runs one case with N round trips and N one-way messages and no grid, for
//! counting its system calls from outside:
//! `perf stat -e raw_syscalls:sys_enter -- annulus-bench --case spsc-busy --count 1000000`
//! (perf follows the peer process).

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(code) = annulus_bench::peer_main() {
        return ExitCode::from(code as u8);
    }
    annulus_bench::cli::main_with_args(std::env::args().skip(1).collect())
}
