//! The registry of held roles: one process never holds a role of a named
//! object twice, not through two mappings of it, and not when a peer forges
//! the claim word to "vacant". Every object is unlinked by a guard.

use std::sync::atomic::{AtomicU32, Ordering};

use annulus::claim::{ClaimError, RoleState};
use annulus::mpmc::RegisterError;
use annulus_linux::named::{HeldRole, MpmcRing, NamedFrameRing, RoleError, SpscRing};
use annulus_linux::shm::SharedMemory;

/// A unique object name, unlinked when dropped.
struct TestName(String);

impl TestName {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TestName(format!("test-roles-{tag}-{}-{n}", std::process::id()))
    }
}

impl Drop for TestName {
    fn drop(&mut self) {
        let _ = SharedMemory::unlink(&self.0);
    }
}

/// Offset of the SPSC producer's claim word (after the 64-byte region header).
const SPSC_PRODUCER_CLAIM: usize = 64;
/// Offset of MPMC participant record 0's claim word (after the 512-byte header).
const MPMC_RECORD_0_CLAIM: usize = 512;

/// Writes "vacant, generation 0" into the claim word at `offset` of a
/// mapping: what a hostile peer could do at any moment.
fn forge_vacant(base: std::ptr::NonNull<u8>, offset: usize) {
    // SAFETY: `offset` is a 4-aligned claim word inside the mapping (the
    // layouts pin these offsets), which this process otherwise accesses only
    // through annulus's atomics.
    let word = unsafe { AtomicU32::from_ptr(base.as_ptr().add(offset).cast::<u32>()) };
    word.store(0, Ordering::SeqCst);
}

#[test]
fn a_second_producer_through_another_mapping_is_held_here() {
    let name = TestName::new("spsc");
    let a = SpscRing::<u64>::create(&name.0, 8).unwrap();
    let b = SpscRing::<u64>::open(&name.0).unwrap();
    assert_eq!(a.named().id(), b.named().id(), "one object, two mappings");
    assert_ne!(a.named().mapping().ptr(), b.named().mapping().ptr());
    let mut tx = a.producer().unwrap();
    assert_eq!(tx.role(), HeldRole::Producer);
    assert_eq!(
        b.producer().unwrap_err(),
        RoleError::HeldHere(HeldRole::Producer)
    );
    assert_eq!(
        a.producer().unwrap_err(),
        RoleError::HeldHere(HeldRole::Producer)
    );
    // The consumer is another role.
    let mut rx = b.consumer().unwrap();
    tx.push(1).unwrap();
    assert_eq!(rx.pop(), Ok(1));
    drop(tx);
    // Released on drop: the role can be claimed again, here or anywhere.
    let mut tx = b.producer().unwrap();
    tx.push(2).unwrap();
    assert_eq!(rx.pop(), Ok(2));
}

#[test]
fn a_forged_vacant_claim_word_does_not_give_a_second_producer() {
    let name = TestName::new("forged");
    let a = SpscRing::<u64>::create(&name.0, 8).unwrap();
    let b = SpscRing::<u64>::open(&name.0).unwrap();
    let _tx = a.producer().unwrap();
    forge_vacant(b.named().mapping().ptr(), SPSC_PRODUCER_CLAIM);
    assert_eq!(a.ring().producer_state(), RoleState::Vacant, "forged");
    assert_eq!(
        b.producer().unwrap_err(),
        RoleError::HeldHere(HeldRole::Producer)
    );
    assert_eq!(
        a.ring().producer_state(),
        RoleState::Vacant,
        "the refused claim never touched the claim word"
    );
}

#[test]
fn a_producer_held_by_another_process_is_a_shared_error() {
    let name = TestName::new("shared");
    let a = SpscRing::<u64>::create(&name.0, 8).unwrap();
    // Claim through the core directly, as another process would: no
    // registry entry here, but the claim word says "held".
    let other = a.ring().claim_producer(1, annulus_linux::Futex).unwrap();
    assert!(matches!(
        a.producer().unwrap_err(),
        RoleError::Shared(ClaimError::Taken(c)) if c.pid == 1
    ));
    // The refused claim left no registry entry behind.
    drop(other);
    assert!(a.producer().is_ok());
}

