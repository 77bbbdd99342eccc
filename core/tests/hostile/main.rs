//! Hostile shared memory: DESIGN.md, "The shared-memory contract", rule 3.
//!
//! Another process can write any bytes into a shared region at any moment.
//! These tests play that process. They lay structures (SPSC rings, MPMC
//! rings, frame rings, semaphores) into heap regions with `init_raw`, keep
//! the raw pointer, and scribble over the header and the body between
//! operations (and, with atomic stores, during them). Every call must
//! return: no panic, no arithmetic overflow, no out-of-bounds access, no
//! hang, no undefined behaviour (run them under miri). The worst a hostile
//! peer may cause is wrong data or an error.
//!
//! Every case runs under a watchdog thread that fails the test, with the seed,
//! if no operation returns for a long while; nothing asserts a speed. The
//! random choices come from a seeded splitmix64, so a failure replays with
//!
//! ```text
//! ANNULUS_HOSTILE_SEED=<seed> ANNULUS_HOSTILE_ITERS=<n> cargo test -p annulus --test hostile
//! ```
//!
//! (`--nocapture` shows the counts each test prints: regions, corruptions,
//! operations and the error variants observed.) Under miri, which runs far
//! fewer iterations and hides the environment unless told to forward it:
//!
//! ```text
//! MIRIFLAGS="-Zmiri-strict-provenance -Zmiri-env-forward=ANNULUS_HOSTILE_SEED" \
//!     cargo +nightly miri test -p annulus --test hostile
//! ```
//!
//! # Modules
//!
//! - [`support`]: configuration and counters, the PRNG, heap regions, the
//!   ticking clock, the watchdog; [`elem`] and [`names`]: element types and
//!   the names of the outcomes counted.
//! - `spsc_*`: the SPSC ring: its region and round trip, named and fuzzed
//!   attaches, impossible positions, live rings (operations, scribbles and
//!   restoration), concurrent header garbage.
//! - `mpmc_*`: the MPMC ring: the same, with participant records, slot
//!   sequences and repairs.
//! - `frame_*`: frame rings: forged frame headers and positions.
//! - [`semaphore`]: semaphores and semaphore sets (attach over hostile
//!   bytes, restoration; the in-crate tests in core/src/semaphore/tests.rs
//!   already scribble between and during calls).
//! - [`robust_semaphore`]: robust semaphore sets (lock word, journal and
//!   holder records scribbled between calls, the undo repair among them).
//! - [`kinds`]: every kind attached over regions of every other kind.
//!
//! The fuzz target in fuzz/ (cargo-fuzz) plays the same peer with
//! libFuzzer's inputs: hostile writes, attaches, inspections and operations
//! of every primitive, interleaved as the input says (fuzz/src/lib.rs).

extern crate alloc;

mod elem;
mod frame_attach;
mod frame_live;
mod frame_region;
mod frame_scribble;
mod kinds;
mod mpmc_attach;
mod mpmc_concurrent;
mod mpmc_live;
mod mpmc_live_ops;
mod mpmc_region;
mod mpmc_scribble;
mod mq;
mod names;
mod robust_semaphore;
mod semaphore;
mod spsc_attach;
mod spsc_attach_fuzz;
mod spsc_concurrent;
mod spsc_live;
mod spsc_live_ops;
mod spsc_positions;
mod spsc_region;
mod spsc_scribble;
mod support;
