//! Crashed peers: many times, a child process that produces, consumes, holds
//! semaphore units or sends to a message queue is killed with SIGKILL at a
//! random instant of its loop (a random delay after it starts, so kills land
//! inside operations: between claiming an MPMC slot and publishing it,
//! under a robust set's lock, mid-journal), and the survivor checks:
//!
//! - it is never blocked past the watchdog ([`WATCHDOG`], far above the
//!   recovery bound of one watch slice plus a repair): it notices the death
//!   through the watching calls or a repair;
//! - every message the child reported as sent (a counter on a shared
//!   "board" it bumps after each send returns) is received exactly once, in
//!   order, nothing duplicated, nothing made up;
//! - the object stays usable: roles re-claimed, MPMC slots a dead sender
//!   claimed skipped, a dead holder's semaphore units given back.
//!
//! Iterations per scenario come from `ANNULUS_CRASH_ITERS` (default 4, five
//! scenarios: 20 kills, a few seconds); the seed from `ANNULUS_CRASH_SEED`.
//! The dedicated run of the README (1000 kills):
//!
//! ```text
//! ANNULUS_CRASH_ITERS=200 nice cargo test -j1 --release -p annulus-process-tests \
//!     --test crash -- --nocapture --test-threads=1
//! ```
//!
//! Each scenario prints its kills, messages, the largest time from a kill
//! to the survivor's recovery (a figure, not an assertion), and what the
//! repairs found.

#![allow(unsafe_code)]

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use annulus::mpmc::PopTimeoutError as MpmcPopTimeout;
use annulus::mq::{RecvError, RecvOptions, RecvTimeoutError};
use annulus::semaphore::SemOp;
use annulus::spsc::{PopTimeoutError, PushTimeoutError};
use annulus_linux::named::{
    MpmcRing, NamedMessageQueue, NamedRobustSemaphoreSet, SpscRing, WATCH_SLICE,
};
use annulus_linux::{Mapping, SharedMemory};
use annulus_process_tests::{CHILD_NAME, ChildGuard, UniqueName, child_name, child_role};

/// Watchdog for every survivor's wait; far above the recovery bound.
const WATCHDOG: Duration = Duration::from_secs(30);
/// Longest random delay between the child's start and its kill.
const MAX_DELAY_US: u64 = 20_000;
/// The board's name, in the child's environment.
const CHILD_BOARD: &str = "ANNULUS_CRASH_BOARD";
/// Board word: messages the child reports as sent (or units it holds).
const REPORTED: usize = 0;
/// Board word: non-zero once the child is in its loop.
const STARTED: usize = 1;

fn iters() -> u32 {
    std::env::var("ANNULUS_CRASH_ITERS")
        .ok()
        .map_or(4, |v| v.parse().expect("ANNULUS_CRASH_ITERS is a number"))
}

/// A small xorshift, seeded from `ANNULUS_CRASH_SEED` or the clock.
struct Rng(u64);

impl Rng {
    fn new(tag: &str) -> Self {
        let seed = std::env::var("ANNULUS_CRASH_SEED").map_or_else(
            |_| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            },
            |v| v.parse().expect("ANNULUS_CRASH_SEED is a number"),
        );
        println!("crash[{tag}]: seed {seed} (ANNULUS_CRASH_SEED)");
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Shared words the child reports through: a plain shared memory object.
struct Board {
    _shm: SharedMemory,
    map: Mapping,
    _name: Option<UniqueName>,
}

impl Board {
    fn create() -> Self {
        let name = UniqueName::new("crash-board");
        let shm = SharedMemory::create(&name.0, 4096, 0o600).expect("board");
        let map = shm.map().expect("map the board");
        Board {
            _shm: shm,
            map,
            _name: Some(name),
        }
    }

    fn open() -> Self {
        let name = std::env::var(CHILD_BOARD).expect("board name set by the parent");
        let shm = SharedMemory::open(&name, 0o600, 4096).expect("open the board");
        let map = shm.map().expect("map the board");
        Board {
            _shm: shm,
            map,
            _name: None,
        }
    }

    fn name(&self) -> String {
        self._name.as_ref().map(|n| n.0.clone()).unwrap_or_default()
    }

