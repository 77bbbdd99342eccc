//! Hostile shared memory: DESIGN.md, "The shared-memory contract", rule 3.
//!
//! Another process can write any bytes into a shared region at any moment.
//! These tests play that process. They lay rings into heap regions with
//! `init_raw`, keep the raw pointer, and scribble over the header and the
//! slots between operations (and, with atomic stores, during them). Every
//! call must return: no panic, no arithmetic overflow, no out-of-bounds
//! access, no hang, no undefined behaviour (run them under miri). The worst a
//! hostile peer may cause is wrong data or an error.
//!
//! Every case runs under a watchdog thread that fails the test, with the seed,
//! if no operation returns for a long while; nothing asserts a speed. The
//! random choices come from a seeded splitmix64, so a failure replays with
//!
//! ```text
//! ANNULUS_HOSTILE_SEED=<seed> ANNULUS_HOSTILE_ITERS=<n> cargo test -p annulus --test hostile
//! ```
//!
//! (`--nocapture` shows the counts each test prints: regions, corruptions,
//! operations and the error variants observed.)

extern crate alloc;

use alloc::alloc::{alloc_zeroed, dealloc, handle_alloc_error};
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::sync::Arc;
use core::alloc::Layout;
use core::cell::Cell;
use core::fmt::{self, Debug};
use core::mem::size_of;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;
use std::sync::mpsc::{self, RecvTimeoutError};

use annulus::claim::{Claim, ClaimError, RoleState};
use annulus::layout::{Kind, LAYOUT_VERSION, MAGIC, REGION_ALIGN};
use annulus::spsc::{
    ByteReader, ByteWriter, ChunkError, Consumer, DEFAULT_SPIN_LIMIT, InitOptions, PopError,
    PopTimeoutError, Producer, PushError, PushSliceError, PushTimeoutError, Spsc, StreamError,
};
use annulus::wait::{Clock, Spin};
use annulus::{AttachError, LayoutError, Pod, Schema};
use bytemuck::Zeroable;

// ---------------------------------------------------------------------------
// Configuration and reporting
// ---------------------------------------------------------------------------

/// Seed used when `ANNULUS_HOSTILE_SEED` is not set.
const DEFAULT_SEED: u64 = 0x0A11_0C8E_5EED_2024;
/// Operations per live ring (and regions for the attach fuzzer) natively.
const DEFAULT_ITERS: u64 = 10_000;
/// The same under miri, which interprets every step.
const MIRI_ITERS: u64 = 24;

/// Longest batch (push_slice, pop_slice, stream buffers) under miri.
const MIRI_MAX_BATCH: usize = 20;

/// `max`, or at most [`MIRI_MAX_BATCH`] under miri.
fn batch_limit(max: usize) -> usize {
    if cfg!(miri) {
        max.min(MIRI_MAX_BATCH)
    } else {
        max
    }
}

/// Capacities of the live rings.
const CAPACITIES: [u32; 4] = [1, 2, 8, 64];

/// How long the watchdog lets a case go without a single operation
/// returning before it declares a hang. Under miri the clock is virtual and
/// runs with the interpreted work, so it gets far more.
const STALL_LIMIT: Duration = if cfg!(miri) {
    Duration::from_secs(3_600)
} else {
    Duration::from_secs(60)
};
/// How often the watchdog looks at the progress counter.
const WATCHDOG_TICK: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug)]
struct Config {
    seed: u64,
    iters: u64,
}

fn parse_u64(text: &str) -> Option<u64> {
    let text = text.trim().replace('_', "");
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(parse_u64(&value).unwrap_or_else(|| panic!("{name}={value:?} is not a number")))
}

fn config() -> Config {
    let default_iters = if cfg!(miri) {
        MIRI_ITERS
    } else {
        DEFAULT_ITERS
    };
    Config {
        seed: env_u64("ANNULUS_HOSTILE_SEED").unwrap_or(DEFAULT_SEED),
        iters: env_u64("ANNULUS_HOSTILE_ITERS").unwrap_or(default_iters),
    }
}

/// What a test did: how many regions it built, how many times it corrupted
/// one, how many operations it ran, and which outcomes it saw.
#[derive(Debug, Default)]
struct Stats {
    regions: u64,
    corruptions: u64,
    ops: u64,
    /// Error variants (and a few other outcomes) by name.
    seen: BTreeMap<&'static str, u64>,
    /// Successful calls by operation.
    ok: BTreeMap<&'static str, u64>,
}

impl Stats {
    fn saw(&mut self, what: &'static str) {
        *self.seen.entry(what).or_default() += 1;
    }

    fn ok(&mut self, op: &'static str) {
        *self.ok.entry(op).or_default() += 1;
    }

    fn merge(&mut self, other: Stats) {
        self.regions += other.regions;
        self.corruptions += other.corruptions;
        self.ops += other.ops;
        for (k, v) in other.seen {
            *self.seen.entry(k).or_default() += v;
        }
        for (k, v) in other.ok {
            *self.ok.entry(k).or_default() += v;
        }
    }

    fn has(&self, what: &str) -> bool {
        self.seen.contains_key(what)
    }

    fn report(&self, test: &str, cfg: Config) {
        println!(
            "hostile[{test}]: seed={:#x} iters={} regions={} corruptions={} ops={}",
            cfg.seed, cfg.iters, self.regions, self.corruptions, self.ops
        );
        let seen: Vec<String> = self.seen.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  errors/outcomes: {}", seen.join(" "));
        let ok: Vec<String> = self.ok.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  successful calls: {}", ok.join(" "));
    }
}

// ---------------------------------------------------------------------------
// Deterministic randomness
// ---------------------------------------------------------------------------

/// splitmix64: tiny, fast, and good enough to drive a fuzzer.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    /// An independent stream for `(seed, stream)`.
    fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next_u64();
        rng
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        match self.below(4) {
            0 => {}
            1 => buf.fill(0xFF),
            _ => self.fill(&mut buf),
        }
        buf
    }

    /// A timeout for a blocking call: up to four ticks of [`TickClock`], or
    /// none at all (`Duration::ZERO`). A timeout of at most one tick expires
    /// before the call reaches the waiter; under miri most are that short
    /// (the waiter polls thousands of times per clock read), and one in
    /// eight still sleeps.
    fn timeout(&mut self) -> Option<Duration> {
        let max_ticks = if !cfg!(miri) || self.one_in(8) { 4 } else { 1 };
        Some(Duration::from_nanos(self.below(max_ticks * TICK_NS + 1)))
    }
}

/// The init state a creator publishes last (layout.rs `READY`).
const READY: u32 = u32::from_le_bytes(*b"REDY");
/// The init state while a creator writes the header (layout.rs `INITIALISING`).
const INITIALISING: u32 = u32::from_le_bytes(*b"init");

/// A value a hostile (or buggy) peer might plausibly write into a 32-bit
/// word that now holds `current`: edge cases, a value within `cap + 1` of the
/// current one (just inside or just outside what a position check accepts),
/// a bit flip, a valid word of some other field, or noise.
fn interesting(rng: &mut Rng, current: u32, cap: u32) -> u32 {
    match rng.below(14) {
        0 => 0,
        1 => u32::MAX,
        2 => 1 << 31,
        3 => cap,
        4 => cap.wrapping_add(1),
        5 => cap.wrapping_mul(2),
        6 => current ^ (1 << rng.below(32)),
        7..=9 => {
            let spread = 2 * u64::from(cap) + 3;
            current
                .wrapping_add(rng.below(spread) as u32)
                .wrapping_sub(cap + 1)
        }
        10 => MAGIC,
        11 => [READY, INITIALISING, LAYOUT_VERSION, Kind::Spsc as u32, 512][rng.below_usize(5)],
        _ => rng.next_u32(),
    }
}

// ---------------------------------------------------------------------------
// Regions, clock, element types
// ---------------------------------------------------------------------------

