//! [`RobustSemaphoreSet`] in one process: undo accounting, the repair of
//! dead holders (killed at every step of an operation, simulated with
//! [`Holder::die_during_op`]), lock take-over, concurrent repairs, and
//! hostile bytes in the lock, journal and records. Interleavings are
//! modelled in loom-tests/tests/robust_semaphore.rs.

extern crate std;

use std::boxed::Box;
use std::vec::Vec;

use super::*;
use crate::region::Region;
use crate::semaphore::{SemOp, SemaphoreSet, SetOpError};
use crate::test_support::{W, waiter};

/// Long enough never to expire in a passing run; a hang becomes a failure.
const LONG: Option<core::time::Duration> = Some(core::time::Duration::from_secs(60));

const HOLDERS: u32 = 4;
type Bytes = Region<{ RobustSemaphoreSet::region_size(2, HOLDERS) }>;

fn region() -> Box<Bytes> {
    Box::new(Region::new())
}

fn set<'r>(r: &'r mut Bytes, initial: &[u32], max: u32) -> RobustSemaphoreSet<'r> {
    RobustSemaphoreSet::init(r.as_uninit_mut(), initial, max, HOLDERS).unwrap()
}

/// Every pid but `dead` is alive.
fn all_but(dead: u32) -> impl FnMut(u32) -> bool {
    move |pid| pid != dead
}

const ALL_POINTS: [CrashPoint; 6] = [
    CrashPoint::AfterLock,
    CrashPoint::BeforeCommit,
    CrashPoint::AfterCommit,
    CrashPoint::MidApply,
    CrashPoint::AfterApply,
    CrashPoint::BeforeUnlock,
];

#[test]
fn layout_limits_and_attach() {
    assert!(RobustSemaphoreSet::layout(0, 1).is_err());
    assert!(RobustSemaphoreSet::layout(65, 1).is_err());
    assert!(RobustSemaphoreSet::layout(1, 0).is_err());
    assert!(RobustSemaphoreSet::layout(1, MAX_HOLDERS + 1).is_err());
    assert_eq!(
        RobustSemaphoreSet::layout(2, 4).unwrap().size,
        1152 + 4 * 3 * 4
    );
    let mut r = region();
    let len = r.as_uninit_mut().len();
    let ptr = NonNull::from(r.as_uninit_mut()).cast::<u8>();
    // SAFETY: a fresh region of `len` bytes, used only through the handles.
    let created = unsafe {
        RobustSemaphoreSet::init_raw(ptr, len, &[3, 0], 5, HOLDERS, InitOptions::default())
    }
    .unwrap();
    // SAFETY: as above; initialised by `init_raw`.
    let attached = unsafe { RobustSemaphoreSet::attach_raw(ptr, len) }.unwrap();
    assert_eq!(
        (attached.count(), attached.max(), attached.holders()),
        (2, 5, HOLDERS)
    );
    assert_eq!(attached.value(0), Some(3));
    assert_eq!(created.value(2), None);
    // A plain set is not a robust one, and the reverse.
    // SAFETY: as above.
    let plain = unsafe { SemaphoreSet::attach_raw(ptr, len, waiter()) };
    assert!(matches!(plain, Err(AttachError::KindMismatch { .. })));
    // SAFETY: as above; too short for the records.
    let short = unsafe { RobustSemaphoreSet::attach_raw(ptr, len - 4) };
    assert!(matches!(short, Err(AttachError::RegionTooSmall { .. })));
}

#[test]
fn undo_operations_are_recorded_and_plain_ones_are_not() {
    let mut r = region();
    let set = set(&mut r, &[4, 0], 8);
    let h = set.holder(7, waiter()).unwrap();
    h.try_op(&[SemOp::wait(0, 3), SemOp::post(1, 1)]).unwrap();
    assert_eq!((h.adjustment(0), h.adjustment(1)), (Some(3), Some(-1)));
    h.post(0, 2).unwrap();
    assert_eq!(h.adjustment(0), Some(1));
    h.try_op_no_undo(&[SemOp::wait(0, 1)]).unwrap();
    assert_eq!(h.adjustment(0), Some(1));
    assert_eq!((set.value(0), set.value(1)), (Some(2), Some(1)));
    assert_eq!(h.try_wait(0, 3), Err(SetOpError::WouldBlock));
    assert_eq!(h.adjustment(0), Some(1), "a failed call records nothing");
    assert_eq!(set.holder_pid(h.index()), Some(7));
    assert_eq!(set.lock_holder(), None);
}