    fn word(&self, i: usize) -> &AtomicU32 {
        assert!(i < 1024);
        // SAFETY: in bounds of the 4096-byte mapping (page-aligned), which
        // lives as long as `self`; only ever accessed atomically.
        unsafe { AtomicU32::from_ptr(self.map.ptr().as_ptr().cast::<u32>().add(i)) }
    }

    fn report(&self, value: u32) {
        // Release: after the send returned. The parent reads it after the
        // child's death (a synchronisation: the kill and the reap).
        self.word(REPORTED).store(value, Ordering::Release);
    }

    fn reported(&self) -> u32 {
        self.word(REPORTED).load(Ordering::Acquire)
    }

    fn start(&self) {
        self.word(STARTED).store(1, Ordering::Release);
    }
}

/// One kill: spawns the child, waits for it to start its loop, and kills
/// it after a random delay on another thread, which returns the instant
/// the child was dead and reaped.
struct Kill {
    handle: JoinHandle<Instant>,
    killed: &'static AtomicBool,
    pid: u32,
}

impl Kill {
    fn spawn(child_test: &str, name: &str, board: &Board, rng: &mut Rng) -> Self {
        let child = ChildGuard::spawn(
            child_test,
            "crash-child",
            &[(CHILD_NAME, name.to_owned()), (CHILD_BOARD, board.name())],
        )
        .expect("spawn the child");
        let pid = child.id();
        let start = Instant::now();
        while board.word(STARTED).load(Ordering::Acquire) == 0 {
            assert!(start.elapsed() < WATCHDOG, "the child never started");
            std::thread::sleep(Duration::from_micros(200));
        }
        let delay = Duration::from_micros(rng.below(MAX_DELAY_US + 1));
        // One flag per kill, leaked: a few bytes per iteration of a test.
        let killed: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let handle = std::thread::spawn(move || {
            std::thread::sleep(delay);
            child.kill();
            // Release: the reap happened before; the survivor that sees the
            // flag may trust the death.
            killed.store(true, Ordering::Release);
            Instant::now()
        });
        Kill {
            handle,
            killed,
            pid,
        }
    }

    fn done(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    fn join(self) -> Instant {
        self.handle.join().expect("the kill thread")
    }
}

/// The figures of one scenario.
#[derive(Default)]
struct Figures {
    kills: u32,
    messages: u64,
    max_recovery: Duration,
    notes: Vec<(&'static str, u32)>,
}

impl Figures {
    /// After the survivor's drain: waits for the kill, counts the recovery,
    /// and checks that every message the child reported (after its send
    /// returned) was among the `received`.
    fn conclude(&mut self, kill: Kill, received: u64, board: &Board) {
        let killed_at = kill.join();
        self.recovered(killed_at);
        assert!(
            received >= u64::from(board.reported()),
            "a reported message was lost"
        );
        self.messages += received;
    }

    fn recovered(&mut self, killed_at: Instant) {
        self.kills += 1;
        self.max_recovery = self.max_recovery.max(killed_at.elapsed());
    }

    fn note(&mut self, what: &'static str, n: u32) {
        match self.notes.iter_mut().find(|(w, _)| *w == what) {
            Some((_, total)) => *total += n,
            None => self.notes.push((what, n)),
        }
    }

