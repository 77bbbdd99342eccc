//! The named message queue between real processes: priority order and every
//! typed-receive mode across a process boundary, several sender and
//! receiver processes blocking on a small queue (every message received
//! exactly once, each sender's messages of one priority in order), and
//! participants killed with SIGKILL, blocked in a receive or between
//! operations, that block nobody and whose records come back.
//!
//! The arrival notification (`mq_notify`) has its own file, `mq_notify.rs`:
//! a process that receives signals needs its own `main`.

#![allow(unsafe_code)]

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use annulus::mq::{Filter, RecvError, RecvOptions, RegisterError, SendError};
use annulus_linux::named::{DeadReleased, NamedMessageQueue, RoleError};
use annulus_linux::{Mapping, SharedMemory};
use annulus_process_tests::{
    CHILD_NAME, ChildGuard, UniqueName, all_threads_asleep, child_name, child_role, wait_until,
};
use rustix::io::Errno;

/// Watchdog for every wait and every child; never a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(60);

fn ty(t: u32) -> NonZeroU32 {
    NonZeroU32::new(t).expect("types are non-zero")
}

fn spawn(test: &str, role: &str, name: &str) -> ChildGuard {
    ChildGuard::spawn(test, role, &[(CHILD_NAME, name.to_owned())]).expect("spawn a child")
}

// (a) Priority order.

/// Messages the priority child sends: 40, priorities 0..5 scattered.
const PRIORITY_MESSAGES: u32 = 40;

fn priority_of(i: u32) -> u16 {
    ((i * 7 + 3) % 5) as u16
}

#[test]
fn a_childs_messages_arrive_by_priority_then_in_order_sent() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("mq-priority");
    let mq = NamedMessageQueue::create(&name.0, PRIORITY_MESSAGES, 16, 2).unwrap();
    let child = spawn("send_mixed_priorities", "sender", &name.0);
    let pid = child.id();
    // Not receiving until the child has sent everything and left.
    child.wait_success(WATCHDOG).unwrap();
    let stats = mq.stats().unwrap();
    assert_eq!(
        (stats.messages, stats.sent),
        (PRIORITY_MESSAGES, PRIORITY_MESSAGES)
    );
    assert_eq!(stats.last_sender, pid);

    let mut expected: Vec<u32> = (0..PRIORITY_MESSAGES).collect();
    // Stable: equal priorities keep the order sent.
    expected.sort_by_key(|&i| std::cmp::Reverse(priority_of(i)));
    let mut rx = mq.endpoint().unwrap();
    let mut buf = [0u8; 16];
    for i in expected {
        let got = rx.try_recv(&mut buf).unwrap();
        assert_eq!(&buf[..got.len], format!("message {i}").as_bytes());
        assert_eq!(got.priority, priority_of(i));
    }
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
}

#[test]
fn send_mixed_priorities() {
    let Some(_) = child_role() else {
        return;
    };
    let mq = NamedMessageQueue::open(&child_name()).unwrap();
    let mut tx = mq.endpoint().unwrap();
    for i in 0..PRIORITY_MESSAGES {
        let text = format!("message {i}");
        tx.try_send(text.as_bytes(), priority_of(i), ty(1)).unwrap();
    }
}

// (b) Typed receive.

/// What the typed child sends: (text, priority, type). Receive order:
/// c d a b f e.
const TYPED: [(&str, u16, u32); 6] = [
    ("a", 1, 5),
    ("b", 1, 2),
    ("c", 3, 7),
    ("d", 3, 2),
    ("e: long enough not to fit an 8-byte buffer", 0, 9),
    ("f", 1, 3),
];

