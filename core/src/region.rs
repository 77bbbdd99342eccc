//! [`Region`]: correctly aligned bytes to lay a structure into, for in-process
//! use (a stack buffer, a `Box`, or a `static` on a microcontroller).

#![allow(unsafe_code)]

use core::mem::MaybeUninit;

use crate::sync::{LocalFlag, Ordering, UnsafeCell};

/// `N` bytes aligned to [`REGION_ALIGN`](crate::layout::REGION_ALIGN).
///
/// Size it with the structure's `region_size`, a `const fn`, e.g.
/// `Region<{ Spsc::<u64>::region_size(1024) }>`.
///
/// # Examples
///
/// Two threads through a ring in a `static` buffer, no allocation:
///
/// ```
/// use annulus::region::Region;
/// use annulus::spsc::Spsc;
/// use annulus::wait::Spin;
///
/// const SIZE: usize = Spsc::<u32>::region_size(256);
/// static BUFFER: Region<SIZE> = Region::new();
///
/// let ring = Spsc::<u32>::init(BUFFER.take().unwrap(), 256).unwrap();
/// let clock = || 0u64;
/// let mut tx = ring.producer(Spin::new(clock)).unwrap();
/// let mut rx = ring.consumer(Spin::new(clock)).unwrap();
/// let sender = std::thread::spawn(move || {
///     for i in 0..1000 {
///         tx.push_blocking(i, None).unwrap();
///     }
/// });
/// for i in 0..1000 {
///     assert_eq!(rx.pop_blocking(None), Ok(i));
/// }
/// sender.join().unwrap();
/// assert!(BUFFER.take().is_none(), "a static region is handed out once");
/// ```
#[repr(C, align(128))]
pub struct Region<const N: usize> {
    bytes: UnsafeCell<[MaybeUninit<u8>; N]>,
    taken: LocalFlag,
}

// SAFETY: the bytes are reachable only through `take` (once, guarded by the
// atomic flag) or `as_uninit_mut` (which needs `&mut self`), so two threads
// never get overlapping mutable access.
unsafe impl<const N: usize> Sync for Region<N> {}

impl<const N: usize> Region<N> {
    /// Uninitialised bytes (a `const fn`, so it works in a `static`).
    pub const fn new() -> Self {
        Region {
            bytes: UnsafeCell::new([MaybeUninit::uninit(); N]),
            taken: LocalFlag::new(false),
        }
    }

    /// The bytes, mutably, for a region you own.
    pub fn as_uninit_mut(&mut self) -> &mut [MaybeUninit<u8>] {
        self.bytes.get_mut()
    }

    /// The bytes of a `static` region, handed out at most once.
    // The flag makes this the single `&mut` ever created from `&self`.
    #[allow(clippy::mut_from_ref)]
    pub fn take(&'static self) -> Option<&'static mut [MaybeUninit<u8>]> {
        // Relaxed: the flag only has to be won by one caller; the bytes
        // carry no data from before.
        if self.taken.swap(true, Ordering::Relaxed) {
            return None;
        }
        // SAFETY: the swap above returns `false` to exactly one caller, so
        // this is the only reference to the bytes for the rest of the program.
        Some(unsafe { &mut *self.bytes.get() })
    }
}

impl<const N: usize> Default for Region<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for Region<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Region")
            .field("len", &N)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_static_region_is_handed_out_once_and_aligned() {
        static R: Region<256> = Region::new();
        let bytes = R.take().unwrap();
        assert_eq!(bytes.len(), 256);
        assert_eq!(bytes.as_ptr() as usize % crate::layout::REGION_ALIGN, 0);
        assert!(R.take().is_none());
        let mut local = Region::<8>::default();
        assert_eq!(local.as_uninit_mut().len(), 8);
    }
}
