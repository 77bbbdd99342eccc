//! A bounded multi-producer multi-consumer ring in caller-provided memory,
//! whose participants may die without stalling the others for good.
//!
//! # Algorithm
//!
//! Dmitry Vyukov's bounded queue: each slot carries a sequence word; a
//! sender claims position `p` by a CAS on `tail` once slot `p` says "empty
//! for `p`", writes the value, and publishes "full at `p`"; a receiver claims
//! by a CAS on `head` once the slot says "full at `p`", copies the value out
//! and publishes "empty for `p + capacity`". A receiver learns of a message
//! from the slot itself, so it moves one cache line per message.
//!
//! Sequences live in a doubled space: `D(p) = 2p` (wrapping) is "empty for
//! `p`", `D(p + 1)` is "full at `p`", and `D(p + 1) | 1` is "skipped at `p`":
//! a slot a repair released for a sender that died after claiming it, which
//! receivers consume and discard. Capacities are powers of two in
//! `2..=2^29`, so positions that share a slot never collide in the doubled
//! space.
//!
//! # Dead participants and repair
//!
//! The known trap of this queue (it is why heapless deprecated its own) is a
//! sender that stops between claiming a slot and publishing it: receivers
//! wait at that slot forever, and so does every sender a lap later. Here every
//! sender and receiver is a registered participant with a record in the
//! region: its claim (pid + generation) and its *intent*, the positions it is
//! about to claim, written before the claiming CAS (which is a Release). A
//! repair therefore knows, for each claimed but unfinished slot, whether a
//! live participant may still finish it. [`Mpmc::repair`], given a predicate
//! "is this claim's process alive", then:
//!
//! - marks a slot claimed by a dead sender "skipped" with one CAS from
//!   "empty" (which fails harmlessly if the value was published after all);
//!   the message was never reported as sent, so nothing is lost;
//! - takes back a message claimed by a dead receiver that never finished
//!   reading it, and hands it to the repairer (`on_orphan`) to deliver again:
//!   it was never returned to any application, so nothing is lost or
//!   duplicated;
//! - releases the dead participant's record and its sender/receiver count.
//!
//! Repairs are serialised by a lock word holding the repairer's pid, which a
//! later repairer may take over if that pid is dead.
//!
//! # Progress
//!
//! Honest statement: this queue is **not lock-free**. A sender that is
//! preempted between its claim and its publish delays receivers at that slot
//! (and behind it) until it runs again; a *dead* one is repaired away. Within
//! that limit every operation completes in a bounded number of steps: a CAS
//! lost to another participant is retried at most [`MAX_ATTEMPTS`] times,
//! after which a non-blocking call reports `Full`/`Empty` (only a hostile
//! peer can cause that many consecutive losses in practice).
//!
//! # Layout
//!
//! ```text
//!    0  RegionHeader (64), sender/receiver counts, repair lock, repairs, participants
//!  128  data_ready and space_ready event counts
//!  256  tail (senders' claim position)
//!  384  head (receivers' claim position)
//!  512  participant records, 128 bytes each
//!  ...  slots: { seq: u32, value: T }, capacity of them
//! ```

#![allow(unsafe_code)]

pub(crate) mod participant;
mod receiver;
pub(crate) mod repair;
mod sender;
#[cfg(test)]
mod tests;

use core::marker::PhantomData;
use core::mem::{MaybeUninit, align_of, size_of};
use core::ptr::{NonNull, addr_of};

use bytemuck::Pod;

pub use participant::{ParticipantInfo, RegisterError, Role};
pub use receiver::Receiver;
pub use repair::{RepairError, RepairReport};
pub use sender::Sender;

pub use crate::error::{PopError, PopTimeoutError, PushError, PushSliceError, PushTimeoutError};

use crate::claim::RoleClaim;
use crate::event::{EventCount, Events};
use crate::layout::{
    AttachError, FLAG_ASYMMETRIC_WAKE, HeaderFields, Identity, Kind, LayoutError, Line,
    MAX_REGION_SIZE, REGION_ALIGN, RegionHeader, Schema, attach_header, check_init_memory,
    zero_body,
};
use crate::sync::{AtomicU32, Ordering, SlotTracker};

