//! Counting system calls: a `perf_event_open` counter on the kernel's
//! `raw_syscalls:sys_enter` tracepoint, for the calling thread only.
//!
//! This is what `perf stat -e raw_syscalls:sys_enter` counts, read from
//! inside the process, so each side of a case counts exactly the calls it
//! made during a measured phase (the peer reports its count back). Opening
//! the counter needs the tracepoint's id from tracefs and either root or
//! `perf_event_paranoid <= -1`; where either is missing [`SyscallCounter::open`]
//! returns `None` and the report shows no figure. For an outside check, run
//! one case for a fixed count under perf (`--case spsc-busy --count N`, see
//! the binary's `--help`).

#![allow(unsafe_code)]

use std::fs;
use std::os::fd::{FromRawFd, OwnedFd};

/// Where tracefs may be mounted.
const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// `PERF_TYPE_TRACEPOINT`.
const PERF_TYPE_TRACEPOINT: u32 = 2;

/// `PERF_FLAG_FD_CLOEXEC`.
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;

/// `struct perf_event_attr` as of `PERF_ATTR_SIZE_VER0` (64 bytes); the
/// kernel accepts this size and treats later fields as zero.
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    /// Bit field: disabled, inherit, pinned, exclusive, exclude_user, ...
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const _: () = assert!(std::mem::size_of::<PerfEventAttr>() == 64);

/// A running count of the system calls the calling thread makes.
#[derive(Debug)]
pub struct SyscallCounter {
    fd: OwnedFd,
}

impl SyscallCounter {
    /// Starts counting this thread's system calls; `None` if the kernel or
    /// the permissions do not allow it.
    pub fn open() -> Option<SyscallCounter> {
        let id = TRACEFS.iter().find_map(|root| {
            let text = fs::read_to_string(format!("{root}/events/raw_syscalls/sys_enter/id"));
            text.ok()?.trim().parse::<u64>().ok()
        })?;
        let attr = PerfEventAttr {
            kind: PERF_TYPE_TRACEPOINT,
            size: std::mem::size_of::<PerfEventAttr>() as u32,
            config: id,
            ..PerfEventAttr::default()
        };
        // SAFETY: `attr` is a valid, initialised perf_event_attr of the size
        // it states, alive across the call; pid 0 / cpu -1 count the calling
        // thread on any CPU; no group (-1).
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &attr as *const PerfEventAttr,
                0 as libc::pid_t,
                -1 as libc::c_int,
                -1 as libc::c_int,
                PERF_FLAG_FD_CLOEXEC,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: the call returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) };
        Some(SyscallCounter { fd })
    }

    /// System calls counted so far, including this read's own.
    pub fn read(&self) -> u64 {
        let mut buf = [0u8; 8];
        match rustix::io::read(&self.fd, &mut buf) {
            Ok(8) => u64::from_ne_bytes(buf),
            _ => 0,
        }
    }

    /// Starts a measured phase; [`Phase::stop`] returns the calls made in it.
    pub fn start(&self) -> Phase<'_> {
        Phase {
            counter: self,
            start: self.read(),
        }
    }
}

/// A phase started by [`SyscallCounter::start`].
#[derive(Debug)]
pub struct Phase<'a> {
    counter: &'a SyscallCounter,
    start: u64,
}

impl Phase<'_> {
    /// System calls made since `start`, not counting the counter's own read.
    pub fn stop(self) -> u64 {
        // The closing read counts itself before it returns the value.
        self.counter
            .read()
            .saturating_sub(self.start)
            .saturating_sub(1)
    }
}

/// Starts a phase on an optional counter.
pub(crate) fn start(counter: Option<&SyscallCounter>) -> Option<Phase<'_>> {
    counter.map(SyscallCounter::start)
}

/// Ends a phase started with [`start`].
pub(crate) fn stop(phase: Option<Phase<'_>>) -> Option<u64> {
    phase.map(Phase::stop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_calls_between_reads() {
        let Some(counter) = SyscallCounter::open() else {
            eprintln!("perf_event_open refused here; nothing to check");
            return;
        };
        let empty = counter.start().stop();
        assert_eq!(empty, 0);
        let phase = counter.start();
        for _ in 0..10 {
            let _ = rustix::process::getppid();
        }
        // getppid is a real system call (no vDSO).
        assert_eq!(phase.stop(), 10);
    }
}
