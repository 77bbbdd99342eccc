//! Proof that annulus and annulus-linux need no C library.
//!
//! A `#![no_std]`, `#![no_main]` program, linked statically with no start
//! files and no C library (see build.rs), entering at its own `_start`
//! ([`rt`]). With annulus and annulus-linux built without default features
//! it:
//!
//! 1. shows that such a process dies of SIGPIPE when it writes to a pipe
//!    with no reader (a forked child does it), then calls
//!    `pipe::ignore_sigpipe` and gets `EPIPE` instead;
//! 2. lays an SPSC ring in a sealed memfd, passes a message through it, and
//!    times out of a futex wait on the empty ring;
//! 3. lays a second ring in anonymous `MAP_SHARED` memory, forks, and
//!    sleeps on the process-shared futex while the child pushes a thousand
//!    messages through a ring of four slots;
//! 4. queues a real-time signal with a payload to itself and reads it from
//!    a signalfd.
//!
//! It exits 0 when every step passes, 1 (naming the step) when one fails,
//! 101 on a panic. tests/tests/nolibc_proof.rs builds it, checks that the
//! binary is static with no C library in it, and runs it.

#![no_std]
#![no_main]
// The memory functions in `mem` are byte loops that the compiler must not
// turn back into calls to themselves.
#![no_builtins]

mod mem;
mod rt;

use core::time::Duration;

use annulus::spsc::{InitOptions, PopError, PopTimeoutError, Spsc};
use annulus_linux::pipe::{self, PipeOptions};
use annulus_linux::signal::{self, RtSignal, SignalFd};
use annulus_linux::{Futex, Mapping, SharedMemory};
use rustix::io::Errno;
use rustix::process::{Pid, WaitOptions, WaitStatus, waitpid};

use rt::Forked;

/// Messages the forked child pushes.
const MESSAGES: u64 = 1000;
/// Far above the expected time; a watchdog, not a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(30);

/// Runs every step; the error names the one that failed.
fn run() -> Result<(), &'static str> {
    sigpipe()?;
    rt::print("nolibc-proof: SIGPIPE ignored, EPIPE returned\n");
    ring_in_memfd()?;
    rt::print("nolibc-proof: memfd ring round trip and futex timeout\n");
    ring_across_fork()?;
    rt::print("nolibc-proof: futex sleep and wake across fork\n");
    signal_to_self()?;
    rt::print("nolibc-proof: queued signal read from a signalfd\n");
    Ok(())
}

/// Step 1: SIGPIPE kills a no_main process until it is ignored.
fn sigpipe() -> Result<(), &'static str> {
    let broken_pipe_write = || {
        let (reader, writer) = pipe::pipe(PipeOptions::default()).map_err(|_| "pipe")?;
        drop(reader);
        Ok::<_, &'static str>(writer.write(b"x"))
    };
    // A child with the default disposition dies of the signal.
    match rt::fork().map_err(|_| "fork")? {
        Forked::Child => {
            let _ = broken_pipe_write();
            rt::exit_group(0)
        }
        Forked::Parent(pid) => {
            let status = wait(pid)?;
            if status.terminating_signal() != Some(linux_raw_sys::general::SIGPIPE as i32) {
                return Err("a child writing to a broken pipe was not killed by SIGPIPE");
            }
        }
    }
    pipe::ignore_sigpipe().map_err(|_| "ignore_sigpipe")?;
    match broken_pipe_write()? {
        Err(Errno::PIPE) => Ok(()),
        _ => Err("a write to a broken pipe did not fail with EPIPE"),
    }
}

/// Step 2: a ring in a sealed memfd, a round trip, a timed futex wait.
fn ring_in_memfd() -> Result<(), &'static str> {
    let len = Spsc::<u64>::region_size(16);
    let shm = SharedMemory::anonymous("nolibc-proof", len).map_err(|_| "memfd")?;
    let map = shm.map().map_err(|_| "mmap of the memfd")?;
    let ring = init_ring(&map, 16)?;
    let mut tx = ring.producer(Futex).map_err(|_| "producer")?;
    let mut rx = ring.consumer(Futex).map_err(|_| "consumer")?;
    tx.push(0x600D_F00D).map_err(|_| "push")?;
    if rx.pop() != Ok(0x600D_F00D) {
        return Err("the message did not come back");
    }
    if rx.pop() != Err(PopError::Empty) {
        return Err("the ring is not empty");
    }
    // Sleeps in FUTEX_WAIT_BITSET until the deadline.
    rx.set_spin_limit(0);
    match rx.pop_blocking(Some(Duration::from_millis(20))) {
        Err(PopTimeoutError::Timeout) => Ok(()),
        _ => Err("a wait on an empty ring did not time out"),
    }
}

