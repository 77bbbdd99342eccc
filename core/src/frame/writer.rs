//! The writing end of a frame ring.

use core::time::Duration;

use super::{FrameHeader, FrameMeta, FrameSendError, HEADER_SIZE, frame_size};
use crate::error::Corrupted;
use crate::spsc::producer::ProducerState;
use crate::spsc::{ChunkError, Producer, WriteChunk};
use crate::wait::{Wait, deadline_after};

/// The writing end of a [`FrameRing`](super::FrameRing): sends whole frames,
/// copied ([`FrameWriter::try_send`]) or written in place
/// ([`FrameWriter::try_grant`]).
#[derive(Debug)]
pub struct FrameWriter<'a, W: Wait> {
    producer: Producer<'a, u8, W>,
    next_seq: u64,
}

/// Room for one frame, lent by [`FrameWriter::try_grant`]: write the payload
/// in place, then [`FrameGrant::commit`]. Dropping it sends nothing.
#[derive(Debug)]
pub struct FrameGrant<'p, 'a, W: Wait> {
    chunk: WriteChunk<'p, 'a, u8, W>,
    /// Bytes of padding before the frame (to the end of the ring), or 0.
    pad: u32,
    /// Payload bytes reserved.
    max_len: u32,
    next_seq: &'p mut u64,
}

/// Where the next frame goes: `pad` bytes of padding, then `need` bytes.
#[derive(Clone, Copy, Debug)]
struct Placement {
    pad: u32,
    need: u32,
}

fn place(state: &ProducerState<'_, u8>, len: usize) -> Result<Placement, FrameSendError> {
    let capacity = state.ring.capacity();
    let max = capacity / 2 - HEADER_SIZE;
    let need = u32::try_from(len)
        .ok()
        .filter(|&l| l <= max)
        .and_then(frame_size)
        .ok_or(FrameSendError::TooLarge { len, max })?;
    let contiguous = capacity - (state.tail & state.ring.mask());
    let pad = if contiguous < need { contiguous } else { 0 };
    Ok(Placement { pad, need })
}

impl<'a, W: Wait> FrameWriter<'a, W> {
    pub(crate) fn new(producer: Producer<'a, u8, W>) -> Self {
        FrameWriter {
            producer,
            next_seq: 0,
        }
    }

