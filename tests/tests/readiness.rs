//! Readiness fds across real processes: a child opens a named object and
//! sends; the parent never blocks in annulus, it waits in `epoll` on the
//! object's readiness fd, clears it, and drains with the non-blocking calls
//! until empty (the loop the `Readiness` docs prescribe). Every value must
//! arrive: a lost wake-up leaves the parent in `epoll_wait` until the
//! watchdog fails the test.

use std::num::NonZeroU32;
use std::time::Duration;

use annulus::mpmc::PopError as MpmcPopError;
use annulus::mq::RecvError;
use annulus::semaphore::SemaphoreError;
use annulus::spsc::{PopError, StreamError};
use annulus_linux::named::{MpmcRing, NamedMessageQueue, NamedSemaphore, Readiness, SpscRing};
use annulus_process_tests::{CHILD_NAME, ChildGuard, UniqueName, child_name, child_role};
use rustix::buffer::spare_capacity;
use rustix::event::epoll;
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::time::Timespec;

const ELEMENTS: u64 = 20_000;
const BYTES: usize = 256 * 1024;
const MESSAGES: u32 = 2_000;
const UNITS: u32 = 2_000;
/// Watchdog for the child and for each `epoll_wait`; never a timing
/// assertion.
const WATCHDOG: Duration = Duration::from_secs(60);
const WATCHDOG_TS: Timespec = Timespec {
    tv_sec: 60,
    tv_nsec: 0,
};

/// An epoll instance watching one readiness fd.
struct Poller {
    ep: OwnedFd,
    events: Vec<epoll::Event>,
}

impl Poller {
    fn new(fd: &impl AsFd) -> Self {
        let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
        epoll::add(&ep, fd, epoll::EventData::new_u64(7), epoll::EventFlags::IN).unwrap();
        Poller {
            ep,
            events: Vec::with_capacity(4),
        }
    }

    /// Blocks in `epoll_wait` until the fd is readable.
    fn wait(&mut self) {
        loop {
            self.events.clear();
            match epoll::wait(
                &self.ep,
                spare_capacity(&mut self.events),
                Some(&WATCHDOG_TS),
            ) {
                Ok(0) => panic!("the fd stayed unreadable for {WATCHDOG:?}: a lost wake-up"),
                Ok(_) => {
                    assert_eq!(self.events[0].data.u64(), 7);
                    return;
                }
                Err(Errno::INTR) => {}
                Err(e) => panic!("epoll_wait: {e}"),
            }
        }
    }
}

/// The documented loop: wait, clear, drain until empty; `drain` returns
/// whether everything has arrived.
fn epoll_loop(ready: &Readiness, mut drain: impl FnMut() -> bool) {
    let mut poller = Poller::new(ready);
    loop {
        poller.wait();
        ready.clear().unwrap();
        if drain() {
            return;
        }
    }
}

fn spawn_child(role: &str, name: &UniqueName) -> ChildGuard {
    ChildGuard::spawn("child", role, &[(CHILD_NAME, name.0.clone())]).unwrap()
}

fn byte(i: usize) -> u8 {
    (i.wrapping_mul(31) % 251) as u8
}

#[test]
fn spsc_elements_through_epoll() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("ready-spsc");
    let ring = SpscRing::<u64>::create(&name.0, 64).unwrap();
    let mut rx = ring.consumer().unwrap();
    let ready = ring.readiness().unwrap();
    let child = spawn_child("spsc", &name);
    let mut next = 0u64;
    epoll_loop(&ready, || {
        loop {
            match rx.pop() {
                Ok(v) => {
                    assert_eq!(v, next, "in order, none lost");
                    next += 1;
                }
                Err(PopError::Empty) => return false,
                Err(PopError::Disconnected) => return true,
                Err(e) => panic!("{e:?}"),
            }
        }
    });
    assert_eq!(next, ELEMENTS);
    child.wait_success(WATCHDOG).unwrap();
}

#[test]
fn byte_stream_through_epoll() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("ready-bytes");
    let ring = SpscRing::<u8>::create(&name.0, 4096).unwrap();
    let mut reader = ring.byte_reader().unwrap();
    let ready = ring.readiness().unwrap();
    let child = spawn_child("bytes", &name);
    let mut got = Vec::with_capacity(BYTES);
    let mut buf = [0u8; 1500];
    epoll_loop(&ready, || {
        loop {
            match reader.try_read(&mut buf) {
                Ok(0) => return true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(StreamError::WouldBlock) => return false,
                Err(e) => panic!("{e:?}"),
            }
        }
    });
    assert_eq!(got.len(), BYTES);
    assert!(got.iter().enumerate().all(|(i, &b)| b == byte(i)));
    child.wait_success(WATCHDOG).unwrap();
}

#[test]
fn mpmc_through_epoll() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("ready-mpmc");
    let ring = MpmcRing::<u64>::create(&name.0, 64, 4).unwrap();
    let mut rx = ring.receiver().unwrap();
    let ready = ring.readiness().unwrap();
    let child = spawn_child("mpmc", &name);
    let mut next = 0u64;
    epoll_loop(&ready, || {
        loop {
            match rx.pop() {
                Ok(v) => {
                    assert_eq!(v, next, "one sender: in order");
                    next += 1;
                }
                Err(MpmcPopError::Empty) => return false,
                Err(MpmcPopError::Disconnected) => return true,
                Err(e) => panic!("{e:?}"),
            }
        }
    });
    assert_eq!(next, ELEMENTS);
    child.wait_success(WATCHDOG).unwrap();
}

