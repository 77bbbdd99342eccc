//! Real-time scheduling for the calling thread: `SCHED_FIFO` and
//! `SCHED_RR` with a priority, or back to a normal policy
//! (`sched_setscheduler(2)`, which rustix lacks; made in the crate's one
//! raw-syscall module).
//!
//! A real-time thread spinning on a ring starves every normal thread of its
//! CPU: pin it (`sched_setaffinity`) to a CPU of its own, and give a blocked
//! side a way to sleep (the blocking and adaptive modes do). Real-time
//! policies are set with `SCHED_RESET_ON_FORK`, so a child the thread forks
//! starts with the normal policy instead of inheriting the priority.
//!
//! Setting a real-time policy needs `CAP_SYS_NICE` or an `RLIMIT_RTPRIO`
//! at least as high as the priority; otherwise the kernel answers `EPERM`.
//!
//! ```
//! use annulus_linux::sched::{self, Policy};
//!
//! std::thread::spawn(|| {
//!     match sched::set_current_thread(Policy::Fifo(10)) {
//!         Ok(()) => assert_eq!(sched::current_thread(), Ok(Policy::Fifo(10))),
//!         // Not privileged: nothing changed.
//!         Err(e) => {
//!             assert_eq!(e, rustix::io::Errno::PERM);
//!             assert_eq!(sched::current_thread(), Ok(Policy::Normal));
//!         }
//!     }
//! })
//! .join()
//! .unwrap();
//! ```

use linux_raw_sys::general as k;
use rustix::io::Errno;

use crate::raw::sched::{sched_getparam, sched_getscheduler, sched_setscheduler};

/// Lowest and highest real-time priority on Linux.
pub const PRIORITY_RANGE: core::ops::RangeInclusive<u8> = 1..=99;

/// A scheduling policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// `SCHED_OTHER`, the default time-sharing policy.
    Normal,
    /// `SCHED_BATCH`: time-sharing, for CPU-bound work that is not
    /// interactive.
    Batch,
    /// `SCHED_IDLE`: runs only when nothing else wants the CPU.
    Idle,
    /// `SCHED_FIFO` at a priority in [`PRIORITY_RANGE`]: runs until it
    /// blocks or a higher priority wakes.
    Fifo(u8),
    /// `SCHED_RR` at a priority in [`PRIORITY_RANGE`]: `Fifo` with a time
    /// slice among equal priorities.
    RoundRobin(u8),
}

/// Sets the calling thread's policy (real-time ones with
/// `SCHED_RESET_ON_FORK`).
///
/// # Errors
///
/// `EINVAL` for a real-time priority outside [`PRIORITY_RANGE`] (checked
/// before the call); `EPERM` without the privilege a real-time policy
/// needs.
pub fn set_current_thread(policy: Policy) -> Result<(), Errno> {
    let (number, priority) = match policy {
        Policy::Normal => (k::SCHED_NORMAL, 0),
        Policy::Batch => (k::SCHED_BATCH, 0),
        Policy::Idle => (k::SCHED_IDLE, 0),
        Policy::Fifo(p) => (k::SCHED_FIFO | k::SCHED_RESET_ON_FORK, p),
        Policy::RoundRobin(p) => (k::SCHED_RR | k::SCHED_RESET_ON_FORK, p),
    };
    let real_time = matches!(policy, Policy::Fifo(_) | Policy::RoundRobin(_));
    if real_time && !PRIORITY_RANGE.contains(&priority) {
        return Err(Errno::INVAL);
    }
    sched_setscheduler(0, number, i32::from(priority))
}

/// The calling thread's policy.
///
/// # Errors
///
/// `EINVAL` for a policy this crate does not name (`SCHED_DEADLINE`, or a
/// newer one), or a priority out of range.
pub fn current_thread() -> Result<Policy, Errno> {
    let number = sched_getscheduler(0)? & !k::SCHED_RESET_ON_FORK;
    let priority = || {
        u8::try_from(sched_getparam(0)?)
            .ok()
            .filter(|p| PRIORITY_RANGE.contains(p))
            .ok_or(Errno::INVAL)
    };
    match number {
        k::SCHED_NORMAL => Ok(Policy::Normal),
        k::SCHED_BATCH => Ok(Policy::Batch),
        k::SCHED_IDLE => Ok(Policy::Idle),
        k::SCHED_FIFO => Ok(Policy::Fifo(priority()?)),
        k::SCHED_RR => Ok(Policy::RoundRobin(priority()?)),
        _ => Err(Errno::INVAL),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    /// Runs `f` on a thread of its own, so the test thread keeps its policy.
    fn on_a_thread(f: impl FnOnce() + Send + 'static) {
        std::thread::spawn(f).join().unwrap();
    }

    #[test]
    fn out_of_range_priorities_are_refused_before_the_call() {
        on_a_thread(|| {
            for policy in [
                Policy::Fifo(0),
                Policy::Fifo(100),
                Policy::RoundRobin(0),
                Policy::RoundRobin(255),
            ] {
                assert_eq!(set_current_thread(policy), Err(Errno::INVAL));
            }
            assert_eq!(current_thread(), Ok(Policy::Normal));
        });
    }

    #[test]
    fn normal_policies_switch_without_privilege() {
        on_a_thread(|| {
            assert_eq!(current_thread(), Ok(Policy::Normal));
            set_current_thread(Policy::Batch).unwrap();
            assert_eq!(current_thread(), Ok(Policy::Batch));
            set_current_thread(Policy::Normal).unwrap();
            assert_eq!(current_thread(), Ok(Policy::Normal));
        });
    }

    #[test]
    fn real_time_policies_are_set_or_refused_with_eperm() {
        on_a_thread(|| {
            for policy in [Policy::Fifo(1), Policy::RoundRobin(50), Policy::Fifo(99)] {
                match set_current_thread(policy) {
                    Ok(()) => {
                        assert_eq!(current_thread(), Ok(policy));
                        // Reset on fork was asked for.
                        let raw = sched_getscheduler(0).unwrap();
                        assert_ne!(raw & k::SCHED_RESET_ON_FORK, 0);
                        set_current_thread(Policy::Normal).unwrap();
                    }
                    Err(e) => assert_eq!(e, Errno::PERM, "{policy:?}"),
                }
                assert_eq!(current_thread(), Ok(Policy::Normal));
            }
        });
    }
}
