//! The hostile peer of a live SPSC ring: its scribbles between operations,
//! and the restoration after which the ring must work again.

use annulus::Schema;

use crate::elem::Elem;
use crate::spsc_live::Live;
use crate::spsc_region::{off, round_trip};
use crate::support::{Stats, interesting};

impl<'r, T: Elem> Live<'r, T> {
    // --- the hostile peer -------------------------------------------------

    pub(crate) fn scribble(&mut self) {
        let size = self.region.len();
        let cap = self.cap;
        self.stats.corruptions += 1;
        match self.rng.below(15) {
            0 => self.scribble_range(0, off::REGION_HEADER_END),
            1 => self.scribble_range(off::PRODUCER_CLAIM, off::CLAIMS_END),
            2 => self.scribble_range(off::EVENTS, off::EVENTS_END),
            3 | 4 => {
                // One position near the other: just inside or outside the
                // capacity, or an edge value.
                let (dst, other) = if self.rng.one_in(2) {
                    (off::TAIL, off::HEAD)
                } else {
                    (off::HEAD, off::TAIL)
                };
                let base = self.region.read_u32(other);
                let value = interesting(&mut self.rng, base, cap);
                self.region.write_u32(dst, value);
            }
            5 => {
                // Both positions moved together: plausible, and wrong.
                let head = self.rng.next_u32();
                let filled = self.rng.below(u64::from(cap) + 1) as u32;
                self.region.write_u32(off::HEAD, head);
                self.region.write_u32(off::TAIL, head.wrapping_add(filled));
            }
            6 => {
                // A claim word with any state (3 is invalid) and generation.
                let at = if self.rng.one_in(2) {
                    off::PRODUCER_CLAIM
                } else {
                    off::CONSUMER_CLAIM
                };
                let generation = if self.rng.one_in(4) {
                    u32::MAX >> 2
                } else {
                    self.rng.next_u32() >> 2
                };
                let word = (generation << 2) | self.rng.below(4) as u32;
                self.region.write_u32(at, word);
                if self.rng.one_in(2) {
                    let pid = self.rng.next_u32();
                    self.region.write_u32(at + 4, pid);
                }
            }
            7 => {
                // An event count's sequence or sleeper count.
                let at = off::EVENTS + 4 * self.rng.below_usize(4);
                let current = self.region.read_u32(at);
                let value = interesting(&mut self.rng, current, cap);
                self.region.write_u32(at, value);
            }
            8 => self.scribble_range(0, off::BODY),
            9 | 10 => self.scribble_range(off::BODY, size),
            11 => self.scribble_range(0, size),
            12 | 13 => {
                // The peer makes the positions consistent again (near the
                // shared tail, which may not be this producer's): the ring
                // carries on, with wrong data.
                let tail = self.region.read_u32(off::TAIL);
                let filled = self.rng.below(u64::from(cap) + 1) as u32;
                self.region.write_u32(off::HEAD, tail.wrapping_sub(filled));
            }
            _ => {
                // The peer releases both roles and rewrites the creator's
                // header, so claims and attaches can succeed again.
                for at in [off::PRODUCER_CLAIM, off::CONSUMER_CLAIM] {
                    let word = (self.rng.next_u32() & !3) | 2;
                    self.region.write_u32(at, word);
                }
                for (i, &word) in self.saved.iter().enumerate() {
                    self.region.write_u32(4 * i, word);
                }
            }
        }
    }

    /// Random bytes over a random part of `lo..hi`, covering whole 32-bit
    /// words (clamped to `hi`).
    ///
    /// A peer writing parts of a word can produce no value a whole-word write
    /// cannot, and a plain write to part of a word that was last written
    /// atomically - header words, and slot words too, since slots are copied
    /// with 32-bit atomic accesses when the element allows - followed by an
    /// atomic access to it crashes miri's weak-memory emulation (nightly
    /// 2026-05-19: "cannot have empty store buffer when previous write was
    /// atomic", the family of rust-lang/miri#5185).
    pub(crate) fn scribble_range(&mut self, lo: usize, hi: usize) {
        let start = (lo + self.rng.below_usize(hi - lo)) & !3;
        let end = start + 1 + self.rng.below_usize((hi - start).min(32));
        let end = ((end + 3) & !3).min(hi);
        let bytes = self.rng.bytes(end - start);
        self.region.write(start, &bytes);
    }

    // --- restoration ------------------------------------------------------------

    /// The hostile peer stops: drop the handles, write a consistent header
    /// (the creator's region header, vacant or closed claims, sleeper counts
    /// at zero, equal positions), and check that the ring works normally
    /// again, through a fresh attach and through the original view.
    pub(crate) fn restore_and_check(mut self) -> Stats {
        self.prod = None;
        self.cons = None;
        for (i, &word) in self.saved.iter().enumerate() {
            self.region.write_u32(4 * i, word);
        }
        for at in [off::PRODUCER_CLAIM, off::CONSUMER_CLAIM] {
            let word = if self.rng.one_in(2) {
                0
            } else {
                (self.rng.next_u32() & !3) | 2
            };
            self.region.write_u32(at, word);
            self.region.write_u32(at + 4, 0);
        }
        for at in [off::EVENTS, off::EVENTS + 8] {
            let seq = self.rng.next_u32();
            self.region.write_u32(at, seq);
            self.region.write_u32(at + 4, 0);
        }
        let position = match self.rng.below(3) {
            // Close to the wrap of the u32 positions.
            0 => u32::MAX - self.rng.below(u64::from(self.cap) * 2) as u32,
            1 => 0,
            _ => self.rng.next_u32(),
        };
        self.region.write_u32(off::TAIL, position);
        self.region.write_u32(off::HEAD, position);

        let view = self
            .region
            .attach::<T>(self.region.len(), Schema::of::<T>())
            .unwrap_or_else(|e| panic!("attach after restoration: {e:?}"));
        assert_eq!(view.capacity(), self.cap);
        round_trip(view, &self.clock, &mut self.rng, "restored view");
        round_trip(self.ring, &self.clock, &mut self.rng, "original view");
        self.stats.ok("restoration round trip");
        self.stats
    }
}
