//! Notifications as real-time signals with a payload, received without
//! signal handlers: blocked, then read from a signalfd.
//!
//! A real-time signal queues: each one sent is one received, signals of one
//! number arrive in the order they were sent, and each carries one word of
//! payload (`sigqueue(3)`'s `sigval`). That makes it a tiny message queue
//! between processes, for "there is work", "shut down", or an index into
//! shared memory.
//!
//! # Sending
//!
//! [`queue`] sends with a payload (`rt_sigqueueinfo`), [`queue_pidfd`] does
//! so through a pidfd (`pidfd_send_signal`, immune to pid reuse), and
//! [`queue_thread`] to one thread of this process (`rt_tgsigqueueinfo`).
//! [`send`], [`send_pidfd`] and [`send_thread`] do the same without a
//! payload (`kill`, `pidfd_send_signal`, `tgkill`). The usual permission
//! rules of kill(2) apply (same user, or `CAP_KILL`). A queue is bounded by
//! the receiving user's `RLIMIT_SIGPENDING`: past it, [`queue`] fails with
//! `EAGAIN`.
//!
//! # Receiving
//!
//! 1. Block the signal with [`block`]. A signal mask belongs to a thread, and
//!    the kernel hands a process-directed signal to any thread that does not
//!    block it, where the default action of a real-time signal terminates
//!    the process. So a process that receives must block the signal in
//!    every thread: block it early in `main`, before spawning threads
//!    (threads inherit their creator's mask), and keep it blocked
//!    ([`BlockGuard::keep`]).
//! 2. Read it from a [`SignalFd`]: [`SignalFd::try_recv`] never blocks,
//!    [`SignalFd::recv_timeout`] waits, and the fd is pollable ([`AsFd`]) for
//!    an event loop. A signalfd reads the signals pending for the thread that
//!    reads it and for the whole process.
//!
//! # Which signals
//!
//! The kernel numbers real-time signals 32 to 64, and C libraries take the
//! lowest for themselves: glibc uses 32 and 33 (its `SIGRTMIN` is 34), musl
//! 32 to 34 (`SIGRTMIN` 35), Android's bionic 32 to 41 (`SIGRTMIN` 42). A
//! program without any C library could use them all, but a library cannot
//! know which C library shares its process, so [`RtSignal`] offers only
//! [`RtSignal::FIRST`]`..=`[`RtSignal::LAST`]: 35 to 64 (42 to 64 on
//! Android), free under all three. [`RtSignal::nth`] counts from the first.
//! Processes that talk must agree on the number, as they agree on a name.
//!
//! # Trust
//!
//! For a signal sent without a payload the kernel writes the sender's pid
//! and uid into what the receiver reads. For a queued signal (`SI_QUEUE`)
//! the *sender* writes them, as `sigqueue(3)` does, and the kernel passes
//! them on unchecked: [`Received::pid`] and [`Received::uid`] are then the
//! sender's claim, and a payload is as trustworthy as its sender.
//!
//! # Architectures
//!
//! This module exists on x86_64 and aarch64 only: it makes some system calls
//! directly (rustix 1.1 lacks them), and those two are implemented.
//!
//! # Examples
//!
//! A signal to the calling thread, with a payload:
//!
//! ```
//! use annulus_linux::signal::{self, RtSignal, SignalFd};
//!
//! let sig = RtSignal::nth(3).unwrap();
//! let _blocked = signal::block(sig.into()).unwrap();
//! let fd = SignalFd::new(sig.into()).unwrap();
//! signal::queue_thread(signal::current_thread_id(), sig, 42).unwrap();
//! let got = fd.try_recv().unwrap().expect("pending");
//! assert_eq!(got.payload, Some(42));
//! assert_eq!(got.pid, std::process::id());
//! assert_eq!(fd.try_recv(), Ok(None));
//! ```

// One unsafe block: naming an `RtSignal` as a rustix `Signal`.
#![allow(unsafe_code)]

use core::fmt;
use core::marker::PhantomData;
use core::time::Duration;

use annulus::bytemuck;
use linux_raw_sys::general as k;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};
use rustix::time::{ClockId, Timespec, clock_gettime};

