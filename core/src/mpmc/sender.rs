//! The sending side of an MPMC ring.

#![allow(unsafe_code)]

use core::time::Duration;

use bytemuck::Pod;

use super::participant::{Role, side_closed_hint};
use super::{ClaimFailure, Claimed, MAX_ATTEMPTS, Mpmc, RegisterError, seq_empty, seq_full};
use crate::error::{PushError, PushSliceError, PushTimeoutError};
use crate::event::WakeMode;
use crate::sync::{Ordering, store_slot};
use crate::wait::Wait;

/// A sender's private state: its ring and its participant record.
#[derive(Debug)]
pub(crate) struct SenderState<'a, T> {
    pub(crate) ring: Mpmc<'a, T>,
    pub(crate) index: u32,
    pub(crate) generation: u32,
    /// Our part in the wake-up protocol, fixed at registration.
    pub(crate) mode: WakeMode,
}

/// One of the senders of an [`Mpmc`] ring, registered in a participant record.
///
/// Dropping it deregisters it; when the last sender leaves, receivers drain
/// the ring and then see `Disconnected`, even if more senders are about to
/// register (as a FIFO's reader sees end-of-file when its last writer
/// closes). A server whose clients come and go holds a sender of its own
/// while it expects them, as a FIFO server opens its FIFO read-write.
pub struct Sender<'a, T, W: Wait> {
    pub(crate) state: SenderState<'a, T>,
    pub(crate) wait: W,
    spin_limit: u32,
}

