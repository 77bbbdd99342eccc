//! The MPMC region as the hostile peer sees it: its byte offsets (header,
//! participant records, slots), the views laid into a [`HeapRegion`], and the
//! round trip that proves a ring whole, repairs of dead participants
//! included.

use core::mem::align_of;
use core::time::Duration;

use annulus::mpmc::{
    InitOptions, Mpmc, MpmcLayout, PopError, PopTimeoutError, PushError, PushSliceError,
    PushTimeoutError, Receiver, RegisterError, RepairReport, Sender,
};
use annulus::wait::Spin;
use annulus::{AttachError, LayoutError, Pod, Schema};

use crate::elem::Elem;
use crate::support::{HeapRegion, Rng, SHORT_NS, TickClock, W};

/// Byte offsets in an MPMC region (core/src/mpmc/mod.rs pins them). The
/// region header's words are those of [`crate::spsc_region::off`].
pub(crate) mod moff {
    pub(crate) const SENDERS: usize = 64;
    pub(crate) const RECEIVERS: usize = 68;
    pub(crate) const REPAIR_LOCK: usize = 72;
    pub(crate) const REPAIRS: usize = 76;
    pub(crate) const PARTICIPANTS: usize = 80;
    /// End of the control words; the rest of the first line is padding.
    pub(crate) const CONTROL_END: usize = 84;
    pub(crate) const EVENTS: usize = 128;
    pub(crate) const EVENTS_END: usize = 144;
    pub(crate) const TAIL: usize = 256;
    pub(crate) const HEAD: usize = 384;
    /// First participant record; each takes a 128-byte line.
    pub(crate) const RECORDS: usize = 512;
    pub(crate) const RECORD_SIZE: usize = 128;
    /// Words of a record, from its start.
    pub(crate) const CLAIM: usize = 0;
    pub(crate) const PID: usize = 4;
    pub(crate) const ROLE: usize = 8;
    pub(crate) const INTENT_POS: usize = 12;
    pub(crate) const INTENT_LEN: usize = 16;
    /// End of a record's words; the rest of its line is padding.
    pub(crate) const RECORD_END: usize = 20;
}

/// The repair lock's "held" bit (core/src/mpmc/repair.rs).
pub(crate) const REPAIR_LOCKED: u32 = 1 << 31;

/// "Empty for position `p`" in the doubled sequence space.
pub(crate) fn seq_empty(p: u32) -> u32 {
    p.wrapping_shl(1)
}

/// "Full at position `p`".
pub(crate) fn seq_full(p: u32) -> u32 {
    p.wrapping_add(1).wrapping_shl(1)
}

/// Where things are in one MPMC region of `T`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub(crate) cap: u32,
    pub(crate) parts: u32,
    pub(crate) layout: MpmcLayout,
    /// Offset of the value in a slot (after the sequence word).
    pub(crate) value_at: usize,
}

impl Geometry {
    pub(crate) fn of<T: Pod>(cap: u32, parts: u32) -> Self {
        let layout = Mpmc::<T>::layout(cap, parts).expect("MPMC layout");
        Geometry {
            cap,
            parts,
            layout,
            value_at: 4usize.next_multiple_of(align_of::<T>()),
        }
    }

    /// Offset of record `i`.
    pub(crate) fn record(&self, i: u32) -> usize {
        moff::RECORDS + moff::RECORD_SIZE * i as usize
    }

    /// Offset of the slot of position `p` (its sequence word).
    pub(crate) fn slot(&self, p: u32) -> usize {
        self.layout.slots_offset + self.layout.slot_size * (p & (self.cap - 1)) as usize
    }

    /// Every 32-bit word annulus reads atomically while a ring is in use:
    /// region header and control words, event counts, positions, record
    /// words, slot sequences.
    pub(crate) fn atomic_words(&self) -> Vec<usize> {
        let mut words: Vec<usize> = (0..moff::CONTROL_END)
            .step_by(4)
            .chain((moff::EVENTS..moff::EVENTS_END).step_by(4))
            .chain([moff::TAIL, moff::HEAD])
            .collect();
        for i in 0..self.parts {
            words.extend((0..moff::RECORD_END).step_by(4).map(|w| self.record(i) + w));
        }
        words.extend((0..self.cap).map(|p| self.slot(p)));
        words
    }
}

