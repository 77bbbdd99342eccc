//! The process-local registry of held roles: this process never holds one
//! role, or one participant record, of an object twice.
//!
//! The core's `attach_raw` leaves this rule to its caller: a role is claimed
//! by a CAS on a claim word in shared memory, and a peer that rewrites that
//! word to "vacant" could let a second handle in this process claim a role
//! a first one still holds, and the two would then race on the same slots.
//! The named objects therefore register every role they hand out here, keyed
//! by the object's identity (`st_dev`, `st_ino` of its shared memory object,
//! the same for every mapping of it) and the role, and refuse a second
//! claim with [`RoleError::HeldHere`], whatever the claim word says.
//!
//! - A role (SPSC producer or consumer, frame writer or reader) is
//!   registered *before* its claim word is touched, so a refused claim
//!   changes nothing in shared memory.
//! - A participant record (MPMC sender or receiver, message queue endpoint)
//!   is known only once the core has registered it; it is entered here right
//!   after, and a record already present (only a forged claim word gives
//!   one) makes the new handle deregister again and the call fail.
//!
//! An entry lives exactly as long as the [`Claimed`] handle that carries it.
//! The registry is a mutex over a short vector: it is consulted only when a
//! role is claimed or released, never on a send or receive.

use core::fmt;
use core::ops::{Deref, DerefMut};

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::vec::Vec;

/// Which shared memory object: its device and inode, the same for every
/// mapping of it in every process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ObjectId {
    /// `st_dev` of the object.
    pub dev: u64,
    /// `st_ino` of the object.
    pub ino: u64,
}

/// A role of an object that one process may hold at most once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeldRole {
    /// The producer of an SPSC ring, or the writer of a frame ring.
    Producer,
    /// The consumer of an SPSC ring, or the reader of a frame ring.
    Consumer,
    /// Participant record `index` of an MPMC ring (a sender or a receiver)
    /// or of a message queue (an endpoint).
    Participant(u32),
}

impl fmt::Display for HeldRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeldRole::Producer => f.write_str("the producer (writer) role"),
            HeldRole::Consumer => f.write_str("the consumer (reader) role"),
            HeldRole::Participant(index) => write!(f, "participant record {index}"),
        }
    }
}

/// Why a named object did not hand out a role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleError<E> {
    /// This process already holds the role, through another handle (of this
    /// or of another mapping of the same object). For a participant record
    /// this means the record's claim word was forged: the new registration
    /// was undone.
    HeldHere(HeldRole),
    /// The claim in shared memory failed (the role is held by another
    /// process, every record is in use, a corrupted claim word, ...).
    Shared(E),
}

impl<E> From<E> for RoleError<E> {
    fn from(e: E) -> Self {
        RoleError::Shared(e)
    }
}

impl<E: fmt::Display> fmt::Display for RoleError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoleError::HeldHere(role) => {
                write!(f, "this process already holds {role} of the object")
            }
            RoleError::Shared(e) => e.fmt(f),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for RoleError<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            RoleError::HeldHere(_) => None,
            RoleError::Shared(e) => Some(e),
        }
    }
}

/// A role handle (a core `Producer`, `FrameWriter`, `Sender`, ...) together
/// with this process's registration of its role; it dereferences to the
/// handle. Dropping it ends the registration, then drops the handle, which
/// releases the claim in shared memory.
#[derive(Debug)]
pub struct Claimed<H> {
    // Declared first, so dropped first: a handle's `Drop` only releases its
    // claim word and wakes the peer, it touches no slot, so a new claim in
    // this process may begin as soon as the entry is gone (it then meets the
    // claim word still held, and fails, or finds it released).
    entry: Entry,
    handle: H,
}

impl<H> Claimed<H> {
    /// The role this handle holds.
    pub fn role(&self) -> HeldRole {
        self.entry.role
    }

    /// The object it holds the role of.
    pub fn object(&self) -> ObjectId {
        self.entry.object
    }

    /// Wraps the handle (a `Consumer` into a `ByteReader`, say), keeping
    /// the registration. Crate-private: a public one could move the handle
    /// out of its registration.
    pub(crate) fn map<G>(self, wrap: impl FnOnce(H) -> G) -> Claimed<G> {
        Claimed {
            entry: self.entry,
            handle: wrap(self.handle),
        }
    }
}

impl<H> Deref for Claimed<H> {
    type Target = H;

    fn deref(&self) -> &H {
        &self.handle
    }
}

impl<H> DerefMut for Claimed<H> {
    fn deref_mut(&mut self) -> &mut H {
        &mut self.handle
    }
}

/// The roles this process holds.
static HELD: Mutex<Vec<(ObjectId, HeldRole)>> = Mutex::new(Vec::new());

fn held() -> MutexGuard<'static, Vec<(ObjectId, HeldRole)>> {
    // A panic while the lock was held cannot leave the vector half-changed
    // (push and swap_remove complete or do not start), so a poisoned lock
    // is still a good one.
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One registered role; unregisters on drop.
#[derive(Debug)]
struct Entry {
    object: ObjectId,
    role: HeldRole,
}

