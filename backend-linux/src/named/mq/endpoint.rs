//! An endpoint of a named message queue: the core's, with arrival
//! notifications delivered on every send.

use core::num::NonZeroU32;
use core::time::Duration;

use annulus::mq::{
    Endpoint, MessageQueue, Notification, Received, RecvError, RecvOptions, RecvTimeoutError,
    SendError, SendTimeoutError, Sent,
};

use super::notify::{NotifyError, deliver};
use crate::Futex;

/// What a send through an [`MqEndpoint`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MqSent {
    /// The queue was empty before this message.
    pub was_empty: bool,
    /// The arrival notification this send consumed, if any (see
    /// [`deliver`](super::deliver)): `None` when there was none to give
    /// (nobody registered, the queue was not empty, or a receiver was
    /// blocked); `Some(Ok(registration))` when the registrant's signal was
    /// queued; `Some(Err(_))` when it could not be, most often `ESRCH` because
    /// the registrant died. The message is queued in every case.
    pub notified: Option<Result<Notification, NotifyError>>,
}

impl MqSent {
    fn from_core(sent: &Sent) -> Self {
        MqSent {
            was_empty: sent.was_empty,
            notified: deliver(sent),
        }
    }
}

/// One participant of a [`NamedMessageQueue`](super::NamedMessageQueue):
/// the core's [`Endpoint`], sleeping on the process-shared futex, whose sends
/// also signal the process registered for arrival notifications.
///
/// Dropping it releases its participant record.
#[derive(Debug)]
pub struct MqEndpoint<'a> {
    inner: Endpoint<'a, Futex>,
}

impl<'a> MqEndpoint<'a> {
    pub(super) fn new(inner: Endpoint<'a, Futex>) -> Self {
        MqEndpoint { inner }
    }

    /// Queues `payload` with `priority` and type `mtype` if the queue has
    /// room ([`Endpoint::try_send`]), then delivers the arrival notification
    /// the send consumed, if any.
    ///
    /// # Errors
    ///
    /// As [`Endpoint::try_send`]; a failed notification is not an error (see
    /// [`MqSent::notified`]).
    pub fn try_send(
        &mut self,
        payload: &[u8],
        priority: u16,
        mtype: NonZeroU32,
    ) -> Result<MqSent, SendError> {
        let sent = self.inner.try_send(payload, priority, mtype)?;
        Ok(MqSent::from_core(&sent))
    }

    /// Queues `payload`, sleeping on the futex while the queue is full, up
    /// to `timeout` (`None`: forever) ([`Endpoint::send`]); then delivers
    /// the arrival notification, as [`MqEndpoint::try_send`].
    ///
    /// # Errors
    ///
    /// As [`Endpoint::send`].
    pub fn send(
        &mut self,
        payload: &[u8],
        priority: u16,
        mtype: NonZeroU32,
        timeout: Option<Duration>,
    ) -> Result<MqSent, SendTimeoutError> {
        let sent = self.inner.send(payload, priority, mtype, timeout)?;
        Ok(MqSent::from_core(&sent))
    }

    /// Takes the first queued message, in receive order, into `buf`
    /// ([`Endpoint::try_recv`]).
    ///
    /// # Errors
    ///
    /// As [`Endpoint::try_recv`].
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Received, RecvError> {
        self.inner.try_recv(buf)
    }

    /// Takes the message `options` chooses into `buf`
    /// ([`Endpoint::try_recv_with`]).
    ///
    /// # Errors
    ///
    /// As [`Endpoint::try_recv_with`].
    pub fn try_recv_with(
        &mut self,
        buf: &mut [u8],
        options: RecvOptions,
    ) -> Result<Received, RecvError> {
        self.inner.try_recv_with(buf, options)
    }

    /// Takes the message `options` chooses into `buf`, sleeping on the futex
    /// until one arrives, up to `timeout` (`None`: forever)
    /// ([`Endpoint::recv`]).
    ///
    /// # Errors
    ///
    /// As [`Endpoint::recv`].
    pub fn recv(
        &mut self,
        buf: &mut [u8],
        options: RecvOptions,
        timeout: Option<Duration>,
    ) -> Result<Received, RecvTimeoutError> {
        self.inner.recv(buf, options, timeout)
    }

    /// Polls to spin before a blocking call sleeps.
    pub fn set_spin_limit(&mut self, polls: u32) {
        self.inner.set_spin_limit(polls);
    }

    /// Index of this endpoint's participant record.
    pub fn record_index(&self) -> u32 {
        self.inner.record_index()
    }

    /// The queue this endpoint belongs to.
    pub fn queue(&self) -> MessageQueue<'a> {
        self.inner.queue()
    }
}
