//! The self-describing header at the start of every shared region
//! (DESIGN.md, contract rule 2), and the checks `attach` runs on it.
//!
//! Every region starts with a 64-byte header: magic, layout version, kind,
//! init state, sizes, capacity, element size and alignment, a schema
//! fingerprint and the creator's pid. The creator writes it with the init
//! state at `INITIALISING` and publishes `READY` last with a release store;
//! `attach` loads the state with acquire before it trusts any other field, so
//! it never reads a half-built object.
//!
//! Happens-before: everything `init` wrote → `init_state.store(READY, Release)`
//! → `init_state.load(Acquire) == READY` in `attach` → everything `attach` reads.

#![allow(unsafe_code)]

use core::fmt;
use core::ptr::NonNull;

use crate::sync::{AtomicU32, Ordering};

/// `"ANUL"` in little-endian bytes: the first word of every annulus region.
pub const MAGIC: u32 = u32::from_le_bytes(*b"ANUL");

/// The layout version this build writes and accepts. Bumped on any change to
/// a shared structure's size, alignment, field offsets or encoding.
///
/// - 1: the first layout.
/// - 2: a claim word's CLAIMING state (a claim not `HELD` until its pid is
///   stored), the MPMC role word carrying its tenure's generation, and the
///   header's `flags` word (asymmetric wake-ups). A version-1 process must
///   not attach: it would take a CLAIMING word for corruption, and as a
///   sleeper on an asymmetric ring it would skip the barrier its peers'
///   light notifies rely on.
pub const LAYOUT_VERSION: u32 = 2;

/// Alignment every region must have: the header's 128-byte lines.
pub const REGION_ALIGN: usize = 128;

/// Largest region size the layout can describe (sizes are stored as `u32`).
pub const MAX_REGION_SIZE: usize = u32::MAX as usize;

/// Init state: the memory holds no annulus object yet (fresh, zeroed pages).
pub(crate) const UNINIT: u32 = 0;
/// Init state: a creator is writing the header and resetting the body.
pub(crate) const INITIALISING: u32 = u32::from_le_bytes(*b"init");
/// Init state: the header is complete and may be trusted by `attach`.
pub(crate) const READY: u32 = u32::from_le_bytes(*b"REDY");

/// What kind of structure a region holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[non_exhaustive]
pub enum Kind {
    /// A single-producer single-consumer ring of fixed-size elements
    /// (a byte stream is a ring of `u8`).
    Spsc = 1,
    /// A multi-producer multi-consumer ring of fixed-size elements.
    Mpmc = 2,
    /// A counting semaphore.
    Semaphore = 3,
    /// A set of counting semaphores operated on together.
    SemaphoreSet = 4,
    /// An SPSC ring of variable-length message frames.
    FrameRing = 5,
    /// A message queue with priorities and types.
    MessageQueue = 6,
    /// A semaphore set whose holders' units are given back when they die
    /// (`SEM_UNDO`).
    RobustSemaphoreSet = 7,
}

impl Kind {
    /// Decodes a kind word read from a header; `None` for an unknown value.
    pub const fn from_word(word: u32) -> Option<Kind> {
        match word {
            1 => Some(Kind::Spsc),
            2 => Some(Kind::Mpmc),
            3 => Some(Kind::Semaphore),
            4 => Some(Kind::SemaphoreSet),
            5 => Some(Kind::FrameRing),
            6 => Some(Kind::MessageQueue),
            7 => Some(Kind::RobustSemaphoreSet),
            _ => None,
        }
    }
}

/// A 64-bit fingerprint of the element type, checked by `attach` so that two
/// programs that disagree on what a slot holds refuse to talk.
///
/// [`Schema::of`] derives it from the type's name, size and alignment. The name
/// comes from [`core::any::type_name`], which is not guaranteed stable across
/// compiler versions or module moves; programs built separately should agree
/// on an explicit value with [`Schema::new`] (for instance a hash of their
/// message definition).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Schema(pub u64);

