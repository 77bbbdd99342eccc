//! A wait-free single-producer single-consumer ring in caller-provided memory.
//!
//! Layout (offsets in bytes, every line 128 bytes so that what the producer
//! writes and what the consumer writes never share a cache line):
//!
//! ```text
//!   0  RegionHeader (64)  producer claim (8)  consumer claim (8)   read-mostly
//! 128  data_ready event count (8)  space_ready event count (8)     written on sleep only
//! 256  tail: next position the producer writes                     producer only
//! 384  head: next position the consumer reads                      consumer only
//! 512  slots: capacity × T
//! ```
//!
//! Positions are `u32` counters that only grow (wrapping at 2^32), so a full
//! ring needs no wasted slot: `tail - head` (wrapping) is the number of
//! filled slots, in `0..=capacity`, and a slot's index is `position &
//! (capacity - 1)`. Capacities are powers of two up to 2^31.
//!
//! Happens-before (the one promise of this module): the producer writes a
//! slot, then stores `tail` with Release; the consumer loads `tail` with
//! Acquire before reading the slot. Symmetrically the consumer reads a slot,
//! then stores `head` with Release; the producer loads `head` with Acquire
//! before overwriting the slot. Each side keeps its own position locally and
//! a cached copy of the peer's, and reloads the peer's only when the cache
//! says full (producer) or empty (consumer).
//!
//! Shared memory is untrusted (DESIGN.md rule 3): a position read from the
//! peer is checked (`0 <= tail - head <= capacity`) before it is used, slot
//! indices are masked with the capacity validated at attach (held locally,
//! never re-read), and an impossible value makes the operation return a
//! `Corrupted` error.

#![allow(unsafe_code)]

mod chunks;
pub(crate) mod consumer;
pub(crate) mod producer;
mod stream;

use core::marker::PhantomData;
use core::mem::{MaybeUninit, align_of, size_of};
use core::ptr::NonNull;

use bytemuck::Pod;

pub use crate::layout::RegionLayout;

pub use crate::error::{
    ChunkError, PopError, PopTimeoutError, PushError, PushSliceError, PushTimeoutError,
};
pub use chunks::{ReadChunk, WriteChunk};
pub use consumer::Consumer;
pub use producer::Producer;
pub use stream::{ByteReader, ByteWriter, StreamError};

use crate::claim::{Claim, ClaimError, RoleClaim, RoleState};
use crate::event::{EventCount, Events};
use crate::layout::{
    AttachError, FLAG_ASYMMETRIC_WAKE, HeaderFields, Identity, Kind, LayoutError, Line,
    MAX_REGION_SIZE, REGION_ALIGN, RegionHeader, Schema, attach_header, check_init_memory,
    zero_body,
};
use crate::sync::{AtomicU32, Ordering, SlotTracker};
use crate::wait::Wait;

/// Largest capacity: positions are `u32` and `tail - head` must reach it.
pub const MAX_CAPACITY: u32 = 1 << 31;

/// Polls a blocking call makes before it sleeps, unless changed with
/// `set_spin_limit`: tens of microseconds of spinning. Shorter spins backfire
/// between processes: a spin shorter than one futex wake lets the faster side
/// fall asleep on every message, and each push then pays a wake system call
/// (measured: up to two futex calls per message with 128 polls, a few per
/// thousand with 1024 or more, on this project's 2-core machine).
pub const DEFAULT_SPIN_LIMIT: u32 = 1024;

/// Line 1: the region header and the two role claims.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) region: RegionHeader,
    pub(crate) producer: RoleClaim,
    pub(crate) consumer: RoleClaim,
}

/// The shared header of an SPSC ring: 512 bytes, 128-aligned.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SpscHeader {
    pub(crate) control: Line<Control>,
    pub(crate) events: Line<Events>,
    /// Next position the producer will write. Written only by the producer.
    pub(crate) tail: Line<AtomicU32>,
    /// Next position the consumer will read. Written only by the consumer.
    pub(crate) head: Line<AtomicU32>,
    /// Loom's record of slot accesses (empty outside loom).
    pub(crate) tracker: SlotTracker,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::offset_of;
    assert!(size_of::<SpscHeader>() == 512);
    assert!(align_of::<SpscHeader>() == 128);
    assert!(offset_of!(SpscHeader, control) == 0);
    assert!(offset_of!(Control, region) == 0);
    assert!(offset_of!(Control, producer) == 64);
    assert!(offset_of!(Control, consumer) == 72);
    assert!(offset_of!(SpscHeader, events) == 128);
    assert!(offset_of!(Events, data_ready) == 0);
    assert!(offset_of!(Events, space_ready) == 8);
    assert!(offset_of!(SpscHeader, tail) == 256);
    assert!(offset_of!(SpscHeader, head) == 384);
};

