//! SPSC rings in use under a hostile peer: the operations the fuzzer picks
//! from, the live ring that runs them, and the tests over every element type
//! and capacity. The peer's scribbles and the restoration are in
//! `spsc_scribble`, the chunk, stream and attach operations in `spsc_live_ops`.

use annulus::claim::{Claim, RoleState};
use annulus::layout::MAGIC;
use annulus::spsc::{Consumer, DEFAULT_SPIN_LIMIT, PopError, Producer, PushError, Spsc};
use annulus::wait::Spin;
use core::mem::size_of;

use crate::elem::{Elem, Rec};
use crate::names::{
    claim_error_name, pop_error_name, pop_timeout_error_name, push_error_name,
    push_slice_error_name, push_timeout_error_name, role_state_name,
};
use crate::spsc_region::off;
use crate::support::{
    CAPACITIES, HeapRegion, Progress, Rng, Stats, TickClock, W, batch_limit, config, saved_header,
    stream_of, watchdog,
};

// ---------------------------------------------------------------------------
// Live rings
// ---------------------------------------------------------------------------

/// The operations the fuzzer picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Push,
    Pop,
    PushSlice,
    PopSlice,
    WriteChunk,
    ReadChunk,
    RingQueries,
    ProducerFree,
    ConsumerLen,
    Disconnected,
    RoleStates,
    PushBlocking,
    PopBlocking,
    WaitReadable,
    StreamTryWrite,
    StreamTryRead,
    StreamWriteBlocking,
    StreamReadBlocking,
    ReclaimProducer,
    ReclaimConsumer,
    ExtraClaim,
    AttachView,
    ReleaseDead,
    SpinLimit,
}

impl Op {
    /// `op` as the watchdog names it.
    fn describe(index: u32) -> Option<String> {
        let op = Op::ALL.get(index as usize)?;
        Some(format!("{op:?} ({})", op.name()))
    }

    pub(crate) const ALL: [Op; 24] = [
        Op::Push,
        Op::Pop,
        Op::PushSlice,
        Op::PopSlice,
        Op::WriteChunk,
        Op::ReadChunk,
        Op::RingQueries,
        Op::ProducerFree,
        Op::ConsumerLen,
        Op::Disconnected,
        Op::RoleStates,
        Op::PushBlocking,
        Op::PopBlocking,
        Op::WaitReadable,
        Op::StreamTryWrite,
        Op::StreamTryRead,
        Op::StreamWriteBlocking,
        Op::StreamReadBlocking,
        Op::ReclaimProducer,
        Op::ReclaimConsumer,
        Op::ExtraClaim,
        Op::AttachView,
        Op::ReleaseDead,
        Op::SpinLimit,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Push => "push",
            Op::Pop => "pop",
            Op::PushSlice => "push_slice",
            Op::PopSlice => "pop_slice",
            Op::WriteChunk => "write_chunk",
            Op::ReadChunk => "read_chunk",
            Op::RingQueries => "ring.len/is_empty",
            Op::ProducerFree => "producer.free",
            Op::ConsumerLen => "consumer.len/is_empty",
            Op::Disconnected => "is_disconnected",
            Op::RoleStates => "producer_state/consumer_state",
            Op::PushBlocking => "push_blocking",
            Op::PopBlocking => "pop_blocking",
            Op::WaitReadable => "wait_readable",
            Op::StreamTryWrite => "ByteWriter::try_write",
            Op::StreamTryRead => "ByteReader::try_read",
            Op::StreamWriteBlocking => "ByteWriter::write_(all_)blocking",
            Op::StreamReadBlocking => "ByteReader::read_(exact_)blocking",
            Op::ReclaimProducer => "drop+claim producer",
            Op::ReclaimConsumer => "drop+claim consumer",
            Op::ExtraClaim => "claim while held",
            Op::AttachView => "attach_raw view",
            Op::ReleaseDead => "release_dead_*",
            Op::SpinLimit => "set_spin_limit",
        }
    }
}

/// A ring in a heap region, both roles claimed, and a hostile peer.
pub(crate) struct Live<'r, T: Elem> {
    pub(crate) region: &'r HeapRegion,
    pub(crate) ring: Spsc<'r, T>,
    pub(crate) cap: u32,
    pub(crate) clock: TickClock,
    pub(crate) prod: Option<Producer<'r, T, W>>,
    pub(crate) cons: Option<Consumer<'r, T, W>>,
    pub(crate) rng: Rng,
    pub(crate) stats: Stats,
    /// The creator's region header, for the peer's occasional repairs.
    pub(crate) saved: [u32; 16],
}

