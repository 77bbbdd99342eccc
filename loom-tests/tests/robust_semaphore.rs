//! loom models of the robust semaphore set
//! (core/src/semaphore/robust/): a holder killed at each step of an
//! operation, repaired by two survivors at once, gives its units back
//! exactly once; a waiter blocked on a dead holder's units gets them from a
//! concurrent repair without a lost wake-up.
//!
//! A killed holder is [`Holder::die_during_op`]: it stops at a
//! [`CrashPoint`] without unlocking, as a process killed there would. Its
//! death is a flag it raises afterwards (Release); the liveness predicate
//! reads it (Acquire), which is the contract of `is_alive`: "dead" happens
//! after everything the dead holder did. Survivors' handles are leaked at
//! the end of their threads (their `Drop` would give back their own units,
//! which the assertions count separately) to keep the models small.
#![cfg(loom)]

extern crate alloc;

use alloc::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use alloc::sync::Arc;
use core::ptr::NonNull;

use annulus::semaphore::{
    CrashPoint, Holder, InitOptions, ReleaseDeadError, RobustSemaphoreSet, SemOp, UndoReport,
};
use annulus::spsc::RegionLayout;
use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use loom_tests::LoomWait;

/// The pid of the holder that dies.
const DEAD: u32 = 1;

/// A zeroed, 128-aligned heap allocation, freed on drop.
#[derive(Debug)]
struct Buffer {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: `Buffer` owns its allocation and never touches the bytes after
// creating it; the set laid into it reaches them only through atomics.
unsafe impl Send for Buffer {}
// SAFETY: as above; `&Buffer` gives no access to the bytes.
unsafe impl Sync for Buffer {}

impl Buffer {
    fn zeroed(region: RegionLayout) -> Self {
        let layout = Layout::from_size_align(region.size, region.align).expect("region layout");
        // SAFETY: robust set regions are never empty.
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        Buffer { ptr, layout }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout, freed only here.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// A robust set of one counter in a heap region.
#[derive(Clone)]
struct Set {
    view: RobustSemaphoreSet<'static>,
    region: Arc<Buffer>,
}

/// A holder with a share of its region, movable into a loom thread.
struct Held {
    // Declared first: dropped (or leaked) before the region share.
    holder: Holder<'static, LoomWait>,
    _region: Arc<Buffer>,
}

impl Set {
    fn new(initial: u32, max: u32, holders: u32) -> Self {
        let layout = RobustSemaphoreSet::layout(1, holders).expect("valid geometry");
        let region = Arc::new(Buffer::zeroed(layout));
        // SAFETY: the region is `layout.size` bytes, fresh, and freed only
        // when the last `Arc` goes; every view and holder of it lives beside
        // a share of that `Arc`.
        let view = unsafe {
            RobustSemaphoreSet::init_raw(
                region.ptr,
                layout.size,
                &[initial],
                max,
                holders,
                InitOptions::default(),
            )
        }
        .expect("init of a correctly sized region");
        Set { view, region }
    }

    fn holder(&self, pid: u32, wait: &LoomWait) -> Held {
        let mut holder = self.view.holder(pid, wait.clone()).expect("a free record");
        holder.set_spin_limit(0);
        Held {
            holder,
            _region: Arc::clone(&self.region),
        }
    }
}

/// `is_alive` for the survivors: only the dead holder, once its death is
/// visible, is dead.
fn alive(dead: &AtomicBool) -> impl FnMut(u32) -> bool + '_ {
    // SYNC POINT (model) death: Acquire pairs with the Release that
    // announces the death, so the dead holder's writes are visible.
    move |pid| pid != DEAD || !dead.load(Ordering::Acquire)
}

/// A repair that may find the lock busy (the holder not yet seen dead).
fn repair(held: &Held, dead: &AtomicBool) -> UndoReport {
    match held.holder.release_dead(alive(dead)) {
        Ok(report) => report,
        Err(ReleaseDeadError::Busy { .. }) => UndoReport::default(),
        Err(e) => panic!("repair: {e:?}"),
    }
}

/// One model per crash point: the dying holder takes 1 of 2 units (undo)
/// and is killed at `at` while two survivors repair. After a final repair,
/// both units are there, every record is free, and the unit came back once
/// (zero times if the crash came before the operation took effect).
fn killed_holder_repaired_twice(at: CrashPoint) {
    loom::model(move || {
        let set = Set::new(2, 2, 3);
        let wait = LoomWait::new();
        let dead = Arc::new(AtomicBool::new(false));
        let dying = set.holder(DEAD, &wait);
        let a = set.holder(2, &wait);
        let b = set.holder(3, &wait);
        let killed = {
            let dead = Arc::clone(&dead);
            thread::spawn(move || {
                let Held { holder, _region } = dying;
                assert!(holder.die_during_op(&[SemOp::wait(0, 1)], true, at));
                // SYNC POINT (model) death: Release, after every write.
                dead.store(true, Ordering::Release);
            })
        };
        let other = {
            let dead = Arc::clone(&dead);
            thread::spawn(move || {
                let report = repair(&a, &dead);
                core::mem::forget(a);
                report
            })
        };
        let mine = repair(&b, &dead);
        killed.join().expect("killed");
        let theirs = other.join().expect("other");
        let last = repair(&b, &dead);
        let returned = mine.returned + theirs.returned + last.returned;
        let released = mine.released + theirs.released + last.released;
        assert_eq!(released, 1, "{at:?}: the dead record is freed once");
        let took_effect = !matches!(at, CrashPoint::AfterLock | CrashPoint::BeforeCommit);
        assert_eq!(returned, u32::from(took_effect), "{at:?}");
        assert_eq!(set.view.value(0), Some(2), "{at:?}");
        assert_eq!(set.view.lock_holder(), None, "{at:?}");
        core::mem::forget(b);
    });
}

#[test]
fn killed_after_lock() {
    killed_holder_repaired_twice(CrashPoint::AfterLock);
}

#[test]
fn killed_before_commit() {
    killed_holder_repaired_twice(CrashPoint::BeforeCommit);
}

#[test]
fn killed_after_commit() {
    killed_holder_repaired_twice(CrashPoint::AfterCommit);
}

#[test]
fn killed_mid_apply() {
    killed_holder_repaired_twice(CrashPoint::MidApply);
}

#[test]
fn killed_after_apply() {
    killed_holder_repaired_twice(CrashPoint::AfterApply);
}

#[test]
fn killed_before_unlock() {
    killed_holder_repaired_twice(CrashPoint::BeforeUnlock);
}

/// A holder died holding the only unit (and, at `BeforeUnlock`, the lock).
/// A waiter blocks for the unit with no timeout; a survivor repairs. The
/// waiter must get the unit: the repair's notify (or its unlock's wake)
/// cannot be lost.
#[test]
fn a_blocked_waiter_gets_a_dead_holders_unit() {
    loom::model(|| {
        let set = Set::new(1, 1, 3);
        let wait = LoomWait::new();
        let dead = Arc::new(AtomicBool::new(false));
        let dying = set.holder(DEAD, &wait);
        let Held { holder, _region } = dying;
        assert!(holder.die_during_op(&[SemOp::wait(0, 1)], true, CrashPoint::BeforeUnlock));
        dead.store(true, Ordering::Release);
        let waiter = set.holder(2, &wait);
        let repairer = set.holder(3, &wait);
        let blocked = thread::spawn(move || {
            waiter.holder.wait(0, 1, None).expect("the unit comes back");
            let adjust = waiter.holder.adjustment(0);
            core::mem::forget(waiter);
            adjust
        });
        let report = repair(&repairer, &dead);
        assert_eq!((report.released, report.returned), (1, 1));
        assert_eq!(blocked.join().expect("waiter"), Some(1));
        assert_eq!(set.view.value(0), Some(0));
        core::mem::forget(repairer);
    });
}
