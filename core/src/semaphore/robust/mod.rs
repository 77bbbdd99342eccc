//! [`RobustSemaphoreSet`]: a semaphore set whose units come back when the
//! process holding them dies, like System V's `SEM_UNDO`.
//!
//! # What it promises
//!
//! Every user of a robust set is a registered [`Holder`], with a *holder
//! record* in the region: the owner's pid and, per counter, an undo
//! adjustment (`semadj`). An operation through [`Holder::op`] records its
//! effect in the adjustment (a wait of `n` adds `n`, a post of `n` subtracts
//! `n`); [`Holder::op_no_undo`] changes the counters only (the producer and
//! consumer of a "filled" counter, whose units are not borrowed). When a
//! holder dies, [`Holder::release_dead`], run by any survivor, adds each dead
//! record's adjustments back to the counters (clamped to `0..=max`, as Linux
//! clamps `semadj` at exit) and frees the record: a unit a dead process took
//! comes back **exactly once**, whatever instant it was killed at, and even
//! when several survivors repair at the same time. Dropping a holder does the
//! same for its own record (the end of an undo context, like a process exit).
//!
//! A single robust semaphore is a robust set of one counter.
//!
//! # How: one lock, a redo journal, a lock word that names its holder
//!
//! The counters and the adjustments are two different words, which no single
//! atomic instruction can change together. So every operation runs under the
//! set's lock (like [`SemaphoreSet`](super::SemaphoreSet)'s: held for the
//! O(k) check-and-apply of one call, never while sleeping), and writes what
//! it will change to a *journal* first:
//!
//! 1. take the lock; if the journal says `COMMITTED`, redo it (below);
//! 2. compute the new counter values and the new adjustments;
//! 3. write them (absolute values, not deltas) into the journal, then mark
//!    it `COMMITTED` (a Release store);
//! 4. store them into the counters and the record (Release stores);
//! 5. mark the journal `EMPTY`, unlock, wake sleepers.
//!
//! **The invariant.** Outside the lock, or under a lock whose journal is
//! `EMPTY`, each holder record's adjustments are exactly the undo of the
//! undo operations that took effect for it, and the counters reflect exactly
//! the operations that took effect. A `COMMITTED` journal names one
//! operation that took effect as a whole: its values are the truth, the
//! counters and record may show any mix of before and after.
//!
//! **The crash windows.** A holder killed
//! - before step 3's `COMMITTED`: nothing of its operation reached the
//!   counters or its record (the journal's half-written entries are ignored
//!   under `EMPTY`); the operation did not happen;
//! - between `COMMITTED` and step 5: whoever takes the lock next (only a
//!   repair can: the dead never unlocks) redoes the journal; redoing stores
//!   absolute values, so doing it twice (a repairer killed while redoing) is
//!   harmless; the operation happened, counters and adjustment together;
//! - after step 5's `EMPTY` but before unlocking: the operation happened and
//!   is complete; the repair only takes the lock over;
//! - outside the lock: no shared state of its own is in flight.
//!
//! Giving back a dead holder's units is itself an operation of this kind
//! (counters plus adjustment, journaled, adjustment set to 0), followed by
//! freeing the record (owner pid set to 0): a repairer killed in between
//! leaves a record of a dead pid with nothing to give back, which the next
//! repair frees. Repairs run under the lock, so two of them are serialised
//! and the second finds the adjustments already at 0: exactly once.
//!
//! **A dead lock holder.** The lock word names its holder: `seq << 13 |
//! (record + 1) << 2 | CONTENDED | LOCKED`. A repairer that finds the lock
//! held asks whether that record's owner is alive; if not, it takes the lock
//! over with a compare-and-swap from exactly the word it examined, so of two
//! repairers only one wins, and the 19-bit sequence, bumped by every
//! acquisition, keeps a later tenure of the same record from matching. The
//! `CONTENDED` bit is carried over, so the sleepers on the lock are woken at
//! the repairer's unlock.
//!
//! **A dead process is a synchronisation.** The liveness predicate answering
//! "dead" is taken to happen after everything the dead process did (on
//! Linux: its exit and the pidfd poll that reports it are system calls, and
//! a killed thread stops at an instruction boundary, so every store before
//! it is visible and none after). The Release stores of steps 3 to 5 keep
//! the compiler and the processor from reordering those stores, so what a
//! repairer finds is a prefix of the dead holder's operation.
//!
//! # Recovery time
//!
//! The core does no timing: a repair runs when a survivor calls
//! [`Holder::release_dead`], and takes `O(holders × count)` steps plus one
//! `is_alive` call per held record, all under the lock. A backend makes the
//! bound: annulus-linux's watching calls sleep in slices of `WATCH_SLICE`
//! (50 ms) and repair between slices, so a waiter blocked on units (or on
//! the lock) that a dead holder had gets them within one slice plus one
//! repair after the death is visible.
//!
//! # Progress and limits
//!
//! Not lock-free (the lock), but a holder that dies holding the lock blocks
//! the others only until a repair; non-blocking calls are bounded. 1 to
//! [`MAX_COUNTERS`] counters, 1 to [`MAX_HOLDERS`] holder records, at most
//! [`MAX_OPS`](super::MAX_OPS) operations per call. `is_alive` must never
//! call a live process dead: a pid reused by a new process reads as alive,
//! which only delays a repair.
//!
//! # Layout
//!
//! ```text
//!    0  RegionHeader (64), max, holders                  read-only after init
//!  128  lock, reserved, changed event count, counters    every operation
//!  512  journal: state, record, changed mask, counters, adjustments
//! 1152  holder records, (1 + count) words each: owner pid, adjustments (i32)
//! ```
//!
//! # Examples
//!
//! ```
//! use annulus::region::Region;
//! use annulus::semaphore::{RobustSemaphoreSet, SemOp};
//! use annulus::wait::Spin;
//!
//! // One counter (a robust semaphore) of 2 units, room for 4 holders.
//! let mut region = Region::<{ RobustSemaphoreSet::region_size(1, 4) }>::new();
//! let set = RobustSemaphoreSet::init(region.as_uninit_mut(), &[2], 2, 4).unwrap();
//! let clock = || 0u64;
//! let a = set.holder(101, Spin::new(clock)).unwrap();
//! let b = set.holder(102, Spin::new(clock)).unwrap();
//! a.try_op(&[SemOp::wait(0, 2)]).unwrap();
//! assert_eq!((set.value(0), a.adjustment(0)), (Some(0), Some(2)));
//! // Process 101 dies holding both units (here: its handle is leaked).
//! core::mem::forget(a);
//! let report = b.release_dead(|pid| pid != 101).unwrap();
//! assert_eq!((report.released, report.returned), (1, 2));
//! assert_eq!(set.value(0), Some(2));
//! ```

