//! A named MPMC ring.

#![allow(unsafe_code)]

use annulus::Pod;
use annulus::layout::Schema;
use annulus::mpmc::{
    InitOptions, Mpmc, Receiver, RegisterError, RepairError, RepairReport, Sender,
};

use super::readiness::Readiness;
use super::registry::{Claimed, RoleError, register_participant};
use super::{Create, CreateError, DEFAULT_MODE, Named, Open, OpenError, my_pid};
use crate::liveness::claim_is_alive;
use crate::{Futex, SharedMemory};

/// An MPMC ring of `T` in `/dev/shm/annulus.<name>`, for many senders and
/// receivers in many processes.
///
/// # Examples
///
/// A server creates the ring and receives, a client opens it by name and
/// sends (here one after the other in one process, for the doctest; any
/// number of client and server processes may take part):
///
/// ```
/// use annulus_linux::named::MpmcRing;
/// use std::time::Duration;
///
/// /// Process A, the server: creates a ring of 64 slots for up to 8
/// /// participants.
/// fn process_a(name: &str) -> MpmcRing<u32> {
///     MpmcRing::<u32>::create(name, 64, 8).unwrap()
/// }
///
/// /// Process B, a client: opens the ring by name and sends three jobs.
/// fn process_b(name: &str) {
///     let jobs = MpmcRing::<u32>::open(name).unwrap();
///     let mut tx = jobs.sender().unwrap();
///     for job in [10, 20, 30] {
///         tx.push_blocking(job, Some(Duration::from_secs(10))).unwrap();
///     }
/// }
///
/// let name = format!("doc-mpmc-{}", std::process::id());
/// let jobs = process_a(&name);
/// let mut rx = jobs.receiver().unwrap();
/// process_b(&name);
/// let timeout = Some(Duration::from_secs(10));
/// let got: Vec<u32> = (0..3).map(|_| rx.pop_blocking(timeout).unwrap()).collect();
/// assert_eq!(got, [10, 20, 30]);
/// jobs.named().unlink().unwrap(); // the creator removes the name
/// ```
#[derive(Debug)]
pub struct MpmcRing<T> {
    /// Lives as long as `named`'s mapping; lent only with `&self`'s lifetime.
    ring: Mpmc<'static, T>,
    named: Named,
}

impl<T: Pod> MpmcRing<T> {
    /// Creates the ring with `capacity` slots and room for `participants`
    /// senders and receivers, mode 0600.
    ///
    /// # Errors
    ///
    /// [`CreateError`]: a bad name, an existing object, bad sizes.
    pub fn create(name: &str, capacity: u32, participants: u32) -> Result<Self, CreateError> {
        Self::create_with_mode(name, capacity, participants, DEFAULT_MODE)
    }

    /// Creates the ring with permission bits `mode`.
    ///
    /// # Errors
    ///
    /// As [`MpmcRing::create`].
    pub fn create_with_mode(
        name: &str,
        capacity: u32,
        participants: u32,
        mode: u32,
    ) -> Result<Self, CreateError> {
        Self::create_in(Create::Name(name, mode), capacity, participants)
    }

    /// Creates the object in anonymous memory, a sealed memfd with no
    /// name in `/dev/shm`: hand [`Named::memory`] (through
    /// [`named`](MpmcRing::named)) to a peer over a
    /// [`rendezvous`](crate::rendezvous) or to a child, which opens it with
    /// [`MpmcRing::from_memory`].
    ///
    /// # Errors
    ///
    /// As [`MpmcRing::create`], without the name errors.
    pub fn create_anonymous(capacity: u32, participants: u32) -> Result<Self, CreateError> {
        Self::create_in(Create::Anonymous, capacity, participants)
    }

    fn create_in(place: Create<'_>, capacity: u32, participants: u32) -> Result<Self, CreateError> {
        let size = Mpmc::<T>::layout(capacity, participants)?.size;
        let options = InitOptions {
            schema: None,
            creator_pid: my_pid(),
            // Where the kernel has `membarrier`: pushes and pops skip their
            // fence, sleepers pay a barrier instead (`annulus::event` docs).
            asymmetric_wake: annulus::wait::Wait::prepare_light_notify(&Futex),
        };
        let (named, ring) = Named::create(place, size, |ptr, len| {
            // SAFETY: a fresh mapping that nothing else in this process
            // touches; it lives in `named` beside the view.
            unsafe { Mpmc::<T>::init_raw(ptr, len, capacity, participants, options) }
        })?;
        Ok(MpmcRing { ring, named })
    }

