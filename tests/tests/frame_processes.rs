//! A named frame ring between real processes: a child opens the ring by name
//! and writes variable-length frames (copied or written in place), the
//! parent reads them, both sides sleeping on the shared futex. Every frame
//! arrives once, in order, with its header and payload intact, through many
//! wrap-arounds of a small ring (padding frames, and tails too short for
//! one). A killed writer or reader ends the peer's wait with `Disconnected`.

use std::time::Duration;

use annulus::claim::RoleState;
use annulus::frame::{FrameMeta, FrameRecvError, FrameSendError, HEADER_SIZE};
use annulus_linux::named::NamedFrameRing;
use annulus_process_tests::{CHILD_NAME, ChildGuard, UniqueName, child_name, child_role};

const CAPACITY: u32 = 1024;
/// Largest payload of a `CAPACITY` ring: half the ring minus a header.
const MAX_PAYLOAD: u32 = CAPACITY / 2 - HEADER_SIZE;
const FRAMES: u32 = 5_000;
/// Frames the hanging children send before they wait to be killed.
const BEFORE_DEATH: u32 = 50;
/// A watchdog far above the expected time, never a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(60);

/// Payload length of frame `i`: 0 to `MAX_PAYLOAD`, scattered (xorshift).
fn frame_len(i: u32) -> usize {
    let mut x = i.wrapping_mul(0x9E37_79B9) | 1;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    (x % (MAX_PAYLOAD + 1)) as usize
}

/// Payload of frame `i`: every byte depends on `i` and its offset, so a torn,
/// shifted or stale payload cannot pass for it.
fn payload(i: u32) -> Vec<u8> {
    (0..frame_len(i))
        .map(|k| (i as usize).wrapping_mul(31).wrapping_add(k * 7) as u8)
        .collect()
}

fn meta(i: u32) -> FrameMeta {
    FrameMeta {
        msg_type: i % 7 + 1,
        priority: i % 4,
        sender: i ^ 0xA5A5,
        flags: i & 0xff,
    }
}

/// Replays the writer's placement: how often the stream wraps with a
/// padding frame, and how often with a tail too short for a header.
fn wraps() -> (u32, u32) {
    let (mut pos, mut padded, mut short) = (0u32, 0, 0);
    for i in 0..FRAMES {
        let size = (frame_len(i) as u32 + HEADER_SIZE).next_multiple_of(8);
        let contiguous = CAPACITY - pos % CAPACITY;
        if contiguous < size {
            if contiguous >= HEADER_SIZE {
                padded += 1;
            } else {
                short += 1;
            }
            pos += contiguous;
        }
        pos += size;
    }
    (padded, short)
}

#[test]
fn frames_cross_processes_whole_and_in_order() {
    if child_role().is_some() {
        return; // the child runs `frame_writer` only
    }
    let (padded, short) = wraps();
    assert!(
        padded > 0 && short > 0,
        "the stream must wrap both ways: {padded} padded, {short} short"
    );
    let name = UniqueName::new("frames");
    let ring = NamedFrameRing::create(&name.0, CAPACITY).unwrap();
    let mut rx = ring.reader().unwrap();
    let child =
        ChildGuard::spawn("frame_writer", "writer", &[(CHILD_NAME, name.0.clone())]).unwrap();
    let mut buf = vec![0u8; MAX_PAYLOAD as usize];
    let mut next = 0;
    loop {
        match ring.recv_watching(&mut rx, &mut buf, Some(WATCHDOG)) {
            Ok((header, n)) => {
                let m = meta(next);
                assert_eq!(header.seq, u64::from(next), "frames in order");
                assert_eq!(
                    (
                        header.msg_type,
                        header.priority,
                        header.sender,
                        header.flags
                    ),
                    (m.msg_type, m.priority, m.sender, m.flags),
                    "header of frame {next}"
                );
                assert_eq!(header.len as usize, n);
                assert_eq!(&buf[..n], &payload(next)[..], "payload of frame {next}");
                next += 1;
            }
            Err(FrameRecvError::Disconnected) => break,
            Err(e) => panic!("reader failed at frame {next}: {e}"),
        }
    }
    assert_eq!(next, FRAMES, "every frame exactly once");
    child.wait_success(WATCHDOG).unwrap();
}