#[test]
fn a_dead_holders_units_come_back_exactly_once() {
    let mut r = region();
    let set = set(&mut r, &[3, 0], 3);
    let a = set.holder(1, waiter()).unwrap();
    let b = set.holder(2, waiter()).unwrap();
    let c = set.holder(3, waiter()).unwrap();
    a.wait(0, 2, LONG).unwrap();
    let a_index = a.index();
    core::mem::forget(a); // killed, holding 2 units
    assert_eq!(set.value(0), Some(1));
    let first = b.release_dead(all_but(1)).unwrap();
    assert_eq!(
        first,
        UndoReport {
            released: 1,
            returned: 2,
            ..UndoReport::default()
        }
    );
    let second = c.release_dead(all_but(1)).unwrap();
    assert_eq!(second, UndoReport::default(), "nothing twice");
    assert_eq!(set.value(0), Some(3));
    assert_eq!(set.holder_pid(a_index), Some(0));
    assert_eq!(set.adjustment(a_index, 0), Some(0));
    // The record is free for a newcomer.
    let d = set.holder(4, waiter()).unwrap();
    assert_eq!(d.index(), a_index);
    assert_eq!(d.adjustment(0), Some(0));
}

#[test]
fn a_dead_posters_units_are_withdrawn_and_clamped() {
    let mut r = region();
    let set = set(&mut r, &[0, 0], 4);
    let a = set.holder(1, waiter()).unwrap();
    let b = set.holder(2, waiter()).unwrap();
    a.post(0, 3).unwrap();
    b.try_op_no_undo(&[SemOp::wait(0, 2)]).unwrap();
    core::mem::forget(a);
    let report = b.release_dead(all_but(1)).unwrap();
    // 1 left, 3 to withdraw: clamped at 0, like semadj at exit.
    assert_eq!((report.withdrawn, report.clamped), (3, 2));
    assert_eq!(set.value(0), Some(0));
}

#[test]
fn dropping_a_holder_gives_back_what_it_holds() {
    let mut r = region();
    let set = set(&mut r, &[2, 0], 2);
    let a = set.holder(1, waiter()).unwrap();
    a.try_wait(0, 2).unwrap();
    let index = a.index();
    drop(a);
    assert_eq!(set.value(0), Some(2));
    assert_eq!(set.holder_pid(index), Some(0));
}

#[test]
fn records_run_out_and_come_back() {
    let mut r = region();
    let set = set(&mut r, &[1, 1], 1);
    assert_eq!(
        set.holder(0, waiter()).unwrap_err(),
        RegisterHolderError::ZeroPid
    );
    let held: Vec<Holder<'_, W>> = (1..=HOLDERS)
        .map(|pid| set.holder(pid, waiter()).unwrap())
        .collect();
    assert_eq!(
        set.holder(99, waiter()).unwrap_err(),
        RegisterHolderError::Full { max: HOLDERS }
    );
    let mut held = held.into_iter();
    let dead = held.next().unwrap();
    core::mem::forget(dead);
    let survivor = held.next().unwrap();
    assert_eq!(survivor.release_dead(all_but(1)).unwrap().released, 1);
    assert!(set.holder(99, waiter()).is_ok());
}

#[test]
fn an_adjustment_cannot_overflow() {
    let mut r = region();
    let set = set(&mut r, &[u32::MAX, 0], u32::MAX);
    let h = set.holder(1, waiter()).unwrap();
    h.try_op_no_undo(&[SemOp::wait(0, u32::MAX)]).unwrap();
    h.try_op_no_undo(&[SemOp::post(0, u32::MAX)]).unwrap();
    h.try_op(&[SemOp::wait(0, i32::MAX as u32)]).unwrap();
    assert_eq!(
        h.try_op(&[SemOp::wait(0, 1)]),
        Err(SetOpError::AdjustOverflow { op: 0 })
    );
    assert_eq!(h.adjustment(0), Some(i32::MAX));
}