impl<T, W: Wait> core::fmt::Debug for Sender<'_, T, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender")
            .field("record", &self.state.index)
            .field("generation", &self.state.generation)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod> Mpmc<'a, T> {
    /// Registers a sender (pid recorded as 0) that blocks with `wait`.
    ///
    /// # Errors
    ///
    /// [`RegisterError::TooManyParticipants`] when every record is held.
    pub fn sender<W: Wait>(&self, wait: W) -> Result<Sender<'a, T, W>, RegisterError> {
        self.register_sender(0, wait)
    }

    /// Registers a sender for process `pid` (what a liveness repair checks).
    ///
    /// # Errors
    ///
    /// As [`Mpmc::sender`].
    pub fn register_sender<W: Wait>(
        &self,
        pid: u32,
        wait: W,
    ) -> Result<Sender<'a, T, W>, RegisterError> {
        let (index, generation) = self.register(Role::Sender, pid)?;
        Ok(Sender {
            state: SenderState {
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

impl<'a, T: Pod, W: Wait> Sender<'a, T, W> {
    /// Sends `value` if a slot is free.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] when no slot is free, [`PushError::Disconnected`]
    /// when every receiver has left, [`PushError::Corrupted`] when a value in
    /// the region is impossible; each hands the value back.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        self.state.push(value, &self.wait)
    }

    /// Sends as many elements of `values` as fit, in order, claiming them
    /// with one CAS; returns how many. One notification for the batch.
    ///
    /// # Errors
    ///
    /// [`PushSliceError::Full`] if none fit (and `values` is not empty),
    /// [`PushSliceError::Disconnected`], [`PushSliceError::Corrupted`].
    pub fn push_slice(&mut self, values: &[T]) -> Result<usize, PushSliceError> {
        self.state.push_slice(values, &self.wait)
    }

    /// Sends `value`, waiting while the ring is full (spin, then sleep).
    /// `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`PushTimeoutError::Timeout`], [`PushTimeoutError::Disconnected`],
    /// [`PushTimeoutError::Corrupted`]; each hands the value back.
    pub fn push_blocking(
        &mut self,
        value: T,
        timeout: Option<Duration>,
    ) -> Result<(), PushTimeoutError<T>> {
        let events = &self.state.ring.hdr().events.0;
        let state = &mut self.state;
        crate::blocking::push(
            &events.space_ready,
            state.mode,
            &self.wait,
            self.spin_limit,
            timeout,
            value,
            |v, w| state.push(v, w),
        )
    }

    /// Whether every receiver has left. Racy.
    pub fn is_disconnected(&self) -> bool {
        super::participant::side_closed(&self.state.ring.hdr().control.0.receivers)
    }

    /// Polls a blocking call makes before sleeping.
    pub fn set_spin_limit(&mut self, polls: u32) {
        self.spin_limit = polls;
    }

    /// The ring this sender writes.
    pub fn ring(&self) -> Mpmc<'a, T> {
        self.state.ring
    }

    /// Index of this sender's participant record.
    pub fn record(&self) -> u32 {
        self.state.index
    }

    /// Test hook: claims a slot, writes `value`, and stops for good without
    /// publishing or deregistering, as a process killed at that instant
    /// would. Only for tests and models of the repair.
    #[cfg(any(test, loom))]
    #[doc(hidden)]
    pub fn die_after_claim(self, value: T) -> bool {
        let mut this = core::mem::ManuallyDrop::new(self);
        match this.state.try_claim(1) {
            Ok(Claimed { pos, .. }) => {
                // SAFETY: we own slot `pos` (claimed by the CAS on tail).
                unsafe { store_slot(this.state.ring.value_ptr(pos), value) };
                true
            }
            Err(_) => false,
        }
    }
}

impl<T: Pod> SenderState<'_, T> {
    /// Claims up to `want` consecutive free positions with one CAS on
    /// `tail`, after announcing them as this participant's intent.
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
        // Relaxed: a starting guess, validated by the slot sequences and the CAS.
        let mut pos = hdr.tail.0.load(Ordering::Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            let mut n = 0;
            let mut overtaken = false;
            while n < want {
                let p = pos.wrapping_add(n);
                // SYNC POINT mpmc slot-free: Acquire pairs with the receiver's
                // Release store of "empty for p": its read of the previous
                // value happens before our write.
                let seq = ring.seq(p).load(Ordering::Acquire);
                let diff = seq.wrapping_sub(seq_empty(p)) as i32;
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
                // Someone claimed `pos` already. Relaxed reload: coherence
                // after the Acquire above guarantees a newer tail, unless the
                // sequence was forged.
                let tail = hdr.tail.0.load(Ordering::Relaxed);
                if tail == pos {
                    return Err(ClaimFailure::Corrupted);
                }
                pos = tail;
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
            // claim, for a repair that Acquire-loads `tail`. Relaxed on
            // failure: we only retry from the position we were shown.
            match hdr.tail.0.compare_exchange_weak(
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

    /// Publishes the `len` claimed slots from `pos` (already written) and
    /// goes idle.
    fn publish<W: Wait>(&self, claimed: Claimed, wait: &W) {
        let ring = self.ring;
        for i in 0..claimed.len {
            let p = claimed.pos.wrapping_add(i);
            // SYNC POINT mpmc publish: Release pairs with the receiver's
            // Acquire load of the sequence: our value write happens before
            // its read.
            ring.seq(p).store(seq_full(p), Ordering::Release);
        }
        // SYNC POINT mpmc idle: Release, so a repair that reads "idle"
        // (Acquire) also sees the publishes above and leaves the slots alone.
        ring.record(self.index)
            .intent_len
            .store(0, Ordering::Release);
        ring.hdr().events.0.data_ready.notify_in(self.mode, wait);
    }

    fn receivers_gone(&self) -> bool {
        side_closed_hint(&self.ring.hdr().control.0.receivers)
    }

    #[inline]
    pub(crate) fn push<W: Wait>(&mut self, value: T, wait: &W) -> Result<(), PushError<T>> {
        if self.receivers_gone() {
            return Err(PushError::Disconnected(value));
        }
        let claimed = match self.claim(1) {
            Ok(c) => c,
            Err(ClaimFailure::Unavailable) => return Err(PushError::Full(value)),
            Err(ClaimFailure::Corrupted) => return Err(PushError::Corrupted(value)),
        };
        self.ring
            .hdr()
            .tracker
            .write(claimed.pos & (self.ring.capacity() - 1), 1);
        // SAFETY: the CAS on tail gave us position `pos`; its slot said
        // "empty for pos" (Acquire), so no receiver reads it until we publish.
        unsafe { store_slot(self.ring.value_ptr(claimed.pos), value) };
        self.publish(claimed, wait);
        Ok(())
    }

    pub(crate) fn push_slice<W: Wait>(
        &mut self,
        values: &[T],
        wait: &W,
    ) -> Result<usize, PushSliceError> {
        if values.is_empty() {
            return Ok(0);
        }
        if self.receivers_gone() {
            return Err(PushSliceError::Disconnected);
        }
        let want = u32::try_from(values.len()).unwrap_or(u32::MAX);
        let claimed = self.claim(want).map_err(|e| match e {
            ClaimFailure::Unavailable => PushSliceError::Full,
            ClaimFailure::Corrupted => PushSliceError::Corrupted,
        })?;
        let mask = self.ring.capacity() - 1;
        for (i, value) in values.iter().take(claimed.len as usize).enumerate() {
            let p = claimed.pos.wrapping_add(i as u32);
            self.ring.hdr().tracker.write(p & mask, 1);
            // SAFETY: as in `push`, for each claimed position.
            unsafe { store_slot(self.ring.value_ptr(p), *value) };
        }
        self.publish(claimed, wait);
        Ok(claimed.len as usize)
    }
}

impl<T, W: Wait> Drop for Sender<'_, T, W> {
    fn drop(&mut self) {
        let ring = self.state.ring;
        if ring.deregister(self.state.index, self.state.generation, Role::Sender) {
            // Receivers asleep on an empty ring must see the disconnect.
            ring.hdr()
                .events
                .0
                .data_ready
                .notify_in(self.state.mode, &self.wait);
        }
    }
}