/// Smallest capacity: the sequence scheme needs two slots.
pub const MIN_CAPACITY: u32 = 2;
/// Largest capacity (doubled sequences must not collide across laps).
pub const MAX_CAPACITY: u32 = 1 << 29;
/// Most participant records a region can hold.
pub const MAX_PARTICIPANTS: u32 = 1024;
/// CAS attempts a non-blocking call makes before it gives up.
pub const MAX_ATTEMPTS: u32 = 1 << 16;

/// Line 0: the region header and the counters every side reads.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) region: RegionHeader,
    /// Senders registered: `count << 1 | CLOSED`; see `participant.rs`.
    pub(crate) senders: AtomicU32,
    /// Receivers registered, same encoding.
    pub(crate) receivers: AtomicU32,
    /// 0 when free, else `REPAIR_LOCKED | pid` of the repairer.
    pub(crate) repair_lock: AtomicU32,
    /// Slots skipped or taken back by repairs so far (wrapping).
    pub(crate) repairs: AtomicU32,
    /// Number of participant records (validated at attach).
    pub(crate) participants: AtomicU32,
}

/// The fixed header of an MPMC ring: 512 bytes, 128-aligned.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct MpmcHeader {
    pub(crate) control: Line<Control>,
    pub(crate) events: Line<Events>,
    /// Next position a sender claims. Written by senders' CAS.
    pub(crate) tail: Line<AtomicU32>,
    /// Next position a receiver claims. Written by receivers' CAS.
    pub(crate) head: Line<AtomicU32>,
    /// Loom's record of slot accesses (empty outside loom).
    pub(crate) tracker: SlotTracker,
}

/// One participant's record: its claim and its intent. Written by the
/// participant (and by a repair once it is dead).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Record {
    pub(crate) claim: RoleClaim,
    /// `generation << 2 | role` ([`Role`] as a `u32`), stored after the
    /// participant of claim generation `generation` joined its side's
    /// count: a repair takes a dead tenure out of the count only if this
    /// word names that tenure (one killed between its claim and its join
    /// never counted). 0 until first used.
    pub(crate) role: AtomicU32,
    /// First position of the claim being attempted or held.
    pub(crate) intent_pos: AtomicU32,
    /// Number of positions from `intent_pos`; 0 when idle.
    pub(crate) intent_len: AtomicU32,
}

/// One slot: its sequence word, then the value.
#[repr(C)]
pub(crate) struct Slot<T> {
    pub(crate) seq: AtomicU32,
    pub(crate) value: T,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::offset_of;
    assert!(size_of::<MpmcHeader>() == 512);
    assert!(align_of::<MpmcHeader>() == 128);
    assert!(offset_of!(MpmcHeader, control) == 0);
    assert!(offset_of!(Control, region) == 0);
    assert!(offset_of!(Control, senders) == 64);
    assert!(offset_of!(Control, receivers) == 68);
    assert!(offset_of!(Control, repair_lock) == 72);
    assert!(offset_of!(Control, repairs) == 76);
    assert!(offset_of!(Control, participants) == 80);
    assert!(offset_of!(MpmcHeader, events) == 128);
    assert!(offset_of!(MpmcHeader, tail) == 256);
    assert!(offset_of!(MpmcHeader, head) == 384);
    assert!(size_of::<Line<Record>>() == 128);
    assert!(offset_of!(Record, claim) == 0);
    assert!(offset_of!(Record, role) == 8);
    assert!(offset_of!(Record, intent_pos) == 12);
    assert!(offset_of!(Record, intent_len) == 16);
    assert!(offset_of!(Slot<u64>, seq) == 0);
    assert!(offset_of!(Slot<u64>, value) == 8);
};

/// "Empty for position `p`" in the doubled sequence space.
#[inline(always)]
pub(crate) const fn seq_empty(p: u32) -> u32 {
    p.wrapping_shl(1)
}

/// "Full at position `p`".
#[inline(always)]
pub(crate) const fn seq_full(p: u32) -> u32 {
    p.wrapping_add(1).wrapping_shl(1)
}

