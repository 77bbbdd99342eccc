//! The seeds' shmwrite/shmread pair, done right: writers put text into one
//! shared buffer and a reader takes it out, coordinated by two named
//! counting semaphores ("empty" starts at 1, "full" at 0), so no message is
//! lost, overwritten or read half-written. Here with three writer processes.

use std::time::Duration;

use annulus_linux::SharedMemory;
use annulus_linux::named::NamedSemaphore;
use annulus_process_tests::{CHILD_NAME, ChildGuard, UniqueName, child_name, child_role};

const WRITERS: u32 = 3;
const MESSAGES: u32 = 300;
const TEXT: usize = 256;
/// Watchdog for every wait; never a timing assertion.
const WATCHDOG: Option<Duration> = Some(Duration::from_secs(30));

/// The text a writer puts in the buffer: recognisable in every byte, so a
/// torn message (two writers mixed, or half old) cannot pass for whole.
fn text(writer: u32, seq: u32) -> [u8; TEXT] {
    let mut t = [0u8; TEXT];
    let head = format!("writer {writer} message {seq}:");
    t[..head.len()].copy_from_slice(head.as_bytes());
    for (i, b) in t.iter_mut().enumerate().skip(head.len()) {
        *b = b'a' + ((writer * 7 + seq + i as u32) % 26) as u8;
    }
    t
}

fn names(base: &str) -> (String, String, String) {
    (
        format!("{base}.buf"),
        format!("{base}.empty"),
        format!("{base}.full"),
    )
}

#[test]
fn three_writers_one_reader_no_lost_or_torn_text() {
    if child_role().is_some() {
        return;
    }
    let base = UniqueName::new("shmtext");
    let (buf_name, empty_name, full_name) = names(&base.0);
    let _buf_guard = UniqueName(buf_name.clone());
    let _empty_guard = UniqueName(empty_name.clone());
    let _full_guard = UniqueName(full_name.clone());
    let buffer = SharedMemory::create(&buf_name, TEXT, 0o600).unwrap();
    let map = buffer.map().unwrap();
    let empty = NamedSemaphore::create(&empty_name, 1, 1).unwrap();
    let full = NamedSemaphore::create(&full_name, 0, 1).unwrap();
    let writers: Vec<ChildGuard> = (0..WRITERS)
        .map(|id| {
            ChildGuard::spawn("writer", &id.to_string(), &[(CHILD_NAME, base.0.clone())]).unwrap()
        })
        .collect();
    let mut next = vec![0u32; WRITERS as usize];
    for _ in 0..WRITERS * MESSAGES {
        full.semaphore()
            .wait(1, WATCHDOG)
            .expect("a writer fills the buffer");
        let mut got = [0u8; TEXT];
        // SAFETY: the buffer is TEXT bytes; holding "full" means no writer
        // touches it until we post "empty" (the semaphores order the bytes).
        unsafe { std::ptr::copy_nonoverlapping(map.ptr().as_ptr(), got.as_mut_ptr(), TEXT) };
        empty.semaphore().post(1).unwrap();
        let line = String::from_utf8_lossy(&got[..30]).into_owned();
        let writer: u32 = line["writer ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let seq = next[writer as usize];
        assert_eq!(
            got,
            text(writer, seq),
            "torn or out-of-order text from writer {writer}"
        );
        next[writer as usize] += 1;
    }
    for w in writers {
        w.wait_success(Duration::from_secs(60)).unwrap();
    }
    assert_eq!(next, vec![MESSAGES; WRITERS as usize], "no message lost");
}

#[test]
fn writer() {
    let Some(role) = child_role() else {
        return;
    };
    let id: u32 = role.parse().unwrap();
    let (buf_name, empty_name, full_name) = names(&child_name());
    let buffer = SharedMemory::open(&buf_name, 0o600, TEXT).unwrap();
    let map = buffer.map().unwrap();
    let empty = NamedSemaphore::open(&empty_name).unwrap();
    let full = NamedSemaphore::open(&full_name).unwrap();
    for seq in 0..MESSAGES {
        let t = text(id, seq);
        empty
            .semaphore()
            .wait(1, WATCHDOG)
            .expect("the reader empties the buffer");
        // SAFETY: holding "empty" gives this writer the buffer alone until it
        // posts "full".
        unsafe { std::ptr::copy_nonoverlapping(t.as_ptr(), map.ptr().as_ptr(), TEXT) };
        full.semaphore().post(1).unwrap();
    }
}
