//! The sync shim: the only module that names atomics, `UnsafeCell`, the spin
//! hint or loom. Under `--cfg loom` every algorithm in the crate runs on loom's
//! instrumented types instead, unchanged (STYLE.md 1, "The sync shim").
//!
//! Shared structures are written with these types and laid into memory with
//! `ptr::write`, so the same code initialises a region over raw shared memory
//! (real atomics, layout pinned by static assertions) and over a heap buffer in
//! a loom model (loom atomics, another layout, no assertions).

#![allow(unsafe_code)]

#[cfg(not(loom))]
use core::mem::{align_of, size_of};

#[cfg(not(loom))]
pub use core::sync::atomic::AtomicU32;
/// A compiler-only fence (the light side of an asymmetric barrier; loom
/// never takes that side, so the core one serves both builds).
pub(crate) use core::sync::atomic::compiler_fence;
#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{Ordering, fence};
#[cfg(loom)]
pub use loom::sync::atomic::AtomicU32;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{Ordering, fence};

/// A 64-bit atomic word, for the one structure that needs it (the message
/// queue's root: a block index and a 48-bit version, so that a compare-and-swap
/// cannot succeed on a recycled block). Only on targets with 64-bit atomics;
/// everything else in the crate uses `u32` words (the clippy ban on
/// `AtomicU64` keeps it that way, and this wrapper is its one exception).
#[cfg(target_has_atomic = "64")]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct Atomic64(
    #[cfg(not(loom))]
    #[allow(clippy::disallowed_types)]
    core::sync::atomic::AtomicU64,
    #[cfg(loom)] loom::sync::atomic::AtomicU64,
);

#[cfg(target_has_atomic = "64")]
impl Atomic64 {
    pub(crate) fn new(value: u64) -> Self {
        #[cfg(not(loom))]
        #[allow(clippy::disallowed_types)]
        let inner = core::sync::atomic::AtomicU64::new(value);
        #[cfg(loom)]
        let inner = loom::sync::atomic::AtomicU64::new(value);
        Atomic64(inner)
    }

    #[inline(always)]
    pub(crate) fn load(&self, order: Ordering) -> u64 {
        self.0.load(order)
    }

    #[inline(always)]
    pub(crate) fn swap(&self, value: u64, order: Ordering) -> u64 {
        self.0.swap(value, order)
    }

    #[inline(always)]
    pub(crate) fn compare_exchange(
        &self,
        current: u64,
        new: u64,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u64, u64> {
        self.0.compare_exchange(current, new, success, failure)
    }
}

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

/// Copies a value out of a slot in shared memory with relaxed atomic loads
/// (32-bit words when `T` is word-aligned and word-sized, else bytes).
///
/// A peer process may write the slot at any moment, and a peer that forges a
/// slot's state can make two threads of this process use the slot at once;
/// with atomic accesses either case is a torn (wrong) value, never a data race
/// of this process (DESIGN.md rule 3). Under loom the copy is plain: the
/// [`SlotTracker`] checks the slot protocol there.
///
/// # Safety
///
/// `src` is valid for reads of a `T` and aligned for it, and this process
/// accesses that memory only through [`load_slot`] and [`store_slot`].
#[inline(always)]
pub(crate) unsafe fn load_slot<T: bytemuck::Pod>(src: *const T) -> T {
    #[cfg(loom)]
    {
        // SAFETY: the caller's contract.
        unsafe { src.read() }
    }
    #[cfg(not(loom))]
    {
        use core::sync::atomic::AtomicU8;
        let mut value = T::zeroed();
        let bytes = bytemuck::bytes_of_mut(&mut value);
        if align_of::<T>() >= 4 && size_of::<T>() % 4 == 0 {
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                // SAFETY: word `i` of `*src`: in bounds, 4-aligned, valid
                // (the caller's contract); only accessed atomically.
                let word = unsafe { AtomicU32::from_ptr(src.cast::<u32>().cast_mut().add(i)) };
                // Relaxed: ordering comes from the slot protocol's Acquire.
                chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
            }
        } else {
            for (i, byte) in bytes.iter_mut().enumerate() {
                // SAFETY: byte `i` of `*src`, valid (the caller's contract).
                let cell = unsafe { AtomicU8::from_ptr(src.cast::<u8>().cast_mut().add(i)) };
                // Relaxed: as above.
                *byte = cell.load(Ordering::Relaxed);
            }
        }
        value
    }
}