    /// Gives the byte producer back.
    pub fn into_inner(self) -> Producer<'a, u8, W> {
        self.producer
    }

    /// Largest payload a frame can carry.
    pub fn max_payload(&self) -> u32 {
        self.producer.capacity() / 2 - HEADER_SIZE
    }

    /// Sequence number the next frame will carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Sets the sequence number of the next frame (e.g. to continue a
    /// previous writer's numbering).
    pub fn set_next_seq(&mut self, seq: u64) {
        self.next_seq = seq;
    }

    /// Lends room for a frame of up to `len` payload bytes, contiguous.
    ///
    /// # Errors
    ///
    /// [`FrameSendError::TooLarge`], [`FrameSendError::Full`] (not enough
    /// free bytes now), [`FrameSendError::Disconnected`],
    /// [`FrameSendError::Corrupted`].
    pub fn try_grant(&mut self, len: usize) -> Result<FrameGrant<'_, 'a, W>, FrameSendError> {
        let Placement { pad, need } = place(&self.producer.state, len)?;
        let chunk = self
            .producer
            .state
            .write_chunk(&self.producer.wait, pad + need)
            .map_err(|e| match e {
                ChunkError::TooFewSlots(_) => FrameSendError::Full,
                ChunkError::Disconnected => FrameSendError::Disconnected,
                ChunkError::Corrupted => FrameSendError::Corrupted,
            })?;
        Ok(FrameGrant {
            chunk,
            pad,
            // Fits: `place` checked len <= max payload (a u32).
            max_len: len as u32,
            next_seq: &mut self.next_seq,
        })
    }

    /// Sends one frame carrying a copy of `payload`.
    ///
    /// # Errors
    ///
    /// As [`FrameWriter::try_grant`].
    pub fn try_send(&mut self, meta: FrameMeta, payload: &[u8]) -> Result<(), FrameSendError> {
        let mut grant = self.try_grant(payload.len())?;
        grant.payload_mut().copy_from_slice(payload);
        grant.commit(payload.len(), meta);
        Ok(())
    }

    /// Sends one frame, waiting while there is not enough room. `None`
    /// waits forever.
    ///
    /// # Errors
    ///
    /// [`FrameSendError::Timeout`] and the errors of [`FrameWriter::try_send`]
    /// except `Full`.
    pub fn send_blocking(
        &mut self,
        meta: FrameMeta,
        payload: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(), FrameSendError> {
        let deadline = deadline_after(&self.producer.wait, timeout);
        let Placement { pad, need } = place(&self.producer.state, payload.len())?;
        let spin = self.producer.spin_limit();
        let state = &mut self.producer.state;
        let events = &state.ring.hdr().events.0;
        // Only this writer moves the tail, so the placement holds while we
        // wait; the room only grows.
        events
            .space_ready
            .wait_until_in(state.mode, &self.producer.wait, spin, deadline, || {
                if state.consumer_closed() {
                    return Some(Err(FrameSendError::Disconnected));
                }
                match state.free_at_least(pad + need) {
                    Ok(free) if free >= pad + need => Some(Ok(())),
                    Ok(_) => None,
                    Err(Corrupted) => Some(Err(FrameSendError::Corrupted)),
                }
            })
            .unwrap_or(Err(FrameSendError::Timeout))?;
        self.try_send(meta, payload)
    }
}

impl<W: Wait> FrameGrant<'_, '_, W> {
    /// Payload bytes reserved.
    pub fn len(&self) -> usize {
        self.max_len as usize
    }

    /// Whether the grant reserves no payload.
    pub fn is_empty(&self) -> bool {
        self.max_len == 0
    }

    /// The reserved payload bytes, contiguous, to write in place.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (pad, max_len) = (self.pad as usize, self.max_len as usize);
        let (first, second) = self.chunk.as_mut_slices();
        let frame = if pad > 0 { second } else { first };
        let start = HEADER_SIZE as usize;
        &mut frame[start..start + max_len]
    }

    /// Sends the frame with the first `len` payload bytes and `meta`; the
    /// writer assigns the sequence number.
    ///
    /// # Panics
    ///
    /// If `len` exceeds the reserved length (a programmer error).
    pub fn commit(mut self, len: usize, meta: FrameMeta) {
        assert!(
            len <= self.max_len as usize,
            "commit({len}) on a frame grant of {} bytes",
            self.max_len
        );
        // Fits: len <= max_len, a u32 below half the ring.
        let len = len as u32;
        let size = frame_size(len).expect("a granted length has a frame size");
        let header = FrameHeader {
            len,
            flags: meta.flags & !FrameHeader::PADDING,
            msg_type: meta.msg_type,
            priority: meta.priority,
            sender: meta.sender,
            reserved: 0,
            seq: *self.next_seq,
        };
        *self.next_seq = self.next_seq.wrapping_add(1);
        let pad = self.pad;
        let (first, second) = self.chunk.as_mut_slices();
        let frame = if pad > 0 {
            if pad >= HEADER_SIZE {
                let padding = FrameHeader {
                    len: pad - HEADER_SIZE,
                    flags: FrameHeader::PADDING,
                    ..FrameHeader::default()
                };
                first[..HEADER_SIZE as usize].copy_from_slice(bytemuck::bytes_of(&padding));
            }
            second
        } else {
            first
        };
        frame[..HEADER_SIZE as usize].copy_from_slice(bytemuck::bytes_of(&header));
        self.chunk.commit(pad + size);
    }
}
