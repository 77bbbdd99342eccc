//! Behaviour of [`Semaphore`] and [`SemaphoreSet`] through their public API,
//! in one process, plus hostile memory (random words scribbled over live
//! regions, between calls and during them). Interleavings are modelled in
//! loom-tests/tests/semaphore.rs.
//!
//! Blocking calls here carry a long timeout instead of `None` where a bug
//! could make them hang, so a lost wake-up fails the test instead of hanging
//! it; nothing asserts a duration.

extern crate std;

use std::boxed::Box;
use std::sync::Mutex;
use std::vec::Vec;

use super::*;
use crate::layout::{AttachError, Kind, LayoutError, MAX_REGION_SIZE};
use crate::region::Region;
use crate::spsc::{InitOptions as SpscOptions, Spsc};
use crate::sync::UnsafeCell;
use crate::test_support::{W, waiter};
use crate::wait::WaitResult;

/// Long enough never to expire in a passing run; a hang becomes a failure.
const LONG: Option<Duration> = Some(Duration::from_secs(60));
const SHORT: Option<Duration> = Some(Duration::from_millis(2));

/// Room for either kind (the set's 512 bytes is the larger).
type Bytes = Region<{ SemaphoreSet::region_size(MAX_COUNTERS) }>;

fn region() -> Box<Bytes> {
    Box::new(Region::new())
}

/// The region's pointer and length, for the raw constructors.
fn raw<const N: usize>(r: &mut Region<N>) -> (NonNull<u8>, usize) {
    let bytes = r.as_uninit_mut();
    let len = bytes.len();
    (NonNull::from(bytes).cast::<u8>(), len)
}

/// The first `len` bytes at `ptr` as 32-bit words, to play a peer process
/// that writes whatever it likes. Each call makes a fresh view, used only
/// until the next call into the library.
///
/// # Safety
///
/// `ptr..ptr + len` must be a live region laid out by `init_raw` (every word
/// written, 4-aligned).
unsafe fn words<'r>(ptr: NonNull<u8>, len: usize) -> &'r [AtomicU32] {
    // SAFETY: the caller's contract; atomics are valid for any bytes, and
    // the library itself reaches the region only through atomics.
    unsafe { core::slice::from_raw_parts(ptr.cast::<AtomicU32>().as_ptr(), len / 4) }
}

/// The region pointer, handed to the thread that plays the hostile peer.
#[derive(Clone, Copy)]
struct Shared(NonNull<u8>);
// SAFETY: the pointer is only used to make atomic views of the region
// (`words`), which any thread may use.
unsafe impl Send for Shared {}
impl Shared {
    /// A method, so a closure captures the whole `Shared` (edition 2024
    /// closures would capture only the `NonNull` field).
    fn ptr(self) -> NonNull<u8> {
        self.0
    }
}

/// Word index of a byte offset.
const fn word(offset: usize) -> usize {
    offset / 4
}

// Byte offsets of the fields these tests poke at (pinned by the const
// assertions in mod.rs and set.rs).
const MAX_AT: usize = 64;
const VALUE_AT: usize = 128;
const POSTED_SLEEPERS_AT: usize = 128 + 4 + 4;
const ZEROED_SLEEPERS_AT: usize = 128 + 12 + 4;
const LOCK_AT: usize = 128;
const HOLDER_AT: usize = 132;
const CHANGED_SLEEPERS_AT: usize = 136 + 4;
const COUNTERS_AT: usize = 144;
const CAPACITY_AT: usize = 24;
const KIND_AT: usize = 8;

/// A waiter that counts the calls into it.
struct Counting {
    inner: W,
    waits: Mutex<u32>,
    wakes: Mutex<u32>,
}

impl Counting {
    fn new() -> Self {
        Counting {
            inner: waiter(),
            waits: Mutex::new(0),
            wakes: Mutex::new(0),
        }
    }
    fn wakes(&self) -> u32 {
        *self.wakes.lock().unwrap()
    }
    fn waits(&self) -> u32 {
        *self.waits.lock().unwrap()
    }
}

impl Wait for Counting {
    fn now(&self) -> u64 {
        self.inner.now()
    }
    fn wait(&self, word: &AtomicU32, expected: u32, deadline: Option<u64>) -> WaitResult {
        *self.waits.lock().unwrap() += 1;
        self.inner.wait(word, expected, deadline)
    }
    fn wake(&self, word: &AtomicU32, count: u32) {
        *self.wakes.lock().unwrap() += 1;
        self.inner.wake(word, count);
    }
}

/// Plain (non-atomic) memory shared between threads, to let miri see a data
/// race if a post/wait pair did not order it.
struct Plain(UnsafeCell<u64>);
// SAFETY: the tests only touch it in turns ordered by a semaphore; a wrong
// ordering is exactly the data race miri should report.
unsafe impl Sync for Plain {}
impl Plain {
    fn set(&self, v: u64) {
        // SAFETY: see the `Sync` impl.
        unsafe { *self.0.get() = v }
    }
    fn get(&self) -> u64 {
        // SAFETY: see the `Sync` impl.
        unsafe { *self.0.get() }
    }
}

/// splitmix64: a tiny deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    /// A word a hostile peer might write: often a boundary value.
    fn nasty(&mut self, max: u32) -> u32 {
        match self.below(8) {
            0 => 0,
            1 => 1,
            2 => max,
            3 => max.wrapping_add(1),
            4 => u32::MAX,
            5 => 2,
            _ => self.u32(),
        }
    }
}

// ---------------------------------------------------------------- Semaphore

#[test]
fn semaphore_layout_is_pinned() {
    let layout = Semaphore::layout();
    assert_eq!(layout.size, 256);
    assert_eq!(layout.body_offset, VALUE_AT);
    assert_eq!(layout.align, 128);
    assert_eq!(Semaphore::region_size(), 256);
    assert!(Semaphore::region_size() <= MAX_REGION_SIZE);
}

#[test]
fn semaphore_init_checks_memory_max_and_value() {
    let mut r = region();
    let bytes = r.as_uninit_mut();
    assert_eq!(
        Semaphore::init(&mut bytes[4..], 0, 1, waiter()).unwrap_err(),
        InitError::Layout(LayoutError::Misaligned { offset: 4 })
    );
    assert_eq!(
        Semaphore::init(&mut bytes[..255], 0, 1, waiter()).unwrap_err(),
        InitError::Layout(LayoutError::RegionTooSmall {
            needed: 256,
            len: 255
        })
    );
    assert_eq!(
        Semaphore::init(&mut bytes[..], 0, 0, waiter()).unwrap_err(),
        InitError::ZeroMax
    );
    assert_eq!(
        Semaphore::init(&mut bytes[..], 6, 5, waiter()).unwrap_err(),
        InitError::ValueAboveMax {
            index: 0,
            value: 6,
            max: 5
        }
    );
    let sem = Semaphore::init(&mut bytes[..256], 5, 5, waiter()).unwrap();
    assert_eq!((sem.value(), sem.max()), (5, 5));
    assert_eq!(sem.spin_limit(), DEFAULT_SPIN_LIMIT);
    let big = Semaphore::init(r.as_uninit_mut(), u32::MAX, u32::MAX, waiter()).unwrap();
    assert_eq!(big.value(), u32::MAX);
    assert_eq!(big.post(1), Err(SemaphoreError::Overflow));
    big.try_wait(u32::MAX).unwrap();
    assert_eq!(big.value(), 0);
}

