//! The few system calls rustix 1.1 does not wrap, made directly with
//! `core::arch::asm!`, and the kernel structures they take.
//!
//! # The one exception to "only rustix talks to the kernel"
//!
//! Everywhere else in annulus-linux, rustix (its `linux_raw` backend) makes
//! every system call, and constants rustix lacks come from linux-raw-sys.
//! **What rustix lacks goes through this module, and only this module:**
//! no other file issues a raw system call or uses `asm!`. Each call here
//! has a safe, crate-private wrapper that returns `Result<_, Errno>`, each
//! kernel structure it passes is defined here with its size and field
//! offsets asserted at compile time against linux-raw-sys, and a call moves
//! back to rustix once rustix wraps it. Adding a call means adding it here,
//! with its `# References`, its structure checks and a unit test.
//!
//! Besides the signal calls below, [`sched`] has `sched_setscheduler`,
//! `sched_getscheduler` and `sched_getparam` (rustix 1.1 has affinity but
//! no scheduling policy), and [`socket`] has the one `getsockopt` rustix
//! 1.1 does not wrap, `SO_PEERPIDFD`.
//!
//! rustix 1.1 has `kill`, `pidfd_send_signal` without a `siginfo`, `poll` and
//! `read`, and [`crate::signal`] uses those. It has no `signalfd4`, no
//! `rt_sigqueueinfo`, `rt_tgsigqueueinfo` or `tgkill`, and no
//! `pidfd_send_signal` that carries a payload. Its `rt_sigprocmask` and
//! `rt_sigaction` exist only in the hidden `runtime` module, whose very path
//! (`runtime_<hash>`) is marked unstable: relying on it would break on a
//! rustix patch release. So those two are here as well.
//!
//! Only x86_64 and aarch64 are implemented (the `signal` module and
//! `pipe::ignore_sigpipe` are compiled on those two only); the layouts below
//! are those of a 64-bit little-endian kernel and are pinned by compile-time
//! assertions. Syscall numbers and flags come from linux-raw-sys, per
//! architecture.
//!
//! The wrappers are crate-private. They take signal numbers from
//! [`crate::signal::RtSignal`] (outside every C library's reserved range) or
//! `SIGPIPE`, never a number a C library uses for its own purposes.
//!
//! # References
//!
//! - [syscall(2)](https://man7.org/linux/man-pages/man2/syscall.2.html): the
//!   calling conventions used below.

#![allow(unsafe_code)]

pub(crate) mod sched;
pub(crate) mod socket;

use annulus::bytemuck;
use rustix::fd::{BorrowedFd, FromRawFd, OwnedFd};
use rustix::io::Errno;

use linux_raw_sys::general as k;

/// A kernel signal set (`kernel_sigset_t`): bit `n - 1` stands for signal
/// `n`. 64 signals on x86_64 and aarch64.
pub(crate) type SigSet = u64;

static_assertions::assert_eq_size!(SigSet, k::kernel_sigset_t);
static_assertions::const_assert_eq!(k::_NSIG, 64);

/// `sizeof(kernel_sigset_t)`, the `sigsetsize` argument of the `rt_sig*`
/// calls.
const SIGSET_SIZE: usize = core::mem::size_of::<SigSet>();

/// `siginfo_t` as `rt_sigqueueinfo`, `rt_tgsigqueueinfo` and
/// `pidfd_send_signal` read it for `si_code == SI_QUEUE`: the header, then
/// the `_rt` member of the union (`si_pid`, `si_uid`, `si_value`), zeros to
/// 128 bytes.
///
/// # References
///
/// - `include/uapi/asm-generic/siginfo.h` in the kernel sources
/// - [sigqueue(3)](https://man7.org/linux/man-pages/man3/sigqueue.3.html)
#[repr(C)]
#[allow(dead_code, reason = "read by the kernel, not by Rust")]
pub(crate) struct SigInfo {
    signo: i32,
    errno: i32,
    code: i32,
    /// The union that follows is 8-byte aligned on a 64-bit kernel.
    pad: i32,
    pid: i32,
    uid: u32,
    /// `union sigval`: `sival_ptr`, whose low four bytes are `sival_int` on
    /// a little-endian machine.
    value: usize,
    rest: [u64; 12],
}