    fn print(&self, tag: &str) {
        let notes: Vec<String> = self.notes.iter().map(|(w, n)| format!("{w}={n}")).collect();
        println!(
            "crash[{tag}]: kills={} messages={} max_recovery={:?} {}",
            self.kills,
            self.messages,
            self.max_recovery,
            notes.join(" ")
        );
    }
}

/// Children stop by themselves after this long, in case the parent died.
fn child_deadline() -> Instant {
    Instant::now() + 2 * WATCHDOG
}

/// A child's loop: tells the parent it started, then runs `step(0)`,
/// `step(1)`, ... until killed (or, if the parent died, the deadline).
fn child_loop(board: &Board, mut step: impl FnMut(u64)) {
    board.start();
    let end = child_deadline();
    let mut n = 0u64;
    while Instant::now() < end {
        step(n);
        n += 1;
    }
}

// SPSC producer killed: the consumer drains, sees Disconnected, and a new
// producer is accepted.

#[test]
fn crash_spsc_producer() {
    if child_role().is_some() {
        return;
    }
    let mut rng = Rng::new("spsc-producer");
    let mut figures = Figures::default();
    for _ in 0..iters() {
        let name = UniqueName::new("crash-spsc-p");
        let board = Board::create();
        let ring = SpscRing::<u64>::create(&name.0, 64).unwrap();
        let mut rx = ring.consumer().unwrap();
        let kill = Kill::spawn("child_spsc_producer", &name.0, &board, &mut rng);
        let mut expected = 0u64;
        loop {
            match ring.pop_watching(&mut rx, Some(WATCHDOG)) {
                Ok(v) => {
                    assert_eq!(v, expected, "in order, once each");
                    expected += 1;
                }
                Err(PopTimeoutError::Disconnected) => break,
                Err(e) => panic!("the consumer was stuck: {e:?}"),
            }
        }
        figures.conclude(kill, expected, &board);
        let mut tx = ring.producer().expect("the role is claimed again");
        tx.push(7).unwrap();
        assert_eq!(rx.pop(), Ok(7));
    }
    figures.print("spsc-producer");
}

#[test]
fn child_spsc_producer() {
    let Some(_) = child_role() else { return };
    let ring = SpscRing::<u64>::open(&child_name()).unwrap();
    let board = Board::open();
    let mut tx = ring.producer().unwrap();
    child_loop(&board, |seq| {
        tx.push_blocking(seq, Some(WATCHDOG)).unwrap();
        board.report(seq as u32 + 1);
    });
}

// SPSC consumer killed: the producer is released from a full ring
// (Disconnected), a new consumer gets what is left, in order.

#[test]
fn crash_spsc_consumer() {
    if child_role().is_some() {
        return;
    }
    let mut rng = Rng::new("spsc-consumer");
    let mut figures = Figures::default();
    for _ in 0..iters() {
        let name = UniqueName::new("crash-spsc-c");
        let board = Board::create();
        let ring = SpscRing::<u64>::create(&name.0, 64).unwrap();
        let mut tx = ring.producer().unwrap();
        let kill = Kill::spawn("child_spsc_consumer", &name.0, &board, &mut rng);
        let mut pushed = 0u64;
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < WATCHDOG, "the producer was stuck");
            if kill.done() {
                ring.release_dead_peers();
            }
            match tx.push_blocking(pushed, Some(WATCH_SLICE)) {
                Ok(()) => pushed += 1,
                Err(PushTimeoutError::Timeout(_)) => {}
                Err(PushTimeoutError::Disconnected(_)) => break,
                Err(e) => panic!("push: {e:?}"),
            }
        }
        let killed_at = kill.join();
        figures.recovered(killed_at);
        let popped = u64::from(board.reported());
        let mut rx = ring.consumer().expect("the role is claimed again");
        let mut left = Vec::new();
        while let Ok(v) = rx.pop() {
            left.push(v);
        }
        // The dead consumer may have taken one message it never reported.
        let first = left.first().copied().unwrap_or(pushed);
        assert!(
            first == popped || first == popped + 1,
            "first left {first}, reported popped {popped}"
        );
        assert_eq!(left, (first..pushed).collect::<Vec<_>>());
        figures.messages += pushed;
        tx.push(7).unwrap();
        assert_eq!(rx.pop(), Ok(7));
    }
    figures.print("spsc-consumer");
}

#[test]
fn child_spsc_consumer() {
    let Some(_) = child_role() else { return };
    let ring = SpscRing::<u64>::open(&child_name()).unwrap();
    let board = Board::open();
    let mut rx = ring.consumer().unwrap();
    child_loop(&board, |count| {
        let v = rx.pop_blocking(Some(WATCHDOG)).unwrap();
        assert_eq!(v, count);
        board.report(count as u32 + 1);
    });
}

// MPMC sender killed (sometimes between claiming a slot and publishing it):
// the repair skips its claim, the receiver gets every reported message once.

#[test]
fn crash_mpmc_sender() {
    if child_role().is_some() {
        return;
    }
    let mut rng = Rng::new("mpmc-sender");
    let mut figures = Figures::default();
    for _ in 0..iters() {
        let name = UniqueName::new("crash-mpmc");
        let board = Board::create();
        let ring = MpmcRing::<u64>::create(&name.0, 64, 4).unwrap();
        let mut rx = ring.receiver().unwrap();
        let kill = Kill::spawn("child_mpmc_sender", &name.0, &board, &mut rng);
        let mut expected = 0u64;
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < WATCHDOG, "the receiver was stuck");
            match rx.pop_blocking(Some(WATCH_SLICE)) {
                Ok(v) => {
                    assert_eq!(v, expected, "in order, once each");
                    expected += 1;
                }
                Err(MpmcPopTimeout::Timeout) if kill.done() => {
                    let report = ring
                        .repair_dead(|_| panic!("no receiver died"))
                        .expect("no other repair runs");
                    figures.note("dead_released", report.dead);
                    figures.note("claims_skipped", report.skipped);
                }
                Err(MpmcPopTimeout::Timeout) => {}
                Err(MpmcPopTimeout::Disconnected) => break,
                Err(e) => panic!("pop: {e:?}"),
            }
        }
        figures.conclude(kill, expected, &board);
        let mut tx = ring.sender().expect("a sender registers again");
        tx.push(7).unwrap();
        assert_eq!(rx.pop(), Ok(7));
    }
    figures.print("mpmc-sender");
}

