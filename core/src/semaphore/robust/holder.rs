//! [`Holder`]: a registered user of a robust set, whose undo operations are
//! recorded in its holder record.

use core::fmt;
use core::time::Duration;

use super::journal::Entry;
use super::lock::{Busy, Token};
use super::repair::UndoReport;
use super::{MAX_COUNTERS, RobustSemaphoreSet};
use crate::semaphore::set::validate_ops;
use crate::semaphore::{DEFAULT_SPIN_LIMIT, SemAction, SemOp, SetOpError, TRY_LOCK_POLLS};
use crate::sync::Ordering;
use crate::wait::{Wait, deadline_after};

/// How long dropping a holder waits for the lock to give its units back.
pub const DROP_PATIENCE: Duration = Duration::from_secs(1);

/// Test hook: where [`Holder::die_during_op`] stops, as a process killed
/// at that instant would.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(test, loom)), allow(dead_code, unreachable_pub))]
pub enum CrashPoint {
    /// Lock taken, nothing written.
    AfterLock,
    /// Journal entries written, not committed.
    BeforeCommit,
    /// Journal committed, nothing applied.
    AfterCommit,
    /// The first counter (and adjustment) applied.
    MidApply,
    /// Everything applied, journal still committed.
    AfterApply,
    /// Journal emptied, lock still held.
    BeforeUnlock,
}

/// A registered user of a [`RobustSemaphoreSet`]: owns one holder record,
/// in which its undo operations ([`Holder::op`], [`Holder::try_op`]) are
/// recorded, so that the units it holds come back when it dies
/// ([`Holder::release_dead`], run by a survivor) or is dropped.
///
/// Operations are those of [`SemaphoreSet`](crate::semaphore::SemaphoreSet)
/// (all or nothing, `semop` semantics), with the same errors, plus
/// [`SetOpError::AdjustOverflow`] and [`SetOpError::StateCorrupted`].
///
/// Dropping the holder gives back what it holds (adds its adjustments to the
/// counters) and frees its record, waiting up to [`DROP_PATIENCE`] for the
/// lock; if the lock stays held (a dead holder nobody repaired), the record
/// stays, and is repaired once this process is gone.
pub struct Holder<'a, W: Wait> {
    set: RobustSemaphoreSet<'a>,
    index: u32,
    pid: u32,
    wait: W,
    spin_limit: u32,
}

impl<W: Wait> fmt::Debug for Holder<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Holder")
            .field("index", &self.index)
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

impl<'a, W: Wait> Holder<'a, W> {
    pub(super) fn new(set: RobustSemaphoreSet<'a>, index: u32, pid: u32, wait: W) -> Self {
        Holder {
            set,
            index,
            pid,
            wait,
            spin_limit: DEFAULT_SPIN_LIMIT,
        }
    }

    /// Applies all of `ops` at once, or none, recording their undo (a wait
    /// of `n` adds `n` to this holder's adjustment of the counter, a post
    /// subtracts `n`): `semop` with `SEM_UNDO` and `IPC_NOWAIT`. Never
    /// sleeps; bounded.
    ///
    /// # Errors
    ///
    /// As [`SemaphoreSet::try_op`](crate::semaphore::SemaphoreSet::try_op),
    /// plus [`SetOpError::AdjustOverflow`] and
    /// [`SetOpError::StateCorrupted`].
    pub fn try_op(&self, ops: &[SemOp]) -> Result<(), SetOpError> {
        self.try_apply(ops, true)
    }

    /// Applies all of `ops` at once, waiting until they can all proceed,
    /// recording their undo (`semop` with `SEM_UNDO`). `timeout: None` waits
    /// forever; a holder that died holding the lock or the units blocks this
    /// call until a repair ([`Holder::release_dead`]) or the timeout.
    ///
    /// # Errors
    ///
    /// As [`SemaphoreSet::op`](crate::semaphore::SemaphoreSet::op), plus
    /// [`SetOpError::AdjustOverflow`] and [`SetOpError::StateCorrupted`].
    pub fn op(&self, ops: &[SemOp], timeout: Option<Duration>) -> Result<(), SetOpError> {
        self.apply_blocking(ops, true, timeout)
    }

    /// [`Holder::try_op`] without recording the undo: the units change hands
    /// for good (a consumer taking "filled" units, a producer posting them).
    ///
    /// # Errors
    ///
    /// As [`Holder::try_op`], but never [`SetOpError::AdjustOverflow`].
    pub fn try_op_no_undo(&self, ops: &[SemOp]) -> Result<(), SetOpError> {
        self.try_apply(ops, false)
    }

