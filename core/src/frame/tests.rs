//! Frames through the ring: wrap padding, in-place grants, untrusted lengths.

extern crate std;

use std::boxed::Box;
use std::time::Duration;
use std::vec::Vec;

use super::*;
use crate::region::Region;
use crate::test_support::waiter;

const CAP: u32 = 256;

fn region() -> Box<Region<{ FrameRing::region_size(1024) }>> {
    Box::new(Region::new())
}

fn meta(msg_type: u32) -> FrameMeta {
    FrameMeta {
        msg_type,
        priority: msg_type % 4,
        sender: 42,
        flags: 0,
    }
}

/// Payload `i` of length `len`: recognisable bytes.
fn payload(i: u32, len: usize) -> Vec<u8> {
    (0..len).map(|k| (i as usize * 7 + k) as u8).collect()
}

#[test]
fn layout_and_limits() {
    assert_eq!(
        FrameRing::layout(128),
        Err(LayoutError::BadCapacity { capacity: 128 })
    );
    assert_eq!(
        FrameRing::layout(300),
        Err(LayoutError::BadCapacity { capacity: 300 })
    );
    assert_eq!(FrameRing::region_size(256), 512 + 256);
    let mut r = region();
    let ring = FrameRing::init(r.as_uninit_mut(), CAP).unwrap();
    assert_eq!(ring.capacity(), CAP);
    assert_eq!(ring.max_payload(), 96);
    let mut tx = ring.writer(waiter()).unwrap();
    assert_eq!(tx.max_payload(), 96);
    assert_eq!(
        tx.try_send(meta(1), &[0; 97]),
        Err(FrameSendError::TooLarge { len: 97, max: 96 })
    );
    tx.try_send(meta(1), &[0; 96]).unwrap();
    assert_eq!(ring.len_bytes(), 128);
    assert_eq!(frame_size(0), Some(32));
    assert_eq!(frame_size(1), Some(40));
    assert_eq!(frame_size(8), Some(40));
    assert_eq!(frame_size(u32::MAX), None);
}

#[test]
fn frames_round_trip_with_their_header() {
    let mut r = region();
    let ring = FrameRing::init(r.as_uninit_mut(), 1024).unwrap();
    let mut tx = ring.writer(waiter()).unwrap();
    let mut rx = ring.reader(waiter()).unwrap();
    assert_eq!(rx.try_recv_frame().unwrap_err(), FrameRecvError::Empty);
    tx.set_next_seq(100);
    tx.try_send(meta(5), b"").unwrap();
    tx.try_send(meta(6), b"hello").unwrap();
    assert_eq!(tx.next_seq(), 102);
    let frame = rx.try_recv_frame().unwrap();
    assert_eq!(frame.payload(), b"");
    assert_eq!(
        *frame.header(),
        FrameHeader {
            len: 0,
            flags: 0,
            msg_type: 5,
            priority: 1,
            sender: 42,
            reserved: 0,
            seq: 100
        }
    );
    frame.release();
    let mut buf = [0u8; 16];
    let (header, n) = rx.try_recv(&mut buf).unwrap();
    assert_eq!(
        (&buf[..n], header.msg_type, header.seq),
        (&b"hello"[..], 6, 101)
    );
    assert_eq!(ring.len_bytes(), 0);
}

#[test]
fn grants_are_written_in_place_and_may_shrink() {
    let mut r = region();
    let ring = FrameRing::init(r.as_uninit_mut(), CAP).unwrap();
    let mut tx = ring.writer(waiter()).unwrap();
    let mut rx = ring.reader(waiter()).unwrap();
    let mut grant = tx.try_grant(64).unwrap();
    assert_eq!(grant.len(), 64);
    grant.payload_mut()[..3].copy_from_slice(b"abc");
    grant.commit(3, meta(9));
    assert_eq!(ring.len_bytes(), 40, "a shrunk frame takes only its size");
    // A grant dropped without commit sends nothing.
    let unused = tx.try_grant(10).unwrap();
    assert!(!unused.is_empty());
    let _ = unused;
    assert_eq!(ring.len_bytes(), 40);
    let frame = rx.try_recv_frame().unwrap();
    assert_eq!(frame.payload(), b"abc");
    frame.release();
}

#[test]
#[should_panic(expected = "commit(5) on a frame grant of 4 bytes")]
fn committing_more_than_the_grant_panics() {
    let mut r = region();
    let ring = FrameRing::init(r.as_uninit_mut(), CAP).unwrap();
    let mut tx = ring.writer(waiter()).unwrap();
    tx.try_grant(4).unwrap().commit(5, meta(1));
}

