//! One offer over a rendezvous connection: a 32-byte header and the fds
//! attached to it with `SCM_RIGHTS`, sent as one `SOCK_SEQPACKET` message.

use core::mem::MaybeUninit;
use core::time::Duration;

use rustix::fd::{BorrowedFd, OwnedFd};
use rustix::fs::{SealFlags, fcntl_get_seals};
use rustix::io::{Errno, IoSlice, IoSliceMut};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

use super::socket::{Connection, deadline_after, wait_readable};
use super::{Malformed, RendezvousError};
use crate::shm::{SharedMemory, ShmError};

/// Most fds an offer carries besides the memfd.
pub const MAX_EXTRA_FDS: usize = 4;

/// Fds an offer carries at most, the memfd included.
const MAX_FDS: usize = 1 + MAX_EXTRA_FDS;

/// Identifies an annulus offer.
const MAGIC: [u8; 8] = *b"annulus\x52";
/// The header layout this build writes and reads.
const VERSION: u32 = 1;
/// Size of the header, which is the whole message.
const HEADER_LEN: usize = 32;

/// What one offer carries, checked.
#[derive(Debug)]
pub struct Offer {
    /// The memory: a memfd sealed against shrinking and growing, of the
    /// size the header announced and at least the size asked for.
    pub memory: SharedMemory,
    /// The sender's tag (which object this is, in the caller's protocol).
    pub tag: u32,
    /// The extra fds, in the order sent, close-on-exec. Unchecked: what
    /// each one is, is the caller's protocol to verify.
    pub extra: heapless::Vec<OwnedFd, MAX_EXTRA_FDS>,
}

/// The header's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    tag: u32,
    len: u64,
    extra: u32,
}

impl Header {
    fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&VERSION.to_ne_bytes());
        bytes[12..16].copy_from_slice(&self.tag.to_ne_bytes());
        bytes[16..24].copy_from_slice(&self.len.to_ne_bytes());
        bytes[24..28].copy_from_slice(&self.extra.to_ne_bytes());
        // 28..32 reserved, zero.
        bytes
    }

    fn decode(bytes: &[u8; HEADER_LEN]) -> Result<Header, Malformed> {
        let word = |at: usize| {
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        if bytes[..8] != MAGIC {
            return Err(Malformed::Magic);
        }
        // The reserved word is part of the version's layout: a non-zero one
        // is a layout this build does not know.
        if word(8) != VERSION || word(28) != 0 {
            return Err(Malformed::Version(word(8)));
        }
        let mut len = [0u8; 8];
        len.copy_from_slice(&bytes[16..24]);
        Ok(Header {
            tag: word(12),
            len: u64::from_ne_bytes(len),
            extra: word(24),
        })
    }
}

