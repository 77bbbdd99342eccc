//! The producing end of an SPSC ring.

#![allow(unsafe_code)]

use core::time::Duration;

use bytemuck::Pod;

use super::{
    ChunkError, DEFAULT_SPIN_LIMIT, PushError, PushSliceError, PushTimeoutError, Spsc, WriteChunk,
};
use crate::claim::ClaimError;
use crate::error::Corrupted;
use crate::event::WakeMode;
use crate::sync::{Ordering, store_slot};
use crate::wait::Wait;

/// The producer's private state: its own position and its cache of the
/// consumer's. Split from [`Producer`] so blocking calls can borrow it
/// mutably while lending the waiter.
#[derive(Debug)]
pub(crate) struct ProducerState<'a, T> {
    pub(crate) ring: Spsc<'a, T>,
    /// Next position to write; the shared `tail` mirrors it.
    pub(crate) tail: u32,
    /// The consumer's `head` as last read; `tail - head_cache <= capacity`.
    pub(crate) head_cache: u32,
    /// Generation of our claim, for the release in `Drop`.
    generation: u32,
    /// Our part in the wake-up protocol, fixed at the claim.
    pub(crate) mode: WakeMode,
}

/// The producing end of an [`Spsc`] ring: the only writer of its slots.
///
/// Non-blocking calls (`push`, `push_slice`, `write_chunk`) never wait and
/// never call into `W` unless the consumer is asleep. Dropping the producer
/// releases the role and closes the ring for the consumer (it drains what was
/// sent, then sees `Disconnected`); the role can be claimed again.
pub struct Producer<'a, T, W: Wait> {
    pub(crate) state: ProducerState<'a, T>,
    pub(crate) wait: W,
    spin_limit: u32,
}

impl<T, W: Wait> core::fmt::Debug for Producer<'_, T, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("tail", &self.state.tail)
            .field("capacity", &self.state.ring.capacity())
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod, W: Wait> Producer<'a, T, W> {
    pub(crate) fn claim(ring: Spsc<'a, T>, pid: u32, wait: W) -> Result<Self, ClaimError> {
        let hdr = ring.hdr();
        let claim = &hdr.control.0.producer;
        let generation = claim.claim(pid)?;
        // Relaxed: our own position, last stored by the previous producer
        // before its release CAS, which our claim CAS (Acquire) read.
        let tail = hdr.tail.0.load(Ordering::Relaxed);
        // SYNC POINT spsc head: Acquire pairs with the consumer's Release
        // store of `head`: the slots before it are no longer being read.
        let head = hdr.head.0.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > ring.capacity() {
            claim.release(generation);
            return Err(ClaimError::Corrupted);
        }
        Ok(Producer {
            state: ProducerState {
                ring,
                tail,
                head_cache: head,
                generation,
                mode: WakeMode::for_handle(hdr.control.0.region.asymmetric_wake(), &wait),
            },
            wait,
            spin_limit: DEFAULT_SPIN_LIMIT,
        })
    }

    /// Sends `value` if a slot is free. Wait-free.
    ///
    /// # Errors
    ///
    /// [`PushError::Full`] when no slot is free, [`PushError::Disconnected`]
    /// when the consumer closed the ring (like EPIPE, never a signal),
    /// [`PushError::Corrupted`] when the shared positions are impossible. Each
    /// hands the value back.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), PushError<T>> {
        self.state.push(value, &self.wait)
    }

    /// Sends as many elements of `values` as fit, in order; returns how many.
    /// One notification for the whole batch.
    ///
    /// # Errors
    ///
    /// [`PushSliceError::Full`] if none fit (and `values` is not empty),
    /// [`PushSliceError::Disconnected`], [`PushSliceError::Corrupted`].
    pub fn push_slice(&mut self, values: &[T]) -> Result<usize, PushSliceError> {
        self.state.push_slice(values, &self.wait)
    }

    /// Sends `value`, waiting while the ring is full: first up to the spin
    /// limit of polls, then asleep on `W`. `timeout: None` waits forever.
    ///
    /// # Errors
    ///
    /// [`PushTimeoutError::Timeout`] if still full at the deadline,
    /// [`PushTimeoutError::Disconnected`], [`PushTimeoutError::Corrupted`];
    /// each hands the value back.
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

    /// Lends `n` free slots to write in place; nothing is sent until the
    /// chunk's `commit`.
    ///
    /// # Errors
    ///
    /// [`ChunkError::TooFewSlots`] with the number of free slots if fewer than
    /// `n`; [`ChunkError::Disconnected`]; [`ChunkError::Corrupted`].
    pub fn write_chunk(&mut self, n: u32) -> Result<WriteChunk<'_, 'a, T, W>, ChunkError> {
        self.state.write_chunk(&self.wait, n)
    }

    /// Free slots, as far as this producer knows (reloads the consumer's
    /// position). Stays a lower bound until this producer writes.
    pub fn free(&mut self) -> u32 {
        self.state.free_at_least(u32::MAX).unwrap_or(0)
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.state.ring.capacity()
    }

    /// Whether the consumer has closed the ring. Racy: it may close right after.
    pub fn is_disconnected(&self) -> bool {
        self.state.ring.hdr().control.0.consumer.is_closed()
    }

    /// Polls a blocking call makes before sleeping ([`DEFAULT_SPIN_LIMIT`]
    /// unless set). 0 sleeps at once; spinning lowers latency when the peer
    /// is on another core, and wastes it when they share one.
    pub fn set_spin_limit(&mut self, polls: u32) {
        self.spin_limit = polls;
    }

    /// The current spin limit.
    pub fn spin_limit(&self) -> u32 {
        self.spin_limit
    }

    /// The ring this producer writes.
    pub fn ring(&self) -> Spsc<'a, T> {
        self.state.ring
    }

    /// The waiter this producer sleeps and wakes with.
    pub fn waiter(&self) -> &W {
        &self.wait
    }
}

