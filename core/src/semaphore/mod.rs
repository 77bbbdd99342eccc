//! Counting semaphores in caller-provided memory: [`Semaphore`], one counter,
//! and [`SemaphoreSet`], several counters operated on together (System V's
//! `semop` with several `sembuf`s).
//!
//! # The contract
//!
//! - **Units.** A semaphore holds a value in `0..=max`, with `max` chosen at
//!   init (like `SEMVMX`, but per semaphore). [`Semaphore::post`] adds `n`
//!   units at once, or fails with [`SemaphoreError::Overflow`] (`ERANGE`)
//!   and changes nothing; [`Semaphore::try_wait`] and [`Semaphore::wait`]
//!   take `n` units all at once or none (never a partial take, so two
//!   waiters of `n` cannot each hold half and deadlock). A wait for more
//!   than `max` could never succeed and fails at once with
//!   [`SemaphoreError::InvalidCount`]; `n == 0` succeeds at once. A binary
//!   semaphore is one with `max == 1`: `post` on a posted binary semaphore
//!   fails with `Overflow` instead of being lost silently.
//! - **Zero.** [`Semaphore::wait_zero`] waits until the value is 0 (`semop`
//!   with `sem_op == 0`); a wait that brings the value to 0 wakes it. It
//!   returns once it *observes* 0: a zero that lasts only between two other
//!   operations may pass unseen.
//! - **Happens-before.** A post is a Release, a successful wait an Acquire:
//!   everything a thread (or process) wrote before `post` is visible to the
//!   thread whose wait takes any of those units (the value is changed only by
//!   read-modify-writes, so each post heads a release sequence that every
//!   later take reads from). A take is also a Release, and observing 0 in
//!   `wait_zero` an Acquire: what each taker wrote before its take is visible
//!   after `wait_zero` (the "everyone is done" pattern).
//! - **Progress.** [`Semaphore`] is lock-free: `post` and `try_wait` are one
//!   compare-and-swap that fails only when another operation changed the
//!   value. The retries are bounded ([`MAX_CAS_RETRIES`]): a peer that keeps
//!   changing the value (a hostile one, or extreme contention) makes them
//!   fail with [`SemaphoreError::Contended`], never spin forever.
//!   [`SemaphoreSet`] is **not** lock-free: its operations serialise on a
//!   small lock word in the region, held only for the O(k) check-and-apply
//!   of one call (never while sleeping, never across a call); see
//!   [`SemaphoreSet`] for the details and its limits.
//! - **Blocking.** `wait`, `wait_zero` and [`SemaphoreSet::op`] first poll
//!   (up to the spin limit, [`DEFAULT_SPIN_LIMIT`] unless set), then sleep
//!   through the [`Wait`] implementation until another operation changes the
//!   value or the timeout passes. A post calls into [`Wait`] only when
//!   someone sleeps. Wake-ups go to every sleeper of the semaphore (each
//!   re-checks its own count), so a waiter for many units can be overtaken
//!   by waiters for few, as with `semop`.
//! - **Untrusted memory.** Another process may write any bytes into the
//!   region at any time (DESIGN.md rule 3). `max` (and a set's counter count)
//!   are validated at attach and kept in the handle, never re-read; a value
//!   above `max` read later makes the call fail with `Corrupted`; all
//!   arithmetic is checked; non-blocking calls are bounded. The worst a
//!   hostile peer can cause is wrong values, errors, or (for blocking calls)
//!   waiting until the timeout.
//!
//! # Examples
//!
//! Three units posted by one thread, taken all at once by another:
//!
//! ```
//! use annulus::region::Region;
//! use annulus::semaphore::Semaphore;
//! use annulus::wait::Spin;
//! use std::time::{Duration, Instant};
//!
//! let mut region = Region::<{ Semaphore::region_size() }>::new();
//! let start = Instant::now();
//! let clock = move || start.elapsed().as_nanos() as u64;
//! // Value 0 now, at most 8.
//! let sem = Semaphore::init(region.as_uninit_mut(), 0, 8, Spin::new(clock)).unwrap();
//! std::thread::scope(|s| {
//!     s.spawn(|| {
//!         sem.post(1).unwrap();
//!         sem.post(2).unwrap();
//!     });
//!     // Returns only once all three units can be taken together.
//!     sem.wait(3, Some(Duration::from_secs(10))).unwrap();
//! });
//! assert_eq!(sem.value(), 0);
//! ```