/// Bit that marks a full slot as skipped (its sender died before writing).
pub(crate) const SKIPPED: u32 = 1;

/// Positions `pos..pos + len` won by one CAS on `tail` or `head`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Claimed {
    pub(crate) pos: u32,
    pub(crate) len: u32,
}

/// Why a claim failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClaimFailure {
    /// No free (sender) or filled (receiver) slot at the claim position, or
    /// [`MAX_ATTEMPTS`] CASes lost in a row.
    Unavailable,
    /// A sequence or position read from the region is impossible.
    Corrupted,
}

/// Sizes for a ring: capacity, participant records, and the memory they need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpmcLayout {
    /// Byte offset of the first participant record.
    pub records_offset: usize,
    /// Byte offset of the first slot.
    pub slots_offset: usize,
    /// Bytes per slot (sequence word, value, padding).
    pub slot_size: usize,
    /// Total bytes the region needs.
    pub size: usize,
    /// Alignment the region needs ([`REGION_ALIGN`]).
    pub align: usize,
}

/// Options for creating a ring in raw memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct InitOptions {
    /// Element fingerprint written to the header; `None` means [`Schema::of`]`::<T>()`.
    pub schema: Option<Schema>,
    /// Creator's process id, recorded for diagnostics (0 when unknown).
    pub creator_pid: u32,
    /// Asymmetric wake-ups: notifiers whose process can register for it
    /// ([`Wait::prepare_light_notify`](crate::wait::Wait::prepare_light_notify))
    /// skip the `SeqCst` fence of every push and pop, and every waiter runs
    /// [`Wait::heavy_barrier`](crate::wait::Wait::heavy_barrier) before it
    /// sleeps instead (a waiter that cannot sleeps in 1 ms slices). For
    /// rings whose ends run with a backend that has the barrier
    /// (`annulus-linux` sets it on the rings it creates where the kernel
    /// has `membarrier`). Default: off.
    pub asymmetric_wake: bool,
}

/// A view of an MPMC ring of `T` in memory that lives for `'a`.
///
/// The view holds no role: register senders with [`Mpmc::sender`] and
/// receivers with [`Mpmc::receiver`], as many as the region has records for.
///
/// # Examples
///
/// ```
/// use annulus::mpmc::Mpmc;
/// use annulus::region::Region;
/// use annulus::wait::Spin;
///
/// let mut region = Region::<{ Mpmc::<u32>::region_size(8, 4) }>::new();
/// let ring = Mpmc::<u32>::init(region.as_uninit_mut(), 8, 4).unwrap();
/// let clock = || 0u64;
/// let mut a = ring.sender(Spin::new(clock)).unwrap();
/// let mut b = ring.sender(Spin::new(clock)).unwrap();
/// let mut rx = ring.receiver(Spin::new(clock)).unwrap();
/// a.push(1).unwrap();
/// b.push(2).unwrap();
/// assert_eq!(rx.pop(), Ok(1));
/// assert_eq!(rx.pop(), Ok(2));
/// assert_eq!(ring.senders(), 2);
/// ```
pub struct Mpmc<'a, T> {
    header: NonNull<MpmcHeader>,
    records: NonNull<Line<Record>>,
    slots: NonNull<Slot<T>>,
    /// Validated at init/attach; never re-read from shared memory.
    capacity: u32,
    /// Validated at init/attach; never re-read from shared memory.
    participants: u32,
    _region: PhantomData<&'a MpmcHeader>,
}

impl<T> Clone for Mpmc<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Mpmc<'_, T> {}

impl<T> core::fmt::Debug for Mpmc<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mpmc")
            .field("capacity", &self.capacity)
            .field("participants", &self.participants)
            .field("len", &self.len())
            .finish()
    }
}

// SAFETY: shared state is reached only through atomics, and slot values only
// by the participant whose claim (a CAS on tail or head) owns the slot; `T`
// is plain data that may move between threads.
unsafe impl<T: Pod + Send> Send for Mpmc<'_, T> {}
// SAFETY: as above; `&Mpmc` offers atomic reads, registration and repair.
unsafe impl<T: Pod + Send> Sync for Mpmc<'_, T> {}

