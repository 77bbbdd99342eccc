//! loom models of the MPMC ring (core/src/mpmc): several senders and
//! receivers through a capacity-2 ring (so positions wrap), slices, blocking
//! calls and disconnects, and the repair of participants that die between
//! claiming a slot and finishing it.
//!
//! Every model uses at most three threads (the main thread included). The slot
//! tracker in core fails a model if two participants (or a participant and a
//! repair) ever touch a slot without a happens-before edge between them; a
//! blocked call whose wake-up is lost, or a ring wedged for good, fails it
//! with a deadlock (blocking calls) or by exhausting loom's branch budget
//! (polling calls).
//!
//! In the three-thread models at most one participant polls (`push`/`pop`
//! in a loop with `yield_now`); the others block (`*_blocking`, spin limit
//! 0) or run to the end, and a repair thread re-runs its repair (yielding
//! in between) only while the live participant it defers to is inside a
//! claim, hence runnable. loom's scheduler may let two polling threads yield
//! to each other forever while the thread they both wait for is preempted
//! (between its claim and its publish, say), which exhausts the branch
//! budget without being a bug; a thread asleep on the futex model is never
//! scheduled.
//!
//! Pids tell participants apart: senders are 1 and 2, receivers 3 and 4, the
//! repairer 100. A repair's liveness predicate only ever declares dead a
//! participant whose `die_after_claim` happened before the repair, on the same
//! thread: a process that has exited, as a pidfd would report it.
#![cfg(loom)]

use annulus::claim::Claim;
use annulus::mpmc::{PopError, PopTimeoutError, PushError, PushSliceError, PushTimeoutError};
use loom::thread;
use loom_tests::{LoomMpmc, LoomReceiver, LoomSender, LoomWait};

type Tx = LoomSender<u32>;
type Rx = LoomReceiver<u32>;

/// Pid of the process that runs the repairs.
const REPAIRER: u32 = 100;

/// `loom::model` with at most `preemptions` preemptions, whatever
/// `LOOM_MAX_PREEMPTIONS` allows: for the dead-sender repair model, whose
/// four concurrent parties (dead sender, live sender, receiver, repair that
/// visits every participant record) take minutes at 2.
fn model_with_preemptions(preemptions: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(
        builder
            .preemption_bound
            .map_or(preemptions, |bound| bound.min(preemptions)),
    );
    builder.check(f);
}

/// Pushes `value`, yielding while the ring is full.
fn push_spin(tx: &mut Tx, value: u32) {
    let mut value = value;
    loop {
        match tx.push(value) {
            Ok(()) => return,
            Err(PushError::Full(v)) => {
                value = v;
                thread::yield_now();
            }
            Err(e) => panic!("push failed: {e:?}"),
        }
    }
}

/// Pops until every sender has left and the ring is drained, yielding while
/// it is empty; returns what it received, in order.
fn pop_spin_until_disconnected(rx: &mut Rx) -> Vec<u32> {
    let mut got = Vec::new();
    loop {
        match rx.pop() {
            Ok(v) => got.push(v),
            Err(PopError::Empty) => thread::yield_now(),
            Err(PopError::Disconnected) => return got,
            Err(e) => panic!("pop failed: {e:?}"),
        }
    }
}

/// Pops with `pop_blocking` (no timeout) until it reports `Disconnected`;
/// returns what it received, in order.
fn pop_blocking_until_disconnected(rx: &mut Rx) -> Vec<u32> {
    let mut got = Vec::new();
    loop {
        match rx.pop_blocking(None) {
            Ok(v) => got.push(v),
            Err(PopTimeoutError::Disconnected) => return got,
            Err(e) => panic!("pop_blocking failed: {e:?}"),
        }
    }
}

/// A sender for `pid` whose blocking calls sleep at once (spin limit 0).
fn blocking_sender(ring: &LoomMpmc<u32>, pid: u32, wait: &LoomWait) -> Tx {
    let mut tx = ring.sender(pid, wait.clone()).expect("free record");
    tx.set_spin_limit(0);
    tx
}

