//! The reading end of a frame ring.

use core::time::Duration;

use super::{FrameHeader, FrameRecvError, HEADER_SIZE, frame_size};
use crate::error::Corrupted;
use crate::spsc::consumer::ConsumerState;
use crate::spsc::{Consumer, ReadChunk};
use crate::wait::{Wait, deadline_after};

/// Most rounds a read takes: skip one padding frame, then read the frame.
const MAX_ROUNDS: u32 = 3;

/// The reading end of a [`FrameRing`](super::FrameRing): receives whole
/// frames, in place ([`FrameReader::try_recv_frame`]) or copied.
#[derive(Debug)]
pub struct FrameReader<'a, W: Wait> {
    consumer: Consumer<'a, u8, W>,
}

/// One frame lent in place by [`FrameReader::try_recv_frame`]; it stays in
/// the ring until [`ReadFrame::release`].
#[derive(Debug)]
pub struct ReadFrame<'c, 'a, W: Wait> {
    chunk: ReadChunk<'c, 'a, u8, W>,
    header: FrameHeader,
    size: u32,
}

/// Finds the next frame: skips padding (releasing it), validates the header
/// against what was committed, and returns the header and the frame's size.
fn locate<W: Wait>(
    state: &mut ConsumerState<'_, u8>,
    wait: &W,
) -> Result<(FrameHeader, u32), FrameRecvError> {
    let capacity = state.ring.capacity();
    for _ in 0..MAX_ROUNDS {
        let available = state
            .available_at_least(HEADER_SIZE)
            .map_err(|Corrupted| FrameRecvError::Corrupted)?;
        if available == 0 {
            return Err(if state.producer_closed_and_drained() {
                FrameRecvError::Disconnected
            } else {
                FrameRecvError::Empty
            });
        }
        let contiguous = capacity - (state.head & state.ring.mask());
        if contiguous < HEADER_SIZE {
            // Too short for a header: the writer wrapped without one.
            skip(state, wait, contiguous, available)?;
            continue;
        }
        if available < HEADER_SIZE {
            // The writer commits whole frames: a partial header is forged.
            return Err(FrameRecvError::Corrupted);
        }
        let header: FrameHeader = {
            let chunk = state
                .read_chunk(wait, HEADER_SIZE)
                .map_err(|_| FrameRecvError::Corrupted)?;
            bytemuck::pod_read_unaligned(&chunk.as_slices().0[..HEADER_SIZE as usize])
        };
        if header.flags & FrameHeader::PADDING != 0 {
            skip(state, wait, contiguous, available)?;
            continue;
        }
        let size = frame_size(header.len)
            .filter(|&size| size <= capacity / 2 && size <= contiguous && size <= available)
            .ok_or(FrameRecvError::Corrupted)?;
        return Ok((header, size));
    }
    Err(FrameRecvError::Corrupted)
}

/// Releases `n` bytes of padding, which must all have been committed.
fn skip<W: Wait>(
    state: &mut ConsumerState<'_, u8>,
    wait: &W,
    n: u32,
    available: u32,
) -> Result<(), FrameRecvError> {
    if available < n {
        return Err(FrameRecvError::Corrupted);
    }
    state
        .read_chunk(wait, n)
        .map_err(|_| FrameRecvError::Corrupted)?
        .release_all();
    Ok(())
}

impl<'a, W: Wait> FrameReader<'a, W> {
    pub(crate) fn new(consumer: Consumer<'a, u8, W>) -> Self {
        FrameReader { consumer }
    }

    /// Gives the byte consumer back.
    pub fn into_inner(self) -> Consumer<'a, u8, W> {
        self.consumer
    }

    /// Lends the next frame in place.
    ///
    /// # Errors
    ///
    /// [`FrameRecvError::Empty`], [`FrameRecvError::Disconnected`] (writer
    /// gone, nothing left), [`FrameRecvError::Corrupted`].
    pub fn try_recv_frame(&mut self) -> Result<ReadFrame<'_, 'a, W>, FrameRecvError> {
        let Consumer { state, wait, .. } = &mut self.consumer;
        let (header, size) = locate(state, wait)?;
        let chunk = state
            .read_chunk(wait, size)
            .map_err(|_| FrameRecvError::Corrupted)?;
        Ok(ReadFrame {
            chunk,
            header,
            size,
        })
    }

    /// Receives the next frame into `buf`; returns its header and payload
    /// length.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::try_recv_frame`], plus
    /// [`FrameRecvError::BufferTooSmall`], which leaves the frame in the ring.
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<(FrameHeader, usize), FrameRecvError> {
        self.recv_into(buf, false)
    }

    /// Receives the next frame into `buf`, dropping the payload bytes that do
    /// not fit (MSG_NOERROR); the header's `len` still says how long it was.
    ///
    /// # Errors
    ///
    /// As [`FrameReader::try_recv_frame`].
    pub fn try_recv_truncating(
        &mut self,
        buf: &mut [u8],
    ) -> Result<(FrameHeader, usize), FrameRecvError> {
        self.recv_into(buf, true)
    }

    /// Receives the next frame into `buf`, waiting while the ring is empty.
    /// `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`FrameRecvError::Timeout`] and the errors of [`FrameReader::try_recv`]
    /// except `Empty`.
    pub fn recv_blocking(
        &mut self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<(FrameHeader, usize), FrameRecvError> {
        let deadline = deadline_after(&self.consumer.wait, timeout);
        let spin = self.consumer.spin_limit();
        let Consumer { state, wait, .. } = &mut self.consumer;
        let events = &state.ring.hdr().events.0;
        let wait = &*wait;
        let mode = state.mode;
        events
            .data_ready
            .wait_until_in(mode, wait, spin, deadline, || match locate(state, wait) {
                Ok(_) => Some(Ok(())),
                Err(FrameRecvError::Empty) => None,
                Err(e) => Some(Err(e)),
            })
            .unwrap_or(Err(FrameRecvError::Timeout))?;
        self.try_recv(buf)
    }

    fn recv_into(
        &mut self,
        buf: &mut [u8],
        truncate: bool,
    ) -> Result<(FrameHeader, usize), FrameRecvError> {
        let frame = self.try_recv_frame()?;
        let payload = frame.payload();
        if payload.len() > buf.len() && !truncate {
            return Err(FrameRecvError::BufferTooSmall {
                needed: frame.header.len,
            });
        }
        let n = payload.len().min(buf.len());
        buf[..n].copy_from_slice(&payload[..n]);
        let header = frame.header;
        frame.release();
        Ok((header, n))
    }
}

impl<W: Wait> ReadFrame<'_, '_, W> {
    /// The frame's header.
    pub fn header(&self) -> &FrameHeader {
        &self.header
    }

    /// The payload, in place.
    pub fn payload(&self) -> &[u8] {
        let start = HEADER_SIZE as usize;
        // In bounds: `locate` checked the frame size against the chunk.
        &self.chunk.as_slices().0[start..start + self.header.len as usize]
    }

    /// Hands the frame's bytes back to the writer.
    pub fn release(self) {
        self.chunk.release(self.size);
    }
}