#[test]
fn every_receive_filter_picks_across_processes() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("mq-typed");
    let mq = NamedMessageQueue::create(&name.0, 8, 64, 2).unwrap();
    spawn("send_typed", "sender", &name.0)
        .wait_success(WATCHDOG)
        .unwrap();
    let mut rx = mq.endpoint().unwrap();
    let mut buf = [0u8; 64];
    let mut take = |filter| {
        rx.try_recv_with(&mut buf, RecvOptions::filter(filter))
            .map(|got| {
                (
                    String::from_utf8_lossy(&buf[..got.len]).into_owned(),
                    got.mtype.get(),
                )
            })
    };
    assert_eq!(
        take(Filter::Type(ty(2))),
        Ok(("d".into(), 2)),
        "first of type 2"
    );
    assert_eq!(
        take(Filter::LowestAtMost(ty(5))),
        Ok(("b".into(), 2)),
        "lowest type <= 5"
    );
    assert_eq!(
        take(Filter::Except(ty(7))),
        Ok(("a".into(), 5)),
        "first not 7"
    );
    assert_eq!(take(Filter::Type(ty(4))), Err(RecvError::Empty));
    assert_eq!(take(Filter::LowestAtMost(ty(2))), Err(RecvError::Empty));
    assert_eq!(mq.stats().unwrap().messages, 3, "c, f and e are left");

    let long = TYPED[4].0.as_bytes();
    let mut small = [0u8; 8];
    let nine = RecvOptions::filter(Filter::Type(ty(9)));
    assert_eq!(
        rx.try_recv_with(&mut small, nine),
        Err(RecvError::BufferTooSmall {
            needed: long.len() as u32
        })
    );
    assert_eq!(mq.stats().unwrap().messages, 3, "a message too long stays");
    let got = rx
        .try_recv_with(
            &mut small,
            RecvOptions {
                truncate: true,
                ..nine
            },
        )
        .unwrap();
    assert!(got.truncated());
    assert_eq!((got.len, got.message_len), (8, long.len() as u32));
    assert_eq!(&small, &long[..8]);

    let mut take_any = || {
        rx.try_recv(&mut buf)
            .map(|got| (buf[..got.len].to_vec(), got.priority))
    };
    assert_eq!(take_any(), Ok((b"c".to_vec(), 3)));
    assert_eq!(take_any(), Ok((b"f".to_vec(), 1)));
    assert_eq!(take_any(), Err(RecvError::Empty));
}

#[test]
fn send_typed() {
    let Some(_) = child_role() else {
        return;
    };
    let mq = NamedMessageQueue::open(&child_name()).unwrap();
    let mut tx = mq.endpoint().unwrap();
    for (text, priority, mtype) in TYPED {
        tx.try_send(text.as_bytes(), priority, ty(mtype)).unwrap();
    }
}

// (c) Many senders, many receivers, a small queue.

const SENDERS: u32 = 3;
const RECEIVERS: u32 = 3;
const PER_SENDER: u32 = 1_000;
/// The type of the message that tells a receiver to stop; data messages
/// have type `sender + 1`.
const STOP: u32 = 100;
/// Bytes of the largest message: a 10-byte header and up to 40 of filler.
const MESSAGE_SIZE: u32 = 50;

/// Message `seq` of `sender`: its identity, priority 1..=3, and filler that
/// depends on both, of a length that varies with `seq`.
fn data_message(sender: u32, seq: u32) -> (Vec<u8>, u16) {
    let priority = (1 + seq % 3) as u16;
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&sender.to_le_bytes());
    bytes.extend_from_slice(&seq.to_le_bytes());
    bytes.extend_from_slice(&priority.to_le_bytes());
    bytes.extend((0..seq % 41).map(|k| (sender * 31 + seq * 7 + k) as u8));
    (bytes, priority)
}

/// How often each (sender, seq) was received: counters in shared memory.
fn seen(table: &Mapping, sender: u32, seq: u32) -> &AtomicU32 {
    let index = (sender * PER_SENDER + seq) as usize;
    assert!(index * 4 < table.len());
    // SAFETY: the index is inside the mapping (asserted), which is page
    // aligned, so the word is aligned; every process touches the table only
    // through atomics; the mapping outlives the borrow.
    unsafe { AtomicU32::from_ptr(table.ptr().as_ptr().cast::<u32>().add(index)) }
}

fn table_name(base: &str) -> String {
    format!("{base}.seen")
}

