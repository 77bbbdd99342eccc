//! Role claims: "single producer" held across processes (DESIGN.md rule 5).
//!
//! A role (producer, consumer, ...) is a role slot in the shared header: a
//! claim word `generation << 2 | state` and the pid of the holder. Taking the
//! role is one CAS from `VACANT` or `CLOSED` to `HELD` with the generation
//! bumped, so two claimants can never both win, and a `(pid, generation)` pair
//! names one tenure of the role. Releasing is a CAS from exactly that tenure to
//! `CLOSED`: if someone else (a liveness repair) already ended it, the release
//! does nothing.
//!
//! `CLOSED` is what the peer observes as "the other side is gone": a consumer
//! that finds the ring empty and its producer `CLOSED` reports `Disconnected`,
//! like `read()` returning 0 on a pipe whose writers are gone. A new claim
//! reopens the role, as a new writer reopens a FIFO.
//!
//! Happens-before: everything the previous holder did → its release CAS
//! (Release) → the next claim CAS (Acquire) → everything the next holder does.

use core::fmt;

use crate::sync::{AtomicU32, Ordering};

/// Claim state: never held since `init`.
const VACANT: u32 = 0;
/// Claim state: held by the pid in `pid`.
const HELD: u32 = 1;
/// Claim state: was held, then released (the peer sees a disconnect).
const CLOSED: u32 = 2;
/// Mask of the state bits in the claim word.
const STATE_MASK: u32 = 0b11;
/// CAS attempts a claim makes before it reports the word as corrupted: each
/// failure means the word changed between our read and our swap, which an
/// honest claimant does once or twice; a peer rewriting it in a loop must
/// not keep a non-blocking call spinning (DESIGN.md rule 3).
const MAX_CLAIM_ATTEMPTS: u32 = 1 << 16;

/// A role slot in shared memory: 8 bytes.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RoleClaim {
    /// `generation << 2 | state`. Written only by claim and release CASes.
    word: AtomicU32,
    /// Pid of the current (or last) holder, 0 if unknown. Written by the
    /// holder right after its claim CAS, so it may briefly lag the word:
    /// readers pair it with the word read before and after.
    pid: AtomicU32,
}

#[cfg(not(loom))]
static_assertions::assert_eq_size!(RoleClaim, [u32; 2]);

/// Offset of the holder's pid in a role slot (the claim word is at 0).
#[cfg(not(loom))]
pub(crate) const PID_OFFSET: usize = core::mem::offset_of!(RoleClaim, pid);

/// What a claim word and the pid beside it say: the decoding of
/// [`RoleClaim::state`], also used by read-only inspection. A state no
/// writer produces reads as closed, as a claim refuses it.
pub(crate) fn decode_state(word: u32, pid: u32) -> RoleState {
    let claim = Claim {
        pid,
        generation: word >> 2,
    };
    match word & STATE_MASK {
        VACANT => RoleState::Vacant,
        HELD => RoleState::Held(claim),
        _ => RoleState::Closed(claim),
    }
}

/// One tenure of a role: who holds it and which generation the claim has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Claim {
    /// Process id recorded by the holder (0 when unknown).
    pub pid: u32,
    /// Generation of the claim; bumped by every successful claim (wraps at 2^30).
    pub generation: u32,
}

/// What a role slot says about its holder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoleState {
    /// Never claimed since the region was initialised.
    Vacant,
    /// Held by this claim.
    Held(Claim),
    /// Released (or its holder declared dead); the peer sees a disconnect.
    Closed(Claim),
}

/// Why a role could not be claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimError {
    /// Another handle holds the role.
    Taken(Claim),
    /// The claim word holds a state no annulus writer produces.
    Corrupted,
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::Taken(c) => write!(
                f,
                "role is held by pid {} (generation {})",
                c.pid, c.generation
            ),
            ClaimError::Corrupted => f.write_str("role claim word is corrupted"),
        }
    }
}

impl core::error::Error for ClaimError {}

impl RoleClaim {
    /// A vacant role.
    pub(crate) fn new() -> Self {
        RoleClaim {
            word: AtomicU32::new(VACANT),
            pid: AtomicU32::new(0),
        }
    }

    /// Takes the role for `pid`. On success returns the generation of the new
    /// tenure, which [`RoleClaim::release`] needs.
    pub(crate) fn claim(&self, pid: u32) -> Result<u32, ClaimError> {
        // Relaxed: only a starting guess for the CAS, which re-validates it.
        let mut current = self.word.load(Ordering::Relaxed);
        for _ in 0..MAX_CLAIM_ATTEMPTS {
            let state = current & STATE_MASK;
            if state == HELD {
                return Err(ClaimError::Taken(self.decode_claim(current)));
            }
            if state != VACANT && state != CLOSED {
                return Err(ClaimError::Corrupted);
            }
            let generation = (current >> 2).wrapping_add(1) & (u32::MAX >> 2);
            let next = (generation << 2) | HELD;
            // SYNC POINT claim: Acquire pairs with the previous holder's
            // release CAS (Release), so its last writes (positions) are visible
            // to this holder. Relaxed on failure: we only retry.
            match self.word.compare_exchange_weak(
                current,
                next,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    // Relaxed: advisory; readers tolerate a stale pid.
                    self.pid.store(pid, Ordering::Relaxed);
                    return Ok(generation);
                }
                Err(actual) => current = actual,
            }
        }
        Err(ClaimError::Corrupted)
    }

    /// Ends the tenure `generation` if it is still current; returns whether it
    /// was. Releasing marks the role `CLOSED`, which the peer sees.
    pub(crate) fn release(&self, generation: u32) -> bool {
        let held = (generation << 2) | HELD;
        let closed = (generation << 2) | CLOSED;
        // SYNC POINT claim: Release publishes this holder's writes to the
        // next claimant (Acquire) and to a peer that checks `is_closed`
        // (Acquire). Relaxed on failure: someone else already ended the tenure.
        self.word
            .compare_exchange(held, closed, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// Ends the tenure `claim` on behalf of a holder known to be dead (a
    /// liveness repair). Same effect as the holder's own release.
    pub(crate) fn release_dead(&self, claim: Claim) -> bool {
        self.release(claim.generation)
    }

    /// Whether the role is `CLOSED`.
    ///
    /// Acquire: pairs with the release CAS, so a peer that sees `CLOSED` also
    /// sees every element the holder published before closing.
    pub(crate) fn is_closed(&self) -> bool {
        self.word.load(Ordering::Acquire) & STATE_MASK == CLOSED
    }

    /// Whether the role is `CLOSED`, as a cheap hint on a hot path.
    ///
    /// Relaxed: the word lives on a read-mostly line, so this is an L1 hit; a
    /// stale answer only delays noticing a close, as with a pipe.
    pub(crate) fn is_closed_hint(&self) -> bool {
        self.word.load(Ordering::Relaxed) & STATE_MASK == CLOSED
    }

    /// The current state, for diagnostics and liveness checks. Racy: the
    /// answer may be stale as soon as it is returned.
    pub(crate) fn state(&self) -> RoleState {
        // Acquire on the word so the pid read after it is at least as new as
        // the claim that wrote it (the holder stores its pid after the CAS, so
        // a just-claimed role may still show the previous pid).
        let word = self.word.load(Ordering::Acquire);
        // Relaxed: advisory, see the field doc.
        decode_state(word, self.pid.load(Ordering::Relaxed))
    }

    fn decode_claim(&self, word: u32) -> Claim {
        Claim {
            // Relaxed: advisory, see the field doc.
            pid: self.pid.load(Ordering::Relaxed),
            generation: word >> 2,
        }
    }
}
