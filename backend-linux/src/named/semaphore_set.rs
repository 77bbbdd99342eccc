//! A named semaphore set.

#![allow(unsafe_code)]

use annulus::semaphore::{InitOptions, SemaphoreSet};

use super::{Create, CreateError, DEFAULT_MODE, Named, Open, OpenError, my_pid};
use crate::{Futex, SharedMemory};

/// A [`SemaphoreSet`] in `/dev/shm/annulus.<name>`, like System V's
/// `semget`: up to [`MAX_COUNTERS`](annulus::semaphore::MAX_COUNTERS)
/// counters changed together by all-or-nothing operations, sleeping on the
/// process-shared futex. This process's pid is recorded as the lock holder
/// while one of its calls holds the set's lock.
///
/// # Examples
///
/// One process creates a set of two counters, "free" (2) and "filled" (0),
/// another opens it by name; each call moves units between them atomically
/// (here one after the other in one process, for the doctest):
///
/// ```
/// use annulus::semaphore::{SemOp, SetOpError};
/// use annulus_linux::named::NamedSemaphoreSet;
/// use std::time::Duration;
///
/// const FREE: u32 = 0;
/// const FILLED: u32 = 1;
///
/// /// Process A: creates the set and fills both free units.
/// fn process_a(name: &str) -> NamedSemaphoreSet {
///     let sems = NamedSemaphoreSet::create(name, &[2, 0], 2).unwrap();
///     for _ in 0..2 {
///         let fill = [SemOp::wait(FREE, 1), SemOp::post(FILLED, 1)];
///         sems.set().op(&fill, Some(Duration::from_secs(10))).unwrap();
///     }
///     sems
/// }
///
/// /// Process B: opens the set by name and takes two filled units at once.
/// fn process_b(name: &str) {
///     let sems = NamedSemaphoreSet::open(name).unwrap();
///     let take_two = [SemOp::wait(FILLED, 2), SemOp::post(FREE, 2)];
///     sems.set().op(&take_two, Some(Duration::from_secs(10))).unwrap();
///     // All or nothing: nothing is filled now, so nothing is taken from FREE.
///     let both = [SemOp::wait(FREE, 1), SemOp::wait(FILLED, 1)];
///     assert_eq!(sems.set().try_op(&both), Err(SetOpError::WouldBlock));
/// }
///
/// let name = format!("doc-semset-{}", std::process::id());
/// let a = process_a(&name);
/// process_b(&name);
/// a.named().unlink().unwrap(); // the creator removes the name
/// assert_eq!((a.set().value(FREE), a.set().value(FILLED)), (Some(2), Some(0)));
/// ```
#[derive(Debug)]
pub struct NamedSemaphoreSet {
    /// Lives as long as `named`'s mapping; lent only with `&self`'s lifetime.
    set: SemaphoreSet<'static, Futex>,
    named: Named,
}

impl NamedSemaphoreSet {
    /// Creates a set with one counter per value of `initial` (its starting
    /// value), each at most `max`, mode 0600.
    ///
    /// # Errors
    ///
    /// [`CreateError`]: a bad name, an existing object,
    /// [`CreateError::Layout`] for a count outside
    /// `1..=MAX_COUNTERS`, [`CreateError::Semaphore`] for bad values.
    pub fn create(name: &str, initial: &[u32], max: u32) -> Result<Self, CreateError> {
        Self::create_with_mode(name, initial, max, DEFAULT_MODE)
    }

    /// Creates the set with permission bits `mode`.
    ///
    /// # Errors
    ///
    /// As [`NamedSemaphoreSet::create`].
    pub fn create_with_mode(
        name: &str,
        initial: &[u32],
        max: u32,
        mode: u32,
    ) -> Result<Self, CreateError> {
        Self::create_in(Create::Name(name, mode), initial, max)
    }

    /// Creates the object in anonymous memory, a sealed memfd with no
    /// name in `/dev/shm`: hand [`Named::memory`] (through
    /// [`named`](NamedSemaphoreSet::named)) to a peer over a
    /// [`rendezvous`](crate::rendezvous) or to a child, which opens it with
    /// [`NamedSemaphoreSet::from_memory`].
    ///
    /// # Errors
    ///
    /// As [`NamedSemaphoreSet::create`], without the name errors.
    pub fn create_anonymous(initial: &[u32], max: u32) -> Result<Self, CreateError> {
        Self::create_in(Create::Anonymous, initial, max)
    }

    fn create_in(place: Create<'_>, initial: &[u32], max: u32) -> Result<Self, CreateError> {
        let count = u32::try_from(initial.len()).unwrap_or(u32::MAX);
        let size = SemaphoreSet::layout(count)?.size;
        let options = InitOptions {
            creator_pid: my_pid(),
        };
        let (named, set) = Named::create(place, size, |ptr, len| {
            // SAFETY: a fresh mapping that nothing else in this process
            // touches; it lives in `named` beside the view.
            unsafe { SemaphoreSet::init_raw(ptr, len, initial, max, options, Futex) }
        })?;
        Ok(NamedSemaphoreSet { set, named })
    }

