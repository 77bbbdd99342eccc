//! Errors of the rings (SPSC and MPMC), shaped like std's channels: a failed
//! push hands the value back; `Debug` never needs `T: Debug`.

use core::fmt;

macro_rules! value_error {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $msg:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub enum $name<T> {
            $($(#[$vdoc])* $variant(T),)*
        }

        impl<T> $name<T> {
            /// The value that was not sent.
            pub fn into_inner(self) -> T {
                match self {
                    $($name::$variant(v) => v,)*
                }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str(concat!(stringify!($name), "::", stringify!($variant), "(..)")),)*
                }
            }
        }

        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str($msg),)*
                }
            }
        }

        impl<T> core::error::Error for $name<T> {}
    };
}

macro_rules! unit_error {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $msg:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant => f.write_str($msg),)*
                }
            }
        }

        impl core::error::Error for $name {}
    };
}

value_error! {
    /// Why a non-blocking push did not send its value.
    PushError {
        /// The ring is full; the value is handed back.
        Full => "ring is full",
        /// The receiving side closed the ring (EPIPE); the value is handed back.
        Disconnected => "receiving side has closed the ring",
        /// A position or sequence read from the region is impossible: it is corrupted.
        Corrupted => "ring positions are corrupted",
    }
}

value_error! {
    /// Why a blocking push did not send its value.
    PushTimeoutError {
        /// The ring stayed full until the deadline.
        Timeout => "timed out waiting for space in the ring",
        /// The receiving side closed the ring (EPIPE).
        Disconnected => "receiving side has closed the ring",
        /// A position or sequence read from the region is impossible: it is corrupted.
        Corrupted => "ring positions are corrupted",
    }
}

unit_error! {
    /// Why a non-blocking receive returned nothing.
    PopError {
        /// The ring is empty and a producer is still there.
        Empty => "ring is empty",
        /// The ring is empty and every producer closed it (read() == 0).
        Disconnected => "sending side has closed the ring",
        /// A position or sequence read from the region is impossible: it is corrupted.
        Corrupted => "ring positions are corrupted",
    }
}

unit_error! {
    /// Why a blocking receive returned nothing.
    PopTimeoutError {
        /// The ring stayed empty until the deadline.
        Timeout => "timed out waiting for an element",
        /// The ring is empty and every producer closed it (read() == 0).
        Disconnected => "sending side has closed the ring",
        /// A position or sequence read from the region is impossible: it is corrupted.
        Corrupted => "ring positions are corrupted",
    }
}

unit_error! {
    /// Why a batch send wrote nothing.
    PushSliceError {
        /// The ring is full.
        Full => "ring is full",
        /// The receiving side closed the ring (EPIPE).
        Disconnected => "receiving side has closed the ring",
        /// A position or sequence read from the region is impossible: it is corrupted.
        Corrupted => "ring positions are corrupted",
    }
}

/// Why a chunk could not be borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// Fewer slots than asked for are free (write) or filled (read); holds how
    /// many there are.
    TooFewSlots(u32),
    /// The peer closed the ring (and, for reads, nothing is left).
    Disconnected,
    /// A position or sequence read from the region is impossible: it is corrupted.
    Corrupted,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::TooFewSlots(n) => write!(f, "only {n} slots available"),
            ChunkError::Disconnected => f.write_str("peer has closed the ring"),
            ChunkError::Corrupted => f.write_str("ring positions are corrupted"),
        }
    }
}

impl core::error::Error for ChunkError {}

/// The peer's position read from shared memory is impossible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Corrupted;