#[test]
fn frames_never_split_across_the_end() {
    // Every length from 0 to the maximum, many laps: exercises explicit
    // padding headers and the implicit kind (fewer than 32 bytes left).
    let mut r = region();
    let ring = FrameRing::init(r.as_uninit_mut(), CAP).unwrap();
    let mut tx = ring.writer(waiter()).unwrap();
    let mut rx = ring.reader(waiter()).unwrap();
    let max = ring.max_payload() as usize;
    let mut sent = 0u32;
    let mut received = 0u32;
    let rounds: u32 = if cfg!(miri) { 300 } else { 2000 };
    for round in 0..rounds {
        let len = (round as usize * 13) % (max + 1);
        match tx.try_send(meta(round), &payload(sent, len)) {
            Ok(()) => sent += 1,
            Err(FrameSendError::Full) => {}
            Err(e) => panic!("{e}"),
        }
        if round % 3 != 0 {
            while let Ok(frame) = rx.try_recv_frame() {
                let len = frame.header().len as usize;
                assert_eq!(frame.payload(), &payload(received, len)[..]);
                assert_eq!(frame.header().seq, u64::from(received));
                frame.release();
                received += 1;
            }
        }
    }
    assert!(sent > rounds / 2);
    assert!(sent - received <= 8);
}

#[test]
fn small_buffers_keep_the_frame_unless_truncating() {
    let mut r = region();
    let ring = FrameRing::init(r.as_uninit_mut(), CAP).unwrap();
    let mut tx = ring.writer(waiter()).unwrap();
    let mut rx = ring.reader(waiter()).unwrap();
    tx.try_send(meta(1), b"0123456789").unwrap();
    let mut small = [0u8; 4];
    assert_eq!(
        rx.try_recv(&mut small),
        Err(FrameRecvError::BufferTooSmall { needed: 10 })
    );
    let (header, n) = rx.try_recv_truncating(&mut small).unwrap();
    assert_eq!((header.len, n, &small), (10, 4, b"0123"));
    assert_eq!(rx.try_recv(&mut small), Err(FrameRecvError::Empty));
}

#[test]
fn closing_either_end() {
    let mut r = region();
    let ring = FrameRing::init(r.as_uninit_mut(), CAP).unwrap();
    let mut tx = ring.writer(waiter()).unwrap();
    let mut rx = ring.reader(waiter()).unwrap();
    tx.try_send(meta(1), b"last words").unwrap();
    drop(tx);
    let mut buf = [0u8; 32];
    assert_eq!(rx.try_recv(&mut buf).unwrap().1, 10);
    assert_eq!(rx.try_recv(&mut buf), Err(FrameRecvError::Disconnected));
    assert_eq!(
        rx.recv_blocking(&mut buf, None),
        Err(FrameRecvError::Disconnected)
    );
    let mut tx = ring.writer(waiter()).unwrap();
    drop(rx);
    assert_eq!(
        tx.try_send(meta(1), b"x"),
        Err(FrameSendError::Disconnected)
    );
    assert_eq!(
        tx.send_blocking(meta(1), b"x", None),
        Err(FrameSendError::Disconnected)
    );
}

#[test]
fn blocking_calls_time_out() {
    let mut r = region();
    let ring = FrameRing::init(r.as_uninit_mut(), CAP).unwrap();
    let mut tx = ring.writer(waiter()).unwrap();
    let mut rx = ring.reader(waiter()).unwrap();
    let short = Some(Duration::from_millis(2));
    let mut buf = [0u8; 128];
    assert_eq!(
        rx.recv_blocking(&mut buf, short),
        Err(FrameRecvError::Timeout)
    );
    tx.send_blocking(meta(1), &[1; 96], short).unwrap();
    tx.send_blocking(meta(2), &[2; 96], short).unwrap();
    assert_eq!(
        tx.send_blocking(meta(3), &[3; 96], short),
        Err(FrameSendError::Timeout)
    );
    assert_eq!(rx.recv_blocking(&mut buf, short).unwrap().1, 96);
    tx.send_blocking(meta(3), &[3; 96], short).unwrap();
}

/// Writes `bytes` at byte `offset` of the ring body, as a hostile peer
/// would, through the pointer the ring was built on.
fn forge(region: NonNull<u8>, offset: usize, bytes: &[u8]) {
    // SAFETY: the body holds the ring's 256 bytes from offset 512; the test
    // writes only between operations, so no reference into it is alive.
    unsafe {
        let dst = region.as_ptr().add(512 + offset);
        core::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
    }
}

