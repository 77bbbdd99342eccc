//! Repair: releases what dead participants held, so that a participant
//! stopped forever cannot block the others forever. See the module docs of
//! [`mpmc`](super) for the protocol and why it neither loses nor duplicates
//! a message.

#![allow(unsafe_code)]

use core::fmt;

use bytemuck::Pod;

use super::participant::{Role, joined_role_word, leave};
use super::{MAX_ATTEMPTS, MAX_PARTICIPANTS, Mpmc, SKIPPED, seq_empty, seq_full};
use crate::claim::{Claim, DeadRelease, RoleState};
use crate::sync::{Ordering, load_slot};
use crate::wait::Wait;

/// Bit set in the repair lock word while a repair runs (the rest is its pid).
pub(crate) const REPAIR_LOCKED: u32 = 1 << 31;

/// Words in a bitmap of participant records.
const BITMAP_WORDS: usize = (MAX_PARTICIPANTS as usize).div_ceil(32);

/// What a repair did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RepairReport {
    /// Dead participants whose records were released.
    pub dead: u32,
    /// Slots claimed by dead senders, marked skipped (their messages were
    /// never reported as sent).
    pub skipped: u32,
    /// Messages claimed by dead receivers before they read them, handed to
    /// `on_orphan`.
    pub orphans: u32,
}

/// Why a repair did not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RepairError {
    /// Another repair is running, in process `pid`, which is alive.
    Busy {
        /// The pid in the repair lock.
        pid: u32,
    },
}

impl fmt::Display for RepairError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepairError::Busy { pid } => write!(f, "a repair is running in process {pid}"),
        }
    }
}

impl core::error::Error for RepairError {}

/// Records as a bitmap.
struct Bitmap([u32; BITMAP_WORDS]);

impl Bitmap {
    fn set(&mut self, i: u32) {
        self.0[(i / 32) as usize] |= 1 << (i % 32);
    }
    fn get(&self, i: u32) -> bool {
        self.0[(i / 32) as usize] & (1 << (i % 32)) != 0
    }
}