/// A holder moves one unit from counter 0 to counter 1 (plain) and takes
/// one unit of counter 0 (undo), and is killed at `at`. Whatever the
/// instant, after a repair the operation happened as a whole or not at
/// all, and the undo unit is back.
#[test]
fn a_holder_killed_at_every_step_is_repaired() {
    for undo in [false, true] {
        for at in ALL_POINTS {
            let mut r = region();
            let set = set(&mut r, &[3, 0], 3);
            let dead = set.holder(1, waiter()).unwrap();
            let survivor = set.holder(2, waiter()).unwrap();
            let ops = [SemOp::wait(0, 1), SemOp::post(1, 1)];
            assert!(dead.die_during_op(&ops, undo, at));
            // The lock is held by the dead: ops cannot get it.
            assert_eq!(
                survivor.try_op(&[SemOp::wait(0, 1)]),
                Err(SetOpError::Contended)
            );
            assert_eq!(
                survivor.release_dead(|_| true),
                Err(ReleaseDeadError::Busy { pid: 1 })
            );
            let report = survivor.release_dead(all_but(1)).unwrap();
            assert!(report.lock_taken_over, "{at:?}");
            assert_eq!(report.released, 1);
            let happened = matches!(
                at,
                CrashPoint::AfterCommit
                    | CrashPoint::MidApply
                    | CrashPoint::AfterApply
                    | CrashPoint::BeforeUnlock
            );
            assert_eq!(
                report.journal_redone,
                matches!(
                    at,
                    CrashPoint::AfterCommit | CrashPoint::MidApply | CrashPoint::AfterApply
                ),
                "{at:?}"
            );
            let (v0, v1) = (set.value(0).unwrap(), set.value(1).unwrap());
            if undo {
                // Taken and given back, posted and withdrawn: as before.
                assert_eq!((v0, v1), (3, 0), "{at:?}");
                assert_eq!(report.returned, u32::from(happened), "{at:?}");
            } else if happened {
                assert_eq!((v0, v1), (2, 1), "{at:?}");
            } else {
                assert_eq!((v0, v1), (3, 0), "{at:?}");
            }
            // Usable afterwards.
            survivor.wait(0, 1, LONG).unwrap();
            survivor.post(0, 1).unwrap();
        }
    }
}

/// A repairer killed in the middle of giving back leaves what the next
/// repair completes: still exactly once.
#[test]
fn a_repairer_killed_under_the_lock_is_repaired_too() {
    let mut r = region();
    let set = set(&mut r, &[2, 0], 2);
    let dead = set.holder(1, waiter()).unwrap();
    dead.try_wait(0, 2).unwrap();
    core::mem::forget(dead);
    // The first repairer dies holding the lock after its give-back was
    // committed (played by hand: lock, commit, stop).
    let repairer = set.holder(2, waiter()).unwrap();
    let token = set.try_lock(repairer.index(), 1).ok().unwrap();
    let mut entry = journal::Entry::new(Some(0));
    entry.changed = 1;
    entry.counters[0] = 2;
    entry.adjust[0] = 0;
    let _ = token;
    assert!(!set.commit_and_apply(&entry, Some(CrashPoint::AfterCommit)));
    core::mem::forget(repairer);
    let last = set.holder(3, waiter()).unwrap();
    let report = last.release_dead(|pid| pid == 3).unwrap();
    assert!(report.lock_taken_over && report.journal_redone);
    // Both dead records freed; the 2 units came back once (by the redo).
    assert_eq!(report.released, 2);
    assert_eq!(report.returned, 0);
    assert_eq!(set.value(0), Some(2));
}

#[test]
fn a_waiter_gets_the_units_of_a_dead_holder() {
    let mut r = region();
    let set = set(&mut r, &[1, 0], 1);
    let dead = set.holder(1, waiter()).unwrap();
    dead.try_wait(0, 1).unwrap();
    core::mem::forget(dead);
    let waiter_h = set.holder(2, waiter()).unwrap();
    let repairer = set.holder(3, waiter()).unwrap();
    std::thread::scope(|s| {
        let blocked = s.spawn(|| waiter_h.wait(0, 1, LONG));
        std::thread::sleep(core::time::Duration::from_millis(5));
        // The sleeping waiter takes the lock for a moment each time it
        // looks; a repair that meets it there is told Busy (its contract:
        // try again later), so the repairer retries, as a caller would.
        let mut busy = 0u32;
        let report = loop {
            match repairer.release_dead(all_but(1)) {
                Err(ReleaseDeadError::Busy { pid: 2 }) if busy < 100_000 => {
                    busy += 1;
                    std::thread::yield_now();
                }
                other => break other.unwrap(),
            }
        };
        assert_eq!((report.released, report.returned), (1, 1));
        assert_eq!(blocked.join().unwrap(), Ok(()));
    });
    assert_eq!(waiter_h.adjustment(0), Some(1));
}

