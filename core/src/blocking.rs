//! The blocking forms of push and pop, shared by every ring: poll the
//! non-blocking call, and between polls spin, then sleep on the ring's event
//! count, until it succeeds, fails for good, or the deadline passes.

use core::time::Duration;

use crate::error::{PopError, PopTimeoutError, PushError, PushTimeoutError};
use crate::event::{EventCount, WakeMode};
use crate::wait::{Wait, deadline_after};

/// Pushes `value` with `try_push`, sleeping on `space_ready` (as a waiter
/// in `mode`) while it reports `Full`. Every other outcome is final.
pub(crate) fn push<T, W: Wait>(
    space_ready: &EventCount,
    mode: WakeMode,
    wait: &W,
    spin_limit: u32,
    timeout: Option<Duration>,
    value: T,
    mut try_push: impl FnMut(T, &W) -> Result<(), PushError<T>>,
) -> Result<(), PushTimeoutError<T>> {
    let deadline = deadline_after(wait, timeout);
    let mut pending = Some(value);
    let outcome = space_ready.wait_until_in(mode, wait, spin_limit, deadline, || {
        let value = pending.take()?;
        match try_push(value, wait) {
            Ok(()) => Some(Ok(())),
            Err(PushError::Full(v)) => {
                pending = Some(v);
                None
            }
            Err(PushError::Disconnected(v)) => Some(Err(PushTimeoutError::Disconnected(v))),
            Err(PushError::Corrupted(v)) => Some(Err(PushTimeoutError::Corrupted(v))),
        }
    });
    match outcome {
        Ok(result) => result,
        // The poll puts the value back into `pending` each time it returns
        // `None`, and a timeout only follows such a poll.
        Err(_) => Err(PushTimeoutError::Timeout(
            pending
                .take()
                .expect("a timed-out push still holds its value"),
        )),
    }
}

/// Pops with `try_pop`, sleeping on `data_ready` while it reports `Empty`.
pub(crate) fn pop<T, W: Wait>(
    data_ready: &EventCount,
    mode: WakeMode,
    wait: &W,
    spin_limit: u32,
    timeout: Option<Duration>,
    mut try_pop: impl FnMut(&W) -> Result<T, PopError>,
) -> Result<T, PopTimeoutError> {
    let deadline = deadline_after(wait, timeout);
    data_ready
        .wait_until_in(mode, wait, spin_limit, deadline, || match try_pop(wait) {
            Ok(v) => Some(Ok(v)),
            Err(PopError::Empty) => None,
            Err(PopError::Disconnected) => Some(Err(PopTimeoutError::Disconnected)),
            Err(PopError::Corrupted) => Some(Err(PopTimeoutError::Corrupted)),
        })
        .unwrap_or(Err(PopTimeoutError::Timeout))
}
