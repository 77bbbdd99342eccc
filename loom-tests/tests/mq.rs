//! loom models of the message queue (core/src/mq): priority order and typed
//! receive under concurrent sends (linearizability, not just quiescent
//! consistency), payload hand-off through recycled slots, blocking sends and
//! receives on a one-message queue, and scratch blocks recycled while a
//! stale reader is still copying them.
//!
//! Each model uses at most three threads (the main thread included). The slot
//! tracker in core fails a model if a sender's payload writes and a
//! receiver's reads of one slot are not ordered by happens-before; a lost
//! wake-up deadlocks a blocking model.
//!
//! The linearizability models rely on program order: when one thread sends
//! `X` and then `Y`, every point in time at which `Y` is queued also has `X`
//! queued unless someone took `X`. A receiver that takes `Y` although `X`
//! ranks before it, with no one else receiving, has chosen from a state that
//! never existed: exactly what a scan over per-priority queues can do.
#![cfg(loom)]

use core::num::NonZeroU32;

use annulus::mq::{Filter, RecvError, RecvOptions};
use loom::thread;
use loom_tests::{LoomEndpoint, LoomMq, LoomWait};

/// `loom::model` with room for the queue's block copies (each is a few dozen
/// atomic operations, and loom counts every one as a branch). CI runs them
/// at `LOOM_MAX_PREEMPTIONS=2` (about ten seconds in all on two cores); at 3
/// they take about three minutes.
///
/// Block words are SeqCst under loom (see `word` in core/src/mq/block.rs):
/// these models explore how copies interleave with rewrites, not which stale
/// value each word of a copy may return; tests/mq_snapshot.rs checks the
/// latter on Relaxed words.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 100_000;
    builder.check(f);
}

fn ty(t: u32) -> NonZeroU32 {
    NonZeroU32::new(t).unwrap()
}

fn endpoint(mq: &LoomMq, pid: u32, wait: &LoomWait) -> LoomEndpoint {
    let mut ep = mq.endpoint(pid, wait.clone()).expect("a free record");
    ep.set_spin_limit(0);
    ep
}

/// A sender and a receiver that have each been through one send and one
/// receive before the model's threads start: each holds a slot and owns a
/// block that has been the root, so the concurrent part recycles blocks from
/// its first operation (and skips the first send's slot acquisition, which
/// the state space cannot afford).
fn warmed_pair(mq: &LoomMq, wait: &LoomWait) -> (LoomEndpoint, LoomEndpoint) {
    let mut tx = endpoint(mq, 1, wait);
    let mut rx = endpoint(mq, 2, wait);
    tx.try_send(&[0], 0, ty(1)).unwrap();
    assert_eq!(try_take(&mut rx, Filter::Any), Some((0, 1)));
    (tx, rx)
}

/// One non-blocking receive with `filter`: `(first payload byte, type)`.
fn try_take(ep: &mut LoomEndpoint, filter: Filter) -> Option<(u8, u32)> {
    let mut buf = [0u8; 4];
    match ep.try_recv_with(&mut buf, RecvOptions::filter(filter)) {
        Ok(got) => Some((buf[0], got.mtype.get())),
        Err(RecvError::Empty) => None,
        Err(e) => panic!("receive failed: {e:?}"),
    }
}

/// Drains everything, in receive order.
fn drain(ep: &mut LoomEndpoint) -> Vec<u8> {
    let mut got = Vec::new();
    while let Some((b, _)) = try_take(ep, Filter::Any) {
        got.push(b);
    }
    got
}

#[test]
fn highest_priority_first_under_concurrent_sends() {
    model(|| {
        let wait = LoomWait::new();
        let mq = LoomMq::new(2, 4, 2);
        let (mut tx, mut rx) = warmed_pair(&mq, &wait);
        let receiver = thread::spawn(move || {
            let first = try_take(&mut rx, Filter::Any).map(|(b, _)| b);
            (first, rx)
        });
        tx.try_send(b"X", 9, ty(1)).unwrap();
        tx.try_send(b"Y", 1, ty(1)).unwrap();
        let (first, mut rx) = receiver.join().unwrap();
        // Y is queued only after X; X outranks it and nobody else receives.
        assert_ne!(first, Some(b'Y'), "took Y while X was queued");
        let mut all: Vec<u8> = first.into_iter().collect();
        all.extend(drain(&mut rx));
        assert_eq!(all, b"XY");
        let stats = mq.stats().unwrap();
        assert_eq!((stats.messages, stats.sent, stats.received), (0, 3, 3));
    });
}