/// A receiver for `pid` whose blocking calls sleep at once (spin limit 0).
fn blocking_receiver(ring: &LoomMpmc<u32>, pid: u32, wait: &LoomWait) -> Rx {
    let mut rx = ring.receiver(pid, wait.clone()).expect("free record");
    rx.set_spin_limit(0);
    rx
}

/// The values from sender `pid` (values are `10 * pid + n`), in the order
/// they appear in `got`.
fn from_sender(got: &[u32], pid: u32) -> Vec<u32> {
    got.iter().copied().filter(|v| v / 10 == pid).collect()
}

/// Moves both positions to 1 (sequentially, before any thread starts), so a
/// two-slot transfer on a capacity-2 ring wraps from slot 1 to slot 0.
fn offset_by_one(tx: &mut Tx, rx: &mut Rx) {
    tx.push(0).expect("empty ring");
    assert_eq!(rx.pop(), Ok(0));
}

/// Two senders, one sending two values and the other one, through a
/// capacity-2 ring (so a slot is reused) to one receiver, which polls with
/// `pop`; the senders use `push_blocking` with a spin limit of 0, so they
/// sleep while the ring is full and only the receiver's notify can wake
/// them. The receiver gets all three exactly once, the first sender's two in
/// the order sent, and `Disconnected` only once both senders have gone; no
/// wake-up is lost.
#[test]
fn two_senders_one_receiver() {
    loom::model(|| {
        let ring = LoomMpmc::<u32>::new(2, 3);
        let wait = LoomWait::new();
        let mut rx = ring.receiver(3, wait.clone()).expect("free record");
        let senders: Vec<_> = [(1u32, 2u32), (2, 1)]
            .into_iter()
            .map(|(pid, count)| {
                let mut tx = blocking_sender(&ring, pid, &wait);
                thread::spawn(move || {
                    for n in 1..=count {
                        tx.push_blocking(10 * pid + n, None)
                            .expect("the receiver is there");
                    }
                })
            })
            .collect();
        let got = pop_spin_until_disconnected(&mut rx);
        for sender in senders {
            sender.join().expect("sender thread");
        }
        assert_eq!(got.len(), 3, "got {got:?}");
        assert_eq!(from_sender(&got, 1), [11, 12], "got {got:?}");
        assert_eq!(from_sender(&got, 2), [21], "got {got:?}");
        assert!(ring.is_empty());
    });
}

/// One sender pushes 1 and 2 with `push` into a capacity-2 ring whose
/// positions start at 1 (so the two wrap from slot 1 to slot 0) and leaves;
/// two receivers race for them until `Disconnected`, one polling with `pop`,
/// the other sleeping in `pop_blocking` (spin limit 0). Each value goes to
/// exactly one receiver, each receiver gets its share in the order sent, the
/// sleeping receiver misses no wake-up, and the sender's departure ends both.
/// (Only one receiver polls: see the module docs.)
#[test]
fn one_sender_two_receivers() {
    loom::model(|| {
        let ring = LoomMpmc::<u32>::new(2, 3);
        let wait = LoomWait::new();
        let mut tx = ring.sender(1, wait.clone()).expect("free record");
        let mut polling = ring.receiver(3, wait.clone()).expect("free record");
        offset_by_one(&mut tx, &mut polling);
        let mut sleeping = blocking_receiver(&ring, 4, &wait);
        let receivers = [
            thread::spawn(move || pop_spin_until_disconnected(&mut polling)),
            thread::spawn(move || pop_blocking_until_disconnected(&mut sleeping)),
        ];
        tx.push(1).expect("empty ring");
        tx.push(2).expect("one slot left");
        drop(tx);
        let mut all = Vec::new();
        for receiver in receivers {
            let got = receiver.join().expect("receiver thread");
            assert!(got.is_sorted(), "out of order: {got:?}");
            all.extend(got);
        }
        all.sort_unstable();
        assert_eq!(all, [1, 2], "each value exactly once");
    });
}

