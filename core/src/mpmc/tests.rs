//! Behaviour of the MPMC ring and its repair, in one process. Interleavings
//! are modelled in loom-tests/tests/mpmc.rs.

extern crate std;

use std::boxed::Box;
use std::collections::HashSet;
use std::time::Duration;
use std::vec::Vec;

use super::*;
use crate::claim::{Claim, RoleState};
use crate::error::{PopError, PopTimeoutError, PushError, PushSliceError, PushTimeoutError};
use crate::region::Region;
use crate::test_support::{W, waiter};

type Big = Region<{ 512 + 16 * 128 + 256 * 16 }>;

fn region() -> Box<Big> {
    Box::new(Region::new())
}

fn everyone_alive(_: Claim) -> bool {
    true
}

#[test]
fn layout_rejects_bad_arguments() {
    for bad in [0, 1, 3, 12, MAX_CAPACITY * 2] {
        assert_eq!(
            Mpmc::<u64>::layout(bad, 4),
            Err(LayoutError::BadCapacity { capacity: bad })
        );
    }
    for bad in [0, MAX_PARTICIPANTS + 1] {
        assert_eq!(
            Mpmc::<u64>::layout(8, bad),
            Err(LayoutError::BadParticipants { participants: bad })
        );
    }
    assert_eq!(Mpmc::<()>::layout(8, 4), Err(LayoutError::ZeroSizedElement));
    let layout = Mpmc::<u64>::layout(256, 16).unwrap();
    assert_eq!(layout.records_offset, 512);
    assert_eq!(layout.slots_offset, 512 + 16 * 128);
    assert_eq!(layout.slot_size, 16);
    assert_eq!(layout.size, 512 + 16 * 128 + 256 * 16);
    assert_eq!(Mpmc::<u64>::region_size(256, 16), layout.size);
}

#[test]
fn fifo_through_many_laps_with_full_and_empty() {
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 4, 4).unwrap();
    let mut tx = ring.sender(waiter()).unwrap();
    let mut rx = ring.receiver(waiter()).unwrap();
    assert_eq!(rx.pop(), Err(PopError::Empty));
    let (mut next_in, mut next_out) = (0u64, 0u64);
    for round in 0..500u64 {
        for _ in 0..round % 6 {
            match tx.push(next_in) {
                Ok(()) => next_in += 1,
                Err(PushError::Full(v)) => {
                    assert_eq!(v, next_in);
                    assert_eq!(ring.len(), 4);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        while let Ok(v) = rx.pop() {
            assert_eq!(v, next_out);
            next_out += 1;
        }
    }
    assert_eq!(next_in, next_out);
    assert!(ring.is_empty());
}

#[test]
fn slices_claim_batches_across_the_wrap() {
    let mut r = region();
    let ring = Mpmc::<u32>::init(r.as_uninit_mut(), 8, 4).unwrap();
    let mut tx = ring.sender(waiter()).unwrap();
    let mut rx = ring.receiver(waiter()).unwrap();
    assert_eq!(tx.push_slice(&[]), Ok(0));
    assert_eq!(tx.push_slice(&[1, 2, 3, 4, 5, 6]), Ok(6));
    let mut out = [0; 4];
    assert_eq!(rx.pop_slice(&mut out), Ok(4));
    assert_eq!(out, [1, 2, 3, 4]);
    assert_eq!(tx.push_slice(&[7, 8, 9, 10, 11, 12, 13]), Ok(6));
    assert_eq!(tx.push_slice(&[14]), Err(PushSliceError::Full));
    let mut out = [0; 16];
    assert_eq!(rx.pop_slice(&mut out), Ok(8));
    assert_eq!(&out[..8], &[5, 6, 7, 8, 9, 10, 11, 12]);
    assert_eq!(rx.pop_slice(&mut out), Err(PopError::Empty));
    assert_eq!(rx.pop_slice(&mut []), Ok(0));
}

#[test]
fn registration_counts_and_limits() {
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 8, 3).unwrap();
    assert_eq!(ring.max_participants(), 3);
    let a = ring.register_sender(100, waiter()).unwrap();
    let b = ring.register_sender(101, waiter()).unwrap();
    let c = ring.register_receiver(102, waiter()).unwrap();
    assert_eq!((ring.senders(), ring.receivers()), (2, 1));
    assert_eq!(
        ring.receiver(waiter()).unwrap_err(),
        RegisterError::TooManyParticipants { max: 3 }
    );
    let info = ring.participant(c.record()).unwrap();
    assert_eq!(info.role, Some(Role::Receiver));
    assert_eq!(
        info.state,
        RoleState::Held(Claim {
            pid: 102,
            generation: 1
        })
    );
    assert_eq!(info.intent.1, 0);
    assert!(ring.participant(3).is_none());
    let pids: Vec<u32> = ring.held_claims().map(|(_, c)| c.pid).collect();
    assert_eq!(pids, [100, 101, 102]);
    drop(a);
    assert_eq!(ring.senders(), 1);
    let a2 = ring.sender(waiter()).unwrap();
    assert_eq!(a2.record(), 0, "a released record is reused");
    drop((b, c, a2));
    assert_eq!((ring.senders(), ring.receivers()), (0, 0));
}

#[test]
fn last_sender_leaving_disconnects_after_drain() {
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 8, 4).unwrap();
    let mut rx = ring.receiver(waiter()).unwrap();
    assert_eq!(
        rx.pop(),
        Err(PopError::Empty),
        "no sender yet is not a disconnect"
    );
    let mut a = ring.sender(waiter()).unwrap();
    let mut b = ring.sender(waiter()).unwrap();
    a.push(1).unwrap();
    b.push(2).unwrap();
    drop(a);
    assert!(!rx.is_disconnected());
    drop(b);
    assert!(rx.is_disconnected());
    assert_eq!(rx.pop(), Ok(1));
    assert_eq!(rx.pop_blocking(None), Ok(2));
    assert_eq!(rx.pop(), Err(PopError::Disconnected));
    assert_eq!(rx.pop_slice(&mut [0; 2]), Err(PopError::Disconnected));
    assert_eq!(rx.pop_blocking(None), Err(PopTimeoutError::Disconnected));
    let mut c = ring.sender(waiter()).unwrap();
    assert_eq!(
        rx.pop(),
        Err(PopError::Empty),
        "a new sender reopens the ring"
    );
    c.push(3).unwrap();
    assert_eq!(rx.pop(), Ok(3));
}

