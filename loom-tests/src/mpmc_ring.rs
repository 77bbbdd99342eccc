//! [`LoomMpmc`]: an MPMC ring in a heap region, with participant handles that
//! own a share of it.

extern crate alloc;

use alloc::alloc::{alloc_zeroed, dealloc, handle_alloc_error};
use alloc::sync::Arc;
use core::alloc::Layout;
use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use annulus::Pod;
use annulus::claim::Claim;
use annulus::mpmc::{
    InitOptions, Mpmc, ParticipantInfo, Receiver, RegisterError, RepairError, RepairReport, Sender,
};
use annulus::wait::Wait;

use crate::LoomWait;

/// A sender of a [`LoomMpmc`] that sleeps on a [`LoomWait`].
pub type LoomSender<T> = MpmcHeld<Sender<'static, T, LoomWait>>;

/// A receiver of a [`LoomMpmc`] that sleeps on a [`LoomWait`].
pub type LoomReceiver<T> = MpmcHeld<Receiver<'static, T, LoomWait>>;

/// A zeroed heap allocation, freed on drop.
#[derive(Debug)]
struct Buffer {
    ptr: NonNull<u8>,
    layout: Layout,
}

// SAFETY: `Buffer` owns its allocation and never touches the bytes after
// creating it; the ring laid into it reaches them only through atomics and
// through participant handles whose claims keep each slot owned by one
// participant at a time.
unsafe impl Send for Buffer {}
// SAFETY: as above; `&Buffer` gives no access to the bytes.
unsafe impl Sync for Buffer {}

impl Buffer {
    fn zeroed(layout: Layout) -> Self {
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

/// A fresh MPMC ring of `T` in a heap region that lives as long as the last
/// of this value, its clones and the [`MpmcHeld`] handles registered from it.
///
/// Create one inside each `loom::model` iteration. Clones share the ring, so
/// a clone can be moved into a thread to register or repair there.
#[derive(Debug)]
pub struct LoomMpmc<T> {
    // The region is borrowed as `'static` only because `region` keeps it
    // alive for as long as this value or any handle that outlives it.
    ring: Mpmc<'static, T>,
    region: Arc<Buffer>,
}

impl<T> Clone for LoomMpmc<T> {
    fn clone(&self) -> Self {
        LoomMpmc {
            ring: self.ring,
            region: Arc::clone(&self.region),
        }
    }
}

impl<T: Pod> LoomMpmc<T> {
    /// Initialises an empty ring of `capacity` slots and `participants`
    /// records (`Mpmc::init_raw`) in a zeroed, 128-aligned heap region of
    /// exactly `Mpmc::layout(capacity, participants)` bytes.
    ///
    /// # Panics
    ///
    /// If `Mpmc::layout` rejects the arguments.
    pub fn new(capacity: u32, participants: u32) -> Self {
        let layout = Mpmc::<T>::layout(capacity, participants).expect("valid ring geometry");
        let alloc_layout =
            Layout::from_size_align(layout.size, layout.align).expect("valid region layout");
        let region = Arc::new(Buffer::zeroed(alloc_layout));
        // SAFETY: the region is `layout.size` bytes, valid for reads and
        // writes, fresh (nobody else accesses it during init) and freed only
        // when the last `Arc` goes; every view of it that this type hands out
        // holds a clone of that `Arc` (`MpmcHeld`), or is `self.ring`, which
        // lives no longer than `self`. After init it is accessed only through
        // the ring's views.
        let ring = unsafe {
            Mpmc::<T>::init_raw(
                region.ptr,
                layout.size,
                capacity,
                participants,
                InitOptions::default(),
            )
        }
        .expect("init of a correctly sized and aligned region");
        LoomMpmc { ring, region }
    }

    /// Registers a sender for process `pid` (`Mpmc::register_sender`).
    ///
    /// # Errors
    ///
    /// As `Mpmc::register_sender`.
    pub fn sender<W: Wait>(
        &self,
        pid: u32,
        wait: W,
    ) -> Result<MpmcHeld<Sender<'static, T, W>>, RegisterError> {
        self.ring
            .register_sender(pid, wait)
            .map(|handle| self.hold(handle))
    }

    /// Registers a receiver for process `pid` (`Mpmc::register_receiver`).
    ///
    /// # Errors
    ///
    /// As `Mpmc::register_receiver`.
    pub fn receiver<W: Wait>(
        &self,
        pid: u32,
        wait: W,
    ) -> Result<MpmcHeld<Receiver<'static, T, W>>, RegisterError> {
        self.ring
            .register_receiver(pid, wait)
            .map(|handle| self.hold(handle))
    }

    /// Releases what dead participants hold (`Mpmc::repair`).
    ///
    /// # Errors
    ///
    /// As `Mpmc::repair`.
    pub fn repair<W: Wait>(
        &self,
        repairer_pid: u32,
        wait: &W,
        is_alive: impl FnMut(Claim) -> bool,
        on_orphan: impl FnMut(T),
    ) -> Result<RepairReport, RepairError> {
        self.ring.repair(repairer_pid, wait, is_alive, on_orphan)
    }

    /// Registered senders (`Mpmc::senders`); racy while participants move.
    pub fn senders(&self) -> u32 {
        self.ring.senders()
    }

    /// Registered receivers (`Mpmc::receivers`); racy while participants move.
    pub fn receivers(&self) -> u32 {
        self.ring.receivers()
    }

    /// Slots skipped or taken back by repairs so far (`Mpmc::repairs`).
    pub fn repairs(&self) -> u32 {
        self.ring.repairs()
    }

    /// Claimed, unreceived positions (`Mpmc::len`); racy while a side moves.
    pub fn len(&self) -> u32 {
        self.ring.len()
    }

    /// Whether [`LoomMpmc::len`] is 0.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// A snapshot of participant record `index` (`Mpmc::participant`).
    pub fn participant(&self, index: u32) -> Option<ParticipantInfo> {
        self.ring.participant(index)
    }

    fn hold<H>(&self, handle: H) -> MpmcHeld<H> {
        MpmcHeld {
            handle,
            _region: Arc::clone(&self.region),
        }
    }
}

/// A participant handle together with a share of the region it lives in, so
/// it can be moved into `loom::thread::spawn` and dropped there (dropping it
/// drops the handle, which deregisters it, then the share).
///
/// It dereferences to the handle. Do not move the handle out of it (with
/// `mem::swap` or `mem::replace`): the handle's `'static` lifetime is only
/// true while it sits in here. [`MpmcHeld::into_inner_with`] lends it by
/// value to a consuming call (the `die_after_claim` test hooks) while the
/// share is still held.
#[derive(Debug)]
pub struct MpmcHeld<H> {
    // Declared first, so dropped first: the handle's `Drop` still writes to
    // the region.
    handle: H,
    _region: Arc<Buffer>,
}

impl<H> MpmcHeld<H> {
    /// Calls `f` with the handle by value, keeping the region alive until
    /// after `f` returns (and after whatever `f` leaves of the handle is
    /// dropped inside it).
    pub fn into_inner_with<R>(self, f: impl FnOnce(H) -> R) -> R {
        let MpmcHeld {
            handle,
            _region: region,
        } = self;
        let result = f(handle);
        drop(region);
        result
    }
}

impl<H> Deref for MpmcHeld<H> {
    type Target = H;

    fn deref(&self) -> &H {
        &self.handle
    }
}

impl<H> DerefMut for MpmcHeld<H> {
    fn deref_mut(&mut self) -> &mut H {
        &mut self.handle
    }
}
