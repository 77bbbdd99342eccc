//! A named counting semaphore.

#![allow(unsafe_code)]

use annulus::semaphore::{InitOptions, Semaphore};

use super::readiness::Readiness;
use super::{Create, CreateError, DEFAULT_MODE, Named, Open, OpenError, my_pid};
use crate::{Futex, SharedMemory};

/// A counting semaphore in `/dev/shm/annulus.<name>`, like `sem_open`.
///
/// # Examples
///
/// One process creates the semaphore and posts, another opens it by name
/// and waits (here one after the other in one process, for the doctest):
///
/// ```
/// use annulus::semaphore::SemaphoreError;
/// use annulus_linux::named::NamedSemaphore;
/// use std::time::Duration;
///
/// /// Process A: creates a semaphore at 0 (at most 10) and posts 3 units.
/// fn process_a(name: &str) -> NamedSemaphore {
///     let sem = NamedSemaphore::create(name, 0, 10).unwrap();
///     sem.semaphore().post(3).unwrap();
///     sem
/// }
///
/// /// Process B: opens it by name, takes 2 units at once, then 1.
/// fn process_b(name: &str) {
///     let sem = NamedSemaphore::open(name).unwrap();
///     let timeout = Some(Duration::from_secs(10));
///     sem.semaphore().wait(2, timeout).unwrap();
///     sem.semaphore().wait(1, timeout).unwrap();
///     assert_eq!(sem.semaphore().try_wait(1), Err(SemaphoreError::WouldBlock));
/// }
///
/// let name = format!("doc-sem-{}", std::process::id());
/// let a = process_a(&name);
/// process_b(&name);
/// a.named().unlink().unwrap(); // the creator removes the name
/// assert_eq!(a.semaphore().value(), 0);
/// ```
#[derive(Debug)]
pub struct NamedSemaphore {
    /// Lives as long as `named`'s mapping; lent only with `&self`'s lifetime.
    sem: Semaphore<'static, Futex>,
    named: Named,
}

impl NamedSemaphore {
    /// Creates the semaphore with value `initial` and maximum `max`, mode 0600.
    ///
    /// # Errors
    ///
    /// [`CreateError`]: a bad name, an existing object, bad values.
    pub fn create(name: &str, initial: u32, max: u32) -> Result<Self, CreateError> {
        Self::create_with_mode(name, initial, max, DEFAULT_MODE)
    }

    /// Creates the semaphore with permission bits `mode`.
    ///
    /// # Errors
    ///
    /// As [`NamedSemaphore::create`].
    pub fn create_with_mode(
        name: &str,
        initial: u32,
        max: u32,
        mode: u32,
    ) -> Result<Self, CreateError> {
        Self::create_in(Create::Name(name, mode), initial, max)
    }

    /// Creates the object in anonymous memory, a sealed memfd with no
    /// name in `/dev/shm`: hand [`Named::memory`] (through
    /// [`named`](NamedSemaphore::named)) to a peer over a
    /// [`rendezvous`](crate::rendezvous) or to a child, which opens it with
    /// [`NamedSemaphore::from_memory`].
    ///
    /// # Errors
    ///
    /// As [`NamedSemaphore::create`], without the name errors.
    pub fn create_anonymous(initial: u32, max: u32) -> Result<Self, CreateError> {
        Self::create_in(Create::Anonymous, initial, max)
    }

    fn create_in(place: Create<'_>, initial: u32, max: u32) -> Result<Self, CreateError> {
        let options = InitOptions {
            creator_pid: my_pid(),
        };
        let (named, sem) = Named::create(place, Semaphore::region_size(), |ptr, len| {
            // SAFETY: a fresh mapping that nothing else in this process
            // touches; it lives in `named` beside the view.
            unsafe { Semaphore::init_raw(ptr, len, initial, max, options, Futex) }
        })?;
        Ok(NamedSemaphore { sem, named })
    }

    /// Opens the semaphore another process created (mode at most 0600).
    ///
    /// # Errors
    ///
    /// [`OpenError`].
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with_mode(name, DEFAULT_MODE)
    }

    /// Opens the semaphore, accepting permission bits up to `allowed_mode`.
    ///
    /// # Errors
    ///
    /// As [`NamedSemaphore::open`].
    pub fn open_with_mode(name: &str, allowed_mode: u32) -> Result<Self, OpenError> {
        Self::open_in(Open::Name(name, allowed_mode))
    }

    /// Opens the object in memory received from a peer (a sealed memfd,
    /// checked on receipt by
    /// [`Connection::receive`](crate::rendezvous::Connection::receive)),
    /// created there with [`NamedSemaphore::create_anonymous`]. The memory is
    /// untrusted as a named object's is: attach checks every field.
    ///
    /// # Errors
    ///
    /// As [`NamedSemaphore::open`], without the name errors.
    pub fn from_memory(memory: SharedMemory) -> Result<Self, OpenError> {
        Self::open_in(Open::Memory(memory))
    }

    fn open_in(place: Open<'_>) -> Result<Self, OpenError> {
        let (named, sem) = Named::open(place, Semaphore::region_size(), |ptr, len| {
            // SAFETY: a fresh mapping, touched in this process only through
            // the view; it lives in `named` beside the view.
            unsafe { Semaphore::attach_raw(ptr, len, Futex) }
        })?;
        Ok(NamedSemaphore { sem, named })
    }

    /// The semaphore, for as long as this object lives.
    pub fn semaphore(&self) -> &Semaphore<'_, Futex> {
        &self.sem
    }

    /// A file descriptor that turns readable when units are posted (the
    /// value is above 0), for a waiter's `epoll` loop: clear it, then take
    /// units with [`Semaphore::try_wait`] until it reports `WouldBlock`
    /// (see [`Readiness`] for the loop).
    ///
    /// # Errors
    ///
    /// `eventfd` or the thread's creation failed.
    pub fn readiness(&self) -> std::io::Result<Readiness> {
        Readiness::spawn(self.sem.clone(), self.named.mapping_arc(), None)
    }

    /// The shared memory behind the semaphore (name, unlink).
    pub fn named(&self) -> &Named {
        &self.named
    }
}
