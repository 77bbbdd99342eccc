//! The futex-shaped wait/notify trait that every blocking operation is generic
//! over, and [`Spin`], its implementation for bare metal.
//!
//! The contract is the futex's: [`Wait::wait`] sleeps while a 32-bit word
//! still holds an expected value, and [`Wait::wake`] wakes sleepers on that
//! word. Checking the word and going to sleep must be atomic with respect to
//! `wake` (the kernel's futex bucket lock gives this on Linux), or a wake-up
//! could be lost. Spurious returns are allowed: callers always re-check their
//! condition. Time is a monotonic count of nanoseconds from [`Wait::now`], so
//! a deadline is computed once and survives any number of spurious returns.
//!
//! Implementations: [`Spin`] here (polls, wakes nobody), the process-shared
//! futex in `annulus-linux`, and a loom model in `loom-tests`.

use crate::sync::{Ordering, spin_hint};

/// The word type waits happen on: core's `AtomicU32`, or loom's
/// under `--cfg loom` (so loom models can implement [`Wait`]).
pub use crate::sync::AtomicU32;

/// Why [`Wait::wait`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitResult {
    /// The word changed, a wake arrived, or the return was spurious.
    Woken,
    /// The deadline passed.
    TimedOut,
}

/// Sleep on a 32-bit word and wake sleepers, futex-style.
pub trait Wait {
    /// Monotonic time in nanoseconds since an arbitrary fixed origin.
    fn now(&self) -> u64;

    /// Sleeps while `word` holds `expected`, until woken or until `now()`
    /// reaches `deadline` (`None`: no deadline). Returns at once if the word
    /// already differs. May return spuriously.
    fn wait(&self, word: &AtomicU32, expected: u32, deadline: Option<u64>) -> WaitResult;

    /// Wakes up to `count` sleepers on `word` (`u32::MAX`: all of them).
    fn wake(&self, word: &AtomicU32, count: u32);

    /// Prepares this process to notify with a compiler fence only, on the
    /// rings created for asymmetric wake-ups (whose waiters run
    /// [`Wait::heavy_barrier`] before they sleep), and says whether it may.
    /// On Linux: registers the process for
    /// `MEMBARRIER_CMD_GLOBAL_EXPEDITED`. Called when a handle is claimed,
    /// never on the fast path. The default, `false`, keeps the notifier's
    /// full fence, which is always correct.
    fn prepare_light_notify(&self) -> bool {
        false
    }

    /// Runs a full memory barrier on every running thread of every process
    /// that [`Wait::prepare_light_notify`] prepared, and on this one; says
    /// whether it ran. On Linux: `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`.
    /// A waiter on a ring created for asymmetric wake-ups runs it before it
    /// sleeps; one that cannot (the default, `false`) sleeps in slices of
    /// [`LIGHT_NOTIFY_FALLBACK_NS`] instead, re-checking after each.
    fn heavy_barrier(&self) -> bool {
        false
    }
}

/// Longest sleep, in nanoseconds, of a waiter that cannot run
/// [`Wait::heavy_barrier`] on a ring whose notifiers may be light: a notify
/// it misses delays it by at most this much.
pub const LIGHT_NOTIFY_FALLBACK_NS: u64 = 1_000_000;

/// A source of monotonic time for [`Spin`].
pub trait Clock {
    /// Monotonic nanoseconds since an arbitrary fixed origin.
    fn now_ns(&self) -> u64;
}

impl<F: Fn() -> u64> Clock for F {
    fn now_ns(&self) -> u64 {
        self()
    }
}

/// How many polls of the word [`Spin`] makes between two reads of its clock.
const POLLS_PER_CLOCK_READ: u32 = 64;
/// Upper bound of the exponential backoff, in spin hints per poll.
const MAX_BACKOFF: u32 = 64;

/// Waits by polling the word with exponential backoff; `wake` does nothing.
///
/// For bare metal, or peers that never sleep in the kernel. It needs a
/// [`Clock`] for deadlines (on a microcontroller, a timer read converted to
/// nanoseconds). It burns the CPU while waiting, so prefer the futex waiter of
/// `annulus-linux` on an operating system.
///
/// # Examples
///
/// ```
/// use annulus::wait::{Spin, Wait};
/// let ticks = core::cell::Cell::new(0u64);
/// let spin = Spin::new(|| { ticks.set(ticks.get() + 1_000); ticks.get() });
/// assert!(spin.now() > 0);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Spin<C> {
    clock: C,
}