#[test]
fn frame_writer() {
    let Some(role) = child_role() else {
        return;
    };
    assert_eq!(role, "writer");
    let ring = NamedFrameRing::open(&child_name()).unwrap();
    let mut tx = ring.writer().unwrap();
    let mut in_place = 0;
    for i in 0..FRAMES {
        let body = payload(i);
        // Every third frame is written in place when there is room now.
        let grant = if i % 3 == 0 {
            tx.try_grant(body.len()).ok()
        } else {
            None
        };
        if let Some(mut grant) = grant {
            grant.payload_mut().copy_from_slice(&body);
            grant.commit(body.len(), meta(i));
            in_place += 1;
            continue;
        }
        ring.send_watching(&mut tx, meta(i), &body, Some(WATCHDOG))
            .unwrap_or_else(|e| panic!("writer failed at frame {i}: {e}"));
    }
    assert!(in_place > 0, "some frames were written in place");
}

#[test]
fn a_killed_writer_disconnects_the_reader_after_its_frames() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("frames-dead-writer");
    let ring = NamedFrameRing::create(&name.0, CAPACITY).unwrap();
    let mut rx = ring.reader().unwrap();
    let child = ChildGuard::spawn(
        "frame_writer_then_hang",
        "writer",
        &[(CHILD_NAME, name.0.clone())],
    )
    .unwrap();
    let mut buf = vec![0u8; MAX_PAYLOAD as usize];
    for i in 0..BEFORE_DEATH {
        let (header, n) = ring
            .recv_watching(&mut rx, &mut buf, Some(WATCHDOG))
            .unwrap();
        assert_eq!(header.seq, u64::from(i));
        assert_eq!(&buf[..n], &payload(i)[..]);
    }
    assert!(matches!(ring.ring().writer_state(), RoleState::Held(_)));
    child.kill();
    assert_eq!(
        ring.recv_watching(&mut rx, &mut buf, Some(WATCHDOG)),
        Err(FrameRecvError::Disconnected)
    );
    // The dead writer's role is free again.
    let mut tx = ring.writer().unwrap();
    tx.try_send(meta(0), b"again").unwrap();
    let (_, n) = rx.try_recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"again");
}

#[test]
fn frame_writer_then_hang() {
    let Some(_) = child_role() else {
        return;
    };
    let ring = NamedFrameRing::open(&child_name()).unwrap();
    let mut tx = ring.writer().unwrap();
    for i in 0..BEFORE_DEATH {
        ring.send_watching(&mut tx, meta(i), &payload(i), Some(WATCHDOG))
            .unwrap();
    }
    // Wait to be killed, role held.
    std::thread::sleep(WATCHDOG * 2);
}

#[test]
fn a_killed_reader_disconnects_a_blocked_writer() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("frames-dead-reader");
    let ring = NamedFrameRing::create(&name.0, CAPACITY).unwrap();
    let mut tx = ring.writer().unwrap();
    let child = ChildGuard::spawn(
        "frame_reader_then_hang",
        "reader",
        &[(CHILD_NAME, name.0.clone())],
    )
    .unwrap();
    // The child reads BEFORE_DEATH frames, then stops reading: the ring
    // fills up.
    let mut sent = 0;
    while sent < BEFORE_DEATH {
        ring.send_watching(&mut tx, meta(sent), &payload(sent), Some(WATCHDOG))
            .unwrap();
        sent += 1;
    }
    while tx.try_send(meta(sent), &payload(sent)).is_ok() {
        sent += 1;
    }
    child.kill();
    // The writer fills whatever room is left, then blocks until the
    // reader's death is noticed.
    let result = loop {
        match ring.send_watching(&mut tx, meta(sent), &payload(sent), Some(WATCHDOG)) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(result, FrameSendError::Disconnected);
    assert!(matches!(ring.ring().reader_state(), RoleState::Closed(_)));
}

#[test]
fn frame_reader_then_hang() {
    let Some(_) = child_role() else {
        return;
    };
    let ring = NamedFrameRing::open(&child_name()).unwrap();
    let mut rx = ring.reader().unwrap();
    let mut buf = vec![0u8; MAX_PAYLOAD as usize];
    for i in 0..BEFORE_DEATH {
        let (header, _) = ring
            .recv_watching(&mut rx, &mut buf, Some(WATCHDOG))
            .unwrap();
        assert_eq!(header.seq, u64::from(i));
    }
    // Wait to be killed, role held.
    std::thread::sleep(WATCHDOG * 2);
}