#![allow(unsafe_code)]

pub mod robust;
pub(crate) mod set;

use core::fmt;
use core::marker::PhantomData;
use core::mem::{MaybeUninit, offset_of, size_of};
use core::ptr::NonNull;
use core::time::Duration;

#[cfg(any(test, loom))]
pub use robust::CrashPoint;
pub use robust::{
    DROP_PATIENCE, Holder, MAX_HOLDERS, RegisterHolderError, ReleaseDeadError, RobustSemaphoreSet,
    UndoReport,
};
pub use set::{MAX_COUNTERS, MAX_OPS, SemAction, SemOp, SemaphoreSet, SetOpError, TRY_LOCK_POLLS};

use crate::event::EventCount;
use crate::layout::RegionLayout;
use crate::layout::{
    AttachError, HeaderFields, Identity, Kind, LayoutError, Line, REGION_ALIGN, RegionHeader,
    Schema, attach_header, check_init_memory,
};
use crate::sync::{AtomicU32, Ordering};
use crate::wait::{Wait, deadline_after};

/// Polls a blocking call makes before it sleeps, unless changed with
/// `set_spin_limit`.
pub const DEFAULT_SPIN_LIMIT: u32 = 128;

/// How many times a non-blocking [`Semaphore`] call retries its
/// compare-and-swap before it gives up with [`SemaphoreError::Contended`].
///
/// Each failed attempt means another operation changed the value in the few
/// instructions between this call's read and its swap, so honest contention
/// practically never exhausts it; a hostile peer rewriting the value in a loop
/// does, and then the call fails instead of spinning forever.
pub const MAX_CAS_RETRIES: u32 = 128;

/// The header's schema word for semaphore regions: the counters are plain
/// `u32` values in `0..=max` (kind and layout version tell the rest).
const SCHEMA: Schema = Schema::new(u64::from_le_bytes(*b"sem:u32\0"));

/// Line 0 of both semaphore layouts: the region header and the maximum.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Control {
    pub(crate) region: RegionHeader,
    /// The largest value a counter may hold, `>= 1`. Written once by the
    /// creator before the region is published; validated at attach and kept
    /// in the handle, never re-read.
    pub(crate) max: AtomicU32,
}

/// Line 1 of a [`Semaphore`]: the value and the two event counts, together,
/// because every operation writes the value and then (to notify) reads the
/// event counts' sleeper words: one line moves per operation.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct State {
    /// The number of units, `0..=max`. Written by every post and take, only
    /// with compare-and-swap (so each post heads a release sequence).
    pub(crate) value: AtomicU32,
    /// Waiters for units sleep here; a post notifies.
    pub(crate) posted: EventCount,
    /// Waiters for zero sleep here; a take that leaves 0 notifies.
    pub(crate) zeroed: EventCount,
}

/// The shared header of a [`Semaphore`]: 256 bytes, 128-aligned.
///
/// ```text
///   0  RegionHeader (64)  max (4)                       read-only after init
/// 128  value (4)  posted event count (8)  zeroed (8)    written by every operation
/// ```
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SemaphoreHeader {
    pub(crate) control: Line<Control>,
    pub(crate) state: Line<State>,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::align_of;
    assert!(size_of::<SemaphoreHeader>() == 256);
    assert!(align_of::<SemaphoreHeader>() == 128);
    assert!(offset_of!(SemaphoreHeader, control) == 0);
    assert!(offset_of!(Control, region) == 0);
    assert!(offset_of!(Control, max) == 64);
    assert!(offset_of!(SemaphoreHeader, state) == 128);
    assert!(offset_of!(State, value) == 0);
    assert!(offset_of!(State, posted) == 4);
    assert!(offset_of!(State, zeroed) == 12);
    assert!(size_of::<AtomicU32>() == 4);
};

/// Options for creating a semaphore (or a set) in raw memory.
#[derive(Clone, Copy, Debug, Default)]
pub struct InitOptions {
    /// Creator's process id, recorded in the header for diagnostics (0 when
    /// unknown). A [`SemaphoreSet`] also records it as its lock holder until
    /// changed with [`SemaphoreSet::set_pid`].
    pub creator_pid: u32,
}

