//! loom models of the frame ring (core/src/frame): a writer and a reader on
//! two threads over the smallest ring (256 bytes), with frames sized so the
//! third one does not fit before the end of the ring. The writer then pads
//! the tail, with a padding frame or, when fewer than 32 bytes are left,
//! with nothing, and writes the frame at the start in the same commit; it
//! must first wait for the reader to release the frames in its way.
//!
//! Every frame must arrive once, in order, with its header and every payload
//! byte intact, and the writer's close must show only after the last one.
//! The core's slot tracker fails a model if the two sides ever touch a byte
//! of the ring (a frame, a header, padding) without a happens-before edge
//! between them.
#![cfg(loom)]

use annulus::frame::{FrameMeta, FrameRecvError, FrameSendError, HEADER_SIZE};
use loom::thread;
use loom_tests::{LoomFrameReader, LoomFrameRing, LoomFrameWriter};

/// The ring's size: the smallest a frame ring may have.
const CAPACITY: u32 = 256;

/// Payload byte `k` of frame `i`: depends on both, so a stale or shifted
/// payload cannot pass for the right one.
fn byte(i: u32, k: usize) -> u8 {
    (i as usize * 37 + k) as u8
}

fn meta(i: u32) -> FrameMeta {
    FrameMeta {
        msg_type: i + 1,
        priority: i,
        sender: 7,
        flags: 0,
    }
}

/// Bytes frame `len` takes in the ring.
fn size(len: usize) -> u32 {
    (len as u32 + HEADER_SIZE).next_multiple_of(8)
}

/// Sends frame `i` of `len` bytes, yielding while the ring is full: copied,
/// or written in place through a grant.
fn send_spin(tx: &mut LoomFrameWriter, i: u32, len: usize, in_place: bool) {
    let payload: Vec<u8> = (0..len).map(|k| byte(i, k)).collect();
    loop {
        let result = if in_place {
            tx.try_grant(len).map(|mut grant| {
                grant.payload_mut().copy_from_slice(&payload);
                grant.commit(len, meta(i));
            })
        } else {
            tx.try_send(meta(i), &payload)
        };
        match result {
            Ok(()) => return,
            Err(FrameSendError::Full) => thread::yield_now(),
            Err(e) => panic!("send of frame {i} failed: {e:?}"),
        }
    }
}

/// Receives the next frame in place, yielding while the ring is empty, and
/// checks that it is frame `i` of `len` bytes, header and payload.
fn recv_spin(rx: &mut LoomFrameReader, i: u32, len: usize) {
    loop {
        match rx.try_recv_frame() {
            Ok(frame) => {
                check(i, len, frame.header(), frame.payload());
                frame.release();
                return;
            }
            Err(FrameRecvError::Empty) => thread::yield_now(),
            Err(e) => panic!("receive of frame {i} failed: {e:?}"),
        }
    }
}

fn check(i: u32, len: usize, header: &annulus::frame::FrameHeader, payload: &[u8]) {
    assert_eq!(header.seq, u64::from(i), "frames in order");
    let m = meta(i);
    assert_eq!(
        (header.msg_type, header.priority, header.sender),
        (m.msg_type, m.priority, m.sender)
    );
    assert_eq!(payload.len(), len, "length of frame {i}");
    for (k, &b) in payload.iter().enumerate() {
        assert_eq!(b, byte(i, k), "byte {k} of frame {i}");
    }
}

/// Sends frames of `lens` (the last one in place) on a spawned thread and
/// receives them on the model's thread; then the writer's close.
fn stream(lens: [usize; 3]) {
    loom::model(move || {
        let ring = LoomFrameRing::new(CAPACITY);
        let (mut tx, mut rx) = ring.pair();
        let writer = thread::spawn(move || {
            for (i, &len) in lens.iter().enumerate() {
                send_spin(&mut tx, i as u32, len, i == lens.len() - 1);
            }
        });
        for (i, &len) in lens.iter().enumerate() {
            recv_spin(&mut rx, i as u32, len);
        }
        writer.join().expect("writer thread");
        assert_eq!(
            rx.try_recv_frame().err(),
            Some(FrameRecvError::Disconnected)
        );
        assert_eq!(ring.len_bytes(), 0, "padding released with the frames");
    });
}

/// Frames of 88, 88 and 88 bytes: the third meets 80 bytes before the end,
/// so the writer writes an 80-byte padding frame (a header saying "skip")
/// and the frame at offset 0, once the reader has released the first frame.
#[test]
fn wrap_with_a_padding_frame() {
    let lens = [56, 56, 56];
    let tail = CAPACITY - size(lens[0]) - size(lens[1]);
    assert!(
        tail < size(lens[2]) && tail >= HEADER_SIZE,
        "a padding frame"
    );
    stream(lens);
}

/// Frames of 128, 104 and 40 bytes: the third meets 24 bytes before the end,
/// too few for a header, so the writer leaves them unwritten and the reader
/// must skip them by position alone.
#[test]
fn wrap_with_a_tail_too_short_for_a_header() {
    let lens = [96, 72, 8];
    let tail = CAPACITY - size(lens[0]) - size(lens[1]);
    assert!(tail < HEADER_SIZE, "a short tail");
    stream(lens);
}

/// The padding case with the blocking calls: the writer sleeps on the
/// futex model while the ring lacks room for padding and frame together,
/// the reader while it is empty. No wake-up may be lost (a lost one leaves a
/// side asleep for good, which loom reports as a deadlock).
#[test]
fn blocking_wrap_with_a_padding_frame() {
    loom::model(|| {
        let lens = [56usize, 56, 56];
        let ring = LoomFrameRing::new(CAPACITY);
        let (mut tx, mut rx) = ring.pair();
        let writer = thread::spawn(move || {
            for (i, &len) in lens.iter().enumerate() {
                let payload: Vec<u8> = (0..len).map(|k| byte(i as u32, k)).collect();
                tx.send_blocking(meta(i as u32), &payload, None)
                    .expect("reader is there");
            }
        });
        let mut buf = [0u8; 96];
        for (i, &len) in lens.iter().enumerate() {
            let (header, n) = rx.recv_blocking(&mut buf, None).expect("frame");
            check(i as u32, len, &header, &buf[..n]);
        }
        writer.join().expect("writer thread");
        assert_eq!(
            rx.recv_blocking(&mut buf, None),
            Err(FrameRecvError::Disconnected)
        );
    });
}
