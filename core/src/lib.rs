//! # annulus: lock-free IPC in memory you provide
//!
//! annulus rebuilds the classic Linux IPC mechanisms as lock-free structures
//! laid out in caller-provided memory: a region of a process's own (a buffer,
//! a `static`) or shared memory that several processes map. Between two
//! processes that share the mapping, a message costs a few atomic operations
//! and no system call; a system call happens only when a side must sleep or
//! wake the other. This crate is the core: `#![no_std]`, no allocation, 32-bit
//! atomics only (except the message queue's root word), so it also runs on a
//! microcontroller.
//!
//! ## The contract
//!
//! - **Progress.** [`spsc`] push and pop (and the [`frame`] ring built on
//!   it) are wait-free: a bounded number of steps whatever the peer does.
//!   A single [`semaphore::Semaphore`] is lock-free. The [`mpmc`] ring is
//!   not lock-free (Vyukov's bounded queue): a sender preempted between
//!   claiming and publishing a slot delays receivers of that slot; one that
//!   *died* there is repaired away. A [`semaphore::SemaphoreSet`] applies an
//!   operation on several counters under a short lock in the region, held
//!   for a bounded number of steps and never while sleeping. The [`mq`]
//!   message queue is lock-free and linearizable, selective receives
//!   included; each operation copies the queue's index (`O(queued +
//!   participants)` words) and installs it with one 64-bit CAS. Blocking
//!   variants (`*_blocking`, `wait`) spin a bounded number of polls, then
//!   sleep through a [`wait::Wait`] implementation until the peer makes
//!   progress or the deadline passes.
//! - **Full and empty.** A non-blocking send on a full ring returns the value
//!   in `Full(value)`; a receive on an empty one returns `Empty`, or
//!   `Disconnected` once the sending side has closed and everything it sent
//!   was received (a pipe's `read() == 0`). Sending to a ring whose receiving
//!   side closed returns `Disconnected(value)` (EPIPE, never a signal).
//! - **Never allocates.** No operation allocates; no ring operation takes a
//!   lock; nothing calls into the wait trait unless a peer is asleep.
//! - **Layout.** Shared structures are `#[repr(C)]` of `u32` atomics with
//!   sizes and offsets pinned at compile time, so two processes (even a 32-bit
//!   and a 64-bit one) that map the same bytes at different addresses read
//!   the same object. Each region starts with a self-describing header that
//!   `attach` validates ([`layout`]).
//! - **Untrusted memory.** Another process can write any bytes into a shared
//!   region at any time. Nothing read from it can make this process index out
//!   of bounds, overflow, loop forever in a non-blocking call or hit undefined
//!   behaviour: impossible values produce `Corrupted` errors, wrong values
//!   produce wrong data.
//! - **Plain elements.** Elements are [`bytemuck::Pod`]: copied bit for bit,
//!   valid for any bit pattern, no pointers, no `Drop`.
//!
//! ## Two threads through a ring
//!
//! ```
//! use annulus::region::Region;
//! use annulus::spsc::Spsc;
//! use annulus::wait::Spin;
//! use std::time::Instant;
//!
//! let mut region = Region::<{ Spsc::<u64>::region_size(64) }>::new();
//! let ring = Spsc::<u64>::init(region.as_uninit_mut(), 64).unwrap();
//! let start = Instant::now();
//! let clock = move || start.elapsed().as_nanos() as u64;
//! let (mut tx, mut rx) = (ring.producer(Spin::new(clock)).unwrap(), ring.consumer(Spin::new(clock)).unwrap());
//! std::thread::scope(|s| {
//!     s.spawn(move || {
//!         for i in 0..100u64 {
//!             tx.push_blocking(i, None).unwrap();
//!         }
//!         // Dropping `tx` closes the ring: the consumer drains, then sees Disconnected.
//!     });
//!     let mut expected = 0;
//!     while let Ok(v) = rx.pop_blocking(None) {
//!         assert_eq!(v, expected);
//!         expected += 1;
//!     }
//!     assert_eq!(expected, 100);
//! });
//! ```
//!
//! ## Modules
//!
//! - [`spsc`]: the single-producer single-consumer ring, its chunk (zero-copy)
//!   API and its byte-stream (pipe) view.
//! - [`frame`]: variable-length message frames in an SPSC byte ring,
//!   written and read in place, never split.
//! - [`mpmc`]: the multi-producer multi-consumer ring, with the repair of
//!   participants that died holding a slot.
//! - [`mq`]: the message queue: priorities (POSIX) and typed receive
//!   (System V), for many senders and receivers; on targets with 64-bit
//!   atomics.
//! - [`semaphore`]: lock-free counting semaphores, and semaphore sets changed
//!   by all-or-nothing operations (System V `semop`) under a short lock;
//!   robust sets whose dead holders' units come back (`SEM_UNDO`).
//! - [`wait`]: the futex-shaped wait/notify trait and its spinning
//!   implementation; `annulus-linux` implements it on the process-shared futex.
//! - [`layout`]: the region header, schema fingerprints and attach errors.
//! - [`inspect`]: read-only inspection of a region of any kind (header,
//!   counters, role holders), for tools such as `ipcs`.
//! - [`claim`]: role claims (who is the producer, who the consumer).
//! - [`region`]: aligned in-process storage.
#![no_std]
#![deny(unsafe_code)]
// The library itself names only `core`; its unit tests may use std.
#![cfg_attr(
    not(test),
    warn(
        clippy::std_instead_of_core,
        clippy::std_instead_of_alloc,
        clippy::alloc_instead_of_core
    )
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(loom)]
extern crate alloc;
#[cfg(loom)]
extern crate std;

pub mod arrivals;
mod blocking;
pub mod claim;
pub mod error;
mod event;
pub mod frame;
// Casts raw memory to real atomics: not modelled under loom.
#[cfg(not(loom))]
pub mod inspect;
pub mod layout;
pub mod mpmc;
#[cfg(target_has_atomic = "64")]
pub mod mq;
pub mod region;
pub mod semaphore;
pub mod spsc;
mod sync;
#[cfg(test)]
mod test_support;
pub mod wait;

pub use bytemuck;
pub use bytemuck::Pod;
pub use layout::{AttachError, LayoutError, Schema};