#![allow(unsafe_code)]

mod holder;
pub(crate) mod journal;
pub(crate) mod lock;
mod repair;
#[cfg(test)]
mod tests;

use core::fmt;
use core::marker::PhantomData;
use core::mem::{MaybeUninit, size_of};
use core::ptr::NonNull;

#[cfg(any(test, loom))]
pub use holder::CrashPoint;
pub use holder::{DROP_PATIENCE, Holder};
pub use repair::{ReleaseDeadError, UndoReport};

use super::set::MAX_COUNTERS;
use super::{InitError, InitOptions, check_values, header_fields, identity};
use crate::event::EventCount;
use crate::layout::{
    AttachError, Kind, LayoutError, Line, REGION_ALIGN, RegionHeader, RegionLayout, attach_header,
    check_init_memory,
};
use crate::sync::{AtomicU32, Ordering};
use crate::wait::Wait;

/// Most holder records in one robust set.
pub const MAX_HOLDERS: u32 = 1024;

/// Line 0: the region header and what init fixes.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RobustControl {
    pub(crate) region: RegionHeader,
    /// The largest value of a counter, `>= 1`; validated at attach and kept
    /// in the handle, never re-read.
    pub(crate) max: AtomicU32,
    /// Number of holder records, `1..=MAX_HOLDERS`; validated at attach.
    pub(crate) holders: AtomicU32,
}

/// Line 1: the lock and the counters.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RobustState {
    /// The lock word (see `lock.rs`): 0 or `seq << 13` when free.
    pub(crate) lock: AtomicU32,
    /// Reserved, written as 0.
    pub(crate) reserved: AtomicU32,
    /// Callers whose operations cannot proceed sleep here; every call that
    /// changes a counter notifies after unlocking.
    pub(crate) changed: EventCount,
    /// The counters, `0..=max` each.
    ///
    /// # Safety
    ///
    /// Written only under the lock (read also by the racy
    /// [`RobustSemaphoreSet::value`] peek).
    pub(crate) counters: [AtomicU32; MAX_COUNTERS as usize],
}

