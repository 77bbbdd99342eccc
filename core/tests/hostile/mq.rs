//! The message queue over hostile memory.
//!
//! core/src/mq/tests.rs checks each impossible block word by name. This
//! plays the peer at random: `attach_raw` over mutated headers (a typed error,
//! or a queue that works), and live queues whose words are overwritten at
//! random between operations (every call returns Ok or a typed error, never
//! panics or hangs), then a restoration check: a queue laid out again in the
//! same memory has exact semantics.

use core::num::NonZeroU32;
use core::time::Duration;

use annulus::AttachError;
use annulus::mq::{Filter, MQ_SCHEMA, MessageQueue, RecvError, RecvOptions, SendError};
use annulus::wait::Spin;

use crate::support::{HeapRegion, Rng, Stats, TickClock, config, stream_of, watchdog};

const MAX_MESSAGES: u32 = 4;
const MESSAGE_SIZE: u32 = 16;
const PARTICIPANTS: u32 = 3;
/// The root word (a 64-bit atomic: written whole by the hostile peer too).
const ROOT_AT: usize = 256;
/// The notification registration, the other 64-bit atomic.
const NOTIFY_AT: usize = 72;

fn size() -> usize {
    MessageQueue::region_size(MAX_MESSAGES, MESSAGE_SIZE, PARTICIPANTS)
}

fn init(region: &HeapRegion) -> MessageQueue<'_> {
    // SAFETY: the whole allocation, valid while `region` is borrowed; no
    // other view is alive during the call.
    unsafe {
        MessageQueue::init_raw(
            region.ptr(),
            region.len(),
            MAX_MESSAGES,
            MESSAGE_SIZE,
            PARTICIPANTS,
            annulus::mq::InitOptions::default(),
        )
    }
    .expect("init of a fresh region")
}

fn ty(t: u32) -> NonZeroU32 {
    NonZeroU32::new(t.max(1)).expect("non-zero")
}

/// Overwrites one aligned word of the region with something interesting.
fn scribble(region: &HeapRegion, rng: &mut Rng) {
    let value = match rng.below(4) {
        0 => 0,
        1 => u32::MAX,
        2 => rng.below(64) as u32,
        _ => rng.next_u32(),
    };
    let word = (u64::from(rng.next_u32()) << 32) | u64::from(value);
    if rng.one_in(8) {
        region.write(ROOT_AT, &word.to_ne_bytes());
    } else if rng.one_in(16) {
        region.write(NOTIFY_AT, &word.to_ne_bytes());
    } else {
        let offset = rng.below_usize(region.len() / 4) * 4;
        // Whole words only (miri rejects partial writes over atomics).
        if [ROOT_AT, NOTIFY_AT].iter().any(|&at| offset / 8 == at / 8) {
            return;
        }
        region.write_u32(offset, value);
    }
}

#[test]
fn attach_over_mutated_headers() {
    let cfg = config();
    let stats = watchdog("mq-attach", cfg, move |progress| {
        let mut stats = Stats::default();
        let mut rng = Rng::new(cfg.seed, stream_of("mq-attach"));
        for iter in 0..cfg.iters {
            progress.at(0, iter, 0);
            let region = HeapRegion::zeroed(size());
            let _ = init(&region);
            stats.regions += 1;
            // Mutate one of the header or control words (not the 64-bit
            // registration word at 72, which the live test writes whole).
            let offset = rng.below_usize(72 / 4) * 4;
            region.write_u32(offset, rng.next_u32());
            stats.corruptions += 1;
            let len = if rng.one_in(4) {
                rng.below_usize(size())
            } else {
                size()
            };
            // SAFETY: the allocation is valid for `len <= size` bytes while
            // `region` lives; only views of this test touch it.
            match unsafe { MessageQueue::attach_raw(region.ptr(), len, MQ_SCHEMA) } {
                Ok(mq) => {
                    stats.ok("attach");
                    let mut ep = match mq.endpoint(7, Spin::new(TickClock::default())) {
                        Ok(ep) => ep,
                        Err(_) => {
                            stats.saw("register error");
                            continue;
                        }
                    };
                    match ep.try_send(b"ok", 1, ty(1)) {
                        Ok(_) => stats.ok("send"),
                        Err(_) => stats.saw("send error"),
                    }
                    let _ = ep.try_recv(&mut [0; 16]);
                }
                Err(AttachError::Corrupted) => stats.saw("Corrupted"),
                Err(_) => stats.saw("typed attach error"),
            }
        }
        stats
    });
    stats.report("mq-attach", cfg);
    assert!(stats.has("typed attach error"));
}

