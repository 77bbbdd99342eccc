//! [`SemaphoreSet`]: several counters in one region, changed together by
//! all-or-nothing operations, like System V's `semop` with several `sembuf`s.
//!
//! Layout (offsets in bytes):
//!
//! ```text
//!   0  RegionHeader (64)  max (4)                            read-only after init
//! 128  lock (4)  holder pid (4)  changed event count (8)     written by every operation
//! 144  counters: MAX_COUNTERS × u32 (the first `count` used)
//! 512
//! ```
//!
//! The lock and the first 28 counters share a line, so an operation on them
//! moves one line. The region has room for [`MAX_COUNTERS`] counters whatever
//! the count, so every index below the count (validated at attach, kept in the
//! handle) lies inside it.
//!
//! The lock is a three-state futex mutex (std's `mutex/futex.rs`): `UNLOCKED`,
//! `LOCKED`, `CONTENDED` (locked, and someone may sleep on the word). It is
//! held only to check and apply one call's operations, O(k) steps with no
//! call into the waiter inside, and never while sleeping: a call whose
//! operations cannot all proceed releases it, then sleeps on the `changed`
//! event count, which every call that changes a counter notifies after
//! unlocking.
//!
//! Happens-before (the one promise of this module): the counters are read and
//! written only under the lock, so each call's check-and-apply happens after
//! every earlier one (unlock is a Release, lock an Acquire). In particular
//! what a thread wrote before a call that posts happens before a later call
//! that takes those units, or sees a counter at zero, returns.

use core::fmt;
use core::marker::PhantomData;
use core::mem::{MaybeUninit, offset_of, size_of};
use core::ptr::NonNull;
use core::time::Duration;

use super::{Control, DEFAULT_SPIN_LIMIT, InitError, InitOptions, check_values, header_fields};
use crate::event::{EventCount, TimedOut};
use crate::layout::RegionLayout;
use crate::layout::{
    AttachError, Kind, LayoutError, Line, REGION_ALIGN, RegionHeader, attach_header,
    check_init_memory,
};
use crate::sync::{AtomicU32, Ordering, spin_hint};
use crate::wait::{Wait, WaitResult, deadline_after};

/// Most counters in one set (like `SEMMSL`).
pub const MAX_COUNTERS: u32 = 64;

/// Most operations in one call (like `SEMOPM`).
pub const MAX_OPS: usize = 64;

/// How many times [`SemaphoreSet::try_op`] (and
/// [`SemaphoreSet::try_snapshot`]) polls a held lock before it gives up with
/// [`SetOpError::Contended`].
pub const TRY_LOCK_POLLS: u32 = 128;

/// Lock state: free.
pub(crate) const UNLOCKED: u32 = 0;
/// Lock state: held, nobody sleeps on the word.
const LOCKED: u32 = 1;
/// Lock state: held, and someone may sleep on the word (unlock must wake).
const CONTENDED: u32 = 2;
/// Polls of a held lock before a blocking call sleeps on it. One under loom:
/// the polls are only a latency optimisation, and each would multiply the
/// interleavings a model explores without reaching new states.
const LOCK_SPINS: u32 = if cfg!(loom) { 1 } else { 100 };

/// Line 1 of a [`SemaphoreSet`].
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SetState {
    /// `UNLOCKED`, `LOCKED` or `CONTENDED`; any other value (a hostile
    /// write) reads as held. The futex word of the lock.
    pub(crate) lock: AtomicU32,
    /// Pid of the lock's holder (0: none or unknown). Written by the holder
    /// right after locking and cleared before unlocking, for liveness tools
    /// that find a holder dead.
    pub(crate) holder: AtomicU32,
    /// Callers whose operations cannot proceed sleep here; every call that
    /// changes a counter notifies after unlocking.
    pub(crate) changed: EventCount,
    /// The counters, `0..=max` each.
    ///
    /// # Safety
    ///
    /// Read and written only under the lock (but for the racy
    /// [`SemaphoreSet::value`] peek); atomics only because another process
    /// may write any bytes at any time.
    pub(crate) counters: [AtomicU32; MAX_COUNTERS as usize],
}

