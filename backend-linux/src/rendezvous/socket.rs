//! The sockets of a rendezvous: bind and accept on the server, connect on
//! the client, each checked against the peer's `SO_PEERCRED`.

use core::ffi::CStr;
use core::time::Duration;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, SocketAddrUnix, SocketFlags, SocketType, accept_with, bind, connect, listen,
    socket_with, socketpair, sockopt,
};
use rustix::time::Timespec;

use super::{Allow, Peer, RendezvousError};
use crate::Futex;
use annulus::wait::Wait;

/// Where a rendezvous listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Address<'a> {
    /// A socket file at this path (at most 107 bytes). Its permissions are
    /// the umask's; the directory it is in decides who can reach it.
    Path(&'a CStr),
    /// A name in the abstract namespace (at most 107 bytes; no file, no
    /// permissions: only the credential check keeps others out).
    Abstract(&'a [u8]),
}

impl Address<'_> {
    fn socket_address(&self) -> Result<SocketAddrUnix, Errno> {
        match self {
            Address::Path(path) => SocketAddrUnix::new(*path),
            Address::Abstract(name) => SocketAddrUnix::new_abstract_name(name),
        }
    }
}

/// Backlog of connections waiting for [`Listener::accept`].
const BACKLOG: i32 = 16;

fn seqpacket_socket() -> Result<OwnedFd, Errno> {
    socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
}

/// The server side: a listening `SOCK_SEQPACKET` unix socket. Dropping it
/// closes the socket and removes its file (for [`Address::Path`]), unless
/// something else has taken that path since.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    /// The socket file to remove on drop, if any.
    path: Option<BoundPath>,
}

/// A socket file this listener bound: its path (the kernel's `sun_path`
/// holds at most 108 bytes, NUL included) and identity.
#[derive(Debug)]
struct BoundPath {
    path: heapless::Vec<u8, 108>,
    dev: u64,
    ino: u64,
}

impl BoundPath {
    fn of(path: &CStr) -> Option<BoundPath> {
        let stat = rustix::fs::stat(path).ok()?;
        Some(BoundPath {
            path: heapless::Vec::from_slice(path.to_bytes_with_nul()).ok()?,
            dev: stat.st_dev,
            ino: stat.st_ino,
        })
    }

    /// Removes the file if it is still the one bound.
    fn remove(&self) {
        let Ok(path) = CStr::from_bytes_with_nul(&self.path) else {
            return;
        };
        if let Ok(stat) = rustix::fs::stat(path)
            && (stat.st_dev, stat.st_ino) == (self.dev, self.ino)
        {
            let _ = rustix::fs::unlink(path);
        }
    }
}

impl Listener {
    /// Binds and listens at `address`. A path that exists already is
    /// refused (`EADDRINUSE`), never replaced.
    ///
    /// # Errors
    ///
    /// [`RendezvousError::Os`] from `socket`, `bind` (`EADDRINUSE`,
    /// `ENAMETOOLONG`, `EACCES`, ...) or `listen`.
    pub fn bind(address: Address<'_>) -> Result<Self, RendezvousError> {
        let fd = seqpacket_socket()?;
        bind(&fd, &address.socket_address()?)?;
        let path = match address {
            Address::Path(p) => BoundPath::of(p),
            Address::Abstract(_) => None,
        };
        let listener = Listener { fd, path };
        // On failure the drop removes the file bound above.
        listen(&listener.fd, BACKLOG)?;
        Ok(listener)
    }

    /// Waits up to `timeout` (`None`: for ever) for a client, and accepts it
    /// if `allow` admits the uid the kernel reports for it; otherwise closes
    /// the connection and reports who it was.
    ///
    /// # Errors
    ///
    /// [`RendezvousError::TimedOut`], [`RendezvousError::PeerRefused`],
    /// [`RendezvousError::Os`].
    pub fn accept(
        &self,
        allow: Allow<'_>,
        timeout: Option<Duration>,
    ) -> Result<Connection, RendezvousError> {
        wait_readable(self.fd.as_fd(), deadline_after(timeout))?;
        let fd = accept_with(&self.fd, SocketFlags::CLOEXEC)?;
        Connection::checked(fd, allow)
    }

    /// The listening socket (for an `epoll` loop: readable when a client
    /// waits).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(path) = &self.path {
            path.remove();
        }
    }
}

