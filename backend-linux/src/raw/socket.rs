//! `getsockopt(SO_PEERPIDFD)`: a pidfd for a unix socket's peer (Linux 6.5).
//!
//! # References
//!
//! - [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html), `SO_PEERPIDFD`

use rustix::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use rustix::io::Errno;

use super::{check, k, syscall5};

/// `SO_PEERPIDFD` (`include/uapi/asm-generic/socket.h`).
const SO_PEERPIDFD: u32 = linux_raw_sys::net::SO_PEERPIDFD;
const SOL_SOCKET: u32 = linux_raw_sys::net::SOL_SOCKET;

/// A pidfd for the process that was the peer of `socket` when it connected
/// (or listened). `ENOPROTOOPT` before Linux 6.5.
pub(crate) fn peer_pidfd(socket: BorrowedFd<'_>) -> Result<OwnedFd, Errno> {
    let mut fd: i32 = -1;
    // `socklen_t` is a 32-bit unsigned int.
    let mut len: u32 = core::mem::size_of::<i32>() as u32;
    // SAFETY: `socket` is open for the call; `fd` and `len` are live,
    // writable, and `len` says how many bytes `fd` holds.
    check(unsafe {
        syscall5(
            k::__NR_getsockopt,
            socket.as_raw_fd() as usize,
            SOL_SOCKET as usize,
            SO_PEERPIDFD as usize,
            &mut fd as *mut i32 as usize,
            &mut len as *mut u32 as usize,
        )
    })?;
    if len as usize != core::mem::size_of::<i32>() || fd < 0 {
        return Err(Errno::INVAL);
    }
    // SAFETY: the kernel just installed `fd` in this process for us and
    // nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // The kernel makes pidfds close-on-exec; say so rather than rely on it.
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC)?;
    Ok(fd)
}