impl Schema {
    /// An explicit fingerprint chosen by the application.
    pub const fn new(value: u64) -> Schema {
        Schema(value)
    }

    /// The fingerprint of `T`: FNV-1a over its type name, size and alignment.
    pub fn of<T>() -> Schema {
        let mut hash = Fnv1a::new();
        hash.write(core::any::type_name::<T>().as_bytes());
        hash.write(&(core::mem::size_of::<T>() as u64).to_le_bytes());
        hash.write(&(core::mem::align_of::<T>() as u64).to_le_bytes());
        Schema(hash.finish())
    }
}

/// 64-bit FNV-1a: tiny, no_std, and good enough to tell schemas apart.
struct Fnv1a(u64);

impl Fnv1a {
    const fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    const fn finish(&self) -> u64 {
        self.0
    }
}

/// A 128-byte line (fixed, not per-architecture: two processes built for
/// different targets must agree on the layout). What different sides write
/// goes on different lines.
#[repr(C, align(128))]
#[derive(Debug)]
pub(crate) struct Line<T>(pub(crate) T);

/// The first 64 bytes of every region.
///
/// Every field is written once by the creator, before `init_state` becomes
/// `READY`, and is read-only afterwards; they are atomics (read with `Relaxed`
/// after the acquire on `init_state`) only because another process may write
/// garbage into them at any time (rule 3), which must not be a data race here.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RegionHeader {
    /// [`MAGIC`].
    pub(crate) magic: AtomicU32,
    /// [`LAYOUT_VERSION`] of the creator.
    pub(crate) version: AtomicU32,
    /// [`Kind`] as a `u32`.
    pub(crate) kind: AtomicU32,
    /// `UNINIT`, `INITIALISING` or `READY`; written last by the creator.
    pub(crate) init_state: AtomicU32,
    /// Byte offset of the body (slots) from the start of the region.
    pub(crate) body_offset: AtomicU32,
    /// Total bytes the region needs (header + body).
    pub(crate) region_size: AtomicU32,
    /// Number of slots; a power of two.
    pub(crate) capacity: AtomicU32,
    /// `size_of` one element in bytes.
    pub(crate) elem_size: AtomicU32,
    /// `align_of` one element in bytes.
    pub(crate) elem_align: AtomicU32,
    /// Low half of the [`Schema`] fingerprint.
    pub(crate) schema_lo: AtomicU32,
    /// High half of the [`Schema`] fingerprint.
    pub(crate) schema_hi: AtomicU32,
    /// Process id of the creator (0 when unknown, e.g. in-process use).
    pub(crate) creator_pid: AtomicU32,
    /// Options of the structure: [`FLAG_ASYMMETRIC_WAKE`]; other bits zero
    /// (and ignored).
    pub(crate) flags: AtomicU32,
    /// Reserved, written as zero.
    pub(crate) reserved: [AtomicU32; 3],
}

/// [`RegionHeader::flags`] bit: the ring was created for asymmetric
/// wake-ups (its waiters run a heavy barrier before they sleep, so its
/// notifiers may skip their fence; see `event.rs`).
pub(crate) const FLAG_ASYMMETRIC_WAKE: u32 = 1;

#[cfg(not(loom))]
static_assertions::const_assert_eq!(core::mem::size_of::<RegionHeader>(), 64);
#[cfg(not(loom))]
static_assertions::const_assert_eq!(core::mem::align_of::<RegionHeader>(), 4);
#[cfg(not(loom))]
const _: () = {
    use core::mem::offset_of;
    assert!(offset_of!(RegionHeader, magic) == 0);
    assert!(offset_of!(RegionHeader, version) == 4);
    assert!(offset_of!(RegionHeader, kind) == 8);
    assert!(offset_of!(RegionHeader, init_state) == 12);
    assert!(offset_of!(RegionHeader, body_offset) == 16);
    assert!(offset_of!(RegionHeader, region_size) == 20);
    assert!(offset_of!(RegionHeader, capacity) == 24);
    assert!(offset_of!(RegionHeader, elem_size) == 28);
    assert!(offset_of!(RegionHeader, elem_align) == 32);
    assert!(offset_of!(RegionHeader, schema_lo) == 36);
    assert!(offset_of!(RegionHeader, schema_hi) == 40);
    assert!(offset_of!(RegionHeader, creator_pid) == 44);
    assert!(offset_of!(RegionHeader, flags) == 48);
};

