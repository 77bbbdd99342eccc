//! The consuming end of an SPSC ring.

#![allow(unsafe_code)]

use core::time::Duration;

use bytemuck::Pod;

use super::{ChunkError, DEFAULT_SPIN_LIMIT, PopError, PopTimeoutError, ReadChunk, Spsc};
use crate::claim::ClaimError;
use crate::error::Corrupted;
use crate::event::WakeMode;
use crate::sync::{Ordering, load_slot};
use crate::wait::{Wait, deadline_after};

/// The consumer's private state: its own position and its cache of the
/// producer's.
#[derive(Debug)]
pub(crate) struct ConsumerState<'a, T> {
    pub(crate) ring: Spsc<'a, T>,
    /// Next position to read; the shared `head` mirrors it.
    pub(crate) head: u32,
    /// The producer's `tail` as last read; `tail_cache - head <= capacity`.
    pub(crate) tail_cache: u32,
    /// Generation of our claim, for the release in `Drop`.
    generation: u32,
    /// Our part in the wake-up protocol, fixed at the claim.
    pub(crate) mode: WakeMode,
}

/// The consuming end of an [`Spsc`] ring: the only reader of its slots.
///
/// Non-blocking calls (`pop`, `pop_slice`, `read_chunk`) never wait and never
/// call into `W` unless the producer is asleep. Once the producer has closed
/// the ring, they return everything it sent, then `Disconnected`. Dropping the
/// consumer releases the role and closes the ring for the producer (its pushes
/// fail with `Disconnected`, like EPIPE); the role can be claimed again.
pub struct Consumer<'a, T, W: Wait> {
    pub(crate) state: ConsumerState<'a, T>,
    pub(crate) wait: W,
    spin_limit: u32,
}

impl<T, W: Wait> core::fmt::Debug for Consumer<'_, T, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer")
            .field("head", &self.state.head)
            .field("capacity", &self.state.ring.capacity())
            .finish_non_exhaustive()
    }
}

impl<'a, T: Pod, W: Wait> Consumer<'a, T, W> {
    pub(crate) fn claim(ring: Spsc<'a, T>, pid: u32, wait: W) -> Result<Self, ClaimError> {
        let hdr = ring.hdr();
        let claim = &hdr.control.0.consumer;
        let generation = claim.claim(pid)?;
        // Relaxed: our own position, last stored by the previous consumer
        // before its release CAS, which our claim CAS (Acquire) read.
        let head = hdr.head.0.load(Ordering::Relaxed);
        // SYNC POINT spsc tail: Acquire pairs with the producer's Release
        // store of `tail`: the slots before it are written.
        let tail = hdr.tail.0.load(Ordering::Acquire);
        if tail.wrapping_sub(head) > ring.capacity() {
            claim.release(generation);
            return Err(ClaimError::Corrupted);
        }
        Ok(Consumer {
            state: ConsumerState {
                ring,
                head,
                tail_cache: tail,
                generation,
                mode: WakeMode::for_handle(hdr.control.0.region.asymmetric_wake(), &wait),
            },
            wait,
            spin_limit: DEFAULT_SPIN_LIMIT,
        })
    }

    /// Receives the oldest element, if any. Wait-free.
    ///
    /// # Errors
    ///
    /// [`PopError::Empty`] while the producer is there,
    /// [`PopError::Disconnected`] once it closed and everything it sent was
    /// received (like `read()` returning 0), [`PopError::Corrupted`] when the
    /// shared positions are impossible.
    #[inline]
    pub fn pop(&mut self) -> Result<T, PopError> {
        self.state.pop(&self.wait)
    }

    /// Receives up to `out.len()` elements in order; returns how many. One
    /// notification for the whole batch.
    ///
    /// # Errors
    ///
    /// As [`Consumer::pop`] when nothing was received (and `out` is not empty).
    pub fn pop_slice(&mut self, out: &mut [T]) -> Result<usize, PopError> {
        self.state.pop_slice(out, &self.wait)
    }

    /// Receives the oldest element, waiting while the ring is empty: first up
    /// to the spin limit of polls, then asleep on `W`. `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`PopTimeoutError::Timeout`] if still empty at the deadline,
    /// [`PopTimeoutError::Disconnected`], [`PopTimeoutError::Corrupted`].
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

