//! Participant records: registration of senders and receivers, their counts,
//! and what diagnostics can read about them.
//!
//! Counts are one word per side, `count << 1 | CLOSED`. `CLOSED` is set when
//! the count drops to zero after having been positive, and cleared when a
//! participant joins again: receivers of a queue whose senders have all gone
//! see `Disconnected` once it is drained (a pipe's EOF), and senders whose
//! receivers have all gone get `Disconnected(value)` (EPIPE). A side that
//! never had a participant is not closed: the first receiver of a fresh
//! queue waits for its first sender.

use core::fmt;

use super::{MAX_ATTEMPTS, Mpmc};
use crate::claim::{Claim, ClaimError, RoleState};
use crate::sync::{AtomicU32, Ordering};

/// Bit of a count word: the side had participants and has none now.
pub(crate) const CLOSED: u32 = 1;

/// What a participant does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Role {
    /// Sends (claims positions from `tail`).
    Sender = 1,
    /// Receives (claims positions from `head`).
    Receiver = 2,
}

impl Role {
    /// The role of a record's role word (`generation << 2 | role`).
    pub(crate) fn from_word(word: u32) -> Option<Role> {
        match word & 0b11 {
            1 => Some(Role::Sender),
            2 => Some(Role::Receiver),
            _ => None,
        }
    }
}

/// Why a sender or receiver could not register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// Every participant record is held.
    TooManyParticipants {
        /// Number of records in the region.
        max: u32,
    },
    /// The count word kept changing under us for [`MAX_ATTEMPTS`] tries: only
    /// a hostile writer does that.
    Corrupted,
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::TooManyParticipants { max } => {
                write!(f, "all {max} participant records are in use")
            }
            RegisterError::Corrupted => f.write_str("participant counters are corrupted"),
        }
    }
}

impl core::error::Error for RegisterError {}

/// A snapshot of one participant record, for diagnostics and liveness checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParticipantInfo {
    /// Index of the record.
    pub index: u32,
    /// Who holds (or last held) it.
    pub state: RoleState,
    /// Its role, if the record holds a known one.
    pub role: Option<Role>,
    /// Positions it is claiming or holds: `(first, count)`, count 0 when idle.
    pub intent: (u32, u32),
}

/// The count in a count word.
pub(crate) fn count_of(word: &AtomicU32) -> u32 {
    // Relaxed: a racy statistic.
    word.load(Ordering::Relaxed) >> 1
}

/// Whether every participant of the side counted by `word` has left.
///
/// Acquire: pairs with `leave`'s Release, so a receiver that sees the senders
/// closed also sees every message they published before leaving.
pub(crate) fn side_closed(word: &AtomicU32) -> bool {
    word.load(Ordering::Acquire) & CLOSED != 0
}

/// The role word of tenure `generation` of `role` after it joined its count.
pub(crate) fn joined_role_word(generation: u32, role: Role) -> u32 {
    (generation << 2) | role as u32
}

/// Whether the side counted by `word` has closed, as a cheap hot-path hint
/// (Relaxed: the line is read-mostly; a stale answer only delays noticing).
pub(crate) fn side_closed_hint(word: &AtomicU32) -> bool {
    word.load(Ordering::Relaxed) & CLOSED != 0
}

/// Adds one participant to a count word and clears `CLOSED`.
fn join(word: &AtomicU32) -> Result<(), RegisterError> {
    // Relaxed: a starting guess for the CAS.
    let mut current = word.load(Ordering::Relaxed);
    for _ in 0..MAX_ATTEMPTS {
        let next = ((current >> 1).saturating_add(1).min(u32::MAX >> 1)) << 1;
        // Relaxed: joining publishes nothing; the record claim (Acquire)
        // already ordered us after the previous holder.
        match word.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Ok(()),
            Err(actual) => current = actual,
        }
    }
    Err(RegisterError::Corrupted)
}

/// Removes one participant from a count word; sets `CLOSED` when it reaches
/// zero. Gives up silently after [`MAX_ATTEMPTS`] (hostile writer).
pub(crate) fn leave(word: &AtomicU32) {
    // Relaxed: a starting guess for the CAS.
    let mut current = word.load(Ordering::Relaxed);
    for _ in 0..MAX_ATTEMPTS {
        let count = (current >> 1).saturating_sub(1);
        let next = (count << 1) | if count == 0 { CLOSED } else { 0 };
        // SYNC POINT mpmc leave: Release publishes everything this
        // participant sent before leaving to a peer that sees CLOSED
        // (`side_closed`, Acquire).
        match word.compare_exchange_weak(current, next, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

impl<T> Mpmc<'_, T> {
    /// Takes a free record for `role`, held by `pid`; returns its index and
    /// the generation of the claim.
    pub(crate) fn register(&self, role: Role, pid: u32) -> Result<(u32, u32), RegisterError> {
        for index in 0..self.participants {
            let record = self.record(index);
            match record.claim.claim(pid) {
                Ok(generation) => {
                    // Relaxed: only this participant writes its record from
                    // now on; the release of its claim publishes them (to a
                    // repair: the death, see repair.rs).
                    record.intent_len.store(0, Ordering::Relaxed);
                    if let Err(e) = join(self.count_word(role)) {
                        record.claim.release(generation);
                        return Err(e);
                    }
                    // Joined: from now on a repair of this tenure leaves
                    // the count (the word names the tenure).
                    record
                        .role
                        .store(joined_role_word(generation, role), Ordering::Relaxed);
                    return Ok((index, generation));
                }
                Err(ClaimError::Taken(_) | ClaimError::Corrupted) => continue,
            }
        }
        Err(RegisterError::TooManyParticipants {
            max: self.participants,
        })
    }

    /// Ends the tenure `generation` of record `index` and updates the count;
    /// returns whether the tenure was still current.
    pub(crate) fn deregister(&self, index: u32, generation: u32, role: Role) -> bool {
        let record = self.record(index);
        // Relaxed: idle now; the claim release below publishes it.
        record.intent_len.store(0, Ordering::Relaxed);
        if record.claim.release(generation) {
            leave(self.count_word(role));
            true
        } else {
            false
        }
    }

    pub(crate) fn count_word(&self, role: Role) -> &AtomicU32 {
        let control = &self.hdr().control.0;
        match role {
            Role::Sender => &control.senders,
            Role::Receiver => &control.receivers,
        }
    }

    /// A snapshot of participant record `index`, or `None` past the last.
    /// Racy: the participant may change it at any time.
    pub fn participant(&self, index: u32) -> Option<ParticipantInfo> {
        if index >= self.participants {
            return None;
        }
        let record = self.record(index);
        let state = record.claim.state();
        // Relaxed: diagnostics; the claim state (Acquire) came first.
        let role = Role::from_word(record.role.load(Ordering::Relaxed));
        let len = record.intent_len.load(Ordering::Relaxed);
        let pos = record.intent_pos.load(Ordering::Relaxed);
        Some(ParticipantInfo {
            index,
            state,
            role,
            intent: (pos, len),
        })
    }

    /// The claims of every held record, for a liveness check.
    pub fn held_claims(&self) -> impl Iterator<Item = (u32, Claim)> + '_ {
        (0..self.participants).filter_map(move |i| match self.record(i).claim.state() {
            RoleState::Held(claim) => Some((i, claim)),
            _ => None,
        })
    }
}
