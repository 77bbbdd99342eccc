//! Semaphores and semaphore sets over hostile memory.
//!
//! core/src/semaphore/tests.rs already scribbles over live semaphores and
//! sets, between calls and during them, and checks each result. What this
//! adds: `attach_raw` of both kinds over random bytes, mutated headers,
//! short lengths and misaligned pointers (typed errors, and what is accepted
//! works); and a restoration check: after a hostile phase, a peer that writes
//! a consistent region back (or lays it out again) gets exact semantics.

use core::time::Duration;

use annulus::AttachError;
use annulus::layout::{Kind, LAYOUT_VERSION, MAGIC, REGION_ALIGN};
use annulus::semaphore::{
    InitOptions, MAX_COUNTERS, SemOp, Semaphore, SemaphoreError, SemaphoreSet, SetOpError,
};
use annulus::wait::Spin;

use crate::names::{attach_error_name, semaphore_error_name, set_op_error_name};
use crate::spsc_region::off;
use crate::support::{
    HeapRegion, READY, Rng, SHORT_NS, Stats, TICK_NS, TickClock, W, config, interesting_for,
    stream_of, watchdog,
};

/// Offsets (core/src/semaphore/mod.rs and set.rs pin them).
const MAX_AT: usize = 64;
const VALUE_AT: usize = 128;
const SET_LOCK_AT: usize = 128;
const COUNTERS_AT: usize = 144;
/// Bytes of the larger layout (a set), which both kinds' regions get.
const SIZE: usize = 512;
/// Schema words of both kinds (`b"sem:u32\0"`).
const SCHEMA: u64 = u64::from_le_bytes(*b"sem:u32\0");

/// Which semaphore kind a region holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    One,
    Set,
}

impl HeapRegion {
    fn sem_init(&self, value: u32, max: u32, w: W) -> Semaphore<'_, W> {
        // SAFETY: the whole allocation, valid for the handle's lifetime (it
        // borrows `self`); no handle is alive during the call.
        unsafe {
            Semaphore::init_raw(
                self.ptr(),
                self.len(),
                value,
                max,
                InitOptions::default(),
                w,
            )
        }
        .unwrap_or_else(|e| panic!("semaphore init_raw: {e:?}"))
    }

    fn sem_attach_at(
        &self,
        offset: usize,
        len: usize,
        w: W,
    ) -> Result<Semaphore<'_, W>, AttachError> {
        assert!(offset <= self.len() && len <= self.len() - offset);
        // SAFETY: inside the allocation, valid for the handle's lifetime;
        // every byte is initialised (zeroed, then init or random bytes).
        unsafe { Semaphore::attach_raw(self.ptr().add(offset), len, w) }
    }

    fn set_init(&self, values: &[u32], max: u32, w: W) -> SemaphoreSet<'_, W> {
        // SAFETY: as in `sem_init`.
        unsafe {
            SemaphoreSet::init_raw(
                self.ptr(),
                self.len(),
                values,
                max,
                InitOptions::default(),
                w,
            )
        }
        .unwrap_or_else(|e| panic!("set init_raw: {e:?}"))
    }

    fn set_attach_at(
        &self,
        offset: usize,
        len: usize,
        w: W,
    ) -> Result<SemaphoreSet<'_, W>, AttachError> {
        assert!(offset <= self.len() && len <= self.len() - offset);
        // SAFETY: as in `sem_attach_at`.
        unsafe { SemaphoreSet::attach_raw(self.ptr().add(offset), len, w) }
    }
}

/// Every word of a region of `which` that is a field (the padding after
/// them is uninitialised after `init_raw`, so the test reads only these).
fn field_words(which: Which) -> Vec<usize> {
    let state_end = match which {
        Which::One => VALUE_AT + 20,
        Which::Set => COUNTERS_AT + 4 * MAX_COUNTERS as usize,
    };
    (0..MAX_AT + 4)
        .chain(VALUE_AT..state_end)
        .step_by(4)
        .collect()
}

/// A `max` worth trying: binary, small, or at the top of the range.
fn random_max(rng: &mut Rng) -> u32 {
    [1, 2, 7, u32::MAX - 1, u32::MAX][rng.below_usize(5)]
}

