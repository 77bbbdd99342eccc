//! Two threads through an SPSC ring laid into a `static` buffer: no heap, no
//! operating system objects, the way firmware would use annulus.
//!
//! The producer sends 1,000,000 numbered samples, in batches and one by one,
//! then drops its handle, which closes the ring. The consumer receives them
//! with blocking pops until it sees `Disconnected` — the ring's equivalent of
//! `read()` returning 0 on a pipe whose writer is gone — and checks that every
//! sample arrived once, in order.
//!
//! Run: `cargo run --release -p annulus-examples --example spsc_threads`

use annulus::region::Region;
use annulus::spsc::{PopTimeoutError, Spsc};
use annulus::wait::{Spin, StdClock};
use std::time::Instant;

/// One sample: plain data (Pod: no padding, no pointers, any bits valid),
/// copied bit for bit through the ring.
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Sample {
    seq: u64,
    value: f64,
}

const CAPACITY: u32 = 1024;
static BUFFER: Region<{ Spsc::<Sample>::region_size(CAPACITY) }> = Region::new();

fn main() {
    let total: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let bytes = BUFFER.take().expect("the static buffer is taken once");
    let ring = Spsc::<Sample>::init(bytes, CAPACITY).expect("buffer sized by region_size");
    // A spinning waiter: the peer is another thread, so nobody sleeps in the kernel.
    let mut tx = ring.producer(Spin::new(StdClock)).expect("first producer");
    let mut rx = ring.consumer(Spin::new(StdClock)).expect("first consumer");

    let start = Instant::now();
    let producer = std::thread::spawn(move || {
        let mut seq = 0;
        while seq < total {
            // Every 8th round, a batch of 32 written in place (zero-copy).
            if seq % 256 == 0
                && total - seq >= 32
                && let Ok(mut chunk) = tx.write_chunk(32)
            {
                let (a, b) = chunk.as_mut_slices();
                for slot in a.iter_mut().chain(b.iter_mut()) {
                    *slot = Sample {
                        seq,
                        value: seq as f64 * 0.5,
                    };
                    seq += 1;
                }
                chunk.commit_all();
                continue;
            }
            let sample = Sample {
                seq,
                value: seq as f64 * 0.5,
            };
            tx.push_blocking(sample, None).expect("consumer is alive");
            seq += 1;
        }
        // Dropping `tx` closes the ring for the consumer.
    });

    let mut expected = 0;
    loop {
        match rx.pop_blocking(None) {
            Ok(sample) => {
                assert_eq!(
                    sample,
                    Sample {
                        seq: expected,
                        value: expected as f64 * 0.5
                    }
                );
                expected += 1;
            }
            Err(PopTimeoutError::Disconnected) => break,
            Err(e) => panic!("ring failed: {e}"),
        }
    }
    producer.join().expect("producer thread");
    let elapsed = start.elapsed();
    assert_eq!(expected, total, "every sample arrives exactly once");
    println!(
        "{total} samples through a {CAPACITY}-slot ring in a static buffer: {:.1} ms, {:.1} M samples/s",
        elapsed.as_secs_f64() * 1e3,
        total as f64 / elapsed.as_secs_f64() / 1e6
    );
}
