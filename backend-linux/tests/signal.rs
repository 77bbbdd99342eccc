//! Real-time signals within one process: blocked, sent to the test's own
//! thread, read from a signalfd.
//!
//! The test harness runs tests on threads of one process, and its main
//! thread does not block these signals, so a process-directed signal here
//! could land on it and kill the process. Every signal in this file is
//! therefore sent to the receiving thread itself (`tgkill`,
//! `rt_tgsigqueueinfo`); tests/tests/signals.rs covers processes. Each test
//! uses its own signal number so that no test reads another's.

use std::time::{Duration, Instant};

use annulus_linux::signal::{self, RecvTimeoutError, RtSignal, SignalFd, SignalSet};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;

/// SI_QUEUE, SI_TKILL.
const SI_QUEUE: i32 = -1;
const SI_TKILL: i32 = -6;
/// A watchdog for waits that should end at once; never a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(30);

fn sig(n: u32) -> RtSignal {
    RtSignal::nth(n).unwrap()
}

#[test]
fn a_queued_signal_carries_its_payload_and_sender() {
    let sig = sig(0);
    let _blocked = signal::block(sig.into()).unwrap();
    let fd = SignalFd::new(sig.into()).unwrap();
    assert_eq!(fd.try_recv(), Ok(None), "nothing pending yet");
    let me = signal::current_thread_id();
    signal::queue_thread(me, sig, 0xDEAD_BEEF_0000_0001).unwrap();
    let got = fd.try_recv().unwrap().expect("pending");
    assert_eq!(got.signo, sig.as_raw());
    assert_eq!(got.code, SI_QUEUE);
    assert_eq!(got.pid, std::process::id());
    assert_eq!(got.uid, rustix::process::getuid().as_raw());
    assert_eq!(got.payload, Some(0xDEAD_BEEF_0000_0001), "the whole word");
    assert_eq!(fd.try_recv(), Ok(None), "one sent, one received");
}

#[test]
fn queued_signals_arrive_in_order_every_one() {
    let sig = sig(1);
    let _blocked = signal::block(sig.into()).unwrap();
    let fd = SignalFd::new(sig.into()).unwrap();
    let me = signal::current_thread_id();
    for payload in 1..=20 {
        signal::queue_thread(me, sig, payload).unwrap();
    }
    for payload in 1..=20 {
        assert_eq!(fd.try_recv().unwrap().unwrap().payload, Some(payload));
    }
    assert_eq!(fd.try_recv(), Ok(None));
}

#[test]
fn a_signal_without_payload_says_so() {
    let sig = sig(2);
    let _blocked = signal::block(sig.into()).unwrap();
    let fd = SignalFd::new(sig.into()).unwrap();
    signal::send_thread(signal::current_thread_id(), sig).unwrap();
    let got = fd.try_recv().unwrap().unwrap();
    assert_eq!((got.signo, got.code), (sig.as_raw(), SI_TKILL));
    assert_eq!(got.pid, std::process::id(), "filled in by the kernel");
    assert_eq!(got.payload, None);
}

#[test]
fn a_wait_with_nothing_sent_times_out() {
    let sig = sig(3);
    let _blocked = signal::block(sig.into()).unwrap();
    let fd = SignalFd::new(sig.into()).unwrap();
    let start = Instant::now();
    assert_eq!(
        fd.recv_timeout(Some(Duration::from_millis(30))),
        Err(RecvTimeoutError::Timeout)
    );
    // Not early: the deadline is honoured (a lower bound, never an upper one).
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(
        fd.recv_timeout(Some(Duration::ZERO)),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn a_pending_signal_is_taken_even_with_a_zero_timeout() {
    let sig = sig(4);
    let _blocked = signal::block(sig.into()).unwrap();
    let fd = SignalFd::new(sig.into()).unwrap();
    signal::queue_thread(signal::current_thread_id(), sig, 7).unwrap();
    let got = fd.recv_timeout(Some(Duration::ZERO)).unwrap();
    assert_eq!(got.payload, Some(7));
}

#[test]
fn a_waiting_thread_wakes_when_another_thread_queues() {
    let sig = sig(5);
    let _blocked = signal::block(sig.into()).unwrap();
    let fd = SignalFd::new(sig.into()).unwrap();
    let me = signal::current_thread_id();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        signal::queue_thread(me, sig, 99).unwrap();
    });
    let got = fd.recv_timeout(Some(WATCHDOG)).unwrap();
    assert_eq!(got.payload, Some(99));
    sender.join().unwrap();
}