/// Step 3: the parent sleeps on the futex; a forked child pushes.
fn ring_across_fork() -> Result<(), &'static str> {
    let map = Mapping::anonymous_shared(Spsc::<u64>::region_size(4)).map_err(|_| "mmap")?;
    let ring = init_ring(&map, 4)?;
    let mut rx = ring.consumer(Futex).map_err(|_| "consumer")?;
    rx.set_spin_limit(0);
    match rt::fork().map_err(|_| "fork")? {
        Forked::Child => {
            // Let the parent fall asleep first (not needed for correctness).
            let nap = rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 10_000_000,
            };
            let _ = rustix::thread::nanosleep(&nap);
            let code = match ring.producer(Futex) {
                Ok(mut tx) => {
                    tx.set_spin_limit(0);
                    let pushed = (0..MESSAGES).all(|i| tx.push_blocking(i, Some(WATCHDOG)).is_ok());
                    // Dropping `tx` closes the ring: the parent drains, then
                    // sees Disconnected.
                    if pushed { 0 } else { 2 }
                }
                Err(_) => 3,
            };
            rt::exit_group(code)
        }
        Forked::Parent(pid) => {
            let mut next = 0;
            let result = loop {
                match rx.pop_blocking(Some(WATCHDOG)) {
                    Ok(v) if v == next => next += 1,
                    Ok(_) => break Err("a message out of order"),
                    Err(PopTimeoutError::Disconnected) if next == MESSAGES => break Ok(()),
                    Err(_) => break Err("the child's messages stopped"),
                }
            };
            let status = wait(pid)?;
            result?;
            if status.exit_status() != Some(0) {
                return Err("the pushing child failed");
            }
            Ok(())
        }
    }
}

/// Step 4: a queued real-time signal, read from a signalfd. The program has
/// one thread, so blocking it here blocks it process-wide.
fn signal_to_self() -> Result<(), &'static str> {
    let sig = RtSignal::nth(0).ok_or("no real-time signal")?;
    let blocked = signal::block(sig.into()).map_err(|_| "block")?;
    let fd = SignalFd::new(sig.into()).map_err(|_| "signalfd")?;
    let me = rustix::process::getpid().as_raw_pid() as u32;
    signal::queue(me, sig, 0xC0FFEE).map_err(|_| "queue")?;
    let got = fd.recv_timeout(Some(WATCHDOG)).map_err(|_| "recv")?;
    if got.payload != Some(0xC0FFEE) || got.pid != me || got.signo != sig.as_raw() {
        return Err("the signal arrived with the wrong payload or sender");
    }
    drop(blocked);
    Ok(())
}

/// Lays an SPSC ring of `u64` over the whole of `map`.
fn init_ring(map: &Mapping, capacity: u32) -> Result<Spsc<'_, u64>, &'static str> {
    let options = InitOptions {
        schema: None,
        creator_pid: rustix::process::getpid().as_raw_pid() as u32,
        asymmetric_wake: false,
    };
    // SAFETY: a fresh mapping of `map.len()` bytes, valid while `map` lives
    // (the view borrows it); nothing else in this process touches it, and
    // afterwards only through annulus views.
    unsafe { Spsc::init_raw(map.ptr(), map.len(), capacity, options) }.map_err(|_| "ring init")
}

/// Reaps child `pid`.
fn wait(pid: i32) -> Result<WaitStatus, &'static str> {
    let pid = Pid::from_raw(pid).ok_or("a child pid")?;
    loop {
        match waitpid(Some(pid), WaitOptions::empty()) {
            Ok(Some((_, status))) => return Ok(status),
            Err(Errno::INTR) => continue,
            _ => return Err("waitpid"),
        }
    }
}
