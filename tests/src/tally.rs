//! What the consumers of a soak test received, kept where the parent can
//! check it: a shared memory object with one region per consumer, holding
//! a count per producer and a bitmap per producer of the sequence numbers
//! that consumer took.
//!
//! Each consumer writes only its own region, so the hot path is a load and
//! a store on a line no other process touches. It checks what it can see on
//! the spot (a sequence out of range, one it took twice, one that came
//! before an earlier one of the same producer and lane); the parent, after
//! every consumer has exited, checks the rest ([`Tally::check`]): each
//! sequence of each producer taken by exactly one consumer, and the counts
//! adding up.

use std::sync::atomic::{AtomicU32, Ordering};

use annulus_linux::{Mapping, SharedMemory};

use crate::UniqueName;

/// Bytes each consumer's region is rounded up to: a page, so no two
/// consumers write one cache line.
const REGION_ALIGN: usize = 4096;

/// How many producers and consumers a soak run has, and how many messages
/// each producer sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Producer processes, numbered `0..producers`.
    pub producers: u32,
    /// Consumer processes, numbered `0..consumers`.
    pub consumers: u32,
    /// Messages each producer sends, with sequences `0..per_producer`.
    pub per_producer: u32,
}

impl Plan {
    /// Messages the run moves in all.
    pub fn total(&self) -> u64 {
        u64::from(self.per_producer) * u64::from(self.producers)
    }

    /// `producers,consumers,per_producer`: how a child learns the plan.
    pub fn encode(&self) -> String {
        format!(
            "{},{},{}",
            self.producers, self.consumers, self.per_producer
        )
    }

    /// The inverse of [`Plan::encode`].
    pub fn decode(text: &str) -> Option<Plan> {
        let mut parts = text.split(',');
        let plan = Plan {
            producers: parts.next()?.parse().ok()?,
            consumers: parts.next()?.parse().ok()?,
            per_producer: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(plan)
    }

    /// Bitmap words per producer.
    fn words_per_producer(&self) -> usize {
        self.per_producer.div_ceil(32) as usize
    }

    /// Words of one consumer's region: the counts, then the bitmaps.
    fn region_words(&self) -> usize {
        let producers = self.producers as usize;
        let bytes = (producers + producers * self.words_per_producer()) * 4;
        bytes.div_ceil(REGION_ALIGN) * REGION_ALIGN / 4
    }

    fn len(&self) -> usize {
        (self.region_words() * self.consumers as usize * 4).max(REGION_ALIGN)
    }
}

/// The shared record of one soak run.
#[derive(Debug)]
pub struct Tally {
    plan: Plan,
    _shm: SharedMemory,
    map: Mapping,
    /// Set in the parent, which unlinks the object when it drops.
    name: Option<UniqueName>,
}

impl Tally {
    /// Creates the record for `plan` (all zero: nothing received yet), in
    /// a shared memory object unlinked when the tally drops.
    pub fn create(tag: &str, plan: Plan) -> Tally {
        let name = UniqueName::new(tag);
        let shm = SharedMemory::create(&name.0, plan.len(), 0o600).expect("create the tally");
        let map = shm.map().expect("map the tally");
        Tally {
            plan,
            _shm: shm,
            map,
            name: Some(name),
        }
    }

    /// Opens the record the parent created, in a consumer.
    pub fn open(name: &str, plan: Plan) -> Tally {
        let shm = SharedMemory::open(name, 0o600, plan.len()).expect("open the tally");
        let map = shm.map().expect("map the tally");
        Tally {
            plan,
            _shm: shm,
            map,
            name: None,
        }
    }

    /// The shared memory object's name, for the children.
    pub fn name(&self) -> &str {
        self.name.as_ref().map_or("", |n| n.0.as_str())
    }

    /// Consumer `consumer`'s region: its counts and its bitmaps.
    fn region(&self, consumer: u32) -> (&[AtomicU32], &[AtomicU32]) {
        assert!(consumer < self.plan.consumers, "consumer {consumer}");
        let words = self.plan.region_words();
        assert!(words * 4 * self.plan.consumers as usize <= self.map.len());
        // SAFETY: the region lies inside the mapping (asserted), which is
        // page aligned, so every word is aligned; every process touches the
        // tally only through atomics; the slice borrows `self`, which keeps
        // the mapping.
        let all = unsafe {
            core::slice::from_raw_parts(
                self.map
                    .ptr()
                    .as_ptr()
                    .cast::<AtomicU32>()
                    .add(consumer as usize * words),
                words,
            )
        };
        let producers = self.plan.producers as usize;
        let (counts, rest) = all.split_at(producers);
        (counts, &rest[..producers * self.plan.words_per_producer()])
    }

