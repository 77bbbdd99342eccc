//! A named SPSC ring.

#![allow(unsafe_code)]

use core::time::Duration;

use annulus::Pod;
use annulus::claim::{ClaimError, RoleState};
use annulus::layout::Schema;
use annulus::spsc::{
    ByteReader, ByteWriter, Consumer, InitOptions, PopTimeoutError, Producer, Spsc,
};

use super::readiness::Readiness;
use super::registry::{Claimed, HeldRole, RoleError, claim_role};
use super::watch::Deadline;
use super::{Create, CreateError, DEFAULT_MODE, Named, Open, OpenError, my_pid};
use crate::liveness::claim_is_alive;
use crate::{Futex, SharedMemory};

/// An SPSC ring of `T` in `/dev/shm/annulus.<name>`: one producer and one
/// consumer, in any processes.
///
/// # Examples
///
/// One process creates the ring and sends, another opens it by name and
/// receives (here one after the other in one process, for the doctest):
///
/// ```
/// use annulus::spsc::PopTimeoutError;
/// use annulus_linux::named::SpscRing;
/// use std::time::Duration;
///
/// /// Process A: creates a ring of 64 slots, sends three values, closes.
/// fn process_a(name: &str) -> SpscRing<u64> {
///     let ring = SpscRing::<u64>::create(name, 64).unwrap();
///     let mut tx = ring.producer().unwrap();
///     for v in [1, 2, 3] {
///         tx.push_blocking(v, Some(Duration::from_secs(10))).unwrap();
///     }
///     drop(tx); // the consumer sees `Disconnected` after the last value
///     ring
/// }
///
/// /// Process B: opens the ring by name, receives until the producer is gone.
/// fn process_b(name: &str) -> Vec<u64> {
///     let ring = SpscRing::<u64>::open(name).unwrap();
///     let mut rx = ring.consumer().unwrap();
///     let mut got = Vec::new();
///     loop {
///         match ring.pop_watching(&mut rx, Some(Duration::from_secs(10))) {
///             Ok(v) => got.push(v),
///             Err(PopTimeoutError::Disconnected) => return got,
///             Err(e) => panic!("{e}"),
///         }
///     }
/// }
///
/// let name = format!("doc-spsc-{}", std::process::id());
/// let a = process_a(&name);
/// assert_eq!(process_b(&name), [1, 2, 3]);
/// a.named().unlink().unwrap(); // the creator removes the name
/// ```
///
/// A byte stream, a pipe in shared memory, is an `SpscRing<u8>` whose ends
/// are claimed with [`SpscRing::byte_writer`] and [`SpscRing::byte_reader`]:
///
/// ```
/// use annulus_linux::named::SpscRing;
/// use std::io::Read;
/// use std::time::Duration;
///
/// /// Process A: creates a stream of 4 KiB, writes a text, closes its end.
/// fn process_a(name: &str) -> SpscRing<u8> {
///     let pipe = SpscRing::<u8>::create(name, 4096).unwrap();
///     let mut w = pipe.byte_writer().unwrap();
///     w.write_all_blocking(b"hello through a pipe", Some(Duration::from_secs(10)))
///         .unwrap();
///     drop(w); // end of stream for the reader
///     pipe
/// }
///
/// /// Process B: opens the stream by name and reads to the end (`read` = 0).
/// fn process_b(name: &str) -> String {
///     let pipe = SpscRing::<u8>::open(name).unwrap();
///     let mut r = pipe.byte_reader().unwrap();
///     let mut text = String::new();
///     r.read_to_string(&mut text).unwrap(); // std::io::Read
///     text
/// }
///
/// let name = format!("doc-pipe-{}", std::process::id());
/// let a = process_a(&name);
/// assert_eq!(process_b(&name), "hello through a pipe");
/// a.named().unlink().unwrap();
/// ```
#[derive(Debug)]
pub struct SpscRing<T> {
    /// Lives as long as `named`'s mapping; handed out only with the
    /// lifetime of `&self`.
    ring: Spsc<'static, T>,
    named: Named,
}

impl<T: Pod> SpscRing<T> {
    /// Creates the ring with `capacity` slots, mode 0600.
    ///
    /// # Errors
    ///
    /// [`CreateError`]: a bad name, an existing object, a bad capacity.
    pub fn create(name: &str, capacity: u32) -> Result<Self, CreateError> {
        Self::create_with_mode(name, capacity, DEFAULT_MODE)
    }