/// Where a region's body starts and how large the region is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionLayout {
    /// Byte offset of the first slot.
    pub body_offset: usize,
    /// Total bytes the region needs.
    pub size: usize,
    /// Alignment the region needs ([`REGION_ALIGN`]).
    pub align: usize,
}

/// What an attaching side expects a header to say about the structure and
/// its elements, before it reads the capacity.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Identity {
    pub(crate) kind: Kind,
    pub(crate) elem_size: u32,
    pub(crate) elem_align: u32,
    pub(crate) schema: Schema,
}

/// What a creator writes into a header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeaderFields {
    pub(crate) kind: Kind,
    pub(crate) body_offset: u32,
    pub(crate) region_size: u32,
    pub(crate) capacity: u32,
    pub(crate) elem_size: u32,
    pub(crate) elem_align: u32,
    pub(crate) schema: Schema,
    pub(crate) creator_pid: u32,
    pub(crate) flags: u32,
}

impl RegionHeader {
    /// A header in the `INITIALISING` state; [`RegionHeader::publish`] marks it ready.
    pub(crate) fn new(f: &HeaderFields) -> Self {
        RegionHeader {
            magic: AtomicU32::new(MAGIC),
            version: AtomicU32::new(LAYOUT_VERSION),
            kind: AtomicU32::new(f.kind as u32),
            init_state: AtomicU32::new(INITIALISING),
            body_offset: AtomicU32::new(f.body_offset),
            region_size: AtomicU32::new(f.region_size),
            capacity: AtomicU32::new(f.capacity),
            elem_size: AtomicU32::new(f.elem_size),
            elem_align: AtomicU32::new(f.elem_align),
            schema_lo: AtomicU32::new(f.schema.0 as u32),
            schema_hi: AtomicU32::new((f.schema.0 >> 32) as u32),
            creator_pid: AtomicU32::new(f.creator_pid),
            flags: AtomicU32::new(f.flags),
            // Not `[const { .. }; 3]`: loom's `AtomicU32::new` is not const.
            reserved: [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)],
        }
    }

    /// Whether the creator asked for asymmetric wake-ups. Read when a
    /// handle is claimed and kept in it: a peer that flips the bit later
    /// changes nothing for handles already claimed.
    pub(crate) fn asymmetric_wake(&self) -> bool {
        // Relaxed: immutable after READY, see `check_identity`.
        self.flags.load(Ordering::Relaxed) & FLAG_ASYMMETRIC_WAKE != 0
    }

    /// Marks the region ready: the creator's last write.
    pub(crate) fn publish(&self) {
        // SYNC POINT init: Release makes every write of `init` (header and
        // body) visible to an `attach` whose Acquire load reads READY.
        self.init_state.store(READY, Ordering::Release);
    }

    /// Checks that the region is ready and holds `expect`'s kind of
    /// structure with `expect`'s element type; run before trusting any other
    /// field.
    pub(crate) fn check_identity(&self, expect: &Identity) -> Result<(), AttachError> {
        // SYNC POINT init: Acquire pairs with `publish`; only after reading
        // READY may the other fields be trusted to be the creator's.
        let state = self.init_state.load(Ordering::Acquire);
        // Relaxed below: these fields are immutable after READY (a hostile
        // writer can still change them, which only makes the checks fail).
        let magic = self.magic.load(Ordering::Relaxed);
        match state {
            READY if magic == MAGIC => {}
            UNINIT | INITIALISING if magic == MAGIC || magic == 0 => {
                return Err(AttachError::NotReady);
            }
            _ if magic != MAGIC => return Err(AttachError::BadMagic { found: magic }),
            other => return Err(AttachError::BadInitState { found: other }),
        }
        let version = self.version.load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(AttachError::VersionMismatch {
                expected: LAYOUT_VERSION,
                found: version,
            });
        }
        let kind = self.kind.load(Ordering::Relaxed);
        if kind != expect.kind as u32 {
            return Err(AttachError::KindMismatch {
                expected: expect.kind,
                found: kind,
            });
        }
        let elem_size = self.elem_size.load(Ordering::Relaxed);
        let elem_align = self.elem_align.load(Ordering::Relaxed);
        if elem_size != expect.elem_size || elem_align != expect.elem_align {
            return Err(AttachError::ElementMismatch {
                expected_size: expect.elem_size,
                expected_align: expect.elem_align,
                found_size: elem_size,
                found_align: elem_align,
            });
        }
        let schema = Schema(
            u64::from(self.schema_lo.load(Ordering::Relaxed))
                | (u64::from(self.schema_hi.load(Ordering::Relaxed)) << 32),
        );
        if schema != expect.schema {
            return Err(AttachError::SchemaMismatch {
                expected: expect.schema,
                found: schema,
            });
        }
        Ok(())
    }

    /// Checks the recorded body offset and region size against the ones the
    /// attaching side computed from the capacity, and against the `len`
    /// bytes it can vouch for.
    pub(crate) fn check_geometry(
        &self,
        len: usize,
        body_offset: usize,
        region_size: usize,
    ) -> Result<(), AttachError> {
        // Relaxed: immutable after READY, see `check_identity`.
        let found_offset = self.body_offset.load(Ordering::Relaxed);
        let found_size = self.region_size.load(Ordering::Relaxed);
        if found_offset as usize != body_offset || found_size as usize != region_size {
            return Err(AttachError::BadGeometry {
                body_offset: found_offset,
                region_size: found_size,
            });
        }
        if region_size > len {
            return Err(AttachError::RegionTooSmall {
                needed: region_size,
                len,
            });
        }
        Ok(())
    }

    /// The capacity word, as found (for attach, before full validation).
    pub(crate) fn capacity(&self) -> u32 {
        // Relaxed: read after `validate`'s Acquire, or as a hint before it.
        self.capacity.load(Ordering::Relaxed)
    }
}