#[test]
fn last_receiver_leaving_is_epipe() {
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 2, 4).unwrap();
    let mut tx = ring.sender(waiter()).unwrap();
    let rx = ring.receiver(waiter()).unwrap();
    tx.push(1).unwrap();
    drop(rx);
    assert!(tx.is_disconnected());
    assert_eq!(tx.push(2), Err(PushError::Disconnected(2)));
    assert_eq!(tx.push_slice(&[3]), Err(PushSliceError::Disconnected));
    assert_eq!(
        tx.push_blocking(4, None),
        Err(PushTimeoutError::Disconnected(4))
    );
    let mut rx = ring.receiver(waiter()).unwrap();
    assert_eq!(rx.pop(), Ok(1), "what was sent waits for the next receiver");
}

#[test]
fn blocking_calls_time_out() {
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 2, 4).unwrap();
    let mut tx = ring.sender(waiter()).unwrap();
    let mut rx = ring.receiver(waiter()).unwrap();
    tx.set_spin_limit(0);
    rx.set_spin_limit(0);
    let short = Some(Duration::from_millis(2));
    assert_eq!(rx.pop_blocking(short), Err(PopTimeoutError::Timeout));
    tx.push_blocking(1, short).unwrap();
    tx.push_blocking(2, short).unwrap();
    assert_eq!(
        tx.push_blocking(3, short),
        Err(PushTimeoutError::Timeout(3))
    );
    assert_eq!(rx.pop_blocking(short), Ok(1));
}

