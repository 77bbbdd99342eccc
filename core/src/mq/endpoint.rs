//! An endpoint: one participant of a message queue, which sends and
//! receives.
//!
//! Happens-before: a sender's payload writes → its install (Release) → the
//! receiver's snapshot (Acquire) → the receiver's payload reads; and those
//! reads → the receiver's next install, which frees the slot (Release) → the
//! snapshot of the sender that takes the slot next (Acquire) → its writes.

#![allow(unsafe_code)]

use core::num::NonZeroU32;
use core::time::Duration;

use super::block::{Abort, Entry, Snapshot};
use super::error::{RecvError, RecvTimeoutError, RegisterError, SendError, SendTimeoutError};
use super::{MAX_ATTEMPTS, MessageQueue, Notification};
use crate::claim::ClaimError;
use crate::sync::{Ordering, load_bytes, store_bytes};
use crate::wait::{Wait, deadline_after};

/// Which queued message a receive takes. Every filter picks from the queue
/// in receive order: highest priority first, oldest first within a
/// priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// The first message (`mq_receive`; `msgrcv` with `msgtyp == 0`).
    Any,
    /// The first message of this type (`msgtyp > 0`).
    Type(NonZeroU32),
    /// The first message of the lowest type that is at most this one
    /// (`msgtyp < 0`, with `|msgtyp|` here).
    LowestAtMost(NonZeroU32),
    /// The first message of any other type (`msgtyp > 0` with `MSG_EXCEPT`).
    Except(NonZeroU32),
}

/// How a receive chooses and what it does with a message longer than the
/// buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvOptions {
    /// Which message to take.
    pub filter: Filter,
    /// Take a message longer than the buffer and keep only what fits
    /// (`MSG_NOERROR`); otherwise it stays queued and the receive fails with
    /// `BufferTooSmall`.
    pub truncate: bool,
}

impl RecvOptions {
    /// Options with `filter` and no truncation.
    pub const fn filter(filter: Filter) -> Self {
        RecvOptions {
            filter,
            truncate: false,
        }
    }
}

impl Default for RecvOptions {
    fn default() -> Self {
        RecvOptions::filter(Filter::Any)
    }
}

/// A received message's metadata; its bytes are `buf[..len]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes copied into the buffer.
    pub len: usize,
    /// The message's full length (more than `len` only when truncated).
    pub message_len: u32,
    /// Its priority.
    pub priority: u16,
    /// Its type.
    pub mtype: NonZeroU32,
}

impl Received {
    /// Whether the message was longer than the buffer (`MSG_NOERROR`).
    pub fn truncated(&self) -> bool {
        self.len < self.message_len as usize
    }
}

/// What a successful send learned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The queue was empty before this message.
    pub was_empty: bool,
    /// The registration for arrival notifications, when this send made the
    /// queue non-empty with no receiver in a blocking receive: the
    /// registration is consumed and the caller (a backend) should notify
    /// that process.
    pub notify: Option<Notification>,
}

/// What an operation's edit decided.
enum Step<R> {
    /// Install the edited block and return this.
    Install(R),
    /// Return this without installing anything.
    Keep(R),
}

/// An endpoint's private state: its queue and participant record.
#[derive(Debug)]
struct EndpointState<'a> {
    mq: MessageQueue<'a>,
    index: u32,
    generation: u32,
    pid: u32,
    /// The block this participant copies into; only it writes there.
    scratch: u32,
    /// The slot it holds, as its last install recorded.
    held: Option<u32>,
}

/// One participant of a [`MessageQueue`]: sends and receives, blocking with
/// `W`. Dropping it releases its participant record.
pub struct Endpoint<'a, W: Wait> {
    state: EndpointState<'a>,
    wait: W,
    spin_limit: u32,
}

impl<W: Wait> core::fmt::Debug for Endpoint<'_, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("record", &self.state.index)
            .field("generation", &self.state.generation)
            .field("pid", &self.state.pid)
            .finish_non_exhaustive()
    }
}

