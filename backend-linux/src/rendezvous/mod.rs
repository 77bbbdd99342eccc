//! Handing shared memory to an unrelated process without a name in
//! `/dev/shm`: a unix-socket rendezvous that passes a sealed memfd (and a
//! few more fds, an eventfd say) with `SCM_RIGHTS`, and checks the peer's
//! kernel-verified credentials (`SO_PEERCRED`) on both sides.
//!
//! A named object under `/dev/shm` can be opened by every process of its
//! owner (and, with a wider mode, by others), and none of them can be
//! stopped from truncating it under the mappers (see [`crate::shm`]). This
//! rendezvous is for users who cannot trust every process that can see
//! `/dev/shm`: the memory has no name, only processes handed the fd can map
//! it, and the seals make its size immutable, so a hostile holder can write
//! garbage (which annulus's attach and operations survive, DESIGN.md rule
//! 3) but cannot make anyone die of `SIGBUS`.
//!
//! - The server [`Listener::bind`]s a `SOCK_SEQPACKET` unix socket at a
//!   filesystem path (put it in a directory only the intended peers can
//!   search, e.g. `$XDG_RUNTIME_DIR`, mode 0700) or an abstract name (no
//!   permissions at all: anyone in the network namespace can connect, and
//!   only the credential check keeps them out). [`Listener::accept`] reads
//!   the client's `SO_PEERCRED` and refuses (closes) a peer whose uid the
//!   [`Allow`] policy does not name.
//! - The client [`Connection::connect`]s and checks the server's
//!   credentials the same way: a process that bound the path first (a
//!   squatter) is refused unless it runs as an allowed uid.
//! - [`Connection::offer`] sends one message: a 32-byte header (magic,
//!   version, a caller-chosen tag, the memory's size, the number of extra
//!   fds) with the memfd and up to [`MAX_EXTRA_FDS`] more fds attached.
//!   The sender refuses memory that is not sealed.
//! - [`Connection::receive`] takes one offer: every field of the header is
//!   untrusted, fds arrive close-on-exec, a truncated message or control
//!   block is refused (and whatever fds came are closed), and the memfd is
//!   checked with [`SharedMemory::from_sealed_memfd`](crate::SharedMemory::from_sealed_memfd): sealed against
//!   shrinking and growing, at least the size the caller needs, and exactly
//!   the size the header announced.
//!
//! Both calls that wait for the peer take a timeout, so a peer that connects
//! and says nothing cannot hang the other side.
//!
//! `SO_PEERCRED` reports the credentials the peer had when it called
//! `connect` (or `listen`, or `socketpair`); the kernel fills them, the peer
//! cannot forge them (unlike `SCM_CREDENTIALS`, which a privileged sender may
//! fill at will). The pid it reports can be reused after the peer exits;
//! use it for [`crate::liveness`] checks soon after the handshake.
//!
//! Every named kind can live in such memory: `create_anonymous` makes it,
//! [`Named::memory`](crate::named::Named::memory) is what to offer, and the
//! receiver opens the offer with `from_memory` (here an SPSC ring; the
//! client runs in a thread for the doctest, another process in real use):
//!
//! ```
//! use annulus_linux::named::SpscRing;
//! use annulus_linux::rendezvous::{Address, Allow, Connection, Listener};
//! use std::time::Duration;
//!
//! const WAIT: Option<Duration> = Some(Duration::from_secs(10));
//! // A real server puts its socket in a directory only its peers can search.
//! let path = std::ffi::CString::new(format!("/tmp/annulus-doc-{}.sock", std::process::id()))?;
//! let listener = Listener::bind(Address::Path(&path))?;
//!
//! // The client: connects, checks the server's uid, maps what it is given.
//! let client = std::thread::spawn(move || {
//!     let conn = Connection::connect(Address::Path(&path), Allow::SameUser).unwrap();
//!     // Any size: `from_memory` checks it against the ring it finds.
//!     let offer = conn.receive(0, WAIT).unwrap();
//!     let ring = SpscRing::<u64>::from_memory(offer.memory).unwrap();
//!     let mut rx = ring.consumer().unwrap();
//!     rx.pop_blocking(WAIT).unwrap()
//! });
//!
//! // The server: accepts only its own uid, offers a ring nobody can open by name.
//! let conn = listener.accept(Allow::SameUser, WAIT)?;
//! let ring = SpscRing::<u64>::create_anonymous(64)?;
//! conn.offer(ring.named().memory(), 1, &[])?;
//! ring.producer()?.push(7).unwrap();
//! assert_eq!(client.join().unwrap(), 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod offer;
mod socket;

