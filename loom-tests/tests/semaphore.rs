//! loom models of the counting semaphore and the semaphore set
//! (core/src/semaphore/).
//!
//! Every handle has a spin limit of 0, so a blocking call that cannot
//! proceed goes straight to the event count's announce / re-check / sleep
//! path. [`LoomWait`] is a futex: a sleeper whose wake-up is lost sleeps
//! forever and loom fails the model with a deadlock. A timed wait never
//! sleeps in the model; it times out at once if its word has not moved, so
//! loom explores a timeout at every point where one could fire.
//!
//! Plain data crosses threads in `loom::cell::UnsafeCell`s, so a missing
//! Release on post or Acquire on wait fails the model as a data race.
#![cfg(loom)]

extern crate alloc;

use alloc::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use alloc::sync::Arc;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use core::time::Duration;

use annulus::semaphore::{InitOptions, SemOp, Semaphore, SemaphoreError, SemaphoreSet, SetOpError};
use annulus::spsc::RegionLayout;
use loom::cell::UnsafeCell;
use loom::thread;
use loom_tests::LoomWait;

const TIMEOUT: Duration = Duration::from_millis(1);

/// A zeroed, 128-aligned heap allocation, freed on drop.
#[derive(Debug)]
struct Buffer {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: `Buffer` owns its allocation and never touches the bytes after
// creating it; the semaphores laid into it reach them only through atomics.
unsafe impl Send for Buffer {}
// SAFETY: as above; `&Buffer` gives no access to the bytes.
unsafe impl Sync for Buffer {}

impl Buffer {
    fn zeroed(region: RegionLayout) -> Self {
        let layout = Layout::from_size_align(region.size, region.align).expect("region layout");
        // SAFETY: semaphore regions are never empty.
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

/// A handle over a `'static` region together with a share of that region,
/// so clones can move into `loom::thread::spawn`. Derefs to the handle.
struct Shared<H> {
    // Declared first, so dropped before the region (it has no `Drop` today).
    handle: H,
    _region: Arc<Buffer>,
}

impl<H: Clone> Clone for Shared<H> {
    fn clone(&self) -> Self {
        Shared {
            handle: self.handle.clone(),
            _region: Arc::clone(&self._region),
        }
    }
}

impl<H> Deref for Shared<H> {
    type Target = H;
    fn deref(&self) -> &H {
        &self.handle
    }
}

impl<H> DerefMut for Shared<H> {
    fn deref_mut(&mut self) -> &mut H {
        &mut self.handle
    }
}

type Sem = Shared<Semaphore<'static, LoomWait>>;
type Set = Shared<SemaphoreSet<'static, LoomWait>>;

/// A fresh semaphore (spin limit 0); clones share it and one futex.
fn semaphore(initial: u32, max: u32) -> Sem {
    let layout = Semaphore::layout();
    let region = Arc::new(Buffer::zeroed(layout));
    // SAFETY: the region is `layout.size` bytes, fresh, and freed only when
    // the last `Arc` goes; every handle to it lives in a `Shared` holding
    // one. Afterwards it is accessed only through the handles.
    let mut sem = unsafe {
        Semaphore::init_raw(
            region.ptr,
            layout.size,
            initial,
            max,
            InitOptions::default(),
            LoomWait::new(),
        )
    }
    .expect("init of a correctly sized region");
    sem.set_spin_limit(0);
    Shared {
        handle: sem,
        _region: region,
    }
}

/// A fresh set (spin limit 0); clones share it and one futex.
fn set(initial: &[u32], max: u32) -> Set {
    let count = u32::try_from(initial.len()).expect("few counters");
    let layout = SemaphoreSet::layout(count).expect("valid count");
    let region = Arc::new(Buffer::zeroed(layout));
    // SAFETY: as in `semaphore`.
    let mut set = unsafe {
        SemaphoreSet::init_raw(
            region.ptr,
            layout.size,
            initial,
            max,
            InitOptions::default(),
            LoomWait::new(),
        )
    }
    .expect("init of a correctly sized region");
    set.set_spin_limit(0);
    Shared {
        handle: set,
        _region: region,
    }
}

/// Plain (non-atomic) data handed from one thread to another.
struct Plain(UnsafeCell<u32>);

// SAFETY: every access goes through loom's `with` / `with_mut`, which fail the
// model on two accesses not ordered by happens-before: the race this impl
// would allow is exactly what the models check the semaphores prevent.
unsafe impl Sync for Plain {}

fn cell() -> Arc<Plain> {
    Arc::new(Plain(UnsafeCell::new(0)))
}

fn write(cell: &Plain, value: u32) {
    // SAFETY: loom checks that this write is ordered with every other access.
    cell.0.with_mut(|p| unsafe { *p = value });
}

fn read(cell: &Plain) -> u32 {
    // SAFETY: as in `write`.
    cell.0.with(|p| unsafe { *p })
}

/// A post (Release) makes the poster's plain write visible to the thread
/// whose wait (Acquire) takes the units, on the fast path and asleep. One
/// unit stays in the semaphore, so the take never reaches 0 (whose
/// notification fence could otherwise stand in for a missing Acquire).
#[test]
fn post_release_wait_acquire_passes_data() {
    loom::model(|| {
        let sem = semaphore(1, 3);
        let data = cell();
        let poster = {
            let (sem, data) = (sem.clone(), Arc::clone(&data));
            thread::spawn(move || {
                write(&data, 42);
                sem.post(2).expect("room for 2");
            })
        };
        sem.wait(2, None).expect("posted");
        assert_eq!(read(&data), 42);
        assert_eq!(sem.value(), 1);
        poster.join().expect("poster");
    });
}

/// The same through `try_wait` in a polling loop (no event count).
#[test]
fn post_release_try_wait_acquire_passes_data() {
    loom::model(|| {
        let sem = semaphore(1, 3);
        let data = cell();
        let poster = {
            let (sem, data) = (sem.clone(), Arc::clone(&data));
            thread::spawn(move || {
                write(&data, 7);
                sem.post(2).expect("room for 2");
            })
        };
        loop {
            match sem.try_wait(2) {
                Ok(()) => break,
                Err(SemaphoreError::WouldBlock) => thread::yield_now(),
                Err(e) => panic!("try_wait: {e:?}"),
            }
        }
        assert_eq!(read(&data), 7);
        poster.join().expect("poster");
    });
}

/// Two takers of 2 units race a post of 1 on a semaphore holding 2 (max 3):
/// at most one take succeeds, each takes 2 or nothing, and no unit is lost
/// or made up.
#[test]
fn n_unit_takes_are_all_or_nothing() {
    loom::model(|| {
        let sem = semaphore(2, 3);
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                thread::spawn(move || match sem.try_wait(2) {
                    Ok(()) => 1u32,
                    Err(SemaphoreError::WouldBlock) => 0,
                    Err(e) => panic!("try_wait: {e:?}"),
                })
            })
            .collect();
        sem.post(1).expect("room for 1");
        let taken: u32 = takers.into_iter().map(|t| t.join().expect("taker")).sum();
        assert!(taken <= 1, "4 units taken from 3");
        assert_eq!(sem.value(), 3 - 2 * taken);
    });
}

/// A waiter for 2 units sleeps (no timeout) while they arrive one post at a
/// time: no interleaving loses the wake-up of the second post, and the
/// waiter never takes a single unit alone.
#[test]
fn blocking_wait_is_woken_by_posts() {
    loom::model(|| {
        let sem = semaphore(0, 2);
        let waiter = {
            let sem = sem.clone();
            thread::spawn(move || sem.wait(2, None))
        };
        sem.post(1).expect("room");
        assert!(sem.value() >= 1, "a single unit was taken");
        sem.post(1).expect("room");
        assert_eq!(waiter.join().expect("waiter"), Ok(()));
        assert_eq!(sem.value(), 0);
    });
}

/// Two sleepers, one post of 2: the post wakes both (each re-checks its own
/// count), so neither sleeps forever.
#[test]
fn one_post_wakes_every_waiter_it_can_satisfy() {
    loom::model(|| {
        let sem = semaphore(0, 2);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                thread::spawn(move || sem.wait(1, None))
            })
            .collect();
        sem.post(2).expect("room");
        for w in waiters {
            assert_eq!(w.join().expect("waiter"), Ok(()));
        }
        assert_eq!(sem.value(), 0);
    });
}

