//! The repair: gives back what dead holders held, exactly once, and takes
//! the lock over from a dead holder. See the module docs of
//! [`robust`](super) for why a crash at any instant, the repairer's own
//! included, leaves a state this repairs.

use core::fmt;

use super::journal::Entry;
use super::lock::{Busy, MAX_LOCK_ATTEMPTS};
use super::{Holder, RobustSemaphoreSet};
use crate::sync::{Ordering, spin_hint};
use crate::wait::Wait;

/// What [`Holder::release_dead`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UndoReport {
    /// Records of dead holders freed.
    pub released: u32,
    /// Units given back to counters (the dead holders' positive
    /// adjustments), summed over counters, saturating.
    pub returned: u32,
    /// Units taken back (negative adjustments: posts of the dead holders
    /// that are undone), saturating.
    pub withdrawn: u32,
    /// Units the clamp to `0..=max` dropped while giving back (as Linux
    /// clamps `semadj` at exit), saturating.
    pub clamped: u32,
    /// Whether the lock was taken over from a dead holder.
    pub lock_taken_over: bool,
    /// Whether a dead holder's committed journal was redone (its last
    /// operation completed).
    pub journal_redone: bool,
}

/// Why [`Holder::release_dead`] did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReleaseDeadError {
    /// A live holder has the lock (or it kept changing hands): try again
    /// later. `pid` is the holder's, 0 if unknown.
    Busy {
        /// The lock holder's pid.
        pid: u32,
    },
    /// The journal or a record held what no writer produces (the journal
    /// was cleared; the repair stopped).
    Corrupted,
}

impl fmt::Display for ReleaseDeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReleaseDeadError::Busy { pid } => {
                write!(f, "the robust set's lock is held by live process {pid}")
            }
            ReleaseDeadError::Corrupted => f.write_str("the robust set's journal is corrupted"),
        }
    }
}

impl core::error::Error for ReleaseDeadError {}

impl<W: Wait> Holder<'_, W> {
    /// Gives back what dead holders held and frees their records; takes the
    /// lock over first if a dead holder has it, and completes that holder's
    /// last operation if it had committed it. Safe to run from several
    /// processes at once: each dead record is given back exactly once.
    /// Never sleeps; bounded (`O(holders × count)` steps and one `is_alive`
    /// per held record, under the lock).
    ///
    /// `is_alive(pid)` must answer `false` only for a process that will
    /// never run again (on Linux: its pidfd reported its exit); it is asked
    /// about this holder's own pid only if a forged lock word names it.
    ///
    /// # Errors
    ///
    /// [`ReleaseDeadError::Busy`] if a live holder has the lock;
    /// [`ReleaseDeadError::Corrupted`].
    pub fn release_dead(
        &self,
        is_alive: impl FnMut(u32) -> bool,
    ) -> Result<UndoReport, ReleaseDeadError> {
        self.repair(is_alive, false)
    }

    /// [`Holder::release_dead`], and if `own`, also gives back what this
    /// holder's own record holds (a record taken over from a dead owner).
    pub(super) fn repair(
        &self,
        mut is_alive: impl FnMut(u32) -> bool,
        own: bool,
    ) -> Result<UndoReport, ReleaseDeadError> {
        let set = self.set();
        let mut report = UndoReport::default();
        let token = set.lock_or_take_over(self.index(), &mut is_alive, &mut report)?;
        let mut result = set.release_dead_locked(self.index(), &mut is_alive, &mut report);
        if own && result.is_ok() {
            result = set.give_back(self.index(), &mut report);
        }
        set.unlock(token, self.waiter());
        if report.journal_redone
            || report.lock_taken_over
            || report.released != 0
            || report.returned != 0
            || report.withdrawn != 0
        {
            set.state().changed.notify(self.waiter());
        }
        result.map(|()| report)
    }
}