#[test]
fn many_senders_many_receivers_exactly_once_in_sender_order() {
    const SENDERS: u64 = 3;
    const RECEIVERS: usize = 2;
    let per_sender: u64 = if cfg!(miri) { 50 } else { 100_000 };
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 16, 8).unwrap();
    let received: Vec<Vec<u64>> = std::thread::scope(|s| {
        let receivers: Vec<_> = (0..RECEIVERS)
            .map(|_| {
                let mut rx = ring.receiver(waiter()).unwrap();
                s.spawn(move || {
                    let mut got = Vec::new();
                    let mut buf = [0u64; 4];
                    loop {
                        match rx.pop_slice(&mut buf) {
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                            Err(PopError::Empty) => match rx.pop_blocking(None) {
                                Ok(v) => got.push(v),
                                Err(PopTimeoutError::Disconnected) => break,
                                Err(e) => panic!("{e}"),
                            },
                            Err(PopError::Disconnected) => break,
                            Err(e) => panic!("{e}"),
                        }
                    }
                    got
                })
            })
            .collect();
        let senders: Vec<_> = (0..SENDERS)
            .map(|id| {
                let mut tx = ring.sender(waiter()).unwrap();
                s.spawn(move || {
                    for seq in 0..per_sender {
                        let msg = id << 32 | seq;
                        if seq % 3 == 0 {
                            while tx.push_slice(&[msg]) != Ok(1) {
                                std::thread::yield_now();
                            }
                        } else {
                            tx.push_blocking(msg, None).unwrap();
                        }
                    }
                })
            })
            .collect();
        // Senders are registered before any of them leaves, so receivers
        // see Disconnected only after the last one.
        for h in senders {
            h.join().unwrap();
        }
        receivers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut seen = HashSet::new();
    for got in &received {
        let mut last = [None::<u64>; SENDERS as usize];
        for &msg in got {
            assert!(seen.insert(msg), "message {msg:#x} received twice");
            let (id, seq) = ((msg >> 32) as usize, msg & 0xffff_ffff);
            assert!(last[id].is_none_or(|l| l < seq), "sender {id} reordered");
            last[id] = Some(seq);
        }
    }
    assert_eq!(
        seen.len() as u64,
        SENDERS * per_sender,
        "every message exactly once"
    );
}

#[test]
fn repair_skips_a_slot_claimed_by_a_dead_sender() {
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 4, 4).unwrap();
    let mut live = ring.register_sender(1, waiter()).unwrap();
    let dead = ring.register_sender(2, waiter()).unwrap();
    let mut rx = ring.register_receiver(3, waiter()).unwrap();
    live.push(10).unwrap();
    assert!(dead.die_after_claim(666));
    live.push(11).unwrap();
    live.push(12).unwrap();
    assert_eq!(rx.pop(), Ok(10));
    assert_eq!(
        rx.pop(),
        Err(PopError::Empty),
        "stuck behind the dead claim"
    );
    assert_eq!(live.push(13), Ok(()));
    assert_eq!(
        live.push(14),
        Err(PushError::Full(14)),
        "the next lap is stuck too"
    );
    assert_eq!(ring.senders(), 2);
    let report = ring
        .repair(9, &waiter(), |c| c.pid != 2, |_| panic!("no orphan"))
        .unwrap();
    assert_eq!(
        report,
        RepairReport {
            dead: 1,
            skipped: 1,
            orphans: 0
        }
    );
    assert_eq!(ring.senders(), 1);
    assert_eq!(ring.repairs(), 1);
    let got: Vec<u64> = core::iter::from_fn(|| rx.pop().ok()).collect();
    assert_eq!(got, [11, 12, 13], "nothing lost, the dead claim is gone");
    live.push(14).unwrap();
    assert_eq!(rx.pop(), Ok(14));
    let again = ring
        .repair(9, &waiter(), |c| c.pid != 2, |_| panic!("no orphan"))
        .unwrap();
    assert_eq!(
        again,
        RepairReport::default(),
        "a second repair finds nothing"
    );
}

#[test]
fn repair_returns_a_message_a_dead_receiver_never_read() {
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 2, 4).unwrap();
    let mut tx = ring.register_sender(1, waiter()).unwrap();
    let dead = ring.register_receiver(2, waiter()).unwrap();
    let mut rx = ring.register_receiver(3, waiter()).unwrap();
    tx.push(7).unwrap();
    tx.push(8).unwrap();
    assert!(dead.die_after_claim());
    assert_eq!(rx.pop(), Ok(8));
    // Position 2 maps to the slot of 7, which the dead receiver still holds.
    assert_eq!(
        tx.push(9),
        Err(PushError::Full(9)),
        "slot of 7 is still held"
    );
    let mut orphans = Vec::new();
    let report = ring
        .repair(9, &waiter(), |c| c.pid != 2, |m| orphans.push(m))
        .unwrap();
    assert_eq!(
        report,
        RepairReport {
            dead: 1,
            skipped: 0,
            orphans: 1
        }
    );
    assert_eq!(orphans, [7]);
    for m in orphans {
        tx.push(m).unwrap();
    }
    tx.push(9).unwrap();
    assert_eq!(rx.pop(), Ok(7), "delivered once, after all");
    assert_eq!(rx.pop(), Ok(9));
    assert_eq!(rx.pop(), Err(PopError::Empty));
    assert_eq!(ring.receivers(), 1);
}

#[test]
fn repair_leaves_live_claims_alone() {
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 4, 4).unwrap();
    let mut slow = ring.register_sender(1, waiter()).unwrap();
    let mut rx = ring.register_receiver(2, waiter()).unwrap();
    // The slow sender claims a slot and has not published yet.
    let claimed = slow.state.claim(1).unwrap();
    let report = ring
        .repair(9, &waiter(), everyone_alive, |_| panic!("no orphan"))
        .unwrap();
    assert_eq!(report, RepairReport::default());
    // Even a repair told that pid 1 is dead cannot skip a slot whose value
    // was published meanwhile: its CAS from "empty" fails.
    // SAFETY: the claim gave us the slot.
    unsafe { ring.value_ptr(claimed.pos).write(5) };
    ring.seq(claimed.pos)
        .store(seq_full(claimed.pos), Ordering::Release);
    let report = ring
        .repair(9, &waiter(), |c| c.pid != 1, |_| panic!("no orphan"))
        .unwrap();
    assert_eq!(report.skipped, 0);
    assert_eq!(rx.pop(), Ok(5));
    core::mem::forget(slow);
}

