//! The hostile peer of a live MPMC ring: what it writes between operations
//! into the header, the participant records and the slots; and the
//! restoration after which the ring must work again.
//!
//! Every write into the header, the records or a slot's sequence covers
//! whole 32-bit words: those are atomics, and a plain write to part of one
//! that was last written atomically crashes miri's weak-memory emulation
//! (see `spsc_scribble`). Slot values are plain memory and get any bytes.

use core::mem::size_of;

use annulus::Schema;
use annulus::layout::Kind;

use crate::elem::Elem;
use crate::mpmc_live::MpmcLive;
use crate::mpmc_region::{REPAIR_LOCKED, moff, mpmc_round_trip, seq_empty, seq_full};
use crate::spsc_region::off;
use crate::support::{Stats, interesting_for, saved_header};

impl<T: Elem> MpmcLive<'_, T> {
    /// A value a peer might write into a word that holds `current`.
    fn interesting(&mut self, current: u32) -> u32 {
        let body = self.geo.layout.slots_offset as u32;
        interesting_for(Kind::Mpmc, body, &mut self.rng, current, self.geo.cap)
    }

    fn rewrite(&mut self, at: usize) {
        let current = self.region.read_u32(at);
        let value = self.interesting(current);
        self.region.write_u32(at, value);
    }

    pub(crate) fn scribble(&mut self) {
        let geo = self.geo;
        let cap = geo.cap;
        self.stats.corruptions += 1;
        match self.rng.below(16) {
            0 => self.scribble_words(0, off::REGION_HEADER_END),
            1 => {
                // Sender or receiver count, repair lock, repairs, participants.
                let at = moff::SENDERS + 4 * self.rng.below_usize(5);
                self.rewrite(at);
            }
            2 => {
                // An event count's sequence or sleeper count.
                let at = moff::EVENTS + 4 * self.rng.below_usize(4);
                self.rewrite(at);
            }
            3 | 4 => {
                // One position near the other.
                let (dst, other) = if self.rng.one_in(2) {
                    (moff::TAIL, moff::HEAD)
                } else {
                    (moff::HEAD, moff::TAIL)
                };
                let base = self.region.read_u32(other);
                let value = self.interesting(base);
                self.region.write_u32(dst, value);
            }
            5 => {
                // Both positions moved together: plausible, and wrong.
                let head = self.rng.next_u32();
                let filled = self.rng.below(u64::from(cap) + 1) as u32;
                self.region.write_u32(moff::HEAD, head);
                self.region.write_u32(moff::TAIL, head.wrapping_add(filled));
            }
            6 => self.scribble_record(),
            7 => self.die_mid_claim(),
            8 | 9 => self.scribble_seq(),
            10 => {
                // A slot's value.
                let at = geo.slot(self.rng.next_u32()) + geo.value_at;
                let bytes = self.rng.bytes(size_of::<T>());
                self.region.write(at, &bytes);
            }
            11 => self.scribble_words(moff::RECORDS, geo.layout.size),
            12 => self.scribble_words(0, geo.layout.size),
            13 => self.make_consistent(),
            14 => {
                // The repair lock: free, held by a pid, or any word.
                let pid = self.rng.next_u32();
                let word = match self.rng.below(3) {
                    0 => 0,
                    1 => REPAIR_LOCKED | pid,
                    _ => pid,
                };
                self.region.write_u32(moff::REPAIR_LOCK, word);
            }
            _ => {
                // The peer rewrites the creator's header and counts that
                // match this side's handles, so attaches and registrations
                // can succeed again.
                for (i, &word) in self.saved.iter().enumerate() {
                    self.region.write_u32(4 * i, word);
                }
                self.region.write_u32(moff::PARTICIPANTS, geo.parts);
                let senders = self.senders.len() as u32;
                let receivers = self.receivers.len() as u32;
                self.region.write_u32(moff::SENDERS, senders << 1);
                self.region.write_u32(moff::RECEIVERS, receivers << 1);
                self.region.write_u32(moff::REPAIR_LOCK, 0);
            }
        }
    }

    /// Random whole words over a random part of `lo..hi` (4-aligned).
    fn scribble_words(&mut self, lo: usize, hi: usize) {
        let start = (lo + self.rng.below_usize(hi - lo)) & !3;
        let end = (start + 1 + self.rng.below_usize((hi - start).min(32)) + 3) & !3;
        let bytes = self.rng.bytes(end - start);
        self.region.write(start, &bytes);
    }

    /// One word of a participant record: its claim (any state, generations
    /// at the wrap), pid, role, or an intent near the positions.
    fn scribble_record(&mut self) {
        let cap = self.geo.cap;
        let record = self
            .geo
            .record(self.rng.below(u64::from(self.geo.parts)) as u32);
        match self.rng.below(6) {
            0 => {
                let generation = if self.rng.one_in(4) {
                    u32::MAX >> 2
                } else {
                    self.rng.next_u32() >> 2
                };
                let word = (generation << 2) | self.rng.below(4) as u32;
                self.region.write_u32(record + moff::CLAIM, word);
            }
            1 => {
                let pid = self.rng.next_u32();
                self.region.write_u32(record + moff::PID, pid);
            }
            2 => {
                let role = [0, 1, 2, 3, self.rng.next_u32()][self.rng.below_usize(5)];
                self.region.write_u32(record + moff::ROLE, role);
            }
            3 => {
                let near = [moff::TAIL, moff::HEAD][self.rng.below_usize(2)];
                let base = self.region.read_u32(near);
                let pos = self.interesting(base);
                self.region.write_u32(record + moff::INTENT_POS, pos);
            }
            4 => {
                let len = match self.rng.below(6) {
                    0 => 0,
                    1 => 1,
                    2 => cap,
                    3 => cap + 1,
                    4 => u32::MAX,
                    _ => self.rng.below(u64::from(cap) + 1) as u32,
                };
                self.region.write_u32(record + moff::INTENT_LEN, len);
            }
            _ => self.scribble_words(record, record + moff::RECORD_END),
        }
    }

    /// A participant of the peer's dies between its claim and its end: a
    /// record held by an odd (dead, for the repairs that ask) pid announces
    /// positions at the tail or the head, which moves past them, as the
    /// claim CAS of a killed sender or receiver would.
    fn die_mid_claim(&mut self) {
        let geo = self.geo;
        let record = geo.record(self.rng.below(u64::from(geo.parts)) as u32);
        let (role, at) = if self.rng.one_in(2) {
            (1, moff::TAIL)
        } else {
            (2, moff::HEAD)
        };
        let pos = self.region.read_u32(at);
        let len = 1 + self.rng.below(u64::from(geo.cap.min(4))) as u32;
        let generation = self.rng.next_u32() >> 2;
        self.region
            .write_u32(record + moff::CLAIM, (generation << 2) | 1);
        self.region
            .write_u32(record + moff::PID, self.rng.next_u32() | 1);
        // The role word of a tenure that joined its count: `generation << 2
        // | role`.
        self.region
            .write_u32(record + moff::ROLE, (generation << 2) | role);
        self.region.write_u32(record + moff::INTENT_POS, pos);
        self.region.write_u32(record + moff::INTENT_LEN, len);
        self.region.write_u32(at, pos.wrapping_add(len));
    }

    /// A slot's sequence word, for a position near the head or the tail:
    /// empty or full for it or for a lap later, skipped, or noise.
    fn scribble_seq(&mut self) {
        let cap = self.geo.cap;
        let near = [moff::TAIL, moff::HEAD][self.rng.below_usize(2)];
        let base = self.region.read_u32(near);
        let p = base
            .wrapping_add(self.rng.below(2 * u64::from(cap)) as u32)
            .wrapping_sub(cap / 2);
        let at = self.geo.slot(p);
        let word = match self.rng.below(7) {
            0 => seq_empty(p),
            1 => seq_full(p),
            2 => seq_full(p) | 1,
            3 => seq_empty(p.wrapping_add(cap)),
            4 => seq_full(p.wrapping_sub(cap)),
            5 => self.rng.next_u32(),
            _ => {
                let current = self.region.read_u32(at);
                self.interesting(current)
            }
        };
        self.region.write_u32(at, word);
    }

    /// The peer makes positions and sequences agree again (near the shared
    /// tail): the ring carries on, with wrong data.
    fn make_consistent(&mut self) {
        let cap = self.geo.cap;
        let tail = self.region.read_u32(moff::TAIL);
        let filled = self.rng.below(u64::from(cap) + 1) as u32;
        let head = tail.wrapping_sub(filled);
        self.region.write_u32(moff::HEAD, head);
        for k in 0..cap {
            let p = head.wrapping_add(k);
            let word = if k < filled {
                seq_full(p)
            } else {
                seq_empty(p)
            };
            self.region.write_u32(self.geo.slot(p), word);
        }
    }

    // --- restoration ------------------------------------------------------------

    /// The hostile peer stops: drop the handles, lay the ring into the region
    /// again, and check that it works normally, through a fresh attach and
    /// through the original view.
    pub(crate) fn restore_and_check(mut self) -> Stats {
        self.senders.clear();
        self.receivers.clear();
        let geo = self.geo;
        let fresh = self.region.mpmc_init::<T>(geo.cap, geo.parts);
        assert_eq!(
            saved_header(self.region),
            self.saved,
            "the same header again"
        );
        let view = self
            .region
            .mpmc_attach_at::<T>(0, self.region.len(), Schema::of::<T>())
            .unwrap_or_else(|e| panic!("attach after restoration: {e:?}"));
        assert_eq!(
            (view.capacity(), view.max_participants()),
            (geo.cap, geo.parts)
        );
        let (region, clock) = (self.region, &self.clock);
        mpmc_round_trip(view, region, geo, clock, &mut self.rng, "restored view");
        mpmc_round_trip(
            self.ring,
            region,
            geo,
            clock,
            &mut self.rng,
            "original view",
        );
        mpmc_round_trip(
            fresh,
            region,
            geo,
            clock,
            &mut self.rng,
            "re-initialised view",
        );
        self.stats.ok("restoration round trip");
        self.stats
    }
}