/// `attach_raw` of both kinds over random and mutated regions.
#[test]
fn semaphore_attach_survives_random_and_mutated_regions() {
    let cfg = config();
    let stats = watchdog("semaphore attach-fuzz", cfg, move |progress| {
        let mut rng = Rng::new(cfg.seed, stream_of("semaphore attach"));
        let mut stats = Stats::default();
        for iter in 0..cfg.iters {
            let which = if rng.one_in(2) {
                Which::One
            } else {
                Which::Set
            };
            progress.at(which as u64, iter, u64::MAX);
            attach_one(which, &mut rng, &mut stats);
        }
        stats
    });
    stats.report("semaphore attach-fuzz", cfg);
    assert_eq!(stats.regions, cfg.iters);
    if cfg.iters >= 1_000 {
        for name in [
            "AttachError::BadMagic",
            "AttachError::KindMismatch",
            "AttachError::BadCapacity",
            "AttachError::BadGeometry",
            "AttachError::RegionTooSmall",
            "AttachError::Misaligned",
            "AttachError::Corrupted",
        ] {
            assert!(stats.has(name), "{name} never seen");
        }
        assert!(stats.ok.contains_key("attach semaphore"));
        assert!(stats.ok.contains_key("attach set"));
    }
}

fn attach_one(which: Which, rng: &mut Rng, stats: &mut Stats) {
    let region = HeapRegion::zeroed(SIZE + REGION_ALIGN);
    let clock = TickClock::default();
    let w = || Spin::new(clock.clone());
    stats.regions += 1;
    stats.corruptions += 1;
    let (kind, other) = match which {
        Which::One => (Kind::Semaphore, Kind::SemaphoreSet),
        Which::Set => (Kind::SemaphoreSet, Kind::Semaphore),
    };
    let count = 1 + rng.below(u64::from(MAX_COUNTERS)) as u32;
    let (mut offset, mut len) = (0, SIZE);
    let mode = rng.below(8);
    match mode {
        0 => {
            region.randomize(rng, 0, region.len());
            len = rng.below_usize(region.len() + 1);
        }
        1 => {
            // Garbage that starts like a ready region of this kind.
            region.randomize(rng, 0, region.len());
            region.write_u32(off::MAGIC, MAGIC);
            region.write_u32(off::INIT_STATE, READY);
            region.write_u32(off::VERSION, LAYOUT_VERSION);
            region.write_u32(off::KIND, kind as u32);
            if rng.one_in(2) {
                region.write_u32(off::ELEM_SIZE, 4);
                region.write_u32(off::ELEM_ALIGN, 4);
                region.write_u32(off::SCHEMA_LO, SCHEMA as u32);
                region.write_u32(off::SCHEMA_HI, (SCHEMA >> 32) as u32);
                let capacity = if which == Which::One { 1 } else { count };
                region.write_u32(off::CAPACITY, capacity);
            }
        }
        _ => {
            let max = random_max(rng);
            match which {
                Which::One => {
                    let value = rng.below(u64::from(max.min(9)) + 1) as u32;
                    drop(region.sem_init(value, max, w()));
                }
                Which::Set => {
                    let values: Vec<u32> = (0..count).map(|_| rng.below(2) as u32).collect();
                    drop(region.set_init(&values, max, w()));
                }
            }
            match mode {
                2 | 3 => {
                    // One word, or a few: the header, max, value or
                    // counters, the capacity, anywhere.
                    let n = if mode == 2 { 1 } else { 2 + rng.below(4) };
                    for _ in 0..n {
                        let fields = field_words(which);
                        let at = match rng.below(4) {
                            0 => 4 * rng.below_usize(16),
                            1 => [MAX_AT, VALUE_AT, off::CAPACITY][rng.below_usize(3)],
                            2 if which == Which::Set => {
                                COUNTERS_AT + 4 * rng.below_usize(count as usize)
                            }
                            _ => fields[rng.below_usize(fields.len())],
                        };
                        let current = region.read_u32(at);
                        let value =
                            interesting_for(kind, VALUE_AT as u32, rng, current, max.min(1 << 16));
                        region.write_u32(at, value);
                    }
                }
                4 => {
                    // Random whole words over a random range.
                    let start = rng.below_usize(SIZE) & !3;
                    let n = (1 + rng.below_usize((SIZE - start).min(64)) + 3) & !3;
                    let bytes = rng.bytes(n);
                    region.write(start, &bytes);
                }
                5 => len = rng.below_usize(if which == Which::One { 256 } else { SIZE }),
                6 => offset = 1 + rng.below_usize(REGION_ALIGN - 1),
                _ => region.write_u32(off::KIND, other as u32),
            }
        }
    }
    let check = |result: &Result<(), AttachError>| match (mode, result) {
        (5, Err(AttachError::RegionTooSmall { len: l, .. })) => assert_eq!(*l, len),
        (5, other) => panic!("truncated to {len}: {other:?}"),
        (6, Err(AttachError::Misaligned { offset: o })) => assert_eq!(*o, offset),
        (6, other) => panic!("misaligned by {offset}: {other:?}"),
        (7, Err(AttachError::KindMismatch { expected, found })) => {
            assert_eq!((*expected, *found), (kind, other as u32));
        }
        (7, other) => panic!("the other kind: {other:?}"),
        _ => {}
    };
    let short = Some(Duration::from_nanos(TICK_NS));
    match which {
        Which::One => match region.sem_attach_at(offset, len, w()) {
            Ok(mut sem) => {
                check(&Ok(()));
                stats.ok("attach semaphore");
                sem.set_spin_limit(1);
                let max = sem.max();
                assert!(max >= 1 && sem.value() <= max);
                for result in [
                    sem.post(1),
                    sem.try_wait(1),
                    sem.wait(1 + rng.below(3) as u32, short),
                    sem.try_wait_zero(),
                    sem.wait_zero(short),
                    sem.post(max),
                ] {
                    if let Err(e) = result {
                        stats.saw(semaphore_error_name(&e));
                    }
                }
                assert!(sem.value() <= max);
                stats.ops += 1;
            }
            Err(e) => {
                check(&Err(e));
                stats.saw(attach_error_name(&e));
            }
        },
        Which::Set => match region.set_attach_at(offset, len, w()) {
            Ok(mut set) => {
                check(&Ok(()));
                stats.ok("attach set");
                set.set_spin_limit(1);
                let (count, max) = (set.count(), set.max());
                assert!((1..=MAX_COUNTERS).contains(&count) && max >= 1);
                assert!((0..count).all(|i| set.value(i).is_some_and(|v| v <= max)));
                assert_eq!(set.value(count), None);
                let ops = [
                    SemOp::wait(0, 1),
                    SemOp::post(count - 1, 1),
                    SemOp::wait_zero(0),
                ];
                let k = 1 + rng.below_usize(ops.len());
                let mut out = [0; MAX_COUNTERS as usize];
                for result in [
                    set.try_op(&ops[..k]),
                    set.op(&ops[..k], short),
                    set.try_snapshot(&mut out)
                        .map(|n| assert_eq!(n, count as usize)),
                ] {
                    if let Err(e) = result {
                        stats.saw(set_op_error_name(&e));
                    }
                }
                let _ = set.lock_holder();
                stats.ops += 1;
            }
            Err(e) => {
                check(&Err(e));
                stats.saw(attach_error_name(&e));
            }
        },
    }
}

