//! What a message queue operation can fail with.

use core::fmt;

use super::block::Abort;

/// Why [`Endpoint::try_send`](super::Endpoint::try_send) did not queue the
/// message. The caller still owns the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The queue holds its maximum number of messages (`EAGAIN`).
    Full,
    /// The payload is longer than the queue's message size (`EMSGSIZE`).
    TooLarge {
        /// The payload's length.
        len: usize,
        /// The queue's message size.
        max: u32,
    },
    /// Other participants' operations overtook this one
    /// [`MAX_ATTEMPTS`](super::MAX_ATTEMPTS) times in a row; try again.
    Contended,
    /// The queue's shared state is impossible (a hostile or broken peer).
    Corrupted,
}

/// Why a blocking [`Endpoint::send`](super::Endpoint::send) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendTimeoutError {
    /// The queue stayed full until the deadline.
    Timeout,
    /// The payload is longer than the queue's message size.
    TooLarge {
        /// The payload's length.
        len: usize,
        /// The queue's message size.
        max: u32,
    },
    /// The queue's shared state is impossible.
    Corrupted,
}

/// Why [`Endpoint::try_recv`](super::Endpoint::try_recv) returned no
/// message. Nothing was removed from the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvError {
    /// No queued message matches (`EAGAIN`, `ENOMSG`).
    Empty,
    /// The chosen message is longer than the buffer and truncation was not
    /// asked for (`EMSGSIZE`, `E2BIG`); it stays queued.
    BufferTooSmall {
        /// The message's length.
        needed: u32,
    },
    /// Other participants' operations overtook this one
    /// [`MAX_ATTEMPTS`](super::MAX_ATTEMPTS) times in a row; try again.
    Contended,
    /// The queue's shared state is impossible (a hostile or broken peer).
    Corrupted,
}

/// Why a blocking [`Endpoint::recv`](super::Endpoint::recv) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// No matching message arrived before the deadline.
    Timeout,
    /// The chosen message is longer than the buffer; it stays queued.
    BufferTooSmall {
        /// The message's length.
        needed: u32,
    },
    /// The queue's shared state is impossible.
    Corrupted,
}

/// Why an endpoint could not register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegisterError {
    /// Every participant record is held.
    TooManyParticipants {
        /// Number of records in the region.
        max: u32,
    },
    /// The queue's shared state is impossible.
    Corrupted,
    /// The queue kept changing while the endpoint read its record.
    Contended,
}

impl From<Abort> for SendError {
    fn from(abort: Abort) -> Self {
        match abort {
            Abort::Overtaken => SendError::Contended,
            Abort::Corrupted => SendError::Corrupted,
        }
    }
}

impl From<Abort> for RecvError {
    fn from(abort: Abort) -> Self {
        match abort {
            Abort::Overtaken => RecvError::Contended,
            Abort::Corrupted => RecvError::Corrupted,
        }
    }
}

impl From<Abort> for RegisterError {
    fn from(abort: Abort) -> Self {
        match abort {
            Abort::Overtaken => RegisterError::Contended,
            Abort::Corrupted => RegisterError::Corrupted,
        }
    }
}

const CONTENDED: &str = "overtaken by other participants too many times in a row";
const CORRUPTED: &str = "message queue state is corrupted";

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full => f.write_str("message queue is full"),
            SendError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the queue's {max}")
            }
            SendError::Contended => f.write_str(CONTENDED),
            SendError::Corrupted => f.write_str(CORRUPTED),
        }
    }
}

impl fmt::Display for SendTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendTimeoutError::Timeout => {
                f.write_str("message queue stayed full until the deadline")
            }
            SendTimeoutError::TooLarge { len, max } => {
                write!(f, "message of {len} bytes exceeds the queue's {max}")
            }
            SendTimeoutError::Corrupted => f.write_str(CORRUPTED),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Empty => f.write_str("no matching message is queued"),
            RecvError::BufferTooSmall { needed } => {
                write!(f, "message of {needed} bytes does not fit the buffer")
            }
            RecvError::Contended => f.write_str(CONTENDED),
            RecvError::Corrupted => f.write_str(CORRUPTED),
        }
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("no matching message before the deadline"),
            RecvTimeoutError::BufferTooSmall { needed } => {
                write!(f, "message of {needed} bytes does not fit the buffer")
            }
            RecvTimeoutError::Corrupted => f.write_str(CORRUPTED),
        }
    }
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::TooManyParticipants { max } => {
                write!(f, "all {max} participant records are in use")
            }
            RegisterError::Corrupted => f.write_str(CORRUPTED),
            RegisterError::Contended => f.write_str(CONTENDED),
        }
    }
}

impl core::error::Error for SendError {}
impl core::error::Error for SendTimeoutError {}
impl core::error::Error for RecvError {}
impl core::error::Error for RecvTimeoutError {}
impl core::error::Error for RegisterError {}
