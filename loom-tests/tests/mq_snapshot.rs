//! loom model of the message queue's seqlock (core/src/mq/block.rs) on
//! Relaxed block words, as in real builds.
//!
//! The whole-queue models (tests/mq.rs) run with SeqCst block words, so that
//! loom does not enumerate every stale value of every word a speculative copy
//! reads; that hides the one thing the block's fences are for. This binary
//! switches the words back to Relaxed for its whole process (it is a test
//! binary of its own for that reason) and keeps the scene small enough to
//! afford it: an observer reads the counters of the current block while a
//! sender installs a new block and then rewrites the one being read. A copy
//! that mixes words from before and after the rewrite, accepted because the
//! root re-read did not see the install, shows as counters that disagree.
//!
//! Two writers: a sender, whose install is followed by the event count's
//! SeqCst fence (which would cover the rewrite on its own), and a newly
//! registering endpoint, whose install is not, so that only the Release
//! fence at the start of its next operation orders the rewrite. Removing
//! that fence fails the second model; removing the Acquire fence that
//! follows a copy fails both.
#![cfg(loom)]

use core::num::NonZeroU32;

use annulus::mq::{Filter, RecvError, RecvOptions, loom_relaxed_block_words};
use loom::thread;
use loom_tests::{LoomEndpoint, LoomMq, LoomWait};

fn model(f: impl Fn() + Sync + Send + 'static) {
    loom_relaxed_block_words(true);
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

/// A sender that has sent once and an observer that has received that
/// message: the current block is the observer's, and the sender's scratch
/// block is the one before it, so the sender's second operation rewrites the
/// block that is current now.
fn warmed(mq: &LoomMq, wait: &LoomWait) -> (LoomEndpoint, LoomEndpoint) {
    let mut tx = endpoint(mq, 1, wait);
    let mut rx = endpoint(mq, 2, wait);
    tx.try_send(&[0], 0, ty(1)).unwrap();
    let mut buf = [0u8; 4];
    rx.try_recv_with(&mut buf, RecvOptions::filter(Filter::Any))
        .unwrap();
    (tx, rx)
}

/// Reads the counters on another thread while `rewrite` runs on this one.
fn observe_while(mq: &LoomMq, rewrite: impl FnOnce()) {
    let observer = {
        let mq = mq.clone();
        thread::spawn(move || mq.stats())
    };
    rewrite();
    check(observer.join().unwrap());
}

#[test]
fn counters_read_while_a_sender_rewrites_are_never_torn() {
    model(|| {
        let wait = LoomWait::new();
        let mq = LoomMq::new(2, 4, 2);
        let (mut tx, _rx) = warmed(&mq, &wait);
        observe_while(&mq, || {
            tx.try_send(b"a", 0, ty(1)).unwrap();
            tx.try_send(b"b", 0, ty(1)).unwrap();
        });
    });
}

#[test]
fn counters_read_while_a_new_endpoint_rewrites_are_never_torn() {
    model(|| {
        let wait = LoomWait::new();
        let mq = LoomMq::new(2, 4, 3);
        let (_tx, _rx) = warmed(&mq, &wait);
        observe_while(&mq, || {
            // Registering installs a block (its scratch becomes the block
            // the observer reads) and notifies nobody; the send rewrites it.
            let mut late = endpoint(&mq, 3, &wait);
            late.try_send(b"a", 0, ty(1)).unwrap();
        });
    });
}

fn check(stats: Result<annulus::mq::Stats, RecvError>) {
    match stats {
        Ok(s) => {
            // One block's counters: every message sent and not received
            // is queued, with its one byte.
            assert_eq!(s.sent - s.received, s.messages, "{s:?}");
            assert_eq!(s.bytes, s.messages, "{s:?}");
            assert!((1..=3).contains(&s.sent), "{s:?}");
        }
        // Overtaken on every attempt: allowed, never torn.
        Err(RecvError::Contended) => {}
        Err(e) => panic!("stats failed: {e:?}"),
    }
}
