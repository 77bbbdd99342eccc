//! The kernel's byte channels between two processes: pipes, a unix stream
//! socket pair, eventfds and FIFOs. Descriptors reach the peer by
//! inheritance (they are opened without close-on-exec) and their numbers
//! in its arguments.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

use rustix::event::{EventfdFlags, eventfd};
use rustix::fs::{CWD, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType, socketpair};
use rustix::pipe::{PipeFlags, fcntl_setpipe_size, pipe_with};

use super::{Ctx, Measured};
use crate::driver::{self, Link, ServerResult};
use crate::error::{BenchError, Result, ctx, fail};
use crate::peer::PeerCtx;

/// Pipe buffer for the 64 KiB case (the default is 64 KiB: one message).
const BIG_PIPE: usize = 1 << 20;

/// Writes and reads whole messages on two descriptors.
struct FdLink {
    tx: OwnedFd,
    rx: OwnedFd,
}

fn write_all(fd: &OwnedFd, mut buf: &[u8]) -> Result<()> {
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(n) => buf = &buf[n..],
            Err(Errno::INTR) => {}
            Err(e) => return fail(format!("write: {e}")),
        }
    }
    Ok(())
}

fn read_exact(fd: &OwnedFd, buf: &mut [u8]) -> Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match rustix::io::read(fd, &mut buf[filled..]) {
            Ok(0) => return fail("the other side closed"),
            Ok(n) => filled += n,
            Err(Errno::INTR) => {}
            Err(e) => return fail(format!("read: {e}")),
        }
    }
    Ok(())
}

impl Link for FdLink {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        write_all(&self.tx, msg)
    }

    #[inline]
    fn recv(&mut self, msg: &mut [u8]) -> Result<()> {
        read_exact(&self.rx, msg)
    }
}

/// An eventfd per direction in semaphore mode: a send adds 1, a receive
/// takes 1. It carries no data.
struct EventLink(FdLink);

impl Link for EventLink {
    const PAYLOAD: bool = false;

    #[inline]
    fn send(&mut self, _msg: &[u8]) -> Result<()> {
        write_all(&self.0.tx, &1u64.to_ne_bytes())
    }

    #[inline]
    fn recv(&mut self, _msg: &mut [u8]) -> Result<()> {
        let mut count = [0u8; 8];
        read_exact(&self.0.rx, &mut count)
    }
}

fn fd_param(p: &PeerCtx, i: usize) -> Result<OwnedFd> {
    let n: i32 = p.param_num(i)?;
    if n < 3 {
        return fail(format!("descriptor {n} is not one the parent passed"));
    }
    // SAFETY: the parent opened this descriptor without close-on-exec and
    // passed its number for us alone; nothing else in this process owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

fn raw(fd: &OwnedFd) -> String {
    fd.as_raw_fd().to_string()
}

pub(crate) fn pipe_parent(c: &Ctx<'_>) -> Result<Measured> {
    let (a_read, a_write) = pipe_with(PipeFlags::empty()).map_err(ctx("pipe"))?;
    let (b_read, b_write) = pipe_with(PipeFlags::empty()).map_err(ctx("pipe"))?;
    if c.plan.size > 4096 {
        for fd in [&a_write, &b_write] {
            fcntl_setpipe_size(fd, BIG_PIPE).map_err(ctx("F_SETPIPE_SZ"))?;
        }
    }
    let peer = c.spawn(&[raw(&a_read), raw(&b_write)])?;
    // Only the peer holds its ends now, so its exit is an end of file here.
    drop((a_read, b_write));
    let mut link = FdLink {
        tx: a_write,
        rx: b_read,
    };
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn unix_parent(c: &Ctx<'_>) -> Result<Measured> {
    let (mine, theirs) = socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::empty(),
        None,
    )
    .map_err(ctx("socketpair"))?;
    let peer = c.spawn(&[raw(&theirs), raw(&theirs)])?;
    drop(theirs);
    let mut link = FdLink {
        tx: rustix::io::dup(&mine).map_err(ctx("dup"))?,
        rx: mine,
    };
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

/// The peer of the pipe and socket cases: parameter 0 is the descriptor
/// to read, 1 the one to write (the same for a socket).
pub(crate) fn fd_pair_peer(p: &PeerCtx) -> Result<ServerResult> {
    let rx = fd_param(p, 0)?;
    let tx = if p.param(0)? == p.param(1)? {
        rustix::io::dup(&rx).map_err(ctx("dup"))?
    } else {
        fd_param(p, 1)?
    };
    let mut link = FdLink { tx, rx };
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}

pub(crate) fn eventfd_parent(c: &Ctx<'_>) -> Result<Measured> {
    let a = eventfd(0, EventfdFlags::SEMAPHORE).map_err(ctx("eventfd"))?;
    let b = eventfd(0, EventfdFlags::SEMAPHORE).map_err(ctx("eventfd"))?;
    let peer = c.spawn(&[raw(&a), raw(&b)])?;
    let unstick = rustix::io::dup(&b).map_err(ctx("dup"))?;
    let mut link = EventLink(FdLink { tx: a, rx: b });
    // An eventfd has no end of file: if the peer dies, the watchdog fills
    // ours so the client runs out, and `finish` reports the peer's failure.
    let client = super::watchdog(
        peer.pid(),
        c.config.case_timeout,
        || {
            let _ = rustix::io::write(&unstick, &(u64::MAX - 1).to_ne_bytes());
        },
        || driver::client(&mut link, &c.plan, c.counter),
    )?;
    Ok(Measured::new(client, peer.finish()?))
}

pub(crate) fn eventfd_peer(p: &PeerCtx) -> Result<ServerResult> {
    let mut link = EventLink(FdLink {
        rx: fd_param(p, 0)?,
        tx: fd_param(p, 1)?,
    });
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}

/// Removes the FIFOs when the case ends.
struct RemoveFifos([PathBuf; 2]);

impl Drop for RemoveFifos {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn open_fifo(path: &str, flags: OFlags) -> Result<OwnedFd> {
    rustix::fs::openat(CWD, path, flags | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| BenchError::new(format!("open {path}: {e}")))
}

pub(crate) fn fifo_parent(c: &Ctx<'_>) -> Result<Measured> {
    let dir = std::env::temp_dir();
    let paths = [
        dir.join(format!("annulus-{}-a.fifo", c.object_name("fifo"))),
        dir.join(format!("annulus-{}-b.fifo", c.object_name("fifo"))),
    ];
    let _remove = RemoveFifos(paths.clone());
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    for name in &names {
        rustix::fs::mkfifoat(CWD, name.as_str(), Mode::RUSR | Mode::WUSR).map_err(ctx("mkfifo"))?;
    }
    let peer = c.spawn(&names)?;
    // The peer opens `a` to read, then `b` to write; opening in the same
    // order here pairs the blocking opens without a deadlock.
    let tx = open_fifo(&names[0], OFlags::WRONLY)?;
    let rx = open_fifo(&names[1], OFlags::RDONLY)?;
    let mut link = FdLink { tx, rx };
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn fifo_peer(p: &PeerCtx) -> Result<ServerResult> {
    let rx = open_fifo(p.param(0)?, OFlags::RDONLY)?;
    let tx = open_fifo(p.param(1)?, OFlags::WRONLY)?;
    let mut link = FdLink { tx, rx };
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}