#[test]
fn post_and_take_n_units_all_or_nothing() {
    let mut r = region();
    let sem = Semaphore::init(r.as_uninit_mut(), 0, 10, waiter()).unwrap();
    assert_eq!(sem.try_wait(1), Err(SemaphoreError::WouldBlock));
    sem.post(3).unwrap();
    assert_eq!(sem.try_wait(4), Err(SemaphoreError::WouldBlock));
    assert_eq!(sem.value(), 3, "a failed take of 4 takes nothing");
    sem.try_wait(2).unwrap();
    assert_eq!(sem.value(), 1);
    sem.post(9).unwrap();
    assert_eq!(sem.value(), 10);
    sem.try_wait(10).unwrap();
    assert_eq!(sem.value(), 0);
    // n == 0: at once, whatever the value.
    sem.try_wait(0).unwrap();
    sem.wait(0, None).unwrap();
    sem.post(0).unwrap();
    assert_eq!(sem.value(), 0);
    // The blocking call takes n at once too.
    sem.post(7).unwrap();
    sem.wait(7, SHORT).unwrap();
    assert_eq!(sem.value(), 0);
}

#[test]
fn overflow_changes_nothing() {
    let mut r = region();
    let sem = Semaphore::init(r.as_uninit_mut(), 4, 5, waiter()).unwrap();
    assert_eq!(sem.post(2), Err(SemaphoreError::Overflow));
    assert_eq!(sem.value(), 4);
    assert_eq!(sem.post(u32::MAX), Err(SemaphoreError::Overflow));
    assert_eq!(sem.value(), 4);
    sem.post(1).unwrap();
    assert_eq!(sem.post(1), Err(SemaphoreError::Overflow));
    assert_eq!(sem.value(), 5);
}

#[test]
fn counts_above_max_are_invalid_at_once() {
    let mut r = region();
    let sem = Semaphore::init(r.as_uninit_mut(), 3, 3, waiter()).unwrap();
    assert_eq!(sem.try_wait(4), Err(SemaphoreError::InvalidCount));
    // No timeout, yet it returns: it could never succeed.
    assert_eq!(sem.wait(4, None), Err(SemaphoreError::InvalidCount));
    assert_eq!(sem.wait(u32::MAX, None), Err(SemaphoreError::InvalidCount));
    assert_eq!(sem.value(), 3);
}

#[test]
fn binary_semaphore_is_max_one() {
    let mut r = region();
    let sem = Semaphore::init(r.as_uninit_mut(), 1, 1, waiter()).unwrap();
    assert_eq!(sem.max(), 1);
    assert_eq!(sem.post(1), Err(SemaphoreError::Overflow), "no double post");
    sem.wait(1, SHORT).unwrap();
    assert_eq!(sem.try_wait(1), Err(SemaphoreError::WouldBlock));
    assert_eq!(sem.wait(1, SHORT), Err(SemaphoreError::Timeout));
    assert_eq!(sem.try_wait(2), Err(SemaphoreError::InvalidCount));
    sem.post(1).unwrap();
    // As a mutex between threads: the critical section never overlaps.
    let inside = Mutex::new(0u32);
    let rounds = if cfg!(miri) { 20 } else { 2_000 };
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..rounds {
                    sem.wait(1, LONG).unwrap();
                    {
                        let mut n = inside.lock().unwrap();
                        *n += 1;
                        assert_eq!(*n, 1, "two holders of a binary semaphore");
                    }
                    *inside.lock().unwrap() -= 1;
                    sem.post(1).unwrap();
                }
            });
        }
    });
    assert_eq!(sem.value(), 1);
}

#[test]
fn wait_zero_waits_for_the_value_to_reach_zero() {
    let mut r = region();
    let sem = Semaphore::init(r.as_uninit_mut(), 0, 8, waiter()).unwrap();
    sem.try_wait_zero().unwrap();
    sem.wait_zero(None).unwrap();
    sem.post(3).unwrap();
    assert_eq!(sem.try_wait_zero(), Err(SemaphoreError::WouldBlock));
    assert_eq!(sem.wait_zero(SHORT), Err(SemaphoreError::Timeout));
    assert_eq!(
        sem.wait_zero(Some(Duration::ZERO)),
        Err(SemaphoreError::Timeout)
    );
    // "Everyone is done": three workers each take a unit after writing
    // their result; wait_zero sees all three results.
    let results: [Plain; 3] = core::array::from_fn(|_| Plain(UnsafeCell::new(0)));
    std::thread::scope(|s| {
        for (i, slot) in results.iter().enumerate() {
            let sem = &sem;
            s.spawn(move || {
                slot.set(i as u64 + 100);
                sem.try_wait(1).unwrap();
            });
        }
        sem.wait_zero(LONG).unwrap();
        let got: Vec<u64> = results.iter().map(Plain::get).collect();
        assert_eq!(got, [100, 101, 102]);
    });
}

#[test]
fn blocking_wait_is_woken_by_posts_from_another_thread() {
    let mut r = region();
    let mut sem = Semaphore::init(r.as_uninit_mut(), 0, 4, waiter()).unwrap();
    sem.set_spin_limit(0);
    assert_eq!(sem.spin_limit(), 0);
    let sem = &sem;
    std::thread::scope(|s| {
        let taker = s.spawn(move || sem.wait(3, LONG));
        // Units arrive one by one; the waiter takes all three at once.
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(1));
            sem.post(1).unwrap();
        }
        assert_eq!(taker.join().unwrap(), Ok(()));
    });
    assert_eq!(sem.value(), 0);
    // And with no timeout at all.
    std::thread::scope(|s| {
        let taker = s.spawn(move || sem.wait(2, None));
        sem.post(2).unwrap();
        assert_eq!(taker.join().unwrap(), Ok(()));
    });
}

#[test]
fn timeouts_take_nothing() {
    let mut r = region();
    let mut sem = Semaphore::init(r.as_uninit_mut(), 2, 4, waiter()).unwrap();
    for spin in [0, 3, DEFAULT_SPIN_LIMIT] {
        sem.set_spin_limit(spin);
        assert_eq!(sem.wait(3, SHORT), Err(SemaphoreError::Timeout));
        assert_eq!(
            sem.wait(3, Some(Duration::ZERO)),
            Err(SemaphoreError::Timeout)
        );
        assert_eq!(sem.value(), 2);
    }
    // A deadline past the end of the clock saturates instead of overflowing.
    assert_eq!(sem.wait(2, Some(Duration::MAX)), Ok(()));
}

