//! What each kind of region says about itself: its geometry (checked by
//! `inspect_raw`), its counters and its role slots, read by offset through
//! the bounds-checked relaxed reads of [`Mem`].

use core::mem::offset_of;

use super::{HeaderInfo, Inspection, Mem, element_ok};
use crate::claim::{PID_OFFSET, RoleState, decode_state};
use crate::event::{Events, SLEEPERS_OFFSET};
use crate::layout::{AttachError, Kind, Line, MAX_REGION_SIZE};
use crate::sync::{Ordering, fence};

/// A role's name in the kind it belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RoleName {
    /// SPSC producer.
    Producer,
    /// SPSC consumer.
    Consumer,
    /// Frame ring writer.
    Writer,
    /// Frame ring reader.
    Reader,
    /// MPMC participant record registered as a sender.
    Sender,
    /// MPMC participant record registered as a receiver.
    Receiver,
    /// MPMC record with no (or an unknown) role word: never used, or garbage.
    Unassigned,
    /// Message queue endpoint record.
    Endpoint,
    /// Robust semaphore set holder record.
    Holder,
}

impl RoleName {
    /// Lower-case name, as the `annulus` tool prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleName::Producer => "producer",
            RoleName::Consumer => "consumer",
            RoleName::Writer => "writer",
            RoleName::Reader => "reader",
            RoleName::Sender => "sender",
            RoleName::Receiver => "receiver",
            RoleName::Unassigned => "unassigned",
            RoleName::Endpoint => "endpoint",
            RoleName::Holder => "holder",
        }
    }
}

/// One role slot or participant record and its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleEntry {
    /// What the slot is for.
    pub name: RoleName,
    /// Index of the record (0 and 1 for a ring's two roles).
    pub index: u32,
    /// Who holds it, or last held it.
    pub state: RoleState,
}

/// Counters of an SPSC ring or a frame ring (whose positions count bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingCounters {
    /// Slots (bytes for a frame ring).
    pub capacity: u32,
    /// Next position the consumer reads.
    pub head: u32,
    /// Next position the producer writes.
    pub tail: u32,
    /// `tail - head` (wrapping), unclamped: above the capacity means corrupted.
    pub used: u32,
    /// Consumers asleep waiting for data.
    pub data_sleepers: u32,
    /// Producers asleep waiting for room.
    pub space_sleepers: u32,
}

/// Counters of an MPMC ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MpmcCounters {
    /// Slots.
    pub capacity: u32,
    /// Participant records.
    pub participants: u32,
    /// Next position a receiver claims.
    pub head: u32,
    /// Next position a sender claims.
    pub tail: u32,
    /// `tail - head` (wrapping), unclamped.
    pub used: u32,
    /// Registered senders.
    pub senders: u32,
    /// Registered receivers.
    pub receivers: u32,
    /// Whether every sender left (receivers see `Disconnected` once drained).
    pub senders_closed: bool,
    /// Whether every receiver left.
    pub receivers_closed: bool,
    /// Slots skipped or taken back by repairs (wrapping).
    pub repairs: u32,
    /// Pid of the process running a repair, if one holds the repair lock.
    pub repair_lock: Option<u32>,
    /// Receivers asleep waiting for data.
    pub data_sleepers: u32,
    /// Senders asleep waiting for room.
    pub space_sleepers: u32,
}

/// Counters of a semaphore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SemaphoreCounters {
    /// Units available (above `max` means corrupted).
    pub value: u32,
    /// Largest value.
    pub max: u32,
    /// Waiters for units asleep.
    pub sleepers: u32,
    /// Waiters for zero asleep.
    pub zero_sleepers: u32,
}

/// Counters of a semaphore set; the values are [`Inspection::set_counter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetCounters {
    /// Counters in the set.
    pub count: u32,
    /// Largest value of each.
    pub max: u32,
    /// The lock holder's pid (0 when unknown) while the lock is held.
    pub lock_holder: Option<u32>,
    /// Callers asleep until a counter changes.
    pub sleepers: u32,
}

