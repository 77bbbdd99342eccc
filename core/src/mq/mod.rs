//! A message queue with priorities and types (POSIX `mq_*` and System V
//! `msg*` in one), for many senders and receivers in caller-provided memory.
//!
//! # What it does
//!
//! - Created with a maximum number of messages and a maximum message size
//!   (`mq_maxmsg`, `mq_msgsize`). Messages are byte strings of any length up
//!   to that size.
//! - Every message has a priority (`u16`, 65 536 levels) and a type (a
//!   non-zero `u32`). A plain receive returns the highest priority first,
//!   first in first out within a priority (POSIX). A selective receive takes
//!   the first message, in that same order, of a given type, of any type but
//!   one, or of the lowest type at most `t` (System V `msgrcv` with `msgtyp`
//!   `> 0`, `MSG_EXCEPT`, `< 0`); see [`Filter`].
//! - Non-blocking, blocking and timed send and receive. A buffer too small for
//!   the chosen message is an error that leaves the message queued, unless the
//!   caller asks for truncation (`MSG_NOERROR`).
//! - Counters like `mq_attr`/`msqid_ds` ([`Stats`]), and an "arrival on an
//!   empty queue" notification that a backend turns into a signal
//!   (`mq_notify`, see [`MessageQueue::register_notification`]).
//!
//! # Algorithm: one root word over copy-on-write blocks
//!
//! The queue's whole index lives in a *block* of `u32` words: the order of the
//! queued messages (slot, priority, type, length), the free slots (a bitmap),
//! the slot each participant holds, and the counters. One 64-bit root word
//! names the current block and a 48-bit version. An operation
//!
//! 1. copies the current block into its own scratch block, then re-reads the
//!    root: unchanged means the copy is an exact snapshot (a seqlock read);
//! 2. edits its copy (insert a message, remove the chosen one, move slots);
//! 3. installs it with one compare-and-swap of the root, which fails if any
//!    other operation was installed meanwhile; the block it replaced becomes
//!    its scratch block (recorded in the new block, so a crash cannot leak
//!    it).
//!
//! Every operation, selective receives included, is therefore linearizable
//! at its CAS and chooses from an exact snapshot: priority order and the
//! typed-receive rules hold under any concurrency. Payloads are not copied
//! through the block: a sender writes its message into a slot it holds before
//! the CAS that queues it, and a receiver copies out of the slot its CAS made
//! its own. The version makes a recycled block harmless: a CAS on a stale
//! root fails even when the same block is current again.
//!
//! # Progress
//!
//! **Lock-free**: a CAS fails only because another operation succeeded, and
//! a participant stopped or killed at any point blocks nobody (its scratch
//! block and the one slot it holds are its own; the block it would have
//! installed simply never appears). Not wait-free: under contention one
//! participant can lose many rounds in a row; after [`MAX_ATTEMPTS`] lost
//! rounds a non-blocking call reports `Contended` rather than spin on.
//! Each operation copies `O(queued + participants + slots / 32)` words, so
//! this queue suits the message-queue sizes of POSIX (`mq_maxmsg` is 10 by
//! default) and System V; for bulk throughput use the [`mpmc`](crate::mpmc)
//! ring.
//!
//! # Participants and crashes
//!
//! Each process (or thread) that sends or receives registers an
//! [`Endpoint`], which claims a participant record (pid + generation). A
//! participant holds at most one message slot between operations: the one
//! it will write its next message into, or the one it last received, which
//! is why the region has `max_messages + participants` slots. A participant
//! that dies leaves a consistent queue; [`MessageQueue::release_dead`] frees
//! its record for a newcomer, who inherits its slot and scratch block.
//!
//! # Sixty-four-bit atomics
//!
//! The root needs a 64-bit compare-and-swap (a 32-bit version could wrap
//! while a preempted participant holds a stale root). This module exists only
//! on targets with 64-bit atomics (`cfg(target_has_atomic = "64")`): not on
//! `thumbv7em-none-eabihf`, where the rest of the crate runs.
//!
//! # Layout
//!
//! ```text
//!    0  RegionHeader (64), participants, block words, msgsize, notification,
//!       receivers in a blocking receive (a bit each)
//!  128  data_ready and space_ready event counts
//!  256  root: block index (16 bits) | version (48 bits)
//!  384  participant claims, 8 bytes each, padded to 128
//!  ...  participants + 1 blocks of u32 words, each padded to 128
//!  ...  max_messages + participants slots of max_message_size bytes (8-aligned)
//! ```
//!
//! # Examples
//!
//! ```
//! use annulus::mq::{Filter, MessageQueue, RecvOptions};
//! use annulus::region::Region;
//! use annulus::wait::Spin;
//! use core::num::NonZeroU32;
//!
//! let mut region = Region::<{ MessageQueue::region_size(8, 64, 2) }>::new();
//! let mq = MessageQueue::init(region.as_uninit_mut(), 8, 64, 2).unwrap();
//! let clock = || 0u64;
//! let mut tx = mq.endpoint(1, Spin::new(clock)).unwrap();
//! let mut rx = mq.endpoint(2, Spin::new(clock)).unwrap();
//! let ty = |t| NonZeroU32::new(t).unwrap();
//! tx.try_send(b"routine", 1, ty(7)).unwrap();
//! tx.try_send(b"urgent", 9, ty(3)).unwrap();
//!
//! let mut buf = [0u8; 64];
//! // Highest priority first...
//! let got = rx.try_recv(&mut buf).unwrap();
//! assert_eq!((&buf[..got.len], got.priority), (&b"urgent"[..], 9));
//! // ...or by type, as msgrcv does.
//! let got = rx.try_recv_with(&mut buf, RecvOptions::filter(Filter::Type(ty(7)))).unwrap();
//! assert_eq!(&buf[..got.len], b"routine");
//! assert_eq!(mq.stats().unwrap().messages, 0);
//! ```

