//! A byte stream over a ring of `u8`: the semantics of a pipe.
//!
//! - A write sends as many bytes as fit (`try_write`), at least one
//!   (`write_blocking`), or all of them (`write_all_blocking`), in order.
//! - A read returns the bytes available, at least one, or 0 at end of stream:
//!   the writer closed and everything it wrote was read (`read()` == 0).
//! - Writing after the reader closed is [`StreamError::BrokenPipe`] (EPIPE),
//!   never a signal.
//!
//! Under the `std` feature the two ends implement `std::io::Write` and
//! `std::io::Read` with the blocking calls.

use core::fmt;
use core::time::Duration;

use super::{Consumer, PopError, PopTimeoutError, Producer, PushSliceError};
use crate::wait::{Wait, deadline_after};

/// Why a byte-stream call moved no bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// Non-blocking call: the ring is full (write) or empty (read) — EAGAIN.
    WouldBlock,
    /// The reader closed the stream — EPIPE.
    BrokenPipe,
    /// The deadline passed before a byte could move.
    TimedOut,
    /// The shared positions are impossible: the region is corrupted.
    Corrupted,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamError::WouldBlock => "operation would block",
            StreamError::BrokenPipe => "reader has closed the stream",
            StreamError::TimedOut => "timed out",
            StreamError::Corrupted => "ring positions are corrupted",
        })
    }
}

impl core::error::Error for StreamError {}

/// The writing end of a byte stream.
///
/// # Examples
///
/// ```
/// use annulus::region::Region;
/// use annulus::spsc::{ByteReader, ByteWriter, Spsc};
/// use annulus::wait::Spin;
///
/// let mut region = Region::<{ Spsc::<u8>::region_size(64) }>::new();
/// let ring = Spsc::<u8>::init(region.as_uninit_mut(), 64).unwrap();
/// let mut w = ByteWriter::new(ring.producer(Spin::new(|| 0)).unwrap());
/// let mut r = ByteReader::new(ring.consumer(Spin::new(|| 0)).unwrap());
/// assert_eq!(w.try_write(b"hello"), Ok(5));
/// drop(w); // the writer closes its end
/// let mut buf = [0u8; 16];
/// assert_eq!(r.try_read(&mut buf), Ok(5));
/// assert_eq!(r.try_read(&mut buf), Ok(0)); // end of stream
/// ```
#[derive(Debug)]
pub struct ByteWriter<'a, W: Wait> {
    producer: Producer<'a, u8, W>,
}

impl<'a, W: Wait> ByteWriter<'a, W> {
    /// Wraps a producer of bytes.
    pub fn new(producer: Producer<'a, u8, W>) -> Self {
        ByteWriter { producer }
    }

    /// Gives the producer back.
    pub fn into_inner(self) -> Producer<'a, u8, W> {
        self.producer
    }

    /// Writes as many bytes of `buf` as fit without waiting; `Ok(0)` only for
    /// an empty `buf`.
    ///
    /// # Errors
    ///
    /// [`StreamError::WouldBlock`] if the ring is full,
    /// [`StreamError::BrokenPipe`], [`StreamError::Corrupted`].
    pub fn try_write(&mut self, buf: &[u8]) -> Result<usize, StreamError> {
        self.producer.push_slice(buf).map_err(|e| match e {
            PushSliceError::Full => StreamError::WouldBlock,
            PushSliceError::Disconnected => StreamError::BrokenPipe,
            PushSliceError::Corrupted => StreamError::Corrupted,
        })
    }

    /// Writes at least one byte of `buf` (as many as fit), waiting for space
    /// while the ring is full. `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`StreamError::TimedOut`], [`StreamError::BrokenPipe`],
    /// [`StreamError::Corrupted`].
    pub fn write_blocking(
        &mut self,
        buf: &[u8],
        timeout: Option<Duration>,
    ) -> Result<usize, StreamError> {
        let deadline = deadline_after(&self.producer.wait, timeout);
        self.write_until(buf, deadline)
    }

    /// Writes all of `buf`, waiting for space as needed; one deadline for the
    /// whole call. On error, some bytes may have been written.
    ///
    /// # Errors
    ///
    /// As [`ByteWriter::write_blocking`].
    pub fn write_all_blocking(
        &mut self,
        mut buf: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(), StreamError> {
        let deadline = deadline_after(&self.producer.wait, timeout);
        while !buf.is_empty() {
            let n = self.write_until(buf, deadline)?;
            buf = &buf[n..];
        }
        Ok(())
    }

    fn write_until(&mut self, buf: &[u8], deadline: Option<u64>) -> Result<usize, StreamError> {
        if buf.is_empty() {
            return Ok(0);
        }
        let spin = self.producer.spin_limit();
        let events = &self.producer.state.ring.hdr().events.0;
        let Producer { state, wait, .. } = &mut self.producer;
        let wait = &*wait;
        events
            .space_ready
            .wait_until_in(state.mode, wait, spin, deadline, || {
                match state.push_slice(buf, wait) {
                    Ok(n) => Some(Ok(n)),
                    Err(PushSliceError::Full) => None,
                    Err(PushSliceError::Disconnected) => Some(Err(StreamError::BrokenPipe)),
                    Err(PushSliceError::Corrupted) => Some(Err(StreamError::Corrupted)),
                }
            })
            .unwrap_or(Err(StreamError::TimedOut))
    }
}

