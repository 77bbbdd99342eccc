//! Notifications as real-time signals with a payload, received without
//! signal handlers: blocked, then read from a signalfd.
//!
//! A real-time signal queues: each one sent is one received, signals of one
//! number arrive in the order they were sent, and each carries one word of
//! payload (`sigqueue(3)`'s `sigval`). That makes it a tiny message queue
//! between processes, for "there is work", "shut down", or an index into
//! shared memory.
//!
//! # Sending
//!
//! [`queue`] sends with a payload (`rt_sigqueueinfo`), [`queue_pidfd`] does
//! so through a pidfd (`pidfd_send_signal`, immune to pid reuse), and
//! [`queue_thread`] to one thread of this process (`rt_tgsigqueueinfo`).
//! [`send`], [`send_pidfd`] and [`send_thread`] do the same without a
//! payload (`kill`, `pidfd_send_signal`, `tgkill`). The usual permission
//! rules of kill(2) apply (same user, or `CAP_KILL`). A queue is bounded by
//! the receiving user's `RLIMIT_SIGPENDING`: past it, [`queue`] fails with
//! `EAGAIN`.
//!
//! # Receiving
//!
//! 1. Block the signal with [`block`]. A signal mask belongs to a thread, and
//!    the kernel hands a process-directed signal to any thread that does not
//!    block it, where the default action of a real-time signal terminates
//!    the process. So a process that receives must block the signal in
//!    every thread: block it early in `main`, before spawning threads
//!    (threads inherit their creator's mask), and keep it blocked
//!    ([`BlockGuard::keep`]).
//! 2. Read it from a [`SignalFd`]: [`SignalFd::try_recv`] never blocks,
//!    [`SignalFd::recv_timeout`] waits, and the fd is pollable ([`AsFd`](rustix::fd::AsFd)) for
//!    an event loop. A signalfd reads the signals pending for the thread that
//!    reads it and for the whole process.
//!
//! # Which signals
//!
//! The kernel numbers real-time signals 32 to 64, and C libraries take the
//! lowest for themselves: glibc uses 32 and 33 (its `SIGRTMIN` is 34), musl
//! 32 to 34 (`SIGRTMIN` 35), Android's bionic 32 to 41 (`SIGRTMIN` 42). A
//! program without any C library could use them all, but a library cannot
//! know which C library shares its process, so [`RtSignal`] offers only
//! [`RtSignal::FIRST`]`..=`[`RtSignal::LAST`]: 35 to 64 (42 to 64 on
//! Android), free under all three. [`RtSignal::nth`] counts from the first.
//! Processes that talk must agree on the number, as they agree on a name.
//! Note that `nth(n)` is not glibc's `SIGRTMIN + n` (kernel signal `34 + n`):
//! to meet a C peer that uses that, name it [`RtSignal::from_raw`]`(34 + n)`,
//! which exists for `n >= 1`.
//!
//! # Trust
//!
//! For a signal sent without a payload the kernel writes the sender's pid
//! and uid into what the receiver reads. For a queued signal (`SI_QUEUE`)
//! the *sender* writes them, as `sigqueue(3)` does, and the kernel passes
//! them on unchecked: [`Received::pid`] and [`Received::uid`] are then the
//! sender's claim, and a payload is as trustworthy as its sender.
//!
//! # Architectures
//!
//! This module exists on x86_64 and aarch64 only: it makes some system calls
//! directly (rustix 1.1 lacks them), and those two are implemented.
//!
//! # Examples
//!
//! A signal to the calling thread, with a payload:
//!
//! ```
//! use annulus_linux::signal::{self, RtSignal, SignalFd};
//!
//! let sig = RtSignal::nth(3).unwrap();
//! let _blocked = signal::block(sig.into()).unwrap();
//! let fd = SignalFd::new(sig.into()).unwrap();
//! signal::queue_thread(signal::current_thread_id(), sig, 42).unwrap();
//! let got = fd.try_recv().unwrap().expect("pending");
//! assert_eq!(got.payload, Some(42));
//! assert_eq!(got.pid, std::process::id());
//! assert_eq!(fd.try_recv(), Ok(None));
//! ```

mod fd;
mod mask;
mod number;
mod send;

pub use fd::{Received, RecvTimeoutError, SignalFd};
pub use mask::{BlockGuard, block, blocked};
pub use number::{RtSignal, SignalSet};
pub use send::{
    current_thread_id, queue, queue_pidfd, queue_thread, send, send_pidfd, send_thread,
};
