//! The MPMC ring against crossbeam's `ArrayQueue` for several producer and
//! consumer counts (1–8 × 1–8), in one process.
//!
//! Each point moves [`Config::grid_messages`](crate::Config) `u64`s from
//! `producers` threads to `consumers` threads through a 1024-slot queue;
//! every failed push or pop yields the CPU, so the counts may exceed the
//! machine's cores (the figures then measure scheduling as much as the
//! queue). Threads are not pinned. Consumers stop on a sentinel that the
//! main thread sends after the producers finished.

#![allow(unsafe_code)]

use std::sync::Barrier;
use std::time::{Duration, Instant};

use annulus::mpmc::{InitOptions, Mpmc};
use annulus_linux::{Futex, Mapping};
use crossbeam_queue::ArrayQueue;

use crate::config::Config;
use crate::error::{BenchError, Result, ctx};
use crate::runner::Progress;

/// Slots per queue.
const CAPACITY: u32 = 1024;
/// Largest producer or consumer count.
pub const MAX_THREADS: u32 = 8;
/// The value that tells a consumer to stop.
const STOP: u64 = u64::MAX;

/// One point of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct GridPoint {
    /// Producer threads.
    pub producers: u32,
    /// Consumer threads.
    pub consumers: u32,
    /// annulus MPMC, messages per second.
    pub annulus: Option<f64>,
    /// `ArrayQueue`, messages per second.
    pub array_queue: Option<f64>,
    /// Why a side could not be measured.
    pub error: Option<String>,
}

/// A queue as the grid drives it, shared by reference between threads.
trait Queue: Sync {
    /// Per-thread handle.
    type Handle<'q>
    where
        Self: 'q;
    fn handle(&self) -> Result<Self::Handle<'_>>;
    fn push(h: &mut Self::Handle<'_>, v: u64) -> bool;
    fn pop(h: &mut Self::Handle<'_>) -> Option<u64>;
}

impl Queue for ArrayQueue<u64> {
    type Handle<'q> = &'q ArrayQueue<u64>;
    fn handle(&self) -> Result<&ArrayQueue<u64>> {
        Ok(self)
    }
    fn push(h: &mut &ArrayQueue<u64>, v: u64) -> bool {
        h.push(v).is_ok()
    }
    fn pop(h: &mut &ArrayQueue<u64>) -> Option<u64> {
        h.pop()
    }
}

/// An annulus MPMC ring in an anonymous mapping.
struct AnnulusQueue {
    ring: Mpmc<'static, u64>,
    /// Keeps the memory of `ring` mapped; declared after it, so dropped after.
    _map: Mapping,
}

/// A registered sender or receiver (a thread uses one of the two).
enum Role<'q> {
    Sender(annulus::mpmc::Sender<'q, u64, Futex>),
    Receiver(annulus::mpmc::Receiver<'q, u64, Futex>),
}

impl AnnulusQueue {
    fn new(participants: u32) -> Result<AnnulusQueue> {
        let layout = Mpmc::<u64>::layout(CAPACITY, participants).map_err(ctx("MPMC layout"))?;
        let map = Mapping::anonymous_shared(layout.size).map_err(ctx("mmap"))?;
        // SAFETY: a fresh private-to-us mapping of `layout.size` bytes,
        // page-aligned, untouched by anything else during init and accessed
        // only through the view afterwards; it outlives the view (`_map` is
        // dropped after `ring`, and the 'static view never leaves `self`
        // except borrowed from `&self`).
        let ring = unsafe {
            Mpmc::<u64>::init_raw(
                map.ptr(),
                map.len(),
                CAPACITY,
                participants,
                // As annulus-linux creates its rings: no fence on push/pop
                // where the kernel has membarrier.
                InitOptions {
                    asymmetric_wake: annulus::wait::Wait::prepare_light_notify(&Futex),
                    ..InitOptions::default()
                },
            )
        }
        .map_err(ctx("MPMC init"))?;
        Ok(AnnulusQueue { ring, _map: map })
    }
}

impl Queue for AnnulusQueue {
    type Handle<'q> = Option<Role<'q>>;
    fn handle(&self) -> Result<Option<Role<'_>>> {
        Ok(None)
    }
    fn push(h: &mut Option<Role<'_>>, v: u64) -> bool {
        match h {
            Some(Role::Sender(tx)) => tx.push(v).is_ok(),
            _ => false,
        }
    }
    fn pop(h: &mut Option<Role<'_>>) -> Option<u64> {
        match h {
            Some(Role::Receiver(rx)) => rx.pop().ok(),
            _ => None,
        }
    }
}

impl AnnulusQueue {
    fn sender(&self) -> Result<Option<Role<'_>>> {
        let tx = self.ring.sender(Futex).map_err(ctx("register sender"))?;
        Ok(Some(Role::Sender(tx)))
    }
    fn receiver(&self) -> Result<Option<Role<'_>>> {
        let rx = self
            .ring
            .receiver(Futex)
            .map_err(ctx("register receiver"))?;
        Ok(Some(Role::Receiver(rx)))
    }
}