impl<C: Clock> Spin<C> {
    /// A spinning waiter that reads time from `clock`.
    pub const fn new(clock: C) -> Self {
        Spin { clock }
    }
}

impl<C: Clock> Wait for Spin<C> {
    fn now(&self) -> u64 {
        self.clock.now_ns()
    }

    fn wait(&self, word: &AtomicU32, expected: u32, deadline: Option<u64>) -> WaitResult {
        let mut backoff = 1;
        let mut polls = 0u32;
        // Acquire: a caller that sees the new value also sees what the waker
        // wrote before changing it (the futex gives no such edge; callers
        // re-check with their own acquire loads, this is just not weaker).
        while word.load(Ordering::Acquire) == expected {
            polls = polls.wrapping_add(1);
            if polls % POLLS_PER_CLOCK_READ == 0
                && let Some(deadline) = deadline
                && self.clock.now_ns() >= deadline
            {
                return WaitResult::TimedOut;
            }
            for _ in 0..backoff {
                spin_hint();
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        WaitResult::Woken
    }

    fn wake(&self, _word: &AtomicU32, _count: u32) {}
}

/// A monotonic clock from `std::time::Instant`, for [`Spin`] in hosted code.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct StdClock;

#[cfg(feature = "std")]
impl Clock for StdClock {
    fn now_ns(&self) -> u64 {
        extern crate std;
        use std::sync::OnceLock;
        use std::time::Instant;
        static ORIGIN: OnceLock<Instant> = OnceLock::new();
        let origin = *ORIGIN.get_or_init(Instant::now);
        u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Converts a relative timeout into an absolute deadline on `wait`'s clock,
/// read once (STYLE.md 4, "Compute the deadline once"), for blocking calls
/// that wait in several rounds. `None` is no deadline; a timeout too long
/// for the clock saturates.
///
/// ```
/// use annulus::wait::{Spin, deadline_after};
/// use core::time::Duration;
///
/// let spin = Spin::new(|| 1_000u64);
/// assert_eq!(deadline_after(&spin, Some(Duration::from_micros(2))), Some(3_000));
/// assert_eq!(deadline_after(&spin, None), None);
/// assert_eq!(deadline_after(&spin, Some(Duration::MAX)), Some(u64::MAX));
/// ```
pub fn deadline_after<W: Wait>(wait: &W, timeout: Option<core::time::Duration>) -> Option<u64> {
    timeout.map(|t| {
        let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        wait.now().saturating_add(nanos)
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use core::cell::Cell;

    use super::*;

    #[test]
    fn spin_returns_when_the_word_differs() {
        let word = AtomicU32::new(5);
        let spin = Spin::new(|| 0u64);
        assert_eq!(spin.wait(&word, 4, None), WaitResult::Woken);
        spin.wake(&word, u32::MAX);
    }

    #[test]
    fn spin_times_out_on_its_clock() {
        let word = AtomicU32::new(5);
        let now = Cell::new(0u64);
        let spin = Spin::new(|| {
            now.set(now.get() + 1_000);
            now.get()
        });
        assert_eq!(spin.wait(&word, 5, Some(1_000)), WaitResult::TimedOut);
        assert!(now.get() >= 1_000);
    }

    #[test]
    fn spin_wakes_when_another_thread_changes_the_word() {
        let word = AtomicU32::new(0);
        let spin = Spin::new(|| 0u64);
        std::thread::scope(|s| {
            s.spawn(|| word.store(1, Ordering::Release));
            assert_eq!(spin.wait(&word, 0, None), WaitResult::Woken);
        });
    }

    #[test]
    fn deadlines_saturate() {
        let spin = Spin::new(|| u64::MAX - 5);
        assert_eq!(deadline_after(&spin, None), None);
        assert_eq!(
            deadline_after(&spin, Some(core::time::Duration::from_secs(1))),
            Some(u64::MAX)
        );
        assert_eq!(
            deadline_after(&spin, Some(core::time::Duration::MAX)),
            Some(u64::MAX)
        );
    }

    #[cfg(feature = "std")]
    #[test]
    fn std_clock_is_monotonic() {
        let a = StdClock.now_ns();
        let b = StdClock.now_ns();
        assert!(b >= a);
    }
}
