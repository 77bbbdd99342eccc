//! Names of the outcomes the cases count: one per error variant.

use annulus::AttachError;
use annulus::claim::{ClaimError, RoleState};
use annulus::frame::{FrameRecvError, FrameSendError};
use annulus::mpmc::{RegisterError, RepairError};
use annulus::semaphore::{SemaphoreError, SetOpError};
use annulus::spsc::{
    ChunkError, PopError, PopTimeoutError, PushError, PushSliceError, PushTimeoutError, StreamError,
};

// ---------------------------------------------------------------------------
// Names of outcomes
// ---------------------------------------------------------------------------

pub(crate) const ATTACH_ERRORS: [&str; 12] = [
    "AttachError::NotReady",
    "AttachError::BadMagic",
    "AttachError::BadInitState",
    "AttachError::VersionMismatch",
    "AttachError::KindMismatch",
    "AttachError::ElementMismatch",
    "AttachError::SchemaMismatch",
    "AttachError::BadCapacity",
    "AttachError::BadGeometry",
    "AttachError::RegionTooSmall",
    "AttachError::Misaligned",
    "AttachError::Corrupted",
];

pub(crate) fn attach_error_name(e: &AttachError) -> &'static str {
    match e {
        AttachError::NotReady => ATTACH_ERRORS[0],
        AttachError::BadMagic { .. } => ATTACH_ERRORS[1],
        AttachError::BadInitState { .. } => ATTACH_ERRORS[2],
        AttachError::VersionMismatch { .. } => ATTACH_ERRORS[3],
        AttachError::KindMismatch { .. } => ATTACH_ERRORS[4],
        AttachError::ElementMismatch { .. } => ATTACH_ERRORS[5],
        AttachError::SchemaMismatch { .. } => ATTACH_ERRORS[6],
        AttachError::BadCapacity { .. } => ATTACH_ERRORS[7],
        AttachError::BadGeometry { .. } => ATTACH_ERRORS[8],
        AttachError::RegionTooSmall { .. } => ATTACH_ERRORS[9],
        AttachError::Misaligned { .. } => ATTACH_ERRORS[10],
        AttachError::Corrupted => ATTACH_ERRORS[11],
        _ => "AttachError::(variant unknown to this test)",
    }
}

pub(crate) fn claim_error_name(e: &ClaimError) -> &'static str {
    match e {
        ClaimError::Taken(_) => "ClaimError::Taken",
        ClaimError::Corrupted => "ClaimError::Corrupted",
        _ => "ClaimError::(variant unknown to this test)",
    }
}

pub(crate) fn role_state_name(s: &RoleState) -> &'static str {
    match s {
        RoleState::Vacant => "RoleState::Vacant",
        RoleState::Held(_) => "RoleState::Held",
        RoleState::Closed(_) => "RoleState::Closed",
    }
}

pub(crate) fn push_error_name<T>(e: &PushError<T>) -> &'static str {
    match e {
        PushError::Full(_) => "PushError::Full",
        PushError::Disconnected(_) => "PushError::Disconnected",
        PushError::Corrupted(_) => "PushError::Corrupted",
    }
}

pub(crate) fn push_timeout_error_name<T>(e: &PushTimeoutError<T>) -> &'static str {
    match e {
        PushTimeoutError::Timeout(_) => "PushTimeoutError::Timeout",
        PushTimeoutError::Disconnected(_) => "PushTimeoutError::Disconnected",
        PushTimeoutError::Corrupted(_) => "PushTimeoutError::Corrupted",
    }
}

pub(crate) fn push_slice_error_name(e: &PushSliceError) -> &'static str {
    match e {
        PushSliceError::Full => "PushSliceError::Full",
        PushSliceError::Disconnected => "PushSliceError::Disconnected",
        PushSliceError::Corrupted => "PushSliceError::Corrupted",
    }
}

pub(crate) fn pop_error_name(e: &PopError) -> &'static str {
    match e {
        PopError::Empty => "PopError::Empty",
        PopError::Disconnected => "PopError::Disconnected",
        PopError::Corrupted => "PopError::Corrupted",
    }
}