    /// Opens the set another process created (mode at most 0600).
    ///
    /// # Errors
    ///
    /// [`OpenError`]: missing, not ours, wrong mode, not a semaphore set
    /// ([`AttachError::KindMismatch`](annulus::layout::AttachError::KindMismatch)),
    /// or not initialised in time.
    pub fn open(name: &str) -> Result<Self, OpenError> {
        Self::open_with_mode(name, DEFAULT_MODE)
    }

    /// Opens the set, accepting permission bits up to `allowed_mode`.
    ///
    /// # Errors
    ///
    /// As [`NamedSemaphoreSet::open`].
    pub fn open_with_mode(name: &str, allowed_mode: u32) -> Result<Self, OpenError> {
        Self::open_in(Open::Name(name, allowed_mode))
    }

    /// Opens the object in memory received from a peer (a sealed memfd,
    /// checked on receipt by
    /// [`Connection::receive`](crate::rendezvous::Connection::receive)),
    /// created there with [`NamedSemaphoreSet::create_anonymous`]. The memory is
    /// untrusted as a named object's is: attach checks every field.
    ///
    /// # Errors
    ///
    /// As [`NamedSemaphoreSet::open`], without the name errors.
    pub fn from_memory(memory: SharedMemory) -> Result<Self, OpenError> {
        Self::open_in(Open::Memory(memory))
    }

    fn open_in(place: Open<'_>) -> Result<Self, OpenError> {
        // Every set is one fixed-size header, whatever its count.
        let size = SemaphoreSet::region_size(1);
        let (named, mut set) = Named::open(place, size, |ptr, len| {
            // SAFETY: a fresh mapping, touched in this process only through
            // the view; it lives in `named` beside the view.
            unsafe { SemaphoreSet::attach_raw(ptr, len, Futex) }
        })?;
        set.set_pid(my_pid());
        Ok(NamedSemaphoreSet { set, named })
    }

    /// The set, for as long as this object lives.
    pub fn set(&self) -> &SemaphoreSet<'_, Futex> {
        &self.set
    }

    /// The shared memory behind the set (name, unlink).
    pub fn named(&self) -> &Named {
        &self.named
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::format;

    use annulus::layout::{AttachError, LayoutError};
    use annulus::semaphore::{InitError, MAX_COUNTERS, SemOp};

    use super::*;
    use crate::named::{NamedSemaphore, SpscRing};

    /// A unique name, unlinked when dropped.
    struct TestName(std::string::String);

    impl TestName {
        fn new(tag: &str) -> Self {
            TestName(format!("test-semset-{tag}-{}", std::process::id()))
        }
    }

    impl Drop for TestName {
        fn drop(&mut self) {
            let _ = crate::shm::SharedMemory::unlink(&self.0);
        }
    }

    #[test]
    fn bad_sets_are_refused_before_anything_is_left_behind() {
        let name = TestName::new("bad");
        assert_eq!(
            NamedSemaphoreSet::create(&name.0, &[], 1).unwrap_err(),
            CreateError::Layout(LayoutError::BadCapacity { capacity: 0 })
        );
        let too_many = [0u32; MAX_COUNTERS as usize + 1];
        assert!(matches!(
            NamedSemaphoreSet::create(&name.0, &too_many, 1),
            Err(CreateError::Layout(LayoutError::BadCapacity { .. }))
        ));
        assert_eq!(
            NamedSemaphoreSet::create(&name.0, &[2, 5], 4).unwrap_err(),
            CreateError::Semaphore(InitError::ValueAboveMax {
                index: 1,
                value: 5,
                max: 4
            })
        );
        assert_eq!(
            NamedSemaphoreSet::create(&name.0, &[0], 0).unwrap_err(),
            CreateError::Semaphore(InitError::ZeroMax)
        );
        // A failed init unlinked its object: the name is free.
        let set = NamedSemaphoreSet::create(&name.0, &[1, 2, 3], 3).unwrap();
        assert_eq!(set.set().count(), 3);
    }

    #[test]
    fn open_sees_the_creators_counters_and_records_its_own_pid() {
        let name = TestName::new("open");
        let created = NamedSemaphoreSet::create(&name.0, &[1, 0], 7).unwrap();
        let opened = NamedSemaphoreSet::open(&name.0).unwrap();
        assert_eq!((opened.set().count(), opened.set().max()), (2, 7));
        assert_eq!(opened.set().pid(), my_pid());
        opened
            .set()
            .try_op(&[SemOp::wait(0, 1), SemOp::post(1, 3)])
            .unwrap();
        assert_eq!(created.set().value(0), Some(0));
        assert_eq!(created.set().value(1), Some(3));
        assert_eq!(created.set().lock_holder(), None);
    }

    #[test]
    fn another_kind_of_object_is_not_a_set() {
        let ring = TestName::new("ring");
        let _spsc = SpscRing::<u64>::create(&ring.0, 8).unwrap();
        assert!(matches!(
            NamedSemaphoreSet::open(&ring.0),
            Err(OpenError::Attach(AttachError::KindMismatch { .. }))
        ));
        // A smaller object is refused at once, not retried as "not sized yet".
        let sem = TestName::new("sem");
        let _sem = NamedSemaphore::create(&sem.0, 0, 1).unwrap();
        assert_eq!(
            NamedSemaphoreSet::open(&sem.0).unwrap_err(),
            OpenError::Shm(crate::shm::ShmError::TooSmall {
                len: 256,
                needed: 512
            })
        );
    }
}