/// Counters of a message queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MqCounters {
    /// Most messages (`mq_maxmsg`).
    pub max_messages: u32,
    /// Largest message in bytes (`mq_msgsize`).
    pub message_size: u32,
    /// Endpoint records.
    pub participants: u32,
    /// Queued messages and bytes, last sender and receiver, totals: `None`
    /// when no consistent snapshot could be read (the queue kept changing,
    /// or its root names no block).
    #[cfg(target_has_atomic = "64")]
    pub stats: Option<crate::mq::Stats>,
    /// The process registered for arrival notification (`mq_notify`).
    #[cfg(target_has_atomic = "64")]
    pub notification: Option<crate::mq::Notification>,
    /// Notifications handed out (wrapping).
    pub notifications: u32,
    /// Endpoints in a blocking receive.
    pub receiving: u32,
    /// Receivers asleep waiting for a message.
    pub data_sleepers: u32,
    /// Senders asleep waiting for room.
    pub space_sleepers: u32,
}

/// The counters of one region, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Counters {
    /// An SPSC ring.
    Spsc(RingCounters),
    /// A frame ring (positions in bytes).
    FrameRing(RingCounters),
    /// An MPMC ring.
    Mpmc(MpmcCounters),
    /// A semaphore.
    Semaphore(SemaphoreCounters),
    /// A semaphore set.
    SemaphoreSet(SetCounters),
    /// A message queue.
    MessageQueue(MqCounters),
    /// A robust semaphore set.
    RobustSemaphoreSet(super::RobustSetCounters),
}

/// Where a checked region's parts lie, computed from its header words.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    /// The body offset the header must record.
    pub(crate) body_offset: usize,
    /// The region size the header must record.
    pub(crate) size: usize,
    /// Participant records (MPMC, message queue) or counters (set); else 0.
    pub(crate) records: u32,
    /// A message queue's largest message; else 0.
    pub(crate) message_size: u32,
}

const fn round_up(n: usize, align: usize) -> usize {
    n.div_ceil(align) * align
}

/// Recomputes the layout from the header's capacity and element words (and
/// the kind's own geometry words), as `attach` would from its type.
pub(crate) fn geometry(mem: &Mem<'_>, h: &HeaderInfo, kind: Kind) -> Result<Shape, AttachError> {
    let bad_capacity = AttachError::BadCapacity { found: h.capacity };
    let shape = |body_offset, size| Shape {
        body_offset,
        size,
        records: 0,
        message_size: 0,
    };
    match kind {
        Kind::Spsc => {
            let c = h.capacity;
            if c == 0 || !c.is_power_of_two() || c > crate::spsc::MAX_CAPACITY {
                return Err(bad_capacity);
            }
            if !element_ok(h.elem_size, h.elem_align) {
                return Err(AttachError::Corrupted);
            }
            let body = core::mem::size_of::<crate::spsc::SpscHeader>();
            let size = (c as usize)
                .checked_mul(h.elem_size as usize)
                .and_then(|b| b.checked_add(body))
                .filter(|&s| s <= MAX_REGION_SIZE)
                .ok_or(bad_capacity)?;
            Ok(shape(body, size))
        }
        Kind::FrameRing => {
            if (h.elem_size, h.elem_align) != (1, 1) {
                return Err(AttachError::Corrupted);
            }
            let l = crate::frame::FrameRing::layout(h.capacity).map_err(|_| bad_capacity)?;
            Ok(shape(l.body_offset, l.size))
        }
        Kind::Mpmc => {
            use crate::mpmc::{Control, MAX_CAPACITY, MAX_PARTICIPANTS, MIN_CAPACITY, MpmcHeader};
            let c = h.capacity;
            if c < MIN_CAPACITY || !c.is_power_of_two() || c > MAX_CAPACITY {
                return Err(bad_capacity);
            }
            let p =
                mem.u32_or0(offset_of!(MpmcHeader, control) + offset_of!(Control, participants));
            if p == 0 || p > MAX_PARTICIPANTS || !element_ok(h.elem_size, h.elem_align) {
                return Err(AttachError::Corrupted);
            }
            // `Slot<T>` is `repr(C) { seq: u32, value: T }`.
            let align = (h.elem_align as usize).max(4);
            let slot = round_up(
                round_up(4, h.elem_align as usize) + h.elem_size as usize,
                align,
            );
            let slots_offset = core::mem::size_of::<MpmcHeader>()
                + p as usize * core::mem::size_of::<Line<crate::mpmc::Record>>();
            let size = (c as usize)
                .checked_mul(slot)
                .and_then(|b| b.checked_add(slots_offset))
                .filter(|&s| s <= MAX_REGION_SIZE)
                .ok_or(bad_capacity)?;
            Ok(Shape {
                records: p,
                ..shape(slots_offset, size)
            })
        }
        Kind::Semaphore => {
            if h.capacity != 1 {
                return Err(bad_capacity);
            }
            let l = crate::semaphore::Semaphore::layout();
            Ok(shape(l.body_offset, l.size))
        }
        Kind::SemaphoreSet => {
            let l = crate::semaphore::SemaphoreSet::layout(h.capacity).map_err(|_| bad_capacity)?;
            Ok(Shape {
                records: h.capacity,
                ..shape(l.body_offset, l.size)
            })
        }
        #[cfg(target_has_atomic = "64")]
        Kind::MessageQueue => {
            use crate::mq::{Control, MessageQueue, MqHeader};
            let at = |o| mem.u32_or0(offset_of!(MqHeader, control) + o);
            let p = at(offset_of!(Control, participants));
            let m = at(offset_of!(Control, message_size));
            let words = at(offset_of!(Control, block_words));
            let l = match MessageQueue::layout(h.capacity, m, p) {
                Ok(l) => l,
                Err(crate::layout::LayoutError::BadCapacity { .. }) => return Err(bad_capacity),
                Err(_) => return Err(AttachError::Corrupted),
            };
            if crate::mq::block::Geometry::new(h.capacity, m, p).block_words != words {
                return Err(AttachError::Corrupted);
            }
            Ok(Shape {
                records: p,
                message_size: m,
                ..shape(l.slots_offset, l.size)
            })
        }
        // The queue needs 64-bit atomics; this build cannot read one.
        #[cfg(not(target_has_atomic = "64"))]
        Kind::MessageQueue => Err(AttachError::UnknownKind { found: h.kind_word }),
        Kind::RobustSemaphoreSet => super::robust::geometry(mem, h),
    }
}

