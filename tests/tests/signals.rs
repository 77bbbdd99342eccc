//! Real-time signals between processes: a parent queues signals with
//! payloads to a child, which has blocked the signal and reads it from a
//! signalfd, in order, with the sender's pid.
//!
//! This file has its own `main` (`harness = false` in Cargo.toml). A process
//! that receives signals must block them in every thread, and the libtest
//! harness runs each test on a new thread while its main thread, which
//! blocks nothing, waits: a process-directed signal could land there and
//! kill the child. So the child blocks the signal first thing in `main`,
//! before any thread exists, as the `signal` module docs ask.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use annulus_linux::signal::{self, RtSignal, SignalFd};
use annulus_process_tests::{ChildGuard, child_role};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, pidfd_open};

/// The signal parent and child agree on.
const SIG: RtSignal = match RtSignal::nth(2) {
    Some(sig) => sig,
    None => panic!("RtSignal::nth(2) exists"),
};
/// Environment variable carrying the child's end of the "ready" pipe.
const READY_FD: &str = "ANNULUS_TEST_READY_FD";
/// Far above the expected time; a watchdog, not a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(60);
/// `si_code` values: queued, and sent by `kill`.
const SI_QUEUE: i32 = -1;
const SI_USER: i32 = 0;

const TESTS: &[(&str, fn())] = &[(
    "queued_signals_reach_a_child_in_order_with_payloads",
    queued_signals_reach_a_child_in_order_with_payloads,
)];

fn main() {
    match child_role().as_deref() {
        Some("receiver") => receiver(),
        Some(other) => panic!("unknown child role {other}"),
        None => annulus_process_tests::run_tests(TESTS),
    }
}

fn queued_signals_reach_a_child_in_order_with_payloads() {
    let (ready, child_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    // Only the write end survives exec into the child.
    rustix::io::fcntl_setfd(&child_end, rustix::io::FdFlags::empty()).unwrap();
    let child = ChildGuard::spawn(
        "receiver",
        "receiver",
        &[(READY_FD, child_end.as_raw_fd().to_string())],
    )
    .unwrap();
    // The child holds its own copy now: if it dies, the read below sees the
    // end of the stream instead of waiting.
    drop(child_end);
    wait_until_ready(&ready);

    let pid = child.id();
    let pidfd = pidfd_open(Pid::from_raw(pid as i32).unwrap(), PidfdFlags::empty()).unwrap();
    signal::queue(pid, SIG, 1).unwrap();
    signal::queue_pidfd(&pidfd, SIG, 2).unwrap();
    signal::queue(pid, SIG, 3).unwrap();
    signal::send(pid, SIG).unwrap();
    child.wait_success(WATCHDOG).unwrap();

    // The child is gone and reaped: its pidfd still names it, not whatever
    // process gets its pid next.
    assert_eq!(signal::queue_pidfd(&pidfd, SIG, 4), Err(Errno::SRCH));
}

/// Waits (under the watchdog) for the child's one-byte "ready".
fn wait_until_ready(ready: &OwnedFd) {
    let watchdog = rustix::time::Timespec {
        tv_sec: WATCHDOG.as_secs() as i64,
        tv_nsec: 0,
    };
    let mut fds = [PollFd::new(ready, PollFlags::IN)];
    loop {
        match poll(&mut fds, Some(&watchdog)) {
            Ok(0) => panic!("the child was not ready within {WATCHDOG:?}"),
            Ok(_) => break,
            Err(Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
    let mut byte = [0u8; 1];
    assert_eq!(
        rustix::io::read(ready, &mut byte),
        Ok(1),
        "the child exited before it was ready"
    );
}

/// The child: block, open the signalfd, say ready, check what arrives.
fn receiver() {
    // First, while this is the only thread.
    signal::block(SIG.into()).unwrap().keep();
    let fd = SignalFd::new(SIG.into()).unwrap();
    let raw: i32 = std::env::var(READY_FD).unwrap().parse().unwrap();
    // SAFETY: the parent passed this descriptor, open in this process and
    // owned by nothing else here.
    let ready = unsafe { OwnedFd::from_raw_fd(raw) };
    assert_eq!(rustix::io::write(&ready, b"r"), Ok(1));
    drop(ready);

    let parent = rustix::process::getppid().unwrap().as_raw_pid() as u32;
    for payload in 1..=3 {
        let got = fd.recv_timeout(Some(WATCHDOG)).unwrap();
        assert_eq!(got.signo, SIG.as_raw());
        assert_eq!(got.code, SI_QUEUE);
        assert_eq!(got.payload, Some(payload), "in the order sent");
        assert_eq!(got.pid, parent);
        assert_eq!(got.uid, rustix::process::getuid().as_raw());
    }
    let got = fd.recv_timeout(Some(WATCHDOG)).unwrap();
    assert_eq!((got.code, got.payload), (SI_USER, None));
    assert_eq!(got.pid, parent, "written by the kernel this time");
    assert_eq!(fd.try_recv(), Ok(None), "four sent, four received");
    std::process::exit(0);
}
