//! A hostile peer on a rendezvous connection: every malformed offer it can
//! craft by hand (wrong magic, length, version, fd count, size, unsealed or
//! non-memfd memory, too many fds) is refused with its own error, and no
//! file descriptor that arrived with it is left open.
//!
//! One test in this file, so counting this process's open fds before and
//! after is not disturbed by other tests' threads.

use std::mem::MaybeUninit;

use annulus_linux::SharedMemory;
use annulus_linux::ShmError;
use annulus_linux::rendezvous::{Connection, MAX_EXTRA_FDS, Malformed, RendezvousError};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{MemfdFlags, memfd_create};
use rustix::io::IoSlice;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};

const LEN: usize = 4096;

/// The wire header as the format defines it (magic, version 1, tag, size,
/// extra fds, reserved).
fn header(tag: u32, len: u64, extra: u32) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(b"annulus\x52");
    h[8..12].copy_from_slice(&1u32.to_ne_bytes());
    h[12..16].copy_from_slice(&tag.to_ne_bytes());
    h[16..24].copy_from_slice(&len.to_ne_bytes());
    h[24..28].copy_from_slice(&extra.to_ne_bytes());
    h
}

/// Sends `bytes` with `fds` attached, as a hostile peer would.
fn send_raw(conn: &Connection, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() {
        assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
    }
    sendmsg(
        conn.fd(),
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .unwrap();
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn unsealed_memfd(len: u64) -> OwnedFd {
    let fd = memfd_create("unsealed", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
    rustix::fs::ftruncate(&fd, len).unwrap();
    fd
}

#[test]
fn malformed_offers_are_refused_and_leak_no_fd() {
    let (hostile, victim) = Connection::pair().unwrap();
    let sealed = SharedMemory::anonymous("hostile", LEN).unwrap();
    let unsealed = unsealed_memfd(LEN as u64);
    let (pipe_r, pipe_w) = rustix::pipe::pipe().unwrap();
    let before = open_fds();
    let refused = |expected: RendezvousError| {
        assert_eq!(victim.receive(0, None).unwrap_err(), expected);
    };
    let m = RendezvousError::Malformed;

    // Not an offer at all, with a memfd attached.
    let mut bad = header(1, LEN as u64, 0);
    bad[0] = b'X';
    send_raw(&hostile, &bad, &[sealed.fd()]);
    refused(m(Malformed::Magic));
    // A version from the future; a reserved word set.
    let mut bad = header(1, LEN as u64, 0);
    bad[8] = 9;
    send_raw(&hostile, &bad, &[sealed.fd()]);
    refused(m(Malformed::Version(9)));
    let mut bad = header(1, LEN as u64, 0);
    bad[31] = 1;
    send_raw(&hostile, &bad, &[sealed.fd()]);
    refused(m(Malformed::Version(1)));
    // Too short, too long.
    send_raw(&hostile, &header(1, LEN as u64, 0)[..20], &[sealed.fd()]);
    refused(m(Malformed::Length { bytes: 20 }));
    send_raw(&hostile, &[0u8; 100], &[sealed.fd()]);
    refused(m(Malformed::Length { bytes: 100 }));
    // A header without fds; one announcing two extras with one attached.
    send_raw(&hostile, &header(1, LEN as u64, 0), &[]);
    refused(m(Malformed::FdCount {
        announced: 0,
        attached: 0,
    }));
    send_raw(
        &hostile,
        &header(1, LEN as u64, 2),
        &[sealed.fd(), pipe_r.as_fd()],
    );
    refused(m(Malformed::FdCount {
        announced: 2,
        attached: 2,
    }));
    // An absurd extra count (would overflow a careless `extra + 1`).
    send_raw(&hostile, &header(1, LEN as u64, u32::MAX), &[sealed.fd()]);
    refused(m(Malformed::FdCount {
        announced: u32::MAX,
        attached: 1,
    }));
    // More fds than an offer carries: the kernel truncates the control
    // block; what arrived is closed.
    let many = [sealed.fd(); MAX_EXTRA_FDS + 3];
    send_raw(&hostile, &header(1, LEN as u64, 6), &many);
    refused(m(Malformed::TooManyFds));
    // A size that is not the memfd's.
    send_raw(&hostile, &header(1, 2 * LEN as u64, 0), &[sealed.fd()]);
    refused(m(Malformed::SizeMismatch {
        announced: 2 * LEN as u64,
        actual: LEN as u64,
    }));
    // Memory a peer could shrink under us; a pipe instead of memory.
    send_raw(&hostile, &header(1, LEN as u64, 0), &[unsealed.as_fd()]);
    assert!(matches!(
        victim.receive(0, None),
        Err(RendezvousError::Memory(ShmError::NotSealed { .. }))
    ));
    send_raw(&hostile, &header(1, LEN as u64, 0), &[pipe_w.as_fd()]);
    assert!(matches!(
        victim.receive(0, None),
        Err(RendezvousError::Memory(ShmError::Os(_)))
    ));
    // Smaller than the receiver needs.
    send_raw(&hostile, &header(1, LEN as u64, 0), &[sealed.fd()]);
    assert_eq!(
        victim.receive(2 * LEN, None).unwrap_err(),
        RendezvousError::Memory(ShmError::TooSmall {
            len: LEN as u64,
            needed: 2 * LEN as u64,
        })
    );
    assert_eq!(open_fds(), before, "every fd that arrived was closed");

    // After all that, a well-formed offer still goes through.
    hostile.offer(&sealed, 5, &[pipe_r.as_fd()]).unwrap();
    let offer = victim.receive(LEN, None).unwrap();
    assert_eq!(
        (offer.tag, offer.memory.len(), offer.extra.len()),
        (5, LEN, 1)
    );
    drop(offer);
    assert_eq!(open_fds(), before);
}
