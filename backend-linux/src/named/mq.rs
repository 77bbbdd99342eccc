//! A named message queue: POSIX `mq_open` and System V `msgget` by name,
//! with `mq_notify` as a queued real-time signal.

#![allow(unsafe_code)]

mod endpoint;
mod notify;

use annulus::mq::{
    InitOptions, MessageQueue, Notification, NotificationBusy, RecvError, RegisterError, Stats,
};

pub use endpoint::{MqEndpoint, MqSent};
pub use notify::{ArrivalSignal, NotifyError, deliver};

use super::readiness::Readiness;
use super::registry::{Claimed, RoleError, register_participant};
use super::{Create, CreateError, DEFAULT_MODE, Named, Open, OpenError, my_pid};
use crate::liveness::{claim_is_alive, pid_is_alive};
use crate::signal::RtSignal;
use crate::{Futex, SharedMemory};

/// A [`MessageQueue`] in `/dev/shm/annulus.<name>`: up to `max_messages`
/// messages of at most `message_size` bytes, each with a priority and a
/// type, between up to `participants` endpoints in any processes, sleeping
/// on the process-shared futex.
///
/// Each process that sends or receives registers an [`MqEndpoint`]
/// ([`NamedMessageQueue::endpoint`]); a process killed while it held one
/// blocks nobody, and [`NamedMessageQueue::release_dead`] frees its record.
/// One process at a time may ask to be signalled when a message arrives in
/// the empty queue ([`NamedMessageQueue::notify_on_arrival`], `mq_notify`).
///
/// This type exists where the core's queue does (64-bit atomics) and the
/// [`signal`](crate::signal) module does (x86_64, aarch64).
///
/// # Examples
///
/// One process creates the queue and sends, another opens it by name and
/// receives, highest priority first (here one after the other in one
/// process, for the doctest):
///
/// ```
/// use annulus::mq::RecvOptions;
/// use annulus_linux::named::NamedMessageQueue;
/// use std::num::NonZeroU32;
/// use std::time::Duration;
///
/// const ORDERS: NonZeroU32 = NonZeroU32::new(1).unwrap();
///
/// /// Process A: creates a queue of 8 messages of up to 64 bytes, for up to
/// /// 4 endpoints, and sends two.
/// fn process_a(name: &str) -> NamedMessageQueue {
///     let mq = NamedMessageQueue::create(name, 8, 64, 4).unwrap();
///     let mut tx = mq.endpoint().unwrap();
///     tx.send(b"routine", 1, ORDERS, None).unwrap();
///     tx.send(b"urgent", 9, ORDERS, None).unwrap();
///     drop(tx); // frees the participant record; the messages stay queued
///     mq
/// }
///
/// /// Process B: opens the queue by name and takes both messages.
/// fn process_b(name: &str) -> Vec<(u16, Vec<u8>)> {
///     let mq = NamedMessageQueue::open(name).unwrap();
///     let mut rx = mq.endpoint().unwrap();
///     let mut buf = vec![0u8; mq.max_message_size() as usize];
///     let timeout = Some(Duration::from_secs(10));
///     (0..2)
///         .map(|_| {
///             let got = rx.recv(&mut buf, RecvOptions::default(), timeout).unwrap();
///             (got.priority, buf[..got.len].to_vec())
///         })
///         .collect()
/// }
///
/// let name = format!("doc-mq-{}", std::process::id());
/// let a = process_a(&name);
/// let got = process_b(&name);
/// a.named().unlink().unwrap(); // the creator removes the name
/// assert_eq!(got, [(9, b"urgent".to_vec()), (1, b"routine".to_vec())]);
/// assert_eq!(a.stats().unwrap().messages, 0);
/// ```
///
/// Waiting for the first message with a signal instead of a blocked
/// receive (see [`signal`](crate::signal) on blocking it in every thread):
///
/// ```no_run
/// use annulus_linux::named::NamedMessageQueue;
/// use annulus_linux::signal::{self, RtSignal, SignalFd};
///
/// let sig = RtSignal::nth(0).unwrap();
/// signal::block(sig.into()).unwrap().keep(); // first thing in main
/// let fd = SignalFd::new(sig.into()).unwrap();
/// let mq = NamedMessageQueue::open("jobs").unwrap();
/// mq.notify_on_arrival(sig, 7).unwrap();
/// // ... poll `fd` with other descriptors; a send into the empty queue
/// // queues `sig` with payload 7 to this process, once:
/// let got = fd.recv_timeout(None).unwrap();
/// assert_eq!(got.payload, Some(7));
/// ```
#[derive(Debug)]
pub struct NamedMessageQueue {
    /// Lives as long as `named`'s mapping; lent only with `&self`'s lifetime.
    mq: MessageQueue<'static>,
    named: Named,
}