#[test]
fn post_release_wait_acquire_carries_plain_data() {
    // Ping-pong over two semaphores, writing plain memory on both sides:
    // with a wrong ordering miri reports a data race here. Each semaphore
    // keeps one spare unit and the takes are of 2, so a take never leaves 0:
    // the zero notification's fence would otherwise hide a missing Acquire.
    let mut ra = region();
    let mut rb = region();
    let ping = Semaphore::init(ra.as_uninit_mut(), 1, 3, waiter()).unwrap();
    let pong = Semaphore::init(rb.as_uninit_mut(), 1, 3, waiter()).unwrap();
    let data = Plain(UnsafeCell::new(0));
    let rounds: u64 = if cfg!(miri) { 30 } else { 10_000 };
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..rounds {
                ping.wait(2, LONG).unwrap();
                assert_eq!(data.get(), 2 * i + 1);
                data.set(2 * i + 2);
                pong.post(2).unwrap();
            }
        });
        for i in 0..rounds {
            data.set(2 * i + 1);
            ping.post(2).unwrap();
            // Alternate the non-blocking and blocking takes.
            if i % 2 == 0 {
                pong.wait(2, LONG).unwrap();
            } else {
                while pong.try_wait(2).is_err() {
                    std::thread::yield_now();
                }
            }
            assert_eq!(data.get(), 2 * i + 2);
        }
    });
    assert_eq!((ping.value(), pong.value()), (1, 1));
}

#[test]
fn many_threads_conserve_units() {
    let mut r = region();
    let sem = Semaphore::init(r.as_uninit_mut(), 5, 1000, waiter()).unwrap();
    let rounds = if cfg!(miri) { 20 } else { 5_000 };
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let sem = &sem;
            s.spawn(move || {
                let n = t % 3 + 1;
                for _ in 0..rounds {
                    // Take n (waiting if needed), then give them back.
                    match t % 2 {
                        0 => sem.wait(n, LONG).unwrap(),
                        _ => loop {
                            match sem.try_wait(n) {
                                Ok(()) => break,
                                Err(SemaphoreError::WouldBlock | SemaphoreError::Contended) => {
                                    std::thread::yield_now()
                                }
                                Err(e) => panic!("{e}"),
                            }
                        },
                    }
                    loop {
                        match sem.post(n) {
                            Ok(()) => break,
                            Err(SemaphoreError::Contended) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            });
        }
    });
    assert_eq!(sem.value(), 5);
}

#[test]
fn no_call_into_the_waiter_when_nobody_sleeps() {
    let mut r = region();
    let sem = Semaphore::init(r.as_uninit_mut(), 0, 8, Counting::new()).unwrap();
    for _ in 0..10 {
        sem.post(2).unwrap();
        sem.try_wait(1).unwrap();
        sem.wait(1, None).unwrap();
        sem.wait_zero(None).unwrap();
    }
    assert_eq!(sem.waiter().wakes(), 0);
    assert_eq!(sem.waiter().waits(), 0);
}

#[test]
fn a_post_wakes_a_sleeper_once() {
    let mut r = region();
    let (ptr, len) = raw(&mut r);
    // SAFETY: the boxed region, used only through the library and `words`.
    let mut sem =
        unsafe { Semaphore::init_raw(ptr, len, 0, 4, InitOptions::default(), Counting::new()) }
            .unwrap();
    sem.set_spin_limit(0);
    let sem = &sem;
    std::thread::scope(|s| {
        let taker = s.spawn(move || sem.wait(1, LONG));
        // SAFETY: laid out by `init_raw` above.
        let w = unsafe { words(ptr, Semaphore::region_size()) };
        // Relaxed: only waits for the sleeper to announce itself.
        while w[word(POSTED_SLEEPERS_AT)].load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        sem.post(1).unwrap();
        assert_eq!(taker.join().unwrap(), Ok(()));
    });
    assert_eq!(sem.waiter().wakes(), 1);
    // A take that leaves zero notifies wait_zero's sleepers only if any.
    sem.post(1).unwrap();
    sem.try_wait(1).unwrap();
    assert_eq!(sem.waiter().wakes(), 1);
    sem.post(2).unwrap();
    std::thread::scope(|s| {
        let zero = s.spawn(move || sem.wait_zero(LONG));
        // SAFETY: laid out by `init_raw` above.
        let w = unsafe { words(ptr, Semaphore::region_size()) };
        // Relaxed: only waits for the sleeper to announce itself.
        while w[word(ZEROED_SLEEPERS_AT)].load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        sem.try_wait(1).unwrap();
        assert_eq!(sem.waiter().wakes(), 1, "not zero yet: no wake");
        sem.try_wait(1).unwrap();
        assert_eq!(zero.join().unwrap(), Ok(()));
    });
    assert_eq!(sem.waiter().wakes(), 2);
}

#[test]
fn attach_sees_what_init_wrote() {
    let mut r = region();
    let (ptr, len) = raw(&mut r);
    let options = InitOptions { creator_pid: 77 };
    // SAFETY: the boxed region, used only through the library here.
    let sem = unsafe { Semaphore::init_raw(ptr, len, 2, 9, options, waiter()) }.unwrap();
    // SAFETY: as above; initialised by `init_raw`.
    let other = unsafe { Semaphore::attach_raw(ptr, len, waiter()) }.unwrap();
    assert_eq!((other.value(), other.max()), (2, 9));
    other.post(3).unwrap();
    assert_eq!(sem.value(), 5);
    sem.try_wait(5).unwrap();
    assert_eq!(other.try_wait_zero(), Ok(()));
    // SAFETY: as above.
    let w = unsafe { words(ptr, Semaphore::region_size()) };
    assert_eq!(w[word(44)].load(Ordering::Relaxed), 77, "creator pid");
    // SAFETY: as above.
    let short = unsafe { Semaphore::attach_raw(ptr, 255, waiter()) };
    assert_eq!(
        short.unwrap_err(),
        AttachError::RegionTooSmall {
            needed: 256,
            len: 255
        }
    );
    // SAFETY: as above.
    let misaligned = unsafe { Semaphore::attach_raw(ptr.add(4), len - 4, waiter()) };
    assert_eq!(
        misaligned.unwrap_err(),
        AttachError::Misaligned { offset: 4 }
    );
}

#[test]
fn attach_validates_what_it_trusts_later() {
    let mut r = region();
    let (ptr, len) = raw(&mut r);
    let attach = || {
        // SAFETY: the boxed region, initialised below before each call.
        unsafe { Semaphore::attach_raw(ptr, len, waiter()) }.map(|s| s.max())
    };
    // SAFETY: as above; zeroed bytes are not an annulus region yet.
    unsafe { ptr.write_bytes(0, len) };
    assert_eq!(attach(), Err(AttachError::NotReady));
    // SAFETY: the boxed region, used only through the library and `words`.
    unsafe { Semaphore::init_raw(ptr, len, 1, 3, InitOptions::default(), waiter()) }.unwrap();
    // SAFETY: laid out by `init_raw`.
    let w = unsafe { words(ptr, Semaphore::region_size()) };
    assert_eq!(attach(), Ok(3));
    w[word(VALUE_AT)].store(4, Ordering::Relaxed);
    assert_eq!(attach(), Err(AttachError::Corrupted), "value above max");
    w[word(VALUE_AT)].store(0, Ordering::Relaxed);
    w[word(MAX_AT)].store(0, Ordering::Relaxed);
    assert_eq!(attach(), Err(AttachError::Corrupted), "max of zero");
    w[word(MAX_AT)].store(3, Ordering::Relaxed);
    w[word(CAPACITY_AT)].store(2, Ordering::Relaxed);
    assert_eq!(attach(), Err(AttachError::BadCapacity { found: 2 }));
    w[word(CAPACITY_AT)].store(1, Ordering::Relaxed);
    w[word(16)].store(0, Ordering::Relaxed);
    assert!(matches!(attach(), Err(AttachError::BadGeometry { .. })));
}