/// Options for creating a ring in raw memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct InitOptions {
    /// Element fingerprint written to the header; `None` means [`Schema::of`]`::<T>()`.
    pub schema: Option<Schema>,
    /// Creator's process id, recorded for diagnostics (0 when unknown).
    pub creator_pid: u32,
    /// Asymmetric wake-ups: notifiers whose process can register for it
    /// ([`Wait::prepare_light_notify`])
    /// skip the `SeqCst` fence of every push and pop, and every waiter runs
    /// [`Wait::heavy_barrier`] before it
    /// sleeps instead (a waiter that cannot sleeps in 1 ms slices). For
    /// rings whose ends run with a backend that has the barrier
    /// (`annulus-linux` sets it on the rings it creates where the kernel
    /// has `membarrier`). Default: off.
    pub asymmetric_wake: bool,
}

/// A view of an SPSC ring of `T` laid out in memory that lives for `'a`.
///
/// The view itself holds no role: claim one with [`Spsc::producer`] and
/// [`Spsc::consumer`]. It is `Copy`, so threads of one process can share it.
///
/// # Examples
///
/// ```
/// use annulus::region::Region;
/// use annulus::spsc::Spsc;
/// use annulus::wait::Spin;
///
/// let mut region = Region::<{ Spsc::<u64>::region_size(4) }>::new();
/// let ring = Spsc::<u64>::init(region.as_uninit_mut(), 4).unwrap();
/// let clock = || 0u64; // a real program reads a monotonic timer
/// let mut tx = ring.producer(Spin::new(clock)).unwrap();
/// let mut rx = ring.consumer(Spin::new(clock)).unwrap();
/// tx.push(7).unwrap();
/// assert_eq!(rx.pop(), Ok(7));
/// ```
pub struct Spsc<'a, T> {
    header: NonNull<SpscHeader>,
    slots: NonNull<T>,
    /// Validated at init/attach and never re-read from shared memory.
    capacity: u32,
    _region: PhantomData<&'a SpscHeader>,
}

impl<T> Clone for Spsc<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Spsc<'_, T> {}

impl<T> core::fmt::Debug for Spsc<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Spsc")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

// SAFETY: the view only reaches shared state through atomics and through the
// role handles, whose claims keep each slot owned by one side at a time; `T`
// is plain data that may be sent between threads.
unsafe impl<T: Pod + Send> Send for Spsc<'_, T> {}
// SAFETY: as above; `&Spsc` offers only atomic reads and role claims.
unsafe impl<T: Pod + Send> Sync for Spsc<'_, T> {}

impl<'a, T: Pod> Spsc<'a, T> {
    /// The region layout for `capacity` elements of `T`.
    ///
    /// # Errors
    ///
    /// [`LayoutError::BadCapacity`] unless `capacity` is a power of two in
    /// `1..=MAX_CAPACITY`; [`LayoutError::ZeroSizedElement`],
    /// [`LayoutError::ElementOverAligned`] for unsupported `T`;
    /// [`LayoutError::TooLarge`] past [`MAX_REGION_SIZE`].
    pub const fn layout(capacity: u32) -> Result<RegionLayout, LayoutError> {
        if capacity == 0 || !capacity.is_power_of_two() || capacity > MAX_CAPACITY {
            return Err(LayoutError::BadCapacity { capacity });
        }
        if size_of::<T>() == 0 {
            return Err(LayoutError::ZeroSizedElement);
        }
        if align_of::<T>() > REGION_ALIGN {
            return Err(LayoutError::ElementOverAligned {
                align: align_of::<T>(),
            });
        }
        // The header size is a multiple of 128, hence of T's alignment.
        let body_offset = size_of::<SpscHeader>();
        let Some(body) = (capacity as usize).checked_mul(size_of::<T>()) else {
            return Err(LayoutError::TooLarge);
        };
        let Some(size) = body_offset.checked_add(body) else {
            return Err(LayoutError::TooLarge);
        };
        if size > MAX_REGION_SIZE {
            return Err(LayoutError::TooLarge);
        }
        Ok(RegionLayout {
            body_offset,
            size,
            align: REGION_ALIGN,
        })
    }