#[test]
fn several_senders_and_receivers_each_message_exactly_once() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("mq-many");
    let table_guard = UniqueName(table_name(&name.0));
    let table_len = (SENDERS * PER_SENDER * 4) as usize;
    let table = SharedMemory::create(&table_guard.0, table_len, 0o600).unwrap();
    let table = table.map().unwrap();
    let mq = NamedMessageQueue::create(&name.0, 4, MESSAGE_SIZE, 1 + SENDERS + RECEIVERS).unwrap();
    let receivers: Vec<ChildGuard> = (0..RECEIVERS)
        .map(|r| spawn("receive_until_stop", &r.to_string(), &name.0))
        .collect();
    let senders: Vec<ChildGuard> = (0..SENDERS)
        .map(|s| spawn("send_in_order", &s.to_string(), &name.0))
        .collect();
    for sender in senders {
        sender.wait_success(WATCHDOG).unwrap();
    }
    // Every data message is queued or taken; the stops, at the lowest
    // priority, come after all of them.
    let mut tx = mq.endpoint().unwrap();
    for _ in 0..RECEIVERS {
        tx.send(b"stop", 0, ty(STOP), Some(WATCHDOG)).unwrap();
    }
    for receiver in receivers {
        receiver.wait_success(WATCHDOG).unwrap();
    }
    for sender in 0..SENDERS {
        for seq in 0..PER_SENDER {
            assert_eq!(
                seen(&table, sender, seq).load(Ordering::Relaxed),
                1,
                "message {seq} of sender {sender}"
            );
        }
    }
    let stats = mq.stats().unwrap();
    let total = SENDERS * PER_SENDER + RECEIVERS;
    assert_eq!(
        (stats.messages, stats.sent, stats.received),
        (0, total, total)
    );
}

#[test]
fn send_in_order() {
    let Some(role) = child_role() else {
        return;
    };
    let sender: u32 = role.parse().unwrap();
    let mq = NamedMessageQueue::open(&child_name()).unwrap();
    let mut tx = mq.endpoint().unwrap();
    for seq in 0..PER_SENDER {
        let (bytes, priority) = data_message(sender, seq);
        tx.send(&bytes, priority, ty(sender + 1), Some(WATCHDOG))
            .expect("the receivers make room");
    }
}

#[test]
fn receive_until_stop() {
    let Some(_) = child_role() else {
        return;
    };
    let base = child_name();
    let mq = NamedMessageQueue::open(&base).unwrap();
    let table = SharedMemory::open(&table_name(&base), 0o600, 4).unwrap();
    let table = table.map().unwrap();
    let mut rx = mq.endpoint().unwrap();
    let mut buf = [0u8; MESSAGE_SIZE as usize];
    // The last seq taken of each (sender, priority).
    let mut last = [[None::<u32>; 4]; SENDERS as usize];
    loop {
        let got = rx
            .recv(&mut buf, RecvOptions::default(), Some(WATCHDOG))
            .expect("a message or the stop");
        if got.mtype.get() == STOP {
            assert_eq!(got.priority, 0);
            return;
        }
        let word = |at: usize| u32::from_le_bytes(buf[at..at + 4].try_into().unwrap());
        let (sender, seq) = (word(0), word(4));
        assert!(sender < SENDERS && seq < PER_SENDER, "{sender} {seq}");
        let (bytes, priority) = data_message(sender, seq);
        assert_eq!(&buf[..got.len], &bytes[..], "torn message");
        assert_eq!((got.priority, got.mtype.get()), (priority, sender + 1));
        let previous = &mut last[sender as usize][priority as usize];
        assert!(
            previous.is_none_or(|p| p < seq),
            "sender {sender} priority {priority}: {seq} after {previous:?}"
        );
        *previous = Some(seq);
        seen(&table, sender, seq).fetch_add(1, Ordering::Relaxed);
    }
}

// (e) Killed participants.

const FROM_A: u32 = 1;
const FROM_B: u32 = 2;
const FROM_PARENT: u32 = 3;
const TO_NEWCOMER: u32 = 4;
const FROM_NEWCOMER: u32 = 5;
/// A type nobody sends: the receiver that waits for it blocks.
const NEVER: u32 = 50;

