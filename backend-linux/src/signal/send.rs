//! Sending real-time signals, with a payload (`queue*`) or without
//! (`send*`), to a process, through a pidfd, or to a thread of this process.

use rustix::fd::AsFd;
use rustix::io::Errno;
use rustix::process::Pid;

use super::RtSignal;
use crate::raw::{self, SigInfo};

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
    fn bad_ids_are_refused_before_the_kernel() {
        let sig = RtSignal::nth(0).unwrap();
        assert_eq!(send(0, sig), Err(Errno::INVAL), "not the process group");
        assert_eq!(queue(0, sig, 1), Err(Errno::INVAL));
        assert_eq!(queue(u32::MAX, sig, 1), Err(Errno::INVAL));
        assert_eq!(send_thread(0, sig), Err(Errno::INVAL));
        assert_eq!(queue_thread(1 << 31, sig, 1), Err(Errno::INVAL));
    }
}
