//! Is a peer process still alive? The predicate behind the core's repairs.
//!
//! [`pid_is_alive`] opens a pidfd for the pid and polls it with a zero
//! timeout: a pidfd becomes readable when the process exits, even while it
//! is an unreaped zombie (which `kill(pid, 0)` would still report as alive).
//! `ESRCH` means the pid no longer exists at all. A pid reused by a new
//! process reads as alive: the answer errs on the safe side, since the core's
//! repairs act only on "dead".

use annulus::claim::Claim;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, pidfd_open};
use rustix::time::Timespec;

/// Whether process `pid` is running (or may be: see the module docs).
/// Pid 0, which annulus records when the pid is unknown, counts as alive.
pub fn pid_is_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return true;
    };
    match pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => !pidfd_has_exited(fd.as_fd()),
        Err(Errno::SRCH) => false,
        // EMFILE, ENOMEM, ...: cannot tell, so not dead.
        Err(_) => true,
    }
}

/// Whether the process `pidfd` refers to has exited (its pidfd is
/// readable), without waiting. A pidfd names one process for good: unlike
/// a pid, it never comes to name another. `false` if it cannot tell.
pub fn pidfd_has_exited(pidfd: BorrowedFd<'_>) -> bool {
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // Readable: the process has exited. An error: cannot tell, so not dead.
    matches!(poll(&mut fds, Some(&now)), Ok(n) if n > 0)
}

/// [`pid_is_alive`] for a role or participant claim.
pub fn claim_is_alive(claim: Claim) -> bool {
    pid_is_alive(claim.pid)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn this_process_is_alive_and_pid_zero_is_unknown() {
        assert!(pid_is_alive(std::process::id()));
        assert!(pid_is_alive(0), "unknown pid is never declared dead");
        assert!(pid_is_alive(u32::MAX), "not a pid: unknown");
    }

    #[test]
    fn an_exited_child_is_dead_even_before_it_is_reaped() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Give it time to exit, without reaping it.
        let start = std::time::Instant::now();
        while pid_is_alive(pid) && start.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(!pid_is_alive(pid), "a zombie has exited");
        child.wait().unwrap();
        assert!(!pid_is_alive(pid), "a reaped pid is gone");
    }
}
