//! Variable-length message frames in an SPSC byte ring, each frame in one
//! contiguous piece so it can be written and read in place.
//!
//! A frame is a 32-byte [`FrameHeader`] (payload length, message type,
//! priority, sequence number, sender id, flags) followed by the payload,
//! padded to a multiple of 8 bytes; frames start 8-byte aligned.
//!
//! When a frame does not fit between the write position and the end of the
//! ring, the writer fills the rest of the ring with a padding frame (a header
//! with [`FrameHeader::PADDING`]; or nothing, if fewer than 32 bytes remain)
//! and writes the frame at the start, in the same commit — as bbqueue does —
//! so a frame is never split. To guarantee that a frame always fits after
//! such padding, a frame is at most half the ring: its payload at most
//! `capacity / 2 - 32` bytes.
//!
//! The ring is an [`Spsc`] ring of bytes whose header records
//! [`crate::layout::Kind::FrameRing`], so a plain byte
//! stream cannot attach to it by mistake. Lengths read from the region are
//! untrusted: a header whose length does not fit what was committed is a
//! [`FrameRecvError::Corrupted`], never an out-of-bounds slice.

#![allow(unsafe_code)]

mod reader;
#[cfg(test)]
mod tests;
mod writer;

use core::fmt;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

pub use reader::{FrameReader, ReadFrame};
pub use writer::{FrameGrant, FrameWriter};

use crate::claim::{Claim, ClaimError, RoleState};
use crate::layout::{AttachError, Kind, LayoutError, Schema};
use crate::spsc::{InitOptions, Spsc};
use crate::wait::Wait;

/// Bytes of a frame header.
pub const HEADER_SIZE: u32 = 32;
/// Frames start and end on multiples of this many bytes.
pub const FRAME_ALIGN: u32 = 8;
/// Smallest ring: room for two frames of 32 bytes of payload.
pub const MIN_CAPACITY: u32 = 256;

/// The header in front of every frame. Plain data, copied bit for bit.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload bytes that follow the header.
    pub len: u32,
    /// [`FrameHeader::PADDING`] and application bits.
    pub flags: u32,
    /// Message type (System V `mtype`, > 0 by convention; 0 = untyped).
    pub msg_type: u32,
    /// Priority (higher is more urgent).
    pub priority: u32,
    /// Sender id (a pid, a participant index, or 0).
    pub sender: u32,
    /// Reserved, written as zero.
    pub reserved: u32,
    /// Sequence number assigned by the writer, from 0 per writer.
    pub seq: u64,
}

// SAFETY: `repr(C)`, seven integer fields whose sizes add up to the struct's
// size (asserted below), so there is no padding; all-zero is a valid header.
unsafe impl bytemuck::Zeroable for FrameHeader {}
// SAFETY: as above; every bit pattern of the integers is a valid header.
unsafe impl bytemuck::Pod for FrameHeader {}

const _: () = assert!(core::mem::size_of::<FrameHeader>() == HEADER_SIZE as usize);
const _: () = assert!(core::mem::size_of::<FrameHeader>() == 6 * 4 + 8);

impl FrameHeader {
    /// Flag of a padding frame: it fills the ring up to its end and carries
    /// no message.
    pub const PADDING: u32 = 1 << 31;
}

/// What a writer says about a frame; the writer fills in length and sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameMeta {
    /// Message type.
    pub msg_type: u32,
    /// Priority.
    pub priority: u32,
    /// Sender id.
    pub sender: u32,
    /// Application flags (the top bit is reserved for padding and cleared).
    pub flags: u32,
}

/// Total bytes a frame with `len` payload bytes takes in the ring.
pub(crate) fn frame_size(len: u32) -> Option<u32> {
    len.checked_add(HEADER_SIZE + FRAME_ALIGN - 1)
        .map(|n| n & !(FRAME_ALIGN - 1))
}

/// Why a frame was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameSendError {
    /// The payload exceeds the ring's maximum (half the ring minus a header).
    TooLarge {
        /// Payload bytes asked for.
        len: usize,
        /// Largest payload this ring takes.
        max: u32,
    },
    /// Not enough free space right now.
    Full,
    /// The reader closed the ring (EPIPE).
    Disconnected,
    /// The deadline of a blocking send passed.
    Timeout,
    /// A position read from the region is impossible.
    Corrupted,
}

