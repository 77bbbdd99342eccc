//! MPMC rings in use under a hostile peer: several senders and receivers
//! registered from one thread, random operations (pushes and pops of every
//! shape, registrations, drops, repairs with random liveness, queries),
//! scribbles between them (in `mpmc_scribble`), and a restoration after
//! which the re-initialised region must work.

use annulus::Pod;
use annulus::claim::Claim;
use annulus::layout::MAGIC;
use annulus::mpmc::{Mpmc, Receiver, Sender};
use annulus::wait::Spin;

use crate::elem::{Elem, Rec};
use crate::mpmc_region::{Geometry, moff, seq_empty};
use crate::names::{
    pop_error_name, pop_timeout_error_name, push_error_name, push_slice_error_name,
    push_timeout_error_name, register_error_name, role_state_name,
};
use crate::spsc_region::off;
use crate::support::{
    Config, HeapRegion, Progress, Rng, Stats, TickClock, W, batch_limit, config, saved_header,
    stream_of, watchdog,
};

/// The operations the MPMC fuzzer picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MOp {
    Push,
    PushSlice,
    Pop,
    PopSlice,
    PushBlocking,
    PopBlocking,
    RegisterSender,
    RegisterReceiver,
    DropSender,
    DropReceiver,
    Repair,
    RingQueries,
    Participants,
    Disconnected,
    SpinLimit,
    AttachView,
}

impl MOp {
    pub(crate) const ALL: [MOp; 16] = [
        MOp::Push,
        MOp::PushSlice,
        MOp::Pop,
        MOp::PopSlice,
        MOp::PushBlocking,
        MOp::PopBlocking,
        MOp::RegisterSender,
        MOp::RegisterReceiver,
        MOp::DropSender,
        MOp::DropReceiver,
        MOp::Repair,
        MOp::RingQueries,
        MOp::Participants,
        MOp::Disconnected,
        MOp::SpinLimit,
        MOp::AttachView,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            MOp::Push => "push",
            MOp::PushSlice => "push_slice",
            MOp::Pop => "pop",
            MOp::PopSlice => "pop_slice",
            MOp::PushBlocking => "push_blocking",
            MOp::PopBlocking => "pop_blocking",
            MOp::RegisterSender => "register sender",
            MOp::RegisterReceiver => "register receiver",
            MOp::DropSender => "drop sender",
            MOp::DropReceiver => "drop receiver",
            MOp::Repair => "repair",
            MOp::RingQueries => "len/is_empty/senders/receivers/repairs",
            MOp::Participants => "participant/held_claims",
            MOp::Disconnected => "is_disconnected",
            MOp::SpinLimit => "set_spin_limit",
            MOp::AttachView => "attach_raw view",
        }
    }

    /// `op` as the watchdog names it.
    fn describe(index: u32) -> Option<String> {
        let op = MOp::ALL.get(index as usize)?;
        Some(format!("{op:?} ({})", op.name()))
    }
}

/// An MPMC ring in a heap region, its handles, and a hostile peer.
pub(crate) struct MpmcLive<'r, T: Elem> {
    pub(crate) region: &'r HeapRegion,
    pub(crate) ring: Mpmc<'r, T>,
    pub(crate) geo: Geometry,
    pub(crate) clock: TickClock,
    pub(crate) senders: Vec<Sender<'r, T, W>>,
    pub(crate) receivers: Vec<Receiver<'r, T, W>>,
    pub(crate) rng: Rng,
    pub(crate) stats: Stats,
    /// The creator's region header, for the peer's occasional repairs.
    pub(crate) saved: [u32; 16],
}