/// The shared header of a [`SemaphoreSet`]: 512 bytes, 128-aligned.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct SetHeader {
    pub(crate) control: Line<Control>,
    pub(crate) state: Line<SetState>,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::align_of;
    assert!(size_of::<SetHeader>() == 512);
    assert!(align_of::<SetHeader>() == 128);
    assert!(offset_of!(SetHeader, control) == 0);
    assert!(offset_of!(Control, max) == 64);
    assert!(offset_of!(SetHeader, state) == 128);
    assert!(offset_of!(SetState, lock) == 0);
    assert!(offset_of!(SetState, holder) == 4);
    assert!(offset_of!(SetState, changed) == 8);
    assert!(offset_of!(SetState, counters) == 16);
};

/// What one operation does to its counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SemAction {
    /// Take `n` units (`sem_op == -n`); blocks while fewer are there.
    /// `n` may not exceed the set's `max`.
    Wait(u32),
    /// Add `n` units (`sem_op == n`); fails the whole call with
    /// [`SetOpError::Overflow`] if the counter would exceed `max`.
    Post(u32),
    /// Proceed only while the counter is 0 (`sem_op == 0`).
    WaitZero,
}

/// One operation of a [`SemaphoreSet::op`] call: an action on counter
/// `index` (a `sembuf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SemOp {
    /// Which counter, `0..count`.
    pub index: u32,
    /// What to do to it.
    pub action: SemAction,
}

impl SemOp {
    /// Take `n` units from counter `index`.
    pub const fn wait(index: u32, n: u32) -> SemOp {
        SemOp {
            index,
            action: SemAction::Wait(n),
        }
    }

    /// Add `n` units to counter `index`.
    pub const fn post(index: u32, n: u32) -> SemOp {
        SemOp {
            index,
            action: SemAction::Post(n),
        }
    }

    /// Require counter `index` to be 0.
    pub const fn wait_zero(index: u32) -> SemOp {
        SemOp {
            index,
            action: SemAction::WaitZero,
        }
    }
}

/// Why a [`SemaphoreSet`] call did not take effect. Whatever the error, no
/// counter was changed by the call. `op` is the position of the offending
/// operation in the slice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetOpError {
    /// [`SemaphoreSet::try_op`]: some operation would have to wait (`EAGAIN`).
    WouldBlock,
    /// [`SemaphoreSet::op`]: the timeout passed before all operations could
    /// proceed together (or before the lock could be taken).
    Timeout,
    /// A post would raise its counter above `max` (`ERANGE`).
    Overflow {
        /// Position of the post in the slice.
        op: usize,
    },
    /// A wait for more than `max` units, which could never succeed.
    InvalidCount {
        /// Position of the wait in the slice.
        op: usize,
    },
    /// An index not below the set's count (`EFBIG`).
    IndexOutOfRange {
        /// Position of the operation in the slice.
        op: usize,
        /// The index it names.
        index: u32,
    },
    /// More than [`MAX_OPS`] operations in one call (`E2BIG`).
    TooManyOps {
        /// How many were given.
        len: usize,
    },
    /// The lock stayed held for [`TRY_LOCK_POLLS`] polls: another call was
    /// in progress, or a peer holds the lock without releasing it (dead or
    /// hostile; see [`SemaphoreSet::lock_holder`]). Retry.
    Contended,
    /// A counter holds more than `max`: the region is corrupted.
    Corrupted {
        /// The counter.
        index: u32,
    },
    /// A [`Holder`](super::Holder)'s undo adjustment for the counter of
    /// operation `op` would leave the `i32` range (like `semadj` past its
    /// limit, `ERANGE`).
    AdjustOverflow {
        /// Position of the operation in the slice.
        op: usize,
    },
    /// A [`RobustSemaphoreSet`](super::RobustSemaphoreSet)'s lock word or
    /// journal holds what no annulus writer produces, or the lock was taken
    /// from this live caller: the region is corrupted (the journal is
    /// cleared, so the next call proceeds).
    StateCorrupted,
}

