//! An event count: sleep until a condition holds, without ever losing a
//! wake-up, and without calling the [`Wait`] trait when nobody sleeps.
//!
//! Shared state: `seq`, the futex word, bumped by a notifier that saw a
//! sleeper; and `sleepers`, the number of waiters that may be asleep.
//!
//! The protocol is Dekker's, with a `SeqCst` fence on each side:
//!
//! ```text
//! waiter                          notifier
//!   sleepers += 1                   make the condition true (Release store)
//!   fence(SeqCst)      (F1)         fence(SeqCst)      (F2)
//!   key = seq (Acquire)             if sleepers != 0 {
//!   if condition { done }              seq += 1 (Release); wake(seq)
//!   wait(seq, key)                  }
//! ```
//!
//! In the single total order of the fences, either F2 comes first, and then
//! the waiter's re-check after F1 sees the condition; or F1 comes first, and
//! then the notifier sees `sleepers != 0` and bumps `seq`: if the bump comes
//! after the waiter read `key`, the futex sees `seq != key` or the wake finds
//! the waiter asleep; if before, the waiter's Acquire read of `key` synchronises
//! with the bump and its re-check sees the condition. No interleaving loses
//! the wake-up (modelled in loom-tests/tests/event.rs).
//!
//! The notifier's cost when nobody sleeps is the fence and one load of a line
//! that only changes when someone goes to sleep.
//!
//! # Asymmetric fences
//!
//! F2 is most of what a push costs across processes (it waits for the slot
//! store's cache line). A ring created for asymmetric wake-ups moves that
//! cost to the sleeper, which is about to make a system call anyway
//! ([`WakeMode`]): a notifier whose process is registered
//! ([`Wait::prepare_light_notify`]) replaces F2 with a compiler fence, and
//! every waiter follows F1 with [`Wait::heavy_barrier`]
//! (`membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)` on Linux), which runs a
//! full barrier on every running thread of every registered process. That
//! barrier lands in the notifier somewhere: before its condition store (then
//! the notifier's later `sleepers` load sees the increment, ordered before
//! the barrier), between its store and its load (as F2 would), or after its
//! load (then the store is visible when the barrier returns, and the
//! waiter's re-check, after it, sees the condition). A notifier that is not
//! registered keeps F2; a waiter that cannot run the barrier sleeps at most
//! [`LIGHT_NOTIFY_FALLBACK_NS`] at a time. The pairing is the one of
//! liburcu's and folly's asymmetric barriers; loom cannot model it (it has
//! no barrier on other threads), so it is checked by the cross-process
//! stress tests, and loom keeps checking the symmetric protocol.

use crate::sync::{AtomicU32, Ordering, compiler_fence, fence, spin_hint};
use crate::wait::{LIGHT_NOTIFY_FALLBACK_NS, Wait, WaitResult};

/// The event count's shared words: 8 bytes.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct EventCount {
    /// Futex word: bumped (wrapping) by each notify that saw a sleeper.
    seq: AtomicU32,
    /// Waiters that may be asleep on `seq`. Incremented by a waiter before its
    /// final check, decremented after it wakes. A hostile value only causes
    /// extra wake calls (too high) or a missed wake that the waiter's
    /// deadline bounds (too low: that is a hostile peer).
    sleepers: AtomicU32,
}

#[cfg(not(loom))]
static_assertions::assert_eq_size!(EventCount, [u32; 2]);

/// Offset of the sleeper count in an event count, for read-only inspection.
#[cfg(not(loom))]
pub(crate) const SLEEPERS_OFFSET: usize = core::mem::offset_of!(EventCount, sleepers);

/// The two event counts of a ring, side by side on one line.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Events {
    /// Receivers sleep here while empty; senders notify after publishing.
    pub(crate) data_ready: EventCount,
    /// Senders sleep here while full; receivers notify after releasing.
    pub(crate) space_ready: EventCount,
}

/// A condition check for [`EventCount::wait_until`]: `Some(result)` ends the
/// wait, `None` means keep waiting.
pub(crate) type Poll<R> = Option<R>;

/// How one handle takes part in the protocol (see the module doc), fixed
/// when it is claimed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WakeMode {
    /// Notify with a compiler fence instead of F2.
    light_notify: bool,
    /// Run the heavy barrier after F1 (or sleep in fallback slices).
    heavy_sleep: bool,
}

impl WakeMode {
    /// Fences on both sides: every structure not created for asymmetric
    /// wake-ups, and every repair or view-level notify.
    pub(crate) const SYMMETRIC: WakeMode = WakeMode {
        light_notify: false,
        heavy_sleep: false,
    };

    /// The mode of a thread that only sleeps (a readiness watcher).
    pub(crate) fn sleeper(asymmetric: bool) -> WakeMode {
        WakeMode {
            light_notify: false,
            heavy_sleep: asymmetric,
        }
    }

    /// The mode of a handle claimed with `wait` on a structure whose header
    /// says whether it was created for asymmetric wake-ups.
    pub(crate) fn for_handle<W: Wait>(asymmetric: bool, wait: &W) -> WakeMode {
        if !asymmetric {
            return WakeMode::SYMMETRIC;
        }
        WakeMode {
            // Loom models the symmetric protocol only (module doc).
            light_notify: !cfg!(loom) && wait.prepare_light_notify(),
            heavy_sleep: true,
        }
    }
}

impl EventCount {
    pub(crate) fn new() -> Self {
        EventCount {
            seq: AtomicU32::new(0),
            sleepers: AtomicU32::new(0),
        }
    }

    /// Wakes every waiter, if any might be asleep. Call after making a
    /// condition true with a Release store (or stronger).
    #[inline]
    pub(crate) fn notify<W: Wait>(&self, wait: &W) {
        self.notify_in(WakeMode::SYMMETRIC, wait);
    }