    /// The recorder of consumer `consumer`, checking order per producer and
    /// per lane (`lanes` FIFO classes, such as a message queue's
    /// priorities: order is promised only within one).
    pub fn recorder(&self, consumer: u32, lanes: u32) -> Recorder<'_> {
        let (counts, bits) = self.region(consumer);
        Recorder {
            consumer,
            per_producer: self.plan.per_producer,
            words_per_producer: self.plan.words_per_producer(),
            lanes,
            counts,
            bits,
            local_counts: vec![0; self.plan.producers as usize],
            last: vec![None; (self.plan.producers * lanes) as usize],
        }
    }

    /// After every consumer has exited: checks that each sequence of each
    /// producer was received by exactly one consumer and that the counts
    /// add up; returns how many messages each consumer received.
    ///
    /// # Errors
    ///
    /// The first sequence lost or duplicated, or a count that is off.
    pub fn check(&self) -> Result<Vec<u64>, String> {
        let plan = self.plan;
        let regions: Vec<_> = (0..plan.consumers).map(|c| self.region(c)).collect();
        let wpp = plan.words_per_producer();
        for producer in 0..plan.producers as usize {
            for word in 0..wpp {
                let at = producer * wpp + word;
                let mut seen = 0u32;
                for (consumer, (_, bits)) in regions.iter().enumerate() {
                    // Relaxed: the consumers have exited and been reaped.
                    let got = bits[at].load(Ordering::Relaxed);
                    if seen & got != 0 {
                        let seq = word as u32 * 32 + (seen & got).trailing_zeros();
                        return Err(format!(
                            "producer {producer} seq {seq}: received twice (again by consumer {consumer})"
                        ));
                    }
                    seen |= got;
                }
                let first = word as u32 * 32;
                let valid = plan.per_producer - first;
                let expected = if valid >= 32 {
                    u32::MAX
                } else {
                    (1u32 << valid) - 1
                };
                if seen != expected {
                    let seq = first + (!seen & expected).trailing_zeros();
                    return Err(format!("producer {producer} seq {seq}: never received"));
                }
            }
        }
        let mut per_consumer = Vec::new();
        for (consumer, (counts, bits)) in regions.iter().enumerate() {
            for producer in 0..plan.producers as usize {
                let count = counts[producer].load(Ordering::Relaxed);
                let ones: u32 = bits[producer * wpp..(producer + 1) * wpp]
                    .iter()
                    .map(|w| w.load(Ordering::Relaxed).count_ones())
                    .sum();
                if count != ones {
                    return Err(format!(
                        "consumer {consumer} producer {producer}: received {count}, {ones} distinct"
                    ));
                }
            }
            per_consumer.push(
                counts
                    .iter()
                    .map(|c| u64::from(c.load(Ordering::Relaxed)))
                    .sum(),
            );
        }
        let total: u64 = per_consumer.iter().sum();
        if total != plan.total() {
            return Err(format!("received {total} of {}", plan.total()));
        }
        Ok(per_consumer)
    }
}

/// One consumer's view of the tally: records each message, checking on the
/// spot what one consumer can see.
#[derive(Debug)]
pub struct Recorder<'a> {
    consumer: u32,
    per_producer: u32,
    words_per_producer: usize,
    lanes: u32,
    /// This consumer's counts, published by [`Recorder::finish`].
    counts: &'a [AtomicU32],
    /// This consumer's bitmaps; no other process writes them.
    bits: &'a [AtomicU32],
    local_counts: Vec<u32>,
    /// The last sequence taken of each (producer, lane).
    last: Vec<Option<u32>>,
}