impl Connection {
    /// Sends `memory` to the peer with a `tag` of the caller's protocol and
    /// up to [`MAX_EXTRA_FDS`] more fds (an eventfd, a pidfd, ...). Refuses
    /// memory that is not sealed against shrinking and growing (the peer
    /// would refuse it too): a named `/dev/shm` object cannot be sealed,
    /// create it with [`SharedMemory::anonymous`].
    ///
    /// # Errors
    ///
    /// [`RendezvousError::TooManyFds`], [`RendezvousError::Memory`],
    /// [`RendezvousError::Closed`] if the peer has gone,
    /// [`RendezvousError::Os`].
    pub fn offer(
        &self,
        memory: &SharedMemory,
        tag: u32,
        extra: &[BorrowedFd<'_>],
    ) -> Result<(), RendezvousError> {
        if extra.len() > MAX_EXTRA_FDS {
            return Err(RendezvousError::TooManyFds { given: extra.len() });
        }
        let seals = fcntl_get_seals(memory.fd()).map_err(|e| RendezvousError::Memory(e.into()))?;
        if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
            return Err(RendezvousError::Memory(ShmError::NotSealed {
                seals: seals.bits(),
            }));
        }
        let header = Header {
            tag,
            len: memory.len() as u64,
            // At most MAX_EXTRA_FDS: fits.
            extra: extra.len() as u32,
        }
        .encode();
        let mut fds = heapless::Vec::<BorrowedFd<'_>, MAX_FDS>::new();
        // Capacity 1 + MAX_EXTRA_FDS, checked above: every push fits.
        let _ = fds.push(memory.fd());
        let _ = fds.extend_from_slice(extra);
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
            // The buffer is sized for MAX_FDS; only a rustix change gets here.
            return Err(RendezvousError::Os(Errno::NOBUFS));
        }
        // NOSIGNAL: a peer that has gone is an error here, not a SIGPIPE.
        match sendmsg(
            &self.fd,
            &[IoSlice::new(&header)],
            &mut control,
            SendFlags::NOSIGNAL,
        ) {
            // A seqpacket message goes whole or not at all.
            Ok(HEADER_LEN) => Ok(()),
            Ok(_) => Err(RendezvousError::Os(Errno::MSGSIZE)),
            Err(Errno::PIPE | Errno::CONNRESET) => Err(RendezvousError::Closed),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits up to `timeout` (`None`: for ever) for one offer and checks
    /// it: a well-formed header, the fds it announces, and memory sealed
    /// against shrinking and growing, of the size announced and at least
    /// `min_len` bytes. On any error every fd that arrived is closed.
    ///
    /// # Errors
    ///
    /// [`RendezvousError::TimedOut`], [`RendezvousError::Closed`],
    /// [`RendezvousError::Malformed`], [`RendezvousError::Memory`],
    /// [`RendezvousError::Os`].
    pub fn receive(
        &self,
        min_len: usize,
        timeout: Option<Duration>,
    ) -> Result<Offer, RendezvousError> {
        let mut bytes = [0u8; HEADER_LEN];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        // One deadline for every round: a message another thread takes
        // first does not restart the wait.
        let deadline = deadline_after(timeout);
        let msg = loop {
            wait_readable(self.fd(), deadline)?;
            // DONTWAIT: poll said readable, but another thread may have taken
            // the message; then wait again. CMSG_CLOEXEC: received fds are
            // never inherited by a child spawned meanwhile. TRUNC: the
            // length reported is the message's, even if it was longer.
            match recvmsg(
                &self.fd,
                &mut [IoSliceMut::new(&mut bytes)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC | RecvFlags::DONTWAIT | RecvFlags::TRUNC,
            ) {
                Ok(msg) => break msg,
                Err(Errno::AGAIN | Errno::INTR) => continue,
                Err(Errno::CONNRESET) => return Err(RendezvousError::Closed),
                Err(e) => return Err(e.into()),
            }
        };
        let mut fds = heapless::Vec::<OwnedFd, MAX_FDS>::new();
        let mut attached = 0usize;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(rights) = message {
                for fd in rights {
                    attached += 1;
                    // One beyond capacity is dropped, i.e. closed.
                    let _ = fds.push(fd);
                }
            }
        }
        if msg.flags.contains(ReturnFlags::CTRUNC) || attached > MAX_FDS {
            return Err(Malformed::TooManyFds.into());
        }
        if msg.bytes == 0 && attached == 0 {
            return Err(RendezvousError::Closed);
        }
        if msg.flags.contains(ReturnFlags::TRUNC) || msg.bytes != HEADER_LEN {
            return Err(Malformed::Length { bytes: msg.bytes }.into());
        }
        let header = Header::decode(&bytes)?;
        if usize::try_from(header.extra).map_or(true, |extra| extra + 1 != attached) {
            return Err(Malformed::FdCount {
                announced: header.extra,
                attached,
            }
            .into());
        }
        let mut fds = fds.into_iter();
        let Some(memfd) = fds.next() else {
            // attached == extra + 1 >= 1.
            return Err(Malformed::FdCount {
                announced: header.extra,
                attached,
            }
            .into());
        };
        let memory =
            SharedMemory::from_sealed_memfd(memfd, min_len).map_err(RendezvousError::Memory)?;
        if memory.len() as u64 != header.len {
            return Err(Malformed::SizeMismatch {
                announced: header.len,
                actual: memory.len() as u64,
            }
            .into());
        }
        Ok(Offer {
            memory,
            tag: header.tag,
            extra: fds.collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_what_it_does_not_know() {
        let h = Header {
            tag: 7,
            len: 4096,
            extra: 2,
        };
        let bytes = h.encode();
        assert_eq!(Header::decode(&bytes), Ok(h));
        let mut bad = bytes;
        bad[0] ^= 1;
        assert_eq!(Header::decode(&bad), Err(Malformed::Magic));
        let mut bad = bytes;
        bad[8..12].copy_from_slice(&2u32.to_ne_bytes());
        assert_eq!(Header::decode(&bad), Err(Malformed::Version(2)));
        let mut bad = bytes;
        bad[31] = 1;
        assert_eq!(Header::decode(&bad), Err(Malformed::Version(1)));
    }
}