impl fmt::Display for SetOpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetOpError::WouldBlock => f.write_str("operations would block"),
            SetOpError::Timeout => f.write_str("timed out waiting for the semaphore set"),
            SetOpError::Overflow { op } => {
                write!(f, "operation {op} would exceed the counter's maximum")
            }
            SetOpError::InvalidCount { op } => {
                write!(f, "operation {op} waits for more than the maximum")
            }
            SetOpError::IndexOutOfRange { op, index } => {
                write!(
                    f,
                    "operation {op} names counter {index}, past the set's end"
                )
            }
            SetOpError::TooManyOps { len } => {
                write!(f, "{len} operations in one call, at most {MAX_OPS} allowed")
            }
            SetOpError::Contended => f.write_str("semaphore set is locked; retry"),
            SetOpError::Corrupted { index } => write!(f, "counter {index} is corrupted"),
            SetOpError::AdjustOverflow { op } => {
                write!(
                    f,
                    "operation {op} would overflow the holder's undo adjustment"
                )
            }
            SetOpError::StateCorrupted => {
                f.write_str("the robust set's lock or journal is corrupted")
            }
        }
    }
}

impl core::error::Error for SetOpError {}

/// Several counting semaphores in one region (`Kind::SemaphoreSet`), changed
/// together by all-or-nothing operations: a System V semaphore set.
///
/// A call ([`SemaphoreSet::op`], [`SemaphoreSet::try_op`]) names up to
/// [`MAX_OPS`] operations ([`SemOp`]). They are checked in order against the
/// counters as the earlier operations of the same call left them (so an index
/// may appear more than once: "wait for zero, then post 1" is a lock); if all
/// can proceed they are all applied, atomically with respect to every other
/// call; otherwise none is.
///
/// # Progress and limits
///
/// - **Not lock-free.** Calls serialise on a lock word in the region, held
///   for a bounded number of steps (the O(k) check-and-apply of one call,
///   no system call inside) and never while sleeping. A holder that is
///   preempted delays the others; one that dies holding it (a crashed
///   process) blocks `op` until its timeout and makes `try_op` fail with
///   [`SetOpError::Contended`]. The holder's pid is recorded
///   ([`SemaphoreSet::lock_holder`]) for liveness recovery.
/// - **`try_op` never sleeps** and returns within a bounded number of steps:
///   it polls a held lock at most [`TRY_LOCK_POLLS`] times.
/// - **Limits.** 1 to [`MAX_COUNTERS`] counters per set (`SEMMSL`), at most
///   [`MAX_OPS`] operations per call (`SEMOPM`), values `0..=max` with `max`
///   (`1..=u32::MAX`) chosen at init (`SEMVMX`). Violations are typed errors,
///   checked before the lock is taken.
///
/// The handle is a view with no role and a no-op `Drop`; share it between
/// threads by reference, or clone it when `W: Clone`.
///
/// # Examples
///
/// ```
/// use annulus::region::Region;
/// use annulus::semaphore::{SemOp, SemaphoreSet, SetOpError};
/// use annulus::wait::Spin;
///
/// // Two counters, "free" (4) and "filled" (0), each at most 4.
/// let mut region = Region::<{ SemaphoreSet::region_size(2) }>::new();
/// let set = SemaphoreSet::init(region.as_uninit_mut(), &[4, 0], 4, Spin::new(|| 0u64)).unwrap();
/// // Move one unit from "free" to "filled", atomically.
/// set.try_op(&[SemOp::wait(0, 1), SemOp::post(1, 1)]).unwrap();
/// assert_eq!((set.value(0), set.value(1)), (Some(3), Some(1)));
/// // All or nothing: "filled" has 1 unit, not 2, so nothing is taken from "free".
/// assert_eq!(
///     set.try_op(&[SemOp::wait(0, 1), SemOp::wait(1, 2)]),
///     Err(SetOpError::WouldBlock)
/// );
/// assert_eq!(set.value(0), Some(3));
/// ```
pub struct SemaphoreSet<'a, W> {
    header: NonNull<SetHeader>,
    /// Validated at init/attach and never re-read from shared memory.
    count: u32,
    /// Validated at init/attach and never re-read from shared memory.
    max: u32,
    /// Recorded as the lock holder.
    pid: u32,
    wait: W,
    spin_limit: u32,
    _region: PhantomData<&'a SetHeader>,
}

