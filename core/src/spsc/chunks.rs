//! In-place (zero-copy) access to the slots: borrow free slots, write them,
//! `commit(n)`; borrow filled slots, read them, `release(n)` — as rtrb's
//! chunks do. A chunk's slots may wrap past the end of the body, so each chunk
//! shows them as two slices.
//!
//! Slots always hold initialised `T` (zeroed at init, `T: Pod`), so a write
//! chunk lends `&mut [T]` and needs no unsafe `commit`.

#![allow(unsafe_code)]

use bytemuck::Pod;

use super::consumer::ConsumerState;
use super::producer::ProducerState;
use crate::wait::Wait;

/// `n` free slots lent by [`Producer::write_chunk`](super::Producer::write_chunk).
/// Dropping the chunk without committing sends nothing.
#[derive(Debug)]
pub struct WriteChunk<'p, 'a, T: Pod, W: Wait> {
    state: &'p mut ProducerState<'a, T>,
    wait: &'p W,
    first: u32,
    second: u32,
}

impl<'p, 'a, T: Pod, W: Wait> WriteChunk<'p, 'a, T, W> {
    /// Lends the `n` slots from the tail; the caller checked they are free.
    pub(crate) fn new(state: &'p mut ProducerState<'a, T>, wait: &'p W, n: u32) -> Self {
        let (first, second) = state.free_runs(n);
        let start = state.tail & state.ring.mask();
        state.ring.hdr().tracker.write(start, n);
        WriteChunk {
            state,
            wait,
            first,
            second,
        }
    }

    /// Number of slots in the chunk.
    pub fn len(&self) -> u32 {
        self.first + self.second
    }

    /// Whether the chunk has no slots.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lent slots, in order: up to the end of the ring, then from its
    /// start. Their contents are whatever was there before.
    pub fn as_mut_slices(&mut self) -> (&mut [T], &mut [T]) {
        let ring = self.state.ring;
        let start = self.state.tail & ring.mask();
        // SAFETY: the runs are `first` slots from the masked tail and
        // `second` from slot 0, all free (checked by `write_chunk` with an
        // Acquire load of `head`), inside the body, and disjoint from each
        // other; the consumer does not touch free slots, and the chunk holds
        // the producer mutably, so nothing else writes them while lent.
        unsafe {
            (
                core::slice::from_raw_parts_mut(ring.slot(start), self.first as usize),
                core::slice::from_raw_parts_mut(ring.slot(0), self.second as usize),
            )
        }
    }

    /// Copies `values` into the start of the chunk; returns how many fit.
    pub fn fill_from(&mut self, values: &[T]) -> usize {
        let (a, b) = self.as_mut_slices();
        let n_a = a.len().min(values.len());
        a[..n_a].copy_from_slice(&values[..n_a]);
        let rest = &values[n_a..];
        let n_b = b.len().min(rest.len());
        b[..n_b].copy_from_slice(&rest[..n_b]);
        n_a + n_b
    }

    /// Sends the first `n` slots of the chunk.
    ///
    /// # Panics
    ///
    /// If `n` exceeds the chunk's length (a programmer error).
    pub fn commit(self, n: u32) {
        assert!(
            n <= self.len(),
            "commit({n}) on a chunk of {} slots",
            self.len()
        );
        self.state.publish(n, self.wait);
    }

    /// Sends every slot of the chunk.
    pub fn commit_all(self) {
        let n = self.len();
        self.commit(n);
    }
}

/// `n` filled slots lent by [`Consumer::read_chunk`](super::Consumer::read_chunk).
/// Dropping the chunk without releasing leaves them in the ring.
#[derive(Debug)]
pub struct ReadChunk<'c, 'a, T: Pod, W: Wait> {
    state: &'c mut ConsumerState<'a, T>,
    wait: &'c W,
    first: u32,
    second: u32,
}

impl<'c, 'a, T: Pod, W: Wait> ReadChunk<'c, 'a, T, W> {
    /// Lends the `n` slots from the head; the caller checked they are filled.
    pub(crate) fn new(state: &'c mut ConsumerState<'a, T>, wait: &'c W, n: u32) -> Self {
        let (first, second) = state.filled_runs(n);
        let start = state.head & state.ring.mask();
        state.ring.hdr().tracker.read(start, n);
        ReadChunk {
            state,
            wait,
            first,
            second,
        }
    }

    /// Number of slots in the chunk.
    pub fn len(&self) -> u32 {
        self.first + self.second
    }

    /// Whether the chunk has no slots.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lent slots, oldest first: up to the end of the ring, then from
    /// its start.
    pub fn as_slices(&self) -> (&[T], &[T]) {
        let ring = self.state.ring;
        let start = self.state.head & ring.mask();
        // SAFETY: the runs are `first` slots from the masked head and
        // `second` from slot 0, all filled (checked by `read_chunk` with an
        // Acquire load of `tail`) and inside the body; the producer does not
        // write filled slots until we release them (see `attach_raw` for a
        // hostile peer), and they hold initialised `T`.
        unsafe {
            (
                core::slice::from_raw_parts(ring.slot(start), self.first as usize),
                core::slice::from_raw_parts(ring.slot(0), self.second as usize),
            )
        }
    }

    /// Copies the chunk's elements into the start of `out`; returns how many.
    pub fn copy_to(&self, out: &mut [T]) -> usize {
        let (a, b) = self.as_slices();
        let n_a = a.len().min(out.len());
        out[..n_a].copy_from_slice(&a[..n_a]);
        let n_b = b.len().min(out.len() - n_a);
        out[n_a..n_a + n_b].copy_from_slice(&b[..n_b]);
        n_a + n_b
    }

    /// Hands the first `n` slots of the chunk back to the producer.
    ///
    /// # Panics
    ///
    /// If `n` exceeds the chunk's length (a programmer error).
    pub fn release(self, n: u32) {
        assert!(
            n <= self.len(),
            "release({n}) on a chunk of {} slots",
            self.len()
        );
        self.state.release(n, self.wait);
    }

    /// Hands every slot of the chunk back to the producer.
    pub fn release_all(self) {
        let n = self.len();
        self.release(n);
    }
}
