//! Thin safe wrappers over the kernel's pipes and FIFOs: the mechanisms the
//! seeds start from, and the baseline annulus is measured against.
//!
//! # SIGPIPE
//!
//! Writing to a pipe whose readers are all gone raises SIGPIPE, which kills
//! the process by default. The policy, so that a closed peer is an error and
//! never a death:
//!
//! - annulus's own rings never raise a signal: a push to a ring whose
//!   consumer left returns `Disconnected`.
//! - A write to a socket can say so itself: pass `MSG_NOSIGNAL`
//!   (`rustix::net::SendFlags::NOSIGNAL`) and get `EPIPE` instead.
//! - A write to a pipe or FIFO has no such flag. Programs built with Rust's
//!   std set SIGPIPE to "ignore" before `main`, so there
//!   [`PipeWriter::write`] returns `EPIPE`. A `#![no_main]` program without
//!   the std runtime must ignore SIGPIPE itself, once, at start:
//!   [`ignore_sigpipe`] does it (the repository's `nolibc-proof/` shows
//!   both the death and the cure).

use core::ffi::CStr;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, FileType, Mode, OFlags};
use rustix::io::{self, Errno};
use rustix::pipe::{self as rpipe, PipeFlags};

/// The reading end of a pipe or FIFO.
#[derive(Debug)]
pub struct PipeReader(OwnedFd);

/// The writing end of a pipe or FIFO.
#[derive(Debug)]
pub struct PipeWriter(OwnedFd);

/// Options for [`pipe`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipeOptions {
    /// `O_NONBLOCK` on both ends: reads and writes return `EAGAIN` instead
    /// of blocking.
    pub nonblocking: bool,
    /// `O_DIRECT`: packet mode, each write is one packet (at most
    /// `PIPE_BUF`), and each read returns one packet.
    pub packets: bool,
}

/// `pipe2(O_CLOEXEC | ...)`: a new pipe, its read end and its write end.
///
/// # Errors
///
/// The `Errno` of `pipe2` (`EMFILE`, `ENFILE`).
///
/// # References
///
/// - [pipe(2)](https://man7.org/linux/man-pages/man2/pipe.2.html)
pub fn pipe(options: PipeOptions) -> Result<(PipeReader, PipeWriter), Errno> {
    let mut flags = PipeFlags::CLOEXEC;
    if options.nonblocking {
        flags |= PipeFlags::NONBLOCK;
    }
    if options.packets {
        flags |= PipeFlags::DIRECT;
    }
    let (read, write) = rpipe::pipe_with(flags)?;
    Ok((PipeReader(read), PipeWriter(write)))
}

/// `rt_sigaction(SIGPIPE, SIG_IGN)`: from now on a write to a pipe with no
/// reader fails with `EPIPE` instead of killing the process. For programs
/// without Rust's std runtime (which does this before `main`); see the module
/// docs.
///
/// The disposition is the whole process's, and programs it `exec`s inherit
/// "ignore" (std's `Command` resets it in its children; a raw `execve` does
/// not).
///
/// # Errors
///
/// The `Errno` of `rt_sigaction` (none is expected).
///
/// # References
///
/// - [sigaction(2)](https://man7.org/linux/man-pages/man2/sigaction.2.html)
/// - [pipe(7)](https://man7.org/linux/man-pages/man7/pipe.7.html)
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn ignore_sigpipe() -> Result<(), Errno> {
    crate::raw::ignore_signal(linux_raw_sys::general::SIGPIPE as i32)
}

/// `mknodat(AT_FDCWD, path, S_IFIFO | mode)`: creates a FIFO (named pipe).
///
/// # Errors
///
/// The `Errno` of `mknodat` (`EEXIST`, `ENOENT`, `EACCES`).
pub fn mkfifo(path: &CStr, mode: u32) -> Result<(), Errno> {
    fs::mknodat(
        fs::CWD,
        path,
        FileType::Fifo,
        Mode::from_raw_mode(mode & 0o777),
        0,
    )
}