/// Moves `messages` through `q`; returns messages per second.
fn measure<'q, Q: Queue>(
    q: &'q Q,
    producers: u32,
    consumers: u32,
    messages: u64,
    make_sender: &(dyn Fn(&'q Q) -> Result<Q::Handle<'q>> + Sync),
    make_receiver: &(dyn Fn(&'q Q) -> Result<Q::Handle<'q>> + Sync),
    timeout: Duration,
) -> Result<f64> {
    let start = Barrier::new((producers + consumers + 1) as usize);
    let deadline = Instant::now() + timeout;
    let timed_out = || BenchError::new("grid point timed out");
    std::thread::scope(|s| {
        let mut senders = Vec::new();
        let mut receivers = Vec::new();
        for p in 0..u64::from(producers) {
            let share =
                messages / u64::from(producers) + u64::from(p < messages % u64::from(producers));
            let start = &start;
            senders.push(s.spawn(move || -> Result<()> {
                let h = make_sender(q);
                start.wait();
                let mut h = h?;
                for i in 0..share {
                    while !Q::push(&mut h, i) {
                        if Instant::now() > deadline {
                            return Err(timed_out());
                        }
                        std::thread::yield_now();
                    }
                }
                Ok(())
            }));
        }
        for _ in 0..consumers {
            let start = &start;
            receivers.push(s.spawn(move || -> Result<u64> {
                let h = make_receiver(q);
                start.wait();
                let mut h = h?;
                let mut got = 0;
                loop {
                    match Q::pop(&mut h) {
                        Some(STOP) => return Ok(got),
                        Some(_) => got += 1,
                        None => {
                            if Instant::now() > deadline {
                                return Err(timed_out());
                            }
                            std::thread::yield_now();
                        }
                    }
                }
            }));
        }
        start.wait();
        let t0 = Instant::now();
        let mut first_error = None;
        for h in senders {
            if let Err(e) = h.join().unwrap_or_else(|_| Err(BenchError::new("panic"))) {
                first_error.get_or_insert(e);
            }
        }
        let mut stopper = make_sender(q)?;
        for _ in 0..consumers {
            while !Q::push(&mut stopper, STOP) {
                if Instant::now() > deadline {
                    return Err(timed_out());
                }
                std::thread::yield_now();
            }
        }
        let mut total = 0;
        for h in receivers {
            match h.join().unwrap_or_else(|_| Err(BenchError::new("panic"))) {
                Ok(n) => total += n,
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let elapsed = t0.elapsed();
        if let Some(e) = first_error {
            return Err(e);
        }
        if total != messages {
            return Err(BenchError::new(format!("{total} of {messages} arrived")));
        }
        Ok(messages as f64 / elapsed.as_secs_f64())
    })
}

/// Measures one point: annulus, then `ArrayQueue`.
pub fn point(producers: u32, consumers: u32, messages: u64, timeout: Duration) -> GridPoint {
    let producers = producers.clamp(1, MAX_THREADS);
    let consumers = consumers.clamp(1, MAX_THREADS);
    let mut errors = Vec::new();
    // One more sender record for the thread that sends the stop values.
    let annulus = AnnulusQueue::new(producers + consumers + 1).and_then(|q| {
        measure(
            &q,
            producers,
            consumers,
            messages,
            &|q: &AnnulusQueue| q.sender(),
            &|q: &AnnulusQueue| q.receiver(),
            timeout,
        )
    });
    let aq = ArrayQueue::new(CAPACITY as usize);
    let array_queue = measure(
        &aq,
        producers,
        consumers,
        messages,
        &|q: &ArrayQueue<u64>| q.handle(),
        &|q: &ArrayQueue<u64>| q.handle(),
        timeout,
    );
    let annulus = annulus
        .map_err(|e| errors.push(format!("annulus: {e}")))
        .ok();
    let array_queue = array_queue
        .map_err(|e| errors.push(format!("ArrayQueue: {e}")))
        .ok();
    GridPoint {
        producers,
        consumers,
        annulus,
        array_queue,
        error: (!errors.is_empty()).then(|| errors.join("; ")),
    }
}

/// Every point of `config.grid`.
pub(crate) fn run(config: &Config, progress: &mut dyn FnMut(&Progress)) -> Vec<GridPoint> {
    config
        .grid
        .iter()
        .map(|&(producers, consumers)| {
            progress(&Progress::Grid {
                producers,
                consumers,
            });
            point(
                producers,
                consumers,
                config.grid_messages,
                config.case_timeout,
            )
        })
        .collect()
}