impl<'a, T: Pod> ProducerState<'a, T> {
    /// [`Producer::write_chunk`] on the state, with the waiter lent separately.
    pub(crate) fn write_chunk<'p, W: Wait>(
        &'p mut self,
        wait: &'p W,
        n: u32,
    ) -> Result<WriteChunk<'p, 'a, T, W>, ChunkError> {
        if self.consumer_closed() {
            return Err(ChunkError::Disconnected);
        }
        let free = self
            .free_at_least(n)
            .map_err(|Corrupted| ChunkError::Corrupted)?;
        if free < n {
            return Err(ChunkError::TooFewSlots(free));
        }
        Ok(WriteChunk::new(self, wait, n))
    }

    /// Whether the consumer closed the ring (a cheap hint, see `is_closed_hint`).
    #[inline]
    pub(crate) fn consumer_closed(&self) -> bool {
        self.ring.hdr().control.0.consumer.is_closed_hint()
    }

    /// Free slots; reloads the consumer's position only if the cache shows
    /// fewer than `wanted`.
    #[inline]
    pub(crate) fn free_at_least(&mut self, wanted: u32) -> Result<u32, Corrupted> {
        let capacity = self.ring.capacity();
        // Cache invariant: tail - head_cache <= capacity.
        let free = capacity - self.tail.wrapping_sub(self.head_cache);
        if free >= wanted {
            return Ok(free);
        }
        // SYNC POINT spsc head: Acquire pairs with the consumer's Release
        // store of `head`: it has finished reading every slot before it.
        let head = self.ring.hdr().head.0.load(Ordering::Acquire);
        let used = self.tail.wrapping_sub(head);
        if used > capacity {
            return Err(Corrupted);
        }
        self.head_cache = head;
        Ok(capacity - used)
    }

    #[inline]
    pub(crate) fn push<W: Wait>(&mut self, value: T, wait: &W) -> Result<(), PushError<T>> {
        if self.consumer_closed() {
            return Err(PushError::Disconnected(value));
        }
        match self.free_at_least(1) {
            Ok(0) => return Err(PushError::Full(value)),
            Ok(_) => {}
            Err(Corrupted) => return Err(PushError::Corrupted(value)),
        }
        let index = self.tail & self.ring.mask();
        self.ring.hdr().tracker.write(index, 1);
        // SAFETY: `index` is masked; the slot is free (tail - head < capacity
        // with head read with Acquire), so the consumer does not read it until
        // we publish; `T: Pod` has no drop glue for the old bytes.
        unsafe { store_slot(self.ring.slot(index), value) };
        self.publish(1, wait);
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
        if self.consumer_closed() {
            return Err(PushSliceError::Disconnected);
        }
        let wanted = u32::try_from(values.len()).unwrap_or(u32::MAX);
        let free = self
            .free_at_least(wanted)
            .map_err(|Corrupted| PushSliceError::Corrupted)?;
        let n = free.min(wanted);
        if n == 0 {
            return Err(PushSliceError::Full);
        }
        let start = self.tail & self.ring.mask();
        self.ring.hdr().tracker.write(start, n);
        for (i, value) in values.iter().take(n as usize).enumerate() {
            let index = start.wrapping_add(i as u32) & self.ring.mask();
            // SAFETY: `n` slots from the masked tail are free (checked with
            // an Acquire load of `head`), and `index` is masked; atomic
            // stores, so a peer forging positions cannot make this a race.
            unsafe { store_slot(self.ring.slot(index), *value) };
        }
        self.publish(n, wait);
        Ok(n as usize)
    }

    /// Splits `n` slots from the tail into the run up to the end of the body
    /// and the run that wraps to its start.
    #[inline]
    pub(crate) fn free_runs(&self, n: u32) -> (u32, u32) {
        let start = self.tail & self.ring.mask();
        let first = n.min(self.ring.capacity() - start);
        (first, n - first)
    }

    /// Makes `n` written slots visible to the consumer and wakes it if asleep.
    #[inline]
    pub(crate) fn publish<W: Wait>(&mut self, n: u32, wait: &W) {
        self.tail = self.tail.wrapping_add(n);
        let hdr = self.ring.hdr();
        // SYNC POINT spsc tail: Release pairs with the consumer's Acquire
        // load of `tail`: the slot writes above happen before its reads.
        hdr.tail.0.store(self.tail, Ordering::Release);
        hdr.events.0.data_ready.notify_in(self.mode, wait);
    }
}

impl<T, W: Wait> Drop for Producer<'_, T, W> {
    fn drop(&mut self) {
        let hdr = self.state.ring.hdr();
        // Releases the role as CLOSED (Release, see claim.rs) and wakes a
        // consumer sleeping on an empty ring so it sees the disconnect.
        if hdr.control.0.producer.release(self.state.generation) {
            hdr.events
                .0
                .data_ready
                .notify_in(self.state.mode, &self.wait);
        }
    }
}
