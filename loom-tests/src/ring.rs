//! [`LoomRing`]: a ring in a heap region, with handles that own a share of it.

extern crate alloc;

use alloc::sync::Arc;
use core::alloc::Layout;

use annulus::Pod;
use annulus::claim::{Claim, ClaimError, RoleState};
use annulus::spsc::{Consumer, InitOptions, Producer, Spsc};
use annulus::wait::Wait;

use crate::LoomWait;
use crate::held::{Buffer, Held};

/// A producer of a [`LoomRing`] that sleeps on a [`LoomWait`].
pub type LoomProducer<T> = Held<Producer<'static, T, LoomWait>>;

/// A consumer of a [`LoomRing`] that sleeps on a [`LoomWait`].
pub type LoomConsumer<T> = Held<Consumer<'static, T, LoomWait>>;

/// A fresh SPSC ring of `T` in a heap region that lives as long as the last
/// of this value, its clones and the [`Held`] handles claimed from it.
///
/// Create one inside each `loom::model` iteration. Clones share the ring, so
/// a clone can be moved into a thread to claim a role there.
#[derive(Debug)]
pub struct LoomRing<T> {
    // The region is borrowed as `'static` only because `region` keeps it
    // alive for as long as this value or any handle that outlives it.
    ring: Spsc<'static, T>,
    region: Arc<Buffer>,
}

impl<T> Clone for LoomRing<T> {
    fn clone(&self) -> Self {
        LoomRing {
            ring: self.ring,
            region: Arc::clone(&self.region),
        }
    }
}

impl<T: Pod> LoomRing<T> {
    /// Initialises an empty ring of `capacity` elements (`Spsc::init_raw`) in
    /// a zeroed, 128-aligned heap region of exactly `Spsc::layout(capacity)`
    /// bytes.
    ///
    /// # Panics
    ///
    /// If `capacity` is not a valid ring capacity for `T`.
    pub fn new(capacity: u32) -> Self {
        let layout = Spsc::<T>::layout(capacity).expect("valid capacity");
        let alloc_layout =
            Layout::from_size_align(layout.size, layout.align).expect("valid region layout");
        let region = Arc::new(Buffer::zeroed(alloc_layout));
        // SAFETY: the region is `layout.size` bytes, valid for reads and
        // writes, fresh (nobody else accesses it during init) and freed only
        // when the last `Arc` goes; every view of it that this type hands out
        // holds a clone of that `Arc` (`Held`), or is `self.ring`, which lives
        // no longer than `self`. After init it is accessed only through the
        // ring's views.
        let ring = unsafe {
            Spsc::<T>::init_raw(region.ptr, layout.size, capacity, InitOptions::default())
        }
        .expect("init of a correctly sized and aligned region");
        LoomRing { ring, region }
    }

    /// Claims the producer role (`Spsc::producer`).
    ///
    /// # Errors
    ///
    /// As `Spsc::producer`.
    pub fn producer<W: Wait>(&self, wait: W) -> Result<Held<Producer<'static, T, W>>, ClaimError> {
        self.ring.producer(wait).map(|handle| self.hold(handle))
    }

    /// Claims the producer role for `pid` (`Spsc::claim_producer`).
    ///
    /// # Errors
    ///
    /// As `Spsc::claim_producer`.
    pub fn claim_producer<W: Wait>(
        &self,
        pid: u32,
        wait: W,
    ) -> Result<Held<Producer<'static, T, W>>, ClaimError> {
        self.ring
            .claim_producer(pid, wait)
            .map(|handle| self.hold(handle))
    }

    /// Ends a dead producer's tenure (`Spsc::release_dead_producer`).
    pub fn release_dead_producer<W: Wait>(&self, claim: Claim, wait: &W) -> bool {
        self.ring.release_dead_producer(claim, wait)
    }

    /// Claims the consumer role (`Spsc::consumer`).
    ///
    /// # Errors
    ///
    /// As `Spsc::consumer`.
    pub fn consumer<W: Wait>(&self, wait: W) -> Result<Held<Consumer<'static, T, W>>, ClaimError> {
        self.ring.consumer(wait).map(|handle| self.hold(handle))
    }

    /// Claims both roles, each with a clone of one new [`LoomWait`], so the
    /// two sides sleep on and wake the same futex.
    ///
    /// # Panics
    ///
    /// If either role is already held.
    pub fn pair(&self) -> (LoomProducer<T>, LoomConsumer<T>) {
        let wait = LoomWait::new();
        let producer = self.producer(wait.clone()).expect("producer role free");
        let consumer = self.consumer(wait).expect("consumer role free");
        (producer, consumer)
    }

    /// The ring itself, for what takes a view (`Arrivals`, inspection).
    pub fn view(&self) -> &Spsc<'static, T> {
        &self.ring
    }

    /// The producer role's state (`Spsc::producer_state`).
    pub fn producer_state(&self) -> RoleState {
        self.ring.producer_state()
    }

    /// The consumer role's state (`Spsc::consumer_state`).
    pub fn consumer_state(&self) -> RoleState {
        self.ring.consumer_state()
    }

    /// Filled slots (`Spsc::len`); racy while a side moves.
    pub fn len(&self) -> u32 {
        self.ring.len()
    }

    /// Whether no slot is filled (`Spsc::is_empty`).
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    fn hold<H>(&self, handle: H) -> Held<H> {
        Held::new(handle, Arc::clone(&self.region))
    }
}