    /// [`Holder::op`] without recording the undo.
    ///
    /// # Errors
    ///
    /// As [`Holder::op`], but never [`SetOpError::AdjustOverflow`].
    pub fn op_no_undo(&self, ops: &[SemOp], timeout: Option<Duration>) -> Result<(), SetOpError> {
        self.apply_blocking(ops, false, timeout)
    }

    /// Takes `n` units of counter `index`, waiting for them, recorded (a
    /// robust `sem_wait`).
    ///
    /// # Errors
    ///
    /// As [`Holder::op`].
    pub fn wait(&self, index: u32, n: u32, timeout: Option<Duration>) -> Result<(), SetOpError> {
        self.op(&[SemOp::wait(index, n)], timeout)
    }

    /// Takes `n` units of counter `index` if they are there, recorded.
    ///
    /// # Errors
    ///
    /// As [`Holder::try_op`].
    pub fn try_wait(&self, index: u32, n: u32) -> Result<(), SetOpError> {
        self.try_op(&[SemOp::wait(index, n)])
    }

    /// Gives `n` units back to counter `index`, recorded (a robust
    /// `sem_post`: this holder's adjustment drops by `n`). Never sleeps.
    ///
    /// # Errors
    ///
    /// As [`Holder::try_op`].
    pub fn post(&self, index: u32, n: u32) -> Result<(), SetOpError> {
        self.try_op(&[SemOp::post(index, n)])
    }

    /// This holder's undo adjustment for counter `index` (what its death
    /// would add back), `None` past the last counter. Exact while no other
    /// thread operates through this holder.
    pub fn adjustment(&self, index: u32) -> Option<i32> {
        self.set.adjustment(self.index, index)
    }

