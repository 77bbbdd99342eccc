//! loom models of the event count (core/src/event.rs) through the ring's
//! blocking calls, with a spin limit of 0 so every wait goes straight to the
//! announce / re-check / sleep path.
//!
//! [`LoomWait`] is a futex: a sleeper whose wake-up is lost sleeps forever,
//! and loom fails the model with a deadlock. A timed wait never sleeps in the
//! model; it times out at once if the word has not moved, so loom explores a
//! timeout at every point where one could fire.
#![cfg(loom)]

use core::time::Duration;

use annulus::spsc::{PopError, PopTimeoutError, PushError, PushTimeoutError};
use annulus::wait::Wait;
use loom::thread;
use loom_tests::LoomRing;

const TIMEOUT: Duration = Duration::from_millis(1);

/// 1, 2, 3 through a ring of `capacity`, both sides blocking with no
/// timeout: the producer sleeps on a full ring, the consumer on an empty one,
/// each woken only by the other's notify. No interleaving loses a wake-up
/// (that would deadlock), the values arrive in order, and a blocked pop after
/// the producer is gone returns `Disconnected`.
fn blocking_three(capacity: u32) {
    loom::model(move || {
        let ring = LoomRing::<u32>::new(capacity);
        let (mut tx, mut rx) = ring.pair();
        tx.set_spin_limit(0);
        rx.set_spin_limit(0);
        let producer = thread::spawn(move || {
            for v in 1..=3 {
                tx.push_blocking(v, None).expect("consumer is there");
            }
            tx
        });
        for want in 1..=3 {
            assert_eq!(rx.pop_blocking(None), Ok(want));
        }
        drop(producer.join().expect("producer thread"));
        assert_eq!(rx.pop_blocking(None), Err(PopTimeoutError::Disconnected));
    });
}

/// Capacity 1: both sides sleep in turn on every element.
#[test]
fn blocking_push_pop_never_loses_a_wakeup_capacity_1() {
    blocking_three(1);
}

/// Capacity 2: the producer runs ahead, so wake-ups race with pushes that
/// need no wake.
#[test]
fn blocking_push_pop_never_loses_a_wakeup_capacity_2() {
    blocking_three(2);
}

/// The consumer blocks (no timeout) on a ring whose producer sends one value
/// and is dropped: the consumer receives the value, then wakes with
/// `Disconnected` from a sleep that only the producer's close can end.
#[test]
fn producer_drop_wakes_blocked_consumer() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        let (mut tx, mut rx) = ring.pair();
        rx.set_spin_limit(0);
        let producer = thread::spawn(move || {
            tx.push(1).expect("empty ring");
            drop(tx);
        });
        assert_eq!(rx.pop_blocking(None), Ok(1));
        assert_eq!(rx.pop_blocking(None), Err(PopTimeoutError::Disconnected));
        producer.join().expect("producer thread");
    });
}

/// The producer blocks (no timeout) on a full ring whose consumer is dropped
/// without receiving: the producer wakes with `Disconnected` and its value.
#[test]
fn consumer_drop_wakes_blocked_producer() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        let (mut tx, rx) = ring.pair();
        tx.set_spin_limit(0);
        tx.push(1).expect("empty ring");
        let consumer = thread::spawn(move || drop(rx));
        match tx.push_blocking(2, None) {
            Err(PushTimeoutError::Disconnected(2)) => {}
            other => panic!("expected Disconnected(2), got {other:?}"),
        }
        consumer.join().expect("consumer thread");
    });
}

/// A timed pop races a push: it returns the value or times out, and never
/// hangs. After a timeout the value is still delivered to a later pop, and
/// the clock has reached the deadline.
#[test]
fn timed_pop_gets_value_or_times_out() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        let (mut tx, mut rx) = ring.pair();
        rx.set_spin_limit(0);
        let producer = thread::spawn(move || {
            tx.push(7).expect("empty ring");
            // Kept alive: the pop must not end with `Disconnected`.
            tx
        });
        let start = rx.waiter().now();
        let outcome = rx.pop_blocking(Some(TIMEOUT));
        let tx = producer.join().expect("producer thread");
        match outcome {
            Ok(v) => assert_eq!(v, 7),
            Err(PopTimeoutError::Timeout) => {
                let waited = rx.waiter().now() - start;
                assert!(waited >= TIMEOUT.as_nanos() as u64, "waited {waited}");
                assert_eq!(rx.pop(), Ok(7));
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert_eq!(rx.pop(), Err(PopError::Empty));
        drop(tx);
    });
}

/// A timed push on a full ring races a pop: it sends the value or times out
/// (handing the value back), and never hangs. After a timeout the slot the
/// pop freed is still there for a later push.
#[test]
fn timed_push_gets_slot_or_times_out() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        let (mut tx, mut rx) = ring.pair();
        tx.set_spin_limit(0);
        tx.push(1).expect("empty ring");
        let consumer = thread::spawn(move || {
            assert_eq!(rx.pop(), Ok(1));
            // Kept alive: the push must not end with `Disconnected`.
            rx
        });
        let outcome = tx.push_blocking(2, Some(TIMEOUT));
        let mut rx = consumer.join().expect("consumer thread");
        match outcome {
            Ok(()) => {}
            Err(PushTimeoutError::Timeout(v)) => {
                assert_eq!(v, 2);
                tx.push(2).expect("the pop freed a slot");
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert!(matches!(tx.push(3), Err(PushError::Full(3))));
        assert_eq!(rx.pop(), Ok(2));
    });
}

/// `wait_readable` (no timeout) on an empty ring wakes when the producer
/// publishes, reports the element without receiving it, and reports
/// `Disconnected` only once the closed ring is drained.
#[test]
fn wait_readable_wakes_on_publish_and_close() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        let (mut tx, mut rx) = ring.pair();
        rx.set_spin_limit(0);
        let producer = thread::spawn(move || {
            tx.push(5).expect("empty ring");
            drop(tx);
        });
        assert_eq!(rx.wait_readable(None), Ok(1));
        assert_eq!(rx.pop(), Ok(5));
        assert_eq!(rx.wait_readable(None), Err(PopTimeoutError::Disconnected));
        producer.join().expect("producer thread");
    });
}