/// `push_slice` and `pop_slice` move runs that wrap past the end of the body
/// (positions start at 1 on a capacity-2 ring), in pieces as space and data
/// appear; each batch is claimed with one CAS. The receiver gets exactly 1,
/// 2, 3, then `Disconnected`.
#[test]
fn slices_across_wrap() {
    loom::model(|| {
        let ring = LoomMpmc::<u32>::new(2, 2);
        let wait = LoomWait::new();
        let mut tx = ring.sender(1, wait.clone()).expect("free record");
        let mut rx = ring.receiver(3, wait).expect("free record");
        offset_by_one(&mut tx, &mut rx);
        let sender = thread::spawn(move || {
            let values = [1, 2, 3];
            let mut sent = 0;
            while sent < values.len() {
                match tx.push_slice(&values[sent..]) {
                    Ok(n) => sent += n,
                    Err(PushSliceError::Full) => thread::yield_now(),
                    Err(e) => panic!("push_slice failed: {e:?}"),
                }
            }
        });
        let mut got = Vec::new();
        loop {
            let mut buf = [0u32; 2];
            match rx.pop_slice(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(PopError::Empty) => thread::yield_now(),
                Err(PopError::Disconnected) => break,
                Err(e) => panic!("pop_slice failed: {e:?}"),
            }
        }
        sender.join().expect("sender thread");
        assert_eq!(got, [1, 2, 3]);
    });
}

/// A receiver blocks (no timeout) on an empty ring with two senders: one
/// sends a value and leaves, the other leaves without sending. The first
/// departure does not disconnect the receiver; the last one wakes it, after
/// the value, with `Disconnected`.
#[test]
fn last_sender_drop_wakes_blocked_receiver() {
    loom::model(|| {
        let ring = LoomMpmc::<u32>::new(2, 3);
        let wait = LoomWait::new();
        let mut rx = blocking_receiver(&ring, 3, &wait);
        let mut tx1 = ring.sender(1, wait.clone()).expect("free record");
        let tx2 = ring.sender(2, wait).expect("free record");
        let first = thread::spawn(move || {
            tx1.push(11).expect("empty ring");
            drop(tx1);
        });
        let second = thread::spawn(move || drop(tx2));
        assert_eq!(rx.pop_blocking(None), Ok(11));
        assert_eq!(rx.pop_blocking(None), Err(PopTimeoutError::Disconnected));
        first.join().expect("first sender");
        second.join().expect("second sender");
        assert_eq!(ring.senders(), 0);
    });
}

/// A sender blocks (no timeout) on a full capacity-2 ring whose two
/// receivers leave without receiving: the first departure does not
/// disconnect it; the last one wakes it with `Disconnected` and its value.
#[test]
fn last_receiver_drop_wakes_blocked_sender() {
    loom::model(|| {
        let ring = LoomMpmc::<u32>::new(2, 3);
        let wait = LoomWait::new();
        let mut tx = blocking_sender(&ring, 1, &wait);
        tx.push(11).expect("empty ring");
        tx.push(12).expect("one slot left");
        let receivers: Vec<_> = [3u32, 4]
            .into_iter()
            .map(|pid| {
                let rx = ring.receiver(pid, wait.clone()).expect("free record");
                thread::spawn(move || drop(rx))
            })
            .collect();
        match tx.push_blocking(13, None) {
            Err(PushTimeoutError::Disconnected(13)) => {}
            other => panic!("expected Disconnected(13), got {other:?}"),
        }
        for receiver in receivers {
            receiver.join().expect("receiver thread");
        }
        assert_eq!(ring.receivers(), 0);
    });
}

/// What the repairs that released a dead participant did, in all.
#[derive(Debug, Default)]
struct Repaired {
    /// Repairs run until one released the dead participant's record.
    runs: u32,
    /// Slots they marked skipped.
    skipped: u32,
    /// Orphans their reports counted.
    orphans: u32,
    /// Messages they handed to `on_orphan`, in order.
    orphaned: Vec<u32>,
}