// SAFETY: the handle reaches shared state only through atomics (the header
// is `#[repr(C)]` of `AtomicU32`s), so moving it to another thread is sound
// whenever its waiter may move.
unsafe impl<W: Send> Send for SemaphoreSet<'_, W> {}
// SAFETY: as above; every method that touches the region takes `&self` and
// uses only atomics, and shares `W` only by `&W`.
unsafe impl<W: Sync> Sync for SemaphoreSet<'_, W> {}

impl<W: Clone> Clone for SemaphoreSet<'_, W> {
    fn clone(&self) -> Self {
        SemaphoreSet {
            header: self.header,
            count: self.count,
            max: self.max,
            pid: self.pid,
            wait: self.wait.clone(),
            spin_limit: self.spin_limit,
            _region: PhantomData,
        }
    }
}

impl<W> fmt::Debug for SemaphoreSet<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreSet")
            .field("count", &self.count)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

/// Layout queries, which need no waiter: call them as
/// `SemaphoreSet::layout(count)`.
impl SemaphoreSet<'static, ()> {
    /// The region layout of a set of `count` counters: 512 bytes whatever the
    /// count, 128-aligned, with the counters at `body_offset`.
    ///
    /// # Errors
    ///
    /// [`LayoutError::BadCapacity`] unless `count` is in `1..=MAX_COUNTERS`.
    pub const fn layout(count: u32) -> Result<RegionLayout, LayoutError> {
        if count == 0 || count > MAX_COUNTERS {
            return Err(LayoutError::BadCapacity { capacity: count });
        }
        Ok(RegionLayout {
            body_offset: offset_of!(SetHeader, state) + offset_of!(SetState, counters),
            size: size_of::<SetHeader>(),
            align: REGION_ALIGN,
        })
    }

    /// Bytes a set of `count` counters needs, for sizing a
    /// [`Region`](crate::region::Region) at compile time.
    ///
    /// # Panics
    ///
    /// If `count` is not in `1..=MAX_COUNTERS` (at compile time when used in
    /// a const context).
    pub const fn region_size(count: u32) -> usize {
        match Self::layout(count) {
            Ok(layout) => layout.size,
            Err(_) => panic!("a semaphore set has 1..=MAX_COUNTERS counters"),
        }
    }
}

impl<'a, W: Wait> SemaphoreSet<'a, W> {
    /// Lays a new set into `region`, one counter per value of `initial`
    /// (its starting value), each at most `max`; `wait` is what this handle
    /// sleeps and wakes with.
    ///
    /// This is the safe, in-process constructor: the set borrows `region` for
    /// `'a`.
    ///
    /// # Errors
    ///
    /// [`InitError::Layout`] with [`LayoutError::BadCapacity`] unless
    /// `initial.len()` is in `1..=MAX_COUNTERS`, or with
    /// [`LayoutError::Misaligned`] / [`LayoutError::RegionTooSmall`] for
    /// unsuitable memory; [`InitError::ZeroMax`];
    /// [`InitError::ValueAboveMax`].
    pub fn init(
        region: &'a mut [MaybeUninit<u8>],
        initial: &[u32],
        max: u32,
        wait: W,
    ) -> Result<Self, InitError> {
        let len = region.len();
        let ptr = NonNull::from(region).cast::<u8>();
        // SAFETY: `region` is exclusively borrowed for 'a, so nobody else
        // accesses it while we initialise it, and it outlives the handle.
        unsafe { Self::init_raw(ptr, len, initial, max, InitOptions::default(), wait) }
    }