use core::fmt;

use rustix::io::Errno;

use crate::shm::ShmError;

pub use offer::{MAX_EXTRA_FDS, Offer};
pub use socket::{Address, Connection, Listener};

/// Which peers a rendezvous accepts, by the uid the kernel reports for them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allow<'a> {
    /// Only this process's effective uid.
    SameUser,
    /// Only these uids.
    Uids(&'a [u32]),
}

impl Allow<'_> {
    /// Whether a peer running as `uid` is accepted.
    pub fn admits(&self, uid: u32) -> bool {
        match self {
            Allow::SameUser => uid == rustix::process::geteuid().as_raw(),
            Allow::Uids(uids) => uids.contains(&uid),
        }
    }
}

/// A peer's credentials as the kernel recorded them (`SO_PEERCRED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Its process id when it connected (or listened).
    pub pid: u32,
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
}

/// What was wrong with a received message. Each is what a hostile or
/// broken peer can send; none loses or leaks a file descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Malformed {
    /// The message is not an annulus offer (wrong magic).
    Magic,
    /// An offer of a version this build does not read.
    Version(u32),
    /// The message is not the header's size (`bytes` received, or more
    /// than the buffer when the kernel truncated it).
    Length {
        /// Bytes received.
        bytes: usize,
    },
    /// The kernel dropped control data: more fds were sent than an offer
    /// carries.
    TooManyFds,
    /// The header announces a number of fds other than the number
    /// attached.
    FdCount {
        /// Extra fds the header announces.
        announced: u32,
        /// Fds attached, the memfd included.
        attached: usize,
    },
    /// The memfd's size is not the size the header announces.
    SizeMismatch {
        /// Size in the header.
        announced: u64,
        /// Size of the memfd received.
        actual: u64,
    },
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Malformed::Magic => f.write_str("not an annulus offer"),
            Malformed::Version(v) => write!(f, "offer version {v} is not supported"),
            Malformed::Length { bytes } => write!(f, "an offer of {bytes} bytes"),
            Malformed::TooManyFds => f.write_str("more file descriptors than an offer carries"),
            Malformed::FdCount {
                announced,
                attached,
            } => write!(
                f,
                "{attached} file descriptors attached, 1 + {announced} announced"
            ),
            Malformed::SizeMismatch { announced, actual } => {
                write!(f, "memory of {actual} bytes, {announced} announced")
            }
        }
    }
}

/// Why a rendezvous step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RendezvousError {
    /// A system call failed (`EADDRINUSE` when the path exists,
    /// `ECONNREFUSED` when nobody listens, ...).
    Os(Errno),
    /// The peer's uid is not allowed; the connection was closed.
    PeerRefused(Peer),
    /// Nothing arrived within the timeout.
    TimedOut,
    /// The peer closed the connection without sending an offer.
    Closed,
    /// The message received is not a well-formed offer.
    Malformed(Malformed),
    /// The memory received (or about to be sent) is not safe to map: not
    /// sealed, too small, or not a memfd.
    Memory(ShmError),
    /// More than [`MAX_EXTRA_FDS`] extra fds were given to send.
    TooManyFds {
        /// How many were given.
        given: usize,
    },
}

impl fmt::Display for RendezvousError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RendezvousError::Os(e) => write!(f, "rendezvous: {e}"),
            RendezvousError::PeerRefused(p) => write!(
                f,
                "peer pid {} runs as uid {}, which is not allowed",
                p.pid, p.uid
            ),
            RendezvousError::TimedOut => f.write_str("rendezvous: timed out"),
            RendezvousError::Closed => f.write_str("the peer closed the rendezvous"),
            RendezvousError::Malformed(m) => write!(f, "malformed offer: {m}"),
            RendezvousError::Memory(e) => write!(f, "offered memory refused: {e}"),
            RendezvousError::TooManyFds { given } => write!(
                f,
                "{given} extra file descriptors, at most {MAX_EXTRA_FDS} per offer"
            ),
        }
    }
}

impl core::error::Error for RendezvousError {}

impl From<Errno> for RendezvousError {
    fn from(e: Errno) -> Self {
        RendezvousError::Os(e)
    }
}

impl From<Malformed> for RendezvousError {
    fn from(m: Malformed) -> Self {
        RendezvousError::Malformed(m)
    }
}