/// Why a region could not be laid out or initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutError {
    /// The capacity (or count) is outside what the kind allows: zero, not a
    /// power of two where one is required, or above the kind's maximum.
    BadCapacity {
        /// The capacity asked for.
        capacity: u32,
    },
    /// The number of participants is zero or above the kind's maximum.
    BadParticipants {
        /// The number asked for.
        participants: u32,
    },
    /// A message queue's maximum message size is zero or above its limit.
    BadMessageSize {
        /// The size asked for.
        size: u32,
    },
    /// Elements of size zero cannot be stored.
    ZeroSizedElement,
    /// The element's alignment exceeds [`REGION_ALIGN`].
    ElementOverAligned {
        /// The element's alignment.
        align: usize,
    },
    /// The region would exceed [`MAX_REGION_SIZE`] bytes.
    TooLarge,
    /// The memory given is smaller than the layout needs.
    RegionTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        len: usize,
    },
    /// The memory given does not start on a [`REGION_ALIGN`] boundary.
    Misaligned {
        /// The address modulo [`REGION_ALIGN`].
        offset: usize,
    },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::BadCapacity { capacity } => {
                write!(f, "capacity {capacity} is outside what this kind allows")
            }
            LayoutError::BadParticipants { participants } => {
                write!(
                    f,
                    "{participants} participants is outside the allowed range"
                )
            }
            LayoutError::BadMessageSize { size } => {
                write!(f, "message size {size} is outside the allowed range")
            }
            LayoutError::ZeroSizedElement => f.write_str("zero-sized elements cannot be stored"),
            LayoutError::ElementOverAligned { align } => {
                write!(f, "element alignment {align} exceeds {REGION_ALIGN}")
            }
            LayoutError::TooLarge => write!(f, "region would exceed {MAX_REGION_SIZE} bytes"),
            LayoutError::RegionTooSmall { needed, len } => {
                write!(
                    f,
                    "region of {len} bytes is smaller than the {needed} needed"
                )
            }
            LayoutError::Misaligned { offset } => {
                write!(
                    f,
                    "region starts {offset} bytes past a {REGION_ALIGN}-byte boundary"
                )
            }
        }
    }
}