static_assertions::assert_eq_size!(SigInfo, k::siginfo_t);
static_assertions::const_assert_eq!(core::mem::size_of::<SigInfo>(), 128);
static_assertions::const_assert_eq!(
    core::mem::align_of::<SigInfo>(),
    core::mem::align_of::<k::siginfo_t>()
);
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(SigInfo, signo) == 0);
    assert!(offset_of!(SigInfo, errno) == 4);
    assert!(offset_of!(SigInfo, code) == 8);
    assert!(offset_of!(SigInfo, pid) == 16);
    assert!(offset_of!(SigInfo, uid) == 20);
    assert!(offset_of!(SigInfo, value) == 24);
};

impl SigInfo {
    /// A `SI_QUEUE` record: what `sigqueue(3)` fills in, the sender's pid
    /// and uid included. (The kernel keeps them as given: for `SI_QUEUE` it
    /// checks only that the code is negative.)
    pub(crate) fn queue(signo: i32, value: usize) -> SigInfo {
        SigInfo {
            signo,
            errno: 0,
            code: k::SI_QUEUE,
            pad: 0,
            pid: rustix::process::getpid().as_raw_pid(),
            uid: rustix::process::getuid().as_raw(),
            value,
            rest: [0; 12],
        }
    }
}

/// `struct signalfd_siginfo`: one record read from a signalfd, 128 bytes on
/// every architecture. All fields are written by the kernel.
///
/// # References
///
/// - [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html)
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
#[allow(dead_code, reason = "the kernel's whole layout; a few fields are read")]
pub(crate) struct SignalfdSiginfo {
    pub(crate) signo: u32,
    pub(crate) errno: i32,
    pub(crate) code: i32,
    pub(crate) pid: u32,
    pub(crate) uid: u32,
    pub(crate) fd: i32,
    pub(crate) tid: u32,
    pub(crate) band: u32,
    pub(crate) overrun: u32,
    pub(crate) trapno: u32,
    pub(crate) status: i32,
    /// `si_int`: the low four bytes of the sender's `sigval`.
    pub(crate) int: i32,
    /// `si_ptr`: the sender's whole `sigval`.
    pub(crate) ptr: u64,
    pub(crate) utime: u64,
    pub(crate) stime: u64,
    pub(crate) addr: u64,
    pub(crate) addr_lsb: u16,
    pad2: u16,
    pub(crate) syscall: i32,
    pub(crate) call_addr: u64,
    pub(crate) arch: u32,
    pad: [u8; 28],
}

static_assertions::const_assert_eq!(core::mem::size_of::<SignalfdSiginfo>(), 128);
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(SignalfdSiginfo, signo) == 0);
    assert!(offset_of!(SignalfdSiginfo, code) == 8);
    assert!(offset_of!(SignalfdSiginfo, pid) == 12);
    assert!(offset_of!(SignalfdSiginfo, uid) == 16);
    assert!(offset_of!(SignalfdSiginfo, tid) == 24);
    assert!(offset_of!(SignalfdSiginfo, int) == 44);
    assert!(offset_of!(SignalfdSiginfo, ptr) == 48);
    assert!(offset_of!(SignalfdSiginfo, addr_lsb) == 80);
    assert!(offset_of!(SignalfdSiginfo, syscall) == 84);
    assert!(offset_of!(SignalfdSiginfo, call_addr) == 88);
    assert!(offset_of!(SignalfdSiginfo, arch) == 96);
};

// SAFETY: `repr(C)` of integers and a byte array, 128 bytes with no padding
// (the offsets above are contiguous: 100 + 28 = 128), so every bit pattern is
// a valid value and all-zero is one.
unsafe impl bytemuck::Zeroable for SignalfdSiginfo {}
// SAFETY: as above; `Copy`, no pointers, no interior mutability.
unsafe impl bytemuck::Pod for SignalfdSiginfo {}

/// The kernel's `struct sigaction` for `rt_sigaction` on x86_64 and aarch64
/// (both define `SA_RESTORER`, so the restorer field is there).
#[repr(C)]
#[allow(dead_code, reason = "read by the kernel, not by Rust")]
struct KernelSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: SigSet,
}