    /// Bytes a region needs for `capacity` elements of `T`, for sizing a
    /// [`Region`](crate::region::Region) at compile time.
    ///
    /// # Panics
    ///
    /// If [`Spsc::layout`] rejects `capacity` (at compile time when used in a
    /// const context).
    pub const fn region_size(capacity: u32) -> usize {
        match Self::layout(capacity) {
            Ok(layout) => layout.size,
            Err(_) => panic!("invalid SPSC capacity or element type"),
        }
    }

    /// Lays a new, empty ring of `capacity` elements into `region`.
    ///
    /// This is the safe, in-process constructor: the ring borrows `region`
    /// for `'a`. Use [`Region`](crate::region::Region) for a correctly aligned
    /// buffer.
    ///
    /// # Errors
    ///
    /// Any [`LayoutError`] of [`Spsc::layout`], plus
    /// [`LayoutError::Misaligned`] and [`LayoutError::RegionTooSmall`].
    pub fn init(region: &'a mut [MaybeUninit<u8>], capacity: u32) -> Result<Self, LayoutError> {
        let len = region.len();
        let ptr = NonNull::from(region).cast::<u8>();
        // SAFETY: `region` is exclusively borrowed for 'a, so nobody else
        // reads or writes it while we initialise it, and it stays valid for
        // as long as the returned view.
        unsafe { Self::init_raw(ptr, len, capacity, InitOptions::default()) }
    }

    /// Lays a new, empty ring into raw memory (shared memory you mapped).
    ///
    /// The header is written with its init state at "initialising", the
    /// positions reset, the slots zeroed, and "ready" published last, so a
    /// concurrent [`Spsc::attach_raw`] sees either "not ready" or the whole ring.
    ///
    /// # Errors
    ///
    /// As [`Spsc::init`].
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be valid for reads and writes for `'a`. During
    /// this call no thread of this process may access the region (another
    /// process may only run `attach_raw` on it). Afterwards it may be accessed
    /// only through annulus views.
    pub unsafe fn init_raw(
        ptr: NonNull<u8>,
        len: usize,
        capacity: u32,
        options: InitOptions,
    ) -> Result<Self, LayoutError> {
        // SAFETY: the caller's contract is `init_raw_as`'s.
        unsafe { Self::init_raw_as(Kind::Spsc, ptr, len, capacity, options) }
    }