#[test]
fn typed_receive_under_concurrent_sends() {
    model(|| {
        let wait = LoomWait::new();
        let mq = LoomMq::new(2, 4, 2);
        let (mut tx, mut rx) = warmed_pair(&mq, &wait);
        let receiver = thread::spawn(move || {
            // The lowest type at most 2 is 1 whenever `a` is queued, and `a`
            // is queued whenever `b` is.
            let lowest = try_take(&mut rx, Filter::LowestAtMost(ty(2)));
            // `b` outranks `a`, but Except(2) must skip it.
            let other = try_take(&mut rx, Filter::Except(ty(2)));
            (lowest, other, rx)
        });
        tx.try_send(b"a", 0, ty(1)).unwrap();
        tx.try_send(b"b", 5, ty(2)).unwrap();
        let (lowest, other, mut rx) = receiver.join().unwrap();
        assert_ne!(
            lowest,
            Some((b'b', 2)),
            "took type 2 while type 1 was queued"
        );
        if lowest.is_some() {
            assert_eq!(other, None, "took a second message of type 1");
        }
        assert_ne!(other.map(|(_, t)| t), Some(2), "Except(2) took type 2");
        let mut got: Vec<u8> = lowest.into_iter().chain(other).map(|(b, _)| b).collect();
        got.extend(drain(&mut rx));
        got.sort_unstable();
        assert_eq!(got, b"ab");
    });
}

#[test]
fn blocking_send_and_receive_on_a_one_message_queue() {
    // The sender's second message waits for space, the receiver waits for
    // data; slots are recycled between the two messages.
    model(|| {
        let wait = LoomWait::new();
        let mq = LoomMq::new(1, 4, 2);
        let mut tx = endpoint(&mq, 1, &wait);
        let mut rx = endpoint(&mq, 2, &wait);
        let sender = thread::spawn(move || {
            tx.send(&[b'a', 1, 2, 3], 0, ty(1), None).unwrap();
            tx.send(&[b'b', 4, 5, 6], 0, ty(1), None).unwrap();
        });
        for expect in [[b'a', 1, 2, 3], [b'b', 4, 5, 6]] {
            let mut buf = [0u8; 4];
            let got = rx.recv(&mut buf, RecvOptions::default(), None).unwrap();
            assert_eq!(got.len, 4);
            assert_eq!(buf, expect);
        }
        sender.join().unwrap();
    });
}

#[test]
fn recycled_blocks_never_install_a_torn_snapshot() {
    // Two participants each send and receive, so blocks change owners while
    // the other may still be copying one; the counters and the messages
    // must add up in every interleaving.
    model(|| {
        let wait = LoomWait::new();
        let mq = LoomMq::new(2, 4, 2);
        let mut a = endpoint(&mq, 1, &wait);
        let mut b = endpoint(&mq, 2, &wait);
        let tb = thread::spawn(move || {
            let mut got = Vec::new();
            b.try_send(&[10], 1, ty(1)).unwrap();
            got.extend(try_take(&mut b, Filter::Any).map(|(x, _)| x));
            got
        });
        a.try_send(&[20], 2, ty(1)).unwrap();
        let mut got: Vec<u8> = try_take(&mut a, Filter::Any)
            .map(|(x, _)| x)
            .into_iter()
            .collect();
        got.extend(tb.join().unwrap());
        got.extend(drain(&mut a));
        got.sort_unstable();
        assert_eq!(got, [10, 20]);
        let stats = mq.stats().unwrap();
        assert_eq!((stats.messages, stats.bytes), (0, 0));
        assert_eq!((stats.sent, stats.received), (2, 2));
    });
}