#[test]
fn attach_refuses_other_kinds() {
    // A semaphore region is not a ring, a set, nor the other way round.
    let mut r = Box::new(Region::<1024>::new());
    let (ptr, len) = raw(&mut r);
    // SAFETY: the boxed region, used only through the library here.
    unsafe { Semaphore::init_raw(ptr, len, 0, 1, InitOptions::default(), waiter()) }.unwrap();
    // SAFETY: as above; initialised by `init_raw`.
    let as_ring = unsafe { Spsc::<u32>::attach_raw(ptr, len, Schema::of::<u32>()) };
    assert_eq!(
        as_ring.unwrap_err(),
        AttachError::KindMismatch {
            expected: Kind::Spsc,
            found: Kind::Semaphore as u32
        }
    );
    // SAFETY: as above.
    let as_set = unsafe { SemaphoreSet::attach_raw(ptr, len, waiter()) };
    assert_eq!(
        as_set.unwrap_err(),
        AttachError::KindMismatch {
            expected: Kind::SemaphoreSet,
            found: Kind::Semaphore as u32
        }
    );

    // SAFETY: as above, re-initialised as a ring.
    unsafe { Spsc::<u32>::init_raw(ptr, len, 4, SpscOptions::default()) }.unwrap();
    // SAFETY: as above.
    let as_sem = unsafe { Semaphore::attach_raw(ptr, len, waiter()) };
    assert_eq!(
        as_sem.unwrap_err(),
        AttachError::KindMismatch {
            expected: Kind::Semaphore,
            found: Kind::Spsc as u32
        }
    );

    // SAFETY: as above, re-initialised as a set.
    unsafe { SemaphoreSet::init_raw(ptr, len, &[1, 2], 5, InitOptions::default(), waiter()) }
        .unwrap();
    // SAFETY: as above.
    let as_sem = unsafe { Semaphore::attach_raw(ptr, len, waiter()) };
    assert_eq!(
        as_sem.unwrap_err(),
        AttachError::KindMismatch {
            expected: Kind::Semaphore,
            found: Kind::SemaphoreSet as u32
        }
    );
    // SAFETY: as above.
    let as_ring = unsafe { Spsc::<u32>::attach_raw(ptr, len, Schema::of::<u32>()) };
    assert!(matches!(as_ring, Err(AttachError::KindMismatch { .. })));
}