static_assertions::assert_eq_size!(KernelSigaction, k::kernel_sigaction);

/// `SIG_IGN`, the "ignore" disposition.
const SIG_IGN: usize = 1;

/// Converts a raw return value: `-4095..=-1` is `-errno`.
fn check(ret: usize) -> Result<usize, Errno> {
    if ret > -4096_isize as usize {
        Err(Errno::from_raw_os_error(ret.wrapping_neg() as i32))
    } else {
        Ok(ret)
    }
}

/// A system call with up to four arguments (unused ones zero): the
/// five-argument call with a zero fifth, which a call of fewer arguments
/// never reads.
///
/// # Safety
///
/// The call `nr` with these arguments must be sound: every pointer among them
/// is valid for what that call reads and writes, and the call does not
/// change the process in a way Rust relies on (memory maps, stacks).
#[inline]
unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> usize {
    // SAFETY: the caller's contract, which is `syscall5`'s.
    unsafe { syscall5(nr, a0, a1, a2, a3, 0) }
}

/// A system call with up to five arguments (unused ones zero).
///
/// # Safety
///
/// As for [`syscall4`].
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn syscall5(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let ret: usize;
    // SAFETY: the x86_64 convention: number in rax, arguments in rdi, rsi,
    // rdx, r10, r8; the kernel clobbers rcx and r11 and restores the flags.
    // The call's soundness is the caller's contract.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as usize => ret,
            in("rdi") a0,
            in("rsi") a1,
            in("rdx") a2,
            in("r10") a3,
            in("r8") a4,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, preserves_flags),
        );
    }
    ret
}

/// A system call with up to five arguments (unused ones zero).
///
/// # Safety
///
/// As for [`syscall4`].
#[cfg(target_arch = "aarch64")]
#[inline]
unsafe fn syscall5(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize) -> usize {
    let ret: usize;
    // SAFETY: the aarch64 convention: number in x8, arguments in x0..x4,
    // result in x0, nothing else clobbered. The call's soundness is the
    // caller's contract.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") nr as usize,
            inlateout("x0") a0 => ret,
            in("x1") a1,
            in("x2") a2,
            in("x3") a3,
            in("x4") a4,
            options(nostack, preserves_flags),
        );
    }
    ret
}

/// `rt_sigprocmask(how, set, &old, sizeof(kernel_sigset_t))`: changes the
/// calling thread's signal mask (`how` is `SIG_BLOCK`, `SIG_UNBLOCK` or
/// `SIG_SETMASK`; no `set` only reads it) and returns the previous mask.
///
/// # References
///
/// - [sigprocmask(2)](https://man7.org/linux/man-pages/man2/sigprocmask.2.html)
pub(crate) fn rt_sigprocmask(how: u32, set: Option<&SigSet>) -> Result<SigSet, Errno> {
    let mut old: SigSet = 0;
    let set = set.map_or(core::ptr::null(), |s| s as *const SigSet);
    // SAFETY: `set` is null or points to a live sigset the kernel only
    // reads; `old` is a live sigset it writes; the size is theirs.
    check(unsafe {
        syscall4(
            k::__NR_rt_sigprocmask,
            how as usize,
            set as usize,
            &raw mut old as usize,
            SIGSET_SIZE,
        )
    })?;
    Ok(old)
}