impl Recorder<'_> {
    /// Records message `seq` of `producer`, sent in `lane`.
    ///
    /// # Errors
    ///
    /// A producer, lane or sequence out of range, a sequence this consumer
    /// took before, or one older than the last it took of that producer in
    /// that lane.
    #[inline]
    pub fn record(&mut self, producer: u32, lane: u32, seq: u32) -> Result<(), String> {
        let consumer = self.consumer;
        let key = producer as usize * self.lanes as usize + lane as usize;
        if producer as usize >= self.local_counts.len() || lane >= self.lanes {
            return Err(format!(
                "consumer {consumer}: producer {producer} lane {lane} out of range"
            ));
        }
        if seq >= self.per_producer {
            return Err(format!(
                "consumer {consumer}: producer {producer} seq {seq} out of range"
            ));
        }
        if let Some(last) = self.last[key].filter(|&last| seq <= last) {
            return Err(format!(
                "consumer {consumer}: producer {producer} lane {lane}: seq {seq} after {last}"
            ));
        }
        self.last[key] = Some(seq);
        let word = &self.bits[producer as usize * self.words_per_producer + (seq / 32) as usize];
        let bit = 1u32 << (seq % 32);
        // Relaxed: only this process writes the word; the parent reads it
        // after this process has exited and been reaped.
        let old = word.load(Ordering::Relaxed);
        if old & bit != 0 {
            return Err(format!(
                "consumer {consumer}: producer {producer} seq {seq} received twice"
            ));
        }
        word.store(old | bit, Ordering::Relaxed);
        self.local_counts[producer as usize] += 1;
        Ok(())
    }

    /// Messages recorded so far.
    pub fn received(&self) -> u64 {
        self.local_counts.iter().map(|&c| u64::from(c)).sum()
    }

    /// Publishes the counts for the parent's check.
    pub fn finish(self) {
        for (shared, &count) in self.counts.iter().zip(&self.local_counts) {
            // Relaxed: the parent reads after this process was reaped.
            shared.store(count, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            producers: 2,
            consumers: 2,
            per_producer: 70,
        }
    }

    #[test]
    fn plans_round_trip() {
        assert_eq!(Plan::decode(&plan().encode()), Some(plan()));
        assert_eq!(Plan::decode("1,2"), None);
        assert_eq!(Plan::decode("1,2,3,4"), None);
    }

    /// Records every message of both producers, split between the two
    /// consumers by `to_first`.
    fn deliver(tally: &Tally, to_first: impl Fn(u32, u32) -> bool) {
        let mut a = tally.recorder(0, 1);
        let mut b = tally.recorder(1, 1);
        for seq in 0..70 {
            for producer in 0..2 {
                let r = if to_first(producer, seq) {
                    &mut a
                } else {
                    &mut b
                };
                r.record(producer, 0, seq).unwrap();
            }
        }
        a.finish();
        b.finish();
    }

    #[test]
    fn a_complete_delivery_passes() {
        let tally = Tally::create("tally-ok", plan());
        deliver(&tally, |p, s| (p + s) % 3 == 0);
        let per_consumer = tally.check().unwrap();
        assert_eq!(per_consumer.iter().sum::<u64>(), 140);
    }

    #[test]
    fn a_lost_message_is_found() {
        let tally = Tally::create("tally-lost", plan());
        let mut a = tally.recorder(0, 1);
        for seq in 0..70 {
            if seq != 65 {
                a.record(0, 0, seq).unwrap();
            }
            a.record(1, 0, seq).unwrap();
        }
        a.finish();
        assert_eq!(
            tally.check(),
            Err("producer 0 seq 65: never received".into())
        );
    }

    #[test]
    fn a_message_received_by_two_consumers_is_found() {
        let tally = Tally::create("tally-twice", plan());
        deliver(&tally, |_, s| s < 40);
        tally.recorder(1, 1).record(1, 0, 3).unwrap();
        assert_eq!(
            tally.check(),
            Err("producer 1 seq 3: received twice (again by consumer 1)".into())
        );
    }

    #[test]
    fn a_count_that_is_off_is_found() {
        let tally = Tally::create("tally-count", plan());
        deliver(&tally, |_, _| true);
        tally.region(0).0[1].store(71, Ordering::Relaxed);
        assert_eq!(
            tally.check(),
            Err("consumer 0 producer 1: received 71, 70 distinct".into())
        );
    }

    #[test]
    fn one_consumer_sees_repeats_and_reordering() {
        let tally = Tally::create("tally-order", plan());
        let mut r = tally.recorder(0, 2);
        r.record(0, 0, 5).unwrap();
        r.record(0, 1, 3).unwrap(); // another lane: not ordered after 5
        assert!(r.record(0, 0, 4).unwrap_err().contains("seq 4 after 5"));
        assert!(r.record(0, 1, 3).unwrap_err().contains("seq 3 after 3"));
        assert!(r.record(0, 0, 70).unwrap_err().contains("out of range"));
        assert!(r.record(2, 0, 1).unwrap_err().contains("out of range"));
        assert!(r.record(0, 2, 1).unwrap_err().contains("out of range"));
        assert_eq!(r.received(), 2);
    }
}