impl<'a, T: Pod> Mpmc<'a, T> {
    /// The region layout for `capacity` slots and `participants` records.
    ///
    /// # Errors
    ///
    /// [`LayoutError::BadCapacity`] unless `capacity` is a power of two in
    /// `MIN_CAPACITY..=MAX_CAPACITY`; [`LayoutError::BadParticipants`] unless
    /// `participants` is in `1..=MAX_PARTICIPANTS`; element errors as for
    /// `Spsc`; [`LayoutError::TooLarge`].
    pub const fn layout(capacity: u32, participants: u32) -> Result<MpmcLayout, LayoutError> {
        if capacity < MIN_CAPACITY || !capacity.is_power_of_two() || capacity > MAX_CAPACITY {
            return Err(LayoutError::BadCapacity { capacity });
        }
        if participants == 0 || participants > MAX_PARTICIPANTS {
            return Err(LayoutError::BadParticipants { participants });
        }
        if size_of::<T>() == 0 {
            return Err(LayoutError::ZeroSizedElement);
        }
        if align_of::<T>() > REGION_ALIGN {
            return Err(LayoutError::ElementOverAligned {
                align: align_of::<T>(),
            });
        }
        let records_offset = size_of::<MpmcHeader>();
        // Records are 128 bytes each, so the slots start 128-aligned, which
        // satisfies any Slot<T> alignment (at most 128).
        let slots_offset = records_offset + participants as usize * size_of::<Line<Record>>();
        let slot_size = size_of::<Slot<T>>();
        let Some(body) = (capacity as usize).checked_mul(slot_size) else {
            return Err(LayoutError::TooLarge);
        };
        let Some(size) = slots_offset.checked_add(body) else {
            return Err(LayoutError::TooLarge);
        };
        if size > MAX_REGION_SIZE {
            return Err(LayoutError::TooLarge);
        }
        Ok(MpmcLayout {
            records_offset,
            slots_offset,
            slot_size,
            size,
            align: REGION_ALIGN,
        })
    }

    /// Bytes a region needs, for sizing a [`Region`](crate::region::Region)
    /// at compile time.
    ///
    /// # Panics
    ///
    /// If [`Mpmc::layout`] rejects the arguments (at compile time in a const
    /// context).
    pub const fn region_size(capacity: u32, participants: u32) -> usize {
        match Self::layout(capacity, participants) {
            Ok(layout) => layout.size,
            Err(_) => panic!("invalid MPMC capacity, participants or element type"),
        }
    }

    /// Lays a new, empty ring into `region` (safe, in-process).
    ///
    /// # Errors
    ///
    /// Any [`LayoutError`] of [`Mpmc::layout`], plus
    /// [`LayoutError::Misaligned`] and [`LayoutError::RegionTooSmall`].
    pub fn init(
        region: &'a mut [MaybeUninit<u8>],
        capacity: u32,
        participants: u32,
    ) -> Result<Self, LayoutError> {
        let len = region.len();
        let ptr = NonNull::from(region).cast::<u8>();
        // SAFETY: `region` is exclusively borrowed for 'a: nobody else
        // touches it during init, and it outlives the returned view.
        unsafe { Self::init_raw(ptr, len, capacity, participants, InitOptions::default()) }
    }