impl core::error::Error for LayoutError {}

/// Why `attach` refused a region. Each variant names the mismatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttachError {
    /// The creator has not finished `init` yet (or has not started): retry later.
    NotReady,
    /// The first word is not [`MAGIC`]: not an annulus region.
    BadMagic {
        /// The word found.
        found: u32,
    },
    /// The init state word holds a value no creator writes.
    BadInitState {
        /// The word found.
        found: u32,
    },
    /// Written by another layout version of annulus.
    VersionMismatch {
        /// The version this build understands.
        expected: u32,
        /// The version in the region.
        found: u32,
    },
    /// The region holds another kind of structure.
    KindMismatch {
        /// The kind asked for.
        expected: Kind,
        /// The kind word found (see [`Kind::from_word`]).
        found: u32,
    },
    /// The element size or alignment differs from the attaching type's.
    ElementMismatch {
        /// `size_of` the attaching type.
        expected_size: u32,
        /// `align_of` the attaching type.
        expected_align: u32,
        /// Size recorded in the region.
        found_size: u32,
        /// Alignment recorded in the region.
        found_align: u32,
    },
    /// The schema fingerprint differs: the two sides disagree on the element type.
    SchemaMismatch {
        /// The fingerprint the attaching side expects.
        expected: Schema,
        /// The fingerprint in the region.
        found: Schema,
    },
    /// The capacity is zero, not a power of two, or out of range.
    BadCapacity {
        /// The capacity found.
        found: u32,
    },
    /// The recorded body offset or region size disagree with the capacity.
    BadGeometry {
        /// Body offset found.
        body_offset: u32,
        /// Region size found.
        region_size: u32,
    },
    /// The memory given is smaller than the region the header describes.
    RegionTooSmall {
        /// Bytes the header says the region needs.
        needed: usize,
        /// Bytes given.
        len: usize,
    },
    /// The memory given does not start on a [`REGION_ALIGN`] boundary.
    Misaligned {
        /// The address modulo [`REGION_ALIGN`].
        offset: usize,
    },
    /// A value in the shared state is impossible (positions further apart than
    /// the capacity, an unknown claim state): the region is corrupted.
    Corrupted,
    /// The kind word names no structure this build knows (reported by
    /// [`inspect_raw`](crate::inspect::inspect_raw), which accepts any kind).
    UnknownKind {
        /// The kind word found.
        found: u32,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::NotReady => f.write_str("region is not initialised yet"),
            AttachError::BadMagic { found } => {
                write!(f, "not an annulus region (magic {found:#010x})")
            }
            AttachError::BadInitState { found } => {
                write!(f, "invalid init state {found:#010x}")
            }
            AttachError::VersionMismatch { expected, found } => {
                write!(
                    f,
                    "layout version {found}, this build understands {expected}"
                )
            }
            AttachError::KindMismatch { expected, found } => match Kind::from_word(*found) {
                Some(kind) => write!(f, "region holds a {kind:?}, expected a {expected:?}"),
                None => write!(
                    f,
                    "region holds unknown kind {found}, expected a {expected:?}"
                ),
            },
            AttachError::ElementMismatch {
                expected_size,
                expected_align,
                found_size,
                found_align,
            } => write!(
                f,
                "element is {found_size} bytes aligned {found_align}, \
                 expected {expected_size} aligned {expected_align}"
            ),
            AttachError::SchemaMismatch { expected, found } => write!(
                f,
                "schema fingerprint {:#018x}, expected {:#018x}",
                found.0, expected.0
            ),
            AttachError::BadCapacity { found } => write!(f, "invalid capacity {found}"),
            AttachError::BadGeometry {
                body_offset,
                region_size,
            } => write!(
                f,
                "body offset {body_offset} / region size {region_size} do not match the capacity"
            ),
            AttachError::RegionTooSmall { needed, len } => {
                write!(
                    f,
                    "region of {len} bytes is smaller than the {needed} its header needs"
                )
            }
            AttachError::Misaligned { offset } => {
                write!(
                    f,
                    "region starts {offset} bytes past a {REGION_ALIGN}-byte boundary"
                )
            }
            AttachError::Corrupted => f.write_str("shared state is corrupted"),
            AttachError::UnknownKind { found } => write!(f, "unknown kind {found}"),
        }
    }
}

