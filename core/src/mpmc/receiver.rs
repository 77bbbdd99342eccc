//! The receiving side of an MPMC ring.

#![allow(unsafe_code)]

use core::time::Duration;

use bytemuck::Pod;

use super::participant::{Role, side_closed};
use super::{
    ClaimFailure, Claimed, MAX_ATTEMPTS, Mpmc, RegisterError, SKIPPED, seq_empty, seq_full,
};
use crate::error::{PopError, PopTimeoutError};
use crate::event::WakeMode;
use crate::sync::{Ordering, load_slot};
use crate::wait::Wait;

/// A receiver's private state: its ring and its participant record.
#[derive(Debug)]
pub(crate) struct ReceiverState<'a, T> {
    pub(crate) ring: Mpmc<'a, T>,
    pub(crate) index: u32,
    pub(crate) generation: u32,
    /// Our part in the wake-up protocol, fixed at registration.
    pub(crate) mode: WakeMode,
}

/// One of the receivers of an [`Mpmc`] ring, registered in a participant
/// record. Each message goes to exactly one receiver.
///
/// Dropping it deregisters it; when the last receiver leaves, senders get
/// `Disconnected(value)` back (EPIPE).
pub struct Receiver<'a, T, W: Wait> {
    pub(crate) state: ReceiverState<'a, T>,
    pub(crate) wait: W,
    spin_limit: u32,
}

impl<T, W: Wait> core::fmt::Debug for Receiver<'_, T, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver")
            .field("record", &self.state.index)
            .field("generation", &self.state.generation)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod> Mpmc<'a, T> {
    /// Registers a receiver (pid recorded as 0) that blocks with `wait`.
    ///
    /// # Errors
    ///
    /// [`RegisterError::TooManyParticipants`] when every record is held.
    pub fn receiver<W: Wait>(&self, wait: W) -> Result<Receiver<'a, T, W>, RegisterError> {
        self.register_receiver(0, wait)
    }

    /// Registers a receiver for process `pid`.
    ///
    /// # Errors
    ///
    /// As [`Mpmc::receiver`].
    pub fn register_receiver<W: Wait>(
        &self,
        pid: u32,
        wait: W,
    ) -> Result<Receiver<'a, T, W>, RegisterError> {
        let (index, generation) = self.register(Role::Receiver, pid)?;
        Ok(Receiver {
            state: ReceiverState {
                ring: *self,
                index,
                generation,
                mode: WakeMode::for_handle(self.hdr().control.0.region.asymmetric_wake(), &wait),
            },
            wait,
            spin_limit: crate::spsc::DEFAULT_SPIN_LIMIT,
        })
    }
}

impl<'a, T: Pod, W: Wait> Receiver<'a, T, W> {
    /// Receives the oldest available message, if any.
    ///
    /// # Errors
    ///
    /// [`PopError::Empty`] while a sender may still send,
    /// [`PopError::Disconnected`] once every sender left and the ring is
    /// drained, [`PopError::Corrupted`] when a value in the region is
    /// impossible.
    #[inline]
    pub fn pop(&mut self) -> Result<T, PopError> {
        self.state.pop(&self.wait)
    }

    /// Receives up to `out.len()` messages claimed with one CAS; returns how
    /// many (slots skipped by a repair are not counted). One notification.
    ///
    /// # Errors
    ///
    /// As [`Receiver::pop`] when nothing was received (and `out` is not empty).
    pub fn pop_slice(&mut self, out: &mut [T]) -> Result<usize, PopError> {
        self.state.pop_slice(out, &self.wait)
    }

    /// Receives a message, waiting while the ring is empty (spin, then
    /// sleep). `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`PopTimeoutError::Timeout`], [`PopTimeoutError::Disconnected`],
    /// [`PopTimeoutError::Corrupted`].
    pub fn pop_blocking(&mut self, timeout: Option<Duration>) -> Result<T, PopTimeoutError> {
        let events = &self.state.ring.hdr().events.0;
        let state = &mut self.state;
        crate::blocking::pop(
            &events.data_ready,
            state.mode,
            &self.wait,
            self.spin_limit,
            timeout,
            |w| state.pop(w),
        )
    }