/// Threads take and give back units with undo while one of them "dies"
/// holding some, and two repair at once: at the end every unit is back.
#[test]
fn concurrent_holders_and_repairs_lose_nothing() {
    let mut r = region();
    let set = set(&mut r, &[4, 0], 4);
    let dying = set.holder(100, waiter()).unwrap();
    dying.try_wait(0, 1).unwrap();
    std::thread::scope(|s| {
        for pid in 1..=2u32 {
            s.spawn(move || {
                let h = set.holder(pid, waiter()).unwrap();
                for i in 0..500u32 {
                    h.wait(0, 1 + i % 2, LONG).unwrap();
                    h.post(0, 1 + i % 2).unwrap_or_else(|e| {
                        // Contended: retry blocking.
                        assert_eq!(e, SetOpError::Contended);
                        h.op(&[SemOp::post(0, 1 + i % 2)], LONG).unwrap();
                    });
                    if i % 50 == 0 {
                        let _ = h.release_dead(|p| p != 100);
                    }
                }
            });
        }
        core::mem::forget(dying);
    });
    let last = set.holder(3, waiter()).unwrap();
    let _ = last.release_dead(|p| p != 100).unwrap();
    assert_eq!(set.value(0), Some(4));
    assert!((0..HOLDERS).all(|i| set.holder_pid(i) != Some(100)));
}

#[test]
fn hostile_lock_and_journal_words_give_errors() {
    let mut r = region();
    let set = set(&mut r, &[1, 0], 1);
    let h = set.holder(1, waiter()).unwrap();
    // A forged lock word naming a record out of range: a repair takes it.
    set.state()
        .lock
        .store(1 | (2000 << 2), crate::sync::Ordering::Relaxed);
    assert_eq!(h.try_op(&[SemOp::wait(0, 1)]), Err(SetOpError::Contended));
    assert!(h.release_dead(|_| true).unwrap().lock_taken_over);
    // A corrupted journal: cleared, reported once.
    set.journal().state.store(7, crate::sync::Ordering::Relaxed);
    assert_eq!(
        h.try_op(&[SemOp::wait(0, 1)]),
        Err(SetOpError::StateCorrupted)
    );
    h.try_op(&[SemOp::wait(0, 1)]).unwrap();
    // A committed journal naming a value above max: refused, cleared.
    let j = set.journal();
    j.changed[0].store(1, crate::sync::Ordering::Relaxed);
    j.counters[0].store(9, crate::sync::Ordering::Relaxed);
    j.record
        .store(journal::NO_RECORD, crate::sync::Ordering::Relaxed);
    j.state
        .store(journal::COMMITTED, crate::sync::Ordering::Relaxed);
    assert_eq!(h.release_dead(|_| true), Err(ReleaseDeadError::Corrupted));
    assert_eq!(set.value(0), Some(0));
    h.post(0, 1).unwrap();
}

/// Every record held by the dead, one of them holding the lock: a newcomer
/// takes a dead record over and repairs everything, its own record's units
/// included.
#[test]
fn a_newcomer_reclaims_a_set_full_of_dead_holders() {
    let mut r = region();
    let set = set(&mut r, &[2, 0], 2);
    for pid in 1..HOLDERS {
        let h = set.holder(pid, waiter()).unwrap();
        if pid <= 2 {
            h.try_wait(0, 1).unwrap();
        }
        core::mem::forget(h);
    }
    let last = set.holder(HOLDERS, waiter()).unwrap();
    assert!(last.die_during_op(&[SemOp::post(1, 1)], false, CrashPoint::BeforeUnlock));
    let alive = |pid: u32| pid > 100;
    assert_eq!(
        set.holder(101, waiter()).unwrap_err(),
        RegisterHolderError::Full { max: HOLDERS }
    );
    let (h, report) = set.holder_reclaiming(101, waiter(), alive).unwrap();
    assert!(report.lock_taken_over);
    assert_eq!(report.returned, 2);
    assert_eq!(report.released, HOLDERS - 1);
    assert_eq!((set.value(0), set.value(1)), (Some(2), Some(1)));
    assert_eq!(h.adjustment(0), Some(0));
    h.try_wait(0, 2).unwrap();
}
