//! Role claims: "single producer" held across processes (DESIGN.md rule 5).
//!
//! A role (producer, consumer, ...) is a role slot in the shared header: a
//! claim word `generation << 2 | state` and the pid of the holder. Taking the
//! role is a CAS from `VACANT` or `CLOSED` to `CLAIMING` with the generation
//! bumped, so two claimants can never both win; the winner then stores its
//! pid and turns `CLAIMING` into `HELD` with a second CAS. A `(pid,
//! generation)` pair names one tenure of the role. Releasing is a CAS from
//! exactly that tenure to `CLOSED`: if someone else (a liveness repair)
//! already ended it, the release does nothing.
//!
//! Why two steps: the pid sits beside the word, not in it, so for an instant
//! after the winning CAS the slot still shows the *previous* holder's pid. A
//! liveness repair reading `HELD` with that pid, dead, would end the new,
//! live tenure. `CLAIMING` marks that instant: a reader that sees `HELD`
//! (Acquire) sees the holder's own pid (stored before the Release CAS to
//! `HELD`). A repair may still end a `CLAIMING` tenure whose shown pid is
//! dead (the claimant itself may have died in between, and the role must
//! not stay stuck); a live claimant then finds its second CAS failing and
//! claims again from `CLOSED`, before it has used the role at all.
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
/// Claim state: won by a claimant that has not yet stored its pid (the pid
/// beside it may still be the previous holder's).
const CLAIMING: u32 = 3;
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
    /// claimant between its `CLAIMING` and `HELD` CASes: with `HELD` read by
    /// an Acquire load, it is the holder's; with `CLAIMING`, maybe the
    /// previous holder's.
    pid: AtomicU32,
}

#[cfg(not(loom))]
static_assertions::assert_eq_size!(RoleClaim, [u32; 2]);

/// Offset of the holder's pid in a role slot (the claim word is at 0).
#[cfg(not(loom))]
pub(crate) const PID_OFFSET: usize = core::mem::offset_of!(RoleClaim, pid);

/// What a claim word and the pid beside it say: the decoding of
/// [`RoleClaim::state`], also used by read-only inspection. A role being
/// claimed (`CLAIMING`) reads as held.
pub(crate) fn decode_state(word: u32, pid: u32) -> RoleState {
    let claim = Claim {
        pid,
        generation: word >> 2,
    };
    match word & STATE_MASK {
        VACANT => RoleState::Vacant,
        HELD | CLAIMING => RoleState::Held(claim),
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
    /// The claim word kept changing under the claim (a peer rewriting it in
    /// a loop), or the role's shared state is impossible (a ring's positions).
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

/// What [`RoleClaim::release_dead`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeadRelease {
    /// Nothing: the tenure had already ended (or was never current).
    NotCurrent,
    /// A held tenure, which may have joined counts and used the role.
    Held,
    /// A tenure still `CLAIMING`: nothing of it happened yet.
    Claiming,
}

impl DeadRelease {
    /// Whether a tenure was ended.
    pub(crate) fn ended(self) -> bool {
        self != DeadRelease::NotCurrent
    }
}

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
            if state == HELD || state == CLAIMING {
                return Err(ClaimError::Taken(self.decode_claim(current)));
            }
            let generation = (current >> 2).wrapping_add(1) & (u32::MAX >> 2);
            let claiming = (generation << 2) | CLAIMING;
            // SYNC POINT claim: Acquire pairs with the previous holder's
            // release CAS (Release), so its last writes (positions) are visible
            // to this holder. Relaxed on failure: we only retry.
            match self.word.compare_exchange_weak(
                current,
                claiming,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => {}
                Err(actual) => {
                    current = actual;
                    continue;
                }
            }
            // Relaxed: published by the Release CAS below.
            self.pid.store(pid, Ordering::Relaxed);
            // SYNC POINT claim-pid: Release pairs with `state`'s Acquire
            // load of the word, so whoever sees `HELD` sees our pid. Strong
            // CAS: a spurious failure would throw away a won claim. It fails
            // only if a repair ended our `CLAIMING` (believing the previous
            // pid dead): claim again from the `CLOSED` it left.
            match self.word.compare_exchange(
                claiming,
                (generation << 2) | HELD,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(generation),
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
    /// liveness repair): the same effect as the holder's own release, or,
    /// for a tenure still `CLAIMING`, its end before it began (the claimant,
    /// if alive, claims again).
    ///
    /// `claim` is what [`RoleClaim::state`] showed, and its pid may have been
    /// the previous holder's if the word was `CLAIMING`; so a tenure that is
    /// `HELD` now ends only if its pid is still `claim.pid` (a `HELD`
    /// tenure's pid never changes).
    pub(crate) fn release_dead(&self, claim: Claim) -> DeadRelease {
        let held = (claim.generation << 2) | HELD;
        let claiming = (claim.generation << 2) | CLAIMING;
        let closed = (claim.generation << 2) | CLOSED;
        // SYNC POINT claim-pid: Acquire pairs with the claimant's Release
        // CAS to `HELD`, so with `HELD` the pid read next is the holder's.
        let word = self.word.load(Ordering::Acquire);
        if word == held {
            // Relaxed: fixed for the tenure, made visible by the load above.
            if self.pid.load(Ordering::Relaxed) != claim.pid {
                return DeadRelease::NotCurrent;
            }
            // Still `held`, the same tenure, so the same pid. SYNC POINT
            // claim: Release, as the holder's own release.
            return match self.word.compare_exchange(
                held,
                closed,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => DeadRelease::Held,
                Err(_) => DeadRelease::NotCurrent,
            };
        }
        if word != claiming {
            return DeadRelease::NotCurrent;
        }
        // Relaxed: a half-made tenure published nothing to hand on, and the
        // claimant's next CAS only compares the word. Relaxed on failure:
        // the tenure moved on.
        match self
            .word
            .compare_exchange(claiming, closed, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => DeadRelease::Claiming,
            Err(_) => DeadRelease::NotCurrent,
        }
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
    /// answer may be stale as soon as it is returned. A role being claimed
    /// reads as held, with the pid the slot shows (maybe the previous
    /// holder's for an instant).
    pub(crate) fn state(&self) -> RoleState {
        // SYNC POINT claim-pid: Acquire pairs with the claimant's Release CAS
        // to `HELD`, so with `HELD` the pid read next is the holder's own.
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