    /// Waits until at least one element can be received (or the producer
    /// closed the ring), without receiving it. `None` waits forever.
    ///
    /// # Errors
    ///
    /// As [`Consumer::pop_blocking`], except that `Disconnected` is reported
    /// only once nothing is left to receive.
    pub fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<u32, PopTimeoutError> {
        let deadline = deadline_after(&self.wait, timeout);
        let events = &self.state.ring.hdr().events.0;
        let mode = self.state.mode;
        let state = &mut self.state;
        let outcome =
            events
                .data_ready
                .wait_until_in(mode, &self.wait, self.spin_limit, deadline, || match state
                    .available_at_least(1)
                {
                    Ok(0) if state.producer_closed_and_drained() => {
                        Some(Err(PopTimeoutError::Disconnected))
                    }
                    Ok(0) => None,
                    Ok(n) => Some(Ok(n)),
                    Err(Corrupted) => Some(Err(PopTimeoutError::Corrupted)),
                });
        outcome.unwrap_or(Err(PopTimeoutError::Timeout))
    }

    /// Lends the `n` oldest filled slots to read in place; they stay in the
    /// ring until the chunk's `release`.
    ///
    /// # Errors
    ///
    /// [`ChunkError::TooFewSlots`] with the number of filled slots if fewer
    /// than `n` (and the producer is there), [`ChunkError::Disconnected`] if
    /// the producer closed and fewer than `n` are left,
    /// [`ChunkError::Corrupted`].
    pub fn read_chunk(&mut self, n: u32) -> Result<ReadChunk<'_, 'a, T, W>, ChunkError> {
        self.state.read_chunk(&self.wait, n)
    }

    /// Filled slots, as far as this consumer knows (reloads the producer's
    /// position). Stays a lower bound until this consumer reads.
    pub fn len(&mut self) -> u32 {
        self.state.available_at_least(u32::MAX).unwrap_or(0)
    }

    /// Whether no element is ready to receive (reloads the producer's position).
    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.state.ring.capacity()
    }

    /// Whether the producer has closed the ring. Elements it sent before may
    /// still be waiting. Racy: a new producer may claim the role right after.
    pub fn is_disconnected(&self) -> bool {
        self.state.ring.hdr().control.0.producer.is_closed()
    }

    /// Polls a blocking call makes before sleeping ([`DEFAULT_SPIN_LIMIT`]
    /// unless set).
    pub fn set_spin_limit(&mut self, polls: u32) {
        self.spin_limit = polls;
    }

    /// The current spin limit.
    pub fn spin_limit(&self) -> u32 {
        self.spin_limit
    }

    /// The ring this consumer reads.
    pub fn ring(&self) -> Spsc<'a, T> {
        self.state.ring
    }

    /// The waiter this consumer sleeps and wakes with.
    pub fn waiter(&self) -> &W {
        &self.wait
    }
}