/// `rt_sigaction(signo, {SIG_IGN}, NULL, sizeof(kernel_sigset_t))`: the
/// process ignores `signo` from now on (and so do programs it `exec`s).
///
/// # References
///
/// - [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html)
pub(crate) fn ignore_signal(signo: i32) -> Result<(), Errno> {
    let action = KernelSigaction {
        handler: SIG_IGN,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // SAFETY: `action` is live and read only; "ignore" installs no code for
    // the kernel to jump to; no old action is asked for.
    check(unsafe {
        syscall4(
            k::__NR_rt_sigaction,
            signo as usize,
            &raw const action as usize,
            0,
            SIGSET_SIZE,
        )
    })?;
    Ok(())
}

/// `signalfd4(-1, mask, sizeof(kernel_sigset_t), flags)`: a new signalfd
/// for the signals in `mask`.
///
/// # References
///
/// - [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html)
pub(crate) fn signalfd4(mask: &SigSet, flags: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: `mask` is live and read only; -1 asks for a new descriptor.
    let fd = check(unsafe {
        syscall4(
            k::__NR_signalfd4,
            -1_isize as usize,
            mask as *const SigSet as usize,
            SIGSET_SIZE,
            flags as usize,
        )
    })?;
    // SAFETY: the kernel just returned this descriptor, so nothing else in
    // the process owns it (and a descriptor fits an i32).
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `rt_sigqueueinfo(pid, signo, info)`: queues `signo` with `info` to
/// process `pid`.
///
/// # References
///
/// - [rt_sigqueueinfo(2)](https://man7.org/linux/man-pages/man2/rt_sigqueueinfo.2.html)
pub(crate) fn rt_sigqueueinfo(pid: i32, signo: i32, info: &SigInfo) -> Result<(), Errno> {
    // SAFETY: `info` is a live 128-byte siginfo that the kernel only reads.
    check(unsafe {
        syscall4(
            k::__NR_rt_sigqueueinfo,
            pid as usize,
            signo as usize,
            info as *const SigInfo as usize,
            0,
        )
    })?;
    Ok(())
}

/// `rt_tgsigqueueinfo(tgid, tid, signo, info)`: queues `signo` with `info`
/// to thread `tid` of process `tgid`.
///
/// # References
///
/// - [rt_tgsigqueueinfo(2)](https://man7.org/linux/man-pages/man2/rt_tgsigqueueinfo.2.html)
pub(crate) fn rt_tgsigqueueinfo(
    tgid: i32,
    tid: i32,
    signo: i32,
    info: &SigInfo,
) -> Result<(), Errno> {
    // SAFETY: as in `rt_sigqueueinfo`.
    check(unsafe {
        syscall4(
            k::__NR_rt_tgsigqueueinfo,
            tgid as usize,
            tid as usize,
            signo as usize,
            info as *const SigInfo as usize,
        )
    })?;
    Ok(())
}

/// `tgkill(tgid, tid, signo)`: sends `signo` to thread `tid` of process
/// `tgid`.
///
/// # References
///
/// - [tgkill(2)](https://man7.org/linux/man-pages/man2/tgkill.2.html)
pub(crate) fn tgkill(tgid: i32, tid: i32, signo: i32) -> Result<(), Errno> {
    // SAFETY: no pointer arguments.
    check(unsafe {
        syscall4(
            k::__NR_tgkill,
            tgid as usize,
            tid as usize,
            signo as usize,
            0,
        )
    })?;
    Ok(())
}

/// `pidfd_send_signal(pidfd, signo, info, 0)`: sends `signo` with `info` to
/// the process `pidfd` refers to.
///
/// # References
///
/// - [pidfd_send_signal(2)](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
pub(crate) fn pidfd_send_signal(
    pidfd: BorrowedFd<'_>,
    signo: i32,
    info: &SigInfo,
) -> Result<(), Errno> {
    use rustix::fd::AsRawFd;
    // SAFETY: `pidfd` is open for the duration of the call; `info` is a live
    // siginfo that the kernel only reads.
    check(unsafe {
        syscall4(
            k::__NR_pidfd_send_signal,
            pidfd.as_raw_fd() as usize,
            signo as usize,
            info as *const SigInfo as usize,
            0,
        )
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_come_back_as_errno() {
        assert_eq!(check(0), Ok(0));
        assert_eq!(check(7), Ok(7));
        assert_eq!(check(-22_isize as usize), Err(Errno::INVAL));
        assert_eq!(
            check(-4095_isize as usize),
            Err(Errno::from_raw_os_error(4095))
        );
        // Just below the error range: a value (an mmap address, say).
        assert_eq!(check(-4096_isize as usize), Ok(-4096_isize as usize));
    }

    #[test]
    fn a_bad_how_is_einval_not_ub() {
        assert_eq!(rt_sigprocmask(77, Some(&0)), Err(Errno::INVAL));
    }

    #[test]
    fn reading_the_mask_changes_nothing() {
        let before = rt_sigprocmask(k::SIG_BLOCK, None).unwrap();
        assert_eq!(rt_sigprocmask(k::SIG_BLOCK, None), Ok(before));
    }
}
