//! Behaviour of the SPSC ring through its public API, in one process.
//! Hostile memory is covered by core/tests/hostile.rs, interleavings by
//! loom-tests/tests/spsc.rs.

extern crate std;

use std::boxed::Box;
use std::time::Duration;
use std::vec::Vec;

use super::*;
use crate::claim::Claim;
use crate::region::Region;
use crate::test_support::{W, waiter};

/// A heap region big enough for any ring these tests build.
fn region() -> Box<Region<{ 512 + 64 * 8 }>> {
    Box::new(Region::new())
}

#[test]
fn layout_rejects_bad_capacities_and_elements() {
    for bad in [0, 3, 6, 100, MAX_CAPACITY + 1, u32::MAX] {
        assert_eq!(
            Spsc::<u64>::layout(bad),
            Err(LayoutError::BadCapacity { capacity: bad })
        );
    }
    assert_eq!(Spsc::<()>::layout(4), Err(LayoutError::ZeroSizedElement));
    #[derive(Clone, Copy)]
    #[repr(C, align(256))]
    struct Big([u8; 256]);
    // SAFETY: plain bytes, no padding.
    unsafe impl bytemuck::Zeroable for Big {}
    // SAFETY: plain bytes, no padding, any bit pattern valid.
    unsafe impl bytemuck::Pod for Big {}
    assert_eq!(
        Spsc::<Big>::layout(4),
        Err(LayoutError::ElementOverAligned { align: 256 })
    );
    assert_eq!(
        Spsc::<[u8; 4096]>::layout(MAX_CAPACITY),
        Err(LayoutError::TooLarge)
    );
    let layout = Spsc::<u64>::layout(64).unwrap();
    assert_eq!(layout.body_offset, 512);
    assert_eq!(layout.size, 512 + 64 * 8);
    assert_eq!(layout.align, 128);
    assert_eq!(Spsc::<u64>::region_size(64), layout.size);
}

#[test]
fn init_checks_alignment_and_size() {
    let mut r = region();
    let bytes = r.as_uninit_mut();
    assert_eq!(
        Spsc::<u64>::init(&mut bytes[8..], 4).unwrap_err(),
        LayoutError::Misaligned { offset: 8 }
    );
    assert_eq!(
        Spsc::<u64>::init(&mut bytes[..512 + 31], 4).unwrap_err(),
        LayoutError::RegionTooSmall {
            needed: 512 + 32,
            len: 512 + 31
        }
    );
    let ring = Spsc::<u64>::init(bytes, 64).unwrap();
    assert_eq!(ring.capacity(), 64);
    assert_eq!(ring.len(), 0);
    assert!(ring.is_empty());
    assert_eq!(ring.producer_state(), RoleState::Vacant);
    assert_eq!(ring.consumer_state(), RoleState::Vacant);
}

#[test]
fn attach_sees_what_init_wrote() {
    let mut r = region();
    let bytes = r.as_uninit_mut();
    let len = bytes.len();
    let ptr = NonNull::from(&mut *bytes).cast::<u8>();
    let options = InitOptions {
        schema: Some(Schema::new(42)),
        creator_pid: 7,
        asymmetric_wake: false,
    };
    // SAFETY: `ptr` covers the boxed region, used only through views here.
    let ring = unsafe { Spsc::<u64>::init_raw(ptr, len, 8, options) }.unwrap();
    let mut tx = ring.claim_producer(1234, waiter()).unwrap();
    tx.push(99).unwrap();
    // SAFETY: as above; the region was initialised by `init_raw`.
    let other = unsafe { Spsc::<u64>::attach_raw(ptr, len, Schema::new(42)) }.unwrap();
    assert_eq!(other.capacity(), 8);
    assert_eq!(other.len(), 1);
    assert_eq!(
        other.producer_state(),
        RoleState::Held(Claim {
            pid: 1234,
            generation: 1
        })
    );
    let mut rx = other.consumer(waiter()).unwrap();
    assert_eq!(rx.pop(), Ok(99));
    // SAFETY: as above.
    let wrong = unsafe { Spsc::<u64>::attach_raw(ptr, len, Schema::of::<u64>()) };
    assert!(matches!(wrong, Err(AttachError::SchemaMismatch { .. })));
    // SAFETY: as above.
    let wrong = unsafe { Spsc::<u32>::attach_raw(ptr, len, Schema::new(42)) };
    assert!(matches!(
        wrong,
        Err(AttachError::ElementMismatch { found_size: 8, .. })
    ));
}