    /// [`EventCount::notify`] in `mode`.
    #[inline]
    pub(crate) fn notify_in<W: Wait>(&self, mode: WakeMode, wait: &W) {
        if mode.light_notify {
            // SYNC POINT event F2 (light): the compiler keeps the condition
            // store before the `sleepers` load; the waiters' heavy barrier
            // orders them in the hardware (module doc).
            compiler_fence(Ordering::SeqCst);
        } else {
            // SYNC POINT event F2: orders the caller's condition store before
            // the `sleepers` load below, against the waiter's F1 (module doc).
            fence(Ordering::SeqCst);
        }
        // Relaxed: the fence above (or the waiters' barrier) gives the order.
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.wake_sleepers(wait);
        }
    }

    #[cold]
    #[inline(never)]
    fn wake_sleepers<W: Wait>(&self, wait: &W) {
        // SYNC POINT event bump: Release pairs with the waiter's Acquire load
        // of `key`, so a waiter that reads the bumped value sees the condition.
        self.seq.fetch_add(1, Ordering::Release);
        wait.wake(&self.seq, u32::MAX);
    }

    /// Waits until `poll` returns `Some`, spinning up to `spin_limit` polls
    /// first, then sleeping through `wait`. Fails with [`TimedOut`] once
    /// `now()` reaches `deadline` (never if `None`) with `poll` still `None`.
    ///
    /// `poll` must read its condition with Acquire (or stronger) loads.
    pub(crate) fn wait_until<W: Wait, R>(
        &self,
        wait: &W,
        spin_limit: u32,
        deadline: Option<u64>,
        poll: impl FnMut() -> Poll<R>,
    ) -> Result<R, TimedOut> {
        self.wait_until_in(WakeMode::SYMMETRIC, wait, spin_limit, deadline, poll)
    }

    /// [`EventCount::wait_until`] in `mode`.
    pub(crate) fn wait_until_in<W: Wait, R>(
        &self,
        mode: WakeMode,
        wait: &W,
        spin_limit: u32,
        deadline: Option<u64>,
        mut poll: impl FnMut() -> Poll<R>,
    ) -> Result<R, TimedOut> {
        for _ in 0..spin_limit {
            if let Some(r) = poll() {
                return Ok(r);
            }
            spin_hint();
        }
        loop {
            if let Some(r) = poll() {
                return Ok(r);
            }
            if let Some(d) = deadline
                && wait.now() >= d
            {
                return Err(TimedOut);
            }
            if let Some(r) = self.sleep_once(mode, wait, deadline, &mut poll) {
                return Ok(r);
            }
        }
    }

    /// One announce / re-check / sleep round: `Some` if the re-check found the
    /// condition, `None` after a wake-up or a timeout (the caller re-polls and
    /// checks its deadline).
    #[cold]
    fn sleep_once<W: Wait, R>(
        &self,
        mode: WakeMode,
        wait: &W,
        deadline: Option<u64>,
        poll: &mut impl FnMut() -> Poll<R>,
    ) -> Option<R> {
        let mut ready = None;
        // Woken or timed out: either way the caller polls again and checks
        // its deadline against `now()`.
        let _: WaitResult = self.announce_check_sleep_in(mode, wait, deadline, || {
            ready = poll();
            ready.is_none()
        });
        ready
    }

    /// The waiter's side of the protocol (module doc): announce as a
    /// sleeper, run `check`, and if it returns `true` sleep until a notify
    /// that saw the announcement, a spurious wake, or the deadline.
    ///
    /// Every notify whose F2 comes after this call's F1 ends the sleep; the
    /// condition stores of every earlier notify are visible to `check`.
    /// `check` must read its condition after the fence, with Acquire loads
    /// if it hands data on (it runs after the `key` load, as the protocol
    /// requires). In `mode`, F1 may be followed by the heavy barrier, or
    /// the sleep cut to a fallback slice (module doc).
    pub(crate) fn announce_check_sleep_in<W: Wait>(
        &self,
        mode: WakeMode,
        wait: &W,
        mut deadline: Option<u64>,
        check: impl FnOnce() -> bool,
    ) -> WaitResult {
        // Relaxed: ordered by the fence that follows.
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        // SYNC POINT event F1: orders the `sleepers` increment before the
        // condition re-check, against the notifier's F2 (see module doc).
        fence(Ordering::SeqCst);
        // SYNC POINT event F1 (heavy): against light notifiers, a barrier
        // in each of them (module doc). Without it, a notify may miss us:
        // sleep a bounded slice, and the caller re-polls.
        if mode.heavy_sleep && !wait.heavy_barrier() {
            let slice_end = wait.now().saturating_add(LIGHT_NOTIFY_FALLBACK_NS);
            deadline = Some(deadline.map_or(slice_end, |d| d.min(slice_end)));
        }
        // SYNC POINT event bump: Acquire pairs with `wake_sleepers`.
        let key = self.seq.load(Ordering::Acquire);
        let result = if check() {
            wait.wait(&self.seq, key, deadline)
        } else {
            WaitResult::Woken
        };
        // Relaxed: the count is a hint for notifiers; a late decrement only
        // costs them a spare wake call.
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
        result
    }

    /// Wakes every sleeper whether or not any announced itself: bumps the
    /// word, so a waiter between its `key` load and its sleep does not go to
    /// sleep, and wakes the word. For a watcher's owner that must end the
    /// watch; to a waiter it is a spurious wake-up.
    pub(crate) fn wake_all<W: Wait>(&self, wait: &W) {
        self.wake_sleepers(wait);
    }
}

/// The deadline of a blocking call passed before its condition held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimedOut;
