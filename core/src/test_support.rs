//! Shared by the unit tests: a monotonic clock, and a waiter that yields the
//! thread while it waits.
//!
//! [`Spin`](crate::wait::Spin) never gives the CPU back, which is right on a
//! core of its own and wrong on a machine with more runnable threads than
//! cores (CI has two cores and runs tests in parallel): a spinning thread can
//! burn its whole time slice while the thread it waits for is not scheduled.
//! Spin's own behaviour is tested in `wait.rs`.

extern crate std;

use std::sync::OnceLock;
use std::time::Instant;

use crate::sync::Ordering;
use crate::wait::{AtomicU32, Wait, WaitResult};

/// Monotonic nanoseconds since the first call.
pub(crate) fn clock() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Polls the word, yielding the thread between polls; `wake` does nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct YieldWait;

impl Wait for YieldWait {
    fn now(&self) -> u64 {
        clock()
    }

    fn wait(&self, word: &AtomicU32, expected: u32, deadline: Option<u64>) -> WaitResult {
        loop {
            if word.load(Ordering::Acquire) != expected {
                return WaitResult::Woken;
            }
            if deadline.is_some_and(|d| clock() >= d) {
                return WaitResult::TimedOut;
            }
            std::thread::yield_now();
        }
    }

    fn wake(&self, _word: &AtomicU32, _count: u32) {}
}

/// The waiter type the unit tests use.
pub(crate) type W = YieldWait;

/// A waiter for a test handle.
pub(crate) fn waiter() -> W {
    YieldWait
}
