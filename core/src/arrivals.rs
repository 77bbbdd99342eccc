//! Watching a structure for arrivals from outside its receive path: the
//! building block of a readiness notifier (an eventfd that an `epoll` loop
//! waits on, in `annulus-linux`).
//!
//! A receiver that blocks sleeps on its structure's "data ready" event count
//! until a sender's notify wakes it. A *watcher* sleeps on the same event
//! count without receiving anything: each round it announces itself as a
//! sleeper, looks at the structure ([`Arrivals::has_arrivals`]), tells
//! whoever it serves, and sleeps until the next notify
//! ([`ArrivalEvent::watch`]). Because it announces before it looks, no
//! arrival slips between the look and the sleep (the event count's
//! protocol, core/src/event.rs): an arrival either is visible to the look,
//! or its notify sees the announcement and ends the sleep.
//!
//! Senders pay nothing for this when nobody watches: their notify makes a
//! system call only while someone (receiver or watcher) has announced
//! itself. While a watcher is installed, every arrival that finds it asleep
//! costs its sender one wake call.
//!
//! # Examples
//!
//! A watcher that counts the rounds in which data was there:
//!
//! ```
//! use annulus::arrivals::Arrivals;
//! use annulus::region::Region;
//! use annulus::spsc::Spsc;
//! use annulus::wait::{Spin, Wait};
//!
//! let mut region = Region::<{ Spsc::<u32>::region_size(4) }>::new();
//! let ring = Spsc::<u32>::init(region.as_uninit_mut(), 4).unwrap();
//! let spin = Spin::new(|| 0u64);
//! let mut tx = ring.producer(spin).unwrap();
//! assert!(!ring.has_arrivals());
//! tx.push(7).unwrap();
//! let mut seen = false;
//! // `false`: look only, do not sleep (a real watcher returns `true`).
//! ring.arrival_event().watch(&spin, None, || {
//!     seen = ring.has_arrivals();
//!     false
//! });
//! assert!(seen);
//! ```

use crate::event::{EventCount, WakeMode};
use crate::wait::{Wait, WaitResult};

/// A structure whose arrivals can be watched without receiving.
pub trait Arrivals {
    /// Whether a receive now would find something other than "empty":
    /// queued data or units, or a disconnect (the sending side closed). A
    /// racy hint, never a promise: another receiver may take the data first,
    /// and a selective receive may not want it.
    fn has_arrivals(&self) -> bool;

    /// The event count that every arrival (and every close of the sending
    /// side) notifies.
    fn arrival_event(&self) -> ArrivalEvent<'_>;
}

/// A structure's "data ready" event count, as lent to a watcher.
#[derive(Clone, Copy, Debug)]
pub struct ArrivalEvent<'a> {
    event: &'a EventCount,
    /// The watcher's part: a sleeper's, with the heavy barrier on a ring
    /// created for asymmetric wake-ups.
    mode: WakeMode,
}

impl<'a> ArrivalEvent<'a> {
    pub(crate) fn new(event: &'a EventCount, asymmetric: bool) -> Self {
        ArrivalEvent {
            event,
            mode: WakeMode::sleeper(asymmetric),
        }
    }

    /// One watch round: announces this thread as a sleeper, runs `look`,
    /// and if `look` returns `true` sleeps until the next arrival's notify,
    /// a spurious wake-up, [`ArrivalEvent::wake_watchers`], or `deadline`
    /// (on `wait`'s clock; `None`: no deadline).
    ///
    /// The promise: every arrival is either visible to `look` (when `look`
    /// reads the structure, e.g. with [`Arrivals::has_arrivals`]) or ends
    /// the sleep, so a loop of rounds misses none. Returns
    /// [`WaitResult::TimedOut`] only when the deadline passed.
    pub fn watch<W: Wait>(
        &self,
        wait: &W,
        deadline: Option<u64>,
        look: impl FnOnce() -> bool,
    ) -> WaitResult {
        self.event
            .announce_check_sleep_in(self.mode, wait, deadline, look)
    }

    /// Wakes every thread sleeping on the event, watchers and blocked
    /// receivers alike (receivers treat it as a spurious wake-up and sleep
    /// again). A watcher round that has announced itself but not yet slept
    /// does not sleep. For ending a watch: set your own stop flag (Release)
    /// first, check it (Acquire) in `look`.
    pub fn wake_watchers<W: Wait>(&self, wait: &W) {
        self.event.wake_all(wait);
    }
}

impl<T> Arrivals for crate::spsc::Spsc<'_, T> {
    fn has_arrivals(&self) -> bool {
        !self.is_empty() || self.hdr().control.0.producer.is_closed()
    }

    fn arrival_event(&self) -> ArrivalEvent<'_> {
        ArrivalEvent::new(
            &self.hdr().events.0.data_ready,
            self.hdr().control.0.region.asymmetric_wake(),
        )
    }
}

impl<T> Arrivals for crate::mpmc::Mpmc<'_, T> {
    fn has_arrivals(&self) -> bool {
        !self.is_empty() || self.senders_closed()
    }

    fn arrival_event(&self) -> ArrivalEvent<'_> {
        ArrivalEvent::new(
            &self.hdr().events.0.data_ready,
            self.hdr().control.0.region.asymmetric_wake(),
        )
    }
}

