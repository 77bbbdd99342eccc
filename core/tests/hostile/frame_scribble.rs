//! The hostile peer of a live frame ring: forged frame headers (lengths at
//! and past every limit, padding flags), positions that disagree with the
//! frames, random body bytes; and the restoration after which the ring must
//! work again.

use annulus::frame::{FrameHeader, HEADER_SIZE};
use annulus::layout::Kind;

use crate::frame_live::FrameLive;
use crate::frame_region::frame_round_trip;
use crate::spsc_region::off;
use crate::support::{Stats, interesting_for};

impl FrameLive<'_> {
    fn interesting(&mut self, current: u32) -> u32 {
        let cap = self.cap;
        interesting_for(
            Kind::FrameRing,
            off::BODY as u32,
            &mut self.rng,
            current,
            cap,
        )
    }

    pub(crate) fn scribble(&mut self) {
        let cap = self.cap;
        self.stats.corruptions += 1;
        match self.rng.below(16) {
            0 => self.scribble_words(0, off::REGION_HEADER_END),
            1 => self.scribble_words(off::PRODUCER_CLAIM, off::CLAIMS_END),
            2 => {
                let at = off::EVENTS + 4 * self.rng.below_usize(4);
                let current = self.region.read_u32(at);
                let value = self.interesting(current);
                self.region.write_u32(at, value);
            }
            3 | 4 => {
                let (dst, other) = if self.rng.one_in(2) {
                    (off::TAIL, off::HEAD)
                } else {
                    (off::HEAD, off::TAIL)
                };
                let base = self.region.read_u32(other);
                let value = self.interesting(base);
                self.region.write_u32(dst, value);
            }
            5 => {
                // Both positions moved together, aligned or not.
                let head = self.rng.next_u32();
                let filled = self.rng.below(u64::from(cap) + 1) as u32;
                self.region.write_u32(off::HEAD, head);
                self.region.write_u32(off::TAIL, head.wrapping_add(filled));
            }
            6..=8 => self.forge_at_head(),
            9 => {
                // A forged header anywhere in the body, on a frame boundary.
                let at = self.rng.below(u64::from(cap / 8)) as u32 * 8;
                self.forge_header(at);
            }
            10 | 11 => {
                // Any bytes over part of the body (plain memory).
                let start = off::BODY + self.rng.below_usize(cap as usize);
                let end = off::BODY + cap as usize;
                let n = 1 + self.rng.below_usize((end - start).min(64));
                let bytes = self.rng.bytes(n);
                self.region.write(start, &bytes);
            }
            12 => self.scribble_words(0, off::BODY),
            13 => {
                // The peer makes the positions plausible again: the reader
                // reads whatever the bytes say.
                let tail = self.region.read_u32(off::TAIL);
                let filled = self.rng.below(u64::from(cap) + 1) as u32;
                self.region.write_u32(off::HEAD, tail.wrapping_sub(filled));
            }
            14 => {
                // Positions equal and 8-aligned: the ring is empty and sane.
                let pos = self.rng.next_u32() & !7;
                self.region.write_u32(off::HEAD, pos);
                self.region.write_u32(off::TAIL, pos);
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

    /// Random whole words over a random part of `lo..hi` (header words are
    /// atomics: see `spsc_scribble`).
    fn scribble_words(&mut self, lo: usize, hi: usize) {
        let start = (lo + self.rng.below_usize(hi - lo)) & !3;
        let end = (start + 1 + self.rng.below_usize((hi - start).min(32)) + 3) & !3;
        let bytes = self.rng.bytes(end - start);
        self.region.write(start, &bytes);
    }

    /// A forged header where the reader will look next, and sometimes a tail
    /// that commits more or less than it claims.
    fn forge_at_head(&mut self) {
        let cap = self.cap;
        let head = self.region.read_u32(off::HEAD);
        self.forge_header(head & (cap - 1));
        if self.rng.one_in(2) {
            let committed = match self.rng.below(4) {
                0 => HEADER_SIZE,
                1 => HEADER_SIZE - 1,
                2 => cap,
                _ => self.rng.below(u64::from(cap) + 1) as u32,
            };
            self.region
                .write_u32(off::TAIL, head.wrapping_add(committed));
        }
    }

    /// Writes a frame header at byte `index` of the body (cut at the end of
    /// the ring), with a length at or past a limit and any padding flag.
    fn forge_header(&mut self, index: u32) {
        let cap = self.cap;
        let contiguous = cap - index;
        let max = self.max_payload();
        let len = match self.rng.below(12) {
            0 => 0,
            1 => 1,
            2 => max,
            3 => max + 1,
            4 => max + 8,
            5 => contiguous.wrapping_sub(HEADER_SIZE),
            6 => contiguous.wrapping_sub(HEADER_SIZE - 1),
            7 => cap,
            8 => u32::MAX,
            9 => u32::MAX - HEADER_SIZE,
            10 => self.rng.below(u64::from(cap)) as u32,
            _ => self.rng.next_u32(),
        };
        let flags = match self.rng.below(4) {
            0 => FrameHeader::PADDING,
            1 => self.rng.next_u32(),
            _ => 0,
        };
        let header = FrameHeader {
            len,
            flags,
            msg_type: self.rng.next_u32(),
            priority: self.rng.next_u32(),
            sender: self.rng.next_u32(),
            reserved: self.rng.next_u32(),
            seq: self.rng.next_u64(),
        };
        let bytes = bytemuck::bytes_of(&header);
        let n = bytes.len().min(contiguous as usize);
        self.region.write(off::BODY + index as usize, &bytes[..n]);
    }

    /// The hostile peer stops: drop the ends, write a consistent header
    /// (the creator's region header, vacant or closed claims, no sleepers,
    /// equal positions, sometimes off the 8-byte grid), and check that the
    /// ring works normally, through a fresh attach and the original view.
    pub(crate) fn restore_and_check(mut self) -> Stats {
        self.writer = None;
        self.reader = None;
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
        let position = match self.rng.below(4) {
            0 => u32::MAX - self.rng.below(u64::from(self.cap) * 2) as u32,
            1 => 0,
            2 => self.rng.next_u32() & !7,
            _ => self.rng.next_u32(),
        };
        self.region.write_u32(off::TAIL, position);
        self.region.write_u32(off::HEAD, position);

        let view = self
            .region
            .frame_attach_at(0, self.region.len(), None)
            .unwrap_or_else(|e| panic!("attach after restoration: {e:?}"));
        assert_eq!(view.capacity(), self.cap);
        frame_round_trip(view, &self.clock, &mut self.rng, "restored view");
        frame_round_trip(self.ring, &self.clock, &mut self.rng, "original view");
        self.stats.ok("restoration round trip");
        self.stats
    }
}
