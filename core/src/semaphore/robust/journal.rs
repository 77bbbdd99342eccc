//! The redo journal: how one operation's new counter values and undo
//! adjustments reach the region so that a holder killed at any instant
//! leaves either none of them or a journal that completes them all (see the
//! module docs of [`robust`](super) for the invariant and the crash windows).
//!
//! Only the lock's holder touches the journal. Every store here is Release,
//! for a crashed holder rather than a live one: each keeps the stores before
//! it from being moved after it (by the compiler or the processor), so a
//! repairer sees a prefix of the protocol. Live holders are ordered by the
//! lock.

use super::holder::CrashPoint;
use super::{MAX_COUNTERS, RobustSemaphoreSet};
use crate::sync::Ordering;

/// Journal state: no operation in flight (entries are stale).
pub(super) const EMPTY: u32 = 0;
/// Journal state: the entries are an operation that took effect; redo it.
pub(crate) const COMMITTED: u32 = u32::from_le_bytes(*b"JRNL");
/// Journal record: the entry changes no holder's adjustments.
pub(super) const NO_RECORD: u32 = u32::MAX;

/// One operation's effect, as absolute values.
#[derive(Clone, Debug)]
pub(super) struct Entry {
    /// The holder record whose adjustments change, if any.
    pub(super) record: Option<u32>,
    /// Bit `i`: counter `i` (and adjustment `i` of `record`) is written.
    pub(super) changed: u64,
    /// New values of the changed counters.
    pub(super) counters: [u32; MAX_COUNTERS as usize],
    /// New adjustments of `record` for the changed counters.
    pub(super) adjust: [i32; MAX_COUNTERS as usize],
}

impl Entry {
    pub(super) fn new(record: Option<u32>) -> Self {
        Entry {
            record,
            changed: 0,
            counters: [0; MAX_COUNTERS as usize],
            adjust: [0; MAX_COUNTERS as usize],
        }
    }

    /// The changed counter indices, in order.
    fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        (0..MAX_COUNTERS).filter(|&i| self.changed & (1u64 << i) != 0)
    }
}

/// The journal held something no writer produces; it was cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct JournalCorrupted;

impl RobustSemaphoreSet<'_> {
    /// Commits `entry` to the journal, applies it, and empties the journal.
    /// Call with the lock held. Returns false if stopped at `crash` (a test
    /// hook: the caller then stops as a killed process would).
    pub(super) fn commit_and_apply(&self, entry: &Entry, crash: Option<CrashPoint>) -> bool {
        let journal = self.journal();
        // Release (all the stores below): see the module docs.
        journal
            .record
            .store(entry.record.unwrap_or(NO_RECORD), Ordering::Release);
        journal.changed[0].store(entry.changed as u32, Ordering::Release);
        journal.changed[1].store((entry.changed >> 32) as u32, Ordering::Release);
        for i in entry.indices() {
            let i = i as usize;
            journal.counters[i].store(entry.counters[i], Ordering::Release);
            journal.adjust[i].store(entry.adjust[i] as u32, Ordering::Release);
        }
        if crash == Some(CrashPoint::BeforeCommit) {
            return false;
        }
        // SYNC POINT robust journal: from here the operation has happened;
        // a repairer that finds COMMITTED redoes it.
        journal.state.store(COMMITTED, Ordering::Release);
        if crash == Some(CrashPoint::AfterCommit) {
            return false;
        }
        let mut first = true;
        for i in entry.indices() {
            self.apply_one(
                entry.record,
                i,
                entry.counters[i as usize],
                entry.adjust[i as usize],
            );
            if first && crash == Some(CrashPoint::MidApply) {
                return false;
            }
            first = false;
        }
        if crash == Some(CrashPoint::AfterApply) {
            return false;
        }
        journal.state.store(EMPTY, Ordering::Release);
        true
    }

    /// Stores one counter's new value and, if there is a record, its new
    /// adjustment. `index < count` and `record < holders`, checked by the
    /// caller.
    fn apply_one(&self, record: Option<u32>, index: u32, value: u32, adjust: i32) {
        // SYNC POINT robust peek: Release, so a `value` peek (Acquire) that
        // reads it sees what the operation's caller wrote before; and for a
        // crash, see the module docs.
        self.counters()[index as usize].store(value, Ordering::Release);
        if let Some(record) = record {
            // Release: the crash order, as above.
            self.adjust(record, index)
                .store(adjust as u32, Ordering::Release);
        }
    }

    /// Redoes a committed journal (left by a holder that died under the
    /// lock) and empties it; returns whether there was one. Call with the
    /// lock held, before reading counters or adjustments.
    ///
    /// # Errors
    ///
    /// [`JournalCorrupted`] if the journal names a record, counter or value
    /// out of range, or its state word is neither state: nothing is applied
    /// and the journal is emptied.
    pub(super) fn recover_journal(&self) -> Result<bool, JournalCorrupted> {
        let journal = self.journal();
        // Acquire: pairs with the COMMITTED store (Release) of a holder that
        // died under the lock, if the liveness contract needs help.
        match journal.state.load(Ordering::Acquire) {
            EMPTY => return Ok(false),
            COMMITTED => {}
            _ => {
                journal.state.store(EMPTY, Ordering::Release);
                return Err(JournalCorrupted);
            }
        }
        let result = self.read_entry().map(|entry| {
            for i in entry.indices() {
                self.apply_one(
                    entry.record,
                    i,
                    entry.counters[i as usize],
                    entry.adjust[i as usize],
                );
            }
            true
        });
        // Release: after the redo's stores.
        journal.state.store(EMPTY, Ordering::Release);
        result
    }

    /// The committed entry, checked against the handle's own count, max and
    /// holder number.
    fn read_entry(&self) -> Result<Entry, JournalCorrupted> {
        let journal = self.journal();
        // Relaxed: after the Acquire of `state` in `recover_journal`.
        let record = match journal.record.load(Ordering::Relaxed) {
            NO_RECORD => None,
            r if r < self.holders => Some(r),
            _ => return Err(JournalCorrupted),
        };
        let mut entry = Entry::new(record);
        entry.changed = u64::from(journal.changed[0].load(Ordering::Relaxed))
            | (u64::from(journal.changed[1].load(Ordering::Relaxed)) << 32);
        if self.count < 64 && entry.changed >> self.count != 0 {
            return Err(JournalCorrupted);
        }
        for i in 0..self.count as usize {
            if entry.changed & (1u64 << i) == 0 {
                continue;
            }
            // Relaxed: as above.
            let value = journal.counters[i].load(Ordering::Relaxed);
            if value > self.max {
                return Err(JournalCorrupted);
            }
            entry.counters[i] = value;
            entry.adjust[i] = journal.adjust[i].load(Ordering::Relaxed) as i32;
        }
        Ok(entry)
    }
}