    /// [`Spsc::init_raw`] recording `kind` in the header, for structures
    /// built on the ring (a frame ring is an SPSC ring of bytes).
    ///
    /// # Safety
    ///
    /// As [`Spsc::init_raw`].
    pub(crate) unsafe fn init_raw_as(
        kind: Kind,
        ptr: NonNull<u8>,
        len: usize,
        capacity: u32,
        options: InitOptions,
    ) -> Result<Self, LayoutError> {
        let layout = Self::layout(capacity)?;
        check_init_memory(ptr, len, layout.size)?;
        let fields = Self::fields(kind, capacity, layout, options);
        let header = ptr.cast::<SpscHeader>();
        // SAFETY: `ptr` is 128-aligned and valid for `layout.size >= size_of
        // SpscHeader` bytes (checked above); the caller guarantees exclusive
        // access during init. `write` does not drop the old (garbage) bytes.
        unsafe {
            header.write(SpscHeader {
                control: Line(Control {
                    region: RegionHeader::new(&fields),
                    producer: RoleClaim::new(),
                    consumer: RoleClaim::new(),
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
        // SAFETY: the body lies inside the region (`body_offset + capacity *
        // size_of::<T>() == layout.size <= len`) and is ours during init;
        // zeroing makes every slot a valid `T`, since `T: Pod` is valid for
        // all-zero bytes.
        let slots = unsafe { zero_body(ptr, layout.body_offset, layout.size) }.cast::<T>();
        // SAFETY: just written above, and valid for 'a by the caller's contract.
        unsafe { header.as_ref() }.control.0.region.publish();
        Ok(Spsc {
            header,
            slots,
            capacity,
            _region: PhantomData,
        })
    }

    /// Attaches to a ring that another party initialised in raw memory,
    /// checking every header field against `T` and `schema` first.
    ///
    /// # Errors
    ///
    /// [`AttachError::NotReady`] while the creator is still initialising;
    /// otherwise the [`AttachError`] naming the first mismatch, or
    /// [`AttachError::Corrupted`] if the positions are impossible.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be valid for reads and writes for `'a`, hold
    /// initialised bytes, and be accessed (by this process) only through
    /// annulus views. Another process may write anything into it at any time:
    /// that makes operations fail or return wrong values, never undefined
    /// behaviour here (slot values are copied with relaxed atomic loads and
    /// stores, so even a peer that forges positions until two threads of this
    /// process use one slot gets only torn values), with one caveat: the slices lent by
    /// [`ReadChunk`]/[`WriteChunk`] assume the peer respects the positions
    /// while they are alive (a peer that writes slots it does not own can make
    /// a lent slice change under the borrower).
    ///
    /// This process must not hold two handles of the same role of one ring at
    /// once: a peer that rewrites a claim word to "vacant" could otherwise let
    /// the second claim succeed, and two threads here would then race on the
    /// slots. (The safe `open` of `annulus-linux` keeps a process-local
    /// registry of held roles for this.)
    pub unsafe fn attach_raw(
        ptr: NonNull<u8>,
        len: usize,
        schema: Schema,
    ) -> Result<Self, AttachError> {
        // SAFETY: the caller's contract is `attach_raw_as`'s.
        unsafe { Self::attach_raw_as(Kind::Spsc, ptr, len, schema) }
    }

    /// [`Spsc::attach_raw`] expecting `kind` in the header.
    ///
    /// # Safety
    ///
    /// As [`Spsc::attach_raw`].
    pub(crate) unsafe fn attach_raw_as(
        kind: Kind,
        ptr: NonNull<u8>,
        len: usize,
        schema: Schema,
    ) -> Result<Self, AttachError> {
        let identity = Self::identity(kind, schema);
        // SAFETY: the caller's contract covers `attach_header`'s.
        let region = unsafe { attach_header(ptr, len, size_of::<SpscHeader>(), &identity)? };
        let hdr = ptr.cast::<SpscHeader>();
        // SAFETY: `attach_header` checked alignment and that a whole
        // SpscHeader fits; valid for 'a by the caller's contract.
        let hdr: &SpscHeader = unsafe { hdr.as_ref() };
        let capacity = region.capacity();
        let layout =
            Self::layout(capacity).map_err(|_| AttachError::BadCapacity { found: capacity })?;
        region.check_geometry(len, layout.body_offset, layout.size)?;
        let ring = Spsc {
            header: ptr.cast(),
            // SAFETY: `body_offset + capacity * size_of::<T>() == layout.size
            // <= len` (checked geometry); the offset is a multiple of 128.
            slots: unsafe { ptr.add(layout.body_offset) }.cast::<T>(),
            capacity,
            _region: PhantomData,
        };
        // The positions must be possible too (a claim re-checks them later).
        let used = hdr
            .tail
            .0
            .load(Ordering::Acquire)
            .wrapping_sub(hdr.head.0.load(Ordering::Acquire));
        if used > capacity {
            return Err(AttachError::Corrupted);
        }
        Ok(ring)
    }

    fn identity(kind: Kind, schema: Schema) -> Identity {
        Identity {
            kind,
            elem_size: size_of::<T>() as u32,
            elem_align: align_of::<T>() as u32,
            schema,
        }
    }

    fn fields(
        kind: Kind,
        capacity: u32,
        layout: RegionLayout,
        options: InitOptions,
    ) -> HeaderFields {
        HeaderFields {
            kind,
            // Both fit in u32: `layout` checked size <= MAX_REGION_SIZE.
            body_offset: layout.body_offset as u32,
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
        }
    }
}

impl<'a, T: Pod> Spsc<'a, T> {
    /// Claims the producer role (pid recorded as 0) with `wait` for blocking.
    ///
    /// # Errors
    ///
    /// [`ClaimError::Taken`] if a producer exists; [`ClaimError::Corrupted`]
    /// if the claim word or the positions are impossible.
    pub fn producer<W: Wait>(&self, wait: W) -> Result<Producer<'a, T, W>, ClaimError> {
        self.claim_producer(0, wait)
    }

    /// Claims the producer role for process `pid`.
    ///
    /// # Errors
    ///
    /// As [`Spsc::producer`].
    pub fn claim_producer<W: Wait>(
        &self,
        pid: u32,
        wait: W,
    ) -> Result<Producer<'a, T, W>, ClaimError> {
        Producer::claim(*self, pid, wait)
    }

    /// Claims the consumer role (pid recorded as 0) with `wait` for blocking.
    ///
    /// # Errors
    ///
    /// [`ClaimError::Taken`] if a consumer exists; [`ClaimError::Corrupted`]
    /// if the claim word or the positions are impossible.
    pub fn consumer<W: Wait>(&self, wait: W) -> Result<Consumer<'a, T, W>, ClaimError> {
        self.claim_consumer(0, wait)
    }

    /// Claims the consumer role for process `pid`.
    ///
    /// # Errors
    ///
    /// As [`Spsc::consumer`].
    pub fn claim_consumer<W: Wait>(
        &self,
        pid: u32,
        wait: W,
    ) -> Result<Consumer<'a, T, W>, ClaimError> {
        Consumer::claim(*self, pid, wait)
    }
}

impl<'a, T> Spsc<'a, T> {
    /// Whether the creator asked for asymmetric wake-ups
    /// ([`InitOptions::asymmetric_wake`]), as the header says now.
    pub fn asymmetric_wake(&self) -> bool {
        self.hdr().control.0.region.asymmetric_wake()
    }

