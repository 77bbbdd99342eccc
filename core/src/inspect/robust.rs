//! What a robust semaphore set says about itself: geometry, counters and
//! holder records, read with the relaxed, bounds-checked loads of [`Mem`].
//!
//! The region is `RobustHeader` (1152 bytes) and then `holders` records of
//! `1 + count` words each: the owner pid (0 when free), then one undo
//! adjustment per counter.

use core::mem::offset_of;

use super::counters::{RoleEntry, RoleName, Shape};
use super::{HeaderInfo, Inspection, Mem};
use crate::claim::{Claim, RoleState};
use crate::event::SLEEPERS_OFFSET;
use crate::layout::AttachError;
use crate::semaphore::robust::journal::COMMITTED;
use crate::semaphore::robust::lock::holder_of;
use crate::semaphore::robust::{Journal, RobustControl, RobustHeader, RobustState};
use crate::semaphore::{MAX_COUNTERS, RobustSemaphoreSet};

/// Counters of a robust semaphore set; the values are
/// [`Inspection::set_counter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RobustSetCounters {
    /// Counters in the set.
    pub count: u32,
    /// Largest value of each.
    pub max: u32,
    /// Holder records in the region.
    pub holders: u32,
    /// Records owned by a process now (owner pid not 0).
    pub held: u32,
    /// While the lock is held: the pid owning the record the lock word
    /// names (0 if that record is free or out of range).
    pub lock_holder: Option<u32>,
    /// Whether the journal holds a committed operation: normal for an
    /// instant under the lock; while nobody runs, the lock's holder died
    /// mid-operation and the next repair redoes it.
    pub journal_committed: bool,
    /// Callers asleep until a counter changes.
    pub sleepers: u32,
}

/// Byte offset of the control line's field at `field`.
fn control(field: usize) -> usize {
    offset_of!(RobustHeader, control) + field
}

/// Byte offset of the state line's field at `field`.
fn state(field: usize) -> usize {
    offset_of!(RobustHeader, state) + field
}

/// Byte offset of holder record `index`'s owner word in a set of `count`
/// counters.
fn owner_at(count: u32, index: u32) -> usize {
    core::mem::size_of::<RobustHeader>() + index as usize * (1 + count as usize) * 4
}

/// The layout recomputed from the header's capacity (the counter count) and
/// the holder number in the control line, as `attach_raw` does.
pub(crate) fn geometry(mem: &Mem<'_>, h: &HeaderInfo) -> Result<Shape, AttachError> {
    let count = h.capacity;
    if count == 0 || count > MAX_COUNTERS {
        return Err(AttachError::BadCapacity { found: count });
    }
    let holders = mem.u32_or0(control(offset_of!(RobustControl, holders)));
    let layout = RobustSemaphoreSet::layout(count, holders)
        .map_err(|_| AttachError::BadCapacity { found: holders })?;
    if mem.u32_or0(control(offset_of!(RobustControl, max))) == 0 {
        return Err(AttachError::Corrupted);
    }
    Ok(Shape {
        body_offset: layout.body_offset,
        size: layout.size,
        records: holders,
        message_size: 0,
    })
}

pub(crate) fn counters(view: &Inspection<'_>) -> RobustSetCounters {
    let mem = &view.mem;
    let count = view.header.capacity;
    let holders = view.records;
    let held = (0..holders)
        .filter(|&i| mem.u32_or0(owner_at(count, i)) != 0)
        .count() as u32;
    let lock = mem.u32_or0(state(offset_of!(RobustState, lock)));
    let journal = offset_of!(RobustHeader, journal) + offset_of!(Journal, state);
    RobustSetCounters {
        count,
        max: mem.u32_or0(control(offset_of!(RobustControl, max))),
        holders,
        held,
        lock_holder: holder_of(lock).map(|record| {
            if record < holders {
                mem.u32_or0(owner_at(count, record))
            } else {
                0
            }
        }),
        journal_committed: mem.u32_or0(journal) == COMMITTED,
        sleepers: mem.u32_or0(state(offset_of!(RobustState, changed)) + SLEEPERS_OFFSET),
    }
}

/// Counter `index` (`< count`), unclamped.
pub(crate) fn counter(view: &Inspection<'_>, index: u32) -> Option<u32> {
    if index >= view.header.capacity {
        return None;
    }
    view.mem
        .u32(state(offset_of!(RobustState, counters)) + 4 * index as usize)
}

/// Holder record `index`: held by its owner pid, or vacant when free (a
/// freed record reads as vacant too: records keep no generation).
pub(crate) fn holder(mem: &Mem<'_>, count: u32, index: u32) -> RoleEntry {
    let pid = mem.u32_or0(owner_at(count, index));
    RoleEntry {
        name: RoleName::Holder,
        index,
        state: if pid == 0 {
            RoleState::Vacant
        } else {
            RoleState::Held(Claim { pid, generation: 0 })
        },
    }
}