/// Lines 4 and on: the redo journal of the operation under the lock.
///
/// # Safety
///
/// Read and written only by the lock's holder.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Journal {
    /// `EMPTY` or `COMMITTED` (anything else: corrupted).
    pub(crate) state: AtomicU32,
    /// The holder record whose adjustments the entry sets, or `NO_RECORD`.
    pub(crate) record: AtomicU32,
    /// Which counters the entry sets: bit `i % 32` of word `i / 32`.
    pub(crate) changed: [AtomicU32; 2],
    /// New value of each changed counter.
    pub(crate) counters: [AtomicU32; MAX_COUNTERS as usize],
    /// New adjustment (an `i32`'s bits) of each changed counter in `record`.
    pub(crate) adjust: [AtomicU32; MAX_COUNTERS as usize],
}

/// The fixed part of a robust set's region: 1152 bytes, 128-aligned.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RobustHeader {
    pub(crate) control: Line<RobustControl>,
    pub(crate) state: Line<RobustState>,
    pub(crate) journal: Line<Journal>,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of};
    assert!(size_of::<RobustHeader>() == 1152);
    assert!(align_of::<RobustHeader>() == 128);
    assert!(offset_of!(RobustControl, max) == 64);
    assert!(offset_of!(RobustControl, holders) == 68);
    assert!(offset_of!(RobustHeader, state) == 128);
    assert!(offset_of!(RobustState, lock) == 0);
    assert!(offset_of!(RobustState, changed) == 8);
    assert!(offset_of!(RobustState, counters) == 16);
    assert!(offset_of!(RobustHeader, journal) == 512);
    assert!(offset_of!(Journal, record) == 4);
    assert!(offset_of!(Journal, changed) == 8);
    assert!(offset_of!(Journal, counters) == 16);
    assert!(offset_of!(Journal, adjust) == 272);
};

/// Why a holder could not be registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterHolderError {
    /// Every holder record is held (see [`Holder::release_dead`]).
    Full {
        /// Number of records in the region.
        max: u32,
    },
    /// Pid 0 marks a free record and cannot own one.
    ZeroPid,
}

impl fmt::Display for RegisterHolderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterHolderError::Full { max } => write!(f, "all {max} holder records are in use"),
            RegisterHolderError::ZeroPid => f.write_str("pid 0 cannot hold a record"),
        }
    }
}

impl core::error::Error for RegisterHolderError {}

/// A view of a robust semaphore set: its values and holder records. It holds
/// no record and no waiter; operations go through a [`Holder`] it registers.
/// `Copy`: views are free to duplicate.
#[derive(Clone, Copy)]
pub struct RobustSemaphoreSet<'a> {
    header: NonNull<RobustHeader>,
    /// `holders * (1 + count)` words.
    records: NonNull<AtomicU32>,
    /// Validated at init/attach and never re-read from shared memory.
    count: u32,
    max: u32,
    holders: u32,
    _region: PhantomData<&'a RobustHeader>,
}

// SAFETY: the view reaches shared state only through atomics, valid for any
// bytes; it holds nothing thread-bound.
unsafe impl Send for RobustSemaphoreSet<'_> {}
// SAFETY: as above; every method takes `&self` and uses only atomics.
unsafe impl Sync for RobustSemaphoreSet<'_> {}

impl fmt::Debug for RobustSemaphoreSet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RobustSemaphoreSet")
            .field("count", &self.count)
            .field("max", &self.max)
            .field("holders", &self.holders)
            .finish_non_exhaustive()
    }
}

/// Layout queries: call them as `RobustSemaphoreSet::layout(count, holders)`.
impl RobustSemaphoreSet<'static> {
    /// The region layout of a set of `count` counters with `holders` holder
    /// records: a 1152-byte header, then the records (`body_offset`).
    ///
    /// # Errors
    ///
    /// [`LayoutError::BadCapacity`] unless `count` is in
    /// `1..=MAX_COUNTERS` and `holders` in `1..=MAX_HOLDERS` (the capacity
    /// reported is the offending one).
    pub const fn layout(count: u32, holders: u32) -> Result<RegionLayout, LayoutError> {
        if count == 0 || count > MAX_COUNTERS {
            return Err(LayoutError::BadCapacity { capacity: count });
        }
        if holders == 0 || holders > MAX_HOLDERS {
            return Err(LayoutError::BadCapacity { capacity: holders });
        }
        let body_offset = size_of::<RobustHeader>();
        let words = holders as usize * (1 + count as usize);
        Ok(RegionLayout {
            body_offset,
            size: body_offset + words * size_of::<AtomicU32>(),
            align: REGION_ALIGN,
        })
    }

    /// Bytes the region needs, for sizing a
    /// [`Region`](crate::region::Region) at compile time.
    ///
    /// # Panics
    ///
    /// If [`RobustSemaphoreSet::layout`] rejects the arguments (at compile
    /// time in a const context).
    pub const fn region_size(count: u32, holders: u32) -> usize {
        match Self::layout(count, holders) {
            Ok(layout) => layout.size,
            Err(_) => panic!("1..=MAX_COUNTERS counters and 1..=MAX_HOLDERS holders"),
        }
    }
}