#[test]
fn handles_are_send_sync_and_clone() {
    static_assertions::assert_impl_all!(Semaphore<'static, W>: Send, Sync, Clone);
    static_assertions::assert_impl_all!(SemaphoreSet<'static, W>: Send, Sync, Clone);
    static_assertions::assert_not_impl_any!(Semaphore<'static, core::cell::Cell<u8>>: Sync);
    let mut r = region();
    let sem = Semaphore::init(r.as_uninit_mut(), 1, 2, waiter()).unwrap();
    let copy = sem.clone();
    copy.post(1).unwrap();
    assert_eq!(sem.value(), 2);
    assert_eq!(
        std::format!("{sem:?}"),
        "Semaphore { value: 2, max: 2, .. }"
    );
    let _: &W = sem.waiter();
}

#[test]
fn errors_display() {
    let all = [
        SemaphoreError::WouldBlock,
        SemaphoreError::Timeout,
        SemaphoreError::Overflow,
        SemaphoreError::InvalidCount,
        SemaphoreError::Contended,
        SemaphoreError::Corrupted,
    ];
    for e in all {
        assert!(!std::format!("{e}").is_empty());
        let _: &dyn core::error::Error = &e;
    }
    assert_eq!(
        std::format!("{}", SemaphoreError::Overflow),
        "post would exceed the semaphore's maximum"
    );
    let e = InitError::ValueAboveMax {
        index: 2,
        value: 9,
        max: 8,
    };
    assert_eq!(
        std::format!("{e}"),
        "initial value 9 of counter 2 exceeds the maximum 8"
    );
    assert!(core::error::Error::source(&e).is_none());
    let e = InitError::from(LayoutError::TooLarge);
    assert!(core::error::Error::source(&e).is_some());
    assert_eq!(
        std::format!("{e}"),
        std::format!("{}", LayoutError::TooLarge)
    );
    assert!(!std::format!("{}", InitError::ZeroMax).is_empty());
    let set_errors = [
        SetOpError::WouldBlock,
        SetOpError::Timeout,
        SetOpError::Overflow { op: 1 },
        SetOpError::InvalidCount { op: 2 },
        SetOpError::IndexOutOfRange { op: 0, index: 70 },
        SetOpError::TooManyOps { len: 65 },
        SetOpError::Contended,
        SetOpError::Corrupted { index: 3 },
    ];
    for e in set_errors {
        assert!(!std::format!("{e}").is_empty());
        let _: &dyn core::error::Error = &e;
    }
    assert_eq!(
        std::format!("{}", SetOpError::IndexOutOfRange { op: 0, index: 70 }),
        "operation 0 names counter 70, past the set's end"
    );
}

// ------------------------------------------------------------- SemaphoreSet

#[test]
fn set_layout_and_limits() {
    for bad in [0, MAX_COUNTERS + 1, u32::MAX] {
        assert_eq!(
            SemaphoreSet::layout(bad),
            Err(LayoutError::BadCapacity { capacity: bad })
        );
    }
    for count in [1, 2, 28, MAX_COUNTERS] {
        let layout = SemaphoreSet::layout(count).unwrap();
        assert_eq!(layout.size, 512);
        assert_eq!(layout.body_offset, COUNTERS_AT);
        assert_eq!(layout.align, 128);
        assert_eq!(SemaphoreSet::region_size(count), 512);
    }
}

#[test]
fn set_init_checks_count_max_and_values() {
    let mut r = region();
    let bytes = r.as_uninit_mut();
    let too_many = [0u32; MAX_COUNTERS as usize + 1];
    assert_eq!(
        SemaphoreSet::init(&mut bytes[..], &too_many, 1, waiter()).unwrap_err(),
        InitError::Layout(LayoutError::BadCapacity { capacity: 65 })
    );
    assert_eq!(
        SemaphoreSet::init(&mut bytes[..], &[], 1, waiter()).unwrap_err(),
        InitError::Layout(LayoutError::BadCapacity { capacity: 0 })
    );
    assert_eq!(
        SemaphoreSet::init(&mut bytes[..], &[0], 0, waiter()).unwrap_err(),
        InitError::ZeroMax
    );
    assert_eq!(
        SemaphoreSet::init(&mut bytes[..], &[1, 2, 9, 3], 8, waiter()).unwrap_err(),
        InitError::ValueAboveMax {
            index: 2,
            value: 9,
            max: 8
        }
    );
    assert_eq!(
        SemaphoreSet::init(&mut bytes[128..], &[0], 1, waiter()).unwrap_err(),
        InitError::Layout(LayoutError::RegionTooSmall {
            needed: 512,
            len: 384
        })
    );
    assert_eq!(
        SemaphoreSet::init(&mut bytes[8..], &[0], 1, waiter()).unwrap_err(),
        InitError::Layout(LayoutError::Misaligned { offset: 8 })
    );
    let set = SemaphoreSet::init(&mut bytes[..], &[3; 64], 3, waiter()).unwrap();
    assert_eq!((set.count(), set.max(), set.pid()), (64, 3, 0));
    assert_eq!(set.value(63), Some(3));
    assert_eq!(set.value(64), None);
    assert_eq!(set.spin_limit(), DEFAULT_SPIN_LIMIT);
    assert_eq!(
        std::format!("{set:?}"),
        "SemaphoreSet { count: 64, max: 3, .. }"
    );
}

#[test]
fn set_ops_apply_all_or_nothing() {
    let mut r = region();
    let set = SemaphoreSet::init(r.as_uninit_mut(), &[2, 0, 5], 5, waiter()).unwrap();
    let values = |set: &SemaphoreSet<'_, W>| -> Vec<u32> {
        (0..set.count()).map(|i| set.value(i).unwrap()).collect()
    };
    set.try_op(&[]).unwrap();
    set.op(&[], None).unwrap();
    // Counter 1 blocks, so counters 0 and 2 keep their units.
    assert_eq!(
        set.try_op(&[SemOp::wait(0, 1), SemOp::wait(1, 1), SemOp::wait(2, 5)]),
        Err(SetOpError::WouldBlock)
    );
    assert_eq!(values(&set), [2, 0, 5]);
    // A post in the same call does not help an earlier wait...
    assert_eq!(
        set.try_op(&[SemOp::wait(1, 1), SemOp::post(1, 1)]),
        Err(SetOpError::WouldBlock)
    );
    // ...but does help a later one: operations apply in order.
    set.try_op(&[SemOp::post(1, 1), SemOp::wait(1, 1), SemOp::wait(0, 2)])
        .unwrap();
    assert_eq!(values(&set), [0, 0, 5]);
    // Wait-for-zero, then post: the System V lock idiom on one counter.
    let lock = [SemOp::wait_zero(1), SemOp::post(1, 1)];
    set.try_op(&lock).unwrap();
    assert_eq!(set.try_op(&lock), Err(SetOpError::WouldBlock));
    assert_eq!(set.op(&lock, SHORT), Err(SetOpError::Timeout));
    set.try_op(&[SemOp::wait(1, 1)]).unwrap();
    set.try_op(&lock).unwrap();
    // An overflowing post fails the whole call, even a blocking one, at once.
    assert_eq!(
        set.op(&[SemOp::post(0, 1), SemOp::post(2, 1)], None),
        Err(SetOpError::Overflow { op: 1 })
    );
    assert_eq!(values(&set), [0, 1, 5]);
    assert_eq!(
        set.try_op(&[SemOp::post(0, 3), SemOp::post(0, 3)]),
        Err(SetOpError::Overflow { op: 1 })
    );
    assert_eq!(values(&set), [0, 1, 5]);
    // Zero-unit operations change nothing and always proceed.
    set.try_op(&[SemOp::wait(0, 0), SemOp::post(2, 0)]).unwrap();
    // A multi-counter wait succeeds once every counter has its units.
    set.try_op(&[SemOp::post(0, 4)]).unwrap();
    set.op(
        &[SemOp::wait(0, 4), SemOp::wait(2, 5), SemOp::wait(1, 1)],
        SHORT,
    )
    .unwrap();
    assert_eq!(values(&set), [0, 0, 0]);
    set.op(&[SemOp::wait_zero(0), SemOp::wait_zero(2)], None)
        .unwrap();
}

#[test]
fn set_rejects_impossible_calls_before_locking() {
    let mut r = region();
    let set = SemaphoreSet::init(r.as_uninit_mut(), &[1, 1], 4, waiter()).unwrap();
    assert_eq!(
        set.op(&[SemOp::wait(0, 1), SemOp::post(2, 1)], None),
        Err(SetOpError::IndexOutOfRange { op: 1, index: 2 })
    );
    assert_eq!(
        set.try_op(&[SemOp::wait_zero(u32::MAX)]),
        Err(SetOpError::IndexOutOfRange {
            op: 0,
            index: u32::MAX
        })
    );
    assert_eq!(
        set.op(&[SemOp::wait(0, 5)], None),
        Err(SetOpError::InvalidCount { op: 0 })
    );
    assert_eq!(
        set.try_op(&[SemOp::post(1, 0), SemOp::post(1, 5)]),
        Err(SetOpError::Overflow { op: 1 })
    );
    let many = [SemOp::post(0, 0); MAX_OPS + 1];
    assert_eq!(
        set.op(&many, None),
        Err(SetOpError::TooManyOps { len: MAX_OPS + 1 })
    );
    set.try_op(&many[..MAX_OPS]).unwrap();
    assert_eq!((set.value(0), set.value(1)), (Some(1), Some(1)));
    assert_eq!(
        SemOp::wait(3, 2),
        SemOp {
            index: 3,
            action: SemAction::Wait(2)
        }
    );
}

#[test]
fn set_snapshot_copies_under_the_lock() {
    let mut r = region();
    let set = SemaphoreSet::init(r.as_uninit_mut(), &[1, 2, 3], 9, waiter()).unwrap();
    let mut out = [0u32; 5];
    assert_eq!(set.try_snapshot(&mut out), Ok(3));
    assert_eq!(out, [1, 2, 3, 0, 0]);
    let mut two = [0u32; 2];
    assert_eq!(set.try_snapshot(&mut two), Ok(2));
    assert_eq!(two, [1, 2]);
    assert_eq!(set.try_snapshot(&mut []), Ok(0));
}

#[test]
fn set_blocking_op_is_woken_by_other_threads() {
    let mut r = region();
    let mut set = SemaphoreSet::init(r.as_uninit_mut(), &[0, 0, 1], 4, waiter()).unwrap();
    set.set_spin_limit(0);
    assert_eq!(set.spin_limit(), 0);
    let set = &set;
    std::thread::scope(|s| {
        let taker = s.spawn(move || set.op(&[SemOp::wait(0, 2), SemOp::wait(1, 1)], LONG));
        let zero = s.spawn(move || set.op(&[SemOp::wait_zero(2)], LONG));
        for op in [SemOp::post(0, 1), SemOp::post(1, 1), SemOp::post(0, 1)] {
            std::thread::sleep(Duration::from_millis(1));
            set.op(&[op], LONG).unwrap();
        }
        assert_eq!(taker.join().unwrap(), Ok(()));
        set.op(&[SemOp::wait(2, 1)], LONG).unwrap();
        assert_eq!(zero.join().unwrap(), Ok(()));
    });
    assert_eq!(
        (set.value(0), set.value(1), set.value(2)),
        (Some(0), Some(0), Some(0))
    );
}

#[test]
fn set_transfers_never_show_partial_application() {
    // Units move between four counters two at a time; whoever looks at the
    // counters together (under the lock) always finds the same total.
    const TOTAL: u32 = 400;
    let mut r = region();
    let set = SemaphoreSet::init(r.as_uninit_mut(), &[100; 4], TOTAL, waiter()).unwrap();
    let rounds = if cfg!(miri) { 15 } else { 5_000 };
    let done = Mutex::new(0u32);
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let (set, done) = (&set, &done);
            s.spawn(move || {
                let mut rng = Rng(t);
                for _ in 0..rounds {
                    let from = rng.below(4) as u32;
                    let to = (from + 1 + rng.below(3) as u32) % 4;
                    let n = rng.below(30) as u32 + 1;
                    let ops = [SemOp::wait(from, n), SemOp::post(to, n)];
                    let result = if rng.below(2) == 0 {
                        set.try_op(&ops)
                    } else {
                        set.op(&ops, Some(Duration::from_micros(50)))
                    };
                    match result {
                        Ok(())
                        | Err(
                            SetOpError::WouldBlock | SetOpError::Timeout | SetOpError::Contended,
                        ) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                *done.lock().unwrap() += 1;
            });
        }
        let mut seen = 0u32;
        while *done.lock().unwrap() < 3 {
            let mut out = [0u32; 4];
            match set.try_snapshot(&mut out) {
                Ok(4) => {
                    assert_eq!(out.iter().sum::<u32>(), TOTAL, "partial transfer seen");
                    seen += 1;
                }
                Ok(n) => panic!("snapshot of {n} counters"),
                Err(SetOpError::Contended) => {}
                Err(e) => panic!("{e}"),
            }
            std::thread::yield_now();
        }
        assert!(seen > 0 || cfg!(miri));
    });
    let mut out = [0u32; 4];
    set.try_snapshot(&mut out).unwrap();
    assert_eq!(out.iter().sum::<u32>(), TOTAL);
}

#[test]
fn set_pairs_are_taken_together_or_not_at_all() {
    // Producers post to counters 0 and 1 separately; consumers take one of
    // each in one call. At the end each counter holds its posts minus the
    // pairs taken: no consumer ever took half a pair.
    let mut r = region();
    let set = SemaphoreSet::init(r.as_uninit_mut(), &[0, 0], 100_000, waiter()).unwrap();
    let per_counter = if cfg!(miri) { 10 } else { 3_000 };
    let pairs = Mutex::new(0u32);
    std::thread::scope(|s| {
        for index in 0..2 {
            let set = &set;
            s.spawn(move || {
                for _ in 0..per_counter {
                    set.op(&[SemOp::post(index, 1)], LONG).unwrap();
                }
            });
        }
        for _ in 0..2 {
            let (set, pairs) = (&set, &pairs);
            s.spawn(move || {
                let mut taken = 0;
                while taken < per_counter / 2 {
                    set.op(&[SemOp::wait(0, 1), SemOp::wait(1, 1)], LONG)
                        .unwrap();
                    taken += 1;
                }
                *pairs.lock().unwrap() += taken;
            });
        }
    });
    let pairs = *pairs.lock().unwrap();
    assert_eq!(pairs, per_counter);
    assert_eq!(set.value(0), Some(0));
    assert_eq!(set.value(1), Some(0));
}

#[test]
fn set_post_release_op_acquire_carries_plain_data() {
    let mut r = region();
    let set = SemaphoreSet::init(r.as_uninit_mut(), &[0, 0], 1, waiter()).unwrap();
    let data = Plain(UnsafeCell::new(0));
    let rounds: u64 = if cfg!(miri) { 20 } else { 5_000 };
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..rounds {
                set.op(&[SemOp::wait(0, 1)], LONG).unwrap();
                assert_eq!(data.get(), 2 * i + 1);
                data.set(2 * i + 2);
                set.op(&[SemOp::post(1, 1)], LONG).unwrap();
            }
        });
        for i in 0..rounds {
            data.set(2 * i + 1);
            set.op(&[SemOp::post(0, 1)], LONG).unwrap();
            set.op(&[SemOp::wait(1, 1)], LONG).unwrap();
            assert_eq!(data.get(), 2 * i + 2);
        }
    });
}