    /// Number of slots.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Number of filled slots, clamped to the capacity. Racy: exact only
    /// while neither side moves.
    pub fn len(&self) -> u32 {
        let hdr = self.hdr();
        // Acquire on both (order does not matter for a racy snapshot; Acquire
        // keeps the reads from being hoisted above earlier operations).
        let head = hdr.head.0.load(Ordering::Acquire);
        let tail = hdr.tail.0.load(Ordering::Acquire);
        tail.wrapping_sub(head).min(self.capacity)
    }

    /// Whether no slot is filled. Racy, like [`Spsc::len`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The producer role's state (who holds it). Racy.
    pub fn producer_state(&self) -> RoleState {
        self.hdr().control.0.producer.state()
    }

    /// The consumer role's state (who holds it). Racy.
    pub fn consumer_state(&self) -> RoleState {
        self.hdr().control.0.consumer.state()
    }

    /// Ends the producer tenure `claim` on behalf of a producer known to be
    /// dead (the liveness hook: `annulus-linux` calls it when the pid in the
    /// claim no longer runs). The consumer then sees `Disconnected` once it
    /// has drained the ring, and a new producer can claim the role. Does
    /// nothing and returns `false` if that tenure already ended.
    pub fn release_dead_producer<W: Wait>(&self, claim: Claim, wait: &W) -> bool {
        let hdr = self.hdr();
        let released = hdr.control.0.producer.release_dead(claim).ended();
        if released {
            hdr.events.0.data_ready.notify(wait);
        }
        released
    }

    /// Ends the consumer tenure `claim` on behalf of a consumer known to be
    /// dead; the producer's sends then fail with `Disconnected`. See
    /// [`Spsc::release_dead_producer`].
    pub fn release_dead_consumer<W: Wait>(&self, claim: Claim, wait: &W) -> bool {
        let hdr = self.hdr();
        let released = hdr.control.0.consumer.release_dead(claim).ended();
        if released {
            hdr.events.0.space_ready.notify(wait);
        }
        released
    }

    /// The shared header, valid for `'a`.
    pub(crate) fn hdr(&self) -> &'a SpscHeader {
        // SAFETY: `header` was checked (alignment, size) at init/attach and
        // the region is valid for 'a (safe init borrows it; raw init/attach
        // have it as their contract). All its fields are atomics.
        unsafe { self.header.as_ref() }
    }

    /// Mask that turns a position into a slot index.
    pub(crate) fn mask(&self) -> u32 {
        self.capacity - 1
    }

    /// Pointer to slot `index`, which must be `< capacity` (masked).
    pub(crate) fn slot(&self, index: u32) -> *mut T {
        debug_assert!(index < self.capacity);
        // SAFETY: index < capacity, and the body holds `capacity` slots.
        unsafe { self.slots.as_ptr().add(index as usize) }
    }
}

#[cfg(test)]
mod tests;
#[cfg(all(test, not(loom)))]
mod wake_tests;