/// Sleepers of the event count at `offset`.
fn sleepers(mem: &Mem<'_>, offset: usize) -> u32 {
    mem.u32_or0(offset + SLEEPERS_OFFSET)
}

pub(crate) fn read(view: &Inspection<'_>) -> Counters {
    let mem = &view.mem;
    let h = &view.header;
    match view.kind {
        Kind::Spsc | Kind::FrameRing => {
            use crate::spsc::SpscHeader;
            let events = offset_of!(SpscHeader, events);
            let head = mem.u32_or0(offset_of!(SpscHeader, head));
            let tail = mem.u32_or0(offset_of!(SpscHeader, tail));
            let ring = RingCounters {
                capacity: h.capacity,
                head,
                tail,
                used: tail.wrapping_sub(head),
                data_sleepers: sleepers(mem, events + offset_of!(Events, data_ready)),
                space_sleepers: sleepers(mem, events + offset_of!(Events, space_ready)),
            };
            if view.kind == Kind::Spsc {
                Counters::Spsc(ring)
            } else {
                Counters::FrameRing(ring)
            }
        }
        Kind::Mpmc => {
            use crate::mpmc::participant::CLOSED;
            use crate::mpmc::repair::REPAIR_LOCKED;
            use crate::mpmc::{Control, MpmcHeader};
            let control = |o| mem.u32_or0(offset_of!(MpmcHeader, control) + o);
            let events = offset_of!(MpmcHeader, events);
            let head = mem.u32_or0(offset_of!(MpmcHeader, head));
            let tail = mem.u32_or0(offset_of!(MpmcHeader, tail));
            let senders = control(offset_of!(Control, senders));
            let receivers = control(offset_of!(Control, receivers));
            let lock = control(offset_of!(Control, repair_lock));
            Counters::Mpmc(MpmcCounters {
                capacity: h.capacity,
                participants: view.records,
                head,
                tail,
                used: tail.wrapping_sub(head),
                senders: senders >> 1,
                receivers: receivers >> 1,
                senders_closed: senders & CLOSED != 0,
                receivers_closed: receivers & CLOSED != 0,
                repairs: control(offset_of!(Control, repairs)),
                repair_lock: (lock != 0).then_some(lock & !REPAIR_LOCKED),
                data_sleepers: sleepers(mem, events + offset_of!(Events, data_ready)),
                space_sleepers: sleepers(mem, events + offset_of!(Events, space_ready)),
            })
        }
        Kind::Semaphore => {
            use crate::semaphore::{Control, SemaphoreHeader, State};
            let state = offset_of!(SemaphoreHeader, state);
            Counters::Semaphore(SemaphoreCounters {
                value: mem.u32_or0(state + offset_of!(State, value)),
                max: mem.u32_or0(offset_of!(SemaphoreHeader, control) + offset_of!(Control, max)),
                sleepers: sleepers(mem, state + offset_of!(State, posted)),
                zero_sleepers: sleepers(mem, state + offset_of!(State, zeroed)),
            })
        }
        Kind::SemaphoreSet => {
            use crate::semaphore::Control;
            use crate::semaphore::set::{SetHeader, SetState, UNLOCKED};
            let state = offset_of!(SetHeader, state);
            let lock = mem.u32_or0(state + offset_of!(SetState, lock));
            Counters::SemaphoreSet(SetCounters {
                count: view.records,
                max: mem.u32_or0(offset_of!(SetHeader, control) + offset_of!(Control, max)),
                lock_holder: (lock != UNLOCKED)
                    .then(|| mem.u32_or0(state + offset_of!(SetState, holder))),
                sleepers: sleepers(mem, state + offset_of!(SetState, changed)),
            })
        }
        Kind::MessageQueue => Counters::MessageQueue(mq_counters(view)),
        Kind::RobustSemaphoreSet => Counters::RobustSemaphoreSet(super::robust::counters(view)),
    }
}

