//! Robust semaphore sets over hostile memory: the lock word, the journal and
//! the holder records are as untrusted as every other word.
//!
//! `attach_raw` over random and mutated regions (a typed error, or a set
//! that works), then live sets whose lock, counters, journal and holder
//! records are overwritten at random between operations, with the undo
//! repair among the operations: every call returns Ok or a typed error,
//! never panics or hangs; then a restoration check (a set laid out again has
//! exact semantics, a dead holder's units come back).

use core::time::Duration;

use annulus::AttachError;
use annulus::layout::Kind;
use annulus::semaphore::{
    InitOptions, RegisterHolderError, ReleaseDeadError, RobustSemaphoreSet, SemOp, SetOpError,
};
use annulus::wait::Spin;

use crate::support::{
    HeapRegion, Rng, Stats, TickClock, W, config, interesting_for, stream_of, watchdog,
};

const COUNT: u32 = 2;
const HOLDERS: u32 = 3;
const MAX: u32 = 4;
/// Offsets (core/src/semaphore/robust/mod.rs pins them).
const LOCK_AT: usize = 128;
const COUNTERS_AT: usize = 144;
const JOURNAL_AT: usize = 512;
const JOURNAL_END: usize = 1040;
const RECORDS_AT: usize = 1152;

fn size() -> usize {
    RobustSemaphoreSet::region_size(COUNT, HOLDERS)
}

fn init(region: &HeapRegion) -> RobustSemaphoreSet<'_> {
    // SAFETY: the whole allocation, valid while `region` is borrowed; no
    // other view is alive during the call.
    unsafe {
        RobustSemaphoreSet::init_raw(
            region.ptr(),
            region.len(),
            &[MAX, 0],
            MAX,
            HOLDERS,
            InitOptions::default(),
        )
    }
    .unwrap_or_else(|e| panic!("robust set init_raw: {e:?}"))
}

fn attach(region: &HeapRegion, len: usize) -> Result<RobustSemaphoreSet<'_>, AttachError> {
    assert!(len <= region.len());
    // SAFETY: inside the allocation, valid while `region` is borrowed;
    // every byte is initialised (zeroed, then init or random bytes).
    unsafe { RobustSemaphoreSet::attach_raw(region.ptr(), len) }
}

fn w() -> W {
    Spin::new(TickClock::default())
}

/// A word a hostile peer overwrites: anywhere in the lock line, the
/// journal or the records.
fn scribble(region: &HeapRegion, rng: &mut Rng) {
    let offset = match rng.below(4) {
        0 => LOCK_AT,
        1 => COUNTERS_AT + 4 * rng.below_usize(COUNT as usize),
        2 => JOURNAL_AT + 4 * rng.below_usize((JOURNAL_END - JOURNAL_AT) / 4),
        _ => RECORDS_AT + 4 * rng.below_usize((size() - RECORDS_AT) / 4),
    };
    let current = rng.next_u32() % 8;
    let value = interesting_for(
        Kind::RobustSemaphoreSet,
        RECORDS_AT as u32,
        rng,
        current,
        MAX,
    );
    region.write_u32(offset, value);
}

/// Drops a holder (its drop gives back what its record says it holds)
/// after freeing a lock word the scribbles may have left held: dropping
/// waits up to `DROP_PATIENCE` for the lock, which the ticking clock makes
/// thousands of polls long.
fn leave(holder: annulus::semaphore::Holder<'_, W>, region: &HeapRegion) {
    region.write_u32(LOCK_AT, 0);
    drop(holder);
}

fn set_error(stats: &mut Stats, e: SetOpError) {
    stats.saw(match e {
        SetOpError::WouldBlock => "WouldBlock",
        SetOpError::Timeout => "Timeout",
        SetOpError::Overflow { .. } => "Overflow",
        SetOpError::Contended => "Contended",
        SetOpError::Corrupted { .. } => "Corrupted",
        SetOpError::AdjustOverflow { .. } => "AdjustOverflow",
        SetOpError::StateCorrupted => "StateCorrupted",
        other => panic!("an operation that can succeed failed with {other:?}"),
    });
}