/// What [`NamedMessageQueue::release_dead`] released.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeadReleased {
    /// Participant records of dead processes, now free for newcomers.
    pub participants: u32,
    /// The arrival registration of a dead process, now removed.
    pub notification: Option<Notification>,
}

impl NamedMessageQueue {
    /// Creates a queue of up to `max_messages` messages (`mq_maxmsg`) of at
    /// most `message_size` bytes (`mq_msgsize`), for up to `participants`
    /// endpoints at once, mode 0600.
    ///
    /// # Errors
    ///
    /// [`CreateError`]: a bad name, an existing object,
    /// [`CreateError::Layout`] for sizes outside the core's limits
    /// ([`MessageQueue::layout`]).
    pub fn create(
        name: &str,
        max_messages: u32,
        message_size: u32,
        participants: u32,
    ) -> Result<Self, CreateError> {
        Self::create_with_mode(name, max_messages, message_size, participants, DEFAULT_MODE)
    }

    /// Creates the queue with permission bits `mode`.
    ///
    /// # Errors
    ///
    /// As [`NamedMessageQueue::create`].
    pub fn create_with_mode(
        name: &str,
        max_messages: u32,
        message_size: u32,
        participants: u32,
        mode: u32,
    ) -> Result<Self, CreateError> {
        Self::create_in(
            Create::Name(name, mode),
            max_messages,
            message_size,
            participants,
        )
    }

    /// Creates the object in anonymous memory, a sealed memfd with no
    /// name in `/dev/shm`: hand [`Named::memory`] (through
    /// [`named`](NamedMessageQueue::named)) to a peer over a
    /// [`rendezvous`](crate::rendezvous) or to a child, which opens it with
    /// [`NamedMessageQueue::from_memory`].
    ///
    /// # Errors
    ///
    /// As [`NamedMessageQueue::create`], without the name errors.
    pub fn create_anonymous(
        max_messages: u32,
        message_size: u32,
        participants: u32,
    ) -> Result<Self, CreateError> {
        Self::create_in(Create::Anonymous, max_messages, message_size, participants)
    }

    fn create_in(
        place: Create<'_>,
        max_messages: u32,
        message_size: u32,
        participants: u32,
    ) -> Result<Self, CreateError> {
        let size = MessageQueue::layout(max_messages, message_size, participants)?.size;
        let options = InitOptions {
            schema: None,
            creator_pid: my_pid(),
        };
        let (named, mq) = Named::create(place, size, |ptr, len| {
            // SAFETY: a fresh mapping of `len` bytes that nothing else in
            // this process touches; it lives in `named` beside the view.
            unsafe {
                MessageQueue::init_raw(ptr, len, max_messages, message_size, participants, options)
            }
        })?;
        Ok(NamedMessageQueue { mq, named })
    }