/// Without 64-bit atomics no queue passes `geometry`: nothing to read.
#[cfg(not(target_has_atomic = "64"))]
fn mq_counters(view: &Inspection<'_>) -> MqCounters {
    MqCounters {
        max_messages: view.header.capacity,
        message_size: view.message_size,
        participants: view.records,
        notifications: 0,
        receiving: 0,
        data_sleepers: 0,
        space_sleepers: 0,
    }
}

#[cfg(target_has_atomic = "64")]
fn mq_counters(view: &Inspection<'_>) -> MqCounters {
    use crate::mq::{Control, MqHeader};
    let mem = &view.mem;
    let control = offset_of!(MqHeader, control);
    let events = offset_of!(MqHeader, events);
    let words = view.records.div_ceil(32) as usize;
    let receiving = (0..words)
        .map(|w| {
            mem.u32_or0(control + offset_of!(Control, receiving) + 4 * w)
                .count_ones()
        })
        .sum();
    MqCounters {
        max_messages: view.header.capacity,
        message_size: view.message_size,
        participants: view.records,
        #[cfg(target_has_atomic = "64")]
        stats: mq_stats(view),
        #[cfg(target_has_atomic = "64")]
        notification: notification(view),
        notifications: mem.u32_or0(control + offset_of!(Control, notifications)),
        receiving,
        data_sleepers: sleepers(mem, events + offset_of!(Events, data_ready)),
        space_sleepers: sleepers(mem, events + offset_of!(Events, space_ready)),
    }
}

/// Rounds a seqlock reader makes before it gives up on a busy queue.
#[cfg(all(target_has_atomic = "64", target_pointer_width = "64"))]
const MQ_SNAPSHOT_ROUNDS: u32 = 64;

/// The message queue's counters from one consistent block, read as the
/// queue's own `stats` does (root, block, root again) with relaxed loads.
#[cfg(all(target_has_atomic = "64", target_pointer_width = "64"))]
fn mq_stats(view: &Inspection<'_>) -> Option<crate::mq::Stats> {
    use crate::mq::{MessageQueue, MqHeader};
    let mem = &view.mem;
    let layout =
        MessageQueue::layout(view.header.capacity, view.message_size, view.records).ok()?;
    let root_at = offset_of!(MqHeader, root);
    for _ in 0..MQ_SNAPSHOT_ROUNDS {
        let root = mem.u64(root_at)?;
        // SYNC POINT mq root: Acquire (as a fence after the relaxed load)
        // pairs with the install CAS that wrote this root.
        fence(Ordering::Acquire);
        let current = (root & 0xFFFF) as usize;
        if current > view.records as usize {
            return None;
        }
        let block = layout.blocks_offset + current * layout.block_stride;
        let stats = crate::mq::block::stats_from(|i| mem.u32_or0(block + 4 * i));
        // SYNC POINT mq rewrite: as in the queue's `read_consistent`.
        fence(Ordering::Acquire);
        if mem.u64(root_at)? == root {
            return Some(stats);
        }
    }
    None
}

/// A 64-bit root cannot be read in one register here: no snapshot.
#[cfg(all(target_has_atomic = "64", not(target_pointer_width = "64")))]
fn mq_stats(_view: &Inspection<'_>) -> Option<crate::mq::Stats> {
    None
}

