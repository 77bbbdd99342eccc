//! `mq_notify` between processes: a child registers for a real-time signal
//! on arrival, the parent sends into the empty queue, and the child reads
//! the signal (number and payload) from a signalfd and then the message; a
//! send into the non-empty queue notifies nobody. A registrant killed with
//! SIGKILL is released, and no sender signals its pid.
//!
//! This file has its own `main` (`harness = false` in Cargo.toml), for the
//! reason `signals.rs` gives: the receiving child blocks the signal first
//! thing in `main`, before any thread exists.

use std::num::NonZeroU32;
use std::time::Duration;

use annulus::mq::{Notification, RecvOptions};
use annulus_linux::named::{ArrivalSignal, DeadReleased, NamedMessageQueue};
use annulus_linux::signal::{self, RtSignal, SignalFd};
use annulus_process_tests::{
    CHILD_NAME, ChildGuard, UniqueName, child_name, child_role, wait_until,
};

/// The signal the registrant asks for.
const SIG: RtSignal = match RtSignal::nth(3) {
    Some(sig) => sig,
    None => panic!("RtSignal::nth(3) exists"),
};
/// The payload of the first registration, and of the second.
const TAG: u16 = 0x4D51;
const TAG_AGAIN: u16 = 2;
/// Far above the expected time; a watchdog, not a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(60);
/// `si_code` of a queued signal.
const SI_QUEUE: i32 = -1;
const JOBS: NonZeroU32 = NonZeroU32::new(1).unwrap();

const TESTS: &[(&str, fn())] = &[
    (
        "an_arrival_in_the_empty_queue_signals_the_registrant_once",
        an_arrival_in_the_empty_queue_signals_the_registrant_once,
    ),
    (
        "a_killed_registrant_is_released_and_never_signalled",
        a_killed_registrant_is_released_and_never_signalled,
    ),
];

fn main() {
    match child_role().as_deref() {
        Some("registrant") => registrant(),
        Some("registrant_then_hang") => registrant_then_hang(),
        Some(other) => panic!("unknown child role {other}"),
        None => annulus_process_tests::run_tests(TESTS),
    }
}

fn cookie(tag: u16) -> u32 {
    ArrivalSignal { signal: SIG, tag }.cookie()
}

fn an_arrival_in_the_empty_queue_signals_the_registrant_once() {
    let name = UniqueName::new("mq-notify");
    let mq = NamedMessageQueue::create(&name.0, 4, 32, 2).unwrap();
    let mut tx = mq.endpoint().unwrap();
    let child =
        ChildGuard::spawn("registrant", "registrant", &[(CHILD_NAME, name.0.clone())]).unwrap();
    let registered = |tag| {
        Some(Notification {
            pid: child.id(),
            cookie: cookie(tag),
        })
    };
    wait_until("the child registers", WATCHDOG, || {
        mq.notification() == registered(TAG)
    });

    // Into the empty queue: this send takes the registration and signals.
    let sent = tx.try_send(b"first", 1, JOBS).unwrap();
    assert!(sent.was_empty);
    assert_eq!(sent.notified, Some(Ok(registered(TAG).unwrap())));
    assert_eq!(mq.notification(), None, "one-shot");

    // The child registers again while "first" is still queued.
    wait_until("the child registers again", WATCHDOG, || {
        mq.notification() == registered(TAG_AGAIN)
    });
    let sent = tx.try_send(b"second", 1, JOBS).unwrap();
    assert!(!sent.was_empty);
    assert_eq!(sent.notified, None, "the queue was not empty");
    assert_eq!(mq.queue().notifications(), 1);
    child.wait_success(WATCHDOG).unwrap();
    assert_eq!(mq.notification(), None, "the child cancelled");
}

/// The child: block the signal, register, take the signal, then the
/// messages.
fn registrant() {
    // First, while this is the only thread.
    signal::block(SIG.into()).unwrap().keep();
    let fd = SignalFd::new(SIG.into()).unwrap();
    let mq = NamedMessageQueue::open(&child_name()).unwrap();
    let mut rx = mq.endpoint().unwrap();
    mq.notify_on_arrival(SIG, TAG).unwrap();

    let got = fd.recv_timeout(Some(WATCHDOG)).unwrap();
    let parent = rustix::process::getppid().unwrap().as_raw_pid() as u32;
    assert_eq!((got.signo, got.code), (SIG.as_raw(), SI_QUEUE));
    assert_eq!(got.payload, Some(usize::from(TAG)));
    assert_eq!(got.pid, parent, "the sender queued it");
    assert_eq!(mq.stats().unwrap().messages, 1, "the message came first");

    // Leave "first" queued and register again: the next send finds the
    // queue non-empty.
    mq.notify_on_arrival(SIG, TAG_AGAIN).unwrap();
    wait_until("the parent sends again", WATCHDOG, || {
        mq.stats().unwrap().messages == 2
    });
    let mut buf = [0u8; 32];
    for text in [&b"first"[..], b"second"] {
        let got = rx
            .recv(&mut buf, RecvOptions::default(), Some(WATCHDOG))
            .unwrap();
        assert_eq!(&buf[..got.len], text);
    }
    // No second signal, and the second registration was not consumed.
    assert_eq!(fd.try_recv(), Ok(None));
    assert_eq!(mq.notification().map(|n| n.cookie), Some(cookie(TAG_AGAIN)));
    assert!(mq.cancel_notification());
}

fn a_killed_registrant_is_released_and_never_signalled() {
    let name = UniqueName::new("mq-notify-killed");
    let mq = NamedMessageQueue::create(&name.0, 4, 32, 2).unwrap();
    let child = ChildGuard::spawn(
        "registrant_then_hang",
        "registrant_then_hang",
        &[(CHILD_NAME, name.0.clone())],
    )
    .unwrap();
    let pid = child.id();
    let registration = Notification {
        pid,
        cookie: cookie(TAG),
    };
    wait_until("the child registers", WATCHDOG, || {
        mq.notification() == Some(registration)
    });
    child.kill();
    assert_eq!(
        mq.release_dead(),
        DeadReleased {
            participants: 0,
            notification: Some(registration)
        }
    );
    let mut tx = mq.endpoint().unwrap();
    let sent = tx.try_send(b"nobody waits", 1, JOBS).unwrap();
    assert_eq!((sent.was_empty, sent.notified), (true, None));
}

/// The child: block the signal, register, wait to be killed.
fn registrant_then_hang() {
    signal::block(SIG.into()).unwrap().keep();
    let mq = NamedMessageQueue::open(&child_name()).unwrap();
    mq.notify_on_arrival(SIG, TAG).unwrap();
    std::thread::sleep(WATCHDOG * 2);
    std::process::exit(1);
}
