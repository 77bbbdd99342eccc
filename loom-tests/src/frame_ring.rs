//! [`LoomFrameRing`]: a frame ring in a heap region, with a writer and a
//! reader that own a share of it.

extern crate alloc;

use alloc::sync::Arc;
use core::alloc::Layout;

use annulus::frame::{FrameReader, FrameRing, FrameWriter};
use annulus::spsc::InitOptions;

use crate::LoomWait;
use crate::held::{Buffer, Held};

/// The writer of a [`LoomFrameRing`], sleeping on a [`LoomWait`].
pub type LoomFrameWriter = Held<FrameWriter<'static, LoomWait>>;

/// The reader of a [`LoomFrameRing`], sleeping on a [`LoomWait`].
pub type LoomFrameReader = Held<FrameReader<'static, LoomWait>>;

/// A fresh frame ring of `capacity` bytes in a heap region that lives as
/// long as the last of this value and the [`Held`] handles claimed from it.
/// Create one inside each `loom::model` iteration.
#[derive(Debug)]
pub struct LoomFrameRing {
    // The region is borrowed as `'static` only because `region` keeps it
    // alive for as long as this value or any handle that outlives it.
    ring: FrameRing<'static>,
    region: Arc<Buffer>,
}

impl LoomFrameRing {
    /// Initialises an empty frame ring (`FrameRing::init_raw`) in a zeroed,
    /// 128-aligned heap region of exactly `FrameRing::layout(capacity)`
    /// bytes.
    ///
    /// # Panics
    ///
    /// If `capacity` is not a valid frame ring capacity.
    pub fn new(capacity: u32) -> Self {
        let layout = FrameRing::layout(capacity).expect("valid capacity");
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
            FrameRing::init_raw(region.ptr, layout.size, capacity, InitOptions::default())
        }
        .expect("init of a correctly sized and aligned region");
        LoomFrameRing { ring, region }
    }

    /// Claims both roles, each with a clone of one new [`LoomWait`], so the
    /// two sides sleep on and wake the same futex.
    ///
    /// # Panics
    ///
    /// If either role is already held.
    pub fn pair(&self) -> (LoomFrameWriter, LoomFrameReader) {
        let wait = LoomWait::new();
        let writer = self.ring.writer(wait.clone()).expect("writer role free");
        let reader = self.ring.reader(wait).expect("reader role free");
        (
            Held::new(writer, Arc::clone(&self.region)),
            Held::new(reader, Arc::clone(&self.region)),
        )
    }

    /// Largest payload a frame can carry (`FrameRing::max_payload`).
    pub fn max_payload(&self) -> u32 {
        self.ring.max_payload()
    }

    /// Committed, unreleased bytes (`FrameRing::len_bytes`); racy.
    pub fn len_bytes(&self) -> u32 {
        self.ring.len_bytes()
    }
}