impl<'a> MessageQueue<'a> {
    /// Registers an endpoint for process `pid` (what liveness checks and the
    /// last-sender/receiver counters record) that blocks with `wait`.
    ///
    /// # Errors
    ///
    /// [`RegisterError::TooManyParticipants`] when every record is held;
    /// [`RegisterError::Corrupted`] or [`RegisterError::Contended`] when the
    /// record's block ownership cannot be read.
    pub fn endpoint<W: Wait>(&self, pid: u32, wait: W) -> Result<Endpoint<'a, W>, RegisterError> {
        for index in 0..self.geometry.participants {
            let record = self.record(index);
            let generation = match record.claim(pid) {
                Ok(generation) => generation,
                Err(ClaimError::Taken(_) | ClaimError::Corrupted) => continue,
            };
            let mut state = EndpointState {
                mq: *self,
                index,
                generation,
                pid,
                scratch: 0,
                held: None,
            };
            match Snapshot::read_scratch_of(self, index) {
                Ok(scratch) => state.scratch = scratch,
                Err(e) => {
                    record.release(generation);
                    return Err(e.into());
                }
            }
            // The slot a previous holder of the record left, if any.
            match state.transact(|s| Ok::<_, Abort>(Step::Keep(s.held(index)))) {
                Ok(held) => state.held = held,
                Err(e) => {
                    record.release(generation);
                    return Err(e.into());
                }
            }
            return Ok(Endpoint {
                state,
                wait,
                spin_limit: crate::spsc::DEFAULT_SPIN_LIMIT,
            });
        }
        Err(RegisterError::TooManyParticipants {
            max: self.geometry.participants,
        })
    }
}

impl<W: Wait> Drop for Endpoint<'_, W> {
    fn drop(&mut self) {
        // The held slot and scratch block stay with the record, for its next
        // holder; nothing in the queue refers to this endpoint otherwise.
        self.state.mq.set_receiving(self.state.index, false);
        self.state
            .mq
            .record(self.state.index)
            .release(self.state.generation);
    }
}

impl<'a, W: Wait> Endpoint<'a, W> {
    /// Queues `payload` with `priority` and type `mtype` if the queue has
    /// room (`mq_send` with `O_NONBLOCK`, `msgsnd` with `IPC_NOWAIT`).
    ///
    /// # Errors
    ///
    /// [`SendError::Full`], [`SendError::TooLarge`], [`SendError::Contended`],
    /// [`SendError::Corrupted`]; the queue is unchanged.
    pub fn try_send(
        &mut self,
        payload: &[u8],
        priority: u16,
        mtype: NonZeroU32,
    ) -> Result<Sent, SendError> {
        let slot = self.state.prepare(payload)?;
        let sent = self
            .state
            .publish(slot, payload.len() as u32, priority, mtype)?;
        Ok(self.state.after_send(sent, &self.wait))
    }

    /// Queues `payload`, waiting while the queue is full (spin, then
    /// sleep). `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`], [`SendTimeoutError::TooLarge`],
    /// [`SendTimeoutError::Corrupted`].
    pub fn send(
        &mut self,
        payload: &[u8],
        priority: u16,
        mtype: NonZeroU32,
        timeout: Option<Duration>,
    ) -> Result<Sent, SendTimeoutError> {
        let slot = self.state.prepare(payload).map_err(|e| match e {
            SendError::TooLarge { len, max } => SendTimeoutError::TooLarge { len, max },
            _ => SendTimeoutError::Corrupted,
        })?;
        let len = payload.len() as u32;
        let deadline = deadline_after(&self.wait, timeout);
        let state = &mut self.state;
        let space_ready = &state.mq.hdr().events.0.space_ready;
        let outcome = space_ready.wait_until(&self.wait, self.spin_limit, deadline, || {
            match state.publish(slot, len, priority, mtype) {
                Ok(was_empty) => Some(Ok(was_empty)),
                // Contended: others made progress; poll again.
                Err(SendError::Full | SendError::Contended) => None,
                Err(_) => Some(Err(SendTimeoutError::Corrupted)),
            }
        });
        match outcome {
            Ok(Ok(was_empty)) => Ok(self.state.after_send(was_empty, &self.wait)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SendTimeoutError::Timeout),
        }
    }

    /// Takes the first queued message, in receive order, into `buf`
    /// (`mq_receive` with `O_NONBLOCK`).
    ///
    /// # Errors
    ///
    /// As [`Endpoint::try_recv_with`].
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Received, RecvError> {
        self.try_recv_with(buf, RecvOptions::default())
    }

    /// Takes the message `options` chooses into `buf` (`msgrcv` with
    /// `IPC_NOWAIT`).
    ///
    /// # Errors
    ///
    /// [`RecvError::Empty`] when no message matches;
    /// [`RecvError::BufferTooSmall`] when the chosen one is longer than `buf`
    /// and `options.truncate` is false (it stays queued);
    /// [`RecvError::Contended`], [`RecvError::Corrupted`].
    pub fn try_recv_with(
        &mut self,
        buf: &mut [u8],
        options: RecvOptions,
    ) -> Result<Received, RecvError> {
        let received = self.state.receive(buf, options)?;
        self.state.mq.hdr().events.0.space_ready.notify(&self.wait);
        Ok(received)
    }