/// MPMC views over a heap region.
impl HeapRegion {
    /// Lays an MPMC ring into the whole region.
    pub(crate) fn mpmc_init<T: Pod>(&self, cap: u32, parts: u32) -> Mpmc<'_, T> {
        // SAFETY: the whole allocation, valid for the view's lifetime (it
        // borrows `self`); no reference into it is alive (the test's handles
        // are dropped before a re-init), and afterwards the test only writes
        // it as a peer would.
        unsafe { Mpmc::<T>::init_raw(self.ptr(), self.len(), cap, parts, InitOptions::default()) }
            .unwrap_or_else(|e: LayoutError| panic!("MPMC init_raw failed: {e:?}"))
    }

    pub(crate) fn mpmc_attach_at<T: Pod>(
        &self,
        offset: usize,
        len: usize,
        schema: Schema,
    ) -> Result<Mpmc<'_, T>, AttachError> {
        assert!(offset <= self.len() && len <= self.len() - offset);
        // SAFETY: `ptr + offset .. + len` lies in our allocation, valid for
        // the view's lifetime (it borrows `self`); every byte is initialised
        // (zeroed allocation, then `init_raw` or random bytes).
        unsafe { Mpmc::<T>::attach_raw(self.ptr().add(offset), len, schema) }
    }
}

/// Pids the round trip registers its participants with.
const LIVE_PID: u32 = 100;
const DEAD_SENDER: u32 = 0xDEAD_0001;
const DEAD_RECEIVER: u32 = 0xDEAD_0002;