impl<'a> RobustSemaphoreSet<'a> {
    /// Lays a new robust set into `region`: one counter per value of
    /// `initial`, each at most `max`, and `holders` free holder records.
    ///
    /// # Errors
    ///
    /// [`InitError::Layout`] for a count or holder number out of range or
    /// unsuitable memory; [`InitError::ZeroMax`];
    /// [`InitError::ValueAboveMax`].
    pub fn init(
        region: &'a mut [MaybeUninit<u8>],
        initial: &[u32],
        max: u32,
        holders: u32,
    ) -> Result<Self, InitError> {
        let len = region.len();
        let ptr = NonNull::from(region).cast::<u8>();
        // SAFETY: `region` is exclusively borrowed for 'a, so nobody else
        // accesses it while we initialise it, and it outlives the view.
        unsafe { Self::init_raw(ptr, len, initial, max, holders, InitOptions::default()) }
    }

    /// Lays a new robust set into raw memory (shared memory you mapped);
    /// "ready" is published last.
    ///
    /// # Errors
    ///
    /// As [`RobustSemaphoreSet::init`].
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be valid for reads and writes for `'a`. During
    /// this call no thread of this process may access the region (another
    /// process may only run `attach_raw` on it). Afterwards it may be
    /// accessed only through annulus handles.
    pub unsafe fn init_raw(
        ptr: NonNull<u8>,
        len: usize,
        initial: &[u32],
        max: u32,
        holders: u32,
        options: InitOptions,
    ) -> Result<Self, InitError> {
        let count = u32::try_from(initial.len()).unwrap_or(u32::MAX);
        let layout = RobustSemaphoreSet::layout(count, holders)?;
        check_values(initial, max)?;
        check_init_memory(ptr, len, layout.size)?;
        let fields = header_fields(Kind::RobustSemaphoreSet, layout, count, options.creator_pid);
        let header = ptr.cast::<RobustHeader>();
        let words = holders as usize * (1 + count as usize);
        // SAFETY: `ptr` is 128-aligned and valid for `layout.size` bytes
        // (checked above), which hold the header and then `words` atomics at
        // `body_offset` (a multiple of 128, so aligned for them); the caller
        // guarantees exclusive access during init. `write` drops nothing.
        let records = unsafe {
            header.write(RobustHeader {
                control: Line(RobustControl {
                    region: RegionHeader::new(&fields),
                    max: AtomicU32::new(max),
                    holders: AtomicU32::new(holders),
                }),
                state: Line(RobustState {
                    lock: AtomicU32::new(0),
                    reserved: AtomicU32::new(0),
                    changed: EventCount::new(),
                    counters: core::array::from_fn(|i| {
                        AtomicU32::new(initial.get(i).copied().unwrap_or(0))
                    }),
                }),
                journal: Line(Journal {
                    state: AtomicU32::new(journal::EMPTY),
                    record: AtomicU32::new(journal::NO_RECORD),
                    changed: [AtomicU32::new(0), AtomicU32::new(0)],
                    counters: core::array::from_fn(|_| AtomicU32::new(0)),
                    adjust: core::array::from_fn(|_| AtomicU32::new(0)),
                }),
            });
            let records = ptr.add(layout.body_offset).cast::<AtomicU32>();
            for i in 0..words {
                records.add(i).write(AtomicU32::new(0));
            }
            records
        };
        // SAFETY: just written, and valid for 'a by the caller's contract.
        unsafe { header.as_ref() }.control.0.region.publish();
        Ok(RobustSemaphoreSet {
            header,
            records,
            count,
            max,
            holders,
            _region: PhantomData,
        })
    }

