//! [`Readiness`]: a pollable file descriptor that becomes readable when data
//! (or units) arrive in a named object, for `epoll`, mio and tokio loops.
//!
//! The design and the loop to use it in are documented on the type.

use core::fmt;

use std::boxed::Box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use annulus::arrivals::Arrivals;
use annulus::wait::{Wait, WaitResult};
use rustix::event::{EventfdFlags, eventfd};
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use rustix::io::Errno;

use crate::Futex;
use crate::shm::Mapping;

/// A file descriptor that turns readable when something arrives in a named
/// object, for `epoll`, mio and tokio loops (it is [`AsFd`]).
///
/// Get one from [`SpscRing::readiness`](super::SpscRing::readiness) (element
/// rings and byte streams), [`MpmcRing::readiness`](super::MpmcRing::readiness),
/// [`NamedMessageQueue::readiness`](super::NamedMessageQueue::readiness) or
/// [`NamedSemaphore::readiness`](super::NamedSemaphore::readiness).
///
/// # Design
///
/// The sender usually runs in another process, so it cannot write an fd of
/// ours, and the structures must not make a system call per send just in
/// case someone polls. So the fd is an eventfd owned by the receiving
/// process, and a small *bridge thread* in that process, started only when
/// an fd is asked for, turns the structure's futex wake-ups into eventfd
/// writes. Each round the bridge announces itself on the structure's
/// "data ready" event count (the one blocked receivers sleep on), looks
/// whether a receive would find something
/// ([`Arrivals::has_arrivals`](annulus::arrivals::Arrivals::has_arrivals)),
/// writes the eventfd if so, and sleeps until the next sender's notify
/// ([`ArrivalEvent::watch`](annulus::arrivals::ArrivalEvent::watch)). It
/// never receives anything itself.
///
/// The alternatives were worse: a pipe or eventfd written by the sender
/// costs every send a system call and needs the fd passed to every sender;
/// a `signalfd` costs a signal per send and a blocked signal in every thread;
/// polling the structure on a timer adds latency and wakes the process when
/// nothing happens.
///
/// Costs: nothing at all until [`Readiness`] exists. While it does, a send
/// that finds the bridge asleep makes one `FUTEX_WAKE` (the same cost as
/// waking a blocked receiver), and the bridge one eventfd write per round
/// that saw data.
///
/// # The loop
///
/// The fd is edge-like: it turns readable after an arrival, and stays so
/// until [`Readiness::clear`]. Use it in this order:
///
/// 1. wait until the fd is readable (`epoll_wait`, `AsyncFd::readable`);
/// 2. [`Readiness::clear`] it;
/// 3. receive with the non-blocking calls (`pop`, `try_recv`, `try_wait`)
///    until they report empty;
/// 4. go back to 1.
///
/// Clearing *before* draining is what makes this lose nothing: an arrival
/// the bridge saw before the clear is in the structure when the drain runs
/// after it, and one it sees after the clear makes the fd readable again for
/// step 1. (Drain first, clear second, and an arrival between the two would
/// sit there with the fd unreadable.) A readable fd with nothing to receive
/// is normal: another receiver may have taken the data, or the bridge saw
/// it while you were draining.
///
/// Dropping the [`Readiness`] stops the bridge (a stop flag, then a wake-up
/// on the event count) and joins it before it returns.
///
/// # Examples
///
/// ```
/// use annulus_linux::named::SpscRing;
/// use rustix::buffer::spare_capacity;
/// use rustix::event::epoll;
///
/// let name = format!("doc-ready-{}", std::process::id());
/// let ring = SpscRing::<u32>::create(&name, 16).unwrap(); // process A
/// let peer = SpscRing::<u32>::open(&name).unwrap(); // process B
/// ring.named().unlink().unwrap();
/// let mut rx = ring.consumer().unwrap();
/// let ready = ring.readiness().unwrap();
///
/// let ep = epoll::create(epoll::CreateFlags::CLOEXEC).unwrap();
/// epoll::add(&ep, &ready, epoll::EventData::new_u64(1), epoll::EventFlags::IN).unwrap();
/// peer.producer().unwrap().push(7).unwrap(); // process B sends
///
/// let mut events = Vec::with_capacity(4);
/// epoll::wait(&ep, spare_capacity(&mut events), None).unwrap(); // readable
/// assert_eq!(events[0].data.u64(), 1);
/// ready.clear().unwrap(); // first clear,
/// assert_eq!(rx.pop(), Ok(7)); // then drain until empty
/// assert!(rx.pop().is_err());
/// ```
pub struct Readiness {
    fd: Arc<OwnedFd>,
    /// Set (Release) by `drop` before it wakes the bridge.
    stop: Arc<AtomicBool>,
    /// Wakes the bridge out of its sleep on the event count.
    wake: Box<dyn Fn() + Send + Sync>,
    thread: Option<JoinHandle<()>>,
}