    /// Lays a new, empty ring into raw (shared) memory; "ready" is published
    /// last, so a concurrent attach sees "not ready" or the whole ring.
    ///
    /// # Errors
    ///
    /// As [`Mpmc::init`].
    ///
    /// # Safety
    ///
    /// As [`Spsc::init_raw`](crate::spsc::Spsc::init_raw): `ptr..ptr + len`
    /// valid for reads and writes for `'a`, untouched by this process during
    /// the call, and accessed only through annulus views afterwards.
    pub unsafe fn init_raw(
        ptr: NonNull<u8>,
        len: usize,
        capacity: u32,
        participants: u32,
        options: InitOptions,
    ) -> Result<Self, LayoutError> {
        let layout = Self::layout(capacity, participants)?;
        check_init_memory(ptr, len, layout.size)?;
        let fields = HeaderFields {
            kind: Kind::Mpmc,
            // Fit in u32: `layout` checked size <= MAX_REGION_SIZE.
            body_offset: layout.slots_offset as u32,
            region_size: layout.size as u32,
            capacity,
            elem_size: size_of::<T>() as u32,
            elem_align: align_of::<T>() as u32,
            schema: options.schema.unwrap_or_else(Schema::of::<T>),
            creator_pid: options.creator_pid,
            flags: if options.asymmetric_wake {
                FLAG_ASYMMETRIC_WAKE
            } else {
                0
            },
        };
        let header = ptr.cast::<MpmcHeader>();
        // SAFETY: aligned and large enough (checked above); ours during init.
        unsafe {
            header.write(MpmcHeader {
                control: Line(Control {
                    region: RegionHeader::new(&fields),
                    senders: AtomicU32::new(0),
                    receivers: AtomicU32::new(0),
                    repair_lock: AtomicU32::new(0),
                    repairs: AtomicU32::new(0),
                    participants: AtomicU32::new(participants),
                }),
                events: Line(Events {
                    data_ready: EventCount::new(),
                    space_ready: EventCount::new(),
                }),
                tail: Line(AtomicU32::new(0)),
                head: Line(AtomicU32::new(0)),
                tracker: SlotTracker::new(capacity),
            });
        }
        // SAFETY: records and slots lie inside the region (layout.size <=
        // len) and are ours during init. Zeroing makes every value a valid
        // `T` (Pod); then each record and each slot's sequence is written.
        let ring = unsafe {
            let body = zero_body(ptr, layout.records_offset, layout.size);
            let records = body.cast::<Line<Record>>();
            for i in 0..participants as usize {
                records.add(i).write(Line(Record {
                    claim: RoleClaim::new(),
                    role: AtomicU32::new(0),
                    intent_pos: AtomicU32::new(0),
                    intent_len: AtomicU32::new(0),
                }));
            }
            let slots = ptr.add(layout.slots_offset).cast::<Slot<T>>();
            for i in 0..capacity {
                let seq = slots.add(i as usize).as_ptr().cast::<AtomicU32>();
                seq.write(AtomicU32::new(seq_empty(i)));
            }
            Mpmc {
                header,
                records,
                slots,
                capacity,
                participants,
                _region: PhantomData,
            }
        };
        ring.hdr().control.0.region.publish();
        Ok(ring)
    }

    /// Attaches to a ring that another party initialised, checking every
    /// header field against `T` and `schema` first.
    ///
    /// # Errors
    ///
    /// [`AttachError::NotReady`] while the creator is still initialising;
    /// otherwise the [`AttachError`] naming the first mismatch.
    ///
    /// # Safety
    ///
    /// As [`Spsc::attach_raw`](crate::spsc::Spsc::attach_raw), including its
    /// rule on handles: a participant record must not be held twice by this
    /// process (a peer rewriting a record's claim word could let a second
    /// registration reuse it).
    pub unsafe fn attach_raw(
        ptr: NonNull<u8>,
        len: usize,
        schema: Schema,
    ) -> Result<Self, AttachError> {
        let identity = Identity {
            kind: Kind::Mpmc,
            elem_size: size_of::<T>() as u32,
            elem_align: align_of::<T>() as u32,
            schema,
        };
        // SAFETY: the caller's contract covers `attach_header`'s.
        let region = unsafe { attach_header(ptr, len, size_of::<MpmcHeader>(), &identity)? };
        let capacity = region.capacity();
        // SAFETY: `attach_header` checked alignment and that the whole fixed
        // header fits; valid for 'a by the caller's contract.
        let hdr = unsafe { ptr.cast::<MpmcHeader>().as_ref() };
        // Relaxed: immutable after READY, which `attach_header` acquired.
        let participants = hdr.control.0.participants.load(Ordering::Relaxed);
        let layout = match Self::layout(capacity, participants) {
            Ok(layout) => layout,
            Err(LayoutError::BadParticipants { .. }) => return Err(AttachError::Corrupted),
            Err(_) => return Err(AttachError::BadCapacity { found: capacity }),
        };
        region.check_geometry(len, layout.slots_offset, layout.size)?;
        // SAFETY: both offsets are inside the region (geometry checked) and
        // 128-aligned.
        let (records, slots) = unsafe {
            (
                ptr.add(layout.records_offset).cast::<Line<Record>>(),
                ptr.add(layout.slots_offset).cast::<Slot<T>>(),
            )
        };
        Ok(Mpmc {
            header: ptr.cast(),
            records,
            slots,
            capacity,
            participants,
            _region: PhantomData,
        })
    }
}