    /// Opens the queue another process created (mode at most 0600), waiting
    /// up to [`OPEN_PATIENCE`](super::OPEN_PATIENCE) for its creator to
    /// finish initialising it.
    ///
    /// # Errors
    ///
    /// [`OpenError`]: missing, not ours, wrong mode, not a message queue
    /// ([`AttachError::KindMismatch`](annulus::layout::AttachError::KindMismatch)),
    /// or not initialised in time.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with_mode(name, DEFAULT_MODE)
    }

    /// Opens the queue, accepting permission bits up to `allowed_mode`.
    ///
    /// # Errors
    ///
    /// As [`NamedMessageQueue::open`].
    pub fn open_with_mode(name: &str, allowed_mode: u32) -> Result<Self, OpenError> {
        Self::open_in(Open::Name(name, allowed_mode))
    }

    /// Opens the object in memory received from a peer (a sealed memfd,
    /// checked on receipt by
    /// [`Connection::receive`](crate::rendezvous::Connection::receive)),
    /// created there with [`NamedMessageQueue::create_anonymous`]. The memory is
    /// untrusted as a named object's is: attach checks every field.
    ///
    /// # Errors
    ///
    /// As [`NamedMessageQueue::open`], without the name errors.
    pub fn from_memory(memory: SharedMemory) -> Result<Self, OpenError> {
        Self::open_in(Open::Memory(memory))
    }

    fn open_in(place: Open<'_>) -> Result<Self, OpenError> {
        // The fixed header, whatever the geometry; attach checks the rest.
        let header = MessageQueue::layout(1, 1, 1).map_or(0, |l| l.records_offset);
        let (named, mq) = Named::open(place, header, |ptr, len| {
            // SAFETY: a fresh mapping, touched in this process only through
            // the view; it lives in `named` beside the view. Participant
            // records are held through `endpoint`, which keeps this process
            // from holding one twice.
            unsafe { MessageQueue::attach_raw(ptr, len, annulus::mq::MQ_SCHEMA) }
        })?;
        Ok(NamedMessageQueue { mq, named })
    }

    /// The queue, for as long as this object lives. An endpoint registered
    /// through it directly is not entered in the registry of held roles, and
    /// its sends do not deliver notifications (see [`deliver`]): register
    /// endpoints with [`NamedMessageQueue::endpoint`].
    pub fn queue(&self) -> MessageQueue<'_> {
        self.mq
    }

    /// Registers an endpoint for this process: it sends and receives,
    /// sleeps on the futex, and signals the registrant of an arrival.
    ///
    /// # Errors
    ///
    /// [`RoleError::Shared`] with [`RegisterError::TooManyParticipants`]
    /// when every record is held (see [`NamedMessageQueue::release_dead`]);
    /// [`RoleError::HeldHere`] if the record the queue gave out is one this
    /// process holds already (its claim word was forged; the new
    /// registration is undone).
    pub fn endpoint(&self) -> Result<Claimed<MqEndpoint<'_>>, RoleError<RegisterError>> {
        register_participant(
            self.named.id(),
            || self.queue().endpoint(my_pid(), Futex).map(MqEndpoint::new),
            MqEndpoint::record_index,
        )
    }

    /// A file descriptor that turns readable when a message is queued, for
    /// a receiving endpoint's `epoll` loop: clear it, then receive with
    /// [`MqEndpoint::try_recv`] until it reports `Empty` (see [`Readiness`]
    /// for the loop). It watches for any message: one that a selective
    /// receive does not want makes it readable too.
    ///
    /// # Errors
    ///
    /// `eventfd` or the thread's creation failed.
    pub fn readiness(&self) -> std::io::Result<Readiness> {
        Readiness::spawn(self.mq, self.named.mapping_arc(), None)
    }

    /// Releases the participant records of processes that died (checked
    /// with a pidfd, [`pid_is_alive`]), so newcomers can register: a
    /// newcomer inherits the dead one's slot and scratch block, and the
    /// queue needs no other repair (every message the dead process sent is
    /// still queued; one it was receiving was either taken whole or left
    /// queued). Also removes a dead process's arrival registration.
    pub fn release_dead(&self) -> DeadReleased {
        let participants = self.mq.release_dead(claim_is_alive);
        let notification = match self.mq.notification() {
            Some(n) if !pid_is_alive(n.pid) && self.mq.cancel_notification(n.pid) => Some(n),
            _ => None,
        };
        DeadReleased {
            participants,
            notification,
        }
    }

    /// Asks for `signal` with payload `tag` to be queued to this process
    /// when a message arrives in the empty queue while no receiver is
    /// blocked (`mq_notify`). The registration is one-shot: the send that
    /// delivers it ends it. Registering again replaces this process's signal
    /// and tag.
    ///
    /// The signal must be blocked in every thread of this process and read
    /// from a [`SignalFd`](crate::SignalFd) (see [`signal`](crate::signal)):
    /// a real-time signal's default action terminates the process. The
    /// registration outlives this process if it exits without cancelling it
    /// or dropping this object (see [`NamedMessageQueue::release_dead`]).
    ///
    /// A process blocked in [`MqEndpoint::recv`] takes an arrival instead
    /// of the registrant; one killed there counts as blocked until
    /// [`NamedMessageQueue::release_dead`] releases its record.
    ///
    /// # Errors
    ///
    /// [`NotificationBusy`] when another process is registered (`EBUSY`).
    pub fn notify_on_arrival(&self, signal: RtSignal, tag: u16) -> Result<(), NotificationBusy> {
        let cookie = ArrivalSignal { signal, tag }.cookie();
        self.mq.register_notification(my_pid(), cookie)
    }

    /// Removes this process's arrival registration (`mq_notify(NULL)`);
    /// returns whether there was one.
    pub fn cancel_notification(&self) -> bool {
        self.mq.cancel_notification(my_pid())
    }

    /// The current arrival registration, if any (its cookie decodes with
    /// [`ArrivalSignal::from_cookie`]). Racy.
    pub fn notification(&self) -> Option<Notification> {
        self.mq.notification()
    }

    /// The counters (`mq_attr`, `msqid_ds`), from one consistent snapshot.
    ///
    /// # Errors
    ///
    /// As [`MessageQueue::stats`].
    pub fn stats(&self) -> Result<Stats, RecvError> {
        self.mq.stats()
    }

    /// Most messages the queue holds (`mq_maxmsg`).
    pub fn max_messages(&self) -> u32 {
        self.mq.max_messages()
    }

    /// Largest message, in bytes (`mq_msgsize`).
    pub fn max_message_size(&self) -> u32 {
        self.mq.max_message_size()
    }

    /// Number of participant records: most endpoints at once.
    pub fn max_participants(&self) -> u32 {
        self.mq.max_participants()
    }

    /// The shared memory behind the queue (name, unlink).
    pub fn named(&self) -> &Named {
        &self.named
    }
}