/// Why a semaphore or a set could not be laid into memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitError {
    /// The memory is misaligned or too small, or a set's counter count is
    /// outside `1..=MAX_COUNTERS` (reported as
    /// [`LayoutError::BadCapacity`]).
    Layout(LayoutError),
    /// `max` is 0: no unit could ever be posted.
    ZeroMax,
    /// An initial value exceeds `max`.
    ValueAboveMax {
        /// Which counter (0 for a single semaphore).
        index: u32,
        /// The initial value asked for.
        value: u32,
        /// The maximum asked for.
        max: u32,
    },
}

impl From<LayoutError> for InitError {
    fn from(e: LayoutError) -> Self {
        InitError::Layout(e)
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Layout(e) => fmt::Display::fmt(e, f),
            InitError::ZeroMax => f.write_str("a semaphore's maximum must be at least 1"),
            InitError::ValueAboveMax { index, value, max } => write!(
                f,
                "initial value {value} of counter {index} exceeds the maximum {max}"
            ),
        }
    }
}

impl core::error::Error for InitError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            InitError::Layout(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a [`Semaphore`] operation did not take effect. Whatever the error,
/// the value was not changed by the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SemaphoreError {
    /// A non-blocking call would have to wait (`EAGAIN`).
    WouldBlock,
    /// A blocking call's timeout passed before it could proceed (`EAGAIN`).
    Timeout,
    /// The post would raise the value above `max` (`ERANGE`).
    Overflow,
    /// A wait for more than `max` units, which could never succeed.
    InvalidCount,
    /// The value changed under the call [`MAX_CAS_RETRIES`] times in a row:
    /// extreme contention, or a peer rewriting it in a loop. Retry.
    Contended,
    /// The shared value exceeds `max`: the region is corrupted.
    Corrupted,
}

impl fmt::Display for SemaphoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SemaphoreError::WouldBlock => "not enough units (operation would block)",
            SemaphoreError::Timeout => "timed out waiting for the semaphore",
            SemaphoreError::Overflow => "post would exceed the semaphore's maximum",
            SemaphoreError::InvalidCount => "count exceeds the semaphore's maximum",
            SemaphoreError::Contended => "semaphore value kept changing; retry",
            SemaphoreError::Corrupted => "semaphore value is corrupted",
        })
    }
}

impl core::error::Error for SemaphoreError {}

/// Builds the region header a creator writes for a semaphore kind.
fn header_fields(kind: Kind, layout: RegionLayout, capacity: u32, pid: u32) -> HeaderFields {
    HeaderFields {
        kind,
        // Both fit in u32: the layouts are a few hundred bytes.
        body_offset: layout.body_offset as u32,
        region_size: layout.size as u32,
        capacity,
        elem_size: 4,
        elem_align: 4,
        schema: SCHEMA,
        creator_pid: pid,
        flags: 0,
    }
}

/// What `attach` expects a semaphore kind's header to say.
fn identity(kind: Kind) -> Identity {
    Identity {
        kind,
        elem_size: 4,
        elem_align: 4,
        schema: SCHEMA,
    }
}

/// One counting semaphore laid out in memory that lives for `'a`, with the
/// waiter `W` its blocking calls sleep and wake with.
///
/// The handle is a view: it holds no role and its `Drop` does nothing, so any
/// number of handles (in any number of processes) may use one semaphore.
/// Share it between threads by reference, or clone it when `W: Clone`.
///
/// # Examples
///
/// A binary semaphore (`max == 1`) used as a one-slot signal:
///
/// ```
/// use annulus::region::Region;
/// use annulus::semaphore::{Semaphore, SemaphoreError};
/// use annulus::wait::Spin;
///
/// let mut region = Region::<{ Semaphore::region_size() }>::new();
/// let sem = Semaphore::init(region.as_uninit_mut(), 0, 1, Spin::new(|| 0u64)).unwrap();
/// sem.post(1).unwrap();
/// assert_eq!(sem.post(1), Err(SemaphoreError::Overflow)); // already posted
/// sem.try_wait(1).unwrap();
/// assert_eq!(sem.try_wait(1), Err(SemaphoreError::WouldBlock));
/// ```
pub struct Semaphore<'a, W> {
    header: NonNull<SemaphoreHeader>,
    /// Validated at init/attach and never re-read from shared memory.
    max: u32,
    wait: W,
    spin_limit: u32,
    _region: PhantomData<&'a SemaphoreHeader>,
}

