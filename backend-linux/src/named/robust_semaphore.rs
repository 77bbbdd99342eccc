//! A named robust semaphore set: units held by a process that dies come
//! back (`SEM_UNDO`).

#![allow(unsafe_code)]

use core::time::Duration;

use annulus::semaphore::{
    Holder, InitOptions, RegisterHolderError, ReleaseDeadError, RobustSemaphoreSet, SemOp,
    SetOpError, UndoReport,
};

use super::watch::Deadline;
use super::{Create, CreateError, DEFAULT_MODE, Named, Open, OpenError, my_pid};
use crate::liveness::pid_is_alive;
use crate::{Futex, SharedMemory};

/// A [`RobustSemaphoreSet`] in `/dev/shm/annulus.<name>`: a System V
/// semaphore set whose undo operations (`SEM_UNDO`) are given back when the
/// process that made them dies.
///
/// Each process registers a [`Holder`] ([`NamedRobustSemaphoreSet::holder`])
/// and operates through it. A survivor repairs with
/// [`NamedRobustSemaphoreSet::release_dead`], and the watching call
/// [`NamedRobustSemaphoreSet::op_watching`] repairs by itself: it sleeps in
/// slices of [`WATCH_SLICE`](super::WATCH_SLICE) and repairs between them,
/// so a waiter blocked on units (or on the lock) a dead process held gets
/// them within one slice and one repair after the death (a repair costs one
/// pidfd check per held record). See the core's
/// [`robust`](annulus::semaphore::RobustSemaphoreSet) docs for the protocol.
///
/// # Examples
///
/// ```
/// use annulus::semaphore::SemOp;
/// use annulus_linux::named::NamedRobustSemaphoreSet;
/// use std::time::Duration;
///
/// let name = format!("doc-robust-{}", std::process::id());
/// // Process A: one counter, a resource of 2 units, room for 8 holders.
/// let sems = NamedRobustSemaphoreSet::create(&name, &[2], 2, 8).unwrap();
/// // Process B: the same set by name.
/// let peer = NamedRobustSemaphoreSet::open(&name).unwrap();
/// sems.named().unlink().unwrap();
///
/// let b = peer.holder().unwrap(); // in B
/// b.wait(0, 2, Some(Duration::from_secs(10))).unwrap();
/// assert_eq!(b.adjustment(0), Some(2)); // given back if B dies
///
/// let a = sems.holder().unwrap(); // in A: blocked until B posts (or dies)
/// assert!(sems.op_watching(&a, &[SemOp::wait(0, 1)], Some(Duration::ZERO)).is_err());
/// b.post(0, 2).unwrap();
/// sems.op_watching(&a, &[SemOp::wait(0, 1)], Some(Duration::from_secs(10))).unwrap();
/// ```
#[derive(Debug)]
pub struct NamedRobustSemaphoreSet {
    /// Lives as long as `named`'s mapping; lent only with `&self`'s lifetime.
    set: RobustSemaphoreSet<'static>,
    named: Named,
}

impl NamedRobustSemaphoreSet {
    /// Creates a set with one counter per value of `initial`, each at most
    /// `max`, and `holders` holder records, mode 0600.
    ///
    /// # Errors
    ///
    /// [`CreateError`]: a bad name, an existing object,
    /// [`CreateError::Layout`] for a count or holder number out of range,
    /// [`CreateError::Semaphore`] for bad values.
    pub fn create(
        name: &str,
        initial: &[u32],
        max: u32,
        holders: u32,
    ) -> Result<Self, CreateError> {
        Self::create_with_mode(name, initial, max, holders, DEFAULT_MODE)
    }

    /// Creates the set with permission bits `mode`.
    ///
    /// # Errors
    ///
    /// As [`NamedRobustSemaphoreSet::create`].
    pub fn create_with_mode(
        name: &str,
        initial: &[u32],
        max: u32,
        holders: u32,
        mode: u32,
    ) -> Result<Self, CreateError> {
        Self::create_in(Create::Name(name, mode), initial, max, holders)
    }

    /// Creates the object in anonymous memory, a sealed memfd with no
    /// name in `/dev/shm`: hand [`Named::memory`] (through
    /// [`named`](NamedRobustSemaphoreSet::named)) to a peer over a
    /// [`rendezvous`](crate::rendezvous) or to a child, which opens it with
    /// [`NamedRobustSemaphoreSet::from_memory`].
    ///
    /// # Errors
    ///
    /// As [`NamedRobustSemaphoreSet::create`], without the name errors.
    pub fn create_anonymous(initial: &[u32], max: u32, holders: u32) -> Result<Self, CreateError> {
        Self::create_in(Create::Anonymous, initial, max, holders)
    }

    fn create_in(
        place: Create<'_>,
        initial: &[u32],
        max: u32,
        holders: u32,
    ) -> Result<Self, CreateError> {
        let count = u32::try_from(initial.len()).unwrap_or(u32::MAX);
        let size = RobustSemaphoreSet::layout(count, holders)?.size;
        let options = InitOptions {
            creator_pid: my_pid(),
        };
        let (named, set) = Named::create(place, size, |ptr, len| {
            // SAFETY: a fresh mapping that nothing else in this process
            // touches; it lives in `named` beside the view.
            unsafe { RobustSemaphoreSet::init_raw(ptr, len, initial, max, holders, options) }
        })?;
        Ok(NamedRobustSemaphoreSet { set, named })
    }

