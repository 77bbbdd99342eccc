//! Read-only inspection of any annulus region, whatever it holds and
//! whatever its element type: the header, the counters, and who holds which
//! role. What `ipcs` is to the kernel's IPC objects, this is to annulus
//! regions (the `annulus` tool and `annulus_linux::inspect` sit on it).
//!
//! The typed `attach_raw` calls need the element type; an inspector does not
//! know it. [`inspect_raw`] therefore identifies the structure by the
//! header's magic and kind word, checks the header as `attach` does (ready,
//! version, geometry recomputed from the recorded capacity, element size
//! and alignment), and then only *reads*:
//!
//! - Every read is a `Relaxed` load of a `u32` (or, for the message queue's
//!   root, a `u64` on 64-bit targets) at an offset checked against the
//!   length first, so the region may be mapped read-only (Rust permits
//!   relaxed atomic loads of register width on read-only memory, and
//!   nothing else) and may hold any bytes: garbage gives errors or wrong
//!   numbers, never an out-of-bounds read, a panic or a write.
//! - Orderings: where a reading must not be older than the header's
//!   "ready" (the creator's Release), an Acquire *fence* follows the relaxed
//!   load; a fence is not a memory access, so it is fine on read-only pages.
//! - Every number is a racy snapshot: exact only while nobody moves.

#![allow(unsafe_code)]

mod counters;
mod robust;
#[cfg(test)]
mod tests;

use core::marker::PhantomData;
use core::ptr::NonNull;

pub use counters::{
    Counters, MpmcCounters, MqCounters, RingCounters, RoleEntry, RoleName, Roles,
    SemaphoreCounters, SetCounters,
};
pub use robust::RobustSetCounters;

use crate::layout::{
    AttachError, INITIALISING, Kind, LAYOUT_VERSION, MAGIC, MAX_REGION_SIZE, READY, REGION_ALIGN,
    RegionHeader, Schema, UNINIT,
};
use crate::sync::{AtomicU32, Ordering, fence};

/// The init state word of a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InitState {
    /// Zero: nothing was laid here yet.
    Uninit,
    /// A creator is writing the header.
    Initialising,
    /// Complete: the other fields are the creator's.
    Ready,
    /// A value no creator writes.
    Invalid(u32),
}

/// Every word of a region header, as found (before any check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderInfo {
    /// First word; [`MAGIC`] in an annulus region.
    pub magic: u32,
    /// Layout version of the creator.
    pub version: u32,
    /// The kind word (see [`HeaderInfo::kind`]).
    pub kind_word: u32,
    /// Where the creator got to.
    pub init_state: InitState,
    /// Byte offset of the body.
    pub body_offset: u32,
    /// Bytes the region needs.
    pub region_size: u32,
    /// Capacity (slots, messages, counters; 1 for a semaphore).
    pub capacity: u32,
    /// Bytes per element.
    pub elem_size: u32,
    /// Alignment of an element.
    pub elem_align: u32,
    /// Element fingerprint.
    pub schema: Schema,
    /// The creator's pid (0 when unknown).
    pub creator_pid: u32,
    /// Option bits: 1 = asymmetric wake-ups (see
    /// [`HeaderInfo::asymmetric_wake`]).
    pub flags: u32,
}

impl HeaderInfo {
    /// Whether the structure was created for asymmetric wake-ups (rings
    /// whose notifiers may skip their fence; `spsc::InitOptions`).
    pub fn asymmetric_wake(&self) -> bool {
        self.flags & crate::layout::FLAG_ASYMMETRIC_WAKE != 0
    }

    /// The structure the kind word names, if this build knows it.
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_word(self.kind_word)
    }
}

/// Bounds-checked relaxed reads of a region that may be read-only.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mem<'a> {
    ptr: NonNull<u8>,
    len: usize,
    _region: PhantomData<&'a [u8]>,
}