/// Runs, on this thread, what a watchdog runs once it learns that process
/// `dead` exited: repairs (everyone else alive) that wake sleepers through
/// `wait`, the futex the participants sleep on, until one of them releases
/// the dead participant's record. A repair may leave the record for a later
/// one while a live participant's intent still names one of its slots; it
/// never releases any other record.
fn repair_after_death(ring: &LoomMpmc<u32>, wait: &LoomWait, dead: u32) -> Repaired {
    let mut repaired = Repaired::default();
    loop {
        let report = ring
            .repair(
                REPAIRER,
                wait,
                |claim: Claim| claim.pid != dead,
                |m| repaired.orphaned.push(m),
            )
            .expect("the only repair running");
        repaired.runs += 1;
        repaired.skipped += report.skipped;
        repaired.orphans += report.orphans;
        match report.dead {
            1 => return repaired,
            0 => thread::yield_now(),
            n => panic!("{n} participants released, only pid {dead} is dead"),
        }
    }
}

/// Sender 2 claims a slot, writes 666 into it and dies, racing sender 1,
/// which sends 11 and 12 through the capacity-2 ring with `push` (so it
/// needs the slot the dead one holds, one lap later, and polls while the
/// ring is wedged); the repair that follows the death runs concurrently with
/// the live sender and the receiver, which sleeps in `pop_blocking` while
/// the dead slot stops it. The receiver gets exactly 11, 12, never 666, and
/// then `Disconnected` (the repair released the dead sender's record and
/// woke it): nothing hangs. Explored with at most one preemption (about two
/// minutes at two).
#[test]
fn repair_skips_a_dead_senders_slot() {
    model_with_preemptions(1, || {
        let ring = LoomMpmc::<u32>::new(2, 3);
        let wait = LoomWait::new();
        let mut rx = blocking_receiver(&ring, 3, &wait);
        let mut live = ring.sender(1, wait.clone()).expect("free record");
        let dead = ring.sender(2, wait.clone()).expect("free record");
        let repairer = {
            let ring = ring.clone();
            thread::spawn(move || {
                let claimed = dead.into_inner_with(|tx| tx.die_after_claim(666));
                let repaired = repair_after_death(&ring, &wait, 2);
                assert_eq!(
                    (repaired.skipped, repaired.orphans),
                    (u32::from(claimed), 0),
                    "claimed: {claimed}, {repaired:?}"
                );
            })
        };
        let sender = thread::spawn(move || {
            push_spin(&mut live, 11);
            push_spin(&mut live, 12);
        });
        let got = pop_blocking_until_disconnected(&mut rx);
        sender.join().expect("live sender");
        repairer.join().expect("repairer");
        assert_eq!(got, [11, 12]);
        assert_eq!(ring.senders(), 0);
    });
}

/// Receiver 4 claims the next message and dies before reading it, racing
/// receiver 3, while sender 1 sends 1 (before the threads start), 2 and 3
/// through the capacity-2 ring with `push_blocking` (sleeping while the dead
/// receiver's slot stops it) and leaves; the repair that follows the death
/// runs concurrently with both and must wake the sender. The message the
/// dead receiver held comes back through `on_orphan` exactly once (one if it
/// claimed one, none otherwise) and is not also received by the live
/// receiver, which gets the others in order, then `Disconnected`.
#[test]
fn repair_returns_a_dead_receivers_message() {
    loom::model(|| {
        let ring = LoomMpmc::<u32>::new(2, 3);
        let wait = LoomWait::new();
        let mut tx = blocking_sender(&ring, 1, &wait);
        let mut rx = ring.receiver(3, wait.clone()).expect("free record");
        let dead = ring.receiver(4, wait.clone()).expect("free record");
        tx.push(1).expect("empty ring");
        let repairer = {
            let ring = ring.clone();
            thread::spawn(move || {
                let claimed = dead.into_inner_with(|rx| rx.die_after_claim());
                let repaired = repair_after_death(&ring, &wait, 4);
                let n = u32::from(claimed);
                assert_eq!(
                    (repaired.skipped, repaired.orphans),
                    (0, n),
                    "claimed: {claimed}, {repaired:?}"
                );
                assert_eq!(repaired.orphaned.len(), n as usize, "{repaired:?}");
                repaired.orphaned
            })
        };
        let sender = thread::spawn(move || {
            for v in 2..=3 {
                tx.push_blocking(v, None).expect("a receiver is there");
            }
        });
        let got = pop_spin_until_disconnected(&mut rx);
        sender.join().expect("sender");
        let orphans = repairer.join().expect("repairer");
        assert!(got.is_sorted(), "out of order: {got:?}");
        let mut all = got.clone();
        all.extend(&orphans);
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3], "received {got:?}, orphans {orphans:?}");
        assert_eq!(ring.receivers(), 1);
    });
}