// SAFETY: the handle reaches shared state only through atomics (the header
// is `#[repr(C)]` of `AtomicU32`s), so moving it to another thread is sound
// whenever its waiter may move.
unsafe impl<W: Send> Send for Semaphore<'_, W> {}
// SAFETY: as above; every method takes `&self` and touches the region only
// through atomics, and shares `W` only by `&W`.
unsafe impl<W: Sync> Sync for Semaphore<'_, W> {}

impl<W: Clone> Clone for Semaphore<'_, W> {
    fn clone(&self) -> Self {
        Semaphore {
            header: self.header,
            max: self.max,
            wait: self.wait.clone(),
            spin_limit: self.spin_limit,
            _region: PhantomData,
        }
    }
}

impl<W> fmt::Debug for Semaphore<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// Layout queries, which need no waiter: call them as `Semaphore::layout()`.
impl Semaphore<'static, ()> {
    /// The region layout of a semaphore: 256 bytes, 128-aligned, with the
    /// value at `body_offset`.
    pub const fn layout() -> RegionLayout {
        RegionLayout {
            body_offset: offset_of!(SemaphoreHeader, state) + offset_of!(State, value),
            size: size_of::<SemaphoreHeader>(),
            align: REGION_ALIGN,
        }
    }

    /// Bytes a semaphore's region needs, for sizing a
    /// [`Region`](crate::region::Region) at compile time.
    pub const fn region_size() -> usize {
        Self::layout().size
    }
}

impl<'a, W: Wait> Semaphore<'a, W> {
    /// Lays a new semaphore holding `initial` units, at most `max`, into
    /// `region`; `wait` is what this handle sleeps and wakes with.
    ///
    /// This is the safe, in-process constructor: the semaphore borrows
    /// `region` for `'a`. Use [`Region`](crate::region::Region) for a
    /// correctly aligned buffer.
    ///
    /// # Errors
    ///
    /// [`InitError::ZeroMax`] if `max == 0`, [`InitError::ValueAboveMax`] if
    /// `initial > max`, [`InitError::Layout`] with
    /// [`LayoutError::Misaligned`] or [`LayoutError::RegionTooSmall`] for
    /// unsuitable memory.
    pub fn init(
        region: &'a mut [MaybeUninit<u8>],
        initial: u32,
        max: u32,
        wait: W,
    ) -> Result<Self, InitError> {
        let len = region.len();
        let ptr = NonNull::from(region).cast::<u8>();
        // SAFETY: `region` is exclusively borrowed for 'a, so nobody else
        // accesses it while we initialise it, and it outlives the handle.
        unsafe { Self::init_raw(ptr, len, initial, max, InitOptions::default(), wait) }
    }

    /// Lays a new semaphore into raw memory (shared memory you mapped).
    ///
    /// The header is written with its init state at "initialising" and
    /// "ready" is published last, so a concurrent [`Semaphore::attach_raw`]
    /// sees either "not ready" or the whole semaphore.
    ///
    /// # Errors
    ///
    /// As [`Semaphore::init`].
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be valid for reads and writes for `'a`. During
    /// this call no thread of this process may access the region (another
    /// process may only run `attach_raw` on it). Afterwards it may be
    /// accessed only through annulus handles.
    pub unsafe fn init_raw(
        ptr: NonNull<u8>,
        len: usize,
        initial: u32,
        max: u32,
        options: InitOptions,
        wait: W,
    ) -> Result<Self, InitError> {
        check_values(&[initial], max)?;
        let layout = Semaphore::layout();
        check_init_memory(ptr, len, layout.size)?;
        let fields = header_fields(Kind::Semaphore, layout, 1, options.creator_pid);
        let header = ptr.cast::<SemaphoreHeader>();
        // SAFETY: `ptr` is 128-aligned and valid for `layout.size ==
        // size_of::<SemaphoreHeader>()` bytes (checked above); the caller
        // guarantees exclusive access during init. `write` does not drop the
        // old (garbage) bytes.
        unsafe {
            header.write(SemaphoreHeader {
                control: Line(Control {
                    region: RegionHeader::new(&fields),
                    max: AtomicU32::new(max),
                }),
                state: Line(State {
                    value: AtomicU32::new(initial),
                    posted: EventCount::new(),
                    zeroed: EventCount::new(),
                }),
            });
        }
        // SAFETY: just written, and valid for 'a by the caller's contract.
        unsafe { header.as_ref() }.control.0.region.publish();
        Ok(Semaphore::from_parts(header, max, wait))
    }