    /// Creates the ring with permission bits `mode`.
    ///
    /// # Errors
    ///
    /// As [`SpscRing::create`].
    pub fn create_with_mode(name: &str, capacity: u32, mode: u32) -> Result<Self, CreateError> {
        Self::create_in(Create::Name(name, mode), capacity)
    }

    /// Creates the object in anonymous memory, a sealed memfd with no
    /// name in `/dev/shm`: hand [`Named::memory`] (through
    /// [`named`](SpscRing::named)) to a peer over a
    /// [`rendezvous`](crate::rendezvous) or to a child, which opens it with
    /// [`SpscRing::from_memory`].
    ///
    /// # Errors
    ///
    /// As [`SpscRing::create`], without the name errors.
    pub fn create_anonymous(capacity: u32) -> Result<Self, CreateError> {
        Self::create_in(Create::Anonymous, capacity)
    }

    fn create_in(place: Create<'_>, capacity: u32) -> Result<Self, CreateError> {
        let size = Spsc::<T>::layout(capacity)?.size;
        let options = InitOptions {
            schema: None,
            creator_pid: my_pid(),
            // Where the kernel has `membarrier`: pushes and pops skip their
            // fence, sleepers pay a barrier instead (`annulus::event` docs).
            asymmetric_wake: annulus::wait::Wait::prepare_light_notify(&Futex),
        };
        let (named, ring) = Named::create(place, size, |ptr, len| {
            // SAFETY: a fresh mapping of `len` bytes that nothing else in
            // this process touches; it lives in `named` beside the view.
            unsafe { Spsc::<T>::init_raw(ptr, len, capacity, options) }
        })?;
        Ok(SpscRing { ring, named })
    }

    /// Opens the ring another process created (mode at most 0600).
    ///
    /// # Errors
    ///
    /// [`OpenError`]: missing, not ours, wrong mode, not a ring of `T`, or
    /// not initialised in time.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with_mode(name, DEFAULT_MODE)
    }

    /// Opens the ring, accepting permission bits up to `allowed_mode`.
    ///
    /// # Errors
    ///
    /// As [`SpscRing::open`].
    pub fn open_with_mode(name: &str, allowed_mode: u32) -> Result<Self, OpenError> {
        Self::open_in(Open::Name(name, allowed_mode))
    }

    /// Opens the object in memory received from a peer (a sealed memfd,
    /// checked on receipt by
    /// [`Connection::receive`](crate::rendezvous::Connection::receive)),
    /// created there with [`SpscRing::create_anonymous`]. The memory is
    /// untrusted as a named object's is: attach checks every field.
    ///
    /// # Errors
    ///
    /// As [`SpscRing::open`], without the name errors.
    pub fn from_memory(memory: SharedMemory) -> Result<Self, OpenError> {
        Self::open_in(Open::Memory(memory))
    }

    fn open_in(place: Open<'_>) -> Result<Self, OpenError> {
        let header = Spsc::<T>::layout(1).map_or(0, |l| l.body_offset);
        let (named, ring) = Named::open(place, header, |ptr, len| {
            // SAFETY: a fresh mapping, touched in this process only through
            // the view; it lives in `named` beside the view.
            unsafe { Spsc::<T>::attach_raw(ptr, len, Schema::of::<T>()) }
        })?;
        Ok(SpscRing { ring, named })
    }

    /// The ring, for as long as this object lives. A role claimed through
    /// it directly is not entered in the registry of held roles: claim
    /// roles through this object's own methods.
    pub fn ring(&self) -> Spsc<'_, T> {
        self.ring
    }

    /// Claims the producer role for this process; it sleeps on the futex.
    ///
    /// # Errors
    ///
    /// [`RoleError::HeldHere`] if this process holds the producer already
    /// (through any mapping of the object); [`RoleError::Shared`] with
    /// [`ClaimError::Taken`] if another process does.
    pub fn producer(&self) -> Result<Claimed<Producer<'_, T, Futex>>, RoleError<ClaimError>> {
        claim_role(self.named.id(), HeldRole::Producer, || {
            self.ring().claim_producer(my_pid(), Futex)
        })
    }

    /// Claims the consumer role for this process.
    ///
    /// # Errors
    ///
    /// As [`SpscRing::producer`], for the consumer.
    pub fn consumer(&self) -> Result<Claimed<Consumer<'_, T, Futex>>, RoleError<ClaimError>> {
        claim_role(self.named.id(), HeldRole::Consumer, || {
            self.ring().claim_consumer(my_pid(), Futex)
        })
    }

    /// Releases the roles whose holder's process has died, as if it had
    /// dropped its handle: the peer then sees `Disconnected` (after draining)
    /// and the role can be claimed again. Returns (producer, consumer):
    /// which were released.
    pub fn release_dead_peers(&self) -> (bool, bool) {
        let ring = self.ring();
        let producer = match ring.producer_state() {
            RoleState::Held(c) if !claim_is_alive(c) => ring.release_dead_producer(c, &Futex),
            _ => false,
        };
        let consumer = match ring.consumer_state() {
            RoleState::Held(c) if !claim_is_alive(c) => ring.release_dead_consumer(c, &Futex),
            _ => false,
        };
        (producer, consumer)
    }

    /// Receives like [`Consumer::pop_blocking`], but every
    /// [`WATCH_SLICE`](super::WATCH_SLICE) checks whether the producer's
    /// process is still alive; a dead one is released, so this returns
    /// everything it sent and then `Disconnected`, instead of waiting out
    /// the timeout.
    ///
    /// # Errors
    ///
    /// As [`Consumer::pop_blocking`].
    pub fn pop_watching(
        &self,
        rx: &mut Consumer<'_, T, Futex>,
        timeout: Option<Duration>,
    ) -> Result<T, PopTimeoutError> {
        let deadline = Deadline::after(timeout);
        loop {
            match rx.pop_blocking(Some(deadline.slice())) {
                Err(PopTimeoutError::Timeout) => {
                    self.release_dead_peers();
                    if deadline.passed() {
                        return Err(PopTimeoutError::Timeout);
                    }
                }
                other => return other,
            }
        }
    }

    /// The shared memory behind the ring (name, unlink).
    pub fn named(&self) -> &Named {
        &self.named
    }
}

