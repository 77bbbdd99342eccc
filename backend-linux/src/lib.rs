//! # annulus-linux: annulus on Linux, without libc
//!
//! The core crate `annulus` lays lock-free structures into memory and blocks
//! through its futex-shaped [`annulus::wait::Wait`] trait. This crate
//! implements that trait on the kernel's process-shared futex ([`Futex`]), so
//! a blocked receiver sleeps in the kernel until a sender in *another process*
//! wakes it, and no system call is made while both sides are awake (the core's
//! event count skips `wake` when nobody sleeps).
//!
//! Nothing here calls the C library. rustix (its `linux_raw` backend) makes
//! the system calls, except the few signal calls rustix 1.1 lacks, which a
//! small private module (`raw.rs`, the one place allowed to) makes directly
//! with inline assembly (x86_64 and aarch64; the [`signal`] module exists on
//! those two only). A
//! `#![no_main]` program without the C library can use the whole crate
//! (without the `std` feature): the repository's `nolibc-proof/` is one,
//! built, checked and run by `tests/tests/nolibc_proof.rs`.
//!
//! With the `std` feature, [`named`] bundles a shared memory object, its
//! mapping and a structure, so one process writes `create("jobs", …)` and
//! another `open("jobs")`: SPSC rings and byte streams, MPMC rings, frame
//! rings, semaphores and semaphore sets, and message queues, each shown
//! created and opened in two processes in its docs ([`named`] has the
//! table), and each receiver able to hand out a pollable fd for `epoll`
//! loops ([`named::Readiness`]). [`shm::FileMapping`] maps a regular file
//! instead, so a structure persists after every process has gone.
//!
//! ```
//! use annulus::region::Region;
//! use annulus::spsc::Spsc;
//! use annulus_linux::Futex;
//! use std::time::Duration;
//!
//! let mut region = Region::<{ Spsc::<u64>::region_size(16) }>::new();
//! let ring = Spsc::<u64>::init(region.as_uninit_mut(), 16).unwrap();
//! let mut tx = ring.producer(Futex).unwrap();
//! let mut rx = ring.consumer(Futex).unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(move || tx.push_blocking(42, None).unwrap());
//!     // Sleeps in the kernel until the push wakes it.
//!     assert_eq!(rx.pop_blocking(Some(Duration::from_secs(10))), Ok(42));
//! });
//! ```
#![no_std]
#![deny(unsafe_code)]

#[cfg(feature = "std")]
extern crate std;

mod file_mapping;
mod futex;
#[cfg(feature = "std")]
pub mod inspect;
pub mod liveness;
mod membarrier;
#[cfg(feature = "std")]
pub mod named;
pub mod pipe;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod raw;
pub mod rendezvous;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub mod sched;
pub mod shm;
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub mod signal;

pub use futex::Futex;
pub use shm::{Mapping, SharedMemory, ShmError};
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub use signal::{Received, RtSignal, SignalFd, SignalSet};

/// The README's examples (they use both crates), compiled and run as
/// doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