    /// The set this holder operates on.
    pub fn set(&self) -> RobustSemaphoreSet<'a> {
        self.set
    }

    /// The index of this holder's record.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The pid this holder's record is owned by.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Polls a blocking call makes before sleeping ([`DEFAULT_SPIN_LIMIT`]
    /// unless set). 0 sleeps at once.
    pub fn set_spin_limit(&mut self, polls: u32) {
        self.spin_limit = polls;
    }

    /// The waiter this holder sleeps and wakes with.
    pub fn waiter(&self) -> &W {
        &self.wait
    }

    fn try_apply(&self, ops: &[SemOp], undo: bool) -> Result<(), SetOpError> {
        validate_ops(ops, self.set.count, self.set.max)?;
        if ops.is_empty() {
            return Ok(());
        }
        match self.set.try_lock(self.index, TRY_LOCK_POLLS) {
            Ok(token) => self.apply_and_unlock(ops, undo, token),
            Err(Busy::Held(..) | Busy::Contended) => Err(SetOpError::Contended),
        }
    }

    fn apply_blocking(
        &self,
        ops: &[SemOp],
        undo: bool,
        timeout: Option<Duration>,
    ) -> Result<(), SetOpError> {
        validate_ops(ops, self.set.count, self.set.max)?;
        if ops.is_empty() {
            return Ok(());
        }
        // Fast path: one try at the lock, no clock read, no event count.
        if let Ok(token) = self.set.try_lock(self.index, 1) {
            match self.apply_and_unlock(ops, undo, token) {
                Err(SetOpError::WouldBlock) => {}
                done => return done,
            }
        }
        self.block(ops, undo, timeout)
    }

    #[cold]
    fn block(
        &self,
        ops: &[SemOp],
        undo: bool,
        timeout: Option<Duration>,
    ) -> Result<(), SetOpError> {
        let deadline = deadline_after(&self.wait, timeout);
        let outcome =
            self.set
                .state()
                .changed
                .wait_until(&self.wait, self.spin_limit, deadline, || {
                    let Ok(token) = self.set.lock(self.index, &self.wait, deadline) else {
                        return Some(Err(SetOpError::Timeout));
                    };
                    match self.apply_and_unlock(ops, undo, token) {
                        Err(SetOpError::WouldBlock) => None,
                        done => Some(done),
                    }
                });
        outcome.unwrap_or(Err(SetOpError::Timeout))
    }

    fn apply_and_unlock(&self, ops: &[SemOp], undo: bool, token: Token) -> Result<(), SetOpError> {
        let applied = self.apply_locked(ops, undo, None);
        let still_ours = self.set.unlock(token, &self.wait);
        let changed = applied?;
        if changed {
            // After the unlock (a Release): the event count's contract, and
            // no waker runs inside the lock.
            self.set.state().changed.notify(&self.wait);
        }
        if !still_ours {
            return Err(SetOpError::StateCorrupted);
        }
        Ok(())
    }

    /// Redoes a dead holder's journal, checks `ops` (validated) in order
    /// against the counters and applies them all, with this holder's
    /// adjustments if `undo`, through the journal. Returns whether a counter
    /// changed (or a journal was redone: sleepers must look again), or
    /// `WouldBlock`. Call with the lock held.
    fn apply_locked(
        &self,
        ops: &[SemOp],
        undo: bool,
        crash: Option<CrashPoint>,
    ) -> Result<bool, SetOpError> {
        if crash == Some(CrashPoint::AfterLock) {
            return Ok(false);
        }
        let redone = self
            .set
            .recover_journal()
            .map_err(|_| SetOpError::StateCorrupted)?;
        let counters = self.set.counters();
        let mut entry = Entry::new(undo.then_some(self.index));
        let mut read = 0u64;
        for (op, sem_op) in ops.iter().enumerate() {
            // `validate_ops` checked index < count <= MAX_COUNTERS.
            let index = sem_op.index as usize;
            let bit = 1u64 << index;
            if read & bit == 0 {
                // Relaxed: under the lock, whose Acquire ordered this after
                // the previous holder's writes.
                let value = counters[index].load(Ordering::Relaxed);
                if value > self.set.max {
                    return Err(SetOpError::Corrupted {
                        index: sem_op.index,
                    });
                }
                entry.counters[index] = value;
                if undo {
                    // Relaxed: under the lock, as above.
                    entry.adjust[index] = self
                        .set
                        .adjust(self.index, sem_op.index)
                        .load(Ordering::Relaxed) as i32;
                }
                read |= bit;
            }
            let value = &mut entry.counters[index];
            let adjust = &mut entry.adjust[index];
            let delta = match sem_op.action {
                SemAction::Wait(n) => {
                    *value = value.checked_sub(n).ok_or(SetOpError::WouldBlock)?;
                    i64::from(n)
                }
                SemAction::Post(n) => {
                    *value = match value.checked_add(n) {
                        Some(v) if v <= self.set.max => v,
                        _ => return Err(SetOpError::Overflow { op }),
                    };
                    -i64::from(n)
                }
                SemAction::WaitZero if *value != 0 => return Err(SetOpError::WouldBlock),
                SemAction::WaitZero => 0,
            };
            if delta != 0 {
                entry.changed |= bit;
                if undo {
                    *adjust = i32::try_from(i64::from(*adjust) + delta)
                        .map_err(|_| SetOpError::AdjustOverflow { op })?;
                }
            }
        }
        if entry.changed == 0 {
            return Ok(redone);
        }
        self.set.commit_and_apply(&entry, crash);
        Ok(true)
    }

    /// Test hook: runs `try_op` (`undo` as asked) but stops for good at
    /// `at`, without unlocking or freeing the record, as a process killed at
    /// that instant would (with [`CrashPoint::BeforeUnlock`], after the
    /// whole operation). Returns whether the operation could proceed; the
    /// holder is leaked. Only for tests and models of the repair.
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn die_during_op(self, ops: &[SemOp], undo: bool, at: CrashPoint) -> bool {
        let this = core::mem::ManuallyDrop::new(self);
        if validate_ops(ops, this.set.count, this.set.max).is_err() {
            return false;
        }
        let Ok(_token) = this.set.try_lock(this.index, TRY_LOCK_POLLS) else {
            return false;
        };
        this.apply_locked(ops, undo, Some(at)).is_ok()
    }

    /// Gives back what this holder's record holds and frees it (its drop).
    fn close(&mut self) {
        let deadline = deadline_after(&self.wait, Some(DROP_PATIENCE));
        let Ok(token) = self.set.lock(self.index, &self.wait, deadline) else {
            return;
        };
        let mut report = UndoReport::default();
        let redone = self.set.recover_journal().unwrap_or(false);
        let given = self.set.give_back(self.index, &mut report).is_ok();
        if given {
            // SYNC POINT robust owner: Release, after the adjustments were
            // set to 0, pairs with the next claimant's Acquire.
            let _ = self.set.owner(self.index).compare_exchange(
                self.pid,
                0,
                Ordering::Release,
                Ordering::Relaxed,
            );
        }
        self.set.unlock(token, &self.wait);
        if redone || report.returned != 0 || report.withdrawn != 0 {
            self.set.state().changed.notify(&self.wait);
        }
    }
}

impl<W: Wait> Drop for Holder<'_, W> {
    fn drop(&mut self) {
        self.close();
    }
}

const _: () = assert!(MAX_COUNTERS <= 64, "the changed mask is a u64");