    /// Opens the set another process created (mode at most 0600).
    ///
    /// # Errors
    ///
    /// [`OpenError`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with_mode(name, DEFAULT_MODE)
    }

    /// Opens the set, accepting permission bits up to `allowed_mode`.
    ///
    /// # Errors
    ///
    /// As [`NamedRobustSemaphoreSet::open`].
    pub fn open_with_mode(name: &str, allowed_mode: u32) -> Result<Self, OpenError> {
        Self::open_in(Open::Name(name, allowed_mode))
    }

    /// Opens the object in memory received from a peer (a sealed memfd,
    /// checked on receipt by
    /// [`Connection::receive`](crate::rendezvous::Connection::receive)),
    /// created there with [`NamedRobustSemaphoreSet::create_anonymous`]. The memory is
    /// untrusted as a named object's is: attach checks every field.
    ///
    /// # Errors
    ///
    /// As [`NamedRobustSemaphoreSet::open`], without the name errors.
    pub fn from_memory(memory: SharedMemory) -> Result<Self, OpenError> {
        Self::open_in(Open::Memory(memory))
    }

    fn open_in(place: Open<'_>) -> Result<Self, OpenError> {
        // The smallest set: the fixed header and one record.
        let size = RobustSemaphoreSet::region_size(1, 1);
        let (named, set) = Named::open(place, size, |ptr, len| {
            // SAFETY: a fresh mapping, touched in this process only through
            // the view; it lives in `named` beside the view.
            unsafe { RobustSemaphoreSet::attach_raw(ptr, len) }
        })?;
        Ok(NamedRobustSemaphoreSet { set, named })
    }

    /// The set's view: values and holder records.
    pub fn set(&self) -> RobustSemaphoreSet<'_> {
        self.set
    }

    /// Registers a holder for this process, sleeping on the futex. If every
    /// record is held, takes over the record of a dead process (pidfd
    /// check) and repairs the set first, so a set whose every holder died
    /// is usable again (see
    /// [`RobustSemaphoreSet::holder_reclaiming`]).
    ///
    /// # Errors
    ///
    /// [`RegisterHolderError::Full`] when every record is held by a live
    /// process.
    pub fn holder(&self) -> Result<Holder<'_, Futex>, RegisterHolderError> {
        match self.set().holder(my_pid(), Futex) {
            Err(RegisterHolderError::Full { .. }) => self
                .set()
                .holder_reclaiming(my_pid(), Futex, pid_is_alive)
                .map(|(holder, _report)| holder),
            other => other,
        }
    }

    /// Gives back what dead processes held and frees their records, through
    /// `holder` (see [`Holder::release_dead`]), with the pidfd check as the
    /// liveness predicate.
    ///
    /// # Errors
    ///
    /// [`ReleaseDeadError::Busy`] if a live process has the lock right now.
    pub fn release_dead(&self, holder: &Holder<'_, Futex>) -> Result<UndoReport, ReleaseDeadError> {
        holder.release_dead(pid_is_alive)
    }

    /// [`Holder::op`], but every [`WATCH_SLICE`](super::WATCH_SLICE) it
    /// repairs: units or a lock held by a process that died come back, and
    /// the call goes on, instead of waiting out its timeout.
    ///
    /// # Errors
    ///
    /// As [`Holder::op`].
    pub fn op_watching(
        &self,
        holder: &Holder<'_, Futex>,
        ops: &[SemOp],
        timeout: Option<Duration>,
    ) -> Result<(), SetOpError> {
        self.watching(timeout, |slice| holder.op(ops, Some(slice)), holder)
    }

    /// [`Holder::op_no_undo`] with the same watching as
    /// [`NamedRobustSemaphoreSet::op_watching`].
    ///
    /// # Errors
    ///
    /// As [`Holder::op_no_undo`].
    pub fn op_no_undo_watching(
        &self,
        holder: &Holder<'_, Futex>,
        ops: &[SemOp],
        timeout: Option<Duration>,
    ) -> Result<(), SetOpError> {
        self.watching(timeout, |slice| holder.op_no_undo(ops, Some(slice)), holder)
    }

    fn watching(
        &self,
        timeout: Option<Duration>,
        mut attempt: impl FnMut(Duration) -> Result<(), SetOpError>,
        holder: &Holder<'_, Futex>,
    ) -> Result<(), SetOpError> {
        let deadline = Deadline::after(timeout);
        loop {
            match attempt(deadline.slice()) {
                Err(SetOpError::Timeout) => {
                    // A live lock holder makes this Busy: it will unlock.
                    let _ = holder.release_dead(pid_is_alive);
                    if deadline.passed() {
                        return Err(SetOpError::Timeout);
                    }
                }
                other => return other,
            }
        }
    }

    /// The shared memory behind the set (name, unlink).
    pub fn named(&self) -> &Named {
        &self.named
    }
}