#[test]
fn repair_lock_is_exclusive_and_taken_over_from_the_dead() {
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 4, 4).unwrap();
    let lock = &ring.hdr().control.0.repair_lock;
    lock.store(REPAIR_LOCKED_FOR_TESTS | 77, Ordering::Relaxed);
    assert_eq!(
        ring.repair(9, &waiter(), everyone_alive, |_: u64| {}),
        Err(RepairError::Busy { pid: 77 })
    );
    let report = ring.repair(9, &waiter(), |c| c.pid != 77, |_: u64| {});
    assert_eq!(report, Ok(RepairReport::default()));
    assert_eq!(lock.load(Ordering::Relaxed), 0, "released after the repair");
}

const REPAIR_LOCKED_FOR_TESTS: u32 = 1 << 31;

#[test]
fn attach_checks_kind_and_participants() {
    let mut r = region();
    let bytes = r.as_uninit_mut();
    let len = bytes.len();
    let ptr = NonNull::from(&mut *bytes).cast::<u8>();
    // SAFETY: the boxed region, used only through views in this test.
    let ring = unsafe { Mpmc::<u64>::init_raw(ptr, len, 8, 4, InitOptions::default()) }.unwrap();
    let mut tx = ring.sender(waiter()).unwrap();
    tx.push(3).unwrap();
    // SAFETY: as above.
    let other = unsafe { Mpmc::<u64>::attach_raw(ptr, len, Schema::of::<u64>()) }.unwrap();
    assert_eq!((other.capacity(), other.max_participants()), (8, 4));
    assert_eq!(other.receiver(waiter()).unwrap().pop(), Ok(3));
    // SAFETY: as above.
    let as_spsc = unsafe { crate::spsc::Spsc::<u64>::attach_raw(ptr, len, Schema::of::<u64>()) };
    assert!(matches!(
        as_spsc,
        Err(AttachError::KindMismatch {
            expected: Kind::Spsc,
            found: 2
        })
    ));
    ring.hdr()
        .control
        .0
        .participants
        .store(0, Ordering::Relaxed);
    // SAFETY: as above.
    let bad = unsafe { Mpmc::<u64>::attach_raw(ptr, len, Schema::of::<u64>()) };
    assert_eq!(bad.unwrap_err(), AttachError::Corrupted);
    ring.hdr()
        .control
        .0
        .participants
        .store(4, Ordering::Relaxed);
    // SAFETY: as above.
    let short = unsafe { Mpmc::<u64>::attach_raw(ptr, 600, Schema::of::<u64>()) };
    assert!(matches!(short, Err(AttachError::RegionTooSmall { .. })));
}

#[test]
fn handles_are_send() {
    static_assertions::assert_impl_all!(Sender<'static, u64, W>: Send);
    static_assertions::assert_impl_all!(Receiver<'static, u64, W>: Send);
    static_assertions::assert_impl_all!(Mpmc<'static, u64>: Send, Sync, Copy);
    static_assertions::assert_not_impl_any!(Sender<'static, u64, W>: Clone);
}

/// A participant killed between claiming its record and joining its side's
/// count never counted: the repair frees its record but leaves the count
/// alone, so the live sender still counts and receivers do not see the
/// senders' side closed. (The record last held a sender, so its role word
/// still says "sender", of the previous tenure.)
#[test]
fn a_tenure_killed_before_joining_leaves_the_counts_alone() {
    let mut r = region();
    let ring = Mpmc::<u64>::init(r.as_uninit_mut(), 8, 3).unwrap();
    let live = ring.register_sender(101, waiter()).unwrap();
    let earlier = ring.register_sender(150, waiter()).unwrap();
    let record = earlier.record();
    drop(earlier);
    assert_eq!(ring.senders(), 1);
    // Process 200 wins the record's claim and is killed before its join.
    let generation = ring.record(record).claim.claim(200).unwrap();
    assert_eq!(ring.senders(), 1, "it never joined");
    let report = ring
        .repair(1, &waiter(), |c| c.pid != 200, |_: u64| {})
        .unwrap();
    assert_eq!(report.dead, 1, "its record is freed");
    assert_eq!(
        ring.participant(record).unwrap().state,
        RoleState::Closed(Claim {
            pid: 200,
            generation
        })
    );
    assert_eq!(ring.senders(), 1, "the live sender still counts");
    assert!(!ring.senders_closed());
    // A registered sender's repair still leaves the count.
    let dying = ring.register_sender(300, waiter()).unwrap();
    assert_eq!(ring.senders(), 2);
    core::mem::forget(dying);
    let report = ring
        .repair(1, &waiter(), |c| c.pid != 300, |_: u64| {})
        .unwrap();
    assert_eq!((report.dead, ring.senders()), (1, 1));
    drop(live);
    assert!(ring.senders_closed());
}