    /// Takes the message `options` chooses into `buf`, waiting until one
    /// arrives (spin, then sleep). `None` waits forever.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`], [`RecvTimeoutError::BufferTooSmall`]
    /// (the message stays queued), [`RecvTimeoutError::Corrupted`].
    pub fn recv(
        &mut self,
        buf: &mut [u8],
        options: RecvOptions,
        timeout: Option<Duration>,
    ) -> Result<Received, RecvTimeoutError> {
        let deadline = deadline_after(&self.wait, timeout);
        let state = &mut self.state;
        let (mq, me) = (state.mq, state.index);
        // A sender gives no arrival notification while this is set: this
        // receive will take the message (POSIX: a blocked `mq_receive`).
        mq.set_receiving(me, true);
        let data_ready = &mq.hdr().events.0.data_ready;
        let outcome = data_ready.wait_until(&self.wait, self.spin_limit, deadline, || match state
            .receive(buf, options)
        {
            Ok(received) => Some(Ok(received)),
            Err(RecvError::Empty | RecvError::Contended) => None,
            Err(RecvError::BufferTooSmall { needed }) => {
                Some(Err(RecvTimeoutError::BufferTooSmall { needed }))
            }
            Err(RecvError::Corrupted) => Some(Err(RecvTimeoutError::Corrupted)),
        });
        mq.set_receiving(me, false);
        let received = match outcome {
            Ok(result) => result?,
            Err(_) => return Err(RecvTimeoutError::Timeout),
        };
        self.state.mq.hdr().events.0.space_ready.notify(&self.wait);
        Ok(received)
    }

    /// Polls to spin before a blocking call sleeps.
    pub fn set_spin_limit(&mut self, polls: u32) {
        self.spin_limit = polls;
    }

    /// The waiter this endpoint blocks with.
    pub fn waiter(&self) -> &W {
        &self.wait
    }

    /// The queue this endpoint belongs to.
    pub fn queue(&self) -> MessageQueue<'a> {
        self.state.mq
    }

    /// Index of this endpoint's participant record.
    pub fn record_index(&self) -> u32 {
        self.state.index
    }
}

