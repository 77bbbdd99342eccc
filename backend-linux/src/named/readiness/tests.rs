//! Readiness fds with threads standing in for the sending process (the
//! futex and the event count behave the same); tests/tests/readiness.rs
//! runs real processes.

use std::format;
use std::string::String;
use std::vec::Vec;

use core::time::Duration;

use annulus::spsc::PopError;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::time::Timespec;

use super::*;
use crate::named::{MpmcRing, NamedSemaphore, SpscRing};

/// A watchdog, not a timing assertion: far above the expected microseconds.
const PATIENCE: Timespec = Timespec {
    tv_sec: 10,
    tv_nsec: 0,
};
const NOW: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

fn name(test: &str) -> String {
    format!("unit-ready-{test}-{}", std::process::id())
}

/// Whether `fd` turns readable within `timeout`.
fn readable_within(fd: &impl AsFd, timeout: &Timespec) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    loop {
        match poll(&mut fds, Some(timeout)) {
            Ok(n) => return n == 1,
            Err(Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
}

#[test]
fn spsc_fd_turns_readable_on_a_push_and_clear_resets_it() {
    let ring = SpscRing::<u64>::create(&name("spsc"), 8).unwrap();
    ring.named().unlink().unwrap();
    let mut rx = ring.consumer().unwrap();
    let ready = ring.readiness().unwrap();
    // Empty ring: the bridge has nothing to report, whenever it looks.
    assert!(!readable_within(&ready, &NOW));
    assert_eq!(ready.clear(), Ok(false));
    std::thread::scope(|s| {
        s.spawn(|| ring.producer().unwrap().push(42).unwrap());
        assert!(readable_within(&ready, &PATIENCE));
    });
    assert_eq!(ready.clear(), Ok(true));
    assert_eq!(ready.clear(), Ok(false), "clear reset the fd");
    assert_eq!(rx.pop(), Ok(42));
}

/// The loop of the module docs against a producer that pushes in bursts:
/// every value arrives, in order, and each wake-up comes from the fd (a
/// lost one would leave the poll to the watchdog).
#[test]
fn the_documented_loop_receives_everything() {
    const N: u64 = 2_000;
    let ring = SpscRing::<u64>::create(&name("loop"), 16).unwrap();
    ring.named().unlink().unwrap();
    let mut rx = ring.consumer().unwrap();
    let ready = ring.readiness().unwrap();
    let mut got = Vec::new();
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut tx = ring.producer().unwrap();
            for v in 0..N {
                tx.push_blocking(v, Some(Duration::from_secs(10))).unwrap();
                if v % 97 == 0 {
                    std::thread::yield_now();
                }
            }
        });
        loop {
            assert!(readable_within(&ready, &PATIENCE), "lost wake-up");
            ready.clear().unwrap();
            loop {
                match rx.pop() {
                    Ok(v) => got.push(v),
                    Err(PopError::Empty) => break,
                    Err(PopError::Disconnected) => return,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
    });
    assert_eq!(got, (0..N).collect::<Vec<_>>());
}

#[test]
fn a_closed_producer_makes_the_fd_readable() {
    let ring = SpscRing::<u64>::create(&name("closed"), 8).unwrap();
    ring.named().unlink().unwrap();
    let mut rx = ring.consumer().unwrap();
    let tx = ring.producer().unwrap();
    let ready = ring.readiness().unwrap();
    drop(tx);
    assert!(readable_within(&ready, &PATIENCE));
    assert_eq!(rx.pop(), Err(PopError::Disconnected));
}

#[test]
fn mpmc_fd_turns_readable_on_a_push() {
    let ring = MpmcRing::<u32>::create(&name("mpmc"), 8, 4).unwrap();
    ring.named().unlink().unwrap();
    let mut rx = ring.receiver().unwrap();
    let mut tx = ring.sender().unwrap();
    let ready = ring.readiness().unwrap();
    assert!(!readable_within(&ready, &NOW));
    std::thread::scope(|s| {
        s.spawn(|| tx.push(5).unwrap());
        assert!(readable_within(&ready, &PATIENCE));
    });
    ready.clear().unwrap();
    assert_eq!(rx.pop(), Ok(5));
}

#[test]
fn semaphore_fd_turns_readable_on_a_post() {
    let sem = NamedSemaphore::create(&name("sem"), 0, 8).unwrap();
    sem.named().unlink().unwrap();
    let ready = sem.readiness().unwrap();
    assert!(!readable_within(&ready, &NOW));
    std::thread::scope(|s| {
        s.spawn(|| sem.semaphore().post(3).unwrap());
        assert!(readable_within(&ready, &PATIENCE));
    });
    ready.clear().unwrap();
    sem.semaphore().try_wait(3).unwrap();
}

#[cfg(all(
    target_has_atomic = "64",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[test]
fn queue_fd_turns_readable_on_a_send() {
    use core::num::NonZeroU32;

    use crate::named::NamedMessageQueue;

    let mq = NamedMessageQueue::create(&name("mq"), 4, 16, 4).unwrap();
    mq.named().unlink().unwrap();
    let mut rx = mq.endpoint().unwrap();
    let ready = mq.readiness().unwrap();
    assert!(!readable_within(&ready, &NOW));
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut tx = mq.endpoint().unwrap();
            tx.try_send(b"hi", 1, NonZeroU32::MIN).unwrap();
        });
        assert!(readable_within(&ready, &PATIENCE));
    });
    ready.clear().unwrap();
    let mut buf = [0u8; 16];
    let got = rx.try_recv(&mut buf).unwrap();
    assert_eq!(&buf[..got.len], b"hi");
}

/// Drop stops the bridge, asleep with no deadline on a semaphore nobody
/// posts: it returns (the harness's timeout is the watchdog), and the fd
/// can be made again.
#[test]
fn drop_stops_a_sleeping_bridge() {
    let sem = NamedSemaphore::create(&name("drop"), 0, 8).unwrap();
    sem.named().unlink().unwrap();
    for _ in 0..20 {
        let ready = sem.readiness().unwrap();
        std::thread::yield_now();
        drop(ready);
    }
}

/// The bridge keeps its own reference to the mapping: dropping the named
/// object first leaves it watching valid memory until the fd goes.
#[test]
fn the_fd_may_outlive_its_object() {
    let sem = NamedSemaphore::create(&name("outlive"), 1, 8).unwrap();
    sem.named().unlink().unwrap();
    let ready = sem.readiness().unwrap();
    drop(sem);
    assert!(readable_within(&ready, &PATIENCE), "one unit was there");
    drop(ready);
}

#[test]
fn debug_shows_the_fd() {
    let sem = NamedSemaphore::create(&name("debug"), 0, 8).unwrap();
    sem.named().unlink().unwrap();
    let ready = sem.readiness().unwrap();
    let shown = format!("{ready:?}");
    assert!(
        shown.contains(&format!("fd: {}", ready.as_raw_fd())),
        "{shown}"
    );
}
