//! [`Held`]: a ring handle together with a share of the heap region the
//! ring lives in, so handles can be moved into `loom::thread::spawn`; and the
//! region itself ([`Buffer`]). Shared by the SPSC and MPMC helpers.

extern crate alloc;

use alloc::alloc::{alloc_zeroed, dealloc, handle_alloc_error};
use alloc::sync::Arc;
use core::alloc::Layout;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

/// A zeroed heap allocation, freed on drop.
#[derive(Debug)]
pub(crate) struct Buffer {
    pub(crate) ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: `Buffer` owns its allocation and never touches the bytes after
// creating it; the rings laid into it reach them only through atomics and
// through handles whose claims keep each slot owned by one side at a time.
unsafe impl Send for Buffer {}
// SAFETY: as above; `&Buffer` gives no access to the bytes.
unsafe impl Sync for Buffer {}

impl Buffer {
    pub(crate) fn zeroed(layout: Layout) -> Self {
        assert!(layout.size() > 0, "a ring region is never empty");
        // SAFETY: the layout has a non-zero size (asserted above).
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else {
            handle_alloc_error(layout)
        };
        Buffer { ptr, layout }
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout, freed only here.
        // The ring header's own heap data (loom's slot tracker) is never
        // dropped, so it leaks a few bytes per model iteration.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) };
    }
}

/// A ring handle together with a share of the region it lives in, so it can
/// be moved into `loom::thread::spawn` and dropped there (dropping it drops
/// the handle, which closes its role or deregisters it, then the share).
///
/// It dereferences to the handle. Do not move the handle out of it (with
/// `mem::swap` or `mem::replace`): the handle's `'static` lifetime is only
/// true while it sits in here. [`Held::into_inner_with`] lends it by value
/// to a consuming call (the `die_after_claim` test hooks) while the share is
/// still held.
#[derive(Debug)]
pub struct Held<H> {
    // Declared first, so dropped first: the handle's `Drop` still writes to
    // the region.
    handle: H,
    _region: Arc<Buffer>,
}

impl<H> Deref for Held<H> {
    type Target = H;

    fn deref(&self) -> &H {
        &self.handle
    }
}

impl<H> DerefMut for Held<H> {
    fn deref_mut(&mut self) -> &mut H {
        &mut self.handle
    }
}

impl<H> Held<H> {
    /// A handle of a ring laid into `region`.
    pub(crate) fn new(handle: H, region: Arc<Buffer>) -> Self {
        Held {
            handle,
            _region: region,
        }
    }

    /// Calls `f` with the handle by value, keeping the region alive until
    /// after `f` returns (and after whatever `f` leaves of the handle is
    /// dropped inside it).
    pub fn into_inner_with<R>(self, f: impl FnOnce(H) -> R) -> R {
        let Held {
            handle,
            _region: region,
        } = self;
        let result = f(handle);
        drop(region);
        result
    }
}