#![allow(unsafe_code)]

pub(crate) mod block;
mod endpoint;
mod error;
#[cfg(test)]
mod tests;

use core::marker::PhantomData;
use core::mem::{MaybeUninit, size_of};
use core::ptr::NonNull;

#[cfg(loom)]
pub use block::loom_relaxed_block_words;
pub use endpoint::{Endpoint, Filter, Received, RecvOptions, Sent};
pub use error::{RecvError, RecvTimeoutError, RegisterError, SendError, SendTimeoutError};

use crate::claim::{Claim, RoleClaim, RoleState};
use crate::event::{EventCount, Events};
use crate::layout::{
    AttachError, HeaderFields, Identity, Kind, LayoutError, Line, MAX_REGION_SIZE, REGION_ALIGN,
    RegionHeader, Schema, attach_header, check_init_memory,
};
use crate::sync::{Atomic64, AtomicU32, Ordering, SlotTracker};
use block::{Geometry, Snapshot};

/// Most messages a queue can hold.
pub const MAX_MESSAGES: u32 = 8192;
/// Largest message size a queue can be created with (16 MiB).
pub const MAX_MESSAGE_SIZE: u32 = 1 << 24;
/// Most participant records (endpoints) a queue can have.
pub const MAX_PARTICIPANTS: u32 = 256;
/// Rounds a non-blocking call may lose to other participants before it
/// reports `Contended`.
pub const MAX_ATTEMPTS: u32 = 1 << 16;
/// The schema a queue carries unless its creator names another.
pub const MQ_SCHEMA: Schema = Schema::new(u64::from_le_bytes(*b"annulmq1"));

/// Line 0: the region header and what never changes after init (plus the
/// notification registration).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) region: RegionHeader,
    /// Number of participant records (validated at attach).
    pub(crate) participants: AtomicU32,
    /// Words per block (validated at attach).
    pub(crate) block_words: AtomicU32,
    /// Who to notify of an arrival on an empty queue: `cookie << 32 | pid`,
    /// 0 when nobody. Written by `register_notification` and
    /// `cancel_notification`, and by the sender that consumes it.
    pub(crate) notify: Atomic64,
    /// Largest message, in bytes (validated at attach).
    pub(crate) message_size: AtomicU32,
    /// Notifications handed out so far (wrapping).
    pub(crate) notifications: AtomicU32,
    /// Participants in a blocking receive: bit `p % 32` of word `p / 32` for
    /// record `p`. Set and cleared by that participant around its `recv`,
    /// cleared for a dead one by `release_dead`; a sender hands out no
    /// arrival notification while a bit is set. A hint: a wrong bit only
    /// costs a notification, or gives a spare one.
    pub(crate) receiving: [AtomicU32; RECEIVING_WORDS],
}

