//! Named objects: a shared memory object, its mapping and the annulus
//! structure laid into it, created in one process and opened by name in
//! another.
//!
//! Creation is race-free: the creator makes the object with `O_EXCL`, sizes
//! it, maps it and initialises the structure, which publishes "ready" last.
//! An opener that arrives in between (object still empty, or header still
//! "initialising") retries with backoff for up to [`OPEN_PATIENCE`] and then
//! fails with [`OpenError::NotReady`]; it never reads a half-built header.
//!
//! Roles are claimed through `&self` and held by handles that borrow the
//! named object, so the mapping outlives every handle. Each handle is
//! [`Claimed`]: registered in a process-local registry, so this process
//! never holds one role of an object twice, even through two mappings of it
//! and even if a peer forges the claim words (see [`RoleError::HeldHere`]).
//! The process that created an object unlinks it when asked
//! ([`Named::unlink`]); mappings stay valid until dropped.
//!
//! # One name, two processes
//!
//! Each object's docs show it created in one process and opened by name in
//! another (as two functions, `process_a` and `process_b`, run one after
//! the other so the doctests stay in one process):
//!
//! | object | like | example |
//! | --- | --- | --- |
//! | SPSC ring of `T` | a typed pipe | [`SpscRing`] |
//! | byte stream | a pipe, `read`/`write` | [`SpscRing`] (`SpscRing<u8>`, [`SpscRing::byte_writer`]) |
//! | MPMC ring of `T` | a FIFO with many clients | [`MpmcRing`] |
//! | frame ring | variable-length messages | [`NamedFrameRing`] |
//! | semaphore | `sem_open` | [`NamedSemaphore`] |
//! | semaphore set | `semget`/`semop` | [`NamedSemaphoreSet`] |
//! | message queue | `mq_open`, `msgget` | `NamedMessageQueue` (x86_64, aarch64) |
//!
//! # Without a name
//!
//! Each kind also has `create_anonymous`, which lays the object into a
//! sealed memfd with no name in `/dev/shm`, and `from_memory`, which opens
//! one received from a peer: hand [`Named::memory`] to a child or, with a
//! uid check on both sides, to an unrelated process over a
//! [`rendezvous`](crate::rendezvous) socket. Only processes given the fd
//! can map it, and none can resize it.
//!
//! The shortest form, a ring created in process A and opened in process B:
//!
//! ```
//! use annulus_linux::named::SpscRing;
//!
//! let name = format!("doc-named-{}", std::process::id());
//! // Process A:
//! let a = SpscRing::<u32>::create(&name, 16).unwrap();
//! a.producer().unwrap().push(7).unwrap();
//! // Process B, knowing only the name:
//! let b = SpscRing::<u32>::open(&name).unwrap();
//! assert_eq!(b.consumer().unwrap().pop(), Ok(7));
//! a.named().unlink().unwrap(); // process A removes the name
//! ```
//!
//! A receiver that waits in an `epoll` loop rather than in a blocking call
//! asks its object for a [`Readiness`] fd.

mod frame;
mod mpmc;
#[cfg(all(
    target_has_atomic = "64",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod mq;
mod readiness;
mod registry;
mod robust_semaphore;
mod semaphore;
mod semaphore_set;
mod spsc;
mod watch;

use core::fmt;
use core::ptr::NonNull;
use core::time::Duration;

use std::sync::Arc;

use annulus::layout::{AttachError, LayoutError};

pub use frame::NamedFrameRing;
pub use mpmc::MpmcRing;
#[cfg(all(
    target_has_atomic = "64",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
pub use mq::{
    ArrivalSignal, DeadReleased, MqEndpoint, MqSent, NamedMessageQueue, NotifyError, deliver,
};
pub use readiness::Readiness;
pub use registry::{Claimed, HeldRole, ObjectId, RoleError};
pub use robust_semaphore::NamedRobustSemaphoreSet;
pub use semaphore::NamedSemaphore;
pub use semaphore_set::NamedSemaphoreSet;
pub use spsc::SpscRing;
pub use watch::WATCH_SLICE;

use crate::shm::{Mapping, SharedMemory, ShmError};

/// How long `open` waits for a creator to finish initialising.
pub const OPEN_PATIENCE: Duration = Duration::from_secs(2);

/// Default permission bits: owner read/write only.
pub const DEFAULT_MODE: u32 = 0o600;