impl fmt::Display for FrameSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameSendError::TooLarge { len, max } => {
                write!(
                    f,
                    "frame payload of {len} bytes exceeds the maximum of {max}"
                )
            }
            FrameSendError::Full => f.write_str("frame ring is full"),
            FrameSendError::Disconnected => f.write_str("reader has closed the frame ring"),
            FrameSendError::Timeout => f.write_str("timed out waiting for space"),
            FrameSendError::Corrupted => f.write_str("frame ring positions are corrupted"),
        }
    }
}

impl core::error::Error for FrameSendError {}

/// Why no frame was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameRecvError {
    /// No frame yet, and the writer is still there.
    Empty,
    /// No frame left, and the writer closed the ring.
    Disconnected,
    /// The buffer is smaller than the frame's payload; the frame stays in
    /// the ring (use a truncating receive to take it anyway).
    BufferTooSmall {
        /// Payload bytes of the frame.
        needed: u32,
    },
    /// The deadline of a blocking receive passed.
    Timeout,
    /// A frame header or position read from the region is impossible.
    Corrupted,
}

impl fmt::Display for FrameRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameRecvError::Empty => f.write_str("frame ring is empty"),
            FrameRecvError::Disconnected => f.write_str("writer has closed the frame ring"),
            FrameRecvError::BufferTooSmall { needed } => {
                write!(f, "buffer too small for a frame of {needed} bytes")
            }
            FrameRecvError::Timeout => f.write_str("timed out waiting for a frame"),
            FrameRecvError::Corrupted => f.write_str("frame ring contents are corrupted"),
        }
    }
}

impl core::error::Error for FrameRecvError {}

/// A view of a frame ring of `capacity` bytes in memory that lives for `'a`.
///
/// # Examples
///
/// ```
/// use annulus::frame::{FrameMeta, FrameRing};
/// use annulus::region::Region;
/// use annulus::wait::Spin;
///
/// let mut region = Region::<{ FrameRing::region_size(1024) }>::new();
/// let ring = FrameRing::init(region.as_uninit_mut(), 1024).unwrap();
/// let mut tx = ring.writer(Spin::new(|| 0)).unwrap();
/// let mut rx = ring.reader(Spin::new(|| 0)).unwrap();
/// let meta = FrameMeta { msg_type: 7, priority: 1, ..FrameMeta::default() };
/// tx.try_send(meta, b"variable length").unwrap();
/// let frame = rx.try_recv_frame().unwrap();
/// assert_eq!(frame.payload(), b"variable length");
/// assert_eq!(frame.header().msg_type, 7);
/// frame.release();
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FrameRing<'a> {
    ring: Spsc<'a, u8>,
}

impl<'a> FrameRing<'a> {
    /// Bytes a region needs for a ring of `capacity` bytes.
    ///
    /// # Errors
    ///
    /// [`LayoutError::BadCapacity`] unless `capacity` is a power of two of
    /// at least [`MIN_CAPACITY`] (and at most `Spsc`'s maximum).
    pub const fn layout(capacity: u32) -> Result<crate::layout::RegionLayout, LayoutError> {
        if capacity < MIN_CAPACITY {
            return Err(LayoutError::BadCapacity { capacity });
        }
        Spsc::<u8>::layout(capacity)
    }

    /// Bytes a region needs, as a `const fn` for sizing a
    /// [`Region`](crate::region::Region).
    ///
    /// # Panics
    ///
    /// If [`FrameRing::layout`] rejects `capacity`.
    pub const fn region_size(capacity: u32) -> usize {
        match Self::layout(capacity) {
            Ok(layout) => layout.size,
            Err(_) => panic!("invalid frame ring capacity"),
        }
    }

    /// Lays a new, empty frame ring into `region` (safe, in-process).
    ///
    /// # Errors
    ///
    /// As [`FrameRing::layout`], plus misalignment and a short region.
    pub fn init(region: &'a mut [MaybeUninit<u8>], capacity: u32) -> Result<Self, LayoutError> {
        let len = region.len();
        let ptr = NonNull::from(region).cast::<u8>();
        // SAFETY: exclusively borrowed for 'a; outlives the view.
        unsafe { Self::init_raw(ptr, len, capacity, InitOptions::default()) }
    }

    /// Lays a new, empty frame ring into raw (shared) memory.
    ///
    /// # Errors
    ///
    /// As [`FrameRing::init`].
    ///
    /// # Safety
    ///
    /// As [`Spsc::init_raw`].
    pub unsafe fn init_raw(
        ptr: NonNull<u8>,
        len: usize,
        capacity: u32,
        options: InitOptions,
    ) -> Result<Self, LayoutError> {
        Self::layout(capacity)?;
        let options = InitOptions {
            schema: Some(options.schema.unwrap_or(FRAME_SCHEMA)),
            ..options
        };
        // SAFETY: the caller's contract is `init_raw_as`'s.
        let ring =
            unsafe { Spsc::<u8>::init_raw_as(Kind::FrameRing, ptr, len, capacity, options)? };
        Ok(FrameRing { ring })
    }

