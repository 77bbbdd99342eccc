//! A named frame ring: variable-length messages between processes.

#![allow(unsafe_code)]

use core::time::Duration;

use annulus::claim::{ClaimError, RoleState};
use annulus::frame::{
    FrameHeader, FrameMeta, FrameReader, FrameRecvError, FrameRing, FrameSendError, FrameWriter,
    MIN_CAPACITY,
};
use annulus::spsc::InitOptions;

use super::registry::{Claimed, HeldRole, RoleError, claim_role};
use super::watch::Deadline;
use super::{Create, CreateError, DEFAULT_MODE, Named, Open, OpenError, my_pid};
use crate::liveness::claim_is_alive;
use crate::{Futex, SharedMemory};

/// A [`FrameRing`] of `capacity` bytes in `/dev/shm/annulus.<name>`: one
/// writer and one reader, in any processes, exchanging frames (a header with
/// type, priority and sequence number, and up to half the ring of payload),
/// each sent and received whole, blocking on the process-shared futex.
///
/// # Examples
///
/// One process creates the ring and writes, another opens it by name and
/// reads (here one after the other in one process, for the doctest):
///
/// ```
/// use annulus::frame::{FrameMeta, FrameRecvError};
/// use annulus_linux::named::NamedFrameRing;
/// use std::time::Duration;
///
/// /// Process A: creates the ring, sends two frames, closes its end.
/// fn process_a(name: &str) -> NamedFrameRing {
///     let ring = NamedFrameRing::create(name, 4096).unwrap();
///     let mut tx = ring.writer().unwrap();
///     let meta = |msg_type| FrameMeta { msg_type, ..FrameMeta::default() };
///     tx.send_blocking(meta(1), b"variable", None).unwrap();
///     tx.send_blocking(meta(2), b"length frames", None).unwrap();
///     drop(tx); // the reader sees `Disconnected` after the last frame
///     ring
/// }
///
/// /// Process B: opens the ring by name, receives until the writer is gone.
/// fn process_b(name: &str) -> Vec<(u32, Vec<u8>)> {
///     let ring = NamedFrameRing::open(name).unwrap();
///     let mut rx = ring.reader().unwrap();
///     let mut buf = vec![0u8; ring.ring().max_payload() as usize];
///     let mut got = Vec::new();
///     loop {
///         match ring.recv_watching(&mut rx, &mut buf, Some(Duration::from_secs(10))) {
///             Ok((header, n)) => got.push((header.msg_type, buf[..n].to_vec())),
///             Err(FrameRecvError::Disconnected) => return got,
///             Err(e) => panic!("{e}"),
///         }
///     }
/// }
///
/// let name = format!("doc-frames-{}", std::process::id());
/// let a = process_a(&name);
/// let got = process_b(&name);
/// a.named().unlink().unwrap(); // the creator removes the name
/// assert_eq!(got, [(1, b"variable".to_vec()), (2, b"length frames".to_vec())]);
/// ```
#[derive(Debug)]
pub struct NamedFrameRing {
    /// Lives as long as `named`'s mapping; lent only with `&self`'s lifetime.
    ring: FrameRing<'static>,
    named: Named,
}

impl NamedFrameRing {
    /// Creates a frame ring of `capacity` bytes (a power of two, at least
    /// [`MIN_CAPACITY`]), mode 0600.
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
    /// As [`NamedFrameRing::create`].
    pub fn create_with_mode(name: &str, capacity: u32, mode: u32) -> Result<Self, CreateError> {
        Self::create_in(Create::Name(name, mode), capacity)
    }

    /// Creates the object in anonymous memory, a sealed memfd with no
    /// name in `/dev/shm`: hand [`Named::memory`] (through
    /// [`named`](NamedFrameRing::named)) to a peer over a
    /// [`rendezvous`](crate::rendezvous) or to a child, which opens it with
    /// [`NamedFrameRing::from_memory`].
    ///
    /// # Errors
    ///
    /// As [`NamedFrameRing::create`], without the name errors.
    pub fn create_anonymous(capacity: u32) -> Result<Self, CreateError> {
        Self::create_in(Create::Anonymous, capacity)
    }