/// A hostile phase over a live semaphore and a live set (random words,
/// random calls, every call returning), then a peer that writes a
/// consistent region back: the next calls are exact again.
#[test]
fn semaphores_are_exact_again_after_restoration() {
    let cfg = config();
    let iters = (cfg.iters / 8).max(8);
    let stats = watchdog("semaphore restoration", cfg, move |progress| {
        let mut rng = Rng::new(cfg.seed, stream_of("semaphore restoration"));
        let mut stats = Stats::default();
        let clock = TickClock::default();
        let w = || Spin::new(clock.clone());
        let short = Some(Duration::from_nanos(SHORT_NS));
        let rounds = if cfg!(miri) { 2 } else { 8 };
        let (sem_fields, set_fields) = (field_words(Which::One), field_words(Which::Set));
        for round in 0..rounds {
            let region = HeapRegion::zeroed(SIZE);
            stats.regions += 1;
            let max = [1, 5, u32::MAX][round % 3];
            let mut sem = region.sem_init(0, max, w());
            sem.set_spin_limit(1);
            for iter in 0..iters {
                progress.at(round as u64, iter, u64::MAX);
                if rng.one_in(2) {
                    let at = sem_fields[rng.below_usize(sem_fields.len())];
                    let current = region.read_u32(at);
                    let value =
                        interesting_for(Kind::Semaphore, 128, &mut rng, current, max.min(1 << 16));
                    region.write_u32(at, value);
                    stats.corruptions += 1;
                }
                let n = rng.below(4) as u32;
                let result = match rng.below(5) {
                    0 => sem.post(n),
                    1 => sem.try_wait(n),
                    2 => sem.wait(n, short),
                    3 => sem.try_wait_zero(),
                    _ => sem.wait_zero(short),
                };
                if let Err(e) = result {
                    stats.saw(semaphore_error_name(&e));
                }
                assert!(sem.value() <= max);
                stats.ops += 1;
            }
            // The peer writes the value and event counts back.
            region.write_u32(VALUE_AT, 0);
            for at in (VALUE_AT + 4..VALUE_AT + 20).step_by(4) {
                region.write_u32(at, 0);
            }
            exact_semaphore(&sem, short);
            drop(sem);
            // Or lays it out again, and attaches.
            drop(region.sem_init(0, max, w()));
            let mut sem = region
                .sem_attach_at(0, SIZE, w())
                .expect("attach after init");
            sem.set_spin_limit(1);
            exact_semaphore(&sem, short);
            drop(sem);

            let count = 1 + rng.below(u64::from(MAX_COUNTERS)) as u32;
            let mut set = region.set_init(&vec![0; count as usize], max, w());
            set.set_spin_limit(1);
            for iter in 0..iters {
                progress.at(round as u64, iter, u64::MAX);
                if rng.one_in(2) {
                    let at = set_fields[rng.below_usize(set_fields.len())];
                    let current = region.read_u32(at);
                    let value = interesting_for(
                        Kind::SemaphoreSet,
                        144,
                        &mut rng,
                        current,
                        max.min(1 << 16),
                    );
                    region.write_u32(at, value);
                    stats.corruptions += 1;
                }
                let index = rng.below(u64::from(count) + 1) as u32;
                let n = rng.below(3) as u32;
                let ops = [
                    SemOp::wait(index, n),
                    SemOp::post(rng.below(u64::from(count)) as u32, 1),
                ];
                let k = rng.below_usize(3);
                let result = match rng.below(3) {
                    0 => set.try_op(&ops[..k]),
                    1 => set.op(&ops[..k], short),
                    _ => set.try_snapshot(&mut [0; 4]).map(drop),
                };
                if let Err(e) = result {
                    stats.saw(set_op_error_name(&e));
                }
                stats.ops += 1;
            }
            // The peer frees the lock and zeroes the counters and events.
            for at in (SET_LOCK_AT..COUNTERS_AT + 4 * MAX_COUNTERS as usize).step_by(4) {
                region.write_u32(at, 0);
            }
            exact_set(&set, short);
            stats.ok("restoration round trip");
        }
        stats
    });
    stats.report("semaphore restoration", cfg);
}