    /// Lays a new set into raw memory (shared memory you mapped); see
    /// [`SemaphoreSet::init`]. "Ready" is published last, so a concurrent
    /// [`SemaphoreSet::attach_raw`] sees either "not ready" or the whole set.
    ///
    /// # Errors
    ///
    /// As [`SemaphoreSet::init`].
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
        initial: &[u32],
        max: u32,
        options: InitOptions,
        wait: W,
    ) -> Result<Self, InitError> {
        let count = u32::try_from(initial.len()).unwrap_or(u32::MAX);
        let layout = SemaphoreSet::layout(count)?;
        check_values(initial, max)?;
        check_init_memory(ptr, len, layout.size)?;
        let fields = header_fields(Kind::SemaphoreSet, layout, count, options.creator_pid);
        let header = ptr.cast::<SetHeader>();
        // SAFETY: `ptr` is 128-aligned and valid for `layout.size ==
        // size_of::<SetHeader>()` bytes (checked above); the caller
        // guarantees exclusive access during init. `write` does not drop the
        // old (garbage) bytes.
        unsafe {
            header.write(SetHeader {
                control: Line(Control {
                    region: RegionHeader::new(&fields),
                    max: AtomicU32::new(max),
                }),
                state: Line(SetState {
                    lock: AtomicU32::new(UNLOCKED),
                    holder: AtomicU32::new(0),
                    changed: EventCount::new(),
                    counters: core::array::from_fn(|i| {
                        AtomicU32::new(initial.get(i).copied().unwrap_or(0))
                    }),
                }),
            });
        }
        // SAFETY: just written, and valid for 'a by the caller's contract.
        unsafe { header.as_ref() }.control.0.region.publish();
        Ok(SemaphoreSet::from_parts(
            header,
            count,
            max,
            options.creator_pid,
            wait,
        ))
    }

    /// Attaches to a set that another party initialised in raw memory,
    /// checking its header first. The lock holder pid this handle records is
    /// 0 until set with [`SemaphoreSet::set_pid`].
    ///
    /// # Errors
    ///
    /// [`AttachError::NotReady`] while the creator is still initialising;
    /// otherwise the [`AttachError`] naming the first mismatch (another kind
    /// of region gives [`AttachError::KindMismatch`], a count outside
    /// `1..=MAX_COUNTERS` [`AttachError::BadCapacity`]), or
    /// [`AttachError::Corrupted`] if `max` is 0 or a counter exceeds it.
    ///
    /// # Safety
    ///
    /// `ptr..ptr + len` must be valid for reads and writes for `'a`, hold
    /// initialised bytes, and be accessed (by this process) only through
    /// annulus handles. Another process may write anything into it at any
    /// time: that makes operations fail, block until their timeout, or
    /// produce wrong values, never undefined behaviour here.
    pub unsafe fn attach_raw(ptr: NonNull<u8>, len: usize, wait: W) -> Result<Self, AttachError> {
        // SAFETY: the caller's contract covers `attach_header`'s.
        let region = unsafe {
            attach_header(
                ptr,
                len,
                size_of::<SetHeader>(),
                &super::identity(Kind::SemaphoreSet),
            )?
        };
        let count = region.capacity();
        let layout =
            SemaphoreSet::layout(count).map_err(|_| AttachError::BadCapacity { found: count })?;
        region.check_geometry(len, layout.body_offset, layout.size)?;
        let header = ptr.cast::<SetHeader>();
        // SAFETY: `attach_header` checked alignment and `check_geometry` that
        // the whole header fits in `len`; valid for 'a by the caller's
        // contract; every field is an atomic, valid for any bytes.
        let hdr = unsafe { header.as_ref() };
        // Relaxed: written before READY, which `attach_header` read with
        // Acquire; a later hostile change cannot reach the handle's copy.
        let max = hdr.control.0.max.load(Ordering::Relaxed);
        // Relaxed: only a plausibility check; operations re-read under the lock.
        let counters = &hdr.state.0.counters[..count as usize];
        if max == 0 || counters.iter().any(|c| c.load(Ordering::Relaxed) > max) {
            return Err(AttachError::Corrupted);
        }
        Ok(SemaphoreSet::from_parts(header, count, max, 0, wait))
    }

    fn from_parts(header: NonNull<SetHeader>, count: u32, max: u32, pid: u32, wait: W) -> Self {
        SemaphoreSet {
            header,
            count,
            max,
            pid,
            wait,
            spin_limit: DEFAULT_SPIN_LIMIT,
            _region: PhantomData,
        }
    }

    /// Applies all of `ops` at once, or none: if any cannot proceed now,
    /// changes nothing and returns [`SetOpError::WouldBlock`] (`semop` with
    /// `IPC_NOWAIT`). Never sleeps; bounded (see [`TRY_LOCK_POLLS`]). An
    /// empty `ops` succeeds at once.
    ///
    /// # Errors
    ///
    /// [`SetOpError::WouldBlock`]; [`SetOpError::Contended`] if the lock
    /// stayed held; [`SetOpError::Overflow`] if a post would exceed `max`;
    /// [`SetOpError::InvalidCount`], [`SetOpError::IndexOutOfRange`],
    /// [`SetOpError::TooManyOps`] for operations that can never succeed
    /// (checked first); [`SetOpError::Corrupted`].
    pub fn try_op(&self, ops: &[SemOp]) -> Result<(), SetOpError> {
        self.validate(ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        if !self.try_lock(TRY_LOCK_POLLS) {
            return Err(SetOpError::Contended);
        }
        self.apply_and_unlock(ops)
    }

    /// Applies all of `ops` at once, waiting until all can proceed together
    /// (`semop`): first up to the spin limit of polls, then asleep on `W`
    /// until another call changes a counter. `timeout: None` waits forever.
    /// An empty `ops` succeeds at once.
    ///
    /// # Errors
    ///
    /// [`SetOpError::Timeout`] (nothing applied); [`SetOpError::Overflow`]
    /// at once if a post would exceed `max` (like `ERANGE`, an error, not a
    /// reason to wait); [`SetOpError::InvalidCount`],
    /// [`SetOpError::IndexOutOfRange`], [`SetOpError::TooManyOps`] at once;
    /// [`SetOpError::Corrupted`].
    pub fn op(&self, ops: &[SemOp], timeout: Option<Duration>) -> Result<(), SetOpError> {
        self.validate(ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        // Fast path: one try at the lock, no clock read, no event count.
        if self.try_lock(1) {
            match self.apply_and_unlock(ops) {
                Err(SetOpError::WouldBlock) => {}
                done => return done,
            }
        }
        self.block(ops, timeout)
    }

    #[cold]
    fn block(&self, ops: &[SemOp], timeout: Option<Duration>) -> Result<(), SetOpError> {
        let deadline = deadline_after(&self.wait, timeout);
        let outcome =
            self.state()
                .changed
                .wait_until(&self.wait, self.spin_limit, deadline, || {
                    if self.lock(deadline).is_err() {
                        return Some(Err(SetOpError::Timeout));
                    }
                    match self.apply_and_unlock(ops) {
                        Err(SetOpError::WouldBlock) => None,
                        done => Some(done),
                    }
                });
        outcome.unwrap_or(Err(SetOpError::Timeout))
    }

    /// Copies the first `out.len()` counters (at most `count`) as they stand
    /// together at one instant (under the lock, like `semctl(GETALL)`);
    /// returns how many were copied. Never sleeps; bounded.
    ///
    /// # Errors
    ///
    /// [`SetOpError::Contended`] if the lock stayed held;
    /// [`SetOpError::Corrupted`] if a counter exceeds `max`.
    pub fn try_snapshot(&self, out: &mut [u32]) -> Result<usize, SetOpError> {
        if !self.try_lock(TRY_LOCK_POLLS) {
            return Err(SetOpError::Contended);
        }
        let mut result = Ok(0);
        for (index, (slot, counter)) in (0u32..).zip(out.iter_mut().zip(self.counters())) {
            // Relaxed: under the lock, whose Acquire ordered this after the
            // previous holder's writes.
            let value = counter.load(Ordering::Relaxed);
            if value > self.max {
                result = Err(SetOpError::Corrupted { index });
                break;
            }
            *slot = value;
            result = Ok(index as usize + 1);
        }
        self.unlock();
        result
    }

    /// Records `pid` as this handle's process id, written into the lock's
    /// holder field while this handle holds the lock (0: unknown).
    pub fn set_pid(&mut self, pid: u32) {
        self.pid = pid;
    }

    /// Polls a blocking call makes before sleeping ([`DEFAULT_SPIN_LIMIT`]
    /// unless set). 0 sleeps at once.
    pub fn set_spin_limit(&mut self, polls: u32) {
        self.spin_limit = polls;
    }

    /// The waiter this handle sleeps and wakes with.
    pub fn waiter(&self) -> &W {
        &self.wait
    }

    /// Checks `ops` against the handle's own copies of the count and `max`
    /// (never the shared memory).
    fn validate(&self, ops: &[SemOp]) -> Result<(), SetOpError> {
        validate_ops(ops, self.count, self.max)
    }

    /// Checks `ops` (validated) in order against the counters and applies
    /// them all if they all proceed; returns whether a counter changed.
    /// Call with the lock held.
    fn apply_locked(&self, ops: &[SemOp]) -> Result<bool, SetOpError> {
        let counters = &self.state().counters;
        // The counters as this call's earlier operations leave them.
        let mut values = [0u32; MAX_COUNTERS as usize];
        let mut read = 0u64;
        let mut written = 0u64;
        for (op, sem_op) in ops.iter().enumerate() {
            // `validate` checked index < count <= MAX_COUNTERS.
            let index = sem_op.index as usize;
            let bit = 1u64 << index;
            if read & bit == 0 {
                // Relaxed: under the lock, whose Acquire ordered this after
                // the previous holder's writes.
                let value = counters[index].load(Ordering::Relaxed);
                if value > self.max {
                    return Err(SetOpError::Corrupted {
                        index: sem_op.index,
                    });
                }
                values[index] = value;
                read |= bit;
            }
            let value = &mut values[index];
            match sem_op.action {
                SemAction::Wait(n) => {
                    *value = value.checked_sub(n).ok_or(SetOpError::WouldBlock)?;
                    if n != 0 {
                        written |= bit;
                    }
                }
                SemAction::Post(n) => {
                    *value = match value.checked_add(n) {
                        Some(v) if v <= self.max => v,
                        _ => return Err(SetOpError::Overflow { op }),
                    };
                    if n != 0 {
                        written |= bit;
                    }
                }
                SemAction::WaitZero if *value != 0 => return Err(SetOpError::WouldBlock),
                SemAction::WaitZero => {}
            }
        }
        for (index, (counter, value)) in counters.iter().zip(values).enumerate() {
            if written & (1u64 << index) != 0 {
                // SYNC POINT set peek: Release, so a `value` peek (Acquire)
                // that reads it sees what this call's caller wrote before.
                // Other calls are ordered by the lock, not by this store.
                counter.store(value, Ordering::Release);
            }
        }
        Ok(written != 0)
    }

    fn apply_and_unlock(&self, ops: &[SemOp]) -> Result<(), SetOpError> {
        let applied = self.apply_locked(ops);
        self.unlock();
        let changed = applied?;
        if changed {
            // After the unlock (a Release): the event count's notify contract,
            // and no waker ever runs inside the lock.
            self.state().changed.notify(&self.wait);
        }
        Ok(())
    }

    /// Takes the lock if it is free, polling up to `polls` times (>= 1).
    fn try_lock(&self, polls: u32) -> bool {
        let lock = &self.state().lock;
        for attempt in 0..polls {
            if attempt != 0 {
                spin_hint();
            }
            // Relaxed peek first (test-and-test-and-set): no write to the
            // line while it is held. SYNC POINT set lock: Acquire on success
            // pairs with the previous holder's Release in `unlock`.
            if lock.load(Ordering::Relaxed) == UNLOCKED
                && lock
                    .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                self.record_holder();
                return true;
            }
        }
        false
    }

    /// Takes the lock, sleeping on it while held, until `deadline`.
    fn lock(&self, deadline: Option<u64>) -> Result<(), TimedOut> {
        if self.try_lock(1) {
            return Ok(());
        }
        self.lock_contended(deadline)
    }

    #[cold]
    fn lock_contended(&self, deadline: Option<u64>) -> Result<(), TimedOut> {
        let lock = &self.state().lock;
        let mut state = self.spin_while_locked();
        // SYNC POINT set lock: Acquire pairs with `unlock`'s Release.
        if state == UNLOCKED
            && lock
                .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            self.record_holder();
            return Ok(());
        }
        loop {
            // Mark the lock contended so its holder wakes us; if it was free
            // meanwhile we own it (still marked contended: a spare wake at
            // worst). SYNC POINT set lock: Acquire pairs with `unlock`.
            if state != CONTENDED && lock.swap(CONTENDED, Ordering::Acquire) == UNLOCKED {
                self.record_holder();
                return Ok(());
            }
            if let Some(d) = deadline
                && self.wait.now() >= d
            {
                return Err(TimedOut);
            }
            // Sleeps only while the word still says CONTENDED (the futex
            // check), so an unlock between the swap and here is not lost.
            let _: WaitResult = self.wait.wait(lock, CONTENDED, deadline);
            state = self.spin_while_locked();
        }
    }

    /// Polls a held, uncontended lock a bounded number of times; returns the
    /// last state seen.
    fn spin_while_locked(&self) -> u32 {
        let lock = &self.state().lock;
        let mut spins = LOCK_SPINS;
        loop {
            // Relaxed: a hint; whoever takes the lock does so with Acquire.
            let state = lock.load(Ordering::Relaxed);
            if state != LOCKED || spins == 0 {
                return state;
            }
            spin_hint();
            spins -= 1;
        }
    }

    fn record_holder(&self) {
        // Relaxed: advisory, for liveness tools; inside the critical section.
        self.state().holder.store(self.pid, Ordering::Relaxed);
    }

    fn unlock(&self) {
        let state = self.state();
        // Relaxed: advisory, still inside the critical section.
        state.holder.store(0, Ordering::Relaxed);
        // SYNC POINT set lock: Release pairs with the next locker's Acquire,
        // so this call's counter writes happen before its check. Wake one
        // sleeper if the word said someone may sleep (CONTENDED, or garbage
        // a peer wrote: a spare wake is harmless).
        if state.lock.swap(UNLOCKED, Ordering::Release) != LOCKED {
            self.wait.wake(&state.lock, 1);
        }
    }
}