#[test]
fn the_fd_polls_readable_while_a_signal_is_pending() {
    let sig = sig(6);
    let _blocked = signal::block(sig.into()).unwrap();
    let fd = SignalFd::new(sig.into()).unwrap();
    let zero = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let readable = |fd: &SignalFd| {
        let mut fds = [PollFd::new(fd, PollFlags::IN)];
        poll(&mut fds, Some(&zero)).unwrap() == 1
    };
    assert!(!readable(&fd));
    signal::send_thread(signal::current_thread_id(), sig).unwrap();
    assert!(readable(&fd));
    fd.try_recv().unwrap().unwrap();
    assert!(!readable(&fd));
}

#[test]
fn one_fd_reads_a_set_and_each_number_keeps_its_order() {
    let (a, b) = (sig(7), sig(8));
    let set = SignalSet::from(a).with(b);
    let _blocked = signal::block(set).unwrap();
    let fd = SignalFd::new(set).unwrap();
    assert_eq!(fd.set(), set);
    let me = signal::current_thread_id();
    signal::queue_thread(me, b, 1).unwrap();
    signal::queue_thread(me, a, 2).unwrap();
    signal::queue_thread(me, b, 3).unwrap();
    let mut got = Vec::new();
    while let Some(r) = fd.try_recv().unwrap() {
        got.push((r.signo, r.payload.unwrap()));
    }
    // The kernel hands out the lowest pending number first; within one
    // number, the order sent.
    let (a, b) = (a.as_raw(), b.as_raw());
    assert_eq!(got, [(a, 2), (b, 1), (b, 3)]);
}

#[test]
fn the_guard_restores_the_previous_mask() {
    let (a, b) = (sig(9), sig(10));
    assert!(!signal::blocked().unwrap().contains(a));
    {
        let _outer = signal::block(a.into()).unwrap();
        {
            let _inner = signal::block(SignalSet::from(a).with(b)).unwrap();
            assert!(signal::blocked().unwrap().contains(b));
        }
        let now = signal::blocked().unwrap();
        assert!(now.contains(a) && !now.contains(b), "inner undone only");
    }
    assert!(!signal::blocked().unwrap().contains(a));
}

#[test]
fn the_mask_is_per_thread() {
    let mine = sig(11);
    let _blocked = signal::block(mine.into()).unwrap();
    // Threads inherit their creator's mask ...
    let inherited = std::thread::spawn(move || signal::blocked().unwrap().contains(mine));
    assert!(inherited.join().unwrap());
    // ... but blocking in one thread does not block in another.
    let other = sig(12);
    let (tx, rx) = std::sync::mpsc::channel();
    let peer = std::thread::spawn(move || {
        let _blocked = signal::block(other.into()).unwrap();
        tx.send(()).unwrap();
    });
    rx.recv().unwrap();
    assert!(!signal::blocked().unwrap().contains(other));
    peer.join().unwrap();
}

#[test]
fn sending_to_a_thread_that_does_not_exist_is_esrch() {
    // Pid 1's tid is not a thread of this process (tgkill checks both).
    assert_eq!(signal::send_thread(1, sig(13)), Err(Errno::SRCH));
    assert_eq!(signal::queue_thread(1, sig(13), 0), Err(Errno::SRCH));
}

#[test]
fn a_pidfd_that_is_not_one_is_refused() {
    let (reader, _writer) = rustix::pipe::pipe().unwrap();
    assert_eq!(signal::send_pidfd(&reader, sig(14)), Err(Errno::BADF));
    assert_eq!(signal::queue_pidfd(&reader, sig(14), 0), Err(Errno::BADF));
}