    /// Attaches to a robust set another party initialised in raw memory,
    /// checking its header first.
    ///
    /// # Errors
    ///
    /// [`AttachError::NotReady`] while the creator is still initialising;
    /// otherwise the [`AttachError`] naming the first mismatch (another kind
    /// gives [`AttachError::KindMismatch`], a count or holder number out of
    /// range [`AttachError::BadCapacity`]), or [`AttachError::Corrupted`] if
    /// `max` is 0 or a counter exceeds it.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be valid for reads and writes for `'a`, hold
    /// initialised bytes, and be accessed (by this process) only through
    /// annulus handles. Another process may write anything into it at any
    /// time: that makes operations fail, block until their timeout, or
    /// produce wrong values, never undefined behaviour here.
    pub unsafe fn attach_raw(ptr: NonNull<u8>, len: usize) -> Result<Self, AttachError> {
        // SAFETY: the caller's contract covers `attach_header`'s.
        let region = unsafe {
            attach_header(
                ptr,
                len,
                size_of::<RobustHeader>(),
                &identity(Kind::RobustSemaphoreSet),
            )?
        };
        let count = region.capacity();
        let header = ptr.cast::<RobustHeader>();
        // SAFETY: `attach_header` checked alignment and that `len` holds the
        // whole fixed header; valid for 'a by the caller's contract; every
        // field is an atomic, valid for any bytes.
        let hdr = unsafe { header.as_ref() };
        // Relaxed: written before READY, which `attach_header` read with
        // Acquire; a later hostile change cannot reach the handle's copies.
        let holders = hdr.control.0.holders.load(Ordering::Relaxed);
        let max = hdr.control.0.max.load(Ordering::Relaxed);
        if count == 0 || count > MAX_COUNTERS {
            return Err(AttachError::BadCapacity { found: count });
        }
        let layout = RobustSemaphoreSet::layout(count, holders)
            .map_err(|_| AttachError::BadCapacity { found: holders })?;
        region.check_geometry(len, layout.body_offset, layout.size)?;
        // Relaxed: only a plausibility check; operations re-read under the lock.
        let counters = &hdr.state.0.counters[..count as usize];
        if max == 0 || counters.iter().any(|c| c.load(Ordering::Relaxed) > max) {
            return Err(AttachError::Corrupted);
        }
        // SAFETY: `check_geometry` checked that the records end inside `len`.
        let records = unsafe { ptr.add(layout.body_offset) }.cast::<AtomicU32>();
        Ok(RobustSemaphoreSet {
            header,
            records,
            count,
            max,
            holders,
            _region: PhantomData,
        })
    }