#[test]
fn live_queue_scribbles_then_restoration() {
    let cfg = config();
    let stats = watchdog("mq-live", cfg, move |progress| {
        let mut stats = Stats::default();
        let mut rng = Rng::new(cfg.seed, stream_of("mq-live"));
        let region = HeapRegion::zeroed(size());
        for iter in 0..cfg.iters.div_ceil(8).max(1) {
            progress.at(1, iter, 0);
            let mq = init(&region);
            stats.regions += 1;
            let w = || Spin::new(TickClock::default());
            let mut a = mq.endpoint(1, w()).expect("a record");
            let mut b = mq.endpoint(2, w()).expect("a record");
            for op in 0..32u64 {
                progress.at(1, iter, op);
                if rng.one_in(3) {
                    scribble(&region, &mut rng);
                    stats.corruptions += 1;
                }
                stats.ops += 1;
                let ep = if rng.one_in(2) { &mut a } else { &mut b };
                let mut buf = [0u8; MESSAGE_SIZE as usize];
                match rng.below(5) {
                    0 | 1 => {
                        match ep.try_send(&[op as u8; 9], rng.below(3) as u16, ty(op as u32 % 3)) {
                            Ok(_) => stats.ok("send"),
                            Err(SendError::Full) => stats.saw("Full"),
                            Err(SendError::Corrupted) => stats.saw("Corrupted"),
                            Err(SendError::Contended) => stats.saw("Contended"),
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                    2 => match ep.send(b"blocking", 0, ty(2), Some(Duration::from_nanos(1))) {
                        Ok(_) => stats.ok("send_timeout"),
                        Err(_) => stats.saw("send_timeout error"),
                    },
                    _ => {
                        let filter = [
                            Filter::Any,
                            Filter::Type(ty(2)),
                            Filter::Except(ty(1)),
                            Filter::LowestAtMost(ty(2)),
                        ][rng.below_usize(4)];
                        let opts = RecvOptions {
                            filter,
                            truncate: rng.one_in(2),
                        };
                        match ep.try_recv_with(&mut buf[..rng.below_usize(17)], opts) {
                            Ok(got) => {
                                assert!(got.len <= MESSAGE_SIZE as usize);
                                stats.ok("recv");
                            }
                            Err(RecvError::Empty) => stats.saw("Empty"),
                            Err(RecvError::BufferTooSmall { needed }) => {
                                assert!(needed <= MESSAGE_SIZE);
                                stats.saw("BufferTooSmall");
                            }
                            Err(RecvError::Corrupted) => stats.saw("Corrupted"),
                            Err(RecvError::Contended) => stats.saw("Contended"),
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                }
                let _ = mq.stats();
            }
            drop((a, b));
            // Restoration: the creator lays the queue out again; exact
            // semantics follow.
            let mq = init(&region);
            let mut a = mq.endpoint(1, w()).expect("a record");
            a.try_send(b"low", 0, ty(3)).expect("send after restore");
            a.try_send(b"high", 9, ty(4)).expect("send after restore");
            let mut buf = [0u8; 16];
            let got = a.try_recv(&mut buf).expect("recv after restore");
            assert_eq!(&buf[..got.len], b"high");
            let got = a.try_recv(&mut buf).expect("recv after restore");
            assert_eq!(&buf[..got.len], b"low");
            stats.ok("restored");
        }
        stats
    });
    stats.report("mq-live", cfg);
    assert!(stats.has("Corrupted"));
}