impl<'a, T: Pod> ConsumerState<'a, T> {
    /// [`Consumer::read_chunk`] on the state, with the waiter lent separately.
    pub(crate) fn read_chunk<'c, W: Wait>(
        &'c mut self,
        wait: &'c W,
        n: u32,
    ) -> Result<ReadChunk<'c, 'a, T, W>, ChunkError> {
        let available = self
            .available_at_least(n)
            .map_err(|Corrupted| ChunkError::Corrupted)?;
        if available < n {
            if self.producer_closed_and_drained_below(n) {
                return Err(ChunkError::Disconnected);
            }
            return Err(ChunkError::TooFewSlots(available));
        }
        Ok(ReadChunk::new(self, wait, n))
    }

    /// Filled slots; reloads the producer's position only if the cache shows
    /// fewer than `wanted`.
    #[inline]
    pub(crate) fn available_at_least(&mut self, wanted: u32) -> Result<u32, Corrupted> {
        // Cache invariant: tail_cache - head <= capacity.
        let available = self.tail_cache.wrapping_sub(self.head);
        if available >= wanted {
            return Ok(available);
        }
        // SYNC POINT spsc tail: Acquire pairs with the producer's Release
        // store of `tail`: the slots before it are fully written.
        let tail = self.ring.hdr().tail.0.load(Ordering::Acquire);
        let available = tail.wrapping_sub(self.head);
        if available > self.ring.capacity() {
            return Err(Corrupted);
        }
        self.tail_cache = tail;
        Ok(available)
    }

    /// With the ring seen empty: whether the producer has closed it and
    /// nothing arrived before it did.
    pub(crate) fn producer_closed_and_drained(&mut self) -> bool {
        self.producer_closed_and_drained_below(1)
    }

    /// Whether the producer has closed the ring with fewer than `n` elements
    /// left in it.
    pub(crate) fn producer_closed_and_drained_below(&mut self, n: u32) -> bool {
        // SYNC POINT claim: Acquire pairs with the producer's release CAS,
        // which follows its last `tail` store; the reload below sees it.
        if !self.ring.hdr().control.0.producer.is_closed() {
            return false;
        }
        // A corrupted tail is not "drained": the caller's next load reports it.
        matches!(self.available_at_least(n), Ok(a) if a < n)
    }

    #[inline]
    pub(crate) fn pop<W: Wait>(&mut self, wait: &W) -> Result<T, PopError> {
        match self.available_at_least(1) {
            Ok(0) if self.producer_closed_and_drained() => return Err(PopError::Disconnected),
            Ok(0) => {
                // The producer may have published and closed between our
                // tail load and the closed check; that is caught above.
                return Err(PopError::Empty);
            }
            Ok(_) => {}
            Err(Corrupted) => return Err(PopError::Corrupted),
        }
        let index = self.head & self.ring.mask();
        self.ring.hdr().tracker.read(index, 1);
        // SAFETY: `index` is masked; the slot is filled (tail - head >= 1 with
        // tail read with Acquire), so the producer does not write it until we
        // release it; it holds an initialised `T` (zeroed at init, or written).
        let value = unsafe { load_slot(self.ring.slot(index)) };
        self.release(1, wait);
        Ok(value)
    }

    pub(crate) fn pop_slice<W: Wait>(
        &mut self,
        out: &mut [T],
        wait: &W,
    ) -> Result<usize, PopError> {
        if out.is_empty() {
            return Ok(0);
        }
        let wanted = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let n = match self.available_at_least(wanted) {
            Ok(0) if self.producer_closed_and_drained() => return Err(PopError::Disconnected),
            Ok(0) => return Err(PopError::Empty),
            Ok(available) => available.min(wanted),
            Err(Corrupted) => return Err(PopError::Corrupted),
        };
        let start = self.head & self.ring.mask();
        self.ring.hdr().tracker.read(start, n);
        for (i, slot) in out.iter_mut().take(n as usize).enumerate() {
            let index = start.wrapping_add(i as u32) & self.ring.mask();
            // SAFETY: `n` slots from the masked head are filled (checked with
            // an Acquire load of `tail`), and `index` is masked; atomic
            // loads, so a peer forging positions cannot make this a race.
            *slot = unsafe { load_slot(self.ring.slot(index)) };
        }
        self.release(n, wait);
        Ok(n as usize)
    }

    /// Splits `n` slots from the head into the run up to the end of the body
    /// and the run that wraps to its start.
    #[inline]
    pub(crate) fn filled_runs(&self, n: u32) -> (u32, u32) {
        let start = self.head & self.ring.mask();
        let first = n.min(self.ring.capacity() - start);
        (first, n - first)
    }

    /// Hands `n` read slots back to the producer and wakes it if asleep.
    #[inline]
    pub(crate) fn release<W: Wait>(&mut self, n: u32, wait: &W) {
        self.head = self.head.wrapping_add(n);
        let hdr = self.ring.hdr();
        // SYNC POINT spsc head: Release pairs with the producer's Acquire
        // load of `head`: our slot reads happen before it overwrites them.
        hdr.head.0.store(self.head, Ordering::Release);
        hdr.events.0.space_ready.notify_in(self.mode, wait);
    }
}

impl<T, W: Wait> Drop for Consumer<'_, T, W> {
    fn drop(&mut self) {
        let hdr = self.state.ring.hdr();
        // Releases the role as CLOSED (Release, see claim.rs) and wakes a
        // producer sleeping on a full ring so it sees the disconnect.
        if hdr.control.0.consumer.release(self.state.generation) {
            hdr.events
                .0
                .space_ready
                .notify_in(self.state.mode, &self.wait);
        }
    }
}