/// Copies `value` into a slot in shared memory with relaxed atomic stores;
/// see [`load_slot`].
///
/// # Safety
///
/// `dst` is valid for writes of a `T` and aligned for it, and this process
/// accesses that memory only through [`load_slot`] and [`store_slot`].
#[inline(always)]
pub(crate) unsafe fn store_slot<T: bytemuck::Pod>(dst: *mut T, value: T) {
    #[cfg(loom)]
    {
        // SAFETY: the caller's contract.
        unsafe { dst.write(value) }
    }
    #[cfg(not(loom))]
    {
        use core::sync::atomic::AtomicU8;
        let bytes = bytemuck::bytes_of(&value);
        if align_of::<T>() >= 4 && size_of::<T>() % 4 == 0 {
            for (i, chunk) in bytes.chunks_exact(4).enumerate() {
                // SAFETY: word `i` of `*dst`: in bounds, 4-aligned, valid.
                let word = unsafe { AtomicU32::from_ptr(dst.cast::<u32>().add(i)) };
                let chunk = [chunk[0], chunk[1], chunk[2], chunk[3]];
                // Relaxed: published by the slot protocol's Release.
                word.store(u32::from_ne_bytes(chunk), Ordering::Relaxed);
            }
        } else {
            for (i, &byte) in bytes.iter().enumerate() {
                // SAFETY: byte `i` of `*dst`, valid.
                let cell = unsafe { AtomicU8::from_ptr(dst.cast::<u8>().add(i)) };
                // Relaxed: as above.
                cell.store(byte, Ordering::Relaxed);
            }
        }
    }
}

/// Copies `src` into shared memory at `dst` with relaxed atomic 32-bit
/// stores; see [`load_slot`] for why. The last word is zero-padded, so
/// `src.len()` rounded up to 4 bytes are written: every access to such memory
/// is then a whole aligned word (miri rejects mixed-size atomic accesses).
///
/// # Safety
///
/// `dst..dst + src.len().next_multiple_of(4)` is valid for writes, `dst` is
/// 4-aligned, and this process accesses that memory only through these copy
/// functions.
#[inline]
#[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
pub(crate) unsafe fn store_bytes(dst: *mut u8, src: &[u8]) {
    #[cfg(loom)]
    {
        // SAFETY: the caller's contract; `src` is process-local.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) }
    }
    #[cfg(not(loom))]
    for (i, chunk) in src.chunks(4).enumerate() {
        let mut bytes = [0u8; 4];
        bytes[..chunk.len()].copy_from_slice(chunk);
        // SAFETY: word `i` of the destination: in bounds (the padded length),
        // 4-aligned.
        let word = unsafe { AtomicU32::from_ptr(dst.cast::<u32>().add(i)) };
        // Relaxed: published by the structure's Release.
        word.store(u32::from_ne_bytes(bytes), Ordering::Relaxed);
    }
}

/// Copies `dst.len()` bytes of shared memory at `src` into `dst` with
/// relaxed atomic 32-bit loads (reading `dst.len()` rounded up to 4); see
/// [`store_bytes`].
///
/// # Safety
///
/// `src..src + dst.len().next_multiple_of(4)` is valid for reads, `src` is
/// 4-aligned, and this process accesses that memory only through these copy
/// functions.
#[inline]
#[cfg_attr(not(target_has_atomic = "64"), allow(dead_code))]
pub(crate) unsafe fn load_bytes(src: *const u8, dst: &mut [u8]) {
    #[cfg(loom)]
    {
        // SAFETY: the caller's contract; `dst` is process-local.
        unsafe { core::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) }
    }
    #[cfg(not(loom))]
    for (i, chunk) in dst.chunks_mut(4).enumerate() {
        // SAFETY: word `i` of the source: in bounds (the padded length),
        // 4-aligned.
        let word = unsafe { AtomicU32::from_ptr(src.cast::<u32>().cast_mut().add(i)) };
        // Relaxed: ordered by the structure's Acquire.
        let bytes = word.load(Ordering::Relaxed).to_ne_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}