impl Drop for NamedMessageQueue {
    /// Ends this process's arrival registration, if any, as `mq_close`
    /// does: a registration belongs to the process, so dropping any
    /// `NamedMessageQueue` of the queue in it ends it.
    fn drop(&mut self) {
        self.mq.cancel_notification(my_pid());
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::format;
    use std::string::String;

    use annulus::layout::{AttachError, LayoutError};
    use annulus::mq::{Filter, RecvOptions};
    use core::num::NonZeroU32;
    use rustix::io::Errno;

    use super::*;
    use crate::named::{NamedSemaphore, SpscRing};

    /// A unique name, unlinked when dropped.
    struct TestName(String);

    impl TestName {
        fn new(tag: &str) -> Self {
            TestName(format!("test-mq-{tag}-{}", std::process::id()))
        }
    }

    impl Drop for TestName {
        fn drop(&mut self) {
            let _ = crate::shm::SharedMemory::unlink(&self.0);
        }
    }

    fn ty(t: u32) -> NonZeroU32 {
        NonZeroU32::new(t).unwrap()
    }

    /// A pid no process can have: above the kernel's `pid_max`.
    fn impossible_pid() -> u32 {
        let max = std::fs::read_to_string("/proc/sys/kernel/pid_max").unwrap();
        max.trim().parse::<u32>().unwrap() + 1
    }

    fn sig() -> RtSignal {
        RtSignal::nth(4).unwrap()
    }

    #[test]
    fn bad_geometry_is_refused_before_anything_is_left_behind() {
        let name = TestName::new("bad");
        assert_eq!(
            NamedMessageQueue::create(&name.0, 0, 8, 2).unwrap_err(),
            CreateError::Layout(LayoutError::BadCapacity { capacity: 0 })
        );
        assert_eq!(
            NamedMessageQueue::create(&name.0, 4, 0, 2).unwrap_err(),
            CreateError::Layout(LayoutError::BadMessageSize { size: 0 })
        );
        assert_eq!(
            NamedMessageQueue::create(&name.0, 4, 8, 0).unwrap_err(),
            CreateError::Layout(LayoutError::BadParticipants { participants: 0 })
        );
        let mq = NamedMessageQueue::create(&name.0, 4, 8, 2).unwrap();
        assert_eq!(
            (
                mq.max_messages(),
                mq.max_message_size(),
                mq.max_participants()
            ),
            (4, 8, 2)
        );
    }

    #[test]
    fn open_shares_the_queue_and_its_counters() {
        let name = TestName::new("open");
        let created = NamedMessageQueue::create(&name.0, 8, 32, 3).unwrap();
        let opened = NamedMessageQueue::open(&name.0).unwrap();
        assert_eq!((opened.max_messages(), opened.max_message_size()), (8, 32));
        let mut tx = created.endpoint().unwrap();
        let mut rx = opened.endpoint().unwrap();
        assert_ne!(tx.record_index(), rx.record_index());
        let sent = tx.try_send(b"low", 1, ty(4)).unwrap();
        assert_eq!(
            sent,
            MqSent {
                was_empty: true,
                notified: None
            }
        );
        tx.try_send(b"high", 2, ty(5)).unwrap();
        let stats = opened.stats().unwrap();
        assert_eq!((stats.messages, stats.bytes), (2, 7));
        assert_eq!(stats.last_sender, my_pid());
        let mut buf = [0u8; 32];
        let got = rx
            .try_recv_with(&mut buf, RecvOptions::filter(Filter::Type(ty(4))))
            .unwrap();
        assert_eq!(&buf[..got.len], b"low");
        assert_eq!(rx.try_recv(&mut buf).map(|g| g.priority), Ok(2));
        assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
        assert_eq!(created.stats().unwrap().received, 2);
    }

    #[test]
    fn records_run_out_and_come_back() {
        let name = TestName::new("records");
        let mq = NamedMessageQueue::create(&name.0, 4, 8, 2).unwrap();
        let a = mq.endpoint().unwrap();
        let b = mq.endpoint().unwrap();
        assert!(matches!(
            mq.endpoint(),
            Err(RoleError::Shared(RegisterError::TooManyParticipants {
                max: 2
            }))
        ));
        // Both holders are alive: nothing to release.
        assert_eq!(mq.release_dead(), DeadReleased::default());
        let freed = a.record_index();
        drop(a);
        assert_eq!(mq.endpoint().unwrap().record_index(), freed);
        drop(b);
    }

    #[test]
    fn another_kind_of_object_is_not_a_queue() {
        let ring = TestName::new("ring");
        let _spsc = SpscRing::<u64>::create(&ring.0, 64).unwrap();
        assert!(matches!(
            NamedMessageQueue::open(&ring.0),
            Err(OpenError::Attach(AttachError::KindMismatch { .. }))
        ));
        let sem = TestName::new("sem");
        let _sem = NamedSemaphore::create(&sem.0, 0, 1).unwrap();
        assert!(matches!(
            NamedMessageQueue::open(&sem.0),
            Err(OpenError::Shm(crate::shm::ShmError::TooSmall { .. }))
        ));
    }

    #[test]
    fn registration_is_per_process_and_ends_with_the_object() {
        let name = TestName::new("register");
        let mq = NamedMessageQueue::create(&name.0, 4, 8, 2).unwrap();
        let other = NamedMessageQueue::open(&name.0).unwrap();
        mq.notify_on_arrival(sig(), 3).unwrap();
        let me = Notification {
            pid: my_pid(),
            cookie: ArrivalSignal {
                signal: sig(),
                tag: 3,
            }
            .cookie(),
        };
        assert_eq!(other.notification(), Some(me));
        // Again: replaces the tag.
        other.notify_on_arrival(sig(), 4).unwrap();
        assert_eq!(
            mq.notification()
                .and_then(|n| ArrivalSignal::from_cookie(n.cookie)),
            Some(ArrivalSignal {
                signal: sig(),
                tag: 4
            })
        );
        assert!(mq.cancel_notification());
        assert!(!mq.cancel_notification());
        // Another process's registration makes ours busy.
        let stranger = impossible_pid();
        mq.queue()
            .register_notification(stranger, me.cookie)
            .unwrap();
        assert_eq!(
            mq.notify_on_arrival(sig(), 1),
            Err(NotificationBusy { pid: stranger })
        );
        assert!(mq.queue().cancel_notification(stranger));
        // Dropping an object ends this process's registration (mq_close).
        mq.notify_on_arrival(sig(), 5).unwrap();
        drop(mq);
        assert_eq!(other.notification(), None);
    }

    #[test]
    fn a_dead_registrant_does_not_fail_the_send() {
        let name = TestName::new("dead-registrant");
        let mq = NamedMessageQueue::create(&name.0, 4, 8, 2).unwrap();
        let gone = Notification {
            pid: impossible_pid(),
            cookie: ArrivalSignal {
                signal: sig(),
                tag: 9,
            }
            .cookie(),
        };
        mq.queue()
            .register_notification(gone.pid, gone.cookie)
            .unwrap();
        let mut tx = mq.endpoint().unwrap();
        let sent = tx.try_send(b"kept", 0, ty(1)).unwrap();
        assert!(sent.was_empty);
        assert_eq!(
            sent.notified,
            Some(Err(NotifyError {
                registration: gone,
                errno: Errno::SRCH
            }))
        );
        assert_eq!(mq.stats().unwrap().messages, 1, "the message is queued");
        assert_eq!(mq.notification(), None, "the registration is consumed");
        assert_eq!(mq.queue().notifications(), 1);
        // A second send into the non-empty queue consumes nothing.
        assert_eq!(tx.try_send(b"more", 0, ty(1)).unwrap().notified, None);
    }

    #[test]
    fn release_dead_removes_a_dead_registrants_registration() {
        let name = TestName::new("release");
        let mq = NamedMessageQueue::create(&name.0, 4, 8, 2).unwrap();
        let gone = Notification {
            pid: impossible_pid(),
            cookie: 35,
        };
        mq.queue()
            .register_notification(gone.pid, gone.cookie)
            .unwrap();
        assert_eq!(
            mq.release_dead(),
            DeadReleased {
                participants: 0,
                notification: Some(gone)
            }
        );
        assert_eq!(mq.notification(), None);
        // A live registrant's stays.
        mq.notify_on_arrival(sig(), 0).unwrap();
        assert_eq!(mq.release_dead().notification, None);
        assert!(mq.cancel_notification());
    }

    #[test]
    fn a_corrupted_registration_sends_nothing() {
        let name = TestName::new("corrupt");
        let mq = NamedMessageQueue::create(&name.0, 4, 8, 2).unwrap();
        // Our own pid with SIGKILL's number: were it sent, this test process
        // would die.
        mq.queue().register_notification(my_pid(), 9).unwrap();
        let mut tx = mq.endpoint().unwrap();
        let sent = tx.send(b"x", 0, ty(1), None).unwrap();
        assert_eq!(
            sent.notified.map(|r| r.map_err(|e| e.errno)),
            Some(Err(Errno::INVAL))
        );
    }
}
