extern crate std;

use std::vec::Vec;

use core::num::NonZeroU32;
use core::ptr::NonNull;

use super::*;
use crate::claim::RoleState;
use crate::mpmc::Mpmc;
use crate::mq::MessageQueue;
use crate::semaphore::{RobustSemaphoreSet, SemOp, Semaphore, SemaphoreSet};
use crate::spsc::Spsc;
use crate::test_support::waiter;

/// 128-aligned heap memory, zeroed.
#[repr(C, align(128))]
#[derive(Clone, Copy)]
struct Chunk([u8; 128]);

struct Buffer(Vec<Chunk>);

impl Buffer {
    fn new(len: usize) -> Self {
        Buffer(std::vec![Chunk([0; 128]); len.div_ceil(128)])
    }
    fn ptr(&mut self) -> NonNull<u8> {
        NonNull::new(self.0.as_mut_ptr().cast::<u8>()).unwrap()
    }
    fn len(&self) -> usize {
        self.0.len() * 128
    }
    fn inspect(&mut self) -> Result<Inspection<'_>, AttachError> {
        let len = self.len();
        // SAFETY: the buffer is ours, initialised and outlives the view.
        unsafe { inspect_raw(self.ptr(), len) }
    }
}

fn held_pids(view: &Inspection<'_>) -> Vec<(RoleName, u32)> {
    view.roles()
        .filter_map(|r| match r.state {
            RoleState::Held(c) => Some((r.name, c.pid)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_spsc_ring_of_any_element_shows_its_positions_and_roles() {
    fn check<T: crate::Pod + Default>() {
        let size = Spsc::<T>::layout(8).unwrap().size;
        let mut buf = Buffer::new(size);
        let options = crate::spsc::InitOptions {
            schema: None,
            creator_pid: 77,
            asymmetric_wake: false,
        };
        // SAFETY: fresh memory of ours that outlives the ring.
        let ring = unsafe { Spsc::<T>::init_raw(buf.ptr(), size, 8, options) }.unwrap();
        let mut tx = ring.claim_producer(11, waiter()).unwrap();
        let _rx = ring.claim_consumer(12, waiter()).unwrap();
        for _ in 0..3 {
            tx.push(T::default()).unwrap();
        }
        let view = buf.inspect().unwrap();
        assert_eq!(view.kind(), Kind::Spsc);
        assert_eq!(view.header().creator_pid, 77);
        assert_eq!(view.header().elem_size as usize, core::mem::size_of::<T>());
        let Counters::Spsc(c) = view.counters() else {
            panic!("not a ring")
        };
        assert_eq!((c.capacity, c.head, c.tail, c.used), (8, 0, 3, 3));
        assert_eq!(
            held_pids(&view),
            [(RoleName::Producer, 11), (RoleName::Consumer, 12)]
        );
    }
    check::<u8>();
    check::<u64>();
    check::<[u16; 3]>();
    check::<u128>();
}

#[test]
fn an_mpmc_ring_of_any_element_shows_its_participants() {
    fn check<T: crate::Pod + Default>() {
        let size = Mpmc::<T>::layout(4, 3).unwrap().size;
        let mut buf = Buffer::new(size);
        let options = crate::mpmc::InitOptions {
            schema: None,
            creator_pid: 5,
            asymmetric_wake: false,
        };
        // SAFETY: fresh memory of ours that outlives the ring.
        let ring = unsafe { Mpmc::<T>::init_raw(buf.ptr(), size, 4, 3, options) }.unwrap();
        let mut a = ring.register_sender(21, waiter()).unwrap();
        let _rx = ring.register_receiver(22, waiter()).unwrap();
        a.push(T::default()).unwrap();
        let view = buf.inspect().unwrap();
        let Counters::Mpmc(c) = view.counters() else {
            panic!("not an MPMC ring")
        };
        assert_eq!((c.capacity, c.participants, c.used), (4, 3, 1));
        assert_eq!((c.senders, c.receivers, c.repair_lock), (1, 1, None));
        assert_eq!(
            held_pids(&view),
            [(RoleName::Sender, 21), (RoleName::Receiver, 22)]
        );
        assert_eq!(view.roles().count(), 3);
    }
    check::<u8>();
    check::<u32>();
    check::<[u8; 5]>();
    check::<u128>();
}

#[test]
fn semaphores_sets_and_queues_show_their_counters() {
    let size = Semaphore::region_size();
    let mut buf = Buffer::new(size);
    let options = crate::semaphore::InitOptions { creator_pid: 9 };
    // SAFETY: fresh memory of ours that outlives the semaphore.
    let sem = unsafe { Semaphore::init_raw(buf.ptr(), size, 3, 10, options, waiter()) }.unwrap();
    sem.post(2).unwrap();
    let view = buf.inspect().unwrap();
    assert_eq!(
        view.counters(),
        Counters::Semaphore(SemaphoreCounters {
            value: 5,
            max: 10,
            sleepers: 0,
            zero_sleepers: 0
        })
    );
    assert_eq!(view.roles().count(), 0);

    let size = SemaphoreSet::region_size(3);
    let mut buf = Buffer::new(size);
    // SAFETY: as above.
    unsafe { SemaphoreSet::init_raw(buf.ptr(), size, &[1, 2, 3], 7, options, waiter()) }.unwrap();
    let view = buf.inspect().unwrap();
    let Counters::SemaphoreSet(c) = view.counters() else {
        panic!("not a set")
    };
    assert_eq!((c.count, c.max, c.lock_holder), (3, 7, None));
    let values: Vec<_> = (0..4).map(|i| view.set_counter(i)).collect();
    assert_eq!(values, [Some(1), Some(2), Some(3), None]);

    let size = MessageQueue::region_size(4, 16, 2);
    let mut buf = Buffer::new(size);
    let options = crate::mq::InitOptions {
        schema: None,
        creator_pid: 4,
    };
    // SAFETY: as above.
    let mq = unsafe { MessageQueue::init_raw(buf.ptr(), size, 4, 16, 2, options) }.unwrap();
    let mut tx = mq.endpoint(31, waiter()).unwrap();
    tx.try_send(b"hello", 1, NonZeroU32::MIN).unwrap();
    tx.try_send(b"hi", 2, NonZeroU32::MIN).unwrap();
    let view = buf.inspect().unwrap();
    let Counters::MessageQueue(c) = view.counters() else {
        panic!("not a queue")
    };
    assert_eq!((c.max_messages, c.message_size, c.participants), (4, 16, 2));
    let stats = c.stats.unwrap();
    assert_eq!((stats.messages, stats.bytes, stats.last_sender), (2, 7, 31));
    assert_eq!(held_pids(&view), [(RoleName::Endpoint, 31)]);
}

#[test]
fn a_robust_set_shows_its_values_holders_and_lock() {
    let size = RobustSemaphoreSet::region_size(2, 3);
    let mut buf = Buffer::new(size);
    let options = crate::semaphore::InitOptions { creator_pid: 5 };
    // SAFETY: fresh memory of ours that outlives the set.
    let set =
        unsafe { RobustSemaphoreSet::init_raw(buf.ptr(), size, &[4, 1], 6, 3, options) }.unwrap();
    let a = set.holder(77, waiter()).unwrap();
    let _b = set.holder(78, waiter()).unwrap();
    a.try_op(&[SemOp::wait(0, 3)]).unwrap();
    let view = buf.inspect().unwrap();
    assert_eq!(view.kind(), Kind::RobustSemaphoreSet);
    assert_eq!(
        view.counters(),
        Counters::RobustSemaphoreSet(RobustSetCounters {
            count: 2,
            max: 6,
            holders: 3,
            held: 2,
            lock_holder: None,
            journal_committed: false,
            sleepers: 0,
        })
    );
    let values: Vec<_> = (0..3).map(|i| view.set_counter(i)).collect();
    assert_eq!(values, [Some(1), Some(1), None]);
    assert_eq!(
        held_pids(&view),
        [(RoleName::Holder, 77), (RoleName::Holder, 78)]
    );
    assert_eq!(
        view.roles().count(),
        3,
        "the free record is listed as vacant"
    );

    // A lock word naming record 1 (pid 78): what a holder killed inside an
    // operation leaves behind.
    let lock_at = core::mem::offset_of!(crate::semaphore::robust::RobustHeader, state);
    // SAFETY: inside our buffer; the handles are idle.
    unsafe {
        buf.ptr()
            .add(lock_at)
            .cast::<u32>()
            .write((7 << 13) | (2 << 2) | 1)
    };
    let Counters::RobustSemaphoreSet(c) = buf.inspect().unwrap().counters() else {
        panic!("not a robust set")
    };
    assert_eq!(c.lock_holder, Some(78));
    // SAFETY: as above; unlocked again (sequence kept) for the handles' drop.
    unsafe { buf.ptr().add(lock_at).cast::<u32>().write(7 << 13) };
}

#[test]
fn refusals_name_what_is_wrong_and_the_header_still_reads() {
    let size = Spsc::<u32>::layout(4).unwrap().size;
    let mut buf = Buffer::new(size);
    assert_eq!(buf.inspect().unwrap_err(), AttachError::NotReady);
    // SAFETY: fresh memory of ours.
    unsafe { Spsc::<u32>::init_raw(buf.ptr(), size, 4, Default::default()) }.unwrap();
    // SAFETY: ours; a short length is what is being tested.
    let short = unsafe { inspect_raw(buf.ptr(), size - 4) };
    assert!(matches!(short, Err(AttachError::RegionTooSmall { .. })));
    // SAFETY: ours; only the first word changes, while nothing reads.
    unsafe { buf.ptr().cast::<u32>().write(0xdead_beef) };
    assert_eq!(
        buf.inspect().unwrap_err(),
        AttachError::BadMagic { found: 0xdead_beef }
    );
    // SAFETY: ours, initialised, at least a header long.
    let header = unsafe { read_header(buf.ptr(), buf.len()) }.unwrap();
    assert_eq!((header.magic, header.capacity), (0xdead_beef, 4));
    assert_eq!(header.init_state, InitState::Ready);
    // SAFETY: a pointer one byte in: only its alignment is looked at.
    let misaligned = unsafe { read_header(buf.ptr().add(1), 64) };
    assert_eq!(misaligned, Err(AttachError::Misaligned { offset: 1 }));
}

/// xorshift64*: reproducible garbage.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Reads everything a tool would, whatever the answer.
fn read_all(buf: &mut Buffer) -> usize {
    let len = buf.len();
    // SAFETY: ours, initialised, outlives the call.
    let _ = unsafe { read_header(buf.ptr(), len) };
    let Ok(view) = buf.inspect() else { return 0 };
    let _ = view.counters();
    for i in 0..70 {
        let _ = view.set_counter(i);
    }
    1 + view.roles().count()
}

#[test]
fn garbage_never_panics_or_reads_out_of_bounds() {
    let rounds = if cfg!(miri) { 40 } else { 4000 };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Valid regions of every kind, then random words written over them.
    let mut regions: Vec<Buffer> = Vec::new();
    let size = Spsc::<u16>::layout(8).unwrap().size;
    let mut b = Buffer::new(size);
    // SAFETY: fresh memory of ours.
    unsafe { Spsc::<u16>::init_raw(b.ptr(), size, 8, Default::default()) }.unwrap();
    regions.push(b);
    let size = Mpmc::<u64>::layout(4, 2).unwrap().size;
    let mut b = Buffer::new(size);
    // SAFETY: as above.
    unsafe { Mpmc::<u64>::init_raw(b.ptr(), size, 4, 2, Default::default()) }.unwrap();
    regions.push(b);
    let size = SemaphoreSet::region_size(2);
    let mut b = Buffer::new(size);
    // SAFETY: as above.
    unsafe { SemaphoreSet::init_raw(b.ptr(), size, &[0, 1], 3, Default::default(), waiter()) }
        .unwrap();
    regions.push(b);
    let size = MessageQueue::region_size(2, 8, 2);
    let mut b = Buffer::new(size);
    // SAFETY: as above.
    unsafe { MessageQueue::init_raw(b.ptr(), size, 2, 8, 2, Default::default()) }.unwrap();
    regions.push(b);
    let size = RobustSemaphoreSet::region_size(2, 2);
    let mut b = Buffer::new(size);
    // SAFETY: as above.
    unsafe { RobustSemaphoreSet::init_raw(b.ptr(), size, &[1, 0], 2, 2, Default::default()) }
        .unwrap();
    regions.push(b);
    let mut accepted = 0;
    let kinds = regions.len();
    for round in 0..rounds {
        let buf = &mut regions[round % kinds];
        let words = buf.len() / 4;
        // Mostly the header and control words, where the geometry lives.
        let at = if rng.next() % 4 == 0 {
            (rng.next() as usize) % words
        } else {
            (rng.next() as usize) % 40
        };
        let value = match rng.next() % 4 {
            0 => 0,
            1 => u32::MAX,
            2 => (rng.next() % 9) as u32,
            _ => rng.next() as u32,
        };
        // SAFETY: `at < words`, inside our buffer; nothing else touches it.
        unsafe { buf.ptr().cast::<u32>().add(at).write(value) };
        accepted += read_all(buf).min(1);
    }
    // Whole-garbage regions too, of random lengths.
    for _ in 0..rounds / 10 {
        let mut buf = Buffer::new(128 * (1 + (rng.next() % 8) as usize));
        let ptr = buf.ptr().cast::<u64>();
        for i in 0..buf.len() / 8 {
            // SAFETY: inside our buffer.
            unsafe { ptr.add(i).write(rng.next()) };
        }
        read_all(&mut buf);
    }
    assert!(accepted > 0, "some corruptions leave a region readable");
}