impl<T: Pod> Mpmc<'_, T> {
    /// Releases everything held by participants whose process is dead.
    ///
    /// `is_alive(claim)` must answer `false` only for a process that will
    /// never run again (on Linux: a pidfd that reported exit); it is also
    /// asked about the pid in a stale repair lock, with generation 0.
    /// `on_orphan` receives each message a dead receiver had claimed but not
    /// returned to its application; send it again to deliver it. `repairer_pid`
    /// identifies this repair in the lock. Wakes sleepers if anything changed.
    ///
    /// # Errors
    ///
    /// [`RepairError::Busy`] if a live process is repairing right now.
    pub fn repair<W: Wait>(
        &self,
        repairer_pid: u32,
        wait: &W,
        mut is_alive: impl FnMut(Claim) -> bool,
        mut on_orphan: impl FnMut(T),
    ) -> Result<RepairReport, RepairError> {
        let hdr = self.hdr();
        self.lock_repair(repairer_pid, &mut is_alive)?;
        // SYNC POINT mpmc intent: Acquire pairs with every claim CAS
        // (Release) we can see: the claimer's registration and intent are
        // visible below. Loaded before the liveness snapshot, so that any
        // participant that claimed a position below these is in it.
        let tail = hdr.tail.0.load(Ordering::Acquire);
        let head = hdr.head.0.load(Ordering::Acquire);
        let mut alive = Bitmap([0; BITMAP_WORDS]);
        let mut dead = Bitmap([0; BITMAP_WORDS]);
        for i in 0..self.participants {
            if let RoleState::Held(claim) = self.record(i).claim.state() {
                if is_alive(claim) {
                    alive.set(i);
                } else {
                    dead.set(i);
                }
            }
        }
        let mut report = RepairReport::default();
        for i in (0..self.participants).filter(|&i| dead.get(i)) {
            let record = self.record(i);
            let RoleState::Held(claim) = record.claim.state() else {
                continue;
            };
            // SYNC POINT mpmc idle: Acquire pairs with the participant's
            // Release store of "idle"; Relaxed for the rest, frozen (dead).
            let len = record.intent_len.load(Ordering::Acquire).min(self.capacity);
            let pos = record.intent_pos.load(Ordering::Relaxed);
            let role_word = record.role.load(Ordering::Relaxed);
            let role = Role::from_word(role_word);
            // A position a live participant's intent still names may be that
            // participant's claim: leave the whole record (intent included)
            // to a later repair, or the dead claim would be forgotten.
            let mut deferred = false;
            for k in 0..len {
                let p = pos.wrapping_add(k);
                match role {
                    Some(Role::Sender) => match self.skip_dead_send(p, tail, &alive) {
                        Resolved::Skipped => report.skipped += 1,
                        Resolved::Deferred => deferred = true,
                        // A dead sender's slot never yields a message.
                        Resolved::Message(_) | Resolved::Nothing => {}
                    },
                    Some(Role::Receiver) => match self.reclaim_dead_receive(p, head, &alive) {
                        Resolved::Message(value) => {
                            report.orphans += 1;
                            on_orphan(value);
                        }
                        Resolved::Skipped => report.skipped += 1,
                        Resolved::Deferred => deferred = true,
                        Resolved::Nothing => {}
                    },
                    None => {}
                }
            }
            if deferred {
                continue;
            }
            // Relaxed: the claim release below publishes it.
            record.intent_len.store(0, Ordering::Relaxed);
            match record.claim.release_dead(claim) {
                DeadRelease::Held => {
                    // Only a tenure that joined its count leaves it: one
                    // killed between its claim and its join never counted.
                    if let Some(role) = role
                        && role_word == joined_role_word(claim.generation, role)
                    {
                        leave(self.count_word(role));
                    }
                    report.dead += 1;
                }
                // Never registered: its role word and counts are the
                // previous tenure's.
                DeadRelease::Claiming => report.dead += 1,
                DeadRelease::NotCurrent => {}
            }
        }
        if report != RepairReport::default() {
            // Relaxed: a statistic.
            hdr.control
                .0
                .repairs
                .fetch_add(report.skipped + report.orphans, Ordering::Relaxed);
            hdr.events.0.data_ready.notify(wait);
            hdr.events.0.space_ready.notify(wait);
        }
        // SYNC POINT mpmc repair-lock: Release hands our slot changes to the
        // next repairer's Acquire.
        hdr.control.0.repair_lock.store(0, Ordering::Release);
        Ok(report)
    }

    fn lock_repair(
        &self,
        pid: u32,
        is_alive: &mut impl FnMut(Claim) -> bool,
    ) -> Result<(), RepairError> {
        let lock = &self.hdr().control.0.repair_lock;
        let me = REPAIR_LOCKED | (pid & !REPAIR_LOCKED);
        // Relaxed: a starting guess for the CAS.
        let mut current = lock.load(Ordering::Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            if current != 0 {
                let holder = current & !REPAIR_LOCKED;
                if is_alive(Claim {
                    pid: holder,
                    generation: 0,
                }) {
                    return Err(RepairError::Busy { pid: holder });
                }
            }
            // SYNC POINT mpmc repair-lock: Acquire pairs with the previous
            // repairer's Release unlock. Taking over a dead holder's lock is
            // the same CAS from its value.
            match lock.compare_exchange(current, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
        Err(RepairError::Busy {
            pid: current & !REPAIR_LOCKED,
        })
    }

    /// Whether a live participant of `role` announces a claim covering `p`.
    fn live_intent_covers(&self, p: u32, role: Role, alive: &Bitmap) -> bool {
        (0..self.participants).filter(|&j| alive.get(j)).any(|j| {
            let record = self.record(j);
            // Relaxed: diagnostics-grade read of another participant's role.
            if Role::from_word(record.role.load(Ordering::Relaxed)) != Some(role) {
                return false;
            }
            // SYNC POINT mpmc idle: Acquire, so "idle" implies its publishes
            // (or releases) are visible and the slot CAS below fails.
            let len = record.intent_len.load(Ordering::Acquire);
            // SYNC POINT mpmc intent-fresh: Acquire too: a position newer
            // than the `len` just read (a later claim's) brings with it what
            // the participant finished before announcing it.
            let pos = record.intent_pos.load(Ordering::Acquire);
            p.wrapping_sub(pos) < len
        })
    }

    /// Marks position `p`, claimed by a dead sender and never published,
    /// "skipped"; defers if a live sender's intent names `p` while it is
    /// still unpublished (the claim may be that sender's).
    fn skip_dead_send(&self, p: u32, tail: u32, alive: &Bitmap) -> Resolved<T> {
        let claimed = tail.wrapping_sub(p).wrapping_sub(1) < self.capacity;
        if !claimed {
            return Resolved::Nothing;
        }
        if self.live_intent_covers(p, Role::Sender, alive) {
            // Acquire: see the publish of the live sender, if it happened.
            let unpublished = self.seq(p).load(Ordering::Acquire) == seq_empty(p);
            return if unpublished {
                Resolved::Deferred
            } else {
                Resolved::Nothing
            };
        }
        // SYNC POINT mpmc publish: Release, like a sender's publish, so the
        // receiver that consumes the skip is ordered after it. Fails (and
        // changes nothing) if the slot was published after all.
        match self.seq(p).compare_exchange(
            seq_empty(p),
            seq_full(p) | SKIPPED,
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            Ok(_) => Resolved::Skipped,
            Err(_) => Resolved::Nothing,
        }
    }

    /// Takes back position `p`, claimed by a dead receiver that never
    /// released it; defers if a live receiver's intent names `p` while it is
    /// still unreleased.
    fn reclaim_dead_receive(&self, p: u32, head: u32, alive: &Bitmap) -> Resolved<T> {
        let claimed = head.wrapping_sub(p).wrapping_sub(1) < self.capacity;
        if !claimed {
            return Resolved::Nothing;
        }
        // The intents before the sequence: a live receiver that already
        // finished `p` is then seen with its release (SYNC POINT mpmc idle,
        // intent-fresh), so the load below cannot show "full" for a slot it
        // handed back, which a sender may be writing by now.
        let covered = self.live_intent_covers(p, Role::Receiver, alive);
        // SYNC POINT mpmc publish: Acquire pairs with the sender's publish.
        let seq = self.seq(p).load(Ordering::Acquire);
        if seq & !SKIPPED != seq_full(p) {
            return Resolved::Nothing;
        }
        if covered {
            return Resolved::Deferred;
        }
        let value = if seq & SKIPPED == 0 {
            let mask = self.capacity - 1;
            self.hdr().tracker.read(p & mask, 1);
            // SAFETY: the slot is full at `p` and owned by a dead receiver;
            // senders wait for "empty" and repairs are serialised by the
            // lock, so nobody writes it while we copy.
            Some(unsafe { load_slot(self.value_ptr(p)) })
        } else {
            None
        };
        // SYNC POINT mpmc slot-free: Release, like a receiver's release.
        let freed = self
            .seq(p)
            .compare_exchange(
                seq,
                seq_empty(p.wrapping_add(self.capacity)),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok();
        match (freed, value) {
            (true, Some(v)) => Resolved::Message(v),
            (true, None) => Resolved::Skipped,
            (false, _) => Resolved::Nothing,
        }
    }
}

/// What a repair did with one position a dead participant held.
enum Resolved<T> {
    /// A dead receiver's unread message, freed from its slot.
    Message(T),
    /// Marked skipped (dead sender) or freed without a message (a skipped
    /// slot a dead receiver held).
    Skipped,
    /// A live participant's intent names the position and the slot is still
    /// held: the record waits for a later repair.
    Deferred,
    /// Nothing to do (not claimed, or already finished).
    Nothing,
}