/// Checks `ops` against a set's count and `max` (the handle's own copies,
/// never the shared memory): what can never succeed fails here, before any
/// lock is taken.
pub(super) fn validate_ops(ops: &[SemOp], count: u32, max: u32) -> Result<(), SetOpError> {
    if ops.len() > MAX_OPS {
        return Err(SetOpError::TooManyOps { len: ops.len() });
    }
    for (op, sem_op) in ops.iter().enumerate() {
        if sem_op.index >= count {
            return Err(SetOpError::IndexOutOfRange {
                op,
                index: sem_op.index,
            });
        }
        match sem_op.action {
            SemAction::Wait(n) if n > max => return Err(SetOpError::InvalidCount { op }),
            SemAction::Post(n) if n > max => return Err(SetOpError::Overflow { op }),
            _ => {}
        }
    }
    Ok(())
}

impl<W> SemaphoreSet<'_, W> {
    /// Counter `index`'s value, clamped to [`SemaphoreSet::max`] (a larger
    /// one means a corrupted region); `None` if `index >= count`. Racy and
    /// lock-free: use [`SemaphoreSet::try_snapshot`] for counters that agree
    /// with each other.
    pub fn value(&self, index: u32) -> Option<u32> {
        let counter = self.counters().get(index as usize)?;
        // SYNC POINT set peek: Acquire pairs with the Release store of the
        // call that wrote the value.
        Some(counter.load(Ordering::Acquire).min(self.max))
    }

    /// Number of counters in the set.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The largest value a counter can hold.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The pid this handle records as lock holder (see
    /// [`SemaphoreSet::set_pid`]).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The current spin limit.
    pub fn spin_limit(&self) -> u32 {
        self.spin_limit
    }

    /// Who holds the lock: `None` if it is free, else `Some(pid)` as the
    /// holder recorded it (0 when unknown, or in the instant between taking
    /// the lock and recording). Racy: for liveness checks and diagnostics;
    /// a holder that stays the same across a long interval may be dead.
    pub fn lock_holder(&self) -> Option<u32> {
        let state = self.state();
        // Relaxed both: advisory, a snapshot with no ordering promise.
        if state.lock.load(Ordering::Relaxed) == UNLOCKED {
            return None;
        }
        Some(state.holder.load(Ordering::Relaxed))
    }

    /// The `count` counters in use.
    fn counters(&self) -> &[AtomicU32] {
        // `count <= MAX_COUNTERS`, validated at init/attach.
        &self.state().counters[..self.count as usize]
    }

    fn state(&self) -> &SetState {
        // SAFETY: `header` was checked (alignment, size) at init/attach and
        // the region is valid for 'a (safe init borrows it; raw init/attach
        // have it as their contract). All its fields are atomics.
        &unsafe { self.header.as_ref() }.state.0
    }
}