/// Byte offsets in an SPSC region (core/src/spsc/mod.rs and layout.rs pin them).
mod off {
    pub(super) const MAGIC: usize = 0;
    pub(super) const VERSION: usize = 4;
    pub(super) const KIND: usize = 8;
    pub(super) const INIT_STATE: usize = 12;
    pub(super) const BODY_OFFSET: usize = 16;
    pub(super) const REGION_SIZE: usize = 20;
    pub(super) const CAPACITY: usize = 24;
    pub(super) const ELEM_SIZE: usize = 28;
    pub(super) const ELEM_ALIGN: usize = 32;
    pub(super) const SCHEMA_LO: usize = 36;
    pub(super) const SCHEMA_HI: usize = 40;
    pub(super) const CREATOR_PID: usize = 44;
    /// End of the region header (reserved words before it).
    pub(super) const REGION_HEADER_END: usize = 64;
    pub(super) const PRODUCER_CLAIM: usize = 64;
    pub(super) const CONSUMER_CLAIM: usize = 72;
    /// End of the claims; the rest of the first line is padding.
    pub(super) const CLAIMS_END: usize = 80;
    pub(super) const EVENTS: usize = 128;
    pub(super) const EVENTS_END: usize = 144;
    pub(super) const TAIL: usize = 256;
    pub(super) const HEAD: usize = 384;
    pub(super) const BODY: usize = 512;
}

/// Every 32-bit word of the SPSC header that annulus reads (all atomics):
/// region header, claims, event counts, tail, head. Padding excluded.
fn header_words() -> Vec<usize> {
    (0..off::CLAIMS_END)
        .step_by(4)
        .chain((off::EVENTS..off::EVENTS_END).step_by(4))
        .chain([off::TAIL, off::HEAD])
        .collect()
}

/// Zeroed, 128-aligned heap memory standing in for a shared mapping. The
/// test keeps the pointer and writes through it as the hostile peer would.
struct HeapRegion {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl HeapRegion {
    fn zeroed(size: usize) -> Self {
        let layout = Layout::from_size_align(size.max(1), REGION_ALIGN).expect("region layout");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout));
        HeapRegion { ptr, layout }
    }

    fn len(&self) -> usize {
        self.layout.size()
    }

    /// The hostile peer's plain write.
    ///
    /// Only called while no other thread touches the region and no chunk
    /// borrows its slots: a peer process may do this at any time, but in one
    /// process a racing non-atomic write would be a data race of the test.
    fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(offset <= self.len() && bytes.len() <= self.len() - offset);
        // SAFETY: the range is inside our live allocation (checked above);
        // nothing else accesses it during the copy (see the doc comment).
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.as_ptr().add(offset),
                bytes.len(),
            );
        }
    }

    fn write_u32(&self, offset: usize, value: u32) {
        self.write(offset, &value.to_ne_bytes());
    }

    /// Reads a header word (always initialised: `init_raw` writes every
    /// header field, and the allocation starts zeroed).
    fn read_u32(&self, offset: usize) -> u32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len());
        // SAFETY: in bounds and 4-aligned (the base is 128-aligned); the word
        // is initialised (see above) and not written concurrently.
        unsafe { self.ptr.as_ptr().add(offset).cast::<u32>().read() }
    }

    /// A header word as an atomic, for a hostile thread that writes while
    /// the ring is in use.
    fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len());
        // SAFETY: in bounds, 4-aligned, valid for as long as `self`. Every
        // word passed here is an `AtomicU32` field of the header that annulus
        // only accesses atomically with the same size; the test writes it
        // non-atomically only when no other thread runs.
        unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(offset).cast::<u32>()) }
    }

    /// Fills `range` with random bytes.
    fn randomize(&self, rng: &mut Rng, start: usize, end: usize) {
        let mut bytes = vec![0; end - start];
        rng.fill(&mut bytes);
        self.write(start, &bytes);
    }

    /// Lays a ring into the whole region.
    fn init<T: Pod>(&self, capacity: u32) -> Spsc<'_, T> {
        self.init_at(0, self.len(), capacity)
            .unwrap_or_else(|e| panic!("init_raw failed: {e:?}"))
    }

    fn init_at<T: Pod>(
        &self,
        offset: usize,
        len: usize,
        capacity: u32,
    ) -> Result<Spsc<'_, T>, LayoutError> {
        assert!(offset <= self.len() && len <= self.len() - offset);
        // SAFETY: `ptr + offset .. + len` lies in our allocation, valid for
        // the returned view's lifetime (it borrows `self`); no reference into
        // it is alive, and afterwards the test only writes it as a peer would.
        unsafe {
            let ptr = self.ptr.add(offset);
            Spsc::<T>::init_raw(ptr, len, capacity, InitOptions::default())
        }
    }

    fn attach<T: Pod>(&self, len: usize, schema: Schema) -> Result<Spsc<'_, T>, AttachError> {
        self.attach_at(0, len, schema)
    }

    fn attach_at<T: Pod>(
        &self,
        offset: usize,
        len: usize,
        schema: Schema,
    ) -> Result<Spsc<'_, T>, AttachError> {
        assert!(offset <= self.len() && len <= self.len() - offset);
        // SAFETY: as in `init_at`; every byte is initialised (zeroed
        // allocation, then `init_raw` or random bytes).
        unsafe { Spsc::<T>::attach_raw(self.ptr.add(offset), len, schema) }
    }
}

impl Drop for HeapRegion {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout; every view borrows
        // `self`, so none outlives this.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

/// Nanoseconds the test clock advances on each read.
const TICK_NS: u64 = 25_000;

/// A clock that advances by [`TICK_NS`] every time it is read, so that a
/// blocking call with a timeout ends after a few reads whatever the ring holds.
#[derive(Clone, Debug, Default)]
struct TickClock(Rc<Cell<u64>>);

impl Clock for TickClock {
    fn now_ns(&self) -> u64 {
        let now = self.0.get() + TICK_NS;
        self.0.set(now);
        now
    }
}

/// A short timeout for a call expected to time out: long enough to sleep in
/// the waiter once natively, one tick (no sleep) under miri.
const SHORT_NS: u64 = if cfg!(miri) { TICK_NS } else { 3 * TICK_NS };

type W = Spin<TickClock>;

/// A 24-byte plain element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Rec {
    seq: u64,
    lo: u32,
    hi: u32,
    tag: [u8; 8],
}

// No padding: 8 + 4 + 4 + 8 bytes at alignment 8.
const _: () = assert!(size_of::<Rec>() == 24 && core::mem::align_of::<Rec>() == 8);

// SAFETY: `repr(C)` integers and bytes with no padding (asserted above), so
// all-zero bytes are a valid `Rec`.
unsafe impl Zeroable for Rec {}
// SAFETY: as above; every bit pattern is a valid `Rec`, it has no pointers
// and no drop glue, and it is `Copy + 'static`.
unsafe impl Pod for Rec {}

/// What the tests need from an element type.
trait Elem: Pod + PartialEq + Debug {
    const NAME: &'static str;

    /// The `i`-th element of a known sequence.
    fn numbered(i: u64) -> Self;

    fn random(rng: &mut Rng) -> Self {
        let mut value = Self::zeroed();
        rng.fill(bytemuck::bytes_of_mut(&mut value));
        value
    }

    /// Runs a byte-stream operation (rings of `u8` only); `false` if `Self`
    /// has none.
    fn stream_op(live: &mut Live<'_, Self>, op: Op) -> bool {
        let _ = (live, op);
        false
    }
}

impl Elem for u8 {
    const NAME: &'static str = "u8";

    fn numbered(i: u64) -> Self {
        i as u8
    }

    fn stream_op(live: &mut Live<'_, u8>, op: Op) -> bool {
        live.stream_op(op);
        true
    }
}

impl Elem for u64 {
    const NAME: &'static str = "u64";

