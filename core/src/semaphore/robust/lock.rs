//! The robust set's lock: a futex word that names its holder, so a repair
//! can tell a dead holder and take the lock over from it.
//!
//! Word: `seq << SEQ_SHIFT | (record + 1) << OWNER_SHIFT | CONTENDED |
//! LOCKED`. Free is any word without `LOCKED` (an unlock keeps the sequence
//! and clears the rest). Each acquisition, take-over included, writes the
//! next sequence, so a compare-and-swap from a word examined earlier fails
//! if the lock changed hands meanwhile (unless 2^19 acquisitions happened in
//! between). `CONTENDED` means someone may sleep on the word: unlock wakes.
//!
//! Happens-before: the holder's writes → its unlock (Release) → the next
//! acquisition's compare-and-swap (Acquire). A take-over has no Release to
//! pair with (the holder died); see the module docs of
//! [`robust`](super) for why the dead holder's writes are visible anyway.

use super::RobustSemaphoreSet;
use crate::event::TimedOut;
use crate::sync::{Ordering, spin_hint};
use crate::wait::{Wait, WaitResult};

/// Bit: the lock is held.
const LOCKED: u32 = 1;
/// Bit: someone may sleep on the word; unlock must wake.
const CONTENDED: u32 = 2;
/// Where the holder's record number (+1) starts.
const OWNER_SHIFT: u32 = 2;
/// Mask of the record field (after the shift): 11 bits, enough for
/// `MAX_HOLDERS + 1`.
const OWNER_MASK: u32 = 0x7ff;
/// Where the acquisition sequence starts (19 bits).
const SEQ_SHIFT: u32 = 13;
/// Polls of a held lock before a blocking call sleeps on it; one under loom
/// (a latency optimisation that would only multiply interleavings).
const LOCK_SPINS: u32 = if cfg!(loom) { 1 } else { 100 };
/// Compare-and-swap attempts of a bounded call before it reports the word as
/// contended: each failure means the word changed under it.
pub(super) const MAX_LOCK_ATTEMPTS: u32 = 128;

const _: () = assert!(super::MAX_HOLDERS < OWNER_MASK);

/// Proof of holding the lock: the word this holder wrote (without
/// `CONTENDED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Token(u32);

/// The record a lock word names, if it is held (out of range if forged).
pub(crate) fn holder_of(word: u32) -> Option<u32> {
    if word & LOCKED == 0 {
        return None;
    }
    Some(((word >> OWNER_SHIFT) & OWNER_MASK).wrapping_sub(1))
}

/// The word record `me` writes to take the lock after `current`.
fn next_token(current: u32, me: u32) -> u32 {
    let seq = (current >> SEQ_SHIFT).wrapping_add(1);
    (seq << SEQ_SHIFT) | ((me + 1) << OWNER_SHIFT) | LOCKED
}

/// What a lock word looks like once its holder unlocked it.
fn unlocked(word: u32) -> u32 {
    word & !((OWNER_MASK << OWNER_SHIFT) | CONTENDED | LOCKED)
}

/// What a bounded lock attempt found.
pub(super) enum Busy {
    /// Held by record `.0` (maybe out of range) with word `.1`.
    Held(u32, u32),
    /// The word kept changing.
    Contended,
}