    /// Whether every sender has left (messages may still be waiting). Racy.
    pub fn is_disconnected(&self) -> bool {
        side_closed(&self.state.ring.hdr().control.0.senders)
    }

    /// Polls a blocking call makes before sleeping.
    pub fn set_spin_limit(&mut self, polls: u32) {
        self.spin_limit = polls;
    }

    /// The ring this receiver reads.
    pub fn ring(&self) -> Mpmc<'a, T> {
        self.state.ring
    }

    /// Index of this receiver's participant record.
    pub fn record(&self) -> u32 {
        self.state.index
    }

    /// Test hook: claims the next message and stops for good before
    /// reading or releasing it, as a process killed at that instant would.
    /// Only for tests and models of the repair.
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn die_after_claim(self) -> bool {
        let mut this = core::mem::ManuallyDrop::new(self);
        this.state.try_claim(1).is_ok()
    }
}

impl<T: Pod> ReceiverState<'_, T> {
    /// Claims up to `want` consecutive filled positions with one CAS on
    /// `head`, after announcing them as this participant's intent.
    pub(crate) fn claim(&mut self, want: u32) -> Result<Claimed, ClaimFailure> {
        let result = self.try_claim(want);
        if result.is_err() {
            // A claim that gives up after a lost CAS must not leave its
            // intent behind: repairs defer to any live intent naming a dead
            // participant's slot. SYNC POINT mpmc idle: Release, as after a
            // publish (see `intent-fresh`).
            self.ring
                .record(self.index)
                .intent_len
                .store(0, Ordering::Release);
        }
        result
    }

    fn try_claim(&mut self, want: u32) -> Result<Claimed, ClaimFailure> {
        let ring = self.ring;
        let hdr = ring.hdr();
        let record = ring.record(self.index);
        let want = want.min(ring.capacity());
        // Relaxed: a starting guess, validated by the sequences and the CAS.
        let mut pos = hdr.head.0.load(Ordering::Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            let mut n = 0;
            let mut overtaken = false;
            while n < want {
                let p = pos.wrapping_add(n);
                // SYNC POINT mpmc publish: Acquire pairs with the sender's
                // Release store of "full at p": its value write is visible.
                let seq = ring.seq(p).load(Ordering::Acquire);
                let diff = (seq & !SKIPPED).wrapping_sub(seq_full(p)) as i32;
                if diff == 0 {
                    n += 1;
                } else {
                    overtaken = diff > 0;
                    break;
                }
            }
            if n == 0 {
                if !overtaken {
                    return Err(ClaimFailure::Unavailable);
                }
                // Relaxed reload: coherence after the Acquire above
                // guarantees a newer head, unless the sequence was forged.
                let head = hdr.head.0.load(Ordering::Relaxed);
                if head == pos {
                    return Err(ClaimFailure::Corrupted);
                }
                pos = head;
                continue;
            }
            // SYNC POINT mpmc intent-fresh: Release, so that a repair that
            // reads either word of this intent (Acquire) also sees what this
            // participant did before it, notably the publish (or release)
            // that ended its previous claim. The CAS's Release below orders
            // the intent before the claim.
            record.intent_pos.store(pos, Ordering::Release);
            record.intent_len.store(n, Ordering::Release);
            // SYNC POINT mpmc intent: Release orders the intent before the
            // claim, for a repair that Acquire-loads `head`.
            match hdr.head.0.compare_exchange_weak(
                pos,
                pos.wrapping_add(n),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(Claimed { pos, len: n }),
                Err(actual) => pos = actual,
            }
        }
        Err(ClaimFailure::Unavailable)
    }

    /// Copies the claimed values into `out` (skipping repaired slots), hands
    /// the slots back to senders and goes idle. Returns how many were copied.
    fn take<W: Wait>(&self, claimed: Claimed, out: &mut [T], wait: &W) -> usize {
        let ring = self.ring;
        let mask = ring.capacity() - 1;
        let mut copied = 0;
        for i in 0..claimed.len {
            let p = claimed.pos.wrapping_add(i);
            // Relaxed: this slot's "full" state was read with Acquire by the
            // claim; only a repair's SKIPPED bit could differ, and a repair
            // never touches a slot a live receiver holds.
            let seq = ring.seq(p).load(Ordering::Relaxed);
            if seq & SKIPPED == 0
                && let Some(slot) = out.get_mut(copied)
            {
                ring.hdr().tracker.read(p & mask, 1);
                // SAFETY: the CAS on head gave us position `p`, whose slot
                // said "full at p" (Acquire): the sender's write is visible
                // and nobody writes it until we release it below.
                *slot = unsafe { load_slot(ring.value_ptr(p)) };
                copied += 1;
            }
            // SYNC POINT mpmc slot-free: Release pairs with the next
            // sender's Acquire load: our read happens before its write.
            ring.seq(p).store(
                seq_empty(p.wrapping_add(ring.capacity())),
                Ordering::Release,
            );
        }
        // SYNC POINT mpmc idle: Release, see the sender's `publish`.
        ring.record(self.index)
            .intent_len
            .store(0, Ordering::Release);
        ring.hdr().events.0.space_ready.notify_in(self.mode, wait);
        copied
    }

    /// Maps an unavailable claim to `Empty` or, once every sender has left
    /// and nothing is left to claim, `Disconnected`.
    fn empty_or_disconnected(&mut self, want: u32) -> Result<Claimed, PopError> {
        // SYNC POINT mpmc leave: Acquire pairs with the last sender's
        // Release in `leave`: its publishes are visible to the re-claim.
        if side_closed(&self.ring.hdr().control.0.senders) {
            match self.claim(want) {
                Ok(claimed) => Ok(claimed),
                Err(ClaimFailure::Unavailable) => Err(PopError::Disconnected),
                Err(ClaimFailure::Corrupted) => Err(PopError::Corrupted),
            }
        } else {
            Err(PopError::Empty)
        }
    }

    #[inline]
    pub(crate) fn pop<W: Wait>(&mut self, wait: &W) -> Result<T, PopError> {
        // Each round consumes a claimed slot; only skipped slots loop.
        for _ in 0..MAX_ATTEMPTS {
            let claimed = match self.claim(1) {
                Ok(c) => c,
                Err(ClaimFailure::Unavailable) => self.empty_or_disconnected(1)?,
                Err(ClaimFailure::Corrupted) => return Err(PopError::Corrupted),
            };
            let mut out = [T::zeroed()];
            if self.take(claimed, &mut out, wait) == 1 {
                return Ok(out[0]);
            }
        }
        Err(PopError::Empty)
    }

    pub(crate) fn pop_slice<W: Wait>(
        &mut self,
        out: &mut [T],
        wait: &W,
    ) -> Result<usize, PopError> {
        if out.is_empty() {
            return Ok(0);
        }
        let want = u32::try_from(out.len()).unwrap_or(u32::MAX);
        for _ in 0..MAX_ATTEMPTS {
            let claimed = match self.claim(want) {
                Ok(c) => c,
                Err(ClaimFailure::Unavailable) => self.empty_or_disconnected(want)?,
                Err(ClaimFailure::Corrupted) => return Err(PopError::Corrupted),
            };
            let copied = self.take(claimed, out, wait);
            if copied > 0 {
                return Ok(copied);
            }
        }
        Err(PopError::Empty)
    }
}

impl<T, W: Wait> Drop for Receiver<'_, T, W> {
    fn drop(&mut self) {
        let ring = self.state.ring;
        if ring.deregister(self.state.index, self.state.generation, Role::Receiver) {
            // Senders asleep on a full ring must see the disconnect.
            ring.hdr()
                .events
                .0
                .space_ready
                .notify_in(self.state.mode, &self.wait);
        }
    }
}