#[test]
fn child_mpmc_sender() {
    let Some(_) = child_role() else { return };
    let ring = MpmcRing::<u64>::open(&child_name()).unwrap();
    let board = Board::open();
    let mut tx = ring.sender().unwrap();
    child_loop(&board, |seq| {
        tx.push_blocking(seq, Some(WATCHDOG)).unwrap();
        board.report(seq as u32 + 1);
    });
}

// Robust semaphore holder killed (holding units, under the lock, mid
// journal): a waiter for every unit gets them all.

const UNITS: u32 = 3;

#[test]
fn crash_semaphore_holder() {
    if child_role().is_some() {
        return;
    }
    let mut rng = Rng::new("semaphore-holder");
    let mut figures = Figures::default();
    for i in 0..iters() {
        let name = UniqueName::new("crash-sem");
        let board = Board::create();
        let sems = NamedRobustSemaphoreSet::create(&name.0, &[UNITS], UNITS, 4).unwrap();
        let me = sems.holder().unwrap();
        let kill = Kill::spawn("child_semaphore_holder", &name.0, &board, &mut rng);
        let pid = kill.pid;
        // Half the time the waiter blocks before the kill, half after.
        if i % 2 == 1 {
            while !kill.done() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        sems.op_watching(&me, &[SemOp::wait(0, UNITS)], Some(WATCHDOG))
            .expect("every unit comes back within the watchdog");
        let killed_at = kill.join();
        figures.recovered(killed_at);
        assert_eq!(me.adjustment(0), Some(UNITS as i32));
        // The dead child's record is gone (repaired now if the waiter got
        // the units while the child still lived).
        let report = sems.release_dead(&me).expect("nobody else has the lock");
        figures.note("repairs_releasing", report.released);
        let set = sems.set();
        assert!((0..set.holders()).all(|r| set.holder_pid(r) != Some(pid)));
        assert_eq!(set.value(0), Some(0));
        me.post(0, UNITS).unwrap();
        assert_eq!(set.value(0), Some(UNITS));
    }
    figures.print("semaphore-holder");
}

#[test]
fn child_semaphore_holder() {
    let Some(_) = child_role() else { return };
    let sems = NamedRobustSemaphoreSet::open(&child_name()).unwrap();
    let board = Board::open();
    let me = sems.holder().unwrap();
    child_loop(&board, |n| {
        let k = 1 + (n % 2) as u32;
        me.wait(0, k, Some(WATCHDOG)).unwrap();
        board.report(k);
        me.op(&[SemOp::post(0, k)], Some(WATCHDOG)).unwrap();
        board.report(0);
    });
}

// Message-queue sender killed: every reported message arrives once, in
// order; its record comes back.

#[test]
fn crash_mq_sender() {
    if child_role().is_some() {
        return;
    }
    let mut rng = Rng::new("mq-sender");
    let mut figures = Figures::default();
    for _ in 0..iters() {
        let name = UniqueName::new("crash-mq");
        let board = Board::create();
        let mq = NamedMessageQueue::create(&name.0, 8, 8, 4).unwrap();
        let mut rx = mq.endpoint().unwrap();
        let kill = Kill::spawn("child_mq_sender", &name.0, &board, &mut rng);
        let mut expected = 0u64;
        let mut buf = [0u8; 8];
        let start = Instant::now();
        let check = |got: &[u8], expected: &mut u64| {
            let v = u64::from_le_bytes(got.try_into().expect("8 bytes"));
            assert_eq!(v, *expected, "in order, once each");
            *expected += 1;
        };
        loop {
            assert!(start.elapsed() < WATCHDOG, "the receiver was stuck");
            match rx.recv(&mut buf, RecvOptions::default(), Some(WATCH_SLICE)) {
                Ok(got) => check(&buf[..got.len], &mut expected),
                Err(RecvTimeoutError::Timeout) if kill.done() => {
                    // Dead: take what is left, then stop.
                    loop {
                        match rx.try_recv(&mut buf) {
                            Ok(got) => check(&buf[..got.len], &mut expected),
                            Err(RecvError::Empty) => break,
                            Err(e) => panic!("recv: {e:?}"),
                        }
                    }
                    break;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(e) => panic!("recv: {e:?}"),
            }
        }
        figures.conclude(kill, expected, &board);
        assert_eq!(
            mq.release_dead().participants,
            1,
            "the dead record comes back"
        );
        let mut tx = mq.endpoint().expect("a newcomer registers");
        tx.try_send(&7u64.to_le_bytes(), 0, NonZeroU32::MIN)
            .unwrap();
        let got = rx.try_recv(&mut buf).unwrap();
        assert_eq!(&buf[..got.len], &7u64.to_le_bytes());
    }
    figures.print("mq-sender");
}

#[test]
fn child_mq_sender() {
    let Some(_) = child_role() else { return };
    let mq = NamedMessageQueue::open(&child_name()).unwrap();
    let board = Board::open();
    let mut tx = mq.endpoint().unwrap();
    child_loop(&board, |seq| {
        tx.send(&seq.to_le_bytes(), 0, NonZeroU32::MIN, Some(WATCHDOG))
            .unwrap();
        board.report(seq as u32 + 1);
    });
}

// The deterministic case: a child takes every unit and waits to be killed;
// a waiter already blocked for them gets them once the child is dead.

#[test]
fn a_killed_holders_units_reach_a_blocked_waiter() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("crash-sem-all");
    let board = Board::create();
    let sems = NamedRobustSemaphoreSet::create(&name.0, &[UNITS], UNITS, 4).unwrap();
    let me = sems.holder().unwrap();
    let child = ChildGuard::spawn(
        "child_takes_every_unit",
        "crash-child",
        &[(CHILD_NAME, name.0.clone()), (CHILD_BOARD, board.name())],
    )
    .unwrap();
    let start = Instant::now();
    while board.reported() != UNITS {
        assert!(start.elapsed() < WATCHDOG, "the child never took the units");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(sems.set().value(0), Some(0));
    assert_eq!(
        me.try_wait(0, 1),
        Err(annulus::semaphore::SetOpError::WouldBlock)
    );
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        child.kill();
    });
    sems.op_watching(&me, &[SemOp::wait(0, UNITS)], Some(WATCHDOG))
        .expect("the dead child's units come back");
    killer.join().unwrap();
    assert_eq!(me.adjustment(0), Some(UNITS as i32));
}

#[test]
fn child_takes_every_unit() {
    let Some(_) = child_role() else { return };
    let sems = NamedRobustSemaphoreSet::open(&child_name()).unwrap();
    let board = Board::open();
    let me = sems.holder().unwrap();
    me.wait(0, UNITS, Some(WATCHDOG)).unwrap();
    board.report(UNITS);
    std::thread::sleep(2 * WATCHDOG);
}