/// With no hostile peer, the ring must behave: several senders and
/// receivers, elements out in claim order, full and empty reported, dead
/// participants repaired without loss, closing seen both ways. `region` must
/// be the memory under `ring`, with geometry `geo`.
pub(crate) fn mpmc_round_trip<T: Elem>(
    ring: Mpmc<'_, T>,
    region: &HeapRegion,
    geo: Geometry,
    clock: &TickClock,
    rng: &mut Rng,
    what: &str,
) {
    let (cap, parts) = (ring.capacity(), ring.max_participants());
    assert_eq!((cap, parts), (geo.cap, geo.parts), "{what}");
    let w = || Spin::new(clock.clone());
    // Leave a record free for the dead participants when there are three.
    let n_tx = 1 + rng.below(u64::from(parts / 2)) as u32;
    let spare = u32::from(parts >= 3);
    let n_rx = 1 + rng.below(u64::from(parts - n_tx - spare)) as u32;
    let mut txs: Vec<Sender<'_, T, W>> = (0..n_tx)
        .map(|i| {
            let mut tx = ring
                .register_sender(LIVE_PID + i, w())
                .unwrap_or_else(|e| panic!("{what}: sender {i}: {e:?}"));
            tx.set_spin_limit(2);
            tx
        })
        .collect();
    let mut rxs: Vec<Receiver<'_, T, W>> = (0..n_rx)
        .map(|i| {
            let mut rx = ring
                .register_receiver(LIVE_PID + n_tx + i, w())
                .unwrap_or_else(|e| panic!("{what}: receiver {i}: {e:?}"));
            rx.set_spin_limit(2);
            rx
        })
        .collect();
    assert_eq!((ring.senders(), ring.receivers()), (n_tx, n_rx), "{what}");
    assert_eq!(ring.held_claims().count(), (n_tx + n_rx) as usize, "{what}");
    for tx in &txs {
        let info = ring.participant(tx.record()).expect(what);
        assert_eq!(info.role, Some(annulus::mpmc::Role::Sender), "{what}");
        assert_eq!(info.intent.1, 0, "{what}: idle");
    }
    assert_eq!(ring.participant(parts), None, "{what}");
    assert_eq!((ring.len(), ring.is_empty()), (0, true), "{what}");
    assert_eq!(rxs[0].pop(), Err(PopError::Empty), "{what}");
    assert!(
        !txs[0].is_disconnected() && !rxs[0].is_disconnected(),
        "{what}"
    );
    let short = Some(Duration::from_nanos(SHORT_NS));

    let rounds = if cfg!(miri) { 2 } else { 16 };
    let mut next_in = 0u64;
    let mut next_out = 0u64;
    for round in 0..rounds {
        let k = if round % 2 == 0 {
            u64::from(cap)
        } else {
            1 + rng.below(u64::from(cap))
        };
        let target = next_in + k;
        while next_in < target {
            let take = 1 + rng.below(target - next_in);
            let batch: Vec<T> = (next_in..next_in + take).map(T::numbered).collect();
            let tx = &mut txs[rng.below_usize(n_tx as usize)];
            next_in += match rng.below(3) {
                0 => {
                    assert_eq!(tx.push(batch[0]), Ok(()), "{what}");
                    1
                }
                1 => {
                    assert_eq!(tx.push_slice(&batch), Ok(batch.len()), "{what}");
                    take
                }
                _ => {
                    assert_eq!(tx.push_blocking(batch[0], short), Ok(()), "{what}");
                    1
                }
            };
        }
        assert_eq!(u64::from(ring.len()), k, "{what}");
        if k == u64::from(cap) {
            let v = T::numbered(u64::MAX);
            let tx = &mut txs[0];
            assert_eq!(tx.push(v), Err(PushError::Full(v)), "{what}");
            assert_eq!(tx.push_slice(&[v]), Err(PushSliceError::Full), "{what}");
            let got = tx.push_blocking(v, short);
            assert_eq!(got, Err(PushTimeoutError::Timeout(v)), "{what}");
        }
        while next_out < next_in {
            let take = 1 + rng.below(next_in - next_out);
            let rx = &mut rxs[rng.below_usize(n_rx as usize)];
            match rng.below(3) {
                0 => {
                    assert_eq!(rx.pop(), Ok(T::numbered(next_out)), "{what}");
                    next_out += 1;
                }
                1 => {
                    let mut out = vec![T::zeroed(); take as usize];
                    assert_eq!(rx.pop_slice(&mut out), Ok(out.len()), "{what}");
                    for v in out {
                        assert_eq!(v, T::numbered(next_out), "{what}");
                        next_out += 1;
                    }
                }
                _ => {
                    assert_eq!(rx.pop_blocking(short), Ok(T::numbered(next_out)), "{what}");
                    next_out += 1;
                }
            }
        }
        let rx = &mut rxs[0];
        assert_eq!(rx.pop(), Err(PopError::Empty), "{what}");
        assert_eq!(
            rx.pop_blocking(short),
            Err(PopTimeoutError::Timeout),
            "{what}"
        );
        assert_eq!(ring.len(), 0, "{what}");
    }

    let repairs = ring.repairs();
    let everyone_alive = |_| true;
    let got = ring.repair(1, &w(), everyone_alive, |_| panic!("{what}: orphan"));
    assert_eq!(got, Ok(RepairReport::default()), "{what}");
    if spare == 1 {
        dead_participants(ring, region, geo, &mut txs[0], &mut rxs[0], clock, what);
        assert_eq!(ring.repairs(), repairs.wrapping_add(2), "{what}");
        assert_eq!(region.read_u32(moff::REPAIRS), ring.repairs(), "{what}");
    }
    // A repair lock left by a live repairer is busy; a dead one's is taken over.
    region.write_u32(moff::REPAIR_LOCK, REPAIR_LOCKED | 55);
    let got = ring.repair(1, &w(), everyone_alive, |_| {});
    assert_eq!(
        got.map(drop),
        Err(annulus::mpmc::RepairError::Busy { pid: 55 })
    );
    let got = ring.repair(1, &w(), |c| c.pid != 55, |_| {});
    assert_eq!(got, Ok(RepairReport::default()), "{what}");
    assert_eq!(region.read_u32(moff::REPAIR_LOCK), 0, "{what}");

    // Closing: receivers drain, then see the senders gone; a new sender
    // reopens; senders see the receivers gone.
    txs[0].push(T::numbered(next_in)).expect(what);
    txs.clear();
    assert_eq!(ring.senders(), 0, "{what}");
    assert!(rxs[0].is_disconnected(), "{what}");
    assert_eq!(rxs[0].pop(), Ok(T::numbered(next_in)), "{what}");
    assert_eq!(rxs[0].pop(), Err(PopError::Disconnected), "{what}");
    let got = rxs[0].pop_blocking(short);
    assert_eq!(got, Err(PopTimeoutError::Disconnected), "{what}");
    let mut tx = ring.sender(w()).expect(what);
    assert_eq!(rxs[0].pop(), Err(PopError::Empty), "{what}");
    rxs.clear();
    assert!(tx.is_disconnected(), "{what}");
    let v = T::numbered(7);
    assert_eq!(tx.push(v), Err(PushError::Disconnected(v)), "{what}");
    assert_eq!(
        tx.push_slice(&[v]),
        Err(PushSliceError::Disconnected),
        "{what}"
    );
    let got = tx.push_blocking(v, short);
    assert_eq!(got, Err(PushTimeoutError::Disconnected(v)), "{what}");
    // Every record but this sender's is free again.
    let more: Vec<_> = (1..parts)
        .map(|_| ring.receiver(w()).expect(what))
        .collect();
    let got = ring.receiver(w()).map(drop);
    assert_eq!(
        got,
        Err(RegisterError::TooManyParticipants { max: parts }),
        "{what}"
    );
    drop(more);
}