    /// Attaches to a semaphore that another party initialised in raw memory,
    /// checking its header first; `wait` is what this handle sleeps and wakes
    /// with (use the same kind of waiter as the other parties, e.g. the
    /// process-shared futex).
    ///
    /// # Errors
    ///
    /// [`AttachError::NotReady`] while the creator is still initialising;
    /// otherwise the [`AttachError`] naming the first mismatch (a region of
    /// another kind gives [`AttachError::KindMismatch`]), or
    /// [`AttachError::Corrupted`] if `max` is 0 or the value exceeds it.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be valid for reads and writes for `'a`, hold
    /// initialised bytes, and be accessed (by this process) only through
    /// annulus handles. Another process may write anything into it at any
    /// time: that makes operations fail or return wrong values, never
    /// undefined behaviour here.
    pub unsafe fn attach_raw(ptr: NonNull<u8>, len: usize, wait: W) -> Result<Self, AttachError> {
        let layout = Semaphore::layout();
        // SAFETY: the caller's contract covers `attach_header`'s.
        let region = unsafe {
            attach_header(
                ptr,
                len,
                size_of::<SemaphoreHeader>(),
                &identity(Kind::Semaphore),
            )?
        };
        let capacity = region.capacity();
        if capacity != 1 {
            return Err(AttachError::BadCapacity { found: capacity });
        }
        region.check_geometry(len, layout.body_offset, layout.size)?;
        let header = ptr.cast::<SemaphoreHeader>();
        // SAFETY: `attach_header` checked alignment and `check_geometry` that
        // the whole header fits in `len`; valid for 'a by the caller's
        // contract; every field is an atomic, valid for any bytes.
        let hdr = unsafe { header.as_ref() };
        // Relaxed: written before READY, which `attach_header` read with
        // Acquire; a later hostile change cannot reach the handle's copy.
        let max = hdr.control.0.max.load(Ordering::Relaxed);
        // Relaxed: only a plausibility check; operations re-read it.
        if max == 0 || hdr.state.0.value.load(Ordering::Relaxed) > max {
            return Err(AttachError::Corrupted);
        }
        Ok(Semaphore::from_parts(header, max, wait))
    }

    fn from_parts(header: NonNull<SemaphoreHeader>, max: u32, wait: W) -> Self {
        Semaphore {
            header,
            max,
            wait,
            spin_limit: DEFAULT_SPIN_LIMIT,
            _region: PhantomData,
        }
    }