impl<'r, T: Elem> MpmcLive<'r, T> {
    pub(crate) fn new(region: &'r HeapRegion, cap: u32, parts: u32, rng: Rng) -> Self {
        let ring = region.mpmc_init::<T>(cap, parts);
        let geo = Geometry::of::<T>(cap, parts);
        // The offsets this file scribbles at are the real ones.
        assert_eq!(region.read_u32(off::MAGIC), MAGIC);
        assert_eq!(region.read_u32(off::CAPACITY), cap);
        assert_eq!(region.read_u32(moff::PARTICIPANTS), parts);
        assert_eq!(
            region.read_u32(off::BODY_OFFSET) as usize,
            geo.layout.slots_offset
        );
        for p in [0, cap - 1] {
            assert_eq!(region.read_u32(geo.slot(p)), seq_empty(p), "slot offsets");
        }
        let mut live = MpmcLive {
            region,
            ring,
            geo,
            clock: TickClock::default(),
            senders: Vec::new(),
            receivers: Vec::new(),
            rng,
            stats: Stats::default(),
            saved: saved_header(region),
        };
        live.stats.regions += 1;
        // Several senders and receivers, at least one of each.
        let n_tx = 1 + live.rng.below(u64::from(parts - 1)) as u32;
        for i in 0..parts {
            let pid = 1000 + i;
            let limit = live.spin_limit();
            if i < n_tx {
                let mut tx = ring
                    .register_sender(pid, live.waiter())
                    .expect("fresh sender");
                tx.set_spin_limit(limit);
                live.senders.push(tx);
            } else {
                let mut rx = ring
                    .register_receiver(pid, live.waiter())
                    .expect("fresh receiver");
                rx.set_spin_limit(limit);
                live.receivers.push(rx);
            }
        }
        assert_eq!(region.read_u32(moff::SENDERS), n_tx << 1, "count offset");
        let first = geo.record(live.senders[0].record());
        assert_eq!(region.read_u32(first + moff::PID), 1000, "record offsets");
        // Generation 1, sender.
        let role_word = region.read_u32(first + moff::ROLE);
        assert_eq!(role_word, (1 << 2) | 1, "record offsets");
        // A value lands where the test thinks a slot's value is.
        let value = T::numbered(0xA5);
        live.senders[0].push(value).expect("first push");
        let at = geo.slot(0) + geo.value_at;
        let bytes = bytemuck::bytes_of(&value);
        assert_eq!(
            live.region.read_bytes(at, bytes.len()),
            bytes,
            "value offset"
        );
        assert_eq!(live.receivers[0].pop(), Ok(value));
        live
    }

    pub(crate) fn waiter(&self) -> W {
        Spin::new(self.clock.clone())
    }

    /// Spin limits stay small so blocking calls reach the waiter quickly.
    fn spin_limit(&mut self) -> u32 {
        self.rng.below(9) as u32
    }

    fn values(&mut self, max: usize) -> Vec<T> {
        let n = self.rng.below_usize(batch_limit(max) + 1);
        (0..n).map(|_| T::random(&mut self.rng)).collect()
    }

    /// Runs `iters` random operations, each after a scribble with
    /// probability one half when `scribble` is set.
    pub(crate) fn run(&mut self, iters: u64, progress: &Progress, case: u64, scribble: bool) {
        progress.describe_ops(MOp::describe);
        for iter in 0..iters {
            if scribble && self.rng.one_in(2) {
                self.scribble();
            }
            let index = self.rng.below_usize(MOp::ALL.len());
            progress.at(case, iter, index as u64);
            self.op(MOp::ALL[index]);
            self.stats.ops += 1;
        }
    }

    // --- handles ------------------------------------------------------------

    /// Handles are capped at twice the records: a hostile claim word can
    /// let a registration reuse a record this side still holds.
    pub(crate) fn room(&self) -> bool {
        self.senders.len() + self.receivers.len() < 2 * self.geo.parts as usize
    }

    fn register_sender(&mut self) -> bool {
        let pid = self.rng.next_u32();
        let limit = self.spin_limit();
        match self.ring.register_sender(pid, self.waiter()) {
            Ok(mut tx) => {
                tx.set_spin_limit(limit);
                self.note_record(tx.record());
                self.senders.push(tx);
                self.stats.ok("register sender");
                true
            }
            Err(e) => {
                self.stats.saw(register_error_name(&e));
                false
            }
        }
    }

    fn register_receiver(&mut self) -> bool {
        let pid = self.rng.next_u32();
        let limit = self.spin_limit();
        match self.ring.register_receiver(pid, self.waiter()) {
            Ok(mut rx) => {
                rx.set_spin_limit(limit);
                self.note_record(rx.record());
                self.receivers.push(rx);
                self.stats.ok("register receiver");
                true
            }
            Err(e) => {
                self.stats.saw(register_error_name(&e));
                false
            }
        }
    }

