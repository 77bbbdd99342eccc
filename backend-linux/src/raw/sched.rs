//! `sched_setscheduler`, `sched_getscheduler`, `sched_getparam`: a thread's
//! scheduling policy and real-time priority.
//!
//! # References
//!
//! - [sched_setscheduler(2)](https://man7.org/linux/man-pages/man2/sched_setscheduler.2.html)
//! - [sched(7)](https://man7.org/linux/man-pages/man7/sched.7.html)

use rustix::io::Errno;

use super::{check, k, syscall4};

/// `struct sched_param` (`include/uapi/linux/sched/types.h`): one `int`.
/// linux-raw-sys does not define it; its one field pins the layout.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SchedParam {
    pub(crate) priority: i32,
}

static_assertions::const_assert_eq!(core::mem::size_of::<SchedParam>(), 4);
static_assertions::const_assert_eq!(core::mem::align_of::<SchedParam>(), 4);

/// `sched_setscheduler(tid, policy, &param)`: `tid` 0 is the calling
/// thread; `policy` may carry `SCHED_RESET_ON_FORK`.
pub(crate) fn sched_setscheduler(tid: i32, policy: u32, priority: i32) -> Result<(), Errno> {
    let param = SchedParam { priority };
    // SAFETY: `param` is a live `sched_param` the kernel only reads.
    check(unsafe {
        syscall4(
            k::__NR_sched_setscheduler,
            tid as usize,
            policy as usize,
            &param as *const SchedParam as usize,
            0,
        )
    })?;
    Ok(())
}

/// `sched_getscheduler(tid)`: the policy, with `SCHED_RESET_ON_FORK` if set.
pub(crate) fn sched_getscheduler(tid: i32) -> Result<u32, Errno> {
    // SAFETY: no pointer arguments.
    let policy = check(unsafe { syscall4(k::__NR_sched_getscheduler, tid as usize, 0, 0, 0) })?;
    // A policy number and flag bits: fits in 32 bits.
    Ok(policy as u32)
}

/// `sched_getparam(tid, &param)`: the real-time priority (0 for the normal
/// policies).
pub(crate) fn sched_getparam(tid: i32) -> Result<i32, Errno> {
    let mut param = SchedParam::default();
    // SAFETY: `param` is a live, writable `sched_param`.
    check(unsafe {
        syscall4(
            k::__NR_sched_getparam,
            tid as usize,
            &mut param as *mut SchedParam as usize,
            0,
            0,
        )
    })?;
    Ok(param.priority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_policy_is_einval_and_the_calling_thread_reads_back() {
        assert_eq!(sched_setscheduler(0, 77, 0), Err(Errno::INVAL));
        let policy = sched_getscheduler(0).unwrap();
        assert_eq!(policy & !k::SCHED_RESET_ON_FORK, k::SCHED_NORMAL);
        assert_eq!(sched_getparam(0), Ok(0));
    }
}