impl<'a, T> Mpmc<'a, T> {
    /// Whether the creator asked for asymmetric wake-ups
    /// ([`InitOptions::asymmetric_wake`]), as the header says now.
    pub fn asymmetric_wake(&self) -> bool {
        self.hdr().control.0.region.asymmetric_wake()
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Number of participant records (senders plus receivers at most).
    pub fn max_participants(&self) -> u32 {
        self.participants
    }

    /// Number of claimed positions not yet claimed by a receiver, clamped to
    /// the capacity. Racy: exact only while nobody moves.
    pub fn len(&self) -> u32 {
        let hdr = self.hdr();
        // Acquire: keeps the snapshot from being hoisted above earlier ops.
        let head = hdr.head.0.load(Ordering::Acquire);
        let tail = hdr.tail.0.load(Ordering::Acquire);
        let used = tail.wrapping_sub(head);
        if used > self.capacity { 0 } else { used }
    }

    /// Whether [`Mpmc::len`] is 0. Racy.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of registered senders. Racy.
    pub fn senders(&self) -> u32 {
        participant::count_of(&self.hdr().control.0.senders)
    }

    /// Number of registered receivers. Racy.
    pub fn receivers(&self) -> u32 {
        participant::count_of(&self.hdr().control.0.receivers)
    }

    /// Whether every sender has left (receivers see `Disconnected` once
    /// drained). Acquire, like the receivers' own check.
    pub(crate) fn senders_closed(&self) -> bool {
        participant::side_closed(&self.hdr().control.0.senders)
    }

    /// Slots skipped or taken back by repairs since init (wrapping). Racy.
    pub fn repairs(&self) -> u32 {
        // Relaxed: a statistic.
        self.hdr().control.0.repairs.load(Ordering::Relaxed)
    }

    /// The shared header, valid for `'a`.
    pub(crate) fn hdr(&self) -> &'a MpmcHeader {
        // SAFETY: checked (alignment, size) at init/attach; the region is
        // valid for 'a; every field is an atomic.
        unsafe { self.header.as_ref() }
    }

    /// Participant record `index`, which must be `< participants`.
    pub(crate) fn record(&self, index: u32) -> &'a Record {
        debug_assert!(index < self.participants);
        // SAFETY: index < participants, and the region holds that many
        // records (geometry checked); every field is an atomic.
        unsafe { &self.records.add(index as usize).as_ref().0 }
    }

    /// The sequence word of the slot for position `pos` (masked).
    #[inline(always)]
    pub(crate) fn seq(&self, pos: u32) -> &'a AtomicU32 {
        let slot = self.slot(pos);
        // SAFETY: `slot` points into the body; a reference to the atomic
        // alone never aliases the value, which others may be writing.
        unsafe { &*addr_of!((*slot).seq) }
    }

    /// Pointer to the value of the slot for position `pos` (masked).
    #[inline(always)]
    pub(crate) fn value_ptr(&self, pos: u32) -> *mut T {
        let slot = self.slot(pos);
        // SAFETY: `slot` points into the body; no reference is created.
        unsafe { &raw mut (*slot).value }
    }

    #[inline(always)]
    fn slot(&self, pos: u32) -> *mut Slot<T> {
        let index = pos & (self.capacity - 1);
        // SAFETY: index < capacity, and the body holds `capacity` slots.
        unsafe { self.slots.as_ptr().add(index as usize) }
    }
}