    /// Opens the ring another process created (mode at most 0600).
    ///
    /// # Errors
    ///
    /// [`OpenError`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with_mode(name, DEFAULT_MODE)
    }

    /// Opens the ring, accepting permission bits up to `allowed_mode`.
    ///
    /// # Errors
    ///
    /// As [`MpmcRing::open`].
    pub fn open_with_mode(name: &str, allowed_mode: u32) -> Result<Self, OpenError> {
        Self::open_in(Open::Name(name, allowed_mode))
    }

    /// Opens the object in memory received from a peer (a sealed memfd,
    /// checked on receipt by
    /// [`Connection::receive`](crate::rendezvous::Connection::receive)),
    /// created there with [`MpmcRing::create_anonymous`]. The memory is
    /// untrusted as a named object's is: attach checks every field.
    ///
    /// # Errors
    ///
    /// As [`MpmcRing::open`], without the name errors.
    pub fn from_memory(memory: SharedMemory) -> Result<Self, OpenError> {
        Self::open_in(Open::Memory(memory))
    }

    fn open_in(place: Open<'_>) -> Result<Self, OpenError> {
        let header = Mpmc::<T>::layout(2, 1).map_or(0, |l| l.records_offset);
        let (named, ring) = Named::open(place, header, |ptr, len| {
            // SAFETY: a fresh mapping, touched in this process only through
            // the view; it lives in `named` beside the view.
            unsafe { Mpmc::<T>::attach_raw(ptr, len, Schema::of::<T>()) }
        })?;
        Ok(MpmcRing { ring, named })
    }

    /// The ring, for as long as this object lives. A role claimed through
    /// it directly is not entered in the registry of held roles: claim
    /// roles through this object's own methods.
    pub fn ring(&self) -> Mpmc<'_, T> {
        self.ring
    }

    /// Registers a sender for this process; it sleeps on the futex.
    ///
    /// # Errors
    ///
    /// [`RoleError::Shared`] with [`RegisterError::TooManyParticipants`];
    /// [`RoleError::HeldHere`] if the record the ring gave out is one this
    /// process holds already (its claim word was forged; the new
    /// registration is undone).
    pub fn sender(&self) -> Result<Claimed<Sender<'_, T, Futex>>, RoleError<RegisterError>> {
        register_participant(
            self.named.id(),
            || self.ring().register_sender(my_pid(), Futex),
            Sender::record,
        )
    }

    /// Registers a receiver for this process.
    ///
    /// # Errors
    ///
    /// As [`MpmcRing::sender`].
    pub fn receiver(&self) -> Result<Claimed<Receiver<'_, T, Futex>>, RoleError<RegisterError>> {
        register_participant(
            self.named.id(),
            || self.ring().register_receiver(my_pid(), Futex),
            Receiver::record,
        )
    }

    /// Runs the core's repair with "is the pid alive" as the liveness
    /// predicate: slots claimed by dead senders are skipped, messages
    /// claimed by dead receivers before they read them go to `on_orphan`
    /// (send them again to deliver them), and the dead participants'
    /// records and counts are released.
    ///
    /// # Errors
    ///
    /// [`RepairError::Busy`] if a live process is repairing right now.
    pub fn repair_dead(&self, on_orphan: impl FnMut(T)) -> Result<RepairReport, RepairError> {
        self.ring()
            .repair(my_pid(), &Futex, claim_is_alive, on_orphan)
    }

    /// The shared memory behind the ring (name, unlink).
    pub fn named(&self) -> &Named {
        &self.named
    }
}

impl<T: Pod + Send> MpmcRing<T> {
    /// A file descriptor that turns readable when messages arrive, or the
    /// last sender leaves: for a receiver's `epoll` loop (see [`Readiness`]
    /// for the loop). With several receivers, another one may take what
    /// made it readable.
    ///
    /// # Errors
    ///
    /// `eventfd` or the thread's creation failed.
    pub fn readiness(&self) -> std::io::Result<Readiness> {
        Readiness::spawn(self.ring, self.named.mapping_arc(), None)
    }
}