impl Entry {
    /// Registers `role` of `object`, unless this process holds it already.
    fn new(object: ObjectId, role: HeldRole) -> Option<Entry> {
        let mut held = held();
        if held.contains(&(object, role)) {
            return None;
        }
        held.push((object, role));
        Some(Entry { object, role })
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut held = held();
        if let Some(at) = held.iter().position(|&e| e == (self.object, self.role)) {
            held.swap_remove(at);
        }
    }
}

/// Claims `role` of `object` with `claim` (the shared claim), after
/// registering it here; the registration is undone if `claim` fails.
///
/// # Errors
///
/// [`RoleError::HeldHere`] without calling `claim` if this process holds
/// the role; [`RoleError::Shared`] with `claim`'s error.
pub(crate) fn claim_role<H, E>(
    object: ObjectId,
    role: HeldRole,
    claim: impl FnOnce() -> Result<H, E>,
) -> Result<Claimed<H>, RoleError<E>> {
    let entry = Entry::new(object, role).ok_or(RoleError::HeldHere(role))?;
    let handle = claim()?;
    Ok(Claimed { entry, handle })
}

/// Registers a participant with `register` (the shared registration), then
/// enters the record it got, `record(&handle)`, here.
///
/// # Errors
///
/// [`RoleError::Shared`] with `register`'s error; [`RoleError::HeldHere`]
/// if this process already holds that record (its claim word was forged),
/// after dropping the new handle.
pub(crate) fn register_participant<H, E>(
    object: ObjectId,
    register: impl FnOnce() -> Result<H, E>,
    record: impl FnOnce(&H) -> u32,
) -> Result<Claimed<H>, RoleError<E>> {
    let handle = register()?;
    let role = HeldRole::Participant(record(&handle));
    match Entry::new(object, role) {
        Some(entry) => Ok(Claimed { entry, handle }),
        None => Err(RoleError::HeldHere(role)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(ino: u64) -> ObjectId {
        ObjectId { dev: 1, ino }
    }

    #[test]
    fn a_role_is_held_once_until_its_handle_drops() {
        let a = object(u64::MAX - 1);
        let first = claim_role(a, HeldRole::Producer, || Ok::<_, ()>("first")).unwrap();
        assert_eq!(*first, "first");
        assert_eq!((first.role(), first.object()), (HeldRole::Producer, a));
        let mut called = false;
        let second = claim_role(a, HeldRole::Producer, || {
            called = true;
            Ok::<_, ()>("second")
        });
        assert_eq!(second.unwrap_err(), RoleError::HeldHere(HeldRole::Producer));
        assert!(!called, "a refused claim never reaches shared memory");
        // The other role of the same object, and the same role of another
        // object, are free.
        let _consumer = claim_role(a, HeldRole::Consumer, || Ok::<_, ()>(())).unwrap();
        let _other =
            claim_role(object(u64::MAX - 2), HeldRole::Producer, || Ok::<_, ()>(())).unwrap();
        drop(first);
        assert!(claim_role(a, HeldRole::Producer, || Ok::<_, ()>(())).is_ok());
    }

    #[test]
    fn a_failed_shared_claim_leaves_no_entry() {
        let a = object(u64::MAX - 3);
        assert_eq!(
            claim_role(a, HeldRole::Consumer, || Err::<(), _>("taken")).unwrap_err(),
            RoleError::Shared("taken")
        );
        assert!(claim_role(a, HeldRole::Consumer, || Ok::<_, ()>(())).is_ok());
    }

    #[test]
    fn a_participant_record_twice_drops_the_second_handle() {
        struct Handle<'a>(&'a core::cell::Cell<u32>);
        impl Drop for Handle<'_> {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
            }
        }
        let dropped = core::cell::Cell::new(0);
        let a = object(u64::MAX - 4);
        let first = register_participant(a, || Ok::<_, ()>(Handle(&dropped)), |_| 3).unwrap();
        assert_eq!(first.role(), HeldRole::Participant(3));
        let forged = register_participant(a, || Ok::<_, ()>(Handle(&dropped)), |_| 3);
        assert!(matches!(
            forged,
            Err(RoleError::HeldHere(HeldRole::Participant(3)))
        ));
        assert_eq!(dropped.get(), 1, "the second handle deregistered");
        let other = register_participant(a, || Ok::<_, ()>(Handle(&dropped)), |_| 4);
        assert!(other.is_ok());
        drop(first);
        assert!(register_participant(a, || Ok::<_, ()>(Handle(&dropped)), |_| 3).is_ok());
    }

    #[test]
    fn errors_say_what_is_held() {
        let e: RoleError<annulus::claim::ClaimError> =
            RoleError::HeldHere(HeldRole::Participant(2));
        assert_eq!(
            std::format!("{e}"),
            "this process already holds participant record 2 of the object"
        );
    }
}
