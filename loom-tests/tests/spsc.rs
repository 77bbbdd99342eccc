//! loom models of the SPSC ring's non-blocking operations: single elements,
//! slices and chunks through capacities 1 and 2 (so positions wrap), and the
//! close of either side.
//!
//! Every model runs the producer on a spawned thread and the consumer on the
//! model's main thread. The slot tracker in core fails a model if the two
//! sides ever touch a slot without a happens-before edge between them.
#![cfg(loom)]

use annulus::spsc::{ChunkError, Consumer, PopError, Producer, PushError, PushSliceError};
use loom::thread;
use loom_tests::{LoomRing, LoomWait};

type Tx = Producer<'static, u32, LoomWait>;
type Rx = Consumer<'static, u32, LoomWait>;

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

/// Pops one value, yielding while the ring is empty.
fn pop_spin(rx: &mut Rx) -> u32 {
    loop {
        match rx.pop() {
            Ok(v) => return v,
            Err(PopError::Empty) => thread::yield_now(),
            Err(e) => panic!("pop failed: {e:?}"),
        }
    }
}

/// Moves both positions to 1 (sequentially, before any thread starts), so a
/// two-slot transfer on a capacity-2 ring wraps from slot 1 to slot 0.
fn offset_by_one(tx: &mut Tx, rx: &mut Rx) {
    tx.push(0).expect("empty ring");
    assert_eq!(rx.pop(), Ok(0));
}

/// 1, 2, 3 through a ring of `capacity`: they arrive in order, none lost or
/// duplicated, and the producer's close shows only after the last of them.
fn push_pop_three(capacity: u32) {
    loom::model(move || {
        let ring = LoomRing::<u32>::new(capacity);
        let (mut tx, mut rx) = ring.pair();
        let producer = thread::spawn(move || {
            for v in 1..=3 {
                push_spin(&mut tx, v);
            }
        });
        for want in 1..=3 {
            assert_eq!(pop_spin(&mut rx), want);
        }
        producer.join().expect("producer thread");
        assert_eq!(rx.pop(), Err(PopError::Disconnected));
    });
}

/// Capacity 1: every push after the first waits for the pop before it, and
/// positions wrap on every element.
#[test]
fn push_pop_three_capacity_1() {
    push_pop_three(1);
}

/// Capacity 2: the producer can run one element ahead; the third element
/// reuses slot 0.
#[test]
fn push_pop_three_capacity_2() {
    push_pop_three(2);
}

/// `push_slice` and `pop_slice` copy runs that wrap past the end of the body
/// (positions start at 1 on a capacity-2 ring), in pieces as space and data
/// appear: the consumer gets exactly 1, 2, 3.
#[test]
fn slices_across_wrap() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(2);
        let (mut tx, mut rx) = ring.pair();
        offset_by_one(&mut tx, &mut rx);
        let producer = thread::spawn(move || {
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
        while got.len() < 3 {
            let mut buf = [0u32; 2];
            match rx.pop_slice(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(PopError::Empty) => thread::yield_now(),
                Err(e) => panic!("pop_slice failed: {e:?}"),
            }
        }
        assert_eq!(got, [1, 2, 3]);
        producer.join().expect("producer thread");
        assert_eq!(rx.pop_slice(&mut [0; 2]), Err(PopError::Disconnected));
    });
}

/// Write chunks (`write_chunk`, `as_mut_slices`, `commit`) and read chunks
/// (`read_chunk`, `as_slices`, `release`) whose slots wrap (positions start
/// at 1 on a capacity-2 ring): what is written in place is what is read in
/// place, in order, and a chunk never lends a slot the other side is using.
#[test]
fn chunks_across_wrap() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(2);
        let (mut tx, mut rx) = ring.pair();
        offset_by_one(&mut tx, &mut rx);
        let producer = thread::spawn(move || {
            let values = [1u32, 2, 3];
            let mut sent = 0;
            while sent < values.len() {
                let wanted = u32::try_from(values.len() - sent).expect("small").min(2);
                let mut chunk = match tx.write_chunk(wanted) {
                    Ok(chunk) => chunk,
                    Err(ChunkError::TooFewSlots(0)) => {
                        thread::yield_now();
                        continue;
                    }
                    Err(ChunkError::TooFewSlots(free)) => {
                        tx.write_chunk(free).expect("free slots stay free")
                    }
                    Err(e) => panic!("write_chunk failed: {e:?}"),
                };
                let n = chunk.len() as usize;
                let (a, b) = chunk.as_mut_slices();
                assert_eq!(a.len() + b.len(), n);
                let src = &values[sent..sent + n];
                a.copy_from_slice(&src[..a.len()]);
                b.copy_from_slice(&src[a.len()..]);
                chunk.commit_all();
                sent += n;
            }
        });
        let mut got = Vec::new();
        while got.len() < 3 {
            let wanted = u32::try_from(3 - got.len()).expect("small").min(2);
            let chunk = match rx.read_chunk(wanted) {
                Ok(chunk) => chunk,
                Err(ChunkError::TooFewSlots(0)) => {
                    thread::yield_now();
                    continue;
                }
                Err(ChunkError::TooFewSlots(filled)) => {
                    rx.read_chunk(filled).expect("filled slots stay filled")
                }
                Err(e) => panic!("read_chunk failed: {e:?}"),
            };
            let (a, b) = chunk.as_slices();
            assert_eq!(a.len() + b.len(), chunk.len() as usize);
            got.extend_from_slice(a);
            got.extend_from_slice(b);
            chunk.release_all();
        }
        assert_eq!(got, [1, 2, 3]);
        producer.join().expect("producer thread");
        assert_eq!(rx.read_chunk(1).err(), Some(ChunkError::Disconnected));
    });
}

/// The producer sends 1 and 2 through capacity 1 and is dropped while the
/// consumer polls: the consumer receives both, and only then `Disconnected`
/// (never before the last element, never `Empty` forever).
#[test]
fn producer_drop_after_pushes_drains_then_disconnects() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        let (mut tx, mut rx) = ring.pair();
        let producer = thread::spawn(move || {
            push_spin(&mut tx, 1);
            push_spin(&mut tx, 2);
            drop(tx);
        });
        let mut got = Vec::new();
        loop {
            match rx.pop() {
                Ok(v) => got.push(v),
                Err(PopError::Empty) => thread::yield_now(),
                Err(PopError::Disconnected) => break,
                Err(e) => panic!("pop failed: {e:?}"),
            }
        }
        assert_eq!(got, [1, 2]);
        producer.join().expect("producer thread");
    });
}

/// The consumer receives one element from a capacity-1 ring and is dropped
/// while the producer keeps pushing: the producer's push eventually returns
/// `Disconnected` with its value, after sending at most what the consumer
/// took plus one ring's worth.
#[test]
fn consumer_drop_disconnects_producer() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        let (mut tx, mut rx) = ring.pair();
        let consumer = thread::spawn(move || {
            assert_eq!(pop_spin(&mut rx), 1);
            drop(rx);
        });
        let mut next = 1;
        loop {
            match tx.push(next) {
                Ok(()) => next += 1,
                Err(PushError::Full(_)) => thread::yield_now(),
                Err(PushError::Disconnected(v)) => {
                    assert_eq!(v, next);
                    break;
                }
                Err(e) => panic!("push failed: {e:?}"),
            }
        }
        let sent = next - 1;
        assert!((1..=2).contains(&sent), "sent {sent}");
        consumer.join().expect("consumer thread");
        assert!(tx.is_disconnected());
        assert!(matches!(tx.push(9), Err(PushError::Disconnected(9))));
    });
}