#[test]
fn message_queue_through_epoll() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("ready-mq");
    let mq = NamedMessageQueue::create(&name.0, 8, 32, 4).unwrap();
    let mut rx = mq.endpoint().unwrap();
    let ready = mq.readiness().unwrap();
    let child = spawn_child("mq", &name);
    let mut next = 0u32;
    let mut buf = [0u8; 32];
    epoll_loop(&ready, || {
        loop {
            match rx.try_recv(&mut buf) {
                Ok(got) => {
                    let seq = u32::from_le_bytes(buf[..got.len].try_into().unwrap());
                    assert_eq!(seq, next, "one sender, one priority: in order");
                    next += 1;
                }
                Err(RecvError::Empty | RecvError::Contended) => return next == MESSAGES,
                Err(e) => panic!("{e:?}"),
            }
        }
    });
    assert_eq!(next, MESSAGES);
    child.wait_success(WATCHDOG).unwrap();
}

#[test]
fn semaphore_through_epoll() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("ready-sem");
    let sem = NamedSemaphore::create(&name.0, 0, UNITS).unwrap();
    let ready = sem.readiness().unwrap();
    let child = spawn_child("sem", &name);
    let mut taken = 0u32;
    epoll_loop(&ready, || {
        loop {
            match sem.semaphore().try_wait(1) {
                Ok(()) => taken += 1,
                Err(SemaphoreError::WouldBlock | SemaphoreError::Contended) => {
                    return taken == UNITS;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    });
    assert_eq!(sem.semaphore().value(), 0);
    child.wait_success(WATCHDOG).unwrap();
}

/// The producer is killed (SIGKILL, no chance to close the ring) after
/// sending a few values: the readiness bridge notices the dead process,
/// releases its role, and the fd turns readable with `Disconnected` behind
/// everything it sent.
#[test]
fn a_killed_producer_makes_the_fd_readable() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("ready-killed");
    let ring = SpscRing::<u64>::create(&name.0, 64).unwrap();
    let mut rx = ring.consumer().unwrap();
    let ready = ring.readiness().unwrap();
    let mut child = Some(spawn_child("spsc-then-hang", &name));
    let mut got = Vec::new();
    epoll_loop(&ready, || {
        loop {
            match rx.pop() {
                Ok(v) => got.push(v),
                Err(PopError::Empty) => {
                    if got.len() == 5 {
                        // Everything sent: now the producer dies holding its role.
                        if let Some(child) = child.take() {
                            child.kill();
                        }
                    }
                    return false;
                }
                Err(PopError::Disconnected) => return true,
                Err(e) => panic!("{e:?}"),
            }
        }
    });
    assert_eq!(got, [0, 1, 2, 3, 4]);
    assert!(child.is_none(), "disconnected only after the kill");
}

/// The sending side, in a re-executed child.
#[test]
fn child() {
    let Some(role) = child_role() else {
        return; // only meaningful in the re-executed child
    };
    let name = child_name();
    let timeout = Some(WATCHDOG);
    match role.as_str() {
        "spsc" => {
            let ring = SpscRing::<u64>::open(&name).unwrap();
            let mut tx = ring.producer().unwrap();
            for v in 0..ELEMENTS {
                tx.push_blocking(v, timeout).unwrap();
            }
        }
        "spsc-then-hang" => {
            let ring = SpscRing::<u64>::open(&name).unwrap();
            let mut tx = ring.producer().unwrap();
            for v in 0..5 {
                tx.push_blocking(v, timeout).unwrap();
            }
            // Hold the role until the parent kills us (the watchdog ends a
            // parent that never does).
            std::thread::sleep(WATCHDOG);
        }
        "bytes" => {
            let ring = SpscRing::<u8>::open(&name).unwrap();
            let mut writer = ring.byte_writer().unwrap();
            let data: Vec<u8> = (0..BYTES).map(byte).collect();
            for chunk in data.chunks(1000) {
                writer.write_all_blocking(chunk, timeout).unwrap();
            }
        }
        "mpmc" => {
            let ring = MpmcRing::<u64>::open(&name).unwrap();
            let mut tx = ring.sender().unwrap();
            for v in 0..ELEMENTS {
                tx.push_blocking(v, timeout).unwrap();
            }
        }
        "mq" => {
            let mq = NamedMessageQueue::open(&name).unwrap();
            let mut tx = mq.endpoint().unwrap();
            for seq in 0..MESSAGES {
                tx.send(&seq.to_le_bytes(), 1, NonZeroU32::MIN, timeout)
                    .unwrap();
            }
        }
        "sem" => {
            let sem = NamedSemaphore::open(&name).unwrap();
            for _ in 0..UNITS {
                sem.semaphore().post(1).unwrap();
            }
        }
        other => panic!("unknown role {other}"),
    }
}