#[test]
fn killed_participants_block_nobody_and_their_records_come_back() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("mq-killed");
    let mq = NamedMessageQueue::create(&name.0, 8, 16, 3).unwrap();
    let mut me = mq.endpoint().unwrap();
    let sent = || mq.stats().unwrap().sent;

    // A sends two messages, then blocks in a receive.
    let a = spawn("send_then_block_in_recv", "a", &name.0);
    wait_until("A sends", WATCHDOG, || sent() == 2);
    wait_until("A sleeps in its receive", WATCHDOG, || {
        all_threads_asleep(a.id())
    });
    // B sends two messages, then idles between operations.
    let b = spawn("send_then_idle", "b", &name.0);
    wait_until("B sends", WATCHDOG, || sent() == 4);
    assert!(matches!(
        mq.endpoint(),
        Err(RoleError::Shared(RegisterError::TooManyParticipants {
            max: 3
        }))
    ));
    a.kill();
    b.kill();

    // The survivor goes on at once, and nothing A or B sent is lost.
    me.send(b"p0", 0, ty(FROM_PARENT), Some(WATCHDOG)).unwrap();
    let mut buf = [0u8; 16];
    for (text, mtype) in [
        ("b0", FROM_B),
        ("b1", FROM_B),
        ("a0", FROM_A),
        ("a1", FROM_A),
        ("p0", FROM_PARENT),
    ] {
        let got = me
            .recv(&mut buf, RecvOptions::default(), Some(WATCHDOG))
            .unwrap();
        assert_eq!((&buf[..got.len], got.mtype.get()), (text.as_bytes(), mtype));
    }
    // Every slot is accounted for: the queue fills to its maximum.
    for i in 0..8u8 {
        me.try_send(&[i], 1, ty(FROM_PARENT)).unwrap();
    }
    assert_eq!(me.try_send(b"9", 1, ty(FROM_PARENT)), Err(SendError::Full));
    for i in 0..8u8 {
        let got = me.try_recv(&mut buf).unwrap();
        assert_eq!(&buf[..got.len], &[i]);
    }

    // The dead hold their records until released.
    assert!(mq.endpoint().is_err(), "records still held by the dead");
    assert_eq!(
        mq.release_dead(),
        DeadReleased {
            participants: 2,
            notification: None
        }
    );
    // A newcomer process takes a released record and talks to the survivor.
    me.try_send(b"hello", 1, ty(TO_NEWCOMER)).unwrap();
    let c = spawn("newcomer", "c", &name.0);
    let c_pid = c.id();
    c.wait_success(WATCHDOG).unwrap();
    let got = me.try_recv(&mut buf).unwrap();
    assert_eq!(
        (&buf[..got.len], got.mtype.get()),
        (&b"welcome"[..], FROM_NEWCOMER)
    );
    let stats = mq.stats().unwrap();
    assert_eq!((stats.last_sender, stats.last_receiver), (c_pid, my_pid()));
    assert!(mq.endpoint().is_ok(), "the newcomer's record is free again");

    // A, killed asleep in its receive, no longer counts as a blocked
    // receiver: an arrival in the empty queue notifies the registrant (here
    // a pid no process has, so the delivery fails, harmlessly).
    let nobody = impossible_pid();
    mq.queue().register_notification(nobody, 35).unwrap();
    let sent = me.try_send(b"x", 1, ty(FROM_PARENT)).unwrap();
    assert!(sent.was_empty);
    assert_eq!(
        sent.notified
            .map(|r| r.map_err(|e| (e.registration.pid, e.errno))),
        Some(Err((nobody, Errno::SRCH)))
    );
}

/// A pid no process can have: above the kernel's `pid_max`.
fn impossible_pid() -> u32 {
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
    max.trim().parse::<u32>().unwrap() + 1
}

fn my_pid() -> u32 {
    std::process::id()
}

#[test]
fn send_then_block_in_recv() {
    let Some(_) = child_role() else {
        return;
    };
    let mq = NamedMessageQueue::open(&child_name()).unwrap();
    let mut ep = mq.endpoint().unwrap();
    ep.try_send(b"a0", 1, ty(FROM_A)).unwrap();
    ep.try_send(b"a1", 1, ty(FROM_A)).unwrap();
    let mut buf = [0u8; 16];
    let never = RecvOptions::filter(Filter::Type(ty(NEVER)));
    // Killed while asleep here.
    let _ = ep.recv(&mut buf, never, Some(WATCHDOG * 2));
    panic!("nobody sends type {NEVER}");
}

#[test]
fn send_then_idle() {
    let Some(_) = child_role() else {
        return;
    };
    let mq = NamedMessageQueue::open(&child_name()).unwrap();
    let mut ep = mq.endpoint().unwrap();
    ep.try_send(b"b0", 2, ty(FROM_B)).unwrap();
    ep.try_send(b"b1", 2, ty(FROM_B)).unwrap();
    // Killed here, record held.
    std::thread::sleep(WATCHDOG * 2);
}

#[test]
fn newcomer() {
    let Some(_) = child_role() else {
        return;
    };
    let mq = NamedMessageQueue::open(&child_name()).unwrap();
    let mut ep = mq.endpoint().expect("a released record");
    let mut buf = [0u8; 16];
    let got = ep
        .recv(
            &mut buf,
            RecvOptions::filter(Filter::Type(ty(TO_NEWCOMER))),
            Some(WATCHDOG),
        )
        .unwrap();
    assert_eq!(&buf[..got.len], b"hello");
    ep.try_send(b"welcome", 1, ty(FROM_NEWCOMER)).unwrap();
}