impl Mem<'_> {
    /// The `u32` at byte `offset`, or `None` past the end (or misaligned).
    pub(crate) fn u32(&self, offset: usize) -> Option<u32> {
        if offset % 4 != 0 || offset.checked_add(4)? > self.len {
            return None;
        }
        // SAFETY: `offset + 4 <= len`, and `ptr` is 128-aligned (checked in
        // `inspect_raw`/`read_header`), so this is an aligned `u32` inside
        // memory the caller vouched is readable for 'a and initialised. Only
        // a Relaxed load is made: allowed even on read-only memory.
        let word = unsafe { &*self.ptr.as_ptr().add(offset).cast::<AtomicU32>() };
        // Relaxed: a racy diagnostic read (ordering, where needed, comes
        // from explicit fences at the call sites).
        Some(word.load(Ordering::Relaxed))
    }

    /// The `u32` at `offset`, 0 past the end.
    pub(crate) fn u32_or0(&self, offset: usize) -> u32 {
        self.u32(offset).unwrap_or(0)
    }

    /// The `u64` at byte `offset` (8-aligned), where a 64-bit load is one
    /// register-wide instruction.
    #[cfg(all(target_has_atomic = "64", target_pointer_width = "64"))]
    pub(crate) fn u64(&self, offset: usize) -> Option<u64> {
        if offset % 8 != 0 || offset.checked_add(8)? > self.len {
            return None;
        }
        // SAFETY: as in `u32`: in bounds, aligned (the region is 128-aligned
        // and `offset` a multiple of 8), readable; `Atomic64` is
        // `repr(transparent)` over `AtomicU64`; only a Relaxed load of
        // register width is made, which read-only memory allows.
        let word = unsafe {
            &*self
                .ptr
                .as_ptr()
                .add(offset)
                .cast::<crate::sync::Atomic64>()
        };
        // Relaxed: as in `u32`.
        Some(word.load(Ordering::Relaxed))
    }
}

/// Reads the header words without checking them: for a region that
/// [`inspect_raw`] refuses, to show what it holds.
///
/// # Errors
///
/// [`AttachError::Misaligned`] unless `ptr` is 128-aligned;
/// [`AttachError::RegionTooSmall`] if `len` is shorter than a header.
///
/// # Safety
///
/// `ptr..ptr + len` must be valid for reads and hold initialised bytes for
/// the duration of the call (read-only memory is fine; other processes may
/// write it concurrently).
pub unsafe fn read_header(ptr: NonNull<u8>, len: usize) -> Result<HeaderInfo, AttachError> {
    let mem = checked_mem(ptr, len)?;
    Ok(header_words(&mem))
}

fn checked_mem<'a>(ptr: NonNull<u8>, len: usize) -> Result<Mem<'a>, AttachError> {
    match ptr.as_ptr() as usize % REGION_ALIGN {
        0 => {}
        offset => return Err(AttachError::Misaligned { offset }),
    }
    let needed = core::mem::size_of::<RegionHeader>();
    if len < needed {
        return Err(AttachError::RegionTooSmall { needed, len });
    }
    Ok(Mem {
        ptr,
        len,
        _region: PhantomData,
    })
}

fn header_words(mem: &Mem<'_>) -> HeaderInfo {
    use core::mem::offset_of;
    let get = |offset| mem.u32_or0(offset);
    // Read the init state first; the fence makes every later read at least
    // as new as the creator's READY store (its Release) when we see READY.
    let state = get(offset_of!(RegionHeader, init_state));
    // SYNC POINT init: Acquire (as a fence: the load above was Relaxed, the
    // only kind read-only memory allows) pairs with `RegionHeader::publish`.
    fence(Ordering::Acquire);
    HeaderInfo {
        magic: get(offset_of!(RegionHeader, magic)),
        version: get(offset_of!(RegionHeader, version)),
        kind_word: get(offset_of!(RegionHeader, kind)),
        init_state: match state {
            UNINIT => InitState::Uninit,
            INITIALISING => InitState::Initialising,
            READY => InitState::Ready,
            other => InitState::Invalid(other),
        },
        body_offset: get(offset_of!(RegionHeader, body_offset)),
        region_size: get(offset_of!(RegionHeader, region_size)),
        capacity: get(offset_of!(RegionHeader, capacity)),
        elem_size: get(offset_of!(RegionHeader, elem_size)),
        elem_align: get(offset_of!(RegionHeader, elem_align)),
        schema: Schema(
            u64::from(get(offset_of!(RegionHeader, schema_lo)))
                | (u64::from(get(offset_of!(RegionHeader, schema_hi))) << 32),
        ),
        creator_pid: get(offset_of!(RegionHeader, creator_pid)),
        flags: get(offset_of!(RegionHeader, flags)),
    }
}