    fn create_in(place: Create<'_>, capacity: u32) -> Result<Self, CreateError> {
        let size = FrameRing::layout(capacity)?.size;
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
            unsafe { FrameRing::init_raw(ptr, len, capacity, options) }
        })?;
        Ok(NamedFrameRing { ring, named })
    }

    /// Opens the frame ring another process created (mode at most 0600).
    ///
    /// # Errors
    ///
    /// [`OpenError`]: missing, not ours, wrong mode, not a frame ring, or
    /// not initialised in time.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with_mode(name, DEFAULT_MODE)
    }

    /// Opens the ring, accepting permission bits up to `allowed_mode`.
    ///
    /// # Errors
    ///
    /// As [`NamedFrameRing::open`].
    pub fn open_with_mode(name: &str, allowed_mode: u32) -> Result<Self, OpenError> {
        Self::open_in(Open::Name(name, allowed_mode))
    }

    /// Opens the object in memory received from a peer (a sealed memfd,
    /// checked on receipt by
    /// [`Connection::receive`](crate::rendezvous::Connection::receive)),
    /// created there with [`NamedFrameRing::create_anonymous`]. The memory is
    /// untrusted as a named object's is: attach checks every field.
    ///
    /// # Errors
    ///
    /// As [`NamedFrameRing::open`], without the name errors.
    pub fn from_memory(memory: SharedMemory) -> Result<Self, OpenError> {
        Self::open_in(Open::Memory(memory))
    }

    fn open_in(place: Open<'_>) -> Result<Self, OpenError> {
        let header = FrameRing::layout(MIN_CAPACITY).map_or(0, |l| l.body_offset);
        let (named, ring) = Named::open(place, header, |ptr, len| {
            // SAFETY: a fresh mapping, touched in this process only through
            // the view; it lives in `named` beside the view.
            unsafe { FrameRing::attach_raw(ptr, len, None) }
        })?;
        Ok(NamedFrameRing { ring, named })
    }

    /// The ring, for as long as this object lives. A role claimed through
    /// it directly is not entered in the registry of held roles: claim
    /// roles through this object's own methods.
    pub fn ring(&self) -> FrameRing<'_> {
        self.ring
    }

    /// Claims the writing role for this process; it sleeps on the futex.
    ///
    /// # Errors
    ///
    /// [`RoleError::HeldHere`] if this process holds the writer already
    /// (through any mapping of the object); [`RoleError::Shared`] with
    /// [`ClaimError::Taken`] if another process does.
    pub fn writer(&self) -> Result<Claimed<FrameWriter<'_, Futex>>, RoleError<ClaimError>> {
        claim_role(self.named.id(), HeldRole::Producer, || {
            self.ring().claim_writer(my_pid(), Futex)
        })
    }

    /// Claims the reading role for this process.
    ///
    /// # Errors
    ///
    /// As [`NamedFrameRing::writer`], for the reader.
    pub fn reader(&self) -> Result<Claimed<FrameReader<'_, Futex>>, RoleError<ClaimError>> {
        claim_role(self.named.id(), HeldRole::Consumer, || {
            self.ring().claim_reader(my_pid(), Futex)
        })
    }

    /// Releases the roles whose holder's process has died, as if it had
    /// dropped its handle: the reader then gets every committed frame and
    /// then `Disconnected`, the writer `Disconnected`, and the role can be
    /// claimed again. Returns (writer, reader): which were released.
    pub fn release_dead_peers(&self) -> (bool, bool) {
        let ring = self.ring();
        let writer = match ring.writer_state() {
            RoleState::Held(c) if !claim_is_alive(c) => ring.release_dead_writer(c, &Futex),
            _ => false,
        };
        let reader = match ring.reader_state() {
            RoleState::Held(c) if !claim_is_alive(c) => ring.release_dead_reader(c, &Futex),
            _ => false,
        };
        (writer, reader)
    }

    /// Receives like [`FrameReader::recv_blocking`], but every
    /// [`WATCH_SLICE`](super::WATCH_SLICE) checks whether the writer's
    /// process is still alive; a dead one is released, so this returns
    /// every frame it committed and then `Disconnected`, instead of waiting
    /// out the timeout.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::recv_blocking`].
    pub fn recv_watching(
        &self,
        rx: &mut FrameReader<'_, Futex>,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<(FrameHeader, usize), FrameRecvError> {
        let deadline = Deadline::after(timeout);
        loop {
            match rx.recv_blocking(buf, Some(deadline.slice())) {
                Err(FrameRecvError::Timeout) => {
                    self.release_dead_peers();
                    if deadline.passed() {
                        return Err(FrameRecvError::Timeout);
                    }
                }
                other => return other,
            }
        }
    }

    /// Sends like [`FrameWriter::send_blocking`], but every
    /// [`WATCH_SLICE`](super::WATCH_SLICE) checks whether the reader's
    /// process is still alive; a dead one is released, so a writer blocked
    /// on a full ring gets `Disconnected` instead of waiting out the
    /// timeout.
    ///
    /// # Errors
    ///
    /// As [`FrameWriter::send_blocking`].
    pub fn send_watching(
        &self,
        tx: &mut FrameWriter<'_, Futex>,
        meta: FrameMeta,
        payload: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(), FrameSendError> {
        let deadline = Deadline::after(timeout);
        loop {
            match tx.send_blocking(meta, payload, Some(deadline.slice())) {
                Err(FrameSendError::Timeout) => {
                    self.release_dead_peers();
                    if deadline.passed() {
                        return Err(FrameSendError::Timeout);
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
