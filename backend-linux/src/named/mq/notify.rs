//! Arrival notifications (`mq_notify`) as queued real-time signals.
//!
//! The core keeps one registration per queue: a pid and a 32-bit cookie
//! that it hands back, unchanged, to the sender whose message makes the
//! queue non-empty while no receiver is blocked. This crate's cookie is an
//! [`ArrivalSignal`]:
//!
//! ```text
//! bits  0..8   the signal number (an RtSignal, 35..=64)
//! bits  8..16  zero
//! bits 16..32  the registrant's tag
//! ```
//!
//! and the sender queues that signal to the pid (`rt_sigqueueinfo`,
//! `si_code` `SI_QUEUE`) with the tag as its payload, so a process that
//! watches several queues with one signal tells them apart, as with
//! `sigev_value`.
//!
//! # Trust
//!
//! The registration lives in the shared region: a process that can write the
//! region can make a sender queue a real-time signal, of the offered range,
//! to any process the sender may signal (the same user). A registration also
//! outlives a registrant that dies without cancelling it; a sender then gets
//! `ESRCH`, or, if the pid was reused meanwhile, signals the stranger.
//! [`NamedMessageQueue::release_dead`](super::NamedMessageQueue::release_dead)
//! removes a dead registrant's registration.

use core::fmt;

use annulus::mq::{Notification, Sent};
use rustix::io::Errno;

use crate::signal::{self, RtSignal};

/// The signal a registrant asked for, and the tag it carries as payload: the
/// cookie of a registration made by
/// [`NamedMessageQueue::notify_on_arrival`](super::NamedMessageQueue::notify_on_arrival)
/// (see the module docs for the encoding).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArrivalSignal {
    /// The signal queued to the registrant.
    pub signal: RtSignal,
    /// Its payload (`si_value`, read as `Received::payload`).
    pub tag: u16,
}

impl ArrivalSignal {
    /// The registration cookie: the signal number in bits 0..8, the tag in
    /// bits 16..32.
    pub const fn cookie(self) -> u32 {
        self.signal.as_raw() as u32 | ((self.tag as u32) << 16)
    }

    /// Decodes a cookie read from the shared region; `None` unless it is one
    /// [`ArrivalSignal::cookie`] produces.
    pub const fn from_cookie(cookie: u32) -> Option<ArrivalSignal> {
        if cookie & 0xFF00 != 0 {
            return None;
        }
        match RtSignal::from_raw((cookie & 0xFF) as i32) {
            Some(signal) => Some(ArrivalSignal {
                signal,
                tag: (cookie >> 16) as u16,
            }),
            None => None,
        }
    }
}

/// A notification a send consumed but could not deliver. The message itself
/// was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotifyError {
    /// The registration the send consumed.
    pub registration: Notification,
    /// Why the signal was not queued: `ESRCH` (the registrant is gone),
    /// `EPERM` (another user's process), `EAGAIN` (its queue of pending
    /// signals is full), or `EINVAL` (the cookie is not an
    /// [`ArrivalSignal`]'s, or the pid is not one: a corrupted
    /// registration; nothing was sent).
    pub errno: Errno,
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "message queued, but pid {} could not be signalled of its arrival: {}",
            self.registration.pid, self.errno
        )
    }
}

impl core::error::Error for NotifyError {}

/// Queues the registrant's signal when `sent` consumed a registration
/// ([`Sent::notify`]). For callers of the core's
/// [`Endpoint`](annulus::mq::Endpoint) directly; an
/// [`MqEndpoint`](super::MqEndpoint) does this itself.
///
/// Returns `None`, without a system call, when the send consumed nothing
/// (the common case); `Some(Ok(registration))` when the signal was queued;
/// `Some(Err(_))` when it could not be (the registration is consumed all the
/// same, as POSIX ends it at the first arrival).
pub fn deliver(sent: &Sent) -> Option<Result<Notification, NotifyError>> {
    sent.notify.map(signal_registrant)
}

#[cold]
fn signal_registrant(registration: Notification) -> Result<Notification, NotifyError> {
    let fail = |errno| NotifyError {
        registration,
        errno,
    };
    let arrival = ArrivalSignal::from_cookie(registration.cookie).ok_or(fail(Errno::INVAL))?;
    signal::queue(registration.pid, arrival.signal, usize::from(arrival.tag)).map_err(fail)?;
    Ok(registration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_round_trip_and_foreign_ones_are_refused() {
        for (n, tag) in [(0, 0), (5, 1), (RtSignal::COUNT - 1, u16::MAX)] {
            let arrival = ArrivalSignal {
                signal: RtSignal::nth(n).unwrap(),
                tag,
            };
            assert_eq!(ArrivalSignal::from_cookie(arrival.cookie()), Some(arrival));
        }
        let first = RtSignal::FIRST as u32;
        assert_eq!(
            ArrivalSignal::from_cookie(first | (7 << 16)).map(|a| a.tag),
            Some(7)
        );
        assert_eq!(ArrivalSignal::from_cookie(0), None);
        assert_eq!(ArrivalSignal::from_cookie(9), None, "SIGKILL is not one");
        assert_eq!(ArrivalSignal::from_cookie(34), None, "reserved by C");
        assert_eq!(ArrivalSignal::from_cookie(first | (1 << 8)), None);
        assert_eq!(ArrivalSignal::from_cookie(u32::MAX), None);
    }

    #[test]
    fn nothing_consumed_means_no_system_call() {
        let sent = Sent {
            was_empty: true,
            notify: None,
        };
        assert_eq!(deliver(&sent), None);
    }

    #[test]
    fn a_corrupted_registration_is_reported_and_not_sent() {
        // Our own pid: were anything sent, the unblocked signal would kill
        // this test process.
        let registration = Notification {
            pid: std::process::id(),
            cookie: 9,
        };
        let sent = Sent {
            was_empty: true,
            notify: Some(registration),
        };
        assert_eq!(
            deliver(&sent),
            Some(Err(NotifyError {
                registration,
                errno: Errno::INVAL
            }))
        );
        let bad_pid = Notification {
            pid: u32::MAX,
            cookie: ArrivalSignal {
                signal: RtSignal::nth(0).unwrap(),
                tag: 0,
            }
            .cookie(),
        };
        let err = signal_registrant(bad_pid).unwrap_err();
        assert_eq!(err.errno, Errno::INVAL);
        assert!(std::format!("{err}").starts_with("message queued, but pid"));
    }
}
