//! The sync shim: the only module that names atomics, `UnsafeCell`, the spin
//! hint or loom. Under `--cfg loom` every algorithm in the crate runs on loom's
//! instrumented types instead, unchanged (STYLE.md 1, "The sync shim").
//!
//! Shared structures are written with these types and laid into memory with
//! `ptr::write`, so the same code initialises a region over raw shared memory
//! (real atomics, layout pinned by static assertions) and over a heap buffer in
//! a loom model (loom atomics, another layout, no assertions).

#[cfg(not(loom))]
pub use core::sync::atomic::AtomicU32;
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{Ordering, fence};
#[cfg(loom)]
pub use loom::sync::atomic::AtomicU32;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{Ordering, fence};

/// Interior mutability for process-local statics (never in shared memory).
pub(crate) use core::cell::UnsafeCell;
/// A process-local flag for statics (never in shared memory, never modelled).
pub(crate) use core::sync::atomic::AtomicBool as LocalFlag;

/// Tell the CPU (or loom's scheduler) that this thread is spinning.
#[inline(always)]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Records accesses to ring slots so loom can check them for data races.
///
/// Slots live in raw memory and are copied with `ptr` reads and writes (a chunk
/// hands out a contiguous slice, which per-slot loom cells could not). Outside
/// loom this type is empty and every method compiles to nothing; under loom it
/// keeps one `loom::cell::UnsafeCell<()>` per slot and touches it on each read
/// and write, so an ordering bug that lets the two sides use a slot at the same
/// time fails the model.
#[derive(Debug)]
pub(crate) struct SlotTracker {
    #[cfg(loom)]
    cells: alloc::vec::Vec<loom::cell::UnsafeCell<()>>,
}

impl SlotTracker {
    /// A tracker for `capacity` slots.
    pub(crate) fn new(capacity: u32) -> Self {
        #[cfg(loom)]
        {
            let cells = (0..capacity)
                .map(|_| loom::cell::UnsafeCell::new(()))
                .collect();
            SlotTracker { cells }
        }
        #[cfg(not(loom))]
        {
            let _ = capacity;
            SlotTracker {}
        }
    }

    /// Marks slots `index..index + count` (wrapping modulo the capacity) as
    /// written by this thread now.
    #[inline(always)]
    pub(crate) fn write(&self, index: u32, count: u32) {
        #[cfg(loom)]
        for i in 0..count {
            let cell = &self.cells[(index.wrapping_add(i) as usize) % self.cells.len()];
            cell.with_mut(|_| ());
        }
        #[cfg(not(loom))]
        let _ = (index, count);
    }

    /// Marks slots `index..index + count` (wrapping) as read by this thread now.
    #[inline(always)]
    pub(crate) fn read(&self, index: u32, count: u32) {
        #[cfg(loom)]
        for i in 0..count {
            let cell = &self.cells[(index.wrapping_add(i) as usize) % self.cells.len()];
            cell.with(|_| ());
        }
        #[cfg(not(loom))]
        let _ = (index, count);
    }
}
