//! [`LoomMpmc`]: an MPMC ring in a heap region, with participant handles that
//! own a share of it.

extern crate alloc;

use alloc::sync::Arc;
use core::alloc::Layout;

use annulus::Pod;
use annulus::claim::Claim;
use annulus::mpmc::{
    InitOptions, Mpmc, ParticipantInfo, Receiver, RegisterError, RepairError, RepairReport, Sender,
};
use annulus::wait::Wait;

use crate::LoomWait;
use crate::held::{Buffer, Held};

/// A sender of a [`LoomMpmc`] that sleeps on a [`LoomWait`].
pub type LoomSender<T> = Held<Sender<'static, T, LoomWait>>;

/// A receiver of a [`LoomMpmc`] that sleeps on a [`LoomWait`].
pub type LoomReceiver<T> = Held<Receiver<'static, T, LoomWait>>;

/// A fresh MPMC ring of `T` in a heap region that lives as long as the last
/// of this value, its clones and the [`Held`] handles registered from it.
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
        // holds a clone of that `Arc` (`Held`), or is `self.ring`, which
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
    ) -> Result<Held<Sender<'static, T, W>>, RegisterError> {
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
    ) -> Result<Held<Receiver<'static, T, W>>, RegisterError> {
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

    fn hold<H>(&self, handle: H) -> Held<H> {
        Held::new(handle, Arc::clone(&self.region))
    }
}