impl<'r, T: Elem> Live<'r, T> {
    pub(crate) fn new(region: &'r HeapRegion, cap: u32, rng: Rng) -> Self {
        let ring = region.init::<T>(cap);
        // The offsets this file scribbles at are the real ones.
        assert_eq!(region.read_u32(off::MAGIC), MAGIC);
        assert_eq!(region.read_u32(off::CAPACITY), cap);
        assert_eq!(region.read_u32(off::ELEM_SIZE), size_of::<T>() as u32);
        let mut live = Live {
            region,
            ring,
            cap,
            clock: TickClock::default(),
            prod: None,
            cons: None,
            rng,
            stats: Stats::default(),
            saved: saved_header(region),
        };
        live.stats.regions += 1;
        live.prod = Some(live.ring.producer(live.waiter()).expect("fresh producer"));
        live.cons = Some(live.ring.consumer(live.waiter()).expect("fresh consumer"));
        assert_eq!(
            live.region.read_u32(off::PRODUCER_CLAIM),
            (1 << 2) | 1,
            "claim word offset"
        );
        live
    }

    pub(crate) fn waiter(&self) -> W {
        Spin::new(self.clock.clone())
    }

    /// Spin limits stay small so blocking calls reach the waiter quickly.
    pub(crate) fn spin_limit(&mut self) -> u32 {
        if !cfg!(miri) && self.rng.one_in(8) {
            DEFAULT_SPIN_LIMIT
        } else {
            self.rng.below(9) as u32
        }
    }

    pub(crate) fn values(&mut self, max: usize) -> Vec<T> {
        let n = self.rng.below_usize(batch_limit(max) + 1);
        (0..n).map(|_| T::random(&mut self.rng)).collect()
    }

    /// A batch length in `0..=2 * cap + 1` (shorter under miri).
    pub(crate) fn batch_len(&mut self) -> usize {
        let max = batch_limit(2 * self.cap as usize + 1);
        self.rng.below_usize(max + 1)
    }

    /// Runs `iters` random operations, each after a scribble with
    /// probability one half when `scribble` is set.
    pub(crate) fn run(&mut self, iters: u64, progress: &Progress, case: u64, scribble: bool) {
        progress.describe_ops(Op::describe);
        for iter in 0..iters {
            if scribble && self.rng.one_in(2) {
                self.scribble();
            }
            let index = self.rng.below_usize(Op::ALL.len());
            progress.at(case, iter, index as u64);
            self.op(Op::ALL[index]);
            self.stats.ops += 1;
        }
    }

    // --- roles --------------------------------------------------------------