use crate::raw::{self, SigInfo, SigSet, SignalfdSiginfo};

/// A real-time signal number that no C library reserves (see the module
/// docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RtSignal(u8);

impl RtSignal {
    /// The first number offered: 35 (above glibc's and musl's reserved
    /// signals), or 42 on Android (above bionic's).
    pub const FIRST: i32 = if cfg!(target_os = "android") { 42 } else { 35 };
    /// The last real-time signal, `SIGRTMAX` (64).
    pub const LAST: i32 = k::_NSIG as i32;
    /// How many numbers [`RtSignal::nth`] accepts.
    pub const COUNT: u32 = (Self::LAST - Self::FIRST + 1) as u32;

    /// The `n`th signal from [`RtSignal::FIRST`], or `None` when `n` is not
    /// below [`RtSignal::COUNT`].
    pub const fn nth(n: u32) -> Option<RtSignal> {
        if n < Self::COUNT {
            Some(RtSignal((Self::FIRST as u32 + n) as u8))
        } else {
            None
        }
    }

    /// The signal with kernel number `signo`, if it is in the offered range.
    pub const fn from_raw(signo: i32) -> Option<RtSignal> {
        if Self::FIRST <= signo && signo <= Self::LAST {
            Some(RtSignal(signo as u8))
        } else {
            None
        }
    }

    /// The kernel's signal number.
    pub const fn as_raw(self) -> i32 {
        self.0 as i32
    }

    /// Bit `signo - 1` of a kernel signal set.
    const fn bit(self) -> SigSet {
        1 << (self.0 - 1)
    }

    fn to_rustix(self) -> Signal {
        // SAFETY: a valid non-zero signal number (at most SIGRTMAX), and
        // above the range any C library reserves, so using it cannot disturb
        // one (rustix's condition).
        unsafe { Signal::from_raw_unchecked(self.as_raw()) }
    }
}

/// A set of [`RtSignal`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SignalSet(SigSet);

/// The bits of every [`RtSignal`].
const RT_BITS: SigSet = (u64::MAX >> (64 - RtSignal::COUNT)) << (RtSignal::FIRST - 1);

impl SignalSet {
    /// The empty set.
    pub const EMPTY: SignalSet = SignalSet(0);

    /// This set and `sig`.
    #[must_use]
    pub const fn with(self, sig: RtSignal) -> SignalSet {
        SignalSet(self.0 | sig.bit())
    }

    /// This set without `sig`.
    #[must_use]
    pub const fn without(self, sig: RtSignal) -> SignalSet {
        SignalSet(self.0 & !sig.bit())
    }

