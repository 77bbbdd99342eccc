//! Dining philosophers, one process each, over one named semaphore set:
//! counters 0..5 are the forks, then the philosophers still eating, the
//! philosophers seated, and a gate. A philosopher takes both its forks in
//! one all-or-nothing call, so the classic deadlock (everyone holding a left
//! fork) cannot happen; a table of fork owners in shared memory, claimed
//! with a CAS at every meal, shows that no fork is ever held by two
//! philosophers. The same set is the start barrier (everyone seated, then
//! the gate opens: `semop` with 0) and the end (the parent sleeps until no
//! one is eating).

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use annulus::semaphore::SemOp;
use annulus_linux::named::NamedSemaphoreSet;
use annulus_linux::{Mapping, SharedMemory};
use annulus_process_tests::{CHILD_NAME, ChildGuard, UniqueName, child_name, child_role};

const PHILOSOPHERS: u32 = 5;
/// The counter of philosophers that have not finished.
const EATING: u32 = PHILOSOPHERS;
/// The counter of philosophers at the table, waiting for the gate.
const SEATED: u32 = PHILOSOPHERS + 1;
/// 1 while the gate is closed; philosophers wait for it to be 0.
const GATE: u32 = PHILOSOPHERS + 2;
const COUNTERS: usize = PHILOSOPHERS as usize + 3;
const MEALS: u32 = 2_000;
/// Bytes of the table: fork owners, then meal counts.
const TABLE: usize = 4096;
/// Watchdog for every wait; never a timing assertion.
const WATCHDOG: Option<Duration> = Some(Duration::from_secs(60));

fn names(base: &str) -> (String, String) {
    (format!("{base}.forks"), format!("{base}.table"))
}

/// Word `index` of the table: fork owners at 0..5 (0 = on the table, else
/// philosopher + 1), meal counts at 16..21, waits at 32..37.
fn word(table: &Mapping, index: usize) -> &AtomicU32 {
    assert!(index < TABLE / 4);
    // SAFETY: `index` is inside the mapping (asserted), which is page
    // aligned, so the word is aligned; every process accesses the table
    // only through atomics; the mapping outlives the borrow.
    unsafe { AtomicU32::from_ptr(table.ptr().as_ptr().cast::<u32>().add(index)) }
}

fn meals(table: &Mapping, philosopher: u32) -> &AtomicU32 {
    word(table, 16 + philosopher as usize)
}

/// How often a philosopher found a fork in use and had to wait.
fn waited(table: &Mapping, philosopher: u32) -> &AtomicU32 {
    word(table, 32 + philosopher as usize)
}

#[test]
fn philosophers_in_five_processes_share_forks_without_deadlock() {
    if child_role().is_some() {
        return; // children run `philosopher` only
    }
    let base = UniqueName::new("philosophers");
    let (forks_name, table_name) = names(&base.0);
    let _forks_guard = UniqueName(forks_name.clone());
    let _table_guard = UniqueName(table_name.clone());
    let mut initial = [1u32; COUNTERS];
    initial[EATING as usize] = PHILOSOPHERS;
    initial[SEATED as usize] = 0;
    initial[GATE as usize] = 1;
    let forks = NamedSemaphoreSet::create(&forks_name, &initial, PHILOSOPHERS).unwrap();
    let table = SharedMemory::create(&table_name, TABLE, 0o600).unwrap();
    let children: Vec<ChildGuard> = (0..PHILOSOPHERS)
        .map(|id| {
            ChildGuard::spawn(
                "philosopher",
                &id.to_string(),
                &[(CHILD_NAME, base.0.clone())],
            )
            .unwrap()
        })
        .collect();
    // Everyone seated, then open the gate, so they all eat at once.
    let open = [SemOp::wait(SEATED, PHILOSOPHERS), SemOp::wait(GATE, 1)];
    forks
        .set()
        .op(&open, WATCHDOG)
        .expect("every philosopher sits");
    // Sleeps (across processes) until every philosopher has left.
    forks
        .set()
        .op(&[SemOp::wait_zero(EATING)], WATCHDOG)
        .expect("every philosopher finishes: no deadlock");
    for child in children {
        child.wait_success(Duration::from_secs(60)).unwrap();
    }
    let table = table.map().unwrap();
    for p in 0..PHILOSOPHERS {
        assert_eq!(meals(&table, p).load(Ordering::Acquire), MEALS);
        assert_eq!(word(&table, p as usize).load(Ordering::Acquire), 0);
    }
    let mut values = [0u32; COUNTERS];
    assert_eq!(forks.set().try_snapshot(&mut values), Ok(values.len()));
    assert_eq!(
        values,
        [1, 1, 1, 1, 1, 0, 0, 0],
        "every fork back on the table"
    );
    let waits: u32 = (0..PHILOSOPHERS)
        .map(|p| waited(&table, p).load(Ordering::Relaxed))
        .sum();
    eprintln!(
        "{waits} of {} meals found a fork in use",
        PHILOSOPHERS * MEALS
    );
}

#[test]
fn philosopher() {
    let Some(role) = child_role() else {
        return;
    };
    let me: u32 = role.parse().unwrap();
    let (left, right) = (me, (me + 1) % PHILOSOPHERS);
    let (forks_name, table_name) = names(&child_name());
    let forks = NamedSemaphoreSet::open(&forks_name).unwrap();
    let table = SharedMemory::open(&table_name, 0o600, TABLE).unwrap();
    let table = table.map().unwrap();
    let both = |action: fn(u32, u32) -> SemOp| [action(left, 1), action(right, 1)];
    let sit = [SemOp::post(SEATED, 1)];
    forks.set().op(&sit, WATCHDOG).unwrap();
    forks.set().op(&[SemOp::wait_zero(GATE)], WATCHDOG).unwrap();
    for meal in 0..MEALS {
        if forks.set().try_op(&both(SemOp::wait)).is_err() {
            waited(&table, me).fetch_add(1, Ordering::Relaxed);
            forks
                .set()
                .op(&both(SemOp::wait), WATCHDOG)
                .expect("both forks, eventually");
        }
        for fork in [left, right] {
            // Acquire: pairs with the previous holder's Release below.
            if let Err(owner) = word(&table, fork as usize).compare_exchange(
                0,
                me + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                panic!(
                    "philosopher {me}, meal {meal}: fork {fork} is held by philosopher {}",
                    owner - 1
                );
            }
        }
        std::thread::yield_now(); // eat
        for fork in [left, right] {
            // Release: the next holder's claim (Acquire) sees the fork put down.
            word(&table, fork as usize).store(0, Ordering::Release);
        }
        meals(&table, me).fetch_add(1, Ordering::Relaxed);
        // `op`, not `try_op`: another philosopher may hold the set's lock
        // while its process is descheduled.
        forks.set().op(&both(SemOp::post), WATCHDOG).unwrap();
    }
    forks.set().op(&[SemOp::wait(EATING, 1)], WATCHDOG).unwrap();
}