#[test]
fn robust_set_attach_survives_random_and_mutated_regions() {
    let cfg = config();
    let stats = watchdog("robust-attach", cfg, move |progress| {
        let mut stats = Stats::default();
        let mut rng = Rng::new(cfg.seed, stream_of("robust-attach"));
        let region = HeapRegion::zeroed(size());
        for iter in 0..cfg.iters {
            progress.at(0, iter, 0);
            stats.regions += 1;
            if rng.one_in(4) {
                region.randomize(&mut rng, 0, size());
            } else {
                let _ = init(&region);
                for _ in 0..=rng.below(3) {
                    let offset = 4 * rng.below_usize(RECORDS_AT / 4 + 2);
                    let value =
                        interesting_for(Kind::RobustSemaphoreSet, 1152, &mut rng, 2, HOLDERS);
                    region.write_u32(offset, value);
                }
            }
            stats.corruptions += 1;
            let len = if rng.one_in(8) {
                rng.below_usize(size())
            } else {
                size()
            };
            match attach(&region, len) {
                Ok(set) => {
                    stats.ok("attach");
                    assert!(set.count() >= 1 && set.holders() >= 1);
                    match set.holder(1, w()) {
                        Ok(h) => {
                            stats.ops += 1;
                            match h.try_op(&[SemOp::wait(0, 1)]) {
                                Ok(()) => stats.ok("try_op"),
                                Err(e) => set_error(&mut stats, e),
                            }
                            match h.release_dead(|pid| pid != 2) {
                                Ok(_) => stats.ok("release_dead"),
                                Err(_) => stats.saw("release_dead error"),
                            }
                        }
                        Err(RegisterHolderError::Full { .. }) => stats.saw("Full"),
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                Err(AttachError::Corrupted) => stats.saw("Corrupted"),
                Err(_) => stats.saw("typed attach error"),
            }
        }
        stats
    });
    stats.report("robust-attach", cfg);
    assert!(stats.has("typed attach error"));
}

#[test]
fn live_robust_set_scribbles_then_restoration() {
    let cfg = config();
    let stats = watchdog("robust-live", cfg, move |progress| {
        let mut stats = Stats::default();
        let mut rng = Rng::new(cfg.seed, stream_of("robust-live"));
        let region = HeapRegion::zeroed(size());
        for iter in 0..cfg.iters.div_ceil(8).max(1) {
            progress.at(1, iter, 0);
            let set = init(&region);
            stats.regions += 1;
            let a = set.holder(1, w()).expect("a record");
            let b = set.holder(2, w()).expect("a record");
            for op in 0..32u64 {
                progress.at(1, iter, op);
                if rng.one_in(3) {
                    scribble(&region, &mut rng);
                    stats.corruptions += 1;
                }
                stats.ops += 1;
                let h = if rng.one_in(2) { &a } else { &b };
                let index = rng.below(u64::from(COUNT)) as u32;
                let n = rng.below(u64::from(MAX) + 1) as u32;
                let ops = [
                    SemOp::wait(index, n),
                    SemOp::post(index ^ 1, rng.below(2) as u32),
                ];
                let result = match rng.below(6) {
                    0 => h.try_op(&ops[..1 + rng.below_usize(2)]),
                    1 => h.try_op_no_undo(&ops[..1 + rng.below_usize(2)]),
                    2 => h.op(&ops[..1], Some(Duration::from_nanos(rng.below(100_000)))),
                    3 => h.post(index, n.min(1)),
                    4 => match h.release_dead(|pid| pid == 1 || pid == 2) {
                        Ok(_) => {
                            stats.ok("release_dead");
                            Ok(())
                        }
                        Err(ReleaseDeadError::Busy { .. }) => {
                            stats.saw("Busy");
                            Ok(())
                        }
                        Err(ReleaseDeadError::Corrupted) => {
                            stats.saw("repair Corrupted");
                            Ok(())
                        }
                        Err(e) => panic!("unexpected {e:?}"),
                    },
                    _ => {
                        // A newcomer registers and leaves (its drop repairs
                        // its own record).
                        match set.holder(3, w()) {
                            Ok(c) => {
                                let _ = c.try_wait(index, 1);
                                stats.ok("register");
                                leave(c, &region);
                            }
                            Err(_) => stats.saw("register error"),
                        }
                        Ok(())
                    }
                };
                match result {
                    Ok(()) => stats.ok("op"),
                    Err(e) => set_error(&mut stats, e),
                }
                for i in 0..=COUNT {
                    assert!(set.value(i).is_none_or(|v| v <= MAX));
                }
                let _ = (set.lock_holder(), set.holder_pid(0), set.adjustment(0, 1));
            }
            leave(a, &region);
            leave(b, &region);
            // Restoration: laid out again, exact semantics, and a dead
            // holder's units come back.
            let set = init(&region);
            // A waiter that owns no heap memory: the "killed" holder is
            // forgotten, and miri's leak check must find nothing behind it.
            let dead = set.holder(7, Spin::new(|| 0u64)).expect("a record");
            dead.try_wait(0, 3).expect("units after restore");
            core::mem::forget(dead);
            let survivor = set.holder(8, w()).expect("a record");
            let report = survivor.release_dead(|pid| pid != 7).expect("a repair");
            assert_eq!((report.released, report.returned), (1, 3));
            assert_eq!(set.value(0), Some(MAX));
        }
        stats
    });
    stats.report("robust-live", cfg);
    assert!(stats.ok.contains_key("op"));
}