#[test]
fn set_calls_the_waiter_only_for_sleepers() {
    let mut r = region();
    let set = SemaphoreSet::init(r.as_uninit_mut(), &[0, 0], 8, Counting::new()).unwrap();
    for _ in 0..10 {
        set.try_op(&[SemOp::post(0, 2), SemOp::post(1, 1)]).unwrap();
        set.op(&[SemOp::wait(0, 2)], None).unwrap();
        set.op(&[SemOp::wait(1, 1), SemOp::wait_zero(0)], None)
            .unwrap();
        let mut out = [0; 2];
        set.try_snapshot(&mut out).unwrap();
    }
    assert_eq!(set.waiter().wakes(), 0);
    assert_eq!(set.waiter().waits(), 0);
}

#[test]
fn a_lock_held_by_a_dead_peer_fails_try_and_times_out_op() {
    let mut r = region();
    let (ptr, len) = raw(&mut r);
    let options = InitOptions { creator_pid: 41 };
    // SAFETY: the boxed region, used only through the library and `words`.
    let mut set =
        unsafe { SemaphoreSet::init_raw(ptr, len, &[1, 0], 4, options, waiter()) }.unwrap();
    assert_eq!(set.pid(), 41);
    set.set_pid(42);
    assert_eq!(set.lock_holder(), None);
    // SAFETY: laid out by `init_raw`.
    let w = unsafe { words(ptr, SemaphoreSet::region_size(2)) };
    // A peer with pid 99 took the lock and died.
    w[word(LOCK_AT)].store(1, Ordering::Relaxed);
    w[word(HOLDER_AT)].store(99, Ordering::Relaxed);
    assert_eq!(set.lock_holder(), Some(99));
    assert_eq!(set.try_op(&[SemOp::wait(0, 1)]), Err(SetOpError::Contended));
    assert_eq!(set.try_snapshot(&mut [0; 2]), Err(SetOpError::Contended));
    assert_eq!(
        set.op(&[SemOp::wait(0, 1)], SHORT),
        Err(SetOpError::Timeout)
    );
    // Validation errors still come back at once.
    assert_eq!(
        set.op(&[SemOp::wait(5, 1)], None),
        Err(SetOpError::IndexOutOfRange { op: 0, index: 5 })
    );
    // Liveness recovery (here by hand) frees it; nothing was applied.
    w[word(LOCK_AT)].store(0, Ordering::Relaxed);
    assert_eq!(set.value(0), Some(1));
    set.op(&[SemOp::wait(0, 1)], SHORT).unwrap();
    assert_eq!(set.lock_holder(), None);
    // While this handle holds the lock, its pid is recorded.
    std::thread::scope(|s| {
        let mut other = set.clone();
        other.set_pid(43);
        other.set_spin_limit(0);
        let blocked = s.spawn(move || other.op(&[SemOp::wait(1, 1)], LONG));
        // Relaxed: just waits for the other thread to be asleep.
        while w[word(CHANGED_SLEEPERS_AT)].load(Ordering::Relaxed) == 0 {
            std::thread::yield_now();
        }
        set.op(&[SemOp::post(1, 1)], LONG).unwrap();
        assert_eq!(blocked.join().unwrap(), Ok(()));
    });
}