/// A timed wait either takes the unit or times out leaving it there: a
/// timeout never loses a unit.
#[test]
fn timed_wait_never_loses_a_unit() {
    loom::model(|| {
        let sem = semaphore(0, 1);
        let poster = {
            let sem = sem.clone();
            thread::spawn(move || sem.post(1).expect("room"))
        };
        let result = sem.wait(1, Some(TIMEOUT));
        poster.join().expect("poster");
        match result {
            Ok(()) => assert_eq!(sem.value(), 0),
            Err(SemaphoreError::Timeout) => assert_eq!(sem.value(), 1),
            Err(e) => panic!("wait: {e:?}"),
        }
    });
}

/// `wait_zero` sleeps (no timeout) until a take brings the value to 0, and
/// then sees what the taker wrote before its take (take Release, zero
/// Acquire).
#[test]
fn wait_zero_is_woken_by_the_take_that_empties() {
    loom::model(|| {
        let sem = semaphore(1, 1);
        let data = cell();
        let zero = {
            let (sem, data) = (sem.clone(), Arc::clone(&data));
            thread::spawn(move || {
                sem.wait_zero(None).expect("emptied");
                read(&data)
            })
        };
        write(&data, 9);
        sem.try_wait(1).expect("one unit");
        assert_eq!(zero.join().expect("zero waiter"), 9);
    });
}