impl RobustSemaphoreSet<'_> {
    /// Takes the lock: free, or from a dead holder.
    fn lock_or_take_over(
        &self,
        me: u32,
        is_alive: &mut impl FnMut(u32) -> bool,
        report: &mut UndoReport,
    ) -> Result<super::lock::Token, ReleaseDeadError> {
        let mut pid = 0;
        for _ in 0..MAX_LOCK_ATTEMPTS {
            let (record, word) = match self.try_lock(me, 1) {
                Ok(token) => return Ok(token),
                Err(Busy::Contended) => {
                    spin_hint();
                    continue;
                }
                Err(Busy::Held(record, word)) => (record, word),
            };
            // A record out of range, or free, cannot be a live holder: the
            // word is forged or left by a holder whose record is gone.
            // Acquire: the owner word as its claim left it.
            pid = if record < self.holders {
                self.owner(record).load(Ordering::Acquire)
            } else {
                0
            };
            // A word naming our own record is a previous tenure's (a dead
            // owner whose record we took over): we never repair while
            // holding the lock ourselves.
            if record != me && pid != 0 && is_alive(pid) {
                return Err(ReleaseDeadError::Busy { pid });
            }
            if let Some(token) = self.take_over(me, word) {
                report.lock_taken_over = true;
                return Ok(token);
            }
        }
        Err(ReleaseDeadError::Busy { pid })
    }

    /// The repair proper, under the lock.
    fn release_dead_locked(
        &self,
        me: u32,
        is_alive: &mut impl FnMut(u32) -> bool,
        report: &mut UndoReport,
    ) -> Result<(), ReleaseDeadError> {
        report.journal_redone = self
            .recover_journal()
            .map_err(|_| ReleaseDeadError::Corrupted)?;
        for record in (0..self.holders).filter(|&r| r != me) {
            // Acquire: pairs with the claim (a plain CAS, but the owner's
            // later writes come under the lock, which ordered us after them).
            let pid = self.owner(record).load(Ordering::Acquire);
            if pid == 0 || is_alive(pid) {
                continue;
            }
            self.give_back(record, report)?;
            // SYNC POINT robust owner: Release, after the adjustments were
            // set to 0, pairs with the next claimant's Acquire. Owners
            // change from non-zero only under the lock, so this succeeds.
            if self
                .owner(record)
                .compare_exchange(pid, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                report.released += 1;
            }
        }
        Ok(())
    }

    /// Adds record `record`'s adjustments to the counters (clamped to
    /// `0..=max`) and sets them to 0, through the journal. Call with the
    /// lock held and the journal empty.
    pub(super) fn give_back(
        &self,
        record: u32,
        report: &mut UndoReport,
    ) -> Result<(), ReleaseDeadError> {
        let mut entry = Entry::new(Some(record));
        let mut returned = 0u64;
        let mut withdrawn = 0u64;
        let mut clamped = 0u64;
        for (index, counter) in (0u32..).zip(self.counters()) {
            // Relaxed (both): under the lock, ordered after the last writer.
            let adjust = self.adjust(record, index).load(Ordering::Relaxed) as i32;
            if adjust == 0 {
                continue;
            }
            let value = counter.load(Ordering::Relaxed);
            if value > self.max {
                return Err(ReleaseDeadError::Corrupted);
            }
            let wanted = i64::from(value) + i64::from(adjust);
            let new = wanted.clamp(0, i64::from(self.max));
            if adjust > 0 {
                returned += u64::from(adjust.unsigned_abs());
            } else {
                withdrawn += u64::from(adjust.unsigned_abs());
            }
            clamped += wanted.abs_diff(new);
            entry.changed |= 1u64 << index;
            // In 0..=max, so it fits.
            entry.counters[index as usize] = new as u32;
            entry.adjust[index as usize] = 0;
        }
        if entry.changed != 0 {
            self.commit_and_apply(&entry, None);
        }
        let add = |sum: &mut u32, more: u64| {
            *sum = sum.saturating_add(u32::try_from(more).unwrap_or(u32::MAX));
        };
        add(&mut report.returned, returned);
        add(&mut report.withdrawn, withdrawn);
        add(&mut report.clamped, clamped);
        Ok(())
    }
}