/// What a bridge thread owns: the view and the mapping that keeps it valid.
struct Watched<V> {
    view: V,
    /// Keeps the memory `view` points into mapped while the bridge runs,
    /// even if the named object is dropped first.
    _mapping: Arc<Mapping>,
}

impl Readiness {
    /// Creates the eventfd and starts the bridge thread watching `view`,
    /// which points into `mapping`. With `check_peers`, the bridge also
    /// wakes every [`WATCH_SLICE`](super::WATCH_SLICE) and calls it (to
    /// release a dead sender, whose close is then an arrival).
    pub(crate) fn spawn<V>(
        view: V,
        mapping: Arc<Mapping>,
        check_peers: Option<fn(&V)>,
    ) -> std::io::Result<Readiness>
    where
        V: Arrivals + Send + Sync + 'static,
    {
        let fd = Arc::new(eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?);
        let stop = Arc::new(AtomicBool::new(false));
        let watched = Arc::new(Watched {
            view,
            _mapping: mapping,
        });
        let thread = {
            let (watched, fd, stop) = (Arc::clone(&watched), Arc::clone(&fd), Arc::clone(&stop));
            std::thread::Builder::new()
                .name("annulus-ready".into())
                .spawn(move || bridge(&watched.view, &fd, &stop, check_peers))?
        };
        let wake = Box::new(move || watched.view.arrival_event().wake_watchers(&Futex));
        Ok(Readiness {
            fd,
            stop,
            wake,
            thread: Some(thread),
        })
    }

    /// Reads the eventfd, making it unreadable until the next arrival:
    /// step 2 of [the loop](Readiness#the-loop). Returns whether it was
    /// readable. Never blocks.
    ///
    /// # Errors
    ///
    /// What `read` reports other than `EAGAIN` (nothing, for an eventfd in
    /// practice).
    pub fn clear(&self) -> Result<bool, Errno> {
        let mut count = [0u8; 8];
        match rustix::io::read(&*self.fd, &mut count) {
            Ok(_) => Ok(true),
            Err(Errno::AGAIN) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The bridge: one watch round after another until stopped.
fn bridge<V: Arrivals>(view: &V, fd: &OwnedFd, stop: &AtomicBool, check_peers: Option<fn(&V)>) {
    let event = view.arrival_event();
    loop {
        let deadline = check_peers.map(|_| Futex.now().saturating_add(slice_nanos()));
        let mut stopping = false;
        let result = event.watch(&Futex, deadline, || {
            // SYNC POINT readiness stop: Acquire pairs with `drop`'s Release
            // store; the watch's own key load pairs with the wake's bump, so
            // a stop either shows here or ends the sleep (arrivals.rs).
            stopping = stop.load(Ordering::Acquire);
            if !stopping && view.has_arrivals() {
                signal(fd);
            }
            !stopping
        });
        if stopping {
            return;
        }
        if result == WaitResult::TimedOut
            && let Some(check) = check_peers
        {
            check(view);
        }
    }
}

fn slice_nanos() -> u64 {
    u64::try_from(super::WATCH_SLICE.as_nanos()).unwrap_or(u64::MAX)
}

/// Adds 1 to the eventfd's counter, making it readable.
fn signal(fd: &OwnedFd) {
    match rustix::io::write(fd, &1u64.to_ne_bytes()) {
        // AGAIN: the counter is at its maximum, so the fd is readable.
        Ok(_) | Err(Errno::AGAIN) => {}
        Err(e) => debug_assert!(false, "eventfd write failed: {e:?}"),
    }
}

impl AsFd for Readiness {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Readiness {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field("fd", &self.fd.as_raw_fd())
            .finish_non_exhaustive()
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        // SYNC POINT readiness stop: Release, before the wake's bump.
        self.stop.store(true, Ordering::Release);
        (self.wake)();
        if let Some(thread) = self.thread.take() {
            // A bridge that panicked has nothing left to clean up.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests;