#[test]
fn set_attach_sees_what_init_wrote_and_validates() {
    let mut r = region();
    let (ptr, len) = raw(&mut r);
    // SAFETY: the boxed region, used only through the library and `words`.
    let set = unsafe {
        SemaphoreSet::init_raw(ptr, len, &[1, 2, 3], 7, InitOptions::default(), waiter())
    }
    .unwrap();
    let attach = || {
        // SAFETY: as above, initialised by `init_raw`.
        unsafe { SemaphoreSet::attach_raw(ptr, len, waiter()) }
    };
    let other = attach().unwrap();
    assert_eq!((other.count(), other.max(), other.pid()), (3, 7, 0));
    other
        .try_op(&[SemOp::wait(2, 3), SemOp::post(0, 6)])
        .unwrap();
    assert_eq!((set.value(0), set.value(2)), (Some(7), Some(0)));
    // SAFETY: laid out by `init_raw`.
    let w = unsafe { words(ptr, SemaphoreSet::region_size(3)) };
    w[word(COUNTERS_AT) + 1].store(8, Ordering::Relaxed);
    assert_eq!(attach().unwrap_err(), AttachError::Corrupted);
    w[word(COUNTERS_AT) + 1].store(2, Ordering::Relaxed);
    w[word(MAX_AT)].store(0, Ordering::Relaxed);
    assert_eq!(attach().unwrap_err(), AttachError::Corrupted);
    w[word(MAX_AT)].store(7, Ordering::Relaxed);
    for bad in [0, 65, u32::MAX] {
        w[word(CAPACITY_AT)].store(bad, Ordering::Relaxed);
        assert_eq!(
            attach().unwrap_err(),
            AttachError::BadCapacity { found: bad }
        );
    }
    w[word(CAPACITY_AT)].store(3, Ordering::Relaxed);
    w[word(KIND_AT)].store(Kind::Mpmc as u32, Ordering::Relaxed);
    assert!(matches!(attach(), Err(AttachError::KindMismatch { .. })));
    w[word(KIND_AT)].store(Kind::SemaphoreSet as u32, Ordering::Relaxed);
    assert_eq!(attach().unwrap().count(), 3);
    // SAFETY: as above.
    let short = unsafe { SemaphoreSet::attach_raw(ptr, 400, waiter()) };
    assert!(matches!(
        short,
        Err(AttachError::RegionTooSmall { needed: 512, .. })
    ));
}

// ------------------------------------------------------------------ hostile

/// Scribbles 1 to 4 words of the first `len` bytes with hostile values.
fn scribble(w: &[AtomicU32], rng: &mut Rng, max: u32) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(w.len() as u64) as usize;
        w[at].store(rng.nasty(max), Ordering::Relaxed);
    }
}

/// Every error a semaphore call may return when a peer scribbles.
fn semaphore_result_is_sane(r: Result<(), SemaphoreError>, blocking: bool) {
    match (r, blocking) {
        (Ok(()), _)
        | (Err(SemaphoreError::Overflow | SemaphoreError::InvalidCount), _)
        | (Err(SemaphoreError::Corrupted), _)
        | (Err(SemaphoreError::WouldBlock | SemaphoreError::Contended), false)
        | (Err(SemaphoreError::Timeout), true) => {}
        (other, _) => panic!("unexpected {other:?} (blocking: {blocking})"),
    }
}

#[test]
fn hostile_semaphore_words_between_calls() {
    let seeds = if cfg!(miri) { 2 } else { 64 };
    let steps = if cfg!(miri) { 40 } else { 400 };
    for seed in 0..seeds {
        let mut rng = Rng(seed);
        let mut r = region();
        let (ptr, len) = raw(&mut r);
        let max = [1, 2, 7, u32::MAX - 1, u32::MAX][rng.below(5) as usize];
        // SAFETY: the boxed region, used only through the library and `words`.
        let mut sem =
            unsafe { Semaphore::init_raw(ptr, len, 0, max, InitOptions::default(), waiter()) }
                .unwrap();
        sem.set_spin_limit(rng.below(4) as u32);
        for _ in 0..steps {
            // SAFETY: laid out by `init_raw`; a fresh view per step.
            let w = unsafe { words(ptr, Semaphore::region_size()) };
            match rng.below(4) {
                // Often aim at the words the operations use.
                0 => w[word(VALUE_AT)].store(rng.nasty(max), Ordering::Relaxed),
                1 => w[word(POSTED_SLEEPERS_AT) + rng.below(4) as usize]
                    .store(rng.nasty(max), Ordering::Relaxed),
                2 => scribble(w, &mut rng, max),
                _ => {}
            }
            let n = match rng.below(3) {
                0 => rng.nasty(max),
                _ => rng.below(u64::from(max.min(4)) + 1) as u32,
            };
            let timeout =
                [Some(Duration::ZERO), Some(Duration::from_micros(20))][rng.below(2) as usize];
            match rng.below(7) {
                0 => semaphore_result_is_sane(sem.post(n), false),
                1 => semaphore_result_is_sane(sem.try_wait(n), false),
                2 => semaphore_result_is_sane(sem.wait(n, timeout), true),
                3 => semaphore_result_is_sane(sem.try_wait_zero(), false),
                4 => semaphore_result_is_sane(sem.wait_zero(timeout), true),
                5 => {
                    // SAFETY: as above.
                    if let Ok(other) = unsafe { Semaphore::attach_raw(ptr, len, waiter()) } {
                        assert!(other.value() <= other.max());
                        semaphore_result_is_sane(other.try_wait(1), false);
                    }
                }
                _ => {}
            }
            assert!(sem.value() <= sem.max());
            assert_eq!(sem.max(), max, "max is never re-read");
        }
    }
}

