//! What every case shares: configuration and counters, the seeded PRNG, the
//! heap regions that stand in for shared mappings, the ticking test clock,
//! and the watchdog that turns a hang into a failure naming the seed.

use alloc::alloc::{alloc_zeroed, dealloc, handle_alloc_error};
use alloc::collections::BTreeMap;
use alloc::rc::Rc;
use alloc::sync::Arc;
use core::alloc::Layout;
use core::cell::Cell;
use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;
use std::sync::OnceLock;
use std::sync::mpsc::{self, RecvTimeoutError};

use annulus::layout::{Kind, LAYOUT_VERSION, MAGIC, REGION_ALIGN};
use annulus::wait::{Clock, Spin};

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
pub(crate) fn batch_limit(max: usize) -> usize {
    if cfg!(miri) {
        max.min(MIRI_MAX_BATCH)
    } else {
        max
    }
}

/// Capacities of the live rings.
pub(crate) const CAPACITIES: [u32; 4] = [1, 2, 8, 64];

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
pub(crate) struct Config {
    pub(crate) seed: u64,
    pub(crate) iters: u64,
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

pub(crate) fn config() -> Config {
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
pub(crate) struct Stats {
    pub(crate) regions: u64,
    pub(crate) corruptions: u64,
    pub(crate) ops: u64,
    /// Error variants (and a few other outcomes) by name.
    pub(crate) seen: BTreeMap<&'static str, u64>,
    /// Successful calls by operation.
    pub(crate) ok: BTreeMap<&'static str, u64>,
}

impl Stats {
    pub(crate) fn saw(&mut self, what: &'static str) {
        *self.seen.entry(what).or_default() += 1;
    }

    pub(crate) fn ok(&mut self, op: &'static str) {
        *self.ok.entry(op).or_default() += 1;
    }

    pub(crate) fn merge(&mut self, other: Stats) {
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

    pub(crate) fn has(&self, what: &str) -> bool {
        self.seen.contains_key(what)
    }

    pub(crate) fn report(&self, test: &str, cfg: Config) {
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
pub(crate) struct Rng(u64);

impl Rng {
    /// An independent stream for `(seed, stream)`.
    pub(crate) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        rng.next_u64();
        rng
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub(crate) fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    pub(crate) fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub(crate) fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
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
    pub(crate) fn timeout(&mut self) -> Option<Duration> {
        let max_ticks = if !cfg!(miri) || self.one_in(8) { 4 } else { 1 };
        Some(Duration::from_nanos(self.below(max_ticks * TICK_NS + 1)))
    }
}

/// The init state a creator publishes last (layout.rs `READY`).
pub(crate) const READY: u32 = u32::from_le_bytes(*b"REDY");
/// The init state while a creator writes the header (layout.rs `INITIALISING`).
pub(crate) const INITIALISING: u32 = u32::from_le_bytes(*b"init");

/// A value a hostile (or buggy) peer might plausibly write into a 32-bit
/// word that now holds `current`: edge cases, a value within `cap + 1` of the
/// current one (just inside or just outside what a position check accepts),
/// a bit flip, a valid word of some other field, or noise.
pub(crate) fn interesting(rng: &mut Rng, current: u32, cap: u32) -> u32 {
    interesting_for(Kind::Spsc, 512, rng, current, cap)
}

/// [`interesting`] for a region of `kind` whose body starts at `body`: the
/// same draws, with that kind's words among the valid ones.
pub(crate) fn interesting_for(kind: Kind, body: u32, rng: &mut Rng, current: u32, cap: u32) -> u32 {
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
        11 => [READY, INITIALISING, LAYOUT_VERSION, kind as u32, body][rng.below_usize(5)],
        _ => rng.next_u32(),
    }
}

/// Zeroed, 128-aligned heap memory standing in for a shared mapping. The
/// test keeps the pointer and writes through it as the hostile peer would.
pub(crate) struct HeapRegion {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl HeapRegion {
    pub(crate) fn zeroed(size: usize) -> Self {
        let layout = Layout::from_size_align(size.max(1), REGION_ALIGN).expect("region layout");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout));
        HeapRegion { ptr, layout }
    }

    /// The base pointer, for the `init_raw`/`attach_raw` of each structure.
    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.layout.size()
    }

    /// The hostile peer's plain write.
    ///
    /// Only called while no other thread touches the region and no chunk
    /// borrows its slots: a peer process may do this at any time, but in one
    /// process a racing non-atomic write would be a data race of the test.
    pub(crate) fn write(&self, offset: usize, bytes: &[u8]) {
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

    pub(crate) fn write_u32(&self, offset: usize, value: u32) {
        self.write(offset, &value.to_ne_bytes());
    }

    /// Reads a header word. Only a field, or a word the test wrote: the
    /// allocation starts zeroed and `init_raw` writes every field, but its
    /// typed writes leave the padding between fields uninitialised.
    pub(crate) fn read_u32(&self, offset: usize) -> u32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len());
        // SAFETY: in bounds and 4-aligned (the base is 128-aligned); the word
        // is initialised (see above) and not written concurrently.
        unsafe { self.ptr.as_ptr().add(offset).cast::<u32>().read() }
    }

    /// Reads `len` bytes (initialised: the allocation starts zeroed), while
    /// nothing writes them.
    pub(crate) fn read_bytes(&self, offset: usize, len: usize) -> Vec<u8> {
        assert!(offset <= self.len() && len <= self.len() - offset);
        // SAFETY: in bounds (checked above), initialised, and not written
        // concurrently (see above); copied out before anything else runs.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr().add(offset), len) }.to_vec()
    }

    /// A header word as an atomic, for a hostile thread that writes while
    /// the ring is in use.
    pub(crate) fn word(&self, offset: usize) -> &AtomicU32 {
        assert!(offset % 4 == 0 && offset + 4 <= self.len());
        // SAFETY: in bounds, 4-aligned, valid for as long as `self`. Every
        // word passed here is an `AtomicU32` field of the header that annulus
        // only accesses atomically with the same size; the test writes it
        // non-atomically only when no other thread runs.
        unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(offset).cast::<u32>()) }
    }

    /// Fills `range` with random bytes.
    pub(crate) fn randomize(&self, rng: &mut Rng, start: usize, end: usize) {
        let mut bytes = vec![0; end - start];
        rng.fill(&mut bytes);
        self.write(start, &bytes);
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
pub(crate) const TICK_NS: u64 = 25_000;

/// A clock that advances by [`TICK_NS`] every time it is read, so that a
/// blocking call with a timeout ends after a few reads whatever the ring holds.
#[derive(Clone, Debug, Default)]
pub(crate) struct TickClock(Rc<Cell<u64>>);

impl Clock for TickClock {
    fn now_ns(&self) -> u64 {
        let now = self.0.get() + TICK_NS;
        self.0.set(now);
        now
    }
}

/// A short timeout for a call expected to time out: long enough to sleep in
/// the waiter once natively, one tick (no sleep) under miri.
pub(crate) const SHORT_NS: u64 = if cfg!(miri) { TICK_NS } else { 3 * TICK_NS };

pub(crate) type W = Spin<TickClock>;

/// The creator's region header (the first 64 bytes), to restore it later.
pub(crate) fn saved_header(region: &HeapRegion) -> [u32; 16] {
    core::array::from_fn(|i| region.read_u32(4 * i))
}

/// A stream number for each element type, so the cases draw different bytes.
pub(crate) fn stream_of(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Sets its flag when dropped, so a hostile thread's stop flag is raised
/// even when the operations panic (a scope joins its threads before the
/// panic goes on, and the watchdog should report the panic, not a hang).
pub(crate) struct StopOnDrop<'a>(pub(crate) &'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        // Relaxed: the scope's join orders everything after it.
        self.0.store(true, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------
// Watchdog
// ---------------------------------------------------------------------------

/// Where a case is, for the watchdog's failure message. (u32 counters: the
/// workspace bans `AtomicU64`; they only ever wrap in a run of 2^32 steps.)
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) case: AtomicU32,
    pub(crate) iter: AtomicU32,
    pub(crate) op: AtomicU32,
    /// Bumped before each operation: the watchdog's heartbeat.
    pub(crate) beats: AtomicU32,
    /// Names an operation index for the failure message (set by the case).
    pub(crate) describe: OnceLock<fn(u32) -> Option<String>>,
}

impl Progress {
    /// How the failure message names this case's operation indices; the
    /// first call wins.
    pub(crate) fn describe_ops(&self, describe: fn(u32) -> Option<String>) {
        let _ = self.describe.set(describe);
    }

    pub(crate) fn at(&self, case: u64, iter: u64, op: u64) {
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
        let describe = self
            .describe
            .get()
            .and_then(|describe| describe(self.op.load(Ordering::Relaxed)));
        match describe {
            Some(op) => write!(f, " op {op}"),
            None => Ok(()),
        }
    }
}

/// Runs `work` on its own thread and waits for it. Fails (naming the seed)
/// if it panics, or if it makes no progress (no `Progress::at`) for
/// [`STALL_LIMIT`]: a non-blocking call looping forever, or a blocking call
/// that ignores its timeout. Never a timed assertion on speed.
pub(crate) fn watchdog<R: Send + 'static>(
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
