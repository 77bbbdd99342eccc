//! [`Futex`]: the core's [`Wait`] trait on the Linux futex, process-shared.
//!
//! The futex word lives in shared memory that several processes map, so the
//! calls never pass `FUTEX_PRIVATE_FLAG`: a private futex is keyed by the
//! caller's address space, and a waker in another process would wake nobody.
//! Deadlines are absolute `CLOCK_MONOTONIC` times, which `FUTEX_WAIT_BITSET`
//! takes as they are, so a wait interrupted by a signal (EINTR) or woken
//! spuriously resumes against the same deadline.

use annulus::wait::{AtomicU32, Wait, WaitResult};
use rustix::io::Errno;
use rustix::thread::futex;
use rustix::time::{ClockId, Timespec, clock_gettime};

/// `FUTEX_BITSET_MATCH_ANY`: a bitset wait that any wake matches.
const MATCH_ANY: core::num::NonZeroU32 = match core::num::NonZeroU32::new(u32::MAX) {
    Some(v) => v,
    None => unreachable!(),
};

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Sleeps and wakes through the kernel's process-shared futex.
///
/// A zero-sized handle: every blocking call passes the word to the kernel,
/// which keys sleepers by the word's physical page, so two processes that map
/// the same page at different addresses wake each other.
///
/// - `wait(word, expected, deadline)` is `FUTEX_WAIT` (no deadline) or
///   `FUTEX_WAIT_BITSET` with an absolute monotonic deadline. It returns
///   [`WaitResult::Woken`] on a wake, a changed word (EAGAIN) or a signal
///   (EINTR); the callers in `annulus` re-check their condition.
/// - `wake(word, n)` is `FUTEX_WAKE` for up to `n` sleepers.
/// - `now()` is `clock_gettime(CLOCK_MONOTONIC)` (vDSO, no system call).
///
/// # References
///
/// - [futex(2)](https://man7.org/linux/man-pages/man2/futex.2.html)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Futex;

impl Futex {
    /// Keeps this process out of asymmetric wake-ups, for threads that
    /// must not be interrupted: every push and pop of this process keeps
    /// its fence, the rings it creates are symmetric, and since it never
    /// registers for `membarrier`, no other process's sleeper interrupts its
    /// threads for a barrier (each such barrier costs the CPUs running
    /// registered processes an interrupt, about a microsecond). Its own
    /// sleepers still run the barrier on rings created asymmetric by
    /// others, as correctness needs. Call it first thing; `false` if this
    /// process has registered already (that cannot be undone).
    pub fn keep_fences() -> bool {
        crate::membarrier::keep_fences()
    }
}

impl Wait for Futex {
    /// Registers this process for `membarrier` global expedited barriers
    /// (once); `false` on a kernel without them.
    fn prepare_light_notify(&self) -> bool {
        crate::membarrier::register()
    }

    /// `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`.
    fn heavy_barrier(&self) -> bool {
        crate::membarrier::global_barrier()
    }

    fn now(&self) -> u64 {
        let t = clock_gettime(ClockId::Monotonic);
        // Monotonic time is non-negative and far below u64::MAX nanoseconds.
        (t.tv_sec as u64)
            .saturating_mul(NANOS_PER_SEC)
            .saturating_add(t.tv_nsec as u64)
    }

    fn wait(&self, word: &AtomicU32, expected: u32, deadline: Option<u64>) -> WaitResult {
        let result = match deadline {
            None => futex::wait(word, futex::Flags::empty(), expected, None),
            Some(deadline) => {
                let at = timespec(deadline);
                futex::wait_bitset(word, futex::Flags::empty(), expected, Some(&at), MATCH_ANY)
            }
        };
        match result {
            Ok(()) => WaitResult::Woken,
            Err(Errno::TIMEDOUT) => WaitResult::TimedOut,
            // AGAIN: the word no longer held `expected`; INTR: a signal.
            // Both are spurious returns for the caller, which re-checks.
            Err(Errno::AGAIN | Errno::INTR) => WaitResult::Woken,
            Err(other) => {
                // EFAULT/EINVAL would mean a bad word address or flags,
                // which a reference and these constant flags cannot give.
                debug_assert!(false, "unexpected futex wait error: {other:?}");
                WaitResult::Woken
            }
        }
    }

    fn wake(&self, word: &AtomicU32, count: u32) {
        // The kernel takes the count as an int.
        let count = count.min(i32::MAX as u32);
        if let Err(e) = futex::wake(word, futex::Flags::empty(), count) {
            debug_assert!(false, "unexpected futex wake error: {e:?}");
        }
    }
}

/// An absolute monotonic time in nanoseconds as a `timespec`.
fn timespec(nanos: u64) -> Timespec {
    Timespec {
        tv_sec: (nanos / NANOS_PER_SEC) as i64,
        tv_nsec: (nanos % NANOS_PER_SEC) as _,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn wait_returns_at_once_when_the_word_differs() {
        let word = AtomicU32::new(1);
        assert_eq!(Futex.wait(&word, 0, None), WaitResult::Woken);
    }

    #[test]
    fn deadlines_are_absolute_monotonic_times() {
        let word = AtomicU32::new(0);
        let start = Instant::now();
        let deadline = Futex.now() + 20_000_000;
        let mut result = WaitResult::Woken;
        while result == WaitResult::Woken && Futex.now() < deadline {
            result = Futex.wait(&word, 0, Some(deadline));
        }
        assert_eq!(result, WaitResult::TimedOut);
        assert!(start.elapsed() >= Duration::from_millis(20));
        // A deadline in the past times out at once.
        assert_eq!(Futex.wait(&word, 0, Some(1)), WaitResult::TimedOut);
    }

    #[test]
    fn wake_reaches_a_sleeper_in_another_thread() {
        let word = AtomicU32::new(0);
        std::thread::scope(|s| {
            let sleeper = s.spawn(|| {
                while word.load(Ordering::Acquire) == 0 {
                    Futex.wait(&word, 0, None);
                }
            });
            std::thread::sleep(Duration::from_millis(10));
            word.store(1, Ordering::Release);
            Futex.wake(&word, 1);
            sleeper.join().unwrap();
        });
    }

    #[test]
    fn now_is_monotonic_nanoseconds() {
        let a = Futex.now();
        std::thread::sleep(Duration::from_millis(2));
        let b = Futex.now();
        assert!(b - a >= 2_000_000);
    }

    #[test]
    fn timespec_splits_seconds() {
        let t = timespec(3 * NANOS_PER_SEC + 7);
        assert_eq!((t.tv_sec, t.tv_nsec as u64), (3, 7));
    }
}
