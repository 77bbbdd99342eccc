//! The hostile-region interpreter behind the `hostile_region` fuzz target
//! (DESIGN.md, "The shared-memory contract", rule 3).
//!
//! The input is a program. Its first byte picks a primitive (SPSC ring,
//! byte stream, MPMC ring, semaphore, semaphore set, robust semaphore set,
//! frame ring, message queue), the next few its geometry; the interpreter
//! lays it into a zeroed, aligned heap region with `init_raw`, writes input
//! bytes over the region before the first attach, then runs the rest as a
//! sequence of steps: plain writes of input bytes over the header or the
//! body, restoring the creator's header, inspecting the region as the
//! `annulus` tool does (`annulus::inspect`), attaching again (over the whole
//! region or a truncated length; the handles of the last view that attached
//! go on working over whatever the peer wrote), and the primitive's own
//! operations
//! (claims and releases of roles, every non-blocking operation, blocking
//! ones with a timeout of at most three ticks of a clock that advances on
//! each read, chunks and grants, queries and repairs).
//!
//! Every call must return a value or a typed error. What fails the run:
//! a panic (arithmetic overflow and out-of-bounds indexing included; the
//! fuzzer builds with debug assertions), a result that breaks the API's
//! contract whatever the memory holds (a length beyond the buffer given, a
//! geometry accepted by `attach` that does not fit the bytes given, a
//! count above the capacity), an operation that calls the waiter more than
//! 200 000 times (a loop that ignores its deadline: every timeout given is
//! at most three ticks of its clock, the longest patience inside annulus a
//! thousand), or one that never returns (libFuzzer's `-timeout`). Under
//! the fuzzer, address sanitizer reports any out-of-bounds access.
//!
//! [`run`] is a plain function: `cargo test` in this crate runs it over a
//! fixed set of pseudo-random programs on the stable toolchain (and a few
//! under miri). The fuzzer itself, one job, from an empty corpus:
//!
//! ```text
//! cargo install --locked cargo-fuzz
//! cd fuzz && cargo +nightly fuzz run hostile_region -- -runs=1000000 -seed=1 -timeout=10
//! ```
//!
//! Every 100 000 inputs the target prints its running totals on stderr
//! (`annulus-fuzz: inputs=... corruptions=... steps=... ops=...`).

mod frame;
mod input;
mod inspect;
mod mpmc;
mod mq;
mod region;
mod robust;
mod semaphore;
mod set;
mod spsc;
mod stream;
mod waiter;

use input::Input;
use region::Region;
use waiter::NeverSleep;

/// Fails the run if `attach` accepted a structure of `need` bytes over the
/// `len` bytes it was given (its geometry checks let through one that does
/// not fit).
fn assert_fits(need: usize, len: usize) {
    assert!(need <= len, "attach accepted {need} bytes in {len}");
}

/// Steps one input runs at most (each takes at least one byte).
pub const MAX_STEPS: u64 = 512;

/// What one input did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Regions laid out (one per input).
    pub regions: u64,
    /// Hostile writes over a region (runs of bytes, words, restored headers).
    pub corruptions: u64,
    /// Steps run after the region was laid: writes, attaches, operations.
    pub steps: u64,
    /// Operations on the primitive (attaches and inspections included).
    pub ops: u64,
    /// Attaches (and inspections) that the region's bytes refused with a
    /// typed error.
    pub attach_errors: u64,
}

impl Totals {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Totals) {
        self.regions += other.regions;
        self.corruptions += other.corruptions;
        self.steps += other.steps;
        self.ops += other.ops;
        self.attach_errors += other.attach_errors;
    }
}

/// Runs one program: panics (fails the fuzz run) on any breach of the
/// contract described in the crate docs.
pub fn run(data: &[u8]) -> Totals {
    let mut input = Input::new(data);
    let mut totals = Totals::default();
    match input.u8() % 8 {
        0 => spsc::run(&mut input, &mut totals),
        1 => stream::run(&mut input, &mut totals),
        2 => mpmc::run(&mut input, &mut totals),
        3 => semaphore::run(&mut input, &mut totals),
        4 => set::run(&mut input, &mut totals),
        5 => robust::run(&mut input, &mut totals),
        6 => frame::run(&mut input, &mut totals),
        _ => mq::run(&mut input, &mut totals),
    }
    totals
}

/// One primitive under test: its views and handles over one region.
trait Subject {
    /// Attaches over the first `len` bytes of the region; returns whether
    /// the attach succeeded (and checks that what it accepted fits in
    /// `len`). A new view replaces the old one and drops its handles; a
    /// refused attach leaves them as they were.
    fn attach(&mut self, len: usize) -> bool;
    /// Whether a view is attached.
    fn attached(&self) -> bool;
    /// Runs the operation that `code` picks, reading its arguments from
    /// `input`.
    fn op(&mut self, code: u8, input: &mut Input<'_>);
}

/// Steps that are the hostile peer's, not the primitive's.
const PEER_STEPS: u8 = 6;

/// Runs the program on `subject`, laid out in `region`: hostile writes
/// before the first attach, then steps until the input is spent.
fn drive(
    region: &Region,
    subject: &mut impl Subject,
    wait: &NeverSleep,
    input: &mut Input<'_>,
    totals: &mut Totals,
) {
    totals.regions += 1;
    let saved = region.header();
    for _ in 0..input.u8() % 4 {
        scribble(region, input, totals);
    }
    let mut steps = 0;
    while !input.is_empty() && steps < MAX_STEPS {
        steps += 1;
        totals.steps += 1;
        wait.reset();
        let code = input.u8();
        match code % 16 {
            0..=2 => scribble(region, input, totals),
            3 => {
                let at = input.index(region.len()) & !3;
                let word = input.word(0);
                region.write(at, &word.to_ne_bytes());
                totals.corruptions += 1;
            }
            4 => {
                region.restore_header(&saved);
                totals.corruptions += 1;
            }
            5 => {
                let how = input.u8();
                let len = if how % 4 == 0 {
                    input.index(region.len() + 1)
                } else {
                    region.len()
                };
                totals.ops += 1;
                if how & 0x70 == 0 {
                    if !inspect::region(region, len) {
                        totals.attach_errors += 1;
                    }
                } else if !subject.attach(len) {
                    totals.attach_errors += 1;
                }
            }
            _ => {
                if !subject.attached() {
                    totals.ops += 1;
                    if !subject.attach(region.len()) {
                        totals.attach_errors += 1;
                    }
                }
                if subject.attached() {
                    totals.ops += 1;
                    subject.op((code >> 4) + 16 * (code % 16 - PEER_STEPS), input);
                }
            }
        }
    }
}

/// Input bytes over a run of the region: mostly its first 256 bytes (the
/// region header, claims, positions, event counts, records), else anywhere.
fn scribble(region: &Region, input: &mut Input<'_>, totals: &mut Totals) {
    let span = if input.flag() {
        region.len().min(256)
    } else {
        region.len()
    };
    let at = input.index(span);
    let n = 1 + usize::from(input.u8() % 16);
    region.write(at, input.bytes(n));
    totals.corruptions += 1;
}