/// A sender and a receiver die between their claim and its end, as a
/// killed process would (the test writes what their claim CAS wrote); a
/// repair skips the sender's slot and hands the receiver's message back,
/// and the live participants carry on.
fn dead_participants<T: Elem>(
    ring: Mpmc<'_, T>,
    region: &HeapRegion,
    geo: Geometry,
    tx: &mut Sender<'_, T, W>,
    rx: &mut Receiver<'_, T, W>,
    clock: &TickClock,
    what: &str,
) {
    let w = || Spin::new(clock.clone());
    let (n_tx, n_rx) = (ring.senders(), ring.receivers());
    let (a, b) = (T::numbered(1 << 40), T::numbered((1 << 40) + 1));

    // A sender claims the slot at the tail and dies.
    let dead = ring.register_sender(DEAD_SENDER, w()).expect(what);
    let at = geo.record(dead.record());
    let tail = region.read_u32(moff::TAIL);
    region.write_u32(at + moff::INTENT_POS, tail);
    region.write_u32(at + moff::INTENT_LEN, 1);
    region.write_u32(moff::TAIL, tail.wrapping_add(1));
    tx.push(a).expect(what);
    assert_eq!(
        rx.pop(),
        Err(PopError::Empty),
        "{what}: behind the dead sender"
    );
    let alive = |c: annulus::claim::Claim| c.pid != DEAD_SENDER;
    let got = ring.repair(2, &w(), alive, |_| panic!("{what}: no orphan here"));
    let want = RepairReport {
        dead: 1,
        skipped: 1,
        orphans: 0,
    };
    assert_eq!(got, Ok(want), "{what}");
    assert_eq!(ring.senders(), n_tx, "{what}");
    drop(dead);
    assert_eq!(
        ring.senders(),
        n_tx,
        "{what}: a repaired handle leaves nothing"
    );
    assert_eq!(rx.pop(), Ok(a), "{what}: past the skipped slot");

    // A receiver claims the message at the head and dies.
    tx.push_slice(&[a, b]).expect(what);
    let dead = ring.register_receiver(DEAD_RECEIVER, w()).expect(what);
    let at = geo.record(dead.record());
    let head = region.read_u32(moff::HEAD);
    region.write_u32(at + moff::INTENT_POS, head);
    region.write_u32(at + moff::INTENT_LEN, 1);
    region.write_u32(moff::HEAD, head.wrapping_add(1));
    assert_eq!(rx.pop(), Ok(b), "{what}");
    let mut orphans = Vec::new();
    let alive = |c: annulus::claim::Claim| c.pid != DEAD_RECEIVER;
    let got = ring.repair(3, &w(), alive, |v| orphans.push(v));
    let want = RepairReport {
        dead: 1,
        skipped: 0,
        orphans: 1,
    };
    assert_eq!(got, Ok(want), "{what}");
    assert_eq!(orphans, [a], "{what}: the orphan is the claimed message");
    drop(dead);
    assert_eq!(ring.receivers(), n_rx, "{what}");
    assert_eq!(ring.len(), 0, "{what}");
    assert_eq!(rx.pop(), Err(PopError::Empty), "{what}");
}