impl<'a> EndpointState<'a> {
    /// Runs one operation: snapshot, validate, `edit`, install; again while
    /// other operations overtake it, up to [`MAX_ATTEMPTS`] rounds.
    fn transact<R, E: From<Abort>>(
        &mut self,
        mut edit: impl FnMut(&Snapshot<'a>) -> Result<Step<R>, E>,
    ) -> Result<R, E> {
        for _ in 0..MAX_ATTEMPTS {
            let snapshot = match Snapshot::take(&self.mq, self.scratch) {
                Ok(snapshot) => snapshot,
                Err(Abort::Overtaken) => continue,
                Err(e) => return Err(e.into()),
            };
            snapshot.validate(Some(self.index))?;
            match edit(&snapshot)? {
                Step::Keep(r) => return Ok(r),
                Step::Install(r) => {
                    snapshot.set_scratch_of(self.index, snapshot.source());
                    if snapshot.install(&self.mq) {
                        self.scratch = snapshot.source();
                        return Ok(r);
                    }
                }
            }
        }
        Err(Abort::Overtaken.into())
    }

    /// Makes sure this participant holds a slot and writes `payload` into
    /// it; returns the slot.
    fn prepare(&mut self, payload: &[u8]) -> Result<u32, SendError> {
        let max = self.mq.geometry.message_size;
        if payload.len() > max as usize {
            return Err(SendError::TooLarge {
                len: payload.len(),
                max,
            });
        }
        let me = self.index;
        let slot = match self.held {
            Some(slot) => slot,
            None => {
                // A participant holding no slot always finds a free one:
                // slots = max_messages + participants, and at most
                // max_messages are queued and participants - 1 held by others.
                let slot = self.transact(|s| -> Result<_, SendError> {
                    if let Some(slot) = s.held(me) {
                        return Ok(Step::Keep(slot));
                    }
                    let slot = s.pop_free().ok_or(SendError::Corrupted)?;
                    s.set_held(me, Some(slot));
                    Ok(Step::Install(slot))
                })?;
                self.held = Some(slot);
                slot
            }
        };
        let hdr = self.mq.hdr();
        hdr.tracker.write(slot, 1);
        // SAFETY: `slot < slots` (validated in the snapshot that gave it to
        // us); the slot holds `message_size` rounded up to 8 bytes, at least
        // `payload.len()` rounded up to 4, at an 8-aligned address; this participant holds it, so no honest peer
        // touches it, and every access to slot bytes is atomic.
        unsafe { store_bytes(self.mq.slot_ptr(slot), payload) };
        Ok(slot)
    }

    /// Queues the message prepared in `slot`; returns whether the queue was
    /// empty before it.
    fn publish(
        &mut self,
        slot: u32,
        len: u32,
        priority: u16,
        mtype: NonZeroU32,
    ) -> Result<bool, SendError> {
        let (me, pid) = (self.index, self.pid);
        let mut next_held = None;
        let was_empty = self.transact(|s| {
            if s.held(me) != Some(slot) {
                return Err(SendError::Corrupted);
            }
            if s.is_full() {
                return Err(SendError::Full);
            }
            let was_empty = s.queued() == 0;
            s.insert(Entry {
                slot,
                priority,
                mtype: mtype.get(),
                len,
            });
            s.count_send(pid, len);
            next_held = s.pop_free();
            s.set_held(me, next_held);
            Ok(Step::Install(was_empty))
        })?;
        self.held = next_held;
        Ok(was_empty)
    }

    /// Wakes receivers and consumes the notification registration when the
    /// send made the queue non-empty with no receiver in a blocking receive.
    fn after_send<W: Wait>(&self, was_empty: bool, wait: &W) -> Sent {
        let hdr = self.mq.hdr();
        let data_ready = &hdr.events.0.data_ready;
        data_ready.notify(wait);
        let mut notify = None;
        if was_empty {
            let control = &hdr.control.0;
            // Relaxed: a cheap check before the swap; most queues have no
            // registration.
            if control.notify.load(Ordering::Relaxed) != 0 && !self.mq.anyone_receiving() {
                // Relaxed: the registration carries no data beyond itself;
                // exactly one sender takes it.
                notify = Notification::from_word(control.notify.swap(0, Ordering::Relaxed));
                if notify.is_some() {
                    // Relaxed: a statistic.
                    control.notifications.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Sent { was_empty, notify }
    }

    /// Takes the message `options` chooses and copies it into `buf`.
    fn receive(&mut self, buf: &mut [u8], options: RecvOptions) -> Result<Received, RecvError> {
        let (me, pid) = (self.index, self.pid);
        let entry = self.transact(|s| {
            let Some(k) = select(s, options.filter)? else {
                return Err(RecvError::Empty);
            };
            let entry = s.entry(k)?;
            if entry.len as usize > buf.len() && !options.truncate {
                return Err(RecvError::BufferTooSmall { needed: entry.len });
            }
            s.remove(k);
            if let Some(old) = s.held(me) {
                s.push_free(old);
            }
            s.set_held(me, Some(entry.slot));
            s.count_receive(pid, entry.len);
            Ok(Step::Install(entry))
        })?;
        self.held = Some(entry.slot);
        let len = (entry.len as usize).min(buf.len());
        self.mq.hdr().tracker.read(entry.slot, 1);
        // SAFETY: `entry.slot < slots` and `entry.len <= message_size`
        // (checked by `Snapshot::entry`), so `len` bytes rounded up to 4 lie
        // in the slot (its size is a multiple of 8), which is 8-aligned; our install made the slot ours, and every
        // access to slot bytes is atomic.
        unsafe { load_bytes(self.mq.slot_ptr(entry.slot), &mut buf[..len]) };
        Ok(Received {
            len,
            message_len: entry.len,
            priority: entry.priority,
            // `Snapshot::entry` rejects type 0.
            mtype: NonZeroU32::new(entry.mtype).ok_or(RecvError::Corrupted)?,
        })
    }
}

/// The logical index of the message `filter` chooses in `s`, if any.
fn select(s: &Snapshot<'_>, filter: Filter) -> Result<Option<u32>, Abort> {
    let n = s.queued();
    let first = |pred: &dyn Fn(u32) -> bool| -> Result<Option<u32>, Abort> {
        for j in 0..n {
            if pred(s.entry(j)?.mtype) {
                return Ok(Some(j));
            }
        }
        Ok(None)
    };
    match filter {
        Filter::Any => Ok((n > 0).then_some(0)),
        Filter::Type(t) => first(&|mtype| mtype == t.get()),
        Filter::Except(t) => first(&|mtype| mtype != t.get()),
        Filter::LowestAtMost(t) => {
            let mut best: Option<(u32, u32)> = None;
            for j in 0..n {
                let mtype = s.entry(j)?.mtype;
                if mtype <= t.get() && best.is_none_or(|(_, b)| mtype < b) {
                    best = Some((j, mtype));
                }
            }
            Ok(best.map(|(j, _)| j))
        }
    }
}