#[test]
fn a_forged_participant_record_is_refused_and_undone() {
    let name = TestName::new("mpmc");
    let a = MpmcRing::<u64>::create(&name.0, 8, 4).unwrap();
    let b = MpmcRing::<u64>::open(&name.0).unwrap();
    let tx = a.sender().unwrap();
    assert_eq!(tx.role(), HeldRole::Participant(0));
    // Several participants per process are fine: each has its own record.
    let mut rx = b.receiver().unwrap();
    assert_eq!(rx.role(), HeldRole::Participant(1));
    assert_eq!(a.ring().senders(), 1);
    forge_vacant(b.named().mapping().ptr(), MPMC_RECORD_0_CLAIM);
    // The ring hands record 0 out again; the registry refuses it.
    assert_eq!(
        b.sender().unwrap_err(),
        RoleError::HeldHere(HeldRole::Participant(0))
    );
    // The refused registration was undone (its count given back), and
    // the first sender still sends.
    assert_eq!(a.ring().senders(), 1);
    let mut tx = tx;
    tx.push(5).unwrap();
    assert_eq!(rx.pop(), Ok(5));
    // While it lives, record 0 stays refused here, whoever asks.
    assert_eq!(
        a.receiver().unwrap_err(),
        RoleError::HeldHere(HeldRole::Participant(0))
    );
    drop(tx);
    // Then every free record can be had, and no more.
    let more: Vec<_> = (0..3).map(|_| a.receiver().unwrap()).collect();
    let records: Vec<_> = more.iter().map(|r| r.role()).collect();
    assert_eq!(
        records,
        [0, 2, 3].map(HeldRole::Participant),
        "the forged record is usable again"
    );
    assert!(matches!(
        a.receiver().unwrap_err(),
        RoleError::Shared(RegisterError::TooManyParticipants { max: 4 })
    ));
}
#[test]
fn a_frame_writer_is_held_once() {
    let name = TestName::new("frame");
    let a = NamedFrameRing::create(&name.0, 1024).unwrap();
    let b = NamedFrameRing::open(&name.0).unwrap();
    let _tx = a.writer().unwrap();
    assert_eq!(
        b.writer().unwrap_err(),
        RoleError::HeldHere(HeldRole::Producer)
    );
    let _rx = b.reader().unwrap();
    assert_eq!(
        a.reader().unwrap_err(),
        RoleError::HeldHere(HeldRole::Consumer)
    );
}

/// A byte stream's ends are the ring's roles: the reader holds the consumer
/// role until dropped, and bytes written at one end come out of the other.
#[test]
fn byte_stream_ends_hold_the_ring_roles() {
    let name = TestName::new("bytes");
    let ring = SpscRing::<u8>::create(&name.0, 64).unwrap();
    let mut writer = ring.byte_writer().unwrap();
    let mut reader = ring.byte_reader().unwrap();
    assert_eq!(reader.role(), HeldRole::Consumer);
    assert!(matches!(
        ring.consumer(),
        Err(RoleError::HeldHere(HeldRole::Consumer))
    ));
    assert!(matches!(
        ring.byte_writer(),
        Err(RoleError::HeldHere(HeldRole::Producer))
    ));
    assert_eq!(writer.try_write(b"pipe"), Ok(4));
    let mut buf = [0u8; 8];
    assert_eq!(reader.try_read(&mut buf), Ok(4));
    assert_eq!(&buf[..4], b"pipe");
    drop(writer);
    assert_eq!(reader.try_read(&mut buf), Ok(0), "end of stream");
    drop(reader);
    ring.consumer().expect("released with the reader");
}