/// A validated, read-only view of an annulus region of any kind.
#[derive(Clone, Copy, Debug)]
pub struct Inspection<'a> {
    mem: Mem<'a>,
    header: HeaderInfo,
    kind: Kind,
    /// Participant records (MPMC, message queue), counters (set); 0 else.
    records: u32,
    /// A message queue's largest message; 0 else.
    message_size: u32,
}

/// Identifies and checks the annulus region at `ptr`, read-only.
///
/// The checks are `attach`'s, minus the element type: the header is
/// complete (magic, init state, layout version), the kind is known, and the
/// recorded body offset and region size are the ones the recorded capacity
/// (and element size, alignment, participants, message size) give, within
/// `len` bytes.
///
/// # Errors
///
/// [`AttachError::NotReady`], [`AttachError::BadMagic`],
/// [`AttachError::BadInitState`], [`AttachError::VersionMismatch`],
/// [`AttachError::UnknownKind`], [`AttachError::BadCapacity`],
/// [`AttachError::BadGeometry`], [`AttachError::RegionTooSmall`],
/// [`AttachError::Misaligned`] or [`AttachError::Corrupted`] (impossible
/// element or participant words).
///
/// # Safety
///
/// `ptr..ptr + len` must be valid for reads and hold initialised bytes for
/// `'a` (read-only memory is fine). Other processes may write anything into
/// it at any time: that gives wrong numbers or errors, never undefined
/// behaviour; nothing here writes.
pub unsafe fn inspect_raw<'a>(ptr: NonNull<u8>, len: usize) -> Result<Inspection<'a>, AttachError> {
    let mem = checked_mem(ptr, len)?;
    let header = header_words(&mem);
    match (header.init_state, header.magic) {
        (InitState::Ready, MAGIC) => {}
        (InitState::Uninit | InitState::Initialising, MAGIC | 0) => {
            return Err(AttachError::NotReady);
        }
        (_, magic) if magic != MAGIC => return Err(AttachError::BadMagic { found: magic }),
        (_, _) => {
            let found = match header.init_state {
                InitState::Invalid(word) => word,
                _ => 0,
            };
            return Err(AttachError::BadInitState { found });
        }
    }
    if header.version != LAYOUT_VERSION {
        return Err(AttachError::VersionMismatch {
            expected: LAYOUT_VERSION,
            found: header.version,
        });
    }
    let kind = header.kind().ok_or(AttachError::UnknownKind {
        found: header.kind_word,
    })?;
    let shape = counters::geometry(&mem, &header, kind)?;
    let size = shape.size;
    if header.body_offset as usize != shape.body_offset || header.region_size as usize != size {
        return Err(AttachError::BadGeometry {
            body_offset: header.body_offset,
            region_size: header.region_size,
        });
    }
    if size > len {
        return Err(AttachError::RegionTooSmall { needed: size, len });
    }
    Ok(Inspection {
        mem,
        header,
        kind,
        records: shape.records,
        message_size: shape.message_size,
    })
}

impl<'a> Inspection<'a> {
    /// The header, as read when the view was made.
    pub fn header(&self) -> &HeaderInfo {
        &self.header
    }

    /// What the region holds.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The counters now (positions, values, participants, sleepers). Racy.
    pub fn counters(&self) -> Counters {
        counters::read(self)
    }

    /// Every role slot and participant record, with who holds it. Racy.
    pub fn roles(&self) -> Roles<'a> {
        Roles::new(self.mem, self.kind, self.records, self.header.capacity)
    }

    /// Counter `index` of a semaphore set or robust semaphore set (`None`
    /// past the count, or for another kind), unclamped. Racy.
    pub fn set_counter(&self, index: u32) -> Option<u32> {
        counters::set_counter(self, index)
    }
}

/// `(size, align)` checks shared by the element-typed kinds: a non-zero size,
/// a power-of-two alignment up to [`REGION_ALIGN`] that divides the size.
pub(crate) fn element_ok(size: u32, align: u32) -> bool {
    size != 0
        && align.is_power_of_two()
        && align as usize <= REGION_ALIGN
        && size % align == 0
        && size as usize <= MAX_REGION_SIZE
}
