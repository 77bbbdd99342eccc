//! The asymmetric wake-up mode of a ring (`event.rs`, "Asymmetric fences"),
//! as a handle sees it: which side runs the heavy barrier, how long a waiter
//! that cannot sleeps, and that the mode is fixed when the handle is
//! claimed. Whether the barrier really orders the peer is the kernel's part,
//! checked across processes by `tests/tests/spsc_processes.rs`.

extern crate std;

use std::sync::Mutex;
use std::vec::Vec;

use super::{InitOptions, PopTimeoutError, Spsc};
use crate::region::Region;
use crate::sync::Ordering;
use crate::test_support::{YieldWait, clock};
use crate::wait::{AtomicU32, LIGHT_NOTIFY_FALLBACK_NS, Wait, WaitResult};

/// A waiter that records its barriers and the deadlines it is asked to
/// sleep until, and returns at once (as a timeout) instead of sleeping.
struct Recording {
    light: bool,
    heavy: bool,
    prepared: Mutex<u32>,
    barriers: Mutex<u32>,
    deadlines: Mutex<Vec<Option<u64>>>,
}

impl Recording {
    fn new(light: bool, heavy: bool) -> Self {
        Recording {
            light,
            heavy,
            prepared: Mutex::new(0),
            barriers: Mutex::new(0),
            deadlines: Mutex::new(Vec::new()),
        }
    }
}

impl Wait for &Recording {
    fn now(&self) -> u64 {
        clock()
    }
    fn wait(&self, _word: &AtomicU32, _expected: u32, deadline: Option<u64>) -> WaitResult {
        self.deadlines.lock().unwrap().push(deadline);
        WaitResult::TimedOut
    }
    fn wake(&self, _word: &AtomicU32, _count: u32) {}
    fn prepare_light_notify(&self) -> bool {
        *self.prepared.lock().unwrap() += 1;
        self.light
    }
    fn heavy_barrier(&self) -> bool {
        *self.barriers.lock().unwrap() += 1;
        self.heavy
    }
}

type Mem = Region<{ 512 + 64 * 8 }>;

fn ring(mem: &mut Mem, asymmetric_wake: bool) -> Spsc<'_, u64> {
    let options = InitOptions {
        schema: None,
        creator_pid: 0,
        asymmetric_wake,
    };
    // SAFETY: `mem` is ours, aligned and large enough, and outlives the view.
    let ring = unsafe {
        let ptr = core::ptr::NonNull::new(mem.as_uninit_mut().as_mut_ptr().cast()).unwrap();
        Spsc::<u64>::init_raw(ptr, core::mem::size_of::<Mem>(), 8, options)
    }
    .unwrap();
    assert_eq!(ring.asymmetric_wake(), asymmetric_wake);
    ring
}

/// Pops from the empty ring once, sleeping (through the recorder) once.
fn one_sleep(ring: Spsc<'_, u64>, waiter: &Recording) {
    let mut rx = ring.consumer(waiter).unwrap();
    rx.set_spin_limit(0);
    // The recorder times out at once: the pop ends at its own deadline,
    // after however many sleeps fit; the first one is what we look at.
    let timeout = core::time::Duration::from_millis(20);
    assert_eq!(
        rx.pop_blocking(Some(timeout)),
        Err(PopTimeoutError::Timeout)
    );
}

#[test]
fn a_symmetric_ring_never_asks_for_barriers() {
    let mut mem = Mem::new();
    let waiter = Recording::new(true, true);
    one_sleep(ring(&mut mem, false), &waiter);
    assert_eq!(*waiter.prepared.lock().unwrap(), 0);
    assert_eq!(*waiter.barriers.lock().unwrap(), 0);
    assert!(!waiter.deadlines.lock().unwrap().is_empty());
}

#[test]
fn an_asymmetric_sleeper_runs_the_barrier_and_keeps_its_deadline() {
    let mut mem = Mem::new();
    let waiter = Recording::new(true, true);
    let before = clock();
    one_sleep(ring(&mut mem, true), &waiter);
    assert_eq!(*waiter.prepared.lock().unwrap(), 1, "once, at the claim");
    let sleeps = waiter.deadlines.lock().unwrap().clone();
    assert_eq!(*waiter.barriers.lock().unwrap() as usize, sleeps.len());
    // The caller's 20 ms deadline, not a fallback slice.
    let first = sleeps[0].unwrap();
    assert!(first >= before + 19_000_000, "{first} vs {before}");
}

#[test]
fn a_sleeper_without_the_barrier_sleeps_in_short_slices() {
    let mut mem = Mem::new();
    let waiter = Recording::new(false, false);
    let before = clock();
    one_sleep(ring(&mut mem, true), &waiter);
    let sleeps = waiter.deadlines.lock().unwrap().clone();
    let first = sleeps[0].unwrap();
    assert!(
        first <= clock() + LIGHT_NOTIFY_FALLBACK_NS && first < before + 19_000_000,
        "a missed notify delays it one slice at most"
    );
}

#[test]
fn the_mode_is_fixed_when_the_handle_is_claimed() {
    let mut mem = Mem::new();
    let ring = ring(&mut mem, false);
    let waiter = Recording::new(true, true);
    let mut rx = ring.consumer(&waiter).unwrap();
    rx.set_spin_limit(0);
    // A peer sets the flag after the claim: this handle stays symmetric.
    ring.hdr()
        .control
        .0
        .region
        .flags
        .store(1, Ordering::Relaxed);
    assert!(ring.asymmetric_wake());
    let timeout = core::time::Duration::from_millis(5);
    assert_eq!(
        rx.pop_blocking(Some(timeout)),
        Err(PopTimeoutError::Timeout)
    );
    assert_eq!(*waiter.barriers.lock().unwrap(), 0);
}

#[test]
fn light_notifies_still_wake_a_sleeper_between_threads() {
    // In one process both sides are threads; the yielding waiter has no
    // barrier, so the consumer sleeps in slices and the producer (light
    // through the recorder) never fences: every value still arrives.
    let mut mem = Mem::new();
    let ring = ring(&mut mem, true);
    let light = Recording::new(true, false);
    let mut tx = ring.producer(&light).unwrap();
    let mut rx = ring.consumer(YieldWait).unwrap();
    rx.set_spin_limit(0);
    std::thread::scope(|s| {
        s.spawn(move || {
            for v in 0..2_000u64 {
                while tx.push(v).is_err() {
                    std::thread::yield_now();
                }
            }
        });
        for v in 0..2_000u64 {
            let got = rx.pop_blocking(Some(core::time::Duration::from_secs(30)));
            assert_eq!(got, Ok(v));
        }
    });
}