#[cfg(target_has_atomic = "64")]
impl Arrivals for crate::mq::MessageQueue<'_> {
    /// A queued message of any type or priority. A statistics snapshot that
    /// fails (contended or corrupted) counts as an arrival, so the receiver
    /// looks and meets the error itself.
    fn has_arrivals(&self) -> bool {
        self.stats().map_or(true, |s| s.messages != 0)
    }

    fn arrival_event(&self) -> ArrivalEvent<'_> {
        ArrivalEvent::new(
            &self.hdr().events.0.data_ready,
            self.hdr().control.0.region.asymmetric_wake(),
        )
    }
}

impl<W> Arrivals for crate::semaphore::Semaphore<'_, W> {
    /// At least one unit.
    fn has_arrivals(&self) -> bool {
        self.value() != 0
    }

    fn arrival_event(&self) -> ArrivalEvent<'_> {
        ArrivalEvent::new(&self.hdr().state.0.posted, false)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::time::Duration;

    use super::*;
    use crate::mpmc::Mpmc;
    use crate::region::Region;
    use crate::semaphore::Semaphore;
    use crate::spsc::Spsc;
    use crate::sync::{AtomicU32, Ordering};
    use crate::test_support::{W, waiter};

    fn yielding() -> W {
        waiter()
    }

    #[test]
    fn spsc_arrivals_follow_data_and_the_producer_close() {
        let mut region = Region::<{ Spsc::<u32>::region_size(4) }>::new();
        let ring = Spsc::<u32>::init(region.as_uninit_mut(), 4).unwrap();
        let mut tx = ring.producer(yielding()).unwrap();
        let mut rx = ring.consumer(yielding()).unwrap();
        assert!(!ring.has_arrivals());
        tx.push(1).unwrap();
        assert!(ring.has_arrivals());
        assert_eq!(rx.pop(), Ok(1));
        assert!(!ring.has_arrivals());
        drop(tx);
        assert!(ring.has_arrivals(), "a close is an arrival: Disconnected");
    }

    #[test]
    fn mpmc_arrivals_follow_data_and_the_last_sender() {
        let mut region = Region::<{ Mpmc::<u32>::region_size(4, 4) }>::new();
        let ring = Mpmc::<u32>::init(region.as_uninit_mut(), 4, 4).unwrap();
        let mut tx = ring.sender(yielding()).unwrap();
        let mut rx = ring.receiver(yielding()).unwrap();
        assert!(!ring.has_arrivals());
        tx.push(1).unwrap();
        assert!(ring.has_arrivals());
        assert_eq!(rx.pop(), Ok(1));
        assert!(!ring.has_arrivals());
        drop(tx);
        assert!(ring.has_arrivals(), "all senders gone: Disconnected");
    }

    #[test]
    fn semaphore_arrivals_are_units() {
        let mut region = Region::<{ Semaphore::region_size() }>::new();
        let sem = Semaphore::init(region.as_uninit_mut(), 0, 4, yielding()).unwrap();
        assert!(!sem.has_arrivals());
        sem.post(2).unwrap();
        assert!(sem.has_arrivals());
        sem.try_wait(2).unwrap();
        assert!(!sem.has_arrivals());
    }

    #[test]
    fn a_look_that_declines_returns_without_sleeping() {
        let mut region = Region::<{ Semaphore::region_size() }>::new();
        let sem = Semaphore::init(region.as_uninit_mut(), 0, 4, yielding()).unwrap();
        let mut looked = false;
        let result = sem.arrival_event().watch(&yielding(), None, || {
            looked = true;
            false
        });
        assert!(looked);
        assert_eq!(result, WaitResult::Woken);
    }

    #[test]
    fn a_watch_times_out_at_its_deadline() {
        let mut region = Region::<{ Semaphore::region_size() }>::new();
        let sem = Semaphore::init(region.as_uninit_mut(), 0, 4, yielding()).unwrap();
        let w = yielding();
        let deadline = w.now() + 1_000_000;
        let mut result = WaitResult::Woken;
        while result == WaitResult::Woken {
            result = sem.arrival_event().watch(&w, Some(deadline), || true);
        }
        assert_eq!(result, WaitResult::TimedOut);
    }

    /// A watcher thread loops rounds and counts the rounds that saw units; a
    /// poster posts one unit at a time and waits for the watcher to have
    /// seen it; at the end the watcher is stopped through `wake_watchers`.
    /// A lost arrival would hang the poster (the test's watchdog is the
    /// harness timeout).
    #[test]
    fn a_watcher_sees_every_arrival_and_stops_when_woken() {
        let mut region = Region::<{ Semaphore::region_size() }>::new();
        let sem = Semaphore::init(region.as_uninit_mut(), 0, 4, yielding()).unwrap();
        let stop = AtomicU32::new(0);
        let seen = AtomicU32::new(0);
        std::thread::scope(|s| {
            s.spawn(|| {
                loop {
                    let mut stopping = false;
                    sem.arrival_event().watch(&yielding(), None, || {
                        stopping = stop.load(Ordering::Acquire) != 0;
                        if !stopping && sem.has_arrivals() && sem.try_wait(1).is_ok() {
                            seen.fetch_add(1, Ordering::Release);
                        }
                        !stopping
                    });
                    if stopping {
                        return;
                    }
                }
            });
            for i in 1..=20 {
                sem.post(1).unwrap();
                while seen.load(Ordering::Acquire) < i {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            stop.store(1, Ordering::Release);
            sem.arrival_event().wake_watchers(&yielding());
        });
        assert_eq!(seen.load(Ordering::Relaxed), 20);
    }
}