#[cfg(all(target_has_atomic = "64", target_pointer_width = "64"))]
fn notification(view: &Inspection<'_>) -> Option<crate::mq::Notification> {
    use crate::mq::{Control, MqHeader};
    let word = view
        .mem
        .u64(offset_of!(MqHeader, control) + offset_of!(Control, notify))?;
    crate::mq::Notification::from_word(word)
}

#[cfg(all(target_has_atomic = "64", not(target_pointer_width = "64")))]
fn notification(_view: &Inspection<'_>) -> Option<crate::mq::Notification> {
    None
}

pub(crate) fn set_counter(view: &Inspection<'_>, index: u32) -> Option<u32> {
    use crate::semaphore::set::{SetHeader, SetState};
    if view.kind == Kind::RobustSemaphoreSet {
        return super::robust::counter(view, index);
    }
    if view.kind != Kind::SemaphoreSet || index >= view.records {
        return None;
    }
    let at = offset_of!(SetHeader, state) + offset_of!(SetState, counters) + 4 * index as usize;
    view.mem.u32(at)
}

/// Where a message queue's 8-byte endpoint claims start.
#[cfg(target_has_atomic = "64")]
const MQ_RECORDS_OFFSET: usize = core::mem::size_of::<crate::mq::MqHeader>();
/// Without 64-bit atomics no queue passes `geometry`, so no queue's roles
/// are ever read.
#[cfg(not(target_has_atomic = "64"))]
const MQ_RECORDS_OFFSET: usize = 384;

/// The role slots and participant records of a region, in index order.
#[derive(Clone, Debug)]
pub struct Roles<'a> {
    mem: Mem<'a>,
    kind: Kind,
    next: u32,
    count: u32,
    /// The header's capacity (a robust set's counter count sizes its records).
    capacity: u32,
}

impl<'a> Roles<'a> {
    pub(crate) fn new(mem: Mem<'a>, kind: Kind, records: u32, capacity: u32) -> Self {
        let count = match kind {
            Kind::Spsc | Kind::FrameRing => 2,
            Kind::Mpmc | Kind::MessageQueue | Kind::RobustSemaphoreSet => records,
            Kind::Semaphore | Kind::SemaphoreSet => 0,
        };
        Roles {
            mem,
            kind,
            next: 0,
            count,
            capacity,
        }
    }

    /// Where slot `index`'s claim lies, and its name.
    fn slot(&self, index: u32) -> (usize, RoleName) {
        match self.kind {
            Kind::Spsc | Kind::FrameRing => {
                use crate::spsc::{Control, SpscHeader};
                let control = offset_of!(SpscHeader, control);
                let frame = self.kind == Kind::FrameRing;
                match (index, frame) {
                    (0, false) => (control + offset_of!(Control, producer), RoleName::Producer),
                    (0, true) => (control + offset_of!(Control, producer), RoleName::Writer),
                    (_, false) => (control + offset_of!(Control, consumer), RoleName::Consumer),
                    (_, true) => (control + offset_of!(Control, consumer), RoleName::Reader),
                }
            }
            Kind::Mpmc => {
                use crate::mpmc::{MpmcHeader, Record, Role};
                let at = core::mem::size_of::<MpmcHeader>()
                    + index as usize * core::mem::size_of::<Line<Record>>();
                let name = match Role::from_word(self.mem.u32_or0(at + offset_of!(Record, role))) {
                    Some(Role::Sender) => RoleName::Sender,
                    Some(Role::Receiver) => RoleName::Receiver,
                    None => RoleName::Unassigned,
                };
                (at + offset_of!(Record, claim), name)
            }
            _ => (MQ_RECORDS_OFFSET + 8 * index as usize, RoleName::Endpoint),
        }
    }
}

impl Iterator for Roles<'_> {
    type Item = RoleEntry;

    fn next(&mut self) -> Option<RoleEntry> {
        if self.next >= self.count {
            return None;
        }
        let index = self.next;
        self.next += 1;
        if self.kind == Kind::RobustSemaphoreSet {
            return Some(super::robust::holder(&self.mem, self.capacity, index));
        }
        let (at, name) = self.slot(index);
        let word = self.mem.u32_or0(at);
        // SYNC POINT claim: as `RoleClaim::state`'s Acquire on the word (a
        // fence here: read-only memory allows only relaxed loads), so the
        // pid read next is at least as new as the claim.
        fence(Ordering::Acquire);
        let pid = self.mem.u32_or0(at + PID_OFFSET);
        Some(RoleEntry {
            name,
            index,
            state: decode_state(word, pid),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = (self.count - self.next) as usize;
        (left, Some(left))
    }
}
