//! Blocking signals in the calling thread, so that they stay pending for a
//! [`SignalFd`](super::SignalFd) instead of being delivered.

use core::marker::PhantomData;

use linux_raw_sys::general as k;
use rustix::io::Errno;

use super::SignalSet;
use crate::raw::{self, SigSet};

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
    let old = raw::rt_sigprocmask(k::SIG_BLOCK, Some(&set.bits()))?;
    Ok(BlockGuard {
        old,
        _thread: PhantomData,
    })
}

/// The [`RtSignal`](super::RtSignal)s the calling thread blocks now (`rt_sigprocmask` with
/// no new set).
///
/// # Errors
///
/// The `Errno` of `rt_sigprocmask` (none is expected).
pub fn blocked() -> Result<SignalSet, Errno> {
    let mask = raw::rt_sigprocmask(k::SIG_BLOCK, None)?;
    Ok(SignalSet::from_kernel(mask))
}

/// Restores the calling thread's previous signal mask when dropped.
///
/// A signal that the old mask does not block and that is still pending at
/// that moment is then delivered, and a real-time signal's default action
/// terminates the process: drain the [`SignalFd`](super::SignalFd) first, or [`keep`] the
/// signals blocked. Guards nest when dropped in reverse order (each restores
/// the mask it found). The guard is not `Send`: a mask belongs to a thread.
///
/// ```compile_fail
/// use annulus_linux::signal::{self, RtSignal};
///
/// let guard = signal::block(RtSignal::nth(0).unwrap().into()).unwrap();
/// // Restoring the mask on another thread would change that thread's.
/// std::thread::spawn(move || drop(guard));
/// ```
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