/// Words of [`Control::receiving`]: one bit per possible participant.
const RECEIVING_WORDS: usize = MAX_PARTICIPANTS as usize / 32;

/// The fixed header: 384 bytes, 128-aligned.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct MqHeader {
    pub(crate) control: Line<Control>,
    pub(crate) events: Line<Events>,
    /// `version << 16 | block`. Written only by an operation's install CAS.
    pub(crate) root: Line<Atomic64>,
    /// Loom's record of slot accesses (empty outside loom).
    pub(crate) tracker: SlotTracker,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of};
    assert!(size_of::<MqHeader>() == 384);
    assert!(align_of::<MqHeader>() == 128);
    assert!(offset_of!(Control, region) == 0);
    assert!(offset_of!(Control, participants) == 64);
    assert!(offset_of!(Control, block_words) == 68);
    assert!(offset_of!(Control, notify) == 72);
    assert!(offset_of!(Control, message_size) == 80);
    assert!(offset_of!(Control, notifications) == 84);
    assert!(offset_of!(Control, receiving) == 88);
    assert!(size_of::<Control>() <= 128);
    assert!(offset_of!(MqHeader, events) == 128);
    assert!(offset_of!(MqHeader, root) == 256);
    assert!(size_of::<RoleClaim>() == 8);
};

/// Where each part of a queue's region lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MqLayout {
    /// Byte offset of the participant claims.
    pub records_offset: usize,
    /// Byte offset of the first block.
    pub blocks_offset: usize,
    /// Bytes from one block to the next.
    pub block_stride: usize,
    /// Byte offset of the first message slot.
    pub slots_offset: usize,
    /// Bytes per message slot (the message size rounded up to 8).
    pub slot_size: usize,
    /// Total bytes the region needs.
    pub size: usize,
    /// Alignment the region needs ([`REGION_ALIGN`]).
    pub align: usize,
}

/// Options for creating a queue in raw memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct InitOptions {
    /// Fingerprint of the message format; `None` means [`MQ_SCHEMA`].
    pub schema: Option<Schema>,
    /// Creator's process id, recorded for diagnostics (0 when unknown).
    pub creator_pid: u32,
}

/// Counters of a queue, read from one snapshot (`mq_attr`, `msqid_ds`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// Messages queued (`mq_curmsgs`, `msg_qnum`).
    pub messages: u32,
    /// Bytes of payload queued (`msg_cbytes`).
    pub bytes: u32,
    /// Pid of the last sender (`msg_lspid`), 0 before the first send.
    pub last_sender: u32,
    /// Pid of the last receiver (`msg_lrpid`), 0 before the first receive.
    pub last_receiver: u32,
    /// Messages sent since init (wrapping).
    pub sent: u32,
    /// Messages received since init (wrapping).
    pub received: u32,
}

/// A registration for arrival notifications (`mq_notify`): which process,
/// and an opaque word the backend chose (a signal number and payload, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Notification {
    /// The process to notify; never 0.
    pub pid: u32,
    /// The registrant's word, handed back unchanged.
    pub cookie: u32,
}

impl Notification {
    pub(crate) fn from_word(word: u64) -> Option<Self> {
        let pid = word as u32;
        (pid != 0).then_some(Notification {
            pid,
            cookie: (word >> 32) as u32,
        })
    }

    fn to_word(self) -> u64 {
        (u64::from(self.cookie) << 32) | u64::from(self.pid)
    }
}

/// Why the registration for arrival notifications was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationBusy {
    /// The pid already registered (`mq_notify` fails with EBUSY).
    pub pid: u32,
}

impl core::fmt::Display for NotificationBusy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "pid {} is already registered for notification", self.pid)
    }
}

impl core::error::Error for NotificationBusy {}

/// A view of a message queue in memory that lives for `'a`.
///
/// The view holds no role: register an [`Endpoint`] per participant with
/// [`MessageQueue::endpoint`].
#[derive(Clone, Copy)]
pub struct MessageQueue<'a> {
    header: NonNull<MqHeader>,
    records: NonNull<RoleClaim>,
    blocks: NonNull<u8>,
    slots: NonNull<u8>,
    /// Validated at init/attach; never re-read from shared memory.
    geometry: Geometry,
    /// Validated at init/attach.
    block_stride: usize,
    /// Validated at init/attach.
    slot_size: usize,
    _region: PhantomData<&'a MqHeader>,
}