/// A live sender sends 12 while sender 2 races it for position 1 of the
/// capacity-2 ring and dies right after its claim attempt; the receiver
/// starts only after the repair, so slot 0 keeps 11 meanwhile and the loser
/// of the race finds no other slot. A sender killed right after losing
/// leaves an intent that names the slot the live sender won (the hook
/// reproduces that only if a failed claim does not clear its intent before
/// returning); the repair (everyone alive but 2) then runs while the live
/// sender may be anywhere between its claim and its publish. The repair skips the dead sender's slot if it won
/// one and otherwise leaves the live sender's slot alone (never skipping or
/// overwriting it): the receiver gets exactly 11, 12, then `Disconnected`.
#[test]
fn repair_leaves_a_live_senders_claim_alone() {
    loom::model(|| {
        let ring = LoomMpmc::<u32>::new(2, 3);
        let wait = LoomWait::new();
        let mut rx = blocking_receiver(&ring, 3, &wait);
        let mut live = ring.sender(1, wait.clone()).expect("free record");
        let dead = ring.sender(2, wait.clone()).expect("free record");
        live.push(11).expect("empty ring");
        let repairer = {
            let ring = ring.clone();
            thread::spawn(move || {
                let claimed = dead.into_inner_with(|tx| tx.die_after_claim(666));
                let repaired = repair_after_death(&ring, &wait, 2);
                assert_eq!(
                    (repaired.skipped, repaired.orphans),
                    (u32::from(claimed), 0),
                    "claimed: {claimed}, {repaired:?}"
                );
            })
        };
        let sender = thread::spawn(move || push_spin(&mut live, 12));
        repairer.join().expect("repairer");
        let got = pop_blocking_until_disconnected(&mut rx);
        sender.join().expect("live sender");
        assert_eq!(got, [11, 12]);
    });
}

/// The receiving side of the race above: receiver 4 races live receiver 3
/// for position 0 (holding 1) and dies right after its claim attempt; the
/// sender sends 2 only after the repair, so the loser finds nothing else to
/// claim. A receiver killed right after losing leaves an intent that names
/// the slot the live receiver won (as above, if the hook stops before a
/// failed claim clears it); the repair then runs while the live receiver may
/// be anywhere between its claim and its release. The repair
/// takes back the dead receiver's message if it won one and otherwise
/// leaves the live receiver's slot alone: 1 and 2 are each delivered
/// exactly once, to the live receiver or (1 only) to `on_orphan`.
#[test]
fn repair_leaves_a_live_receivers_claim_alone() {
    loom::model(|| {
        let ring = LoomMpmc::<u32>::new(2, 3);
        let wait = LoomWait::new();
        let mut tx = ring.sender(1, wait.clone()).expect("free record");
        let mut rx = ring.receiver(3, wait.clone()).expect("free record");
        let dead = ring.receiver(4, wait.clone()).expect("free record");
        tx.push(1).expect("empty ring");
        let repairer = {
            let ring = ring.clone();
            thread::spawn(move || {
                let claimed = dead.into_inner_with(|rx| rx.die_after_claim());
                let repaired = repair_after_death(&ring, &wait, 4);
                assert_eq!(
                    (repaired.skipped, repaired.orphans),
                    (0, u32::from(claimed)),
                    "claimed: {claimed}, {repaired:?}"
                );
                repaired.orphaned
            })
        };
        let receiver = thread::spawn(move || pop_spin_until_disconnected(&mut rx));
        let orphans = repairer.join().expect("repairer");
        tx.push(2).expect("a free slot");
        drop(tx);
        let got = receiver.join().expect("live receiver");
        let mut all = got.clone();
        all.extend(&orphans);
        all.sort_unstable();
        assert_eq!(all, [1, 2], "received {got:?}, orphans {orphans:?}");
        assert!(got.is_sorted(), "out of order: {got:?}");
    });
}