impl RobustSemaphoreSet<'_> {
    /// Takes the lock for record `me` if it is free, polling a held lock up
    /// to `polls` times (`>= 1`).
    pub(super) fn try_lock(&self, me: u32, polls: u32) -> Result<Token, Busy> {
        let lock = &self.state().lock;
        let mut busy = Busy::Contended;
        for attempt in 0..polls {
            if attempt != 0 {
                spin_hint();
            }
            // Relaxed: a starting guess for the CAS (test-and-test-and-set).
            let current = lock.load(Ordering::Relaxed);
            if current & LOCKED != 0 {
                busy = Busy::Held(holder_of(current).unwrap_or(u32::MAX), current);
                continue;
            }
            let token = next_token(current, me);
            // SYNC POINT robust lock: Acquire pairs with the previous
            // holder's unlock (Release).
            if lock
                .compare_exchange(current, token, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(Token(token));
            }
            busy = Busy::Contended;
        }
        Err(busy)
    }

    /// Takes the lock for record `me`, sleeping on it while held, until
    /// `deadline`.
    pub(super) fn lock<W: Wait>(
        &self,
        me: u32,
        wait: &W,
        deadline: Option<u64>,
    ) -> Result<Token, TimedOut> {
        match self.try_lock(me, 1) {
            Ok(token) => Ok(token),
            Err(_) => self.lock_contended(me, wait, deadline),
        }
    }

    #[cold]
    fn lock_contended<W: Wait>(
        &self,
        me: u32,
        wait: &W,
        deadline: Option<u64>,
    ) -> Result<Token, TimedOut> {
        let lock = &self.state().lock;
        let mut spins = LOCK_SPINS;
        let mut slept = false;
        loop {
            // Relaxed: a starting guess for the CASes below.
            let current = lock.load(Ordering::Relaxed);
            if current & LOCKED == 0 {
                // Taken after contention: keep CONTENDED set, others may
                // still sleep (a spare wake at worst).
                let token = next_token(current, me);
                // SYNC POINT robust lock: Acquire pairs with `unlock`.
                if lock
                    .compare_exchange(
                        current,
                        token | CONTENDED,
                        Ordering::Acquire,
                        Ordering::Relaxed,
                    )
                    .is_ok()
                {
                    return Ok(Token(token));
                }
                continue;
            }
            if spins > 0 {
                spins -= 1;
                spin_hint();
                continue;
            }
            if let Some(d) = deadline
                && wait.now() >= d
            {
                if slept {
                    // The wake-up we may have consumed was meant for a
                    // sleeper that takes the lock: pass it on, or a sleeper
                    // could stay asleep behind a holder that never saw
                    // CONTENDED (a spare wake at worst).
                    wait.wake(lock, 1);
                }
                return Err(TimedOut);
            }
            // Relaxed: the bit only asks the holder to wake us; the futex
            // re-checks the word before sleeping, so an unlock in between is
            // not lost.
            if current & CONTENDED == 0
                && lock
                    .compare_exchange(
                        current,
                        current | CONTENDED,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_err()
            {
                continue;
            }
            let _: WaitResult = wait.wait(lock, current | CONTENDED, deadline);
            slept = true;
        }
    }

    /// Takes the lock over from its holder, record `.0` of [`Busy::Held`]
    /// with word `word`, which the caller found dead: one CAS from exactly
    /// `word`, so of two repairers only one wins. Keeps `CONTENDED`.
    pub(super) fn take_over(&self, me: u32, word: u32) -> Option<Token> {
        let token = next_token(word, me);
        // SYNC POINT robust lock: Acquire, as an acquisition (the dead
        // holder's writes are visible by the liveness contract).
        self.state()
            .lock
            .compare_exchange(
                word,
                token | (word & CONTENDED),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .ok()
            .map(|_| Token(token))
    }

    /// Releases the lock held with `token`, waking a sleeper if the word says
    /// one may sleep. Returns false if the lock was no longer ours (taken
    /// over by a repair that thought us dead, or forged): nothing is changed
    /// then.
    pub(super) fn unlock<W: Wait>(&self, token: Token, wait: &W) -> bool {
        let lock = &self.state().lock;
        // Relaxed: a starting guess for the CAS.
        let mut current = lock.load(Ordering::Relaxed);
        for _ in 0..MAX_LOCK_ATTEMPTS {
            if current & !CONTENDED != token.0 {
                return false;
            }
            // SYNC POINT robust lock: Release pairs with the next
            // acquisition's Acquire: this holder's counter, record and
            // journal writes happen before it.
            match lock.compare_exchange(
                current,
                unlocked(current),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if current & CONTENDED != 0 {
                        wait.wake(lock, 1);
                    }
                    return true;
                }
                // Only CONTENDED can be set under us by an honest peer.
                Err(actual) => current = actual,
            }
        }
        false
    }
}