impl core::fmt::Debug for MessageQueue<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MessageQueue")
            .field("max_messages", &self.geometry.max_messages)
            .field("message_size", &self.geometry.message_size)
            .field("participants", &self.geometry.participants)
            .finish()
    }
}

// SAFETY: shared state is reached only through atomics (blocks, root,
// claims) and slot bytes only through atomic copies by the participant whose
// block entry holds the slot.
unsafe impl Send for MessageQueue<'_> {}
// SAFETY: as above.
unsafe impl Sync for MessageQueue<'_> {}

impl<'a> MessageQueue<'a> {
    /// The region layout for a queue of `max_messages` messages of at most
    /// `message_size` bytes, used by up to `participants` endpoints at once.
    ///
    /// # Errors
    ///
    /// [`LayoutError::BadCapacity`] unless `max_messages` is in
    /// `1..=MAX_MESSAGES`; [`LayoutError::BadMessageSize`] unless
    /// `message_size` is in `1..=MAX_MESSAGE_SIZE`;
    /// [`LayoutError::BadParticipants`] unless `participants` is in
    /// `1..=MAX_PARTICIPANTS`; [`LayoutError::TooLarge`].
    pub const fn layout(
        max_messages: u32,
        message_size: u32,
        participants: u32,
    ) -> Result<MqLayout, LayoutError> {
        if max_messages == 0 || max_messages > MAX_MESSAGES {
            return Err(LayoutError::BadCapacity {
                capacity: max_messages,
            });
        }
        if message_size == 0 || message_size > MAX_MESSAGE_SIZE {
            return Err(LayoutError::BadMessageSize { size: message_size });
        }
        if participants == 0 || participants > MAX_PARTICIPANTS {
            return Err(LayoutError::BadParticipants { participants });
        }
        let geometry = Geometry::new(max_messages, message_size, participants);
        let records_offset = size_of::<MqHeader>();
        let blocks_offset =
            round_up(records_offset + participants as usize * size_of::<RoleClaim>());
        let block_stride = round_up(geometry.block_words as usize * size_of::<AtomicU32>());
        let slots_offset = blocks_offset + (participants as usize + 1) * block_stride;
        let slot_size = (message_size as usize + 7) & !7;
        let size = slots_offset + geometry.slots as usize * slot_size;
        if size > MAX_REGION_SIZE {
            return Err(LayoutError::TooLarge);
        }
        Ok(MqLayout {
            records_offset,
            blocks_offset,
            block_stride,
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
    /// If [`MessageQueue::layout`] rejects the arguments (at compile time in
    /// a const context).
    pub const fn region_size(max_messages: u32, message_size: u32, participants: u32) -> usize {
        match Self::layout(max_messages, message_size, participants) {
            Ok(layout) => layout.size,
            Err(_) => panic!("invalid message queue geometry"),
        }
    }

    /// Lays a new, empty queue into `region` (safe, in-process).
    ///
    /// # Errors
    ///
    /// Any [`LayoutError`] of [`MessageQueue::layout`], plus
    /// [`LayoutError::Misaligned`] and [`LayoutError::RegionTooSmall`].
    pub fn init(
        region: &'a mut [MaybeUninit<u8>],
        max_messages: u32,
        message_size: u32,
        participants: u32,
    ) -> Result<Self, LayoutError> {
        let len = region.len();
        let ptr = NonNull::from(region).cast::<u8>();
        // SAFETY: `region` is exclusively borrowed for 'a: nobody else
        // touches it during init, and it outlives the returned view.
        unsafe {
            Self::init_raw(
                ptr,
                len,
                max_messages,
                message_size,
                participants,
                InitOptions::default(),
            )
        }
    }

    /// Lays a new, empty queue into raw (shared) memory; "ready" is
    /// published last, so a concurrent attach sees "not ready" or the whole
    /// queue.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::init`].
    ///
    /// # Safety
    ///
    /// As [`Spsc::init_raw`](crate::spsc::Spsc::init_raw): `ptr..ptr + len`
    /// valid for reads and writes for `'a`, untouched by this process during
    /// the call, and accessed only through annulus views afterwards.
    pub unsafe fn init_raw(
        ptr: NonNull<u8>,
        len: usize,
        max_messages: u32,
        message_size: u32,
        participants: u32,
        options: InitOptions,
    ) -> Result<Self, LayoutError> {
        let layout = Self::layout(max_messages, message_size, participants)?;
        check_init_memory(ptr, len, layout.size)?;
        let geometry = Geometry::new(max_messages, message_size, participants);
        let fields = HeaderFields {
            kind: Kind::MessageQueue,
            // Fit in u32: `layout` checked size <= MAX_REGION_SIZE.
            body_offset: layout.slots_offset as u32,
            region_size: layout.size as u32,
            capacity: max_messages,
            elem_size: 1,
            elem_align: 1,
            schema: options.schema.unwrap_or(MQ_SCHEMA),
            creator_pid: options.creator_pid,
            flags: 0,
        };
        let header = ptr.cast::<MqHeader>();
        // SAFETY: aligned and large enough (checked above); ours during init.
        unsafe {
            header.write(MqHeader {
                control: Line(Control {
                    region: RegionHeader::new(&fields),
                    participants: AtomicU32::new(participants),
                    block_words: AtomicU32::new(geometry.block_words),
                    notify: Atomic64::new(0),
                    message_size: AtomicU32::new(message_size),
                    notifications: AtomicU32::new(0),
                    receiving: core::array::from_fn(|_| AtomicU32::new(0)),
                }),
                events: Line(Events {
                    data_ready: EventCount::new(),
                    space_ready: EventCount::new(),
                }),
                root: Line(Atomic64::new(u64::from(participants))),
                tracker: SlotTracker::new(geometry.slots),
            });
        }
        // SAFETY: records, blocks and slots lie inside the region
        // (layout.size <= len), are suitably aligned (offsets are multiples
        // of 128 and 8) and are ours during init; each atomic is written
        // whole with `write`, and the slot bytes are zeroed.
        let mq = unsafe {
            let records = ptr.add(layout.records_offset).cast::<RoleClaim>();
            for i in 0..participants as usize {
                records.add(i).write(RoleClaim::new());
            }
            let blocks = ptr.add(layout.blocks_offset);
            for b in 0..=participants as usize {
                let words = blocks.add(b * layout.block_stride).cast::<AtomicU32>();
                for w in 0..geometry.block_words as usize {
                    words.add(w).write(AtomicU32::new(0));
                }
            }
            let slots = ptr.add(layout.slots_offset);
            slots.write_bytes(0, layout.size - layout.slots_offset);
            MessageQueue {
                header,
                records,
                blocks,
                slots,
                geometry,
                block_stride: layout.block_stride,
                slot_size: layout.slot_size,
                _region: PhantomData,
            }
        };
        block::write_initial(&mq.geometry, mq.block(participants));
        mq.hdr().control.0.region.publish();
        Ok(mq)
    }

    /// Attaches to a queue another party initialised, checking the header
    /// (and `schema`) first.
    ///
    /// # Errors
    ///
    /// [`AttachError::NotReady`] while the creator is still initialising;
    /// otherwise the [`AttachError`] naming the first mismatch
    /// ([`AttachError::Corrupted`] for impossible geometry words).
    ///
    /// # Safety
    ///
    /// As [`Spsc::attach_raw`](crate::spsc::Spsc::attach_raw), including its
    /// rule on handles: a participant record must not be held twice by this
    /// process.
    pub unsafe fn attach_raw(
        ptr: NonNull<u8>,
        len: usize,
        schema: Schema,
    ) -> Result<Self, AttachError> {
        let identity = Identity {
            kind: Kind::MessageQueue,
            elem_size: 1,
            elem_align: 1,
            schema,
        };
        // SAFETY: the caller's contract covers `attach_header`'s.
        let region = unsafe { attach_header(ptr, len, size_of::<MqHeader>(), &identity)? };
        let max_messages = region.capacity();
        // SAFETY: `attach_header` checked alignment and that the whole fixed
        // header fits; valid for 'a by the caller's contract.
        let hdr = unsafe { ptr.cast::<MqHeader>().as_ref() };
        let control = &hdr.control.0;
        // Relaxed: immutable after READY, which `attach_header` acquired.
        let participants = control.participants.load(Ordering::Relaxed);
        let message_size = control.message_size.load(Ordering::Relaxed);
        let block_words = control.block_words.load(Ordering::Relaxed);
        let layout = match Self::layout(max_messages, message_size, participants) {
            Ok(layout) => layout,
            Err(LayoutError::BadCapacity { capacity }) => {
                return Err(AttachError::BadCapacity { found: capacity });
            }
            Err(_) => return Err(AttachError::Corrupted),
        };
        let geometry = Geometry::new(max_messages, message_size, participants);
        if block_words != geometry.block_words {
            return Err(AttachError::Corrupted);
        }
        region.check_geometry(len, layout.slots_offset, layout.size)?;
        // SAFETY: the offsets are inside the region (geometry checked) and
        // aligned for what lies there.
        let (records, blocks, slots) = unsafe {
            (
                ptr.add(layout.records_offset).cast::<RoleClaim>(),
                ptr.add(layout.blocks_offset),
                ptr.add(layout.slots_offset),
            )
        };
        Ok(MessageQueue {
            header: ptr.cast(),
            records,
            blocks,
            slots,
            geometry,
            block_stride: layout.block_stride,
            slot_size: layout.slot_size,
            _region: PhantomData,
        })
    }

    /// Most messages the queue holds (`mq_maxmsg`).
    pub fn max_messages(&self) -> u32 {
        self.geometry.max_messages
    }

    /// Largest message, in bytes (`mq_msgsize`).
    pub fn max_message_size(&self) -> u32 {
        self.geometry.message_size
    }

    /// Number of participant records.
    pub fn max_participants(&self) -> u32 {
        self.geometry.participants
    }

    /// The counters, read from one consistent snapshot.
    ///
    /// # Errors
    ///
    /// [`RecvError::Corrupted`] when the root names no block or the counts
    /// are impossible (more messages or bytes than the queue holds),
    /// [`RecvError::Contended`] when [`MAX_ATTEMPTS`] snapshots in a row were
    /// overtaken by other operations.
    pub fn stats(&self) -> Result<Stats, RecvError> {
        let stats = Snapshot::read_stats(self).map_err(RecvError::from)?;
        // A consistent snapshot is not a trustworthy one: a peer may have
        // written any counts into the block.
        let most_bytes =
            u64::from(self.geometry.max_messages) * u64::from(self.geometry.message_size);
        if stats.messages > self.geometry.max_messages || u64::from(stats.bytes) > most_bytes {
            return Err(RecvError::Corrupted);
        }
        Ok(stats)
    }

    /// The state of participant record `index` (`None` past the last), for
    /// diagnostics and liveness checks. Racy.
    pub fn participant(&self, index: u32) -> Option<RoleState> {
        (index < self.geometry.participants).then(|| self.record(index).state())
    }

    /// Releases the records of participants whose process `is_alive` says is
    /// gone, so newcomers can register; returns how many. The queue itself
    /// needs no repair: a dead participant's last operation either installed
    /// a complete block or left no trace, and the slot and scratch block it
    /// owned pass to the next holder of its record.
    ///
    /// `is_alive` must be right: releasing the record of a live participant
    /// lets two endpoints share a scratch block, which corrupts the queue.
    pub fn release_dead(&self, mut is_alive: impl FnMut(Claim) -> bool) -> u32 {
        let mut released = 0;
        for index in 0..self.geometry.participants {
            let record = self.record(index);
            if let RoleState::Held(claim) = record.state()
                && !is_alive(claim)
                && record.release_dead(claim).ended()
            {
                // It may have died in a blocking receive.
                self.set_receiving(index, false);
                released += 1;
            }
        }
        released
    }

    /// Registers `pid` to be notified of the next arrival on an empty queue
    /// (`mq_notify`): the sender whose message makes the queue non-empty,
    /// while no receiver is in a blocking receive, gets the registration
    /// back in
    /// [`Sent::notify`] and the registration ends, as with POSIX. `cookie`
    /// is returned with it (a backend stores its signal number there).
    /// Registering the same pid again replaces its cookie.
    ///
    /// # Errors
    ///
    /// [`NotificationBusy`] when another pid is registered (or `pid` is 0,
    /// reported as busy with pid 0).
    pub fn register_notification(&self, pid: u32, cookie: u32) -> Result<(), NotificationBusy> {
        if pid == 0 {
            return Err(NotificationBusy { pid: 0 });
        }
        let word = &self.hdr().control.0.notify;
        let new = Notification { pid, cookie }.to_word();
        // Relaxed: a starting guess for the CAS.
        let mut current = word.load(Ordering::Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            match Notification::from_word(current) {
                Some(other) if other.pid != pid => {
                    return Err(NotificationBusy { pid: other.pid });
                }
                _ => {}
            }
            // Relaxed: the registration publishes nothing but itself.
            match word.compare_exchange(current, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return Ok(()),
                Err(actual) => current = actual,
            }
        }
        Err(NotificationBusy {
            pid: Notification::from_word(current).map_or(0, |n| n.pid),
        })
    }

    /// Removes `pid`'s registration; returns whether it was registered.
    pub fn cancel_notification(&self, pid: u32) -> bool {
        let word = &self.hdr().control.0.notify;
        // Relaxed: as in `register_notification`.
        let mut current = word.load(Ordering::Relaxed);
        for _ in 0..MAX_ATTEMPTS {
            match Notification::from_word(current) {
                Some(n) if n.pid == pid => {}
                _ => return false,
            }
            // Relaxed: as above.
            match word.compare_exchange(current, 0, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
        false
    }

    /// The current registration, if any. Racy.
    pub fn notification(&self) -> Option<Notification> {
        // Relaxed: diagnostics.
        Notification::from_word(self.hdr().control.0.notify.load(Ordering::Relaxed))
    }

    /// Notifications handed to senders since init (wrapping). Racy.
    pub fn notifications(&self) -> u32 {
        // Relaxed: a statistic.
        self.hdr().control.0.notifications.load(Ordering::Relaxed)
    }

    /// Marks participant `index` as in a blocking receive, or not.
    pub(crate) fn set_receiving(&self, index: u32, on: bool) {
        let word = &self.hdr().control.0.receiving[index as usize / 32];
        let bit = 1 << (index % 32);
        // Relaxed: a hint for `anyone_receiving`, which orders nothing.
        if on {
            word.fetch_or(bit, Ordering::Relaxed);
        } else {
            word.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// Whether any participant is in a blocking receive. Racy: a hint.
    pub(crate) fn anyone_receiving(&self) -> bool {
        let words = self.geometry.participants.div_ceil(32) as usize;
        // Relaxed: see `set_receiving`.
        self.hdr().control.0.receiving[..words]
            .iter()
            .any(|word| word.load(Ordering::Relaxed) != 0)
    }

    /// The shared header, valid for `'a`.
    pub(crate) fn hdr(&self) -> &'a MqHeader {
        // SAFETY: checked (alignment, size) at init/attach; the region is
        // valid for 'a; every field is an atomic.
        unsafe { self.header.as_ref() }
    }

    pub(crate) fn record(&self, index: u32) -> &'a RoleClaim {
        debug_assert!(index < self.geometry.participants);
        // SAFETY: index < participants and the region holds that many
        // claims (geometry checked); both fields are atomics.
        unsafe { self.records.add(index as usize).as_ref() }
    }

    /// The words of block `b`, which must be `<= participants`.
    pub(crate) fn block(&self, b: u32) -> &'a [AtomicU32] {
        debug_assert!(b <= self.geometry.participants);
        // SAFETY: b <= participants, and the region holds participants + 1
        // blocks of `block_words` atomics each, `block_stride` bytes apart
        // (geometry checked); initialised at init.
        unsafe {
            let words = self
                .blocks
                .add(b as usize * self.block_stride)
                .cast::<AtomicU32>();
            core::slice::from_raw_parts(words.as_ptr(), self.geometry.block_words as usize)
        }
    }

    /// Pointer to the first byte of slot `slot`, which must be `< slots`.
    pub(crate) fn slot_ptr(&self, slot: u32) -> *mut u8 {
        debug_assert!(slot < self.geometry.slots);
        // SAFETY: slot < slots, and the region holds that many slots of
        // `slot_size` bytes.
        unsafe { self.slots.as_ptr().add(slot as usize * self.slot_size) }
    }
}

/// Rounds `n` up to a multiple of [`REGION_ALIGN`].
const fn round_up(n: usize) -> usize {
    (n + REGION_ALIGN - 1) & !(REGION_ALIGN - 1)
}