    /// Whether `sig` is in the set.
    pub const fn contains(self, sig: RtSignal) -> bool {
        self.0 & sig.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl From<RtSignal> for SignalSet {
    fn from(sig: RtSignal) -> SignalSet {
        SignalSet::EMPTY.with(sig)
    }
}

/// `rt_sigprocmask(SIG_BLOCK, set)`: blocks `set` in the calling thread
/// until the guard drops. See the module docs: a receiving process blocks
/// its signals in every thread.
///
/// # Errors
///
/// The `Errno` of `rt_sigprocmask` (none is expected).
///
/// # References
///
/// - [sigprocmask(2)](https://man7.org/linux/man-pages/man2/sigprocmask.2.html)
pub fn block(set: SignalSet) -> Result<BlockGuard, Errno> {
    let old = raw::rt_sigprocmask(k::SIG_BLOCK, Some(&set.0))?;
    Ok(BlockGuard {
        old,
        _thread: PhantomData,
    })
}

/// The [`RtSignal`]s the calling thread blocks now (`rt_sigprocmask` with
/// no new set).
///
/// # Errors
///
/// The `Errno` of `rt_sigprocmask` (none is expected).
pub fn blocked() -> Result<SignalSet, Errno> {
    Ok(SignalSet(
        raw::rt_sigprocmask(k::SIG_BLOCK, None)? & RT_BITS,
    ))
}

/// Restores the calling thread's previous signal mask when dropped.
///
/// A signal that the old mask does not block and that is still pending at
/// that moment is then delivered, and a real-time signal's default action
/// terminates the process: drain the [`SignalFd`] first, or [`keep`] the
/// signals blocked. The guard is not `Send`: a mask belongs to a thread.
///
/// [`keep`]: BlockGuard::keep
#[derive(Debug)]
#[must_use = "dropping the guard unblocks the signals at once"]
pub struct BlockGuard {
    old: SigSet,
    _thread: PhantomData<*const ()>,
}

impl BlockGuard {
    /// Leaves the signals blocked for the rest of the thread's life (and in
    /// the threads it spawns from now on).
    pub fn keep(self) {
        core::mem::forget(self);
    }
}

impl Drop for BlockGuard {
    fn drop(&mut self) {
        let result = raw::rt_sigprocmask(k::SIG_SETMASK, Some(&self.old));
        debug_assert!(result.is_ok(), "restoring the signal mask: {result:?}");
    }
}

/// A signal taken from a [`SignalFd`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// The signal number.
    pub signo: i32,
    /// `si_code`: `SI_QUEUE` (-1) from the `queue` functions, `SI_USER` (0)
    /// from [`send`] and [`send_pidfd`], `SI_TKILL` (-6) from
    /// [`send_thread`]; other values from other sources (timers, message
    /// queues).
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
/// It only sees signals that stay pending, so block them first ([`block`]).
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
        let fd = raw::signalfd4(&set.0, k::O_NONBLOCK | k::O_CLOEXEC)?;
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

/// A pid or tid as the kernel takes it: 1 to `i32::MAX`. Zero and negative
/// values mean process groups to `kill`, so they are refused.
fn id_arg(id: u32) -> Result<i32, Errno> {
    match i32::try_from(id) {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(Errno::INVAL),
    }
}

/// The calling thread's id (`gettid`), for [`send_thread`] and
/// [`queue_thread`].
pub fn current_thread_id() -> u32 {
    rustix::thread::gettid().as_raw_pid() as u32
}

/// `rt_sigqueueinfo(pid, sig, {SI_QUEUE, payload})`: queues `sig` with
/// `payload` to process `pid`, as `sigqueue(3)` does.
///
/// # Errors
///
/// `EINVAL` for pid 0 or above `i32::MAX`; otherwise the `Errno` of the
/// call: `ESRCH` (no such process), `EPERM`, `EAGAIN` (the receiver's queue
/// is full).
///
/// # References
///
/// - [rt_sigqueueinfo(2)](https://man7.org/linux/man-pages/man2/rt_sigqueueinfo.2.html)
/// - [sigqueue(3)](https://man7.org/linux/man-pages/man3/sigqueue.3.html)
pub fn queue(pid: u32, sig: RtSignal, payload: usize) -> Result<(), Errno> {
    let info = SigInfo::queue(sig.as_raw(), payload);
    raw::rt_sigqueueinfo(id_arg(pid)?, sig.as_raw(), &info)
}

/// `pidfd_send_signal(pidfd, sig, {SI_QUEUE, payload}, 0)`: [`queue`]
/// through a pidfd, which names one process even after its pid is reused.
///
/// # Errors
///
/// The `Errno` of the call: `ESRCH` (the process has exited), `EPERM`,
/// `EAGAIN`, `EBADF`/`EINVAL` for a descriptor that is not a pidfd.
///
/// # References
///
/// - [pidfd_send_signal(2)](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
pub fn queue_pidfd(pidfd: impl AsFd, sig: RtSignal, payload: usize) -> Result<(), Errno> {
    let info = SigInfo::queue(sig.as_raw(), payload);
    raw::pidfd_send_signal(pidfd.as_fd(), sig.as_raw(), &info)
}

/// `rt_tgsigqueueinfo(getpid(), tid, sig, {SI_QUEUE, payload})`: queues
/// `sig` with `payload` to thread `tid` of the calling process.
///
/// # Errors
///
/// `EINVAL` for tid 0 or above `i32::MAX`; `ESRCH` if no such thread in
/// this process; `EAGAIN` (queue full).
///
/// # References
///
/// - [rt_tgsigqueueinfo(2)](https://man7.org/linux/man-pages/man2/rt_tgsigqueueinfo.2.html)
pub fn queue_thread(tid: u32, sig: RtSignal, payload: usize) -> Result<(), Errno> {
    let info = SigInfo::queue(sig.as_raw(), payload);
    let tgid = rustix::process::getpid().as_raw_pid();
    raw::rt_tgsigqueueinfo(tgid, id_arg(tid)?, sig.as_raw(), &info)
}

/// `kill(pid, sig)`: sends `sig` to process `pid`, without a payload.
///
/// # Errors
///
/// `EINVAL` for pid 0 or above `i32::MAX` (which `kill` would take for a
/// process group); `ESRCH`, `EPERM`.
///
/// # References
///
/// - [kill(2)](https://man7.org/linux/man-pages/man2/kill.2.html)
pub fn send(pid: u32, sig: RtSignal) -> Result<(), Errno> {
    let pid = Pid::from_raw(id_arg(pid)?).ok_or(Errno::INVAL)?;
    rustix::process::kill_process(pid, sig.to_rustix())
}

/// `pidfd_send_signal(pidfd, sig, NULL, 0)`: [`send`] through a pidfd.
///
/// # Errors
///
/// As [`queue_pidfd`].
///
/// # References
///
/// - [pidfd_send_signal(2)](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
pub fn send_pidfd(pidfd: impl AsFd, sig: RtSignal) -> Result<(), Errno> {
    rustix::process::pidfd_send_signal(pidfd, sig.to_rustix())
}

/// `tgkill(getpid(), tid, sig)`: sends `sig` to thread `tid` of the calling
/// process, without a payload.
///
/// # Errors
///
/// As [`queue_thread`].
///
/// # References
///
/// - [tgkill(2)](https://man7.org/linux/man-pages/man2/tgkill.2.html)
pub fn send_thread(tid: u32, sig: RtSignal) -> Result<(), Errno> {
    let tgid = rustix::process::getpid().as_raw_pid();
    raw::tgkill(tgid, id_arg(tid)?, sig.as_raw())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offered_range_avoids_every_c_library() {
        assert_eq!(RtSignal::LAST, 64);
        assert_eq!(
            RtSignal::nth(0).map(RtSignal::as_raw),
            Some(RtSignal::FIRST)
        );
        assert_eq!(
            RtSignal::nth(RtSignal::COUNT - 1).map(RtSignal::as_raw),
            Some(64)
        );
        assert_eq!(RtSignal::nth(RtSignal::COUNT), None);
        assert_eq!(RtSignal::from_raw(34), None, "glibc's SIGRTMIN, musl's");
        assert_eq!(RtSignal::from_raw(65), None);
        assert_eq!(RtSignal::from_raw(0), None);
        assert_eq!(RtSignal::from_raw(-1), None);
    }

    #[test]
    fn sets_hold_the_kernel_bits() {
        let a = RtSignal::nth(0).unwrap();
        let b = RtSignal::nth(RtSignal::COUNT - 1).unwrap();
        let set = SignalSet::EMPTY.with(a).with(b);
        assert_eq!(set.0, 1 << (a.as_raw() - 1) | 1 << 63);
        assert!(set.contains(a) && set.contains(b));
        assert!(set.without(a).without(b).is_empty());
        assert_eq!(RT_BITS.count_ones(), RtSignal::COUNT);
        assert_eq!(RT_BITS & set.0, set.0);
    }

    #[test]
    fn bad_ids_are_refused_before_the_kernel() {
        let sig = RtSignal::nth(0).unwrap();
        assert_eq!(send(0, sig), Err(Errno::INVAL), "not the process group");
        assert_eq!(queue(0, sig, 1), Err(Errno::INVAL));
        assert_eq!(queue(u32::MAX, sig, 1), Err(Errno::INVAL));
        assert_eq!(send_thread(0, sig), Err(Errno::INVAL));
        assert_eq!(queue_thread(1 << 31, sig, 1), Err(Errno::INVAL));
    }
}