    /// Registers a holder for process `pid` (non-zero), sleeping and waking
    /// with `wait`: claims a free holder record. Lock-free: one
    /// compare-and-swap per record tried.
    ///
    /// # Errors
    ///
    /// [`RegisterHolderError::Full`] when every record is held (dead
    /// holders' records come back with [`Holder::release_dead`]);
    /// [`RegisterHolderError::ZeroPid`].
    pub fn holder<W: Wait>(self, pid: u32, wait: W) -> Result<Holder<'a, W>, RegisterHolderError> {
        if pid == 0 {
            return Err(RegisterHolderError::ZeroPid);
        }
        for index in 0..self.holders {
            // SYNC POINT robust owner: Acquire pairs with the Release that
            // freed the record, after its adjustments were set to 0.
            if self
                .owner(index)
                .compare_exchange(0, pid, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(Holder::new(self, index, pid, wait));
            }
        }
        Err(RegisterHolderError::Full { max: self.holders })
    }

    /// [`RobustSemaphoreSet::holder`], but when every record is held, takes
    /// over the record of a holder that `is_alive` says is dead: claims it
    /// with a compare-and-swap from the dead pid (so of two newcomers one
    /// wins), then repairs (see [`Holder::release_dead`]), giving back what
    /// the dead owner held in that record too. Returns the holder and what
    /// the repair did. This is how a newcomer repairs a set whose every
    /// record a dead process holds (no live holder is left to do it).
    ///
    /// # Errors
    ///
    /// As [`RobustSemaphoreSet::holder`]; [`RegisterHolderError::Full`] also
    /// if the repair could not run (a live process had the lock): the
    /// record is then given back and freed by the holder's drop.
    pub fn holder_reclaiming<W: Wait>(
        self,
        pid: u32,
        wait: W,
        mut is_alive: impl FnMut(u32) -> bool,
    ) -> Result<(Holder<'a, W>, UndoReport), RegisterHolderError> {
        let mut wait = Some(wait);
        for index in 0..self.holders {
            // Acquire: as in `holder`.
            let owner = self.owner(index).load(Ordering::Acquire);
            let claimable = owner == 0 || (owner != pid && !is_alive(owner));
            if pid == 0 || !claimable {
                continue;
            }
            // SYNC POINT robust owner: Acquire, as in `holder`; from `owner`
            // exactly, so a concurrent repair that freed it (or another
            // newcomer that took it) makes this fail.
            if self
                .owner(index)
                .compare_exchange(owner, pid, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            let Some(wait) = wait.take() else { break };
            let holder = Holder::new(self, index, pid, wait);
            return match holder.repair(&mut is_alive, owner != 0) {
                Ok(report) => Ok((holder, report)),
                Err(_) => Err(RegisterHolderError::Full { max: self.holders }),
            };
        }
        match wait {
            Some(wait) => self.holder(pid, wait).map(|h| (h, UndoReport::default())),
            None => Err(RegisterHolderError::Full { max: self.holders }),
        }
    }

    /// Counter `index`'s value, clamped to `max` (a larger one means a
    /// corrupted region); `None` if `index >= count`. Racy: exact only while
    /// nobody operates on the set.
    pub fn value(&self, index: u32) -> Option<u32> {
        let counter = self.counters().get(index as usize)?;
        // SYNC POINT robust peek: Acquire pairs with the Release store of
        // the operation that wrote the value.
        Some(counter.load(Ordering::Acquire).min(self.max))
    }

    /// Number of counters.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The largest value a counter can hold.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Number of holder records.
    pub fn holders(&self) -> u32 {
        self.holders
    }

    /// The pid owning holder record `index` (`Some(0)` if free), `None` past
    /// the last. Racy: for liveness tools and diagnostics.
    pub fn holder_pid(&self, index: u32) -> Option<u32> {
        // Relaxed: advisory snapshot.
        (index < self.holders).then(|| self.owner(index).load(Ordering::Relaxed))
    }

    /// The undo adjustment of holder record `holder` for counter `index`
    /// (`None` if either is out of range). Racy: for diagnostics.
    pub fn adjustment(&self, holder: u32, index: u32) -> Option<i32> {
        if holder >= self.holders || index >= self.count {
            return None;
        }
        // Relaxed: advisory snapshot.
        Some(self.adjust(holder, index).load(Ordering::Relaxed) as i32)
    }

    /// Which holder record the lock word names, if the lock is held:
    /// `Some(record)` (which may be out of range in a corrupted region).
    /// Racy: for liveness tools and diagnostics.
    pub fn lock_holder(&self) -> Option<u32> {
        // Relaxed: advisory snapshot.
        lock::holder_of(self.state().lock.load(Ordering::Relaxed))
    }

    pub(crate) fn state(&self) -> &'a RobustState {
        // SAFETY: `header` was checked (alignment, size) at init/attach and
        // the region is valid for 'a; every field is an atomic.
        &unsafe { self.header.as_ref() }.state.0
    }

    pub(crate) fn journal(&self) -> &'a Journal {
        // SAFETY: as in `state`.
        &unsafe { self.header.as_ref() }.journal.0
    }

    /// The `count` counters in use.
    pub(crate) fn counters(&self) -> &'a [AtomicU32] {
        // `count <= MAX_COUNTERS`, validated at init/attach.
        &self.state().counters[..self.count as usize]
    }

    /// All record words: `holders * (1 + count)`.
    fn record_words(&self) -> &'a [AtomicU32] {
        let words = self.holders as usize * (1 + self.count as usize);
        // SAFETY: init wrote (attach found, inside the checked geometry)
        // `words` atomics at `records`, valid for 'a; atomics are valid for
        // any bytes.
        unsafe { core::slice::from_raw_parts(self.records.as_ptr().cast_const(), words) }
    }

    /// The owner word of record `index` (`< holders`): its pid, 0 if free.
    pub(crate) fn owner(&self, index: u32) -> &'a AtomicU32 {
        let stride = 1 + self.count as usize;
        &self.record_words()[index as usize * stride]
    }

    /// Record `holder`'s adjustment word for counter `index` (both in range).
    pub(crate) fn adjust(&self, holder: u32, index: u32) -> &'a AtomicU32 {
        let stride = 1 + self.count as usize;
        &self.record_words()[holder as usize * stride + 1 + index as usize]
    }
}