/// The reading end of a byte stream. See [`ByteWriter`] for an example.
#[derive(Debug)]
pub struct ByteReader<'a, W: Wait> {
    consumer: Consumer<'a, u8, W>,
}

impl<'a, W: Wait> ByteReader<'a, W> {
    /// Wraps a consumer of bytes.
    pub fn new(consumer: Consumer<'a, u8, W>) -> Self {
        ByteReader { consumer }
    }

    /// Gives the consumer back.
    pub fn into_inner(self) -> Consumer<'a, u8, W> {
        self.consumer
    }

    /// Reads the bytes available, up to `buf.len()`, without waiting.
    /// `Ok(0)` means end of stream (or an empty `buf`).
    ///
    /// # Errors
    ///
    /// [`StreamError::WouldBlock`] if nothing is available and the writer is
    /// there; [`StreamError::Corrupted`].
    pub fn try_read(&mut self, buf: &mut [u8]) -> Result<usize, StreamError> {
        match self.consumer.pop_slice(buf) {
            Ok(n) => Ok(n),
            Err(PopError::Empty) => Err(StreamError::WouldBlock),
            Err(PopError::Disconnected) => Ok(0),
            Err(PopError::Corrupted) => Err(StreamError::Corrupted),
        }
    }

    /// Reads at least one byte (all that are available, up to `buf.len()`),
    /// waiting while the ring is empty; `Ok(0)` at end of stream. `None`
    /// waits forever.
    ///
    /// # Errors
    ///
    /// [`StreamError::TimedOut`], [`StreamError::Corrupted`].
    pub fn read_blocking(
        &mut self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, StreamError> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.consumer.wait_readable(timeout) {
            Ok(_) => self.try_read(buf),
            Err(PopTimeoutError::Disconnected) => Ok(0),
            Err(PopTimeoutError::Timeout) => Err(StreamError::TimedOut),
            Err(PopTimeoutError::Corrupted) => Err(StreamError::Corrupted),
        }
    }

    /// Reads exactly `buf.len()` bytes, waiting as needed; one deadline for
    /// the whole call. Returns how many were read: fewer only at end of stream.
    ///
    /// # Errors
    ///
    /// As [`ByteReader::read_blocking`]; bytes read before the error are lost
    /// to the caller only if it drops `buf`.
    pub fn read_exact_blocking(
        &mut self,
        buf: &mut [u8],
        timeout: Option<Duration>,
    ) -> Result<usize, StreamError> {
        let deadline = deadline_after(&self.consumer.wait, timeout);
        let mut filled = 0;
        while filled < buf.len() {
            let remaining =
                deadline.map(|d| Duration::from_nanos(d.saturating_sub(self.consumer.wait.now())));
            match self.read_blocking(&mut buf[filled..], remaining)? {
                0 => break,
                n => filled += n,
            }
        }
        Ok(filled)
    }
}

#[cfg(feature = "std")]
mod std_io {
    extern crate std;
    use std::io;

    use super::{ByteReader, ByteWriter, StreamError};
    use crate::wait::Wait;

    impl From<StreamError> for io::Error {
        fn from(e: StreamError) -> io::Error {
            let kind = match e {
                StreamError::WouldBlock => io::ErrorKind::WouldBlock,
                StreamError::BrokenPipe => io::ErrorKind::BrokenPipe,
                StreamError::TimedOut => io::ErrorKind::TimedOut,
                StreamError::Corrupted => io::ErrorKind::InvalidData,
            };
            io::Error::new(kind, e)
        }
    }

    /// Blocking writes: at least one byte per call, waiting for space.
    impl<W: Wait> io::Write for ByteWriter<'_, W> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(self.write_blocking(buf, None)?)
        }

        fn flush(&mut self) -> io::Result<()> {
            // Every written byte is already visible to the reader.
            Ok(())
        }
    }

    /// Blocking reads: at least one byte per call, `Ok(0)` at end of stream.
    impl<W: Wait> io::Read for ByteReader<'_, W> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            Ok(self.read_blocking(buf, None)?)
        }
    }
}