    pub(crate) fn claim_producer(&mut self) -> Option<Producer<'r, T, W>> {
        let pid = self.rng.next_u32();
        let limit = self.spin_limit();
        match self.ring.claim_producer(pid, self.waiter()) {
            Ok(mut p) => {
                p.set_spin_limit(limit);
                self.stats.ok("claim producer");
                Some(p)
            }
            Err(e) => {
                self.stats.saw(claim_error_name(&e));
                None
            }
        }
    }

    pub(crate) fn claim_consumer(&mut self) -> Option<Consumer<'r, T, W>> {
        let pid = self.rng.next_u32();
        let limit = self.spin_limit();
        match self.ring.claim_consumer(pid, self.waiter()) {
            Ok(mut c) => {
                c.set_spin_limit(limit);
                self.stats.ok("claim consumer");
                Some(c)
            }
            Err(e) => {
                self.stats.saw(claim_error_name(&e));
                None
            }
        }
    }

    /// The producer, claiming it first if this side lost it.
    pub(crate) fn producer(&mut self) -> Option<&mut Producer<'r, T, W>> {
        if self.prod.is_none() {
            self.prod = self.claim_producer();
        }
        self.prod.as_mut()
    }

    pub(crate) fn consumer(&mut self) -> Option<&mut Consumer<'r, T, W>> {
        if self.cons.is_none() {
            self.cons = self.claim_consumer();
        }
        self.cons.as_mut()
    }

    // --- operations -----------------------------------------------------------

    pub(crate) fn op(&mut self, op: Op) {
        let cap = self.cap;
        let name = op.name();
        match op {
            Op::Push => {
                let value = T::random(&mut self.rng);
                let Some(p) = self.producer() else { return };
                let result = p.push(value);
                self.note_push(name, value, result);
            }
            Op::Pop => {
                let Some(c) = self.consumer() else { return };
                let result = c.pop();
                self.note_pop(name, result.map(|_| ()));
            }
            Op::PushSlice => {
                let values = self.values(2 * cap as usize + 1);
                let Some(p) = self.producer() else { return };
                match p.push_slice(&values) {
                    Ok(n) => {
                        assert!(
                            n <= values.len() && n <= cap as usize,
                            "push_slice sent {n}"
                        );
                        assert!(n > 0 || values.is_empty(), "push_slice sent 0");
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(push_slice_error_name(&e)),
                }
            }
            Op::PopSlice => {
                let len = self.batch_len();
                let mut out = vec![T::zeroed(); len];
                let Some(c) = self.consumer() else { return };
                match c.pop_slice(&mut out) {
                    Ok(n) => {
                        assert!(n <= len && n <= cap as usize, "pop_slice got {n}");
                        assert!(n > 0 || len == 0, "pop_slice got 0");
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(pop_error_name(&e)),
                }
            }
            Op::WriteChunk => self.write_chunk(),
            Op::ReadChunk => self.read_chunk(),
            Op::RingQueries => {
                let len = self.ring.len();
                assert!(len <= cap, "ring.len() = {len}");
                let _ = self.ring.is_empty();
                assert_eq!(self.ring.capacity(), cap);
                if self.rng.one_in(16) {
                    // Debug reads the positions too.
                    let _ = format!("{:?}", self.ring);
                }
                self.stats.ok(name);
            }
            Op::ProducerFree => {
                let Some(p) = self.producer() else { return };
                let free = p.free();
                assert!(free <= cap, "free() = {free}");
                assert_eq!(p.capacity(), cap);
                self.stats.ok(name);
            }
            Op::ConsumerLen => {
                let Some(c) = self.consumer() else { return };
                let len = c.len();
                assert!(len <= cap, "consumer len() = {len}");
                let _ = c.is_empty();
                assert_eq!(c.capacity(), cap);
                self.stats.ok(name);
            }
            Op::Disconnected => {
                if let Some(p) = &self.prod {
                    let _ = p.is_disconnected();
                }
                if let Some(c) = &self.cons {
                    let _ = c.is_disconnected();
                }
                self.stats.ok(name);
            }
            Op::RoleStates => {
                let p = self.ring.producer_state();
                let c = self.ring.consumer_state();
                self.stats.saw(role_state_name(&p));
                self.stats.saw(role_state_name(&c));
            }
            Op::PushBlocking => {
                let value = T::random(&mut self.rng);
                let timeout = self.rng.timeout();
                let Some(p) = self.producer() else { return };
                match p.push_blocking(value, timeout) {
                    Ok(()) => self.stats.ok(name),
                    Err(e) => {
                        self.stats.saw(push_timeout_error_name(&e));
                        assert_eq!(e.into_inner(), value, "push_blocking lost its value");
                    }
                }
            }
            Op::PopBlocking => {
                let timeout = self.rng.timeout();
                let Some(c) = self.consumer() else { return };
                match c.pop_blocking(timeout) {
                    Ok(_) => self.stats.ok(name),
                    Err(e) => self.stats.saw(pop_timeout_error_name(&e)),
                }
            }
            Op::WaitReadable => {
                let timeout = self.rng.timeout();
                let Some(c) = self.consumer() else { return };
                match c.wait_readable(timeout) {
                    Ok(n) => {
                        assert!(n >= 1 && n <= cap, "wait_readable = {n}");
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(pop_timeout_error_name(&e)),
                }
            }
            Op::StreamTryWrite
            | Op::StreamTryRead
            | Op::StreamWriteBlocking
            | Op::StreamReadBlocking => {
                if !T::stream_op(self, op) {
                    // Not a byte ring: a plain push or pop instead.
                    let fallback = match op {
                        Op::StreamTryWrite | Op::StreamWriteBlocking => Op::Push,
                        _ => Op::Pop,
                    };
                    self.op(fallback);
                }
            }
            Op::ReclaimProducer => {
                self.prod = None;
                self.prod = self.claim_producer();
            }
            Op::ReclaimConsumer => {
                self.cons = None;
                self.cons = self.claim_consumer();
            }
            Op::ExtraClaim => {
                // A second claim while this side holds the role: normally
                // Taken, but a hostile claim word can let it through.
                let held = if self.rng.one_in(2) {
                    let held = self.prod.is_some();
                    self.claim_producer().map(drop).is_some() && held
                } else {
                    let held = self.cons.is_some();
                    self.claim_consumer().map(drop).is_some() && held
                };
                if held {
                    self.stats.saw("second claim granted (hostile claim word)");
                }
            }
            Op::AttachView => self.attach_view(),
            Op::ReleaseDead => {
                let w = self.waiter();
                let random = Claim {
                    pid: self.rng.next_u32(),
                    generation: self.rng.next_u32(),
                };
                let producer = self.rng.one_in(2);
                let state = if producer {
                    self.ring.producer_state()
                } else {
                    self.ring.consumer_state()
                };
                let claim = match state {
                    RoleState::Held(c) | RoleState::Closed(c) if !self.rng.one_in(4) => c,
                    _ => random,
                };
                let released = if producer {
                    self.ring.release_dead_producer(claim, &w)
                } else {
                    self.ring.release_dead_consumer(claim, &w)
                };
                if released {
                    self.stats.saw("release_dead released a tenure");
                }
                self.stats.ok(name);
            }
            Op::SpinLimit => {
                let limit = self.spin_limit();
                if let Some(p) = &mut self.prod {
                    p.set_spin_limit(limit);
                    assert_eq!(p.spin_limit(), limit);
                }
                if let Some(c) = &mut self.cons {
                    c.set_spin_limit(limit);
                    assert_eq!(c.spin_limit(), limit);
                }
                self.stats.ok(name);
            }
        }
    }

    pub(crate) fn note_push(
        &mut self,
        name: &'static str,
        value: T,
        result: Result<(), PushError<T>>,
    ) {
        match result {
            Ok(()) => self.stats.ok(name),
            Err(e) => {
                self.stats.saw(push_error_name(&e));
                assert_eq!(e.into_inner(), value, "push lost its value");
            }
        }
    }

    pub(crate) fn note_pop(&mut self, name: &'static str, result: Result<(), PopError>) {
        match result {
            Ok(()) => self.stats.ok(name),
            Err(e) => self.stats.saw(pop_error_name(&e)),
        }
    }
}

// ---------------------------------------------------------------------------
// Live rings under a hostile peer
// ---------------------------------------------------------------------------

/// Runs the fuzzer over rings of `T` of every capacity, each case under its
/// own watchdog, then restores each ring and checks it works.
pub(crate) fn live_rings<T: Elem + 'static>(test: &'static str) {
    let cfg = config();
    let mut total = Stats::default();
    for (case, &cap) in CAPACITIES.iter().enumerate() {
        let name = format!("{test} cap {cap}");
        let stats = watchdog(&name, cfg, move |progress| {
            let region = HeapRegion::zeroed(Spsc::<T>::layout(cap).expect("layout").size);
            let rng = Rng::new(cfg.seed, stream_of(T::NAME) ^ case as u64);
            let mut live = Live::<T>::new(&region, cap, rng);
            live.run(cfg.iters, progress, case as u64, true);
            live.restore_and_check()
        });
        total.merge(stats);
    }
    total.report(test, cfg);
    assert_eq!(total.ops, cfg.iters * CAPACITIES.len() as u64);
    if cfg.iters >= 1_000 {
        for name in [
            "PopError::Corrupted",
            "PushError::Corrupted",
            "ClaimError::Corrupted",
            "ClaimError::Taken",
            "ChunkError::Corrupted",
            "PopTimeoutError::Corrupted",
            "PushTimeoutError::Corrupted",
        ] {
            assert!(total.has(name), "{name} never seen");
        }
    }
}

#[test]
pub(crate) fn live_u8_rings_survive_scribbles() {
    live_rings::<u8>("live u8");
}

#[test]
pub(crate) fn live_u64_rings_survive_scribbles() {
    live_rings::<u64>("live u64");
}

#[test]
pub(crate) fn live_rec24_rings_survive_scribbles() {
    live_rings::<Rec>("live rec24");
}