impl core::error::Error for AttachError {}

/// Checks that `ptr` is aligned to [`REGION_ALIGN`].
pub(crate) fn check_align(addr: usize) -> Result<(), usize> {
    match addr % REGION_ALIGN {
        0 => Ok(()),
        offset => Err(offset),
    }
}

/// Checks memory handed to an `init`: aligned, and at least `needed` bytes.
pub(crate) fn check_init_memory(
    ptr: NonNull<u8>,
    len: usize,
    needed: usize,
) -> Result<(), LayoutError> {
    check_align(ptr.as_ptr() as usize).map_err(|offset| LayoutError::Misaligned { offset })?;
    if len < needed {
        return Err(LayoutError::RegionTooSmall { needed, len });
    }
    Ok(())
}

/// Zeroes the `len - offset` body bytes after the header, so every element
/// slot holds initialised (all-zero) bytes.
///
/// # Safety
///
/// `ptr..ptr + len` must be valid for writes and not accessed by anyone
/// else during the call; `offset <= len`.
pub(crate) unsafe fn zero_body(ptr: NonNull<u8>, offset: usize, len: usize) -> NonNull<u8> {
    debug_assert!(offset <= len);
    // SAFETY: the caller guarantees the range is valid and exclusively ours.
    unsafe {
        let body = ptr.add(offset);
        body.write_bytes(0, len - offset);
        body
    }
}

/// The first steps of every `attach`: alignment, room for a header of
/// `header_size` bytes, then the header's identity (ready, magic, version,
/// kind, element, schema). Returns the region header to read the capacity
/// from.
///
/// # Safety
///
/// `ptr..ptr + len` must be valid for reads for `'a` and hold initialised
/// bytes; `header_size >= size_of::<RegionHeader>()`.
pub(crate) unsafe fn attach_header<'a>(
    ptr: NonNull<u8>,
    len: usize,
    header_size: usize,
    identity: &Identity,
) -> Result<&'a RegionHeader, AttachError> {
    check_align(ptr.as_ptr() as usize).map_err(|offset| AttachError::Misaligned { offset })?;
    if len < header_size {
        return Err(AttachError::RegionTooSmall {
            needed: header_size,
            len,
        });
    }
    // SAFETY: aligned (128 >= align of RegionHeader) and at least a header
    // long, valid for 'a by the caller's contract; every field is an atomic,
    // valid for any initialised bytes.
    let region = unsafe { ptr.cast::<RegionHeader>().as_ref() };
    region.check_identity(identity)?;
    Ok(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_tell_types_apart() {
        assert_eq!(Schema::of::<u64>(), Schema::of::<u64>());
        assert_ne!(Schema::of::<u64>(), Schema::of::<i64>());
        assert_ne!(Schema::of::<u32>(), Schema::of::<[u8; 4]>());
        assert_eq!(Schema::new(7), Schema(7));
    }

    #[test]
    fn kinds_round_trip() {
        assert_eq!(Kind::from_word(Kind::Spsc as u32), Some(Kind::Spsc));
        assert_eq!(Kind::from_word(0), None);
        assert_eq!(Kind::from_word(u32::MAX), None);
    }

    #[test]
    fn alignment_check() {
        assert_eq!(check_align(0), Ok(()));
        assert_eq!(check_align(256), Ok(()));
        assert_eq!(check_align(130), Err(2));
    }
}