    fn note_record(&mut self, record: u32) {
        assert!(
            record < self.geo.parts,
            "record {record} of {}",
            self.geo.parts
        );
        let held = self.senders.iter().map(|s| s.record());
        if held
            .chain(self.receivers.iter().map(|r| r.record()))
            .any(|r| r == record)
        {
            self.stats.saw("record reused while this side holds it");
        }
    }

    /// A random sender, registering one first if this side has none.
    fn sender(&mut self) -> Option<&mut Sender<'r, T, W>> {
        if self.senders.is_empty() && !(self.room() && self.register_sender()) {
            return None;
        }
        let i = self.rng.below_usize(self.senders.len());
        self.senders.get_mut(i)
    }

    fn receiver(&mut self) -> Option<&mut Receiver<'r, T, W>> {
        if self.receivers.is_empty() && !(self.room() && self.register_receiver()) {
            return None;
        }
        let i = self.rng.below_usize(self.receivers.len());
        self.receivers.get_mut(i)
    }

    // --- operations -----------------------------------------------------------

    fn op(&mut self, op: MOp) {
        let cap = self.geo.cap;
        let name = op.name();
        match op {
            MOp::Push => {
                let value = T::random(&mut self.rng);
                let Some(tx) = self.sender() else { return };
                match tx.push(value) {
                    Ok(()) => self.stats.ok(name),
                    Err(e) => {
                        self.stats.saw(push_error_name(&e));
                        assert_eq!(e.into_inner(), value, "push lost its value");
                    }
                }
            }
            MOp::PushSlice => {
                let values = self.values(2 * cap as usize + 1);
                let Some(tx) = self.sender() else { return };
                match tx.push_slice(&values) {
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
            MOp::Pop => {
                let Some(rx) = self.receiver() else { return };
                match rx.pop() {
                    Ok(_) => self.stats.ok(name),
                    Err(e) => self.stats.saw(pop_error_name(&e)),
                }
            }
            MOp::PopSlice => {
                let len = self.rng.below_usize(batch_limit(2 * cap as usize + 1) + 1);
                let mut out = vec![T::zeroed(); len];
                let Some(rx) = self.receiver() else { return };
                match rx.pop_slice(&mut out) {
                    Ok(n) => {
                        assert!(n <= len && n <= cap as usize, "pop_slice got {n}");
                        assert!(n > 0 || len == 0, "pop_slice got 0");
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(pop_error_name(&e)),
                }
            }
            MOp::PushBlocking => {
                let value = T::random(&mut self.rng);
                let timeout = self.rng.timeout();
                let Some(tx) = self.sender() else { return };
                match tx.push_blocking(value, timeout) {
                    Ok(()) => self.stats.ok(name),
                    Err(e) => {
                        self.stats.saw(push_timeout_error_name(&e));
                        assert_eq!(e.into_inner(), value, "push_blocking lost its value");
                    }
                }
            }
            MOp::PopBlocking => {
                let timeout = self.rng.timeout();
                let Some(rx) = self.receiver() else { return };
                match rx.pop_blocking(timeout) {
                    Ok(_) => self.stats.ok(name),
                    Err(e) => self.stats.saw(pop_timeout_error_name(&e)),
                }
            }
            MOp::RegisterSender => {
                if self.room() {
                    self.register_sender();
                }
            }
            MOp::RegisterReceiver => {
                if self.room() {
                    self.register_receiver();
                }
            }
            MOp::DropSender => {
                if !self.senders.is_empty() {
                    let i = self.rng.below_usize(self.senders.len());
                    drop(self.senders.swap_remove(i));
                    self.stats.ok(name);
                }
            }
            MOp::DropReceiver => {
                if !self.receivers.is_empty() {
                    let i = self.rng.below_usize(self.receivers.len());
                    drop(self.receivers.swap_remove(i));
                    self.stats.ok(name);
                }
            }
            MOp::Repair => self.repair(),
            MOp::RingQueries => {
                let len = self.ring.len();
                assert!(len <= cap, "len() = {len}");
                // Racy (a hostile thread may move the positions between the
                // two reads): called, not compared.
                let _ = (
                    self.ring.is_empty(),
                    self.ring.senders(),
                    self.ring.receivers(),
                    self.ring.repairs(),
                );
                assert_eq!(self.ring.capacity(), cap);
                assert_eq!(self.ring.max_participants(), self.geo.parts);
                if self.rng.one_in(16) {
                    // Debug reads the positions too.
                    let _ = format!("{:?}", self.ring);
                }
                self.stats.ok(name);
            }
            MOp::Participants => {
                let parts = self.geo.parts;
                for i in 0..parts {
                    let info = self.ring.participant(i).expect("a record below the count");
                    assert_eq!(info.index, i);
                    self.stats.saw(role_state_name(&info.state));
                }
                assert_eq!(self.ring.participant(parts), None);
                assert_eq!(self.ring.participant(u32::MAX), None);
                let held: Vec<(u32, Claim)> = self.ring.held_claims().collect();
                assert!(held.len() <= parts as usize);
                assert!(held.iter().all(|&(i, _)| i < parts));
                self.stats.ok(name);
            }
            MOp::Disconnected => {
                for tx in &self.senders {
                    let _ = tx.is_disconnected();
                    assert_eq!(tx.ring().capacity(), cap);
                }
                for rx in &self.receivers {
                    let _ = rx.is_disconnected();
                    assert!(rx.record() < self.geo.parts);
                }
                self.stats.ok(name);
            }
            MOp::SpinLimit => {
                let limit = self.spin_limit();
                for tx in &mut self.senders {
                    tx.set_spin_limit(limit);
                }
                for rx in &mut self.receivers {
                    rx.set_spin_limit(limit);
                }
                self.stats.ok(name);
            }
            MOp::AttachView => self.attach_view(),
        }
    }
}

/// The live cases: element type, capacity, participants.
fn cases() -> &'static [(u8, u32, u32)] {
    if cfg!(miri) {
        &[(0, 2, 2), (1, 8, 5), (2, 64, 8)]
    } else {
        &[
            (0, 2, 2),
            (0, 8, 5),
            (0, 64, 8),
            (1, 2, 3),
            (1, 8, 8),
            (1, 64, 2),
            (2, 2, 8),
            (2, 8, 4),
            (2, 64, 6),
        ]
    }
}

/// One live case of `T` under its own watchdog, then its restoration.
fn live_case<T: Elem + Pod>(
    cfg: Config,
    iters: u64,
    (cap, parts): (u32, u32),
    case: u64,
    progress: &Progress,
) -> Stats {
    let region = HeapRegion::zeroed(Geometry::of::<T>(cap, parts).layout.size);
    let rng = Rng::new(cfg.seed, stream_of("mpmc") ^ stream_of(T::NAME) ^ case);
    let mut live = MpmcLive::<T>::new(&region, cap, parts, rng);
    live.run(iters, progress, case, true);
    live.restore_and_check()
}

/// MPMC rings of bytes, words and records, capacities 2, 8 and 64, two to
/// eight participants, scribbled over between random operations.
#[test]
fn mpmc_rings_survive_scribbles() {
    let cfg = config();
    let mut total = Stats::default();
    for (case, &(ty, cap, parts)) in cases().iter().enumerate() {
        let case = case as u64;
        let name = format!("mpmc case {case}: type {ty} cap {cap} participants {parts}");
        let stats = watchdog(&name, cfg, move |progress| {
            let size = (cap, parts);
            match ty {
                0 => live_case::<u8>(cfg, cfg.iters, size, case, progress),
                1 => live_case::<u64>(cfg, cfg.iters, size, case, progress),
                _ => live_case::<Rec>(cfg, cfg.iters, size, case, progress),
            }
        });
        total.merge(stats);
    }
    total.report("mpmc live", cfg);
    assert_eq!(total.ops, cfg.iters * cases().len() as u64);
    if cfg.iters >= 1_000 {
        for name in [
            "PopError::Corrupted",
            "PushError::Corrupted",
            "PopError::Empty",
            "PushError::Full",
            "PopError::Disconnected",
            "PushError::Disconnected",
            "RegisterError::TooManyParticipants",
            "RepairError::Busy",
        ] {
            assert!(total.has(name), "{name} never seen");
        }
        // Rarer: a forged claim, then a repair that finds its claimer dead.
        if cfg.iters >= 10_000 {
            for name in ["repair skipped a slot", "repair handed back an orphan"] {
                assert!(total.has(name), "{name} never seen");
            }
        }
    }
}
