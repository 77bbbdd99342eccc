//! Watching calls: block in slices of [`WATCH_SLICE`], and between slices
//! check that the peer's process is still alive, so a dead peer ends the wait
//! instead of its timeout.

use core::time::Duration;

use annulus::wait::{Wait, deadline_after};

use crate::Futex;

/// How often a watching call checks that its peer is alive.
pub const WATCH_SLICE: Duration = Duration::from_millis(50);

/// The end of a watching call: a monotonic time in nanoseconds, or never.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Option<u64>);

impl Deadline {
    /// `timeout` from now; `None` never ends.
    pub(crate) fn after(timeout: Option<Duration>) -> Self {
        Deadline(deadline_after(&Futex, timeout))
    }

    /// How long the next wait may take: a watch slice, or what is left.
    pub(crate) fn slice(self) -> Duration {
        match self.0 {
            Some(d) => Duration::from_nanos(d.saturating_sub(Futex.now())).min(WATCH_SLICE),
            None => WATCH_SLICE,
        }
    }

    /// Whether the deadline has passed.
    pub(crate) fn passed(self) -> bool {
        self.0.is_some_and(|d| Futex.now() >= d)
    }
}