#[test]
fn push_pop_in_order_across_many_wraps() {
    let mut r = region();
    let ring = Spsc::<u64>::init(r.as_uninit_mut(), 4).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    let mut rx = ring.consumer(waiter()).unwrap();
    assert_eq!(rx.pop(), Err(PopError::Empty));
    let mut next_in = 0u64;
    let mut next_out = 0u64;
    for round in 0..1000u64 {
        let burst = round % 5;
        for _ in 0..burst {
            match tx.push(next_in) {
                Ok(()) => next_in += 1,
                Err(PushError::Full(v)) => {
                    assert_eq!(v, next_in);
                    assert_eq!(ring.len(), 4);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        while let Ok(v) = rx.pop() {
            assert_eq!(v, next_out);
            next_out += 1;
        }
    }
    assert_eq!(next_in, next_out);
    assert!(next_in > 1000);
}

#[test]
fn full_ring_keeps_every_slot_and_hands_the_value_back() {
    let mut r = region();
    let ring = Spsc::<u64>::init(r.as_uninit_mut(), 8).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    let mut rx = ring.consumer(waiter()).unwrap();
    for i in 0..8 {
        tx.push(i).unwrap();
    }
    assert_eq!(tx.free(), 0);
    assert_eq!(tx.push(8), Err(PushError::Full(8)));
    assert_eq!(rx.len(), 8);
    assert_eq!(rx.pop(), Ok(0));
    assert_eq!(tx.free(), 1);
    tx.push(8).unwrap();
    let got: Vec<u64> = core::iter::from_fn(|| rx.pop().ok()).collect();
    assert_eq!(got, (1..=8).collect::<Vec<_>>());
}

#[test]
fn capacity_one_ring() {
    let mut r = region();
    let ring = Spsc::<u32>::init(r.as_uninit_mut(), 1).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    let mut rx = ring.consumer(waiter()).unwrap();
    for i in 0..10 {
        tx.push(i).unwrap();
        assert_eq!(tx.push(100), Err(PushError::Full(100)));
        assert_eq!(rx.pop(), Ok(i));
        assert_eq!(rx.pop(), Err(PopError::Empty));
    }
}

#[test]
fn slices_move_partial_batches_across_the_wrap() {
    let mut r = region();
    let ring = Spsc::<u16>::init(r.as_uninit_mut(), 8).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    let mut rx = ring.consumer(waiter()).unwrap();
    assert_eq!(tx.push_slice(&[]), Ok(0));
    assert_eq!(tx.push_slice(&[1, 2, 3, 4, 5, 6]), Ok(6));
    let mut out = [0u16; 4];
    assert_eq!(rx.pop_slice(&mut out), Ok(4));
    assert_eq!(out, [1, 2, 3, 4]);
    // 2 filled, 6 free; this write wraps past the end of the body.
    assert_eq!(tx.push_slice(&[7, 8, 9, 10, 11, 12, 13, 14]), Ok(6));
    assert_eq!(tx.push_slice(&[15]), Err(PushSliceError::Full));
    let mut out = [0u16; 16];
    assert_eq!(rx.pop_slice(&mut out), Ok(8));
    assert_eq!(&out[..8], &[5, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(rx.pop_slice(&mut out), Err(PopError::Empty));
    assert_eq!(rx.pop_slice(&mut []), Ok(0));
}

#[test]
fn write_chunks_commit_what_was_written() {
    let mut r = region();
    let ring = Spsc::<u32>::init(r.as_uninit_mut(), 8).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    let mut rx = ring.consumer(waiter()).unwrap();
    tx.push_slice(&[0; 6]).unwrap();
    rx.pop_slice(&mut [0; 6]).unwrap();
    // Head and tail at 6: a chunk of 5 is 2 slots at the end, 3 at the start.
    assert_eq!(tx.write_chunk(9).unwrap_err(), ChunkError::TooFewSlots(8));
    let mut chunk = tx.write_chunk(5).unwrap();
    assert_eq!(chunk.len(), 5);
    let (a, b) = chunk.as_mut_slices();
    assert_eq!((a.len(), b.len()), (2, 3));
    assert_eq!(chunk.fill_from(&[10, 11, 12, 13, 14, 15]), 5);
    chunk.commit(4);
    assert_eq!(rx.len(), 4);
    // A chunk that is not committed sends nothing.
    let unused = tx.write_chunk(2).unwrap();
    assert_eq!(unused.len(), 2);
    let _ = unused;
    assert_eq!(rx.len(), 4);
    let chunk = rx.read_chunk(4).unwrap();
    let (a, b) = chunk.as_slices();
    assert_eq!((a, b), (&[10, 11][..], &[12, 13][..]));
    let mut out = [0; 3];
    assert_eq!(chunk.copy_to(&mut out), 3);
    assert_eq!(out, [10, 11, 12]);
    chunk.release(1);
    assert_eq!(rx.read_chunk(4).unwrap_err(), ChunkError::TooFewSlots(3));
    rx.read_chunk(3).unwrap().release_all();
    assert_eq!(rx.pop(), Err(PopError::Empty));
    tx.write_chunk(8).unwrap().commit_all();
    assert_eq!(rx.len(), 8);
}

#[test]
#[should_panic(expected = "commit(3) on a chunk of 2 slots")]
fn committing_more_than_the_chunk_panics() {
    let mut r = region();
    let ring = Spsc::<u32>::init(r.as_uninit_mut(), 8).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    tx.write_chunk(2).unwrap().commit(3);
}

#[test]
#[should_panic(expected = "release(2) on a chunk of 1 slots")]
fn releasing_more_than_the_chunk_panics() {
    let mut r = region();
    let ring = Spsc::<u32>::init(r.as_uninit_mut(), 8).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    let mut rx = ring.consumer(waiter()).unwrap();
    tx.push(1).unwrap();
    rx.read_chunk(1).unwrap().release(2);
}

#[test]
fn producer_close_drains_then_disconnects() {
    let mut r = region();
    let ring = Spsc::<u64>::init(r.as_uninit_mut(), 8).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    let mut rx = ring.consumer(waiter()).unwrap();
    tx.push_slice(&[1, 2, 3]).unwrap();
    assert!(!rx.is_disconnected());
    drop(tx);
    assert!(rx.is_disconnected());
    assert!(matches!(ring.producer_state(), RoleState::Closed(_)));
    assert_eq!(rx.read_chunk(4).unwrap_err(), ChunkError::Disconnected);
    assert_eq!(rx.pop(), Ok(1));
    assert_eq!(rx.pop_blocking(None), Ok(2));
    assert_eq!(rx.pop_slice(&mut [0; 4]), Ok(1));
    assert_eq!(rx.pop(), Err(PopError::Disconnected));
    assert_eq!(rx.pop_slice(&mut [0; 4]), Err(PopError::Disconnected));
    assert_eq!(rx.pop_blocking(None), Err(PopTimeoutError::Disconnected));
    assert_eq!(rx.wait_readable(None), Err(PopTimeoutError::Disconnected));
    // A new producer reopens the ring, as a new writer reopens a FIFO.
    let mut tx = ring.producer(waiter()).unwrap();
    assert!(!rx.is_disconnected());
    assert_eq!(rx.pop(), Err(PopError::Empty));
    tx.push(4).unwrap();
    assert_eq!(rx.pop(), Ok(4));
}

#[test]
fn consumer_close_is_epipe_not_a_signal() {
    let mut r = region();
    let ring = Spsc::<u64>::init(r.as_uninit_mut(), 2).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    let rx = ring.consumer(waiter()).unwrap();
    tx.push(1).unwrap();
    drop(rx);
    assert!(tx.is_disconnected());
    assert_eq!(tx.push(2), Err(PushError::Disconnected(2)));
    assert_eq!(tx.push_slice(&[3]), Err(PushSliceError::Disconnected));
    assert_eq!(tx.write_chunk(1).unwrap_err(), ChunkError::Disconnected);
    assert_eq!(
        tx.push_blocking(4, Some(Duration::from_millis(1))),
        Err(PushTimeoutError::Disconnected(4))
    );
    // The next consumer finds what was left and a working ring.
    let mut rx = ring.consumer(waiter()).unwrap();
    assert_eq!(rx.pop(), Ok(1));
    tx.push(5).unwrap();
    assert_eq!(rx.pop(), Ok(5));
}

#[test]
fn roles_are_exclusive_and_reclaimable() {
    let mut r = region();
    let ring = Spsc::<u64>::init(r.as_uninit_mut(), 2).unwrap();
    let tx = ring.claim_producer(11, waiter()).unwrap();
    assert_eq!(
        ring.claim_producer(12, waiter()).unwrap_err(),
        ClaimError::Taken(Claim {
            pid: 11,
            generation: 1
        })
    );
    let rx = ring.claim_consumer(21, waiter()).unwrap();
    assert!(matches!(ring.consumer(waiter()), Err(ClaimError::Taken(_))));
    drop(tx);
    assert_eq!(
        ring.producer_state(),
        RoleState::Closed(Claim {
            pid: 11,
            generation: 1
        })
    );
    let _tx = ring.claim_producer(13, waiter()).unwrap();
    assert_eq!(
        ring.producer_state(),
        RoleState::Held(Claim {
            pid: 13,
            generation: 2
        })
    );
    drop(rx);
    let _rx = ring.consumer(waiter()).unwrap();
}

#[test]
fn a_dead_holder_can_be_released_once() {
    let mut r = region();
    let ring = Spsc::<u64>::init(r.as_uninit_mut(), 2).unwrap();
    let mut tx = ring.claim_producer(11, waiter()).unwrap();
    let mut rx = ring.consumer(waiter()).unwrap();
    tx.push(1).unwrap();
    let RoleState::Held(claim) = ring.producer_state() else {
        panic!("producer should be held")
    };
    // Pretend the producer's process died: its handle is never dropped.
    core::mem::forget(tx);
    assert!(ring.release_dead_producer(claim, &waiter()));
    assert!(
        !ring.release_dead_producer(claim, &waiter()),
        "released twice"
    );
    assert_eq!(rx.pop(), Ok(1), "what was sent before the death is kept");
    assert_eq!(rx.pop(), Err(PopError::Disconnected));
    let mut tx = ring.producer(waiter()).unwrap();
    tx.push(2).unwrap();
    let RoleState::Held(claim) = ring.consumer_state() else {
        panic!("consumer should be held")
    };
    core::mem::forget(rx);
    assert!(ring.release_dead_consumer(claim, &waiter()));
    assert_eq!(tx.push(3), Err(PushError::Disconnected(3)));
}

#[test]
fn blocking_calls_time_out_and_return_the_value() {
    let mut r = region();
    let ring = Spsc::<u64>::init(r.as_uninit_mut(), 1).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    let mut rx = ring.consumer(waiter()).unwrap();
    tx.set_spin_limit(0);
    rx.set_spin_limit(3);
    assert_eq!((tx.spin_limit(), rx.spin_limit()), (0, 3));
    let short = Some(Duration::from_millis(2));
    assert_eq!(rx.pop_blocking(short), Err(PopTimeoutError::Timeout));
    assert_eq!(rx.wait_readable(short), Err(PopTimeoutError::Timeout));
    assert_eq!(
        rx.pop_blocking(Some(Duration::ZERO)),
        Err(PopTimeoutError::Timeout)
    );
    tx.push_blocking(1, short).unwrap();
    assert_eq!(
        tx.push_blocking(2, short),
        Err(PushTimeoutError::Timeout(2))
    );
    assert_eq!(rx.wait_readable(short), Ok(1));
    assert_eq!(rx.pop_blocking(short), Ok(1));
}

#[test]
fn two_threads_move_a_million_in_order() {
    let n: u64 = if cfg!(miri) { 200 } else { 1_000_000 };
    let mut r = region();
    let ring = Spsc::<u64>::init(r.as_uninit_mut(), 64).unwrap();
    let mut tx = ring.producer(waiter()).unwrap();
    let mut rx = ring.consumer(waiter()).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut i = 0;
            while i < n {
                let batch: Vec<u64> = (i..(i + 7).min(n)).collect();
                match i % 3 {
                    0 => {
                        for v in batch {
                            tx.push_blocking(v, None).unwrap();
                        }
                    }
                    1 => {
                        let mut rest = &batch[..];
                        while !rest.is_empty() {
                            match tx.push_slice(rest) {
                                Ok(k) => rest = &rest[k..],
                                Err(PushSliceError::Full) => std::thread::yield_now(),
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                    _ => loop {
                        match tx.write_chunk(batch.len() as u32) {
                            Ok(mut chunk) => {
                                chunk.fill_from(&batch);
                                chunk.commit_all();
                                break;
                            }
                            Err(ChunkError::TooFewSlots(_)) => std::thread::yield_now(),
                            Err(e) => panic!("{e}"),
                        }
                    },
                }
                i += 7;
            }
        });
        let mut expected = 0;
        let mut buf = [0u64; 5];
        loop {
            match expected % 2 {
                0 => match rx.pop_blocking(None) {
                    Ok(v) => {
                        assert_eq!(v, expected);
                        expected += 1;
                    }
                    Err(PopTimeoutError::Disconnected) => break,
                    Err(e) => panic!("{e}"),
                },
                _ => match rx.pop_slice(&mut buf) {
                    Ok(k) => {
                        for &v in &buf[..k] {
                            assert_eq!(v, expected);
                            expected += 1;
                        }
                    }
                    Err(PopError::Empty) => std::thread::yield_now(),
                    Err(PopError::Disconnected) => break,
                    Err(e) => panic!("{e}"),
                },
            }
        }
        assert_eq!(expected, n);
    });
}

#[test]
fn byte_stream_has_pipe_semantics() {
    let mut r = region();
    let ring = Spsc::<u8>::init(r.as_uninit_mut(), 16).unwrap();
    let mut w = ByteWriter::new(ring.producer(waiter()).unwrap());
    let mut rd = ByteReader::new(ring.consumer(waiter()).unwrap());
    let mut buf = [0u8; 32];
    assert_eq!(rd.try_read(&mut buf), Err(StreamError::WouldBlock));
    assert_eq!(w.try_write(b""), Ok(0));
    assert_eq!(
        w.try_write(b"0123456789abcdefXYZ"),
        Ok(16),
        "partial write when nearly full"
    );
    assert_eq!(w.try_write(b"X"), Err(StreamError::WouldBlock));
    assert_eq!(
        w.write_blocking(b"X", Some(Duration::from_millis(1))),
        Err(StreamError::TimedOut)
    );
    assert_eq!(rd.try_read(&mut buf[..10]), Ok(10));
    assert_eq!(&buf[..10], b"0123456789");
    assert_eq!(rd.read_blocking(&mut buf, None), Ok(6));
    assert_eq!(
        rd.read_blocking(&mut buf, Some(Duration::from_millis(1))),
        Err(StreamError::TimedOut)
    );
    assert_eq!(rd.read_blocking(&mut [], None), Ok(0));
    w.write_all_blocking(b"tail", None).unwrap();
    let producer = w.into_inner();
    drop(producer);
    assert_eq!(
        rd.read_exact_blocking(&mut buf, None),
        Ok(4),
        "short at end of stream"
    );
    assert_eq!(&buf[..4], b"tail");
    assert_eq!(rd.try_read(&mut buf), Ok(0), "end of stream");
    assert_eq!(rd.read_blocking(&mut buf, None), Ok(0));
    let consumer = rd.into_inner();
    drop(consumer);
    let mut w = ByteWriter::new(ring.producer(waiter()).unwrap());
    assert_eq!(w.try_write(b"x"), Err(StreamError::BrokenPipe));
    assert_eq!(
        w.write_all_blocking(b"x", None),
        Err(StreamError::BrokenPipe)
    );
}

#[test]
fn byte_stream_carries_a_large_transfer_between_threads() {
    let total: usize = if cfg!(miri) { 3_000 } else { 1 << 20 };
    let mut r = region();
    let ring = Spsc::<u8>::init(r.as_uninit_mut(), 64).unwrap();
    let mut w = ByteWriter::new(ring.producer(waiter()).unwrap());
    let mut rd = ByteReader::new(ring.consumer(waiter()).unwrap());
    let data: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
    std::thread::scope(|s| {
        let data = &data;
        s.spawn(move || {
            for piece in data.chunks(1000) {
                w.write_all_blocking(piece, None).unwrap();
            }
        });
        let mut got = Vec::with_capacity(total);
        let mut buf = [0u8; 333];
        loop {
            match rd.read_blocking(&mut buf, None).unwrap() {
                0 => break,
                n => got.extend_from_slice(&buf[..n]),
            }
        }
        assert!(got == *data, "stream corrupted or reordered");
    });
}

#[cfg(feature = "std")]
#[test]
fn byte_stream_implements_std_io() {
    use std::io::{ErrorKind, Read, Write};
    let mut r = region();
    let ring = Spsc::<u8>::init(r.as_uninit_mut(), 16).unwrap();
    let mut w = ByteWriter::new(ring.producer(waiter()).unwrap());
    let mut rd = ByteReader::new(ring.consumer(waiter()).unwrap());
    w.write_all(b"hello, pipe").unwrap();
    w.flush().unwrap();
    drop(w);
    let mut s = std::string::String::new();
    rd.read_to_string(&mut s).unwrap();
    assert_eq!(s, "hello, pipe");
    let mut w = ByteWriter::new(ring.producer(waiter()).unwrap());
    drop(rd);
    assert_eq!(w.write(b"x").unwrap_err().kind(), ErrorKind::BrokenPipe);
}

#[test]
fn handles_are_send() {
    static_assertions::assert_impl_all!(Producer<'static, u64, W>: Send);
    static_assertions::assert_impl_all!(Consumer<'static, u64, W>: Send);
    static_assertions::assert_impl_all!(Spsc<'static, u64>: Send, Sync, Copy);
    static_assertions::assert_not_impl_any!(Producer<'static, u64, W>: Clone);
    static_assertions::assert_not_impl_any!(Consumer<'static, u64, W>: Clone);
}

#[test]
fn errors_display_and_debug_without_t_debug() {
    struct NoDebug;
    let e = PushError::Full(NoDebug);
    assert_eq!(std::format!("{e:?}"), "PushError::Full(..)");
    assert_eq!(std::format!("{e}"), "ring is full");
    assert!(matches!(e.into_inner(), NoDebug));
    let e = PushTimeoutError::Timeout(5u8);
    assert_eq!(e.into_inner(), 5);
    assert_eq!(
        std::format!("{}", PopError::Disconnected),
        "sending side has closed the ring"
    );
    assert_eq!(
        std::format!("{}", ChunkError::TooFewSlots(3)),
        "only 3 slots available"
    );
    assert_eq!(
        std::format!("{}", StreamError::BrokenPipe),
        "reader has closed the stream"
    );
    let _: &dyn core::error::Error = &PopTimeoutError::Timeout;
}