/// Why a named object could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateError {
    /// The shared memory object could not be made (name, EEXIST, ...).
    Shm(ShmError),
    /// The structure does not fit the parameters (capacity, ...).
    Layout(LayoutError),
    /// The semaphore's initial value or maximum are invalid.
    Semaphore(annulus::semaphore::InitError),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::Shm(e) => e.fmt(f),
            CreateError::Layout(e) => e.fmt(f),
            CreateError::Semaphore(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for CreateError {}

impl From<ShmError> for CreateError {
    fn from(e: ShmError) -> Self {
        CreateError::Shm(e)
    }
}

impl From<annulus::semaphore::InitError> for CreateError {
    fn from(e: annulus::semaphore::InitError) -> Self {
        CreateError::Semaphore(e)
    }
}

impl From<LayoutError> for CreateError {
    fn from(e: LayoutError) -> Self {
        CreateError::Layout(e)
    }
}

/// Why a named object could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// The shared memory object could not be opened or failed its checks.
    Shm(ShmError),
    /// The header does not describe the structure asked for.
    Attach(AttachError),
    /// The creator had not finished initialising within [`OPEN_PATIENCE`].
    NotReady,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Shm(e) => e.fmt(f),
            OpenError::Attach(e) => e.fmt(f),
            OpenError::NotReady => write!(
                f,
                "object was not initialised within {} ms",
                OPEN_PATIENCE.as_millis()
            ),
        }
    }
}

impl core::error::Error for OpenError {}

impl From<ShmError> for OpenError {
    fn from(e: ShmError) -> Self {
        OpenError::Shm(e)
    }
}

impl From<AttachError> for OpenError {
    fn from(e: AttachError) -> Self {
        OpenError::Attach(e)
    }
}

/// The shared memory and mapping behind a named object.
#[derive(Debug)]
pub struct Named {
    name: heapless::String<{ crate::shm::MAX_NAME_LEN }>,
    /// Which object, whatever mapping of it: the registry's key.
    id: ObjectId,
    /// Kept open so the object's pages stay referenced, and to hand to a
    /// peer (anonymous memory).
    shm: SharedMemory,
    /// Shared with the bridge threads of [`Readiness`] fds, which must keep
    /// the memory mapped for as long as they run, however long that is.
    mapping: Arc<Mapping>,
}

impl Named {
    /// Creates the memory `place` says, of `len` bytes, maps it, and runs
    /// `init` over the mapping. Unlinks a named object again if `init`
    /// fails.
    pub(crate) fn create<V, E>(
        place: Create<'_>,
        len: usize,
        init: impl FnOnce(NonNull<u8>, usize) -> Result<V, E>,
    ) -> Result<(Named, V), CreateError>
    where
        CreateError: From<E>,
    {
        let (shm, name) = match place {
            Create::Name(name, mode) => (SharedMemory::create(name, len, mode)?, name),
            Create::Anonymous => (SharedMemory::anonymous("annulus", len)?, ""),
        };
        let result = object_id(&shm)
            .and_then(|id| Ok((id, shm.map()?)))
            .map_err(CreateError::Shm)
            .and_then(|(id, mapping)| {
                let view = init(mapping.ptr(), mapping.len()).map_err(CreateError::from)?;
                Ok((id, mapping, view))
            });
        match result {
            Ok((id, mapping, view)) => Ok((Named::new(name, id, shm, mapping), view)),
            Err(e) => {
                if !name.is_empty() {
                    let _ = SharedMemory::unlink(name);
                }
                Err(e)
            }
        }
    }

    /// Opens the memory `place` says (a named object: owned by us, no mode
    /// bits beyond the allowed ones, at least `min_len` bytes), maps it and
    /// runs `attach` over the mapping, retrying while the creator is not
    /// done.
    pub(crate) fn open<V>(
        place: Open<'_>,
        min_len: usize,
        attach: impl Fn(NonNull<u8>, usize) -> Result<V, AttachError>,
    ) -> Result<(Named, V), OpenError> {
        match place {
            Open::Name(name, allowed_mode) => Named::open_name(name, allowed_mode, min_len, attach),
            Open::Memory(shm) => {
                if shm.len() < min_len {
                    return Err(OpenError::Shm(ShmError::TooSmall {
                        len: shm.len() as u64,
                        needed: min_len as u64,
                    }));
                }
                let id = object_id(&shm)?;
                let mapping = shm.map()?;
                let view = patiently(|| Ok(Some(attach(mapping.ptr(), mapping.len())?)))?;
                Ok((Named::new("", id, shm, mapping), view))
            }
        }
    }

