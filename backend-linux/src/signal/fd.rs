//! Reading blocked signals from a signalfd, at once or with a timeout.

use core::fmt;
use core::time::Duration;

use annulus::bytemuck;
use linux_raw_sys::general as k;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::time::{ClockId, Timespec, clock_gettime};

use super::SignalSet;
use crate::raw::{self, SignalfdSiginfo};

/// A signal taken from a [`SignalFd`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The signal number.
    pub signo: i32,
    /// `si_code`: `SI_QUEUE` (-1) from the `queue` functions, `SI_USER` (0)
    /// from [`send`](super::send) and [`send_pidfd`](super::send_pidfd),
    /// `SI_TKILL` (-6) from [`send_thread`](super::send_thread); other
    /// values from other sources (timers, message queues).
    pub code: i32,
    /// The sender's pid (the sender's claim for a queued signal: see the
    /// module docs).
    pub pid: u32,
    /// The sender's real uid (likewise).
    pub uid: u32,
    /// The payload of a queued signal (`SI_QUEUE`); `None` for any other.
    pub payload: Option<usize>,
}

impl Received {
    fn from_kernel(info: &SignalfdSiginfo) -> Received {
        Received {
            signo: info.signo as i32,
            code: info.code,
            pid: info.pid,
            uid: info.uid,
            payload: (info.code == k::SI_QUEUE).then_some(info.ptr as usize),
        }
    }
}

/// Why [`SignalFd::recv_timeout`] returned without a signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvTimeoutError {
    /// No signal arrived before the timeout.
    Timeout,
    /// `poll` or `read` failed.
    Os(Errno),
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting for a signal"),
            RecvTimeoutError::Os(e) => write!(f, "signalfd: {e}"),
        }
    }
}

impl core::error::Error for RecvTimeoutError {}

impl From<Errno> for RecvTimeoutError {
    fn from(e: Errno) -> Self {
        RecvTimeoutError::Os(e)
    }
}

/// A signalfd: the signals of a set, read as records instead of delivered
/// to handlers. Non-blocking and close-on-exec; closed on drop.
///
/// It only sees signals that stay pending, so block them first
/// ([`block`](super::block)).
#[derive(Debug)]
pub struct SignalFd {
    fd: OwnedFd,
    set: SignalSet,
}

impl SignalFd {
    /// `signalfd4(-1, set, SFD_NONBLOCK | SFD_CLOEXEC)`.
    ///
    /// # Errors
    ///
    /// The `Errno` of `signalfd4` (`EMFILE`, `ENFILE`, `ENOMEM`).
    ///
    /// # References
    ///
    /// - [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html)
    pub fn new(set: SignalSet) -> Result<SignalFd, Errno> {
        let fd = raw::signalfd4(&set.bits(), k::O_NONBLOCK | k::O_CLOEXEC)?;
        Ok(SignalFd { fd, set })
    }

    /// The signals this fd reads.
    pub fn set(&self) -> SignalSet {
        self.set
    }

    /// `read(2)` of one record: the oldest pending signal of the set, or
    /// `None` if none is pending. Never blocks.
    ///
    /// # Errors
    ///
    /// The `Errno` of `read` (`EINTR`).
    pub fn try_recv(&self) -> Result<Option<Received>, Errno> {
        let mut info = SignalfdSiginfo::default();
        match rustix::io::read(&self.fd, bytemuck::bytes_of_mut(&mut info)) {
            Ok(n) if n == core::mem::size_of::<SignalfdSiginfo>() => {
                Ok(Some(Received::from_kernel(&info)))
            }
            // The kernel reads whole records only.
            Ok(_) => Err(Errno::IO),
            Err(Errno::AGAIN) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Waits up to `timeout` (forever for `None`) for a signal of the set,
    /// polling the fd; a signal already pending returns at once, even with
    /// a zero timeout. Interruptions (`EINTR`) resume against the same
    /// deadline.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`], or [`RecvTimeoutError::Os`] from
    /// `poll` or `read`.
    pub fn recv_timeout(&self, timeout: Option<Duration>) -> Result<Received, RecvTimeoutError> {
        let deadline = timeout.map(|t| {
            let t = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            now().saturating_add(t)
        });
        loop {
            if let Some(received) = self.try_recv()? {
                return Ok(received);
            }
            let left = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_sub(now()) {
                    Some(left) if left > 0 => Some(timespec(left)),
                    _ => return Err(RecvTimeoutError::Timeout),
                },
            };
            let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
            match poll(&mut fds, left.as_ref()) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for SignalFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// `clock_gettime(CLOCK_MONOTONIC)` in nanoseconds.
fn now() -> u64 {
    let t = clock_gettime(ClockId::Monotonic);
    (t.tv_sec as u64)
        .saturating_mul(NANOS_PER_SEC)
        .saturating_add(t.tv_nsec as u64)
}

/// A relative time in nanoseconds as a `timespec`.
fn timespec(nanos: u64) -> Timespec {
    Timespec {
        tv_sec: (nanos / NANOS_PER_SEC) as i64,
        tv_nsec: (nanos % NANOS_PER_SEC) as _,
    }
}