/// One end of a rendezvous connection, whose peer's credentials were
/// checked.
#[derive(Debug)]
pub struct Connection {
    pub(super) fd: OwnedFd,
    peer: Peer,
}

impl Connection {
    /// Connects to the listener at `address` and accepts it only if `allow`
    /// admits the uid the kernel reports for the process that listens
    /// there.
    ///
    /// # Errors
    ///
    /// [`RendezvousError::Os`] (`ENOENT`, `ECONNREFUSED`, ...),
    /// [`RendezvousError::PeerRefused`].
    pub fn connect(address: Address<'_>, allow: Allow<'_>) -> Result<Self, RendezvousError> {
        let fd = seqpacket_socket()?;
        connect(&fd, &address.socket_address()?)?;
        Connection::checked(fd, allow)
    }

    /// A connected pair, to hand one end to a child (it inherits the fd:
    /// clear its close-on-exec flag, or pass it over another socket). Both
    /// ends name this process as their peer.
    ///
    /// # Errors
    ///
    /// [`RendezvousError::Os`] from `socketpair`.
    pub fn pair() -> Result<(Connection, Connection), RendezvousError> {
        let (a, b) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let allow = Allow::SameUser;
        Ok((
            Connection::checked(a, allow)?,
            Connection::checked(b, allow)?,
        ))
    }

    /// Wraps a connected unix socket received some other way (inherited,
    /// say), checking its peer's credentials against `allow`. A socket of
    /// another type works as long as it keeps message boundaries
    /// (`SOCK_SEQPACKET` or `SOCK_DGRAM`).
    ///
    /// # Errors
    ///
    /// [`RendezvousError::Os`] (`ENOTCONN`, `ENOTSOCK`, ...),
    /// [`RendezvousError::PeerRefused`].
    pub fn from_fd(fd: OwnedFd, allow: Allow<'_>) -> Result<Self, RendezvousError> {
        Connection::checked(fd, allow)
    }

    fn checked(fd: OwnedFd, allow: Allow<'_>) -> Result<Self, RendezvousError> {
        let cred = sockopt::socket_peercred(&fd)?;
        let peer = Peer {
            pid: u32::try_from(cred.pid.as_raw_nonzero().get()).unwrap_or(0),
            uid: cred.uid.as_raw(),
            gid: cred.gid.as_raw(),
        };
        if !allow.admits(peer.uid) {
            // Dropping `fd` closes the connection: the peer sees it end.
            return Err(RendezvousError::PeerRefused(peer));
        }
        Ok(Connection { fd, peer })
    }

    /// The peer's credentials, as the kernel recorded them.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// A pidfd for the peer process (`SO_PEERPIDFD`, Linux 6.5): unlike
    /// the pid in [`Connection::peer`], it cannot come to name another
    /// process once the peer exits. Poll it (readable when the peer exits)
    /// or ask [`pidfd_has_exited`](crate::liveness::pidfd_has_exited).
    ///
    /// # Errors
    ///
    /// [`RendezvousError::Os`]: `ENOPROTOOPT` before Linux 6.5, `ESRCH`
    /// if the peer has been reaped already.
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    pub fn peer_pidfd(&self) -> Result<OwnedFd, RendezvousError> {
        Ok(crate::raw::socket::peer_pidfd(self.fd.as_fd())?)
    }

    /// The socket (for an `epoll` loop: readable when an offer arrives).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Gives the socket up (to pass it to a child, say).
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

/// The monotonic instant `timeout` from now (`None`: never), on the
/// futex's clock.
pub(super) fn deadline_after(timeout: Option<Duration>) -> Option<u64> {
    annulus::wait::deadline_after(&Futex, timeout)
}

/// Waits until `fd` is readable (or hung up), until `deadline` (`None`:
/// for ever).
pub(super) fn wait_readable(
    fd: BorrowedFd<'_>,
    deadline: Option<u64>,
) -> Result<(), RendezvousError> {
    loop {
        let left = deadline.map(|d| {
            let nanos = d.saturating_sub(Futex.now());
            Timespec {
                tv_sec: i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX),
                // Below 10^9: fits.
                tv_nsec: (nanos % 1_000_000_000) as _,
            }
        });
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, left.as_ref()) {
            Ok(0) => return Err(RendezvousError::TimedOut),
            // Readable, hung up or in error: the next call says which.
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
