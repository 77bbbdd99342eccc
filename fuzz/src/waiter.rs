//! A waiter that never sleeps, on a clock that ticks each time it is read,
//! and that fails the run when one operation calls it without end.

use std::cell::Cell;
use std::rc::Rc;

use annulus::wait::{AtomicU32, Wait, WaitResult};

/// Nanoseconds the clock advances on each read.
pub(crate) const TICK_NS: u64 = 1_000_000;

/// Calls into the waiter (clock reads, waits and wakes) one operation may
/// make. Every timeout the interpreter passes is at most three ticks, and
/// the longest internal patience (a robust holder's drop, one second) is a
/// thousand; an operation past this budget is looping without end.
pub(crate) const CALL_BUDGET: u32 = 200_000;

#[derive(Debug, Default)]
struct State {
    now: Cell<u64>,
    calls: Cell<u32>,
}

/// The interpreter's waiter: handles of one input share its clock.
#[derive(Clone, Debug, Default)]
pub(crate) struct NeverSleep(Rc<State>);

impl NeverSleep {
    /// Starts a new operation's budget.
    pub(crate) fn reset(&self) {
        self.0.calls.set(0);
    }

    fn count(&self) {
        let calls = self.0.calls.get() + 1;
        self.0.calls.set(calls);
        assert!(
            calls <= CALL_BUDGET,
            "one operation called its waiter {calls} times: an endless loop"
        );
    }
}

impl Wait for NeverSleep {
    fn now(&self) -> u64 {
        self.count();
        let now = self.0.now.get() + TICK_NS;
        self.0.now.set(now);
        now
    }

    fn wait(&self, word: &AtomicU32, expected: u32, deadline: Option<u64>) -> WaitResult {
        self.count();
        // Acquire, as core's `Spin`: not weaker than a real waiter.
        if word.load(core::sync::atomic::Ordering::Acquire) != expected {
            return WaitResult::Woken;
        }
        // With one thread nobody else can change the word: a wait with no
        // deadline would sleep forever. The interpreter passes a timeout to
        // every blocking call, so none may reach here without one.
        let deadline = deadline.expect("a wait with no deadline under a call given a timeout");
        if self.now() >= deadline {
            WaitResult::TimedOut
        } else {
            // A spurious return: the caller re-checks and waits again.
            WaitResult::Woken
        }
    }

    fn wake(&self, _word: &AtomicU32, _count: u32) {
        self.count();
    }
}