    fn numbered(i: u64) -> Self {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

impl Elem for Rec {
    const NAME: &'static str = "rec24";

    fn numbered(i: u64) -> Self {
        Rec {
            seq: i,
            lo: i as u32 ^ 0xA5A5_A5A5,
            hi: (i >> 32) as u32,
            tag: i.to_le_bytes(),
        }
    }
}

// ---------------------------------------------------------------------------
// Names of outcomes
// ---------------------------------------------------------------------------

const ATTACH_ERRORS: [&str; 12] = [
    "AttachError::NotReady",
    "AttachError::BadMagic",
    "AttachError::BadInitState",
    "AttachError::VersionMismatch",
    "AttachError::KindMismatch",
    "AttachError::ElementMismatch",
    "AttachError::SchemaMismatch",
    "AttachError::BadCapacity",
    "AttachError::BadGeometry",
    "AttachError::RegionTooSmall",
    "AttachError::Misaligned",
    "AttachError::Corrupted",
];

fn attach_error_name(e: &AttachError) -> &'static str {
    match e {
        AttachError::NotReady => ATTACH_ERRORS[0],
        AttachError::BadMagic { .. } => ATTACH_ERRORS[1],
        AttachError::BadInitState { .. } => ATTACH_ERRORS[2],
        AttachError::VersionMismatch { .. } => ATTACH_ERRORS[3],
        AttachError::KindMismatch { .. } => ATTACH_ERRORS[4],
        AttachError::ElementMismatch { .. } => ATTACH_ERRORS[5],
        AttachError::SchemaMismatch { .. } => ATTACH_ERRORS[6],
        AttachError::BadCapacity { .. } => ATTACH_ERRORS[7],
        AttachError::BadGeometry { .. } => ATTACH_ERRORS[8],
        AttachError::RegionTooSmall { .. } => ATTACH_ERRORS[9],
        AttachError::Misaligned { .. } => ATTACH_ERRORS[10],
        AttachError::Corrupted => ATTACH_ERRORS[11],
        _ => "AttachError::(variant unknown to this test)",
    }
}

fn claim_error_name(e: &ClaimError) -> &'static str {
    match e {
        ClaimError::Taken(_) => "ClaimError::Taken",
        ClaimError::Corrupted => "ClaimError::Corrupted",
        _ => "ClaimError::(variant unknown to this test)",
    }
}

fn role_state_name(s: &RoleState) -> &'static str {
    match s {
        RoleState::Vacant => "RoleState::Vacant",
        RoleState::Held(_) => "RoleState::Held",
        RoleState::Closed(_) => "RoleState::Closed",
    }
}

fn push_error_name<T>(e: &PushError<T>) -> &'static str {
    match e {
        PushError::Full(_) => "PushError::Full",
        PushError::Disconnected(_) => "PushError::Disconnected",
        PushError::Corrupted(_) => "PushError::Corrupted",
    }
}

fn push_timeout_error_name<T>(e: &PushTimeoutError<T>) -> &'static str {
    match e {
        PushTimeoutError::Timeout(_) => "PushTimeoutError::Timeout",
        PushTimeoutError::Disconnected(_) => "PushTimeoutError::Disconnected",
        PushTimeoutError::Corrupted(_) => "PushTimeoutError::Corrupted",
    }
}

fn push_slice_error_name(e: &PushSliceError) -> &'static str {
    match e {
        PushSliceError::Full => "PushSliceError::Full",
        PushSliceError::Disconnected => "PushSliceError::Disconnected",
        PushSliceError::Corrupted => "PushSliceError::Corrupted",
    }
}

fn pop_error_name(e: &PopError) -> &'static str {
    match e {
        PopError::Empty => "PopError::Empty",
        PopError::Disconnected => "PopError::Disconnected",
        PopError::Corrupted => "PopError::Corrupted",
    }
}

fn pop_timeout_error_name(e: &PopTimeoutError) -> &'static str {
    match e {
        PopTimeoutError::Timeout => "PopTimeoutError::Timeout",
        PopTimeoutError::Disconnected => "PopTimeoutError::Disconnected",
        PopTimeoutError::Corrupted => "PopTimeoutError::Corrupted",
    }
}

fn chunk_error_name(e: &ChunkError) -> &'static str {
    match e {
        ChunkError::TooFewSlots(_) => "ChunkError::TooFewSlots",
        ChunkError::Disconnected => "ChunkError::Disconnected",
        ChunkError::Corrupted => "ChunkError::Corrupted",
    }
}

fn stream_error_name(e: &StreamError) -> &'static str {
    match e {
        StreamError::WouldBlock => "StreamError::WouldBlock",
        StreamError::BrokenPipe => "StreamError::BrokenPipe",
        StreamError::TimedOut => "StreamError::TimedOut",
        StreamError::Corrupted => "StreamError::Corrupted",
    }
}

// ---------------------------------------------------------------------------
// Watchdog
// ---------------------------------------------------------------------------

/// Where a case is, for the watchdog's failure message. (u32 counters: the
/// workspace bans `AtomicU64`; they only ever wrap in a run of 2^32 steps.)
#[derive(Debug, Default)]
struct Progress {
    case: AtomicU32,
    iter: AtomicU32,
    op: AtomicU32,
    /// Bumped before each operation: the watchdog's heartbeat.
    beats: AtomicU32,
}

impl Progress {
    fn at(&self, case: u64, iter: u64, op: u64) {
        // Relaxed: diagnostics only.
        self.case.store(case as u32, Ordering::Relaxed);
        self.iter.store(iter as u32, Ordering::Relaxed);
        self.op.store(op as u32, Ordering::Relaxed);
        self.beats.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "case {} iteration {}",
            self.case.load(Ordering::Relaxed),
            self.iter.load(Ordering::Relaxed),
        )?;
        match Op::ALL.get(self.op.load(Ordering::Relaxed) as usize) {
            Some(op) => write!(f, " op {op:?} ({})", op.name()),
            None => Ok(()),
        }
    }
}

