//! [`LoomWait`]: a futex modelled with loom's `Mutex` and `Condvar`.

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;

use annulus::wait::{AtomicU32, Wait, WaitResult};
use loom::sync::atomic::Ordering;
use loom::sync::{Condvar, Mutex};

/// A [`Wait`] implementation with the semantics of a Linux futex, for loom.
///
/// - `wait` takes the futex lock, returns [`WaitResult::Woken`] at once if the
///   word no longer holds `expected`, and otherwise sleeps on a condvar until
///   a `wake` on the same word. The check and the sleep happen under one
///   lock that `wake` also takes, which is the futex's guarantee: a `wake`
///   that follows the peer's store to the word either comes before the check
///   (the check then sees the store) or finds the waiter asleep. A wake-up the
///   caller loses therefore leaves the waiter asleep for good, and loom
///   reports the deadlock.
/// - With a deadline, `wait` does not sleep: if the word still holds
///   `expected`, it advances the logical clock to the deadline and returns
///   [`WaitResult::TimedOut`], modelling a timeout that fires. This keeps
///   every timed model finite and explores the "timed out" outcome at every
///   point where a real sleep could end by timeout.
/// - `now` reads the logical clock, which starts at 0 and only moves when a
///   timed wait expires.
/// - `wake` wakes every sleeper on the word, whatever `count` says (a futex
///   may wake more waiters than asked; callers tolerate spurious returns).
///
/// Clones share one futex, like the handles of two processes that map the
/// same page. Sleepers are keyed by the word's address, as the kernel keys
/// them, so a wake on one word never wakes a sleeper on another.
#[derive(Clone, Debug)]
pub struct LoomWait {
    // A std `Arc`, not loom's: the reference count is bookkeeping outside the
    // algorithm under test, and loom's would add a branch point per clone.
    futex: Arc<Futex>,
}

#[derive(Debug)]
struct Futex {
    state: Mutex<State>,
    sleepers: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// The logical clock, in nanoseconds.
    clock: u64,
    /// Per word address: how many wakes it has had.
    generations: Vec<(usize, u64)>,
}

impl State {
    fn generation(&self, addr: usize) -> u64 {
        self.generations
            .iter()
            .find(|(a, _)| *a == addr)
            .map_or(0, |&(_, g)| g)
    }

    fn bump(&mut self, addr: usize) {
        match self.generations.iter_mut().find(|(a, _)| *a == addr) {
            Some((_, g)) => *g += 1,
            None => self.generations.push((addr, 1)),
        }
    }
}

impl LoomWait {
    /// A new futex with its clock at 0. Create it inside `loom::model`.
    pub fn new() -> Self {
        LoomWait {
            futex: Arc::new(Futex {
                state: Mutex::new(State::default()),
                sleepers: Condvar::new(),
            }),
        }
    }
}

impl Default for LoomWait {
    fn default() -> Self {
        Self::new()
    }
}

/// The key a futex files a word's sleepers under.
fn key(word: &AtomicU32) -> usize {
    core::ptr::from_ref(word) as usize
}

impl Wait for LoomWait {
    fn now(&self) -> u64 {
        self.futex.state.lock().expect("futex lock").clock
    }

    fn wait(&self, word: &AtomicU32, expected: u32, deadline: Option<u64>) -> WaitResult {
        let addr = key(word);
        let mut state = self.futex.state.lock().expect("futex lock");
        // Under the lock that `wake` takes: the futex's atomic check-and-sleep.
        if word.load(Ordering::SeqCst) != expected {
            return WaitResult::Woken;
        }
        if let Some(deadline) = deadline {
            // The timeout fires: time jumps to the deadline.
            state.clock = state.clock.max(deadline);
            return WaitResult::TimedOut;
        }
        let generation = state.generation(addr);
        while state.generation(addr) == generation {
            state = self.futex.sleepers.wait(state).expect("futex lock");
        }
        WaitResult::Woken
    }

    fn wake(&self, word: &AtomicU32, _count: u32) {
        let mut state = self.futex.state.lock().expect("futex lock");
        state.bump(key(word));
        drop(state);
        self.futex.sleepers.notify_all();
    }
}