#[test]
fn forged_lengths_are_errors_not_out_of_bounds() {
    let mut r = region();
    let bytes = r.as_uninit_mut();
    let len = bytes.len();
    let ptr = NonNull::from(&mut *bytes).cast::<u8>();
    // SAFETY: the boxed region; the test writes it only between operations.
    let ring = unsafe { FrameRing::init_raw(ptr, len, CAP, InitOptions::default()) }.unwrap();
    let mut tx = ring.writer(waiter()).unwrap();
    let mut rx = ring.reader(waiter()).unwrap();
    tx.try_send(meta(1), b"abcdefgh").unwrap();
    for bad_len in [9, 100, 1000, u32::MAX - 3, u32::MAX] {
        let forged = FrameHeader {
            len: bad_len,
            ..FrameHeader::default()
        };
        forge(ptr, 0, bytemuck::bytes_of(&forged));
        assert_eq!(
            rx.try_recv_frame().unwrap_err(),
            FrameRecvError::Corrupted,
            "len {bad_len}"
        );
    }
    let honest = FrameHeader {
        len: 8,
        ..FrameHeader::default()
    };
    forge(ptr, 0, bytemuck::bytes_of(&honest));
    let mut buf = [0u8; 8];
    assert_eq!(rx.try_recv(&mut buf).unwrap().1, 8);
    // A padding frame where none fits is skipped only if it was committed.
    tx.try_send(meta(1), b"x").unwrap();
    let padding = FrameHeader {
        flags: FrameHeader::PADDING,
        ..FrameHeader::default()
    };
    forge(ptr, 40, bytemuck::bytes_of(&padding));
    assert_eq!(rx.try_recv(&mut buf), Err(FrameRecvError::Corrupted));
}

#[test]
fn threads_stream_random_lengths_intact() {
    let frames: u32 = if cfg!(miri) { 60 } else { 100_000 };
    let mut r = region();
    let ring = FrameRing::init(r.as_uninit_mut(), 1024).unwrap();
    let mut tx = ring.writer(waiter()).unwrap();
    let mut rx = ring.reader(waiter()).unwrap();
    let max = ring.max_payload() as usize;
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut x = 0x9E37_79B9u32;
            for i in 0..frames {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                let len = x as usize % (max + 1);
                tx.send_blocking(meta(i), &payload(i, len), None).unwrap();
            }
        });
        let mut buf = std::vec![0u8; max];
        let mut i = 0;
        loop {
            match rx.recv_blocking(&mut buf, None) {
                Ok((header, n)) => {
                    assert_eq!(header.seq, u64::from(i));
                    assert_eq!(header.msg_type, i);
                    assert_eq!(&buf[..n], &payload(i, n)[..]);
                    i += 1;
                }
                Err(FrameRecvError::Disconnected) => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(i, frames);
    });
}

#[test]
fn a_dead_writer_or_reader_can_be_released_once() {
    let mut r = region();
    let ring = FrameRing::init(r.as_uninit_mut(), CAP).unwrap();
    assert_eq!(ring.writer_state(), RoleState::Vacant);
    let mut tx = ring.claim_writer(11, waiter()).unwrap();
    let mut rx = ring.reader(waiter()).unwrap();
    tx.try_send(meta(1), b"last words").unwrap();
    let RoleState::Held(claim) = ring.writer_state() else {
        panic!("writer should be held")
    };
    assert_eq!(claim.pid, 11);
    // Pretend the writer's process died: its handle is never dropped.
    core::mem::forget(tx);
    assert!(ring.release_dead_writer(claim, &waiter()));
    assert!(
        !ring.release_dead_writer(claim, &waiter()),
        "released twice"
    );
    let mut buf = [0u8; 16];
    let (_, n) = rx.try_recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"last words", "what was sent is kept");
    assert_eq!(rx.try_recv(&mut buf), Err(FrameRecvError::Disconnected));
    let mut tx = ring.writer(waiter()).unwrap();
    let RoleState::Held(claim) = ring.reader_state() else {
        panic!("reader should be held")
    };
    core::mem::forget(rx);
    assert!(ring.release_dead_reader(claim, &waiter()));
    assert_eq!(
        tx.try_send(meta(2), b"x"),
        Err(FrameSendError::Disconnected)
    );
    assert!(matches!(ring.reader_state(), RoleState::Closed(_)));
}