#[test]
fn hostile_semaphore_words_during_calls() {
    // One thread rewrites the value and the event counts as fast as it can
    // while another operates: every call returns (bounded retries), blocking
    // ones by their timeout at the latest.
    let mut r = region();
    let (ptr, len) = raw(&mut r);
    // SAFETY: the boxed region, used only through the library and `words`.
    let sem =
        unsafe { Semaphore::init_raw(ptr, len, 0, 3, InitOptions::default(), waiter()) }.unwrap();
    let calls = if cfg!(miri) { 30 } else { 20_000 };
    let stop = Mutex::new(false);
    let shared = Shared(ptr);
    std::thread::scope(|s| {
        let stop = &stop;
        s.spawn(move || {
            let mut rng = Rng(7);
            // SAFETY: laid out by `init_raw`, and outlives the scope.
            let w = unsafe { words(shared.ptr(), Semaphore::region_size()) };
            while !*stop.lock().unwrap() {
                for _ in 0..64 {
                    let at = word(VALUE_AT) + rng.below(5) as usize;
                    w[at].store(rng.nasty(3), Ordering::Relaxed);
                }
            }
        });
        let mut rng = Rng(8);
        for _ in 0..calls {
            let n = rng.below(5) as u32;
            match rng.below(5) {
                0 => semaphore_result_is_sane(sem.post(n), false),
                1 => semaphore_result_is_sane(sem.try_wait(n), false),
                2 => semaphore_result_is_sane(sem.wait(n, Some(Duration::from_micros(10))), true),
                3 => semaphore_result_is_sane(sem.wait_zero(Some(Duration::ZERO)), true),
                _ => assert!(sem.value() <= 3),
            }
        }
        *stop.lock().unwrap() = true;
    });
}

fn set_result_is_sane(r: Result<(), SetOpError>, blocking: bool) {
    match r {
        Ok(())
        | Err(
            SetOpError::Overflow { .. }
            | SetOpError::InvalidCount { .. }
            | SetOpError::IndexOutOfRange { .. }
            | SetOpError::TooManyOps { .. }
            | SetOpError::Corrupted { .. },
        ) => {}
        Err(SetOpError::WouldBlock | SetOpError::Contended) if !blocking => {}
        Err(SetOpError::Timeout) if blocking => {}
        other => panic!("unexpected {other:?} (blocking: {blocking})"),
    }
}

#[test]
fn hostile_set_words_between_calls() {
    let seeds = if cfg!(miri) { 2 } else { 48 };
    let steps = if cfg!(miri) { 30 } else { 300 };
    for seed in 0..seeds {
        let mut rng = Rng(1000 + seed);
        let mut r = region();
        let (ptr, len) = raw(&mut r);
        let count = 1 + rng.below(u64::from(MAX_COUNTERS)) as u32;
        let max = [1, 5, u32::MAX][rng.below(3) as usize];
        let initial: Vec<u32> = (0..count).map(|_| rng.below(2) as u32).collect();
        // SAFETY: the boxed region, used only through the library and `words`.
        let mut set = unsafe {
            SemaphoreSet::init_raw(ptr, len, &initial, max, InitOptions::default(), waiter())
        }
        .unwrap();
        set.set_spin_limit(rng.below(3) as u32);
        for _ in 0..steps {
            // SAFETY: laid out by `init_raw`; a fresh view per step.
            let w = unsafe { words(ptr, SemaphoreSet::region_size(count)) };
            match rng.below(6) {
                0 => w[word(LOCK_AT)].store(rng.nasty(2), Ordering::Relaxed),
                1 => w[word(COUNTERS_AT) + rng.below(u64::from(count)) as usize]
                    .store(rng.nasty(max), Ordering::Relaxed),
                2 => w[word(LOCK_AT) + rng.below(4) as usize]
                    .store(rng.nasty(max), Ordering::Relaxed),
                3 => scribble(w, &mut rng, max),
                // Let the set work again now and then (a peer's repair).
                _ => w[word(LOCK_AT)].store(0, Ordering::Relaxed),
            }
            let k = rng.below(5) as usize;
            let ops: Vec<SemOp> = (0..k)
                .map(|_| {
                    // Mostly valid indices, sometimes not.
                    let index = rng.below(u64::from(count) + 1) as u32;
                    let n = match rng.below(4) {
                        0 => rng.nasty(max),
                        _ => rng.below(3) as u32,
                    };
                    match rng.below(3) {
                        0 => SemOp::wait(index, n),
                        1 => SemOp::post(index, n),
                        _ => SemOp::wait_zero(index),
                    }
                })
                .collect();
            let timeout =
                [Some(Duration::ZERO), Some(Duration::from_micros(20))][rng.below(2) as usize];
            match rng.below(5) {
                0 => set_result_is_sane(set.try_op(&ops), false),
                1 => set_result_is_sane(set.op(&ops, timeout), true),
                2 => {
                    let mut out = [0u32; MAX_COUNTERS as usize];
                    match set.try_snapshot(&mut out) {
                        Ok(n) => {
                            assert_eq!(n, count as usize);
                            assert!(out.iter().all(|&v| v <= max));
                        }
                        Err(SetOpError::Contended | SetOpError::Corrupted { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                3 => {
                    // SAFETY: as above.
                    if let Ok(other) = unsafe { SemaphoreSet::attach_raw(ptr, len, waiter()) } {
                        assert!(other.count() <= MAX_COUNTERS);
                        set_result_is_sane(other.try_op(&ops), false);
                    }
                }
                _ => {
                    let _ = set.lock_holder();
                }
            }
            assert_eq!((set.count(), set.max()), (count, max), "never re-read");
            for i in 0..count {
                assert!(set.value(i).unwrap() <= max);
            }
        }
    }
}

#[test]
fn hostile_set_words_during_calls() {
    let mut r = region();
    let (ptr, len) = raw(&mut r);
    // SAFETY: the boxed region, used only through the library and `words`.
    let set = unsafe {
        SemaphoreSet::init_raw(ptr, len, &[1, 1, 1], 3, InitOptions::default(), waiter())
    }
    .unwrap();
    let calls = if cfg!(miri) { 20 } else { 10_000 };
    let stop = Mutex::new(false);
    let shared = Shared(ptr);
    std::thread::scope(|s| {
        let stop = &stop;
        s.spawn(move || {
            let mut rng = Rng(9);
            // SAFETY: laid out by `init_raw`, and outlives the scope.
            let w = unsafe { words(shared.ptr(), SemaphoreSet::region_size(3)) };
            while !*stop.lock().unwrap() {
                for _ in 0..64 {
                    // Lock, holder, event count and the three counters.
                    let at = word(LOCK_AT) + rng.below(7) as usize;
                    let value = if at == word(LOCK_AT) && rng.below(2) == 0 {
                        0
                    } else {
                        rng.nasty(3)
                    };
                    w[at].store(value, Ordering::Relaxed);
                }
            }
        });
        let mut rng = Rng(10);
        for _ in 0..calls {
            let a = rng.below(3) as u32;
            let b = rng.below(3) as u32;
            let ops = [SemOp::wait(a, 1), SemOp::post(b, 1)];
            match rng.below(3) {
                0 => set_result_is_sane(set.try_op(&ops), false),
                1 => set_result_is_sane(set.op(&ops, Some(Duration::from_micros(10))), true),
                _ => {
                    let _ = set.try_snapshot(&mut [0; 3]);
                }
            }
        }
        *stop.lock().unwrap() = true;
    });
}