/// Runs `work` on its own thread and waits for it. Fails (naming the seed)
/// if it panics, or if it makes no progress (no `Progress::at`) for
/// [`STALL_LIMIT`]: a non-blocking call looping forever, or a blocking call
/// that ignores its timeout. Never a timed assertion on speed.
fn watchdog<R: Send + 'static>(
    name: &str,
    cfg: Config,
    work: impl FnOnce(&Progress) -> R + Send + 'static,
) -> R {
    let progress = Arc::new(Progress::default());
    let (tx, rx) = mpsc::channel();
    let worker_progress = Arc::clone(&progress);
    let handle = std::thread::Builder::new()
        .name(format!("hostile-{name}"))
        .spawn(move || {
            let result = work(&worker_progress);
            // The receiver is gone only if the watchdog already failed.
            let _ = tx.send(result);
        })
        .expect("spawn the worker thread");
    let reproduce = format!(
        "reproduce with ANNULUS_HOSTILE_SEED={:#x} ANNULUS_HOSTILE_ITERS={}",
        cfg.seed, cfg.iters
    );
    let mut last_beats = progress.beats.load(Ordering::Relaxed);
    let mut stalled = Duration::ZERO;
    loop {
        match rx.recv_timeout(WATCHDOG_TICK) {
            Ok(result) => {
                handle.join().expect("the worker sent its result");
                return result;
            }
            Err(RecvTimeoutError::Disconnected) => {
                let payload = handle
                    .join()
                    .expect_err("the worker ended without a result");
                let message = payload
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| payload.downcast_ref::<&str>().copied())
                    .unwrap_or("(non-string panic)");
                panic!("{name}: panicked at {progress}: {message}\n{reproduce}");
            }
            Err(RecvTimeoutError::Timeout) => {
                let beats = progress.beats.load(Ordering::Relaxed);
                if beats != last_beats {
                    last_beats = beats;
                    stalled = Duration::ZERO;
                } else {
                    stalled += WATCHDOG_TICK;
                    assert!(
                        stalled < STALL_LIMIT,
                        "{name}: no operation returned for {stalled:?}: hung at {progress}\n{reproduce}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Live rings
// ---------------------------------------------------------------------------

/// The operations the fuzzer picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
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
    const ALL: [Op; 24] = [
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

    fn name(self) -> &'static str {
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
struct Live<'r, T: Elem> {
    region: &'r HeapRegion,
    ring: Spsc<'r, T>,
    cap: u32,
    clock: TickClock,
    prod: Option<Producer<'r, T, W>>,
    cons: Option<Consumer<'r, T, W>>,
    rng: Rng,
    stats: Stats,
    /// The creator's region header, for the peer's occasional repairs.
    saved: [u32; 16],
}

impl<'r, T: Elem> Live<'r, T> {
    fn new(region: &'r HeapRegion, cap: u32, rng: Rng) -> Self {
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

    fn waiter(&self) -> W {
        Spin::new(self.clock.clone())
    }

    /// Spin limits stay small so blocking calls reach the waiter quickly.
    fn spin_limit(&mut self) -> u32 {
        if !cfg!(miri) && self.rng.one_in(8) {
            DEFAULT_SPIN_LIMIT
        } else {
            self.rng.below(9) as u32
        }
    }

    fn values(&mut self, max: usize) -> Vec<T> {
        let n = self.rng.below_usize(batch_limit(max) + 1);
        (0..n).map(|_| T::random(&mut self.rng)).collect()
    }

    /// A batch length in `0..=2 * cap + 1` (shorter under miri).
    fn batch_len(&mut self) -> usize {
        let max = batch_limit(2 * self.cap as usize + 1);
        self.rng.below_usize(max + 1)
    }

    /// Runs `iters` random operations, each after a scribble with
    /// probability one half when `scribble` is set.
    fn run(&mut self, iters: u64, progress: &Progress, case: u64, scribble: bool) {
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

    // --- the hostile peer -------------------------------------------------

    fn scribble(&mut self) {
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

    /// Random bytes over a random part of `lo..hi`.
    ///
    /// In the header the write covers whole 32-bit words. A peer writing
    /// parts of a word can produce no value a whole-word write cannot, and a
    /// plain write to part of a word that was last written atomically,
    /// followed by an atomic store to it, crashes miri's weak-memory
    /// emulation (nightly 2026-05-19: "cannot have empty store buffer when
    /// previous write was atomic", the family of rust-lang/miri#5185).
    fn scribble_range(&mut self, lo: usize, hi: usize) {
        let mut start = lo + self.rng.below_usize(hi - lo);
        let mut end = start + 1 + self.rng.below_usize((hi - start).min(32));
        if start < off::BODY {
            start &= !3;
        }
        if end <= off::BODY {
            end = (end + 3) & !3;
        }
        let bytes = self.rng.bytes(end - start);
        self.region.write(start, &bytes);
    }

    // --- roles --------------------------------------------------------------

    fn claim_producer(&mut self) -> Option<Producer<'r, T, W>> {
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

    fn claim_consumer(&mut self) -> Option<Consumer<'r, T, W>> {
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
    fn producer(&mut self) -> Option<&mut Producer<'r, T, W>> {
        if self.prod.is_none() {
            self.prod = self.claim_producer();
        }
        self.prod.as_mut()
    }

    fn consumer(&mut self) -> Option<&mut Consumer<'r, T, W>> {
        if self.cons.is_none() {
            self.cons = self.claim_consumer();
        }
        self.cons.as_mut()
    }

    // --- operations -----------------------------------------------------------

    fn op(&mut self, op: Op) {
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

    fn note_push(&mut self, name: &'static str, value: T, result: Result<(), PushError<T>>) {
        match result {
            Ok(()) => self.stats.ok(name),
            Err(e) => {
                self.stats.saw(push_error_name(&e));
                assert_eq!(e.into_inner(), value, "push lost its value");
            }
        }
    }

    fn note_pop(&mut self, name: &'static str, result: Result<(), PopError>) {
        match result {
            Ok(()) => self.stats.ok(name),
            Err(e) => self.stats.saw(pop_error_name(&e)),
        }
    }

    fn write_chunk(&mut self) {
        let cap = self.cap;
        let n = self.rng.below(u64::from(cap) + 3) as u32;
        let values = self.values(n as usize + 2);
        let how = self.rng.below(4);
        let commit = self.rng.below(u64::from(n) + 1) as u32;
        let Some(p) = self.producer() else { return };
        match p.write_chunk(n) {
            Ok(mut chunk) => {
                assert_eq!(chunk.len(), n);
                assert_eq!(chunk.is_empty(), n == 0);
                let (a, b) = chunk.as_mut_slices();
                assert_eq!(a.len() + b.len(), n as usize);
                assert!(a.len() <= cap as usize);
                let filled = chunk.fill_from(&values);
                assert_eq!(filled, values.len().min(n as usize));
                match how {
                    // Not committed: dropped at the end of this arm.
                    0 => {}
                    1 => chunk.commit_all(),
                    _ => chunk.commit(commit),
                }
                self.stats.ok("write_chunk");
            }
            Err(e) => {
                if let ChunkError::TooFewSlots(free) = e {
                    assert!(free < n && free <= cap, "TooFewSlots({free}) for {n}");
                }
                self.stats.saw(chunk_error_name(&e));
            }
        }
    }

    fn read_chunk(&mut self) {
        let cap = self.cap;
        let n = self.rng.below(u64::from(cap) + 3) as u32;
        let out_len = self.rng.below_usize(n as usize + 2);
        let how = self.rng.below(4);
        let release = self.rng.below(u64::from(n) + 1) as u32;
        let mut out = vec![T::zeroed(); out_len];
        let Some(c) = self.consumer() else { return };
        match c.read_chunk(n) {
            Ok(chunk) => {
                assert_eq!(chunk.len(), n);
                assert_eq!(chunk.is_empty(), n == 0);
                let (a, b) = chunk.as_slices();
                assert_eq!(a.len() + b.len(), n as usize);
                assert!(a.len() <= cap as usize);
                let copied = chunk.copy_to(&mut out);
                assert_eq!(copied, out_len.min(n as usize));
                match how {
                    // Not released: dropped at the end of this arm.
                    0 => {}
                    1 => chunk.release_all(),
                    _ => chunk.release(release),
                }
                self.stats.ok("read_chunk");
            }
            Err(e) => {
                if let ChunkError::TooFewSlots(filled) = e {
                    assert!(filled < n && filled <= cap, "TooFewSlots({filled}) for {n}");
                }
                self.stats.saw(chunk_error_name(&e));
            }
        }
    }

    /// A second view over the live region, as another process attaching.
    fn attach_view(&mut self) {
        let len = self.region.len();
        match self.region.attach::<T>(len, Schema::of::<T>()) {
            Ok(view) => {
                let vcap = view.capacity();
                let size = Spsc::<T>::layout(vcap).expect("attach accepted a bad capacity");
                assert!(
                    size.size <= len,
                    "attach accepted a ring larger than its memory"
                );
                assert!(view.len() <= vcap);
                let _ = view.producer_state();
                self.stats.ok("attach_raw view");
                if self.rng.one_in(4) {
                    // Through the view, as the other process would.
                    let mut c = view.consumer(self.waiter());
                    let mut p = view.producer(self.waiter());
                    if let Ok(c) = &mut c {
                        let _ = c.pop();
                    }
                    if let Ok(p) = &mut p {
                        let _ = p.push(T::random(&mut self.rng));
                    }
                    if c.is_ok() || p.is_ok() {
                        self.stats.saw("role claimed through a second view");
                    }
                }
            }
            Err(e) => self.stats.saw(attach_error_name(&e)),
        }
    }

    // --- restoration ------------------------------------------------------------

    /// The hostile peer stops: drop the handles, write a consistent header
    /// (the creator's region header, vacant or closed claims, sleeper counts
    /// at zero, equal positions), and check that the ring works normally
    /// again, through a fresh attach and through the original view.
    fn restore_and_check(mut self) -> Stats {
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

impl Live<'_, u8> {
    fn stream_op(&mut self, op: Op) {
        let cap = self.cap as usize;
        let name = op.name();
        match op {
            Op::StreamTryWrite | Op::StreamWriteBlocking => {
                let len = self.batch_len();
                let buf = self.rng.bytes(len);
                let timeout = self.rng.timeout();
                let all = self.rng.one_in(2);
                if self.producer().is_none() {
                    return;
                }
                let p = self.prod.take().expect("claimed above");
                let mut w = ByteWriter::new(p);
                let result = match op {
                    Op::StreamTryWrite => w.try_write(&buf),
                    _ if all => w.write_all_blocking(&buf, timeout).map(|()| len),
                    _ => w.write_blocking(&buf, timeout),
                };
                self.prod = Some(w.into_inner());
                match result {
                    Ok(n) => {
                        assert!(n <= len, "wrote {n} of {len}");
                        assert!(n > 0 || len == 0, "wrote 0");
                        assert!(n <= cap || (all && op != Op::StreamTryWrite));
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(stream_error_name(&e)),
                }
            }
            _ => {
                let len = self.batch_len();
                let mut buf = vec![0u8; len];
                let timeout = self.rng.timeout();
                let exact = self.rng.one_in(2);
                if self.consumer().is_none() {
                    return;
                }
                let c = self.cons.take().expect("claimed above");
                let mut r = ByteReader::new(c);
                let result = match op {
                    Op::StreamTryRead => r.try_read(&mut buf),
                    _ if exact => r.read_exact_blocking(&mut buf, timeout),
                    _ => r.read_blocking(&mut buf, timeout),
                };
                self.cons = Some(r.into_inner());
                match result {
                    Ok(n) => {
                        assert!(n <= len, "read {n} into {len}");
                        assert!(n <= cap || (exact && op != Op::StreamTryRead));
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(stream_error_name(&e)),
                }
            }
        }
    }
}

/// With no hostile peer, the ring must behave: elements come out in order,
/// full and empty are reported, closing is seen. Crosses the wrap of the
/// slots several times.
fn round_trip<T: Elem>(ring: Spsc<'_, T>, clock: &TickClock, rng: &mut Rng, what: &str) {
    let cap = ring.capacity();
    let w = || Spin::new(clock.clone());
    let mut tx = ring
        .producer(w())
        .unwrap_or_else(|e| panic!("{what}: producer claim: {e:?}"));
    let mut rx = ring
        .consumer(w())
        .unwrap_or_else(|e| panic!("{what}: consumer claim: {e:?}"));
    tx.set_spin_limit(2);
    rx.set_spin_limit(2);
    assert_eq!(ring.len(), 0, "{what}");
    assert!(ring.is_empty(), "{what}");
    assert_eq!(tx.free(), cap, "{what}");
    assert_eq!(rx.len(), 0, "{what}");
    assert!(!tx.is_disconnected() && !rx.is_disconnected(), "{what}");
    assert_eq!(rx.pop(), Err(PopError::Empty), "{what}");
    let short = Some(Duration::from_nanos(SHORT_NS));

    let rounds = if cfg!(miri) { 2 } else { 16 };
    let mut next_in = 0u64;
    let mut next_out = 0u64;
    for round in 0..rounds {
        // Fill to the brim every other round.
        let k = if round % 2 == 0 {
            u64::from(cap)
        } else {
            1 + rng.below(u64::from(cap))
        };
        let target = next_in + k;
        while next_in < target {
            let want = target - next_in;
            let take = 1 + rng.below(want);
            let batch: Vec<T> = (next_in..next_in + take).map(T::numbered).collect();
            next_in += match rng.below(4) {
                0 => {
                    assert_eq!(tx.push(batch[0]), Ok(()), "{what}");
                    1
                }
                1 => {
                    assert_eq!(tx.push_slice(&batch), Ok(batch.len()), "{what}");
                    take
                }
                2 => {
                    let mut chunk = tx.write_chunk(take as u32).expect(what);
                    assert_eq!(chunk.fill_from(&batch), batch.len(), "{what}");
                    chunk.commit_all();
                    take
                }
                _ => {
                    assert_eq!(tx.push_blocking(batch[0], short), Ok(()), "{what}");
                    1
                }
            };
        }
        assert_eq!(u64::from(ring.len()), k, "{what}");
        assert_eq!(u64::from(rx.len()), k, "{what}");
        if k == u64::from(cap) {
            let v = T::numbered(u64::MAX);
            assert_eq!(tx.push(v), Err(PushError::Full(v)), "{what}");
            assert_eq!(tx.free(), 0, "{what}");
            assert_eq!(tx.push_slice(&[v]), Err(PushSliceError::Full), "{what}");
            assert_eq!(
                tx.write_chunk(1).map(|c| c.len()),
                Err(ChunkError::TooFewSlots(0)),
                "{what}"
            );
            assert_eq!(
                tx.push_blocking(v, short),
                Err(PushTimeoutError::Timeout(v)),
                "{what}"
            );
        }
        while next_out < next_in {
            let left = next_in - next_out;
            let take = 1 + rng.below(left);
            match rng.below(4) {
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
                2 => {
                    let chunk = rx.read_chunk(take as u32).expect(what);
                    let mut out = vec![T::zeroed(); take as usize];
                    assert_eq!(chunk.copy_to(&mut out), out.len(), "{what}");
                    chunk.release_all();
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
        assert_eq!(rx.pop(), Err(PopError::Empty), "{what}");
        assert_eq!(
            rx.pop_blocking(short),
            Err(PopTimeoutError::Timeout),
            "{what}"
        );
        assert_eq!(ring.len(), 0, "{what}");
    }
    // Closing still works both ways.
    tx.push(T::numbered(next_in)).expect(what);
    drop(tx);
    assert!(rx.is_disconnected(), "{what}");
    assert_eq!(rx.pop(), Ok(T::numbered(next_in)), "{what}");
    assert_eq!(rx.pop(), Err(PopError::Disconnected), "{what}");
    let mut tx = ring.producer(w()).expect(what);
    drop(rx);
    let v = T::numbered(7);
    assert_eq!(tx.push(v), Err(PushError::Disconnected(v)), "{what}");
}

/// The creator's region header (the first 64 bytes), to restore it later.
fn saved_header(region: &HeapRegion) -> [u32; 16] {
    core::array::from_fn(|i| region.read_u32(4 * i))
}

/// A stream number for each element type, so the cases draw different bytes.
fn stream_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------
// Attach
// ---------------------------------------------------------------------------

/// Every `AttachError` variant, reached on purpose and asserted by name and
/// fields; plus the regions `attach` must accept.
#[test]
fn attach_reports_every_error_by_name() {
    let cfg = config();
    let stats = watchdog("attach-named", cfg, move |progress| {
        let mut stats = Stats::default();
        let cap = 8;
        let size = Spsc::<u64>::layout(cap).expect("layout").size;
        let schema = Schema::of::<u64>();
        let mut step = 0;
        let mut check = |stats: &mut Stats, what: &str, got: Result<u32, AttachError>, want| {
            step += 1;
            progress.at(0, step, u64::MAX);
            stats.regions += 1;
            assert_eq!(got, want, "{what}");
            match want {
                Ok(_) => stats.ok("attach_raw"),
                Err(e) => stats.saw(attach_error_name(&e)),
            }
        };
        let cap_of = |r: Result<Spsc<'_, u64>, AttachError>| r.map(|v| v.capacity());
        // A region with a valid ring, then `word` at `at` overwritten.
        let with = |at: usize, word: u32| {
            let region = HeapRegion::zeroed(size + REGION_ALIGN);
            region.init::<u64>(cap);
            region.write_u32(at, word);
            region
        };
        let fresh = || with(off::CREATOR_PID, 0);

        let r = fresh();
        check(&mut stats, "valid", cap_of(r.attach(size, schema)), Ok(cap));
        check(
            &mut stats,
            "valid, spare bytes",
            cap_of(r.attach(size + 100, schema)),
            Ok(cap),
        );

        let r = HeapRegion::zeroed(size);
        let got = cap_of(r.attach(size, schema));
        check(&mut stats, "zeroed pages", got, Err(AttachError::NotReady));
        let r = with(off::INIT_STATE, INITIALISING);
        let got = cap_of(r.attach(size, schema));
        check(
            &mut stats,
            "half initialised",
            got,
            Err(AttachError::NotReady),
        );

        for magic in [0x1234_5678, 0, MAGIC.swap_bytes()] {
            let r = with(off::MAGIC, magic);
            let got = cap_of(r.attach(size, schema));
            check(
                &mut stats,
                "magic",
                got,
                Err(AttachError::BadMagic { found: magic }),
            );
        }
        let r = with(off::INIT_STATE, 0xDEAD_BEEF);
        let got = cap_of(r.attach(size, schema));
        let want = Err(AttachError::BadInitState { found: 0xDEAD_BEEF });
        check(&mut stats, "init state", got, want);

        let r = with(off::VERSION, LAYOUT_VERSION + 1);
        let got = cap_of(r.attach(size, schema));
        let want = Err(AttachError::VersionMismatch {
            expected: LAYOUT_VERSION,
            found: LAYOUT_VERSION + 1,
        });
        check(&mut stats, "version", got, want);

        let r = with(off::KIND, 99);
        let got = cap_of(r.attach(size, schema));
        let want = Err(AttachError::KindMismatch {
            expected: Kind::Spsc,
            found: 99,
        });
        check(&mut stats, "kind", got, want);

        let r = fresh();
        let got = r.attach::<u32>(size, schema).map(|v| v.capacity());
        let want = Err(AttachError::ElementMismatch {
            expected_size: 4,
            expected_align: 4,
            found_size: 8,
            found_align: 8,
        });
        check(&mut stats, "element type", got, want);
        let r = with(off::ELEM_ALIGN, 16);
        let got = cap_of(r.attach(size, schema));
        let want = Err(AttachError::ElementMismatch {
            expected_size: 8,
            expected_align: 8,
            found_size: 8,
            found_align: 16,
        });
        check(&mut stats, "element alignment", got, want);

        let r = fresh();
        let other = Schema::new(0x1234);
        let got = cap_of(r.attach(size, other));
        let want = Err(AttachError::SchemaMismatch {
            expected: other,
            found: schema,
        });
        check(&mut stats, "schema", got, want);
        let r = with(off::SCHEMA_HI, (schema.0 >> 32) as u32 ^ 1);
        let got = cap_of(r.attach(size, schema));
        let want = Err(AttachError::SchemaMismatch {
            expected: schema,
            found: Schema(schema.0 ^ (1 << 32)),
        });
        check(&mut stats, "schema bit flip", got, want);
        let r = with(off::SCHEMA_LO, schema.0 as u32 ^ 0x8000_0000);
        let got = cap_of(r.attach(size, schema));
        let want = Err(AttachError::SchemaMismatch {
            expected: schema,
            found: Schema(schema.0 ^ 0x8000_0000),
        });
        check(&mut stats, "schema low half", got, want);

        // Zero, not a power of two, and a power of two too large to lay out.
        for bad in [0, 3, 12, 1 << 31, u32::MAX] {
            let r = with(off::CAPACITY, bad);
            let got = cap_of(r.attach(size, schema));
            check(
                &mut stats,
                "capacity",
                got,
                Err(AttachError::BadCapacity { found: bad }),
            );
        }

        let r = with(off::CAPACITY, 16);
        let got = cap_of(r.attach(size + REGION_ALIGN, schema));
        let want = Err(AttachError::BadGeometry {
            body_offset: 512,
            region_size: size as u32,
        });
        check(&mut stats, "capacity disagrees with size", got, want);
        let r = with(off::BODY_OFFSET, 640);
        let got = cap_of(r.attach(size, schema));
        let want = Err(AttachError::BadGeometry {
            body_offset: 640,
            region_size: size as u32,
        });
        check(&mut stats, "body offset", got, want);
        let r = with(off::REGION_SIZE, size as u32 - 8);
        let got = cap_of(r.attach(size, schema));
        let want = Err(AttachError::BadGeometry {
            body_offset: 512,
            region_size: size as u32 - 8,
        });
        check(&mut stats, "region size", got, want);

        // A consistent header for a ring far larger than the memory given:
        // the slots must never be reached.
        let big = 1 << 20;
        let big_size = 512 + 8 * big as usize;
        let r = with(off::CAPACITY, big);
        r.write_u32(off::REGION_SIZE, big_size as u32);
        let got = cap_of(r.attach(size + REGION_ALIGN, schema));
        let want = Err(AttachError::RegionTooSmall {
            needed: big_size,
            len: size + REGION_ALIGN,
        });
        check(&mut stats, "header larger than the memory", got, want);
        let r = fresh();
        let got = cap_of(r.attach(size - 1, schema));
        let want = Err(AttachError::RegionTooSmall {
            needed: size,
            len: size - 1,
        });
        check(&mut stats, "truncated body", got, want);
        for len in [0, 1, 64, 511] {
            let got = cap_of(r.attach(len, schema));
            let want = Err(AttachError::RegionTooSmall { needed: 512, len });
            check(&mut stats, "truncated header", got, want);
        }

        for offset in [1, 4, 8, 64, 127] {
            let got = cap_of(r.attach_at(offset, size, schema));
            check(
                &mut stats,
                "misaligned",
                got,
                Err(AttachError::Misaligned { offset }),
            );
        }

        // Positions further apart than the capacity, either way.
        for (tail, head) in [(cap + 1, 0), (0, 1), (u32::MAX, 0), (5, u32::MAX - 3 - cap)] {
            let r = with(off::TAIL, tail);
            r.write_u32(off::HEAD, head);
            let got = cap_of(r.attach(size, schema));
            check(&mut stats, "positions", got, Err(AttachError::Corrupted));
        }
        // Possible positions, wrapped or full, are accepted.
        for (tail, head) in [(cap, 0), (3, u32::MAX - 2), (u32::MAX, u32::MAX)] {
            let r = with(off::TAIL, tail);
            r.write_u32(off::HEAD, head);
            check(
                &mut stats,
                "wrapped positions",
                cap_of(r.attach(size, schema)),
                Ok(cap),
            );
        }

        // `init_raw` refuses the same kinds of memory.
        let r = HeapRegion::zeroed(size + REGION_ALIGN);
        let got = r.init_at::<u64>(8, size, cap).map(|v| v.capacity());
        assert_eq!(got, Err(LayoutError::Misaligned { offset: 8 }));
        let got = r.init_at::<u64>(0, size - 1, cap).map(|v| v.capacity());
        let want = Err(LayoutError::RegionTooSmall {
            needed: size,
            len: size - 1,
        });
        assert_eq!(got, want);
        stats
    });
    stats.report("attach-named", cfg);
    for name in ATTACH_ERRORS {
        assert!(stats.has(name), "{name} was never reached");
    }
}

/// `attach` over random bytes, over a valid header with words or byte
/// ranges corrupted, over truncated lengths and misaligned pointers. When it
/// accepts a region, the ring must be usable (if nonsensical) and the
/// geometry it accepted must fit in the memory given.
#[test]
fn attach_survives_random_and_mutated_regions() {
    let cfg = config();
    let stats = watchdog("attach-fuzz", cfg, move |progress| {
        let mut rng = Rng::new(cfg.seed, stream_of("attach"));
        let mut stats = Stats::default();
        for iter in 0..cfg.iters {
            let which = rng.below(3);
            progress.at(which, iter, u64::MAX);
            match which {
                0 => attach_one::<u8>(&mut rng, &mut stats),
                1 => attach_one::<u64>(&mut rng, &mut stats),
                _ => attach_one::<Rec>(&mut rng, &mut stats),
            }
        }
        stats
    });
    stats.report("attach-fuzz", cfg);
    assert_eq!(stats.regions, cfg.iters);
    if cfg.iters >= 1_000 {
        for name in [
            "AttachError::BadMagic",
            "AttachError::RegionTooSmall",
            "AttachError::Misaligned",
            "AttachError::SchemaMismatch",
            "AttachError::BadGeometry",
            "AttachError::Corrupted",
        ] {
            assert!(stats.has(name), "{name} never seen");
        }
        assert!(
            stats.ok.contains_key("attach_raw"),
            "no region was accepted"
        );
    }
}

fn attach_one<T: Elem>(rng: &mut Rng, stats: &mut Stats) {
    let cap = CAPACITIES[rng.below_usize(CAPACITIES.len())];
    let size = Spsc::<T>::layout(cap).expect("layout").size;
    // Spare bytes after the ring for misaligned attaches and longer lengths.
    let region = HeapRegion::zeroed(size + REGION_ALIGN);
    stats.regions += 1;
    stats.corruptions += 1;
    let mut offset = 0;
    let mut len = size;
    let mut schema = Schema::of::<T>();
    let mode = rng.below(8);
    match mode {
        0 => {
            // Garbage.
            region.randomize(rng, 0, region.len());
            len = rng.below_usize(region.len() + 1);
        }
        1 => {
            // Garbage that starts like a ready annulus region.
            region.randomize(rng, 0, region.len());
            region.write_u32(off::MAGIC, MAGIC);
            region.write_u32(off::INIT_STATE, READY);
            if rng.one_in(2) {
                region.write_u32(off::VERSION, LAYOUT_VERSION);
                region.write_u32(off::KIND, Kind::Spsc as u32);
            }
        }
        _ => {
            region.init::<T>(cap);
            match mode {
                2 | 3 => {
                    // One word, or a few, rewritten.
                    let words = header_words();
                    let count = if mode == 2 { 1 } else { 2 + rng.below(4) };
                    for _ in 0..count {
                        let at = if rng.one_in(2) {
                            4 * rng.below_usize(16)
                        } else {
                            words[rng.below_usize(words.len())]
                        };
                        let current = region.read_u32(at);
                        region.write_u32(at, interesting(rng, current, cap));
                    }
                }
                4 => {
                    // Random bytes over a random range, mostly in the header.
                    let hi = if rng.one_in(4) { size } else { off::BODY };
                    let start = rng.below_usize(hi);
                    let n = 1 + rng.below_usize((hi - start).min(64));
                    let bytes = rng.bytes(n);
                    region.write(start, &bytes);
                }
                5 => len = rng.below_usize(size),
                6 => offset = 1 + rng.below_usize(REGION_ALIGN - 1),
                _ => {
                    schema = Schema::new(rng.next_u64());
                }
            }
        }
    }
    let result = region.attach_at::<T>(offset, len, schema);
    match (mode, &result) {
        (5, Err(AttachError::RegionTooSmall { len: l, .. })) => assert_eq!(*l, len),
        (5, other) => panic!("truncated to {len} of {size}: {other:?}"),
        (6, Err(AttachError::Misaligned { offset: o })) => assert_eq!(*o, offset),
        (6, other) => panic!("misaligned by {offset}: {other:?}"),
        (7, Err(AttachError::SchemaMismatch { .. })) => {}
        (7, other) => panic!("wrong schema: {other:?}"),
        _ => {}
    }
    match result {
        Ok(view) => {
            stats.ok("attach_raw");
            exercise_view(view, len, rng, stats);
        }
        Err(e) => stats.saw(attach_error_name(&e)),
    }
}

/// A few operations on a ring that `attach` accepted from hostile bytes.
fn exercise_view<T: Elem>(view: Spsc<'_, T>, len: usize, rng: &mut Rng, stats: &mut Stats) {
    let cap = view.capacity();
    let layout = Spsc::<T>::layout(cap).expect("attach accepted an impossible capacity");
    assert!(
        layout.size <= len,
        "attach accepted {} bytes in {len}",
        layout.size
    );
    assert!(view.len() <= cap);
    stats.saw(role_state_name(&view.producer_state()));
    stats.saw(role_state_name(&view.consumer_state()));
    let clock = TickClock::default();
    let short = Some(Duration::from_nanos(TICK_NS));
    match view.producer(Spin::new(clock.clone())) {
        Ok(mut tx) => {
            tx.set_spin_limit(1);
            stats.ok("claim producer");
            let v = T::random(rng);
            if let Err(e) = tx.push(v) {
                stats.saw(push_error_name(&e));
                assert_eq!(e.into_inner(), v);
            }
            if let Err(e) = tx.push_slice(&[v, v, v]) {
                stats.saw(push_slice_error_name(&e));
            }
            if let Err(e) = tx.push_blocking(v, short) {
                stats.saw(push_timeout_error_name(&e));
            }
            assert!(tx.free() <= cap);
        }
        Err(e) => stats.saw(claim_error_name(&e)),
    }
    match view.consumer(Spin::new(clock.clone())) {
        Ok(mut rx) => {
            rx.set_spin_limit(1);
            stats.ok("claim consumer");
            if let Err(e) = rx.pop() {
                stats.saw(pop_error_name(&e));
            }
            let mut out = [T::zeroed(); 3];
            if let Err(e) = rx.pop_slice(&mut out) {
                stats.saw(pop_error_name(&e));
            }
            if let Err(e) = rx.pop_blocking(short) {
                stats.saw(pop_timeout_error_name(&e));
            }
            assert!(rx.len() <= cap);
        }
        Err(e) => stats.saw(claim_error_name(&e)),
    }
    stats.ops += 1;
}

// ---------------------------------------------------------------------------
// Positions and claims, on purpose
// ---------------------------------------------------------------------------

/// Each call that reads the peer's position reports an impossible one as
/// `Corrupted` (by name), and the ring recovers once the positions are
/// consistent again. Claim words in every state, sleeper counts at the
/// wrap, and generations at the wrap are handled too.
#[test]
fn impossible_positions_are_reported_by_every_call() {
    let cfg = config();
    let stats = watchdog("positions", cfg, move |progress| {
        let mut stats = Stats::default();
        let cap = 8u32;
        let region = HeapRegion::zeroed(Spsc::<u8>::layout(cap).expect("layout").size);
        let ring = region.init::<u8>(cap);
        stats.regions += 1;
        let clock = TickClock::default();
        let w = || Spin::new(clock.clone());
        let short = Some(Duration::from_nanos(SHORT_NS));
        let mut step = 0;
        let mut saw = |stats: &mut Stats, name: &'static str| {
            step += 1;
            progress.at(0, step, u64::MAX);
            stats.saw(name);
            stats.ops += 1;
        };
        let mut tx = ring.producer(w()).expect("producer");
        let mut rx = ring.consumer(w()).expect("consumer");

        // Consumer side: the tail runs more than a capacity ahead of the
        // head, or behind it.
        for bad_tail in [cap + 1, u32::MAX, 1 << 31] {
            region.write_u32(off::TAIL, bad_tail);
            stats.corruptions += 1;
            assert_eq!(rx.pop(), Err(PopError::Corrupted));
            saw(&mut stats, "PopError::Corrupted");
            assert_eq!(rx.pop_slice(&mut [0; 4]), Err(PopError::Corrupted));
            saw(&mut stats, "PopError::Corrupted");
            assert_eq!(
                rx.read_chunk(1).map(|c| c.len()),
                Err(ChunkError::Corrupted)
            );
            saw(&mut stats, "ChunkError::Corrupted");
            assert_eq!(rx.pop_blocking(short), Err(PopTimeoutError::Corrupted));
            saw(&mut stats, "PopTimeoutError::Corrupted");
            assert_eq!(rx.wait_readable(short), Err(PopTimeoutError::Corrupted));
            saw(&mut stats, "PopTimeoutError::Corrupted");
            assert_eq!(rx.len(), 0);
            assert!(rx.is_empty());
            assert_eq!(ring.len(), (bad_tail).min(cap));
            let mut reader = ByteReader::new(rx);
            let mut buf = [0u8; 4];
            assert_eq!(reader.try_read(&mut buf), Err(StreamError::Corrupted));
            saw(&mut stats, "StreamError::Corrupted");
            assert_eq!(
                reader.read_blocking(&mut buf, short),
                Err(StreamError::Corrupted)
            );
            saw(&mut stats, "StreamError::Corrupted");
            let got = reader.read_exact_blocking(&mut buf, short);
            assert_eq!(got, Err(StreamError::Corrupted));
            saw(&mut stats, "StreamError::Corrupted");
            rx = reader.into_inner();
            let got = region.attach::<u8>(region.len(), Schema::of::<u8>());
            assert_eq!(got.map(|v| v.capacity()), Err(AttachError::Corrupted));
            saw(&mut stats, "AttachError::Corrupted");
        }
        // A claim refuses impossible positions and leaves the role closed.
        drop(rx);
        assert_eq!(ring.consumer(w()).map(drop), Err(ClaimError::Corrupted));
        saw(&mut stats, "ClaimError::Corrupted");
        assert!(matches!(ring.consumer_state(), RoleState::Closed(_)));
        // Restored, the consumer comes back.
        region.write_u32(off::TAIL, 0);
        let mut rx = ring
            .consumer(w())
            .expect("consumer after the tail is restored");
        assert_eq!(rx.pop(), Err(PopError::Empty));

        // Producer side: it reloads the head only when its cache says full.
        assert_eq!(tx.push_slice(&[1; 8]), Ok(8));
        for bad_head in [1 << 31, 9, u32::MAX - 8] {
            region.write_u32(off::HEAD, bad_head);
            stats.corruptions += 1;
            assert_eq!(tx.push(7), Err(PushError::Corrupted(7)));
            saw(&mut stats, "PushError::Corrupted");
            assert_eq!(tx.push_slice(&[1, 2]), Err(PushSliceError::Corrupted));
            saw(&mut stats, "PushSliceError::Corrupted");
            assert_eq!(
                tx.write_chunk(1).map(|c| c.len()),
                Err(ChunkError::Corrupted)
            );
            saw(&mut stats, "ChunkError::Corrupted");
            assert_eq!(
                tx.push_blocking(9, short),
                Err(PushTimeoutError::Corrupted(9))
            );
            saw(&mut stats, "PushTimeoutError::Corrupted");
            assert_eq!(tx.free(), 0);
            let mut writer = ByteWriter::new(tx);
            assert_eq!(writer.try_write(b"x"), Err(StreamError::Corrupted));
            saw(&mut stats, "StreamError::Corrupted");
            assert_eq!(
                writer.write_blocking(b"x", short),
                Err(StreamError::Corrupted)
            );
            saw(&mut stats, "StreamError::Corrupted");
            let got = writer.write_all_blocking(b"xy", short);
            assert_eq!(got, Err(StreamError::Corrupted));
            saw(&mut stats, "StreamError::Corrupted");
            tx = writer.into_inner();
        }
        drop(tx);
        assert_eq!(ring.producer(w()).map(drop), Err(ClaimError::Corrupted));
        saw(&mut stats, "ClaimError::Corrupted");
        // Restored (the consumer never moved from 0), the eight bytes are there.
        region.write_u32(off::HEAD, 0);
        let mut tx = ring
            .producer(w())
            .expect("producer after the head is restored");
        assert_eq!(rx.pop_slice(&mut [0; 16]), Ok(8));
        assert_eq!(tx.push(3), Ok(()));
        assert_eq!(rx.pop(), Ok(3));

        // Claim words: an invalid state, a foreign holder, a generation at
        // the wrap, a tenure ended behind the holder's back.
        drop(tx);
        region.write_u32(off::PRODUCER_CLAIM, (5 << 2) | 3);
        assert_eq!(ring.producer(w()).map(drop), Err(ClaimError::Corrupted));
        saw(&mut stats, "ClaimError::Corrupted");
        let _ = ring.producer_state();
        region.write_u32(off::PRODUCER_CLAIM, (5 << 2) | 1);
        region.write_u32(off::PRODUCER_CLAIM + 4, 77);
        let taken = Claim {
            pid: 77,
            generation: 5,
        };
        assert_eq!(ring.producer(w()).map(drop), Err(ClaimError::Taken(taken)));
        saw(&mut stats, "ClaimError::Taken");
        assert_eq!(ring.producer_state(), RoleState::Held(taken));
        region.write_u32(off::PRODUCER_CLAIM, ((u32::MAX >> 2) << 2) | 2);
        let tx = ring
            .claim_producer(12, w())
            .expect("claim at the generation wrap");
        let wrapped = Claim {
            pid: 12,
            generation: 0,
        };
        assert_eq!(ring.producer_state(), RoleState::Held(wrapped));
        // The peer vacates the role under the holder: a second claim wins,
        // and the first holder's release does not disturb it.
        region.write_u32(off::PRODUCER_CLAIM, 0);
        let tx2 = ring
            .claim_producer(13, w())
            .expect("claim over a vacated word");
        drop(tx);
        assert!(matches!(ring.producer_state(), RoleState::Held(c) if c.pid == 13));
        // The peer closes the role under the holder: the consumer sees a
        // disconnect once drained.
        let RoleState::Held(claim) = ring.producer_state() else {
            panic!("producer should be held");
        };
        region.write_u32(off::PRODUCER_CLAIM, (claim.generation << 2) | 2);
        assert!(rx.is_disconnected());
        assert_eq!(rx.pop(), Err(PopError::Disconnected));
        saw(&mut stats, "PopError::Disconnected");
        drop(tx2);

        // Sleeper counts and sequences at the wrap: notifications and
        // sleeps wrap, they do not overflow.
        for at in [
            off::EVENTS,
            off::EVENTS + 4,
            off::EVENTS + 8,
            off::EVENTS + 12,
        ] {
            region.write_u32(at, u32::MAX);
        }
        let mut tx = ring.producer(w()).expect("producer");
        assert_eq!(tx.push(1), Ok(()));
        assert_eq!(rx.pop_blocking(short), Ok(1));
        assert_eq!(rx.pop_blocking(short), Err(PopTimeoutError::Timeout));
        saw(&mut stats, "PopTimeoutError::Timeout");
        assert_eq!(tx.push_slice(&[0; 8]), Ok(8));
        assert_eq!(
            tx.push_blocking(2, short),
            Err(PushTimeoutError::Timeout(2))
        );
        saw(&mut stats, "PushTimeoutError::Timeout");
        drop((tx, rx));

        // And back to normal.
        region.write_u32(off::PRODUCER_CLAIM, 0);
        region.write_u32(off::CONSUMER_CLAIM, 0);
        region.write_u32(off::TAIL, u32::MAX - 3);
        region.write_u32(off::HEAD, u32::MAX - 3);
        let mut rng = Rng::new(cfg.seed, stream_of("positions"));
        round_trip(ring, &clock, &mut rng, "after claim and event corruption");
        stats
    });
    stats.report("positions", cfg);
}

// ---------------------------------------------------------------------------
// Live rings under a hostile peer
// ---------------------------------------------------------------------------

/// Runs the fuzzer over rings of `T` of every capacity, each case under its
/// own watchdog, then restores each ring and checks it works.
fn live_rings<T: Elem + 'static>(test: &'static str) {
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
fn live_u8_rings_survive_scribbles() {
    live_rings::<u8>("live u8");
}

#[test]
fn live_u64_rings_survive_scribbles() {
    live_rings::<u64>("live u64");
}

#[test]
fn live_rec24_rings_survive_scribbles() {
    live_rings::<Rec>("live rec24");
}

/// A hostile thread stores garbage into every header word (atomically, as
/// the words are atomics: no data race in this process) while the ring is
/// in use. Calls must still return, and the ring must recover afterwards.
/// The slots are left alone here: a racing slot write would be a data race
/// of the test itself (across processes it only means wrong data).
#[test]
fn live_rings_survive_concurrent_header_garbage() {
    let cfg = config();
    let iters = (cfg.iters / 4).max(1);
    let mut total = Stats::default();
    let cases: &[(u8, u32)] = if cfg!(miri) {
        &[(0, 2), (1, 8)]
    } else {
        &[
            (0, 1),
            (0, 2),
            (0, 8),
            (0, 64),
            (1, 1),
            (1, 2),
            (1, 8),
            (1, 64),
            (2, 1),
            (2, 2),
            (2, 8),
            (2, 64),
        ]
    };
    for (case, &(ty, cap)) in cases.iter().enumerate() {
        let case = case as u64;
        let stats = watchdog(
            &format!("concurrent case {case}"),
            cfg,
            move |progress| match ty {
                0 => concurrent_case::<u8>(cfg, iters, cap, case, progress),
                1 => concurrent_case::<u64>(cfg, iters, cap, case, progress),
                _ => concurrent_case::<Rec>(cfg, iters, cap, case, progress),
            },
        );
        total.merge(stats);
    }
    total.report("concurrent header garbage", cfg);
    assert_eq!(total.ops, iters * cases.len() as u64);
}

fn concurrent_case<T: Elem>(
    cfg: Config,
    iters: u64,
    cap: u32,
    case: u64,
    progress: &Progress,
) -> Stats {
    let region = HeapRegion::zeroed(Spsc::<T>::layout(cap).expect("layout").size);
    let mut live = Live::<T>::new(&region, cap, Rng::new(cfg.seed, 0xC0C0 + case));
    let words: Vec<&AtomicU32> = header_words()
        .into_iter()
        .map(|at| region.word(at))
        .collect();
    let stop = AtomicBool::new(false);
    let mut rng = Rng::new(cfg.seed, 0xBAD0 + case);
    let stores = std::thread::scope(|s| {
        let hostile = s.spawn(|| {
            let mut stores = 0u64;
            // Relaxed: the hostile peer promises nothing.
            while !stop.load(Ordering::Relaxed) {
                let word = words[rng.below_usize(words.len())];
                let current = word.load(Ordering::Relaxed);
                word.store(interesting(&mut rng, current, cap), Ordering::Relaxed);
                stores += 1;
                if cfg!(miri) || stores % 16 == 0 {
                    std::thread::yield_now();
                }
            }
            stores
        });
        live.run(iters, progress, case, false);
        stop.store(true, Ordering::Relaxed);
        hostile.join().expect("the hostile thread does not panic")
    });
    live.stats.corruptions += stores;
    // The join above orders every hostile store before the plain writes of
    // the restoration.
    live.restore_and_check()
}