/// A semaphore at 0 behaves exactly.
fn exact_semaphore(sem: &Semaphore<'_, W>, short: Option<Duration>) {
    let max = sem.max();
    assert_eq!(sem.value(), 0);
    assert_eq!(sem.try_wait(1), Err(SemaphoreError::WouldBlock));
    assert_eq!(sem.wait(1, short), Err(SemaphoreError::Timeout));
    assert_eq!(sem.try_wait_zero(), Ok(()));
    assert_eq!(sem.post(1), Ok(()));
    assert_eq!(sem.wait_zero(short), Err(SemaphoreError::Timeout));
    if max < u32::MAX {
        assert_eq!(sem.try_wait(max + 1), Err(SemaphoreError::InvalidCount));
    }
    assert_eq!(sem.post(max), Err(SemaphoreError::Overflow));
    assert_eq!(sem.value(), 1);
    assert_eq!(sem.wait(1, short), Ok(()));
    assert_eq!(sem.post(max), Ok(()));
    assert_eq!(sem.try_wait(max), Ok(()));
    assert_eq!(sem.value(), 0);
}

/// A set with every counter at 0 and its lock free behaves exactly.
fn exact_set(set: &SemaphoreSet<'_, W>, short: Option<Duration>) {
    let (count, max) = (set.count(), set.max());
    let last = count - 1;
    let mut out = vec![u32::MAX; count as usize];
    assert_eq!(set.try_snapshot(&mut out), Ok(count as usize));
    assert!(out.iter().all(|&v| v == 0));
    assert_eq!(set.lock_holder(), None);
    assert_eq!(
        set.try_op(&[SemOp::wait(0, 1)]),
        Err(SetOpError::WouldBlock)
    );
    assert_eq!(
        set.op(&[SemOp::wait(last, 1)], short),
        Err(SetOpError::Timeout)
    );
    let posts = [SemOp::post(0, 1), SemOp::post(last, 1)];
    let posts = if count > 1 { &posts[..] } else { &posts[..1] };
    assert_eq!(set.try_op(posts), Ok(()));
    // All or nothing: the wait for zero holds back the take.
    let ops = [SemOp::wait(0, 1), SemOp::wait_zero(last)];
    if count > 1 {
        assert_eq!(set.try_op(&ops), Err(SetOpError::WouldBlock));
        assert_eq!(set.value(0), Some(1));
    }
    assert!(matches!(
        set.try_op(&[SemOp::post(0, max)]),
        Err(SetOpError::Overflow { .. })
    ));
    assert!(matches!(
        set.try_op(&[SemOp::wait(count, 1)]),
        Err(SetOpError::IndexOutOfRange { .. })
    ));
    let take = [SemOp::wait(0, 1), SemOp::wait(last, 1)];
    let take = if count > 1 { &take[..] } else { &take[..1] };
    assert_eq!(set.op(take, short), Ok(()));
    assert_eq!((set.value(0), set.value(last)), (Some(0), Some(0)));
}