/// Opens a FIFO for reading. Blocking (`nonblocking == false`), this waits
/// until some process opens it for writing; with `O_NONBLOCK` it returns at
/// once (and reads return 0 until a writer appears).
///
/// # Errors
///
/// The `Errno` of `open` (`ENOENT`, `EACCES`, `EINTR`).
pub fn open_fifo_reader(path: &CStr, nonblocking: bool) -> Result<PipeReader, Errno> {
    open_fifo(path, OFlags::RDONLY, nonblocking).map(PipeReader)
}

/// Opens a FIFO for writing. Blocking, this waits until some process opens
/// it for reading; with `O_NONBLOCK` it fails with `ENXIO` if no process has
/// it open for reading.
///
/// # Errors
///
/// The `Errno` of `open` (`ENXIO` as above, `ENOENT`, `EACCES`).
pub fn open_fifo_writer(path: &CStr, nonblocking: bool) -> Result<PipeWriter, Errno> {
    open_fifo(path, OFlags::WRONLY, nonblocking).map(PipeWriter)
}

fn open_fifo(path: &CStr, access: OFlags, nonblocking: bool) -> Result<OwnedFd, Errno> {
    let mut flags = access | OFlags::CLOEXEC;
    if nonblocking {
        flags |= OFlags::NONBLOCK;
    }
    fs::open(path, flags, Mode::empty())
}

/// `fcntl(F_SETPIPE_SZ)`: the kernel rounds the size up to a power of two
/// pages; above `/proc/sys/fs/pipe-max-size` it fails with `EPERM` for a
/// process without `CAP_SYS_RESOURCE`, and below the bytes already in the
/// pipe with `EBUSY`.
fn set_capacity(fd: BorrowedFd<'_>, bytes: usize) -> Result<usize, Errno> {
    rpipe::fcntl_setpipe_size(fd, bytes)
}

impl PipeReader {
    /// `read(2)`: the bytes available, up to `buf.len()`; `Ok(0)` at end of
    /// stream (every writer closed). Blocks while empty unless non-blocking
    /// (then `EAGAIN`).
    ///
    /// # Errors
    ///
    /// The `Errno` of `read` (`EAGAIN`, `EINTR`).
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        io::read(&self.0, buf)
    }

    /// `fcntl(F_GETPIPE_SZ)`: the pipe's capacity in bytes (64 KiB by
    /// default on Linux).
    ///
    /// # Errors
    ///
    /// The `Errno` of `fcntl`.
    pub fn capacity(&self) -> Result<usize, Errno> {
        rpipe::fcntl_getpipe_size(&self.0)
    }

    /// `fcntl(F_SETPIPE_SZ)`; returns the capacity the kernel chose (a
    /// power of two pages, at least `bytes`).
    ///
    /// # Errors
    ///
    /// `EPERM` above `/proc/sys/fs/pipe-max-size` without
    /// `CAP_SYS_RESOURCE`; `EBUSY` below what the pipe holds.
    pub fn set_capacity(&self, bytes: usize) -> Result<usize, Errno> {
        set_capacity(self.0.as_fd(), bytes)
    }

    /// The file descriptor (for poll/epoll).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl PipeWriter {
    /// `write(2)`: writes some of `buf`; blocks while full unless
    /// non-blocking (then `EAGAIN`). Writes of at most `PIPE_BUF` (4096)
    /// bytes are atomic. `EPIPE` if every reader is gone (see the module
    /// docs on SIGPIPE).
    ///
    /// # Errors
    ///
    /// The `Errno` of `write` (`EAGAIN`, `EPIPE`, `EINTR`).
    pub fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        io::write(&self.0, buf)
    }

    /// As [`PipeReader::capacity`].
    ///
    /// # Errors
    ///
    /// The `Errno` of `fcntl`.
    pub fn capacity(&self) -> Result<usize, Errno> {
        rpipe::fcntl_getpipe_size(&self.0)
    }

    /// As [`PipeReader::set_capacity`].
    ///
    /// # Errors
    ///
    /// As [`PipeReader::set_capacity`].
    pub fn set_capacity(&self, bytes: usize) -> Result<usize, Errno> {
        set_capacity(self.0.as_fd(), bytes)
    }

    /// The file descriptor (for poll/epoll).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}