pub(crate) fn pop_timeout_error_name(e: &PopTimeoutError) -> &'static str {
    match e {
        PopTimeoutError::Timeout => "PopTimeoutError::Timeout",
        PopTimeoutError::Disconnected => "PopTimeoutError::Disconnected",
        PopTimeoutError::Corrupted => "PopTimeoutError::Corrupted",
    }
}

pub(crate) fn chunk_error_name(e: &ChunkError) -> &'static str {
    match e {
        ChunkError::TooFewSlots(_) => "ChunkError::TooFewSlots",
        ChunkError::Disconnected => "ChunkError::Disconnected",
        ChunkError::Corrupted => "ChunkError::Corrupted",
    }
}

pub(crate) fn stream_error_name(e: &StreamError) -> &'static str {
    match e {
        StreamError::WouldBlock => "StreamError::WouldBlock",
        StreamError::BrokenPipe => "StreamError::BrokenPipe",
        StreamError::TimedOut => "StreamError::TimedOut",
        StreamError::Corrupted => "StreamError::Corrupted",
    }
}

pub(crate) fn register_error_name(e: &RegisterError) -> &'static str {
    match e {
        RegisterError::TooManyParticipants { .. } => "RegisterError::TooManyParticipants",
        RegisterError::Corrupted => "RegisterError::Corrupted",
        _ => "RegisterError::(variant unknown to this test)",
    }
}

pub(crate) fn repair_error_name(e: &RepairError) -> &'static str {
    match e {
        RepairError::Busy { .. } => "RepairError::Busy",
        _ => "RepairError::(variant unknown to this test)",
    }
}

pub(crate) fn frame_send_error_name(e: &FrameSendError) -> &'static str {
    match e {
        FrameSendError::TooLarge { .. } => "FrameSendError::TooLarge",
        FrameSendError::Full => "FrameSendError::Full",
        FrameSendError::Disconnected => "FrameSendError::Disconnected",
        FrameSendError::Timeout => "FrameSendError::Timeout",
        FrameSendError::Corrupted => "FrameSendError::Corrupted",
        _ => "FrameSendError::(variant unknown to this test)",
    }
}

pub(crate) fn frame_recv_error_name(e: &FrameRecvError) -> &'static str {
    match e {
        FrameRecvError::Empty => "FrameRecvError::Empty",
        FrameRecvError::Disconnected => "FrameRecvError::Disconnected",
        FrameRecvError::BufferTooSmall { .. } => "FrameRecvError::BufferTooSmall",
        FrameRecvError::Timeout => "FrameRecvError::Timeout",
        FrameRecvError::Corrupted => "FrameRecvError::Corrupted",
        _ => "FrameRecvError::(variant unknown to this test)",
    }
}

pub(crate) fn semaphore_error_name(e: &SemaphoreError) -> &'static str {
    match e {
        SemaphoreError::WouldBlock => "SemaphoreError::WouldBlock",
        SemaphoreError::Timeout => "SemaphoreError::Timeout",
        SemaphoreError::Overflow => "SemaphoreError::Overflow",
        SemaphoreError::InvalidCount => "SemaphoreError::InvalidCount",
        SemaphoreError::Contended => "SemaphoreError::Contended",
        SemaphoreError::Corrupted => "SemaphoreError::Corrupted",
        _ => "SemaphoreError::(variant unknown to this test)",
    }
}

pub(crate) fn set_op_error_name(e: &SetOpError) -> &'static str {
    match e {
        SetOpError::WouldBlock => "SetOpError::WouldBlock",
        SetOpError::Timeout => "SetOpError::Timeout",
        SetOpError::Overflow { .. } => "SetOpError::Overflow",
        SetOpError::InvalidCount { .. } => "SetOpError::InvalidCount",
        SetOpError::IndexOutOfRange { .. } => "SetOpError::IndexOutOfRange",
        SetOpError::TooManyOps { .. } => "SetOpError::TooManyOps",
        SetOpError::Contended => "SetOpError::Contended",
        SetOpError::Corrupted { .. } => "SetOpError::Corrupted",
        _ => "SetOpError::(variant unknown to this test)",
    }
}