/// A byte stream (a pipe in shared memory) is an `SpscRing<u8>` written
/// through a [`ByteWriter`] and read through a [`ByteReader`].
impl SpscRing<u8> {
    /// Claims the producer role as the stream's writing end.
    ///
    /// # Errors
    ///
    /// As [`SpscRing::producer`].
    pub fn byte_writer(&self) -> Result<Claimed<ByteWriter<'_, Futex>>, RoleError<ClaimError>> {
        Ok(self.producer()?.map(ByteWriter::new))
    }

    /// Claims the consumer role as the stream's reading end.
    ///
    /// # Errors
    ///
    /// As [`SpscRing::consumer`].
    pub fn byte_reader(&self) -> Result<Claimed<ByteReader<'_, Futex>>, RoleError<ClaimError>> {
        Ok(self.consumer()?.map(ByteReader::new))
    }
}

impl<T: Pod + Send> SpscRing<T> {
    /// A file descriptor that turns readable when elements arrive, or the
    /// producer closes: for the consumer's `epoll` loop (see [`Readiness`]
    /// for the loop). For a byte stream (`SpscRing<u8>` read through a
    /// `ByteReader`), readable means bytes arrived.
    ///
    /// Its bridge thread also checks every [`WATCH_SLICE`](super::WATCH_SLICE)
    /// whether the producer's process is still alive, and releases a dead
    /// one, so the fd turns readable and the consumer's `pop` reports
    /// `Disconnected` after the drain.
    ///
    /// # Errors
    ///
    /// `eventfd` or the thread's creation failed.
    pub fn readiness(&self) -> std::io::Result<Readiness> {
        Readiness::spawn(
            self.ring,
            self.named.mapping_arc(),
            Some(release_dead_producer::<T>),
        )
    }
}

/// Releases the producer role if its holder's process has died.
fn release_dead_producer<T: Pod>(ring: &Spsc<'static, T>) {
    if let RoleState::Held(claim) = ring.producer_state()
        && !claim_is_alive(claim)
    {
        ring.release_dead_producer(claim, &Futex);
    }
}