/// A transfer between two counters (one call: take from 0, post to 1) is
/// atomic: a concurrent caller never sees both counters at 1 or both at 0,
/// neither through a two-counter wait nor through a snapshot.
#[test]
fn set_transfer_is_atomic() {
    loom::model(|| {
        let set = set(&[1, 0], 1);
        let mover = {
            let set = set.clone();
            thread::spawn(move || set.op(&[SemOp::wait(0, 1), SemOp::post(1, 1)], None))
        };
        match set.try_op(&[SemOp::wait(0, 1), SemOp::wait(1, 1)]) {
            Err(SetOpError::WouldBlock | SetOpError::Contended) => {}
            other => panic!("took a unit from each of two counters holding 1 in all: {other:?}"),
        }
        let mut out = [0u32; 2];
        match set.try_snapshot(&mut out) {
            Ok(2) => assert_eq!(out[0] + out[1], 1, "partial transfer seen: {out:?}"),
            Err(SetOpError::Contended) => {}
            other => panic!("snapshot: {other:?}"),
        }
        assert_eq!(mover.join().expect("mover"), Ok(()));
        assert_eq!((set.value(0), set.value(1)), (Some(0), Some(1)));
    });
}

/// A caller waiting (no timeout) for one unit of each of two counters sleeps
/// while they are posted one call at a time, with the lock contended: it is
/// woken, takes both together, and passes on the poster's plain write.
#[test]
fn set_blocking_op_is_woken_and_takes_both() {
    loom::model(|| {
        let set = set(&[0, 0], 1);
        let data = cell();
        let taker = {
            let (set, data) = (set.clone(), Arc::clone(&data));
            thread::spawn(move || {
                set.op(&[SemOp::wait(0, 1), SemOp::wait(1, 1)], None)
                    .expect("both posted");
                read(&data)
            })
        };
        write(&data, 5);
        set.op(&[SemOp::post(0, 1)], None).expect("room");
        set.op(&[SemOp::post(1, 1)], None).expect("room");
        assert_eq!(taker.join().expect("taker"), 5);
        assert_eq!((set.value(0), set.value(1)), (Some(0), Some(0)));
    });
}

/// The System V lock idiom on one counter (wait for zero, then post 1, in one
/// call; unlock by taking the unit back), used by two threads: their
/// critical sections never overlap, and each sees the other's write.
#[test]
fn set_wait_zero_then_post_is_a_lock() {
    loom::model(|| {
        let set = set(&[0], 1);
        let data = cell();
        let lock = [SemOp::wait_zero(0), SemOp::post(0, 1)];
        let unlock = [SemOp::wait(0, 1)];
        let other = {
            let (set, data) = (set.clone(), Arc::clone(&data));
            thread::spawn(move || {
                set.op(&lock, None).expect("lock");
                let seen = read(&data);
                write(&data, seen + 1);
                set.op(&unlock, None).expect("unlock");
            })
        };
        set.op(&lock, None).expect("lock");
        let seen = read(&data);
        write(&data, seen + 1);
        set.op(&unlock, None).expect("unlock");
        other.join().expect("other");
        assert_eq!(read(&data), 2);
        assert_eq!(set.value(0), Some(0));
    });
}

/// Two threads move a unit each in opposite directions between two counters
/// with blocking calls while a third looks: the total never changes, and
/// neither mover sleeps forever.
#[test]
fn set_opposite_transfers_keep_the_total() {
    loom::model(|| {
        let set = set(&[1, 1], 2);
        let movers: Vec<_> = [(0, 1), (1, 0)]
            .into_iter()
            .map(|(from, to)| {
                let set = set.clone();
                thread::spawn(move || set.op(&[SemOp::wait(from, 1), SemOp::post(to, 1)], None))
            })
            .collect();
        let mut out = [0u32; 2];
        match set.try_snapshot(&mut out) {
            Ok(2) => assert_eq!(out[0] + out[1], 2, "partial transfer seen: {out:?}"),
            Err(SetOpError::Contended) => {}
            other => panic!("snapshot: {other:?}"),
        }
        for m in movers {
            assert_eq!(m.join().expect("mover"), Ok(()));
        }
        assert_eq!((set.value(0), set.value(1)), (Some(1), Some(1)));
    });
}