    fn open_name<V>(
        name: &str,
        allowed_mode: u32,
        min_len: usize,
        attach: impl Fn(NonNull<u8>, usize) -> Result<V, AttachError>,
    ) -> Result<(Named, V), OpenError> {
        patiently(|| match SharedMemory::open(name, allowed_mode, min_len) {
            // Created but not sized yet. The creator sizes the object with
            // one `ftruncate` from 0, so any other short size is final:
            // another, smaller kind of object.
            Err(ShmError::TooSmall { len: 0, .. }) => Err(AttachError::NotReady.into()),
            Err(e) => Err(e.into()),
            Ok(shm) => {
                let id = object_id(&shm)?;
                let mapping = shm.map()?;
                let view = attach(mapping.ptr(), mapping.len())?;
                Ok(Some((Named::new(name, id, shm, mapping), view)))
            }
        })
    }

    fn new(name: &str, id: ObjectId, shm: SharedMemory, mapping: Mapping) -> Named {
        Named {
            name: stored_name(name),
            id,
            shm,
            mapping: Arc::new(mapping),
        }
    }

    /// The object's name (without the `annulus.` prefix); empty for
    /// anonymous memory.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The memory: for anonymous memory, a sealed memfd to hand to a peer
    /// with [`Connection::offer`](crate::rendezvous::Connection::offer) (or
    /// to a child); the peer opens it with the kind's `from_memory`.
    pub fn memory(&self) -> &SharedMemory {
        &self.shm
    }

    /// The object's identity (device and inode), the same for every mapping
    /// of it: what the registry of held roles is keyed by.
    pub fn id(&self) -> ObjectId {
        self.id
    }

    /// The mapping.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// The mapping, shared: whoever holds it keeps the memory mapped.
    pub(crate) fn mapping_arc(&self) -> Arc<Mapping> {
        Arc::clone(&self.mapping)
    }

    /// Removes the name from `/dev/shm`; this and other mappings stay valid.
    /// Anonymous memory has no name: nothing to do.
    ///
    /// # Errors
    ///
    /// As [`SharedMemory::unlink`].
    pub fn unlink(&self) -> Result<(), ShmError> {
        if self.name.is_empty() {
            return Ok(());
        }
        SharedMemory::unlink(&self.name)
    }
}

/// Where a new object's memory comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Create<'a> {
    /// `/dev/shm/annulus.<name>` with these permission bits.
    Name(&'a str, u32),
    /// A sealed memfd without a name, to pass to peers.
    Anonymous,
}

/// Where an existing object's memory is.
#[derive(Debug)]
pub(crate) enum Open<'a> {
    /// `/dev/shm/annulus.<name>`, with at most these permission bits.
    Name(&'a str, u32),
    /// Memory received from a peer (checked sealed on receipt).
    Memory(SharedMemory),
}

/// Runs `step` until it returns a view, retrying with backoff for up to
/// [`OPEN_PATIENCE`] while it answers `None` or "not ready" (a creator still
/// initialising).
fn patiently<V>(mut step: impl FnMut() -> Result<Option<V>, OpenError>) -> Result<V, OpenError> {
    let start = std::time::Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        match step() {
            Ok(Some(view)) => return Ok(view),
            Ok(None) | Err(OpenError::Attach(AttachError::NotReady)) => {}
            Err(e) => return Err(e),
        }
        if start.elapsed() >= OPEN_PATIENCE {
            return Err(OpenError::NotReady);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// `fstat`: the object's device and inode.
fn object_id(shm: &SharedMemory) -> Result<ObjectId, ShmError> {
    let stat = rustix::fs::fstat(shm.fd())?;
    Ok(ObjectId {
        dev: stat.st_dev,
        ino: stat.st_ino,
    })
}

fn stored_name(name: &str) -> heapless::String<{ crate::shm::MAX_NAME_LEN }> {
    // `SharedMemory::create/open` validated the name, so it fits.
    let mut stored = heapless::String::new();
    let _ = stored.push_str(name);
    stored
}

/// This process's id, recorded in the claims it makes.
pub(crate) fn my_pid() -> u32 {
    rustix::process::getpid().as_raw_nonzero().get() as u32
}