    /// Adds `n` units at once (`semop` with `sem_op == n`, `sem_post` for
    /// `n == 1`), and wakes the waiters if any sleep. Never blocks; `n == 0`
    /// does nothing.
    ///
    /// Everything written before the post is visible to the thread whose
    /// wait takes one of its units (a Release).
    ///
    /// # Errors
    ///
    /// [`SemaphoreError::Overflow`] if the value would exceed `max` (nothing
    /// is added); [`SemaphoreError::Contended`] if the value kept changing
    /// ([`MAX_CAS_RETRIES`]); [`SemaphoreError::Corrupted`] if the shared
    /// value exceeds `max`.
    pub fn post(&self, n: u32) -> Result<(), SemaphoreError> {
        if n == 0 {
            return Ok(());
        }
        let state = &self.hdr().state.0;
        // Relaxed: only a starting guess for the compare-and-swap, which
        // re-validates it.
        let mut current = state.value.load(Ordering::Relaxed);
        for _ in 0..MAX_CAS_RETRIES {
            if current > self.max {
                return Err(SemaphoreError::Corrupted);
            }
            let next = match current.checked_add(n) {
                Some(next) if next <= self.max => next,
                _ => return Err(SemaphoreError::Overflow),
            };
            // SYNC POINT sem post: Release on success heads a release
            // sequence that the taker's Acquire (`take`) reads from, so the
            // caller's writes before the post happen before the take
            // returns. Relaxed on failure: we only retry with the new value.
            match state
                .value
                .compare_exchange(current, next, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    // Release store done: the event count's notify contract.
                    state.posted.notify(&self.wait);
                    return Ok(());
                }
                Err(actual) => current = actual,
            }
        }
        Err(SemaphoreError::Contended)
    }

    /// Takes `n` units at once if the value holds at least `n`
    /// (`semop` with `IPC_NOWAIT`, `sem_trywait` for `n == 1`); never blocks.
    /// `n == 0` succeeds at once.
    ///
    /// # Errors
    ///
    /// [`SemaphoreError::WouldBlock`] if fewer than `n` units are there
    /// (nothing is taken); [`SemaphoreError::InvalidCount`] if `n > max`;
    /// [`SemaphoreError::Contended`]; [`SemaphoreError::Corrupted`].
    pub fn try_wait(&self, n: u32) -> Result<(), SemaphoreError> {
        if n == 0 {
            return Ok(());
        }
        if n > self.max {
            return Err(SemaphoreError::InvalidCount);
        }
        self.take(n)
    }

    /// Takes `n` units at once, waiting until the value holds at least `n`:
    /// first up to the spin limit of polls, then asleep on `W`.
    /// `timeout: None` waits forever. `n == 0` succeeds at once.
    ///
    /// # Errors
    ///
    /// [`SemaphoreError::Timeout`] if the units were not there in time
    /// (nothing is taken); [`SemaphoreError::InvalidCount`] if `n > max`
    /// (at once); [`SemaphoreError::Corrupted`].
    pub fn wait(&self, n: u32, timeout: Option<Duration>) -> Result<(), SemaphoreError> {
        if n == 0 {
            return Ok(());
        }
        if n > self.max {
            return Err(SemaphoreError::InvalidCount);
        }
        // Fast path: no clock read, no event count.
        match self.take(n) {
            Err(SemaphoreError::WouldBlock | SemaphoreError::Contended) => {}
            done => return done,
        }
        self.block(timeout, |sem| sem.take(n), &self.hdr().state.0.posted)
    }

    /// Succeeds if the value is 0 now (`semop` with `sem_op == 0` and
    /// `IPC_NOWAIT`); never blocks.
    ///
    /// Observing 0 is an Acquire: what every taker wrote before its take is
    /// visible afterwards.
    ///
    /// # Errors
    ///
    /// [`SemaphoreError::WouldBlock`] if the value is not 0;
    /// [`SemaphoreError::Corrupted`] if it exceeds `max`.
    pub fn try_wait_zero(&self) -> Result<(), SemaphoreError> {
        // SYNC POINT sem zero: Acquire pairs with the taker's AcqRel
        // compare-and-swap (`take`) that wrote 0, and through the release
        // sequence with every earlier take and post.
        match self.hdr().state.0.value.load(Ordering::Acquire) {
            0 => Ok(()),
            v if v > self.max => Err(SemaphoreError::Corrupted),
            _ => Err(SemaphoreError::WouldBlock),
        }
    }

    /// Waits until the value is 0 (`semop` with `sem_op == 0`): first up to
    /// the spin limit of polls, then asleep on `W` until a wait brings the
    /// value to 0. `timeout: None` waits forever.
    ///
    /// # Errors
    ///
    /// [`SemaphoreError::Timeout`] if the value was not seen at 0 in time;
    /// [`SemaphoreError::Corrupted`].
    pub fn wait_zero(&self, timeout: Option<Duration>) -> Result<(), SemaphoreError> {
        match self.try_wait_zero() {
            Err(SemaphoreError::WouldBlock) => {}
            done => return done,
        }
        self.block(timeout, Self::try_wait_zero, &self.hdr().state.0.zeroed)
    }

    /// Sleeps on `event` until `attempt` stops
    /// returning `WouldBlock` (or `Contended`, which is retried with the
    /// deadline checked in between), or the deadline passes.
    #[cold]
    fn block(
        &self,
        timeout: Option<Duration>,
        mut attempt: impl FnMut(&Self) -> Result<(), SemaphoreError>,
        event: &EventCount,
    ) -> Result<(), SemaphoreError> {
        let deadline = deadline_after(&self.wait, timeout);
        loop {
            let outcome =
                event.wait_until(&self.wait, self.spin_limit, deadline, || {
                    match attempt(self) {
                        Err(SemaphoreError::WouldBlock) => None,
                        other => Some(other),
                    }
                });
            match outcome {
                Ok(Err(SemaphoreError::Contended)) => {
                    // The value is changing: poll again, but not past the
                    // deadline (a hostile peer could keep this up forever).
                    if let Some(d) = deadline
                        && self.wait.now() >= d
                    {
                        return Err(SemaphoreError::Timeout);
                    }
                }
                Ok(done) => return done,
                Err(_timed_out) => return Err(SemaphoreError::Timeout),
            }
        }
    }

    /// Takes `n` (`1..=max`) units if there, with bounded retries.
    fn take(&self, n: u32) -> Result<(), SemaphoreError> {
        let state = &self.hdr().state.0;
        // Acquire: this read may decide `WouldBlock` inside a blocking poll,
        // and the event count requires its condition reads to be Acquire
        // (event.rs). On success the compare-and-swap below synchronises.
        let mut current = state.value.load(Ordering::Acquire);
        for _ in 0..MAX_CAS_RETRIES {
            if current > self.max {
                return Err(SemaphoreError::Corrupted);
            }
            let Some(next) = current.checked_sub(n) else {
                return Err(SemaphoreError::WouldBlock);
            };
            // SYNC POINT sem post: Acquire reads from a post's release
            // sequence, so the poster's writes are visible after the take.
            // SYNC POINT sem zero: Release, so a `wait_zero` that reads 0
            // (Acquire) sees this taker's writes. Acquire on failure: the
            // value read may decide `WouldBlock`, as above.
            match state
                .value
                .compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if next == 0 {
                        // Release RMW done: the event count's notify contract.
                        state.zeroed.notify(&self.wait);
                    }
                    return Ok(());
                }
                Err(actual) => current = actual,
            }
        }
        Err(SemaphoreError::Contended)
    }

    /// Polls a blocking call makes before sleeping ([`DEFAULT_SPIN_LIMIT`]
    /// unless set). 0 sleeps at once; spinning lowers latency when the poster
    /// runs on another core, and wastes it when they share one.
    pub fn set_spin_limit(&mut self, polls: u32) {
        self.spin_limit = polls;
    }

    /// The waiter this handle sleeps and wakes with.
    pub fn waiter(&self) -> &W {
        &self.wait
    }
}