    /// Attaches to a frame ring another party initialised.
    ///
    /// # Errors
    ///
    /// As [`Spsc::attach_raw`]; a capacity below [`MIN_CAPACITY`] is
    /// [`AttachError::BadCapacity`].
    ///
    /// # Safety
    ///
    /// As [`Spsc::attach_raw`].
    pub unsafe fn attach_raw(
        ptr: NonNull<u8>,
        len: usize,
        schema: Option<Schema>,
    ) -> Result<Self, AttachError> {
        // SAFETY: the caller's contract is `attach_raw_as`'s.
        let ring = unsafe {
            Spsc::<u8>::attach_raw_as(Kind::FrameRing, ptr, len, schema.unwrap_or(FRAME_SCHEMA))?
        };
        if ring.capacity() < MIN_CAPACITY {
            return Err(AttachError::BadCapacity {
                found: ring.capacity(),
            });
        }
        Ok(FrameRing { ring })
    }

    /// Ring size in bytes.
    pub fn capacity(&self) -> u32 {
        self.ring.capacity()
    }

    /// Largest payload a frame can carry: half the ring minus a header.
    pub fn max_payload(&self) -> u32 {
        self.ring.capacity() / 2 - HEADER_SIZE
    }

    /// Bytes committed and not yet released (frames and padding). Racy.
    pub fn len_bytes(&self) -> u32 {
        self.ring.len()
    }

    /// The writing role's state (who holds it). Racy.
    pub fn writer_state(&self) -> RoleState {
        self.ring.producer_state()
    }

    /// The reading role's state (who holds it). Racy.
    pub fn reader_state(&self) -> RoleState {
        self.ring.consumer_state()
    }

    /// Ends the writer tenure `claim` on behalf of a writer known to be dead
    /// (the liveness hook): the reader then sees `Disconnected` once it has
    /// read every committed frame, and a new writer can claim the role. Does
    /// nothing and returns `false` if that tenure already ended. As
    /// [`Spsc::release_dead_producer`].
    pub fn release_dead_writer<W: Wait>(&self, claim: Claim, wait: &W) -> bool {
        self.ring.release_dead_producer(claim, wait)
    }

    /// Ends the reader tenure `claim` on behalf of a reader known to be
    /// dead; the writer's sends then fail with `Disconnected`. As
    /// [`Spsc::release_dead_consumer`].
    pub fn release_dead_reader<W: Wait>(&self, claim: Claim, wait: &W) -> bool {
        self.ring.release_dead_consumer(claim, wait)
    }

    /// Claims the writing role (pid recorded as 0).
    ///
    /// # Errors
    ///
    /// As [`Spsc::producer`].
    pub fn writer<W: Wait>(&self, wait: W) -> Result<FrameWriter<'a, W>, ClaimError> {
        self.claim_writer(0, wait)
    }

    /// Claims the writing role for process `pid`.
    ///
    /// # Errors
    ///
    /// As [`Spsc::producer`].
    pub fn claim_writer<W: Wait>(
        &self,
        pid: u32,
        wait: W,
    ) -> Result<FrameWriter<'a, W>, ClaimError> {
        Ok(FrameWriter::new(self.ring.claim_producer(pid, wait)?))
    }

    /// Claims the reading role (pid recorded as 0).
    ///
    /// # Errors
    ///
    /// As [`Spsc::consumer`].
    pub fn reader<W: Wait>(&self, wait: W) -> Result<FrameReader<'a, W>, ClaimError> {
        self.claim_reader(0, wait)
    }

    /// Claims the reading role for process `pid`.
    ///
    /// # Errors
    ///
    /// As [`Spsc::consumer`].
    pub fn claim_reader<W: Wait>(
        &self,
        pid: u32,
        wait: W,
    ) -> Result<FrameReader<'a, W>, ClaimError> {
        Ok(FrameReader::new(self.ring.claim_consumer(pid, wait)?))
    }
}

/// The schema fingerprint frame rings record: the frame format's version.
pub const FRAME_SCHEMA: Schema = Schema::new(u64::from_le_bytes(*b"frame/v1"));