impl<W> Semaphore<'_, W> {
    /// The current value, clamped to [`Semaphore::max`] (a larger one means a
    /// corrupted region). Racy: exact only while nobody posts or waits.
    pub fn value(&self) -> u32 {
        // Acquire: like a failed `try_wait`, a snapshot that is at least as
        // new as what this thread saw before; callers get no other promise.
        self.hdr()
            .state
            .0
            .value
            .load(Ordering::Acquire)
            .min(self.max)
    }

    /// The largest value the semaphore can hold (1 for a binary semaphore).
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The current spin limit.
    pub fn spin_limit(&self) -> u32 {
        self.spin_limit
    }

    /// The shared header, valid for `'a`.
    pub(crate) fn hdr(&self) -> &SemaphoreHeader {
        // SAFETY: `header` was checked (alignment, size) at init/attach and
        // the region is valid for 'a (safe init borrows it; raw init/attach
        // have it as their contract). All its fields are atomics.
        unsafe { self.header.as_ref() }
    }
}

/// Checks `max` and the initial values of a semaphore or set.
fn check_values(initial: &[u32], max: u32) -> Result<(), InitError> {
    if max == 0 {
        return Err(InitError::ZeroMax);
    }
    for (index, &value) in (0u32..).zip(initial) {
        if value > max {
            return Err(InitError::ValueAboveMax { index, value, max });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
