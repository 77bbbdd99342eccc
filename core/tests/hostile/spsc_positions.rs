//! SPSC positions, claims and event counts corrupted on purpose: each call
//! names the corruption, and the ring recovers.

use core::time::Duration;

use annulus::AttachError;
use annulus::Schema;
use annulus::claim::{Claim, ClaimError, RoleState};
use annulus::spsc::{
    ByteReader, ByteWriter, ChunkError, PopError, PopTimeoutError, PushError, PushSliceError,
    PushTimeoutError, Spsc, StreamError,
};
use annulus::wait::Spin;

use crate::spsc_region::{off, round_trip};
use crate::support::{HeapRegion, Rng, SHORT_NS, Stats, TickClock, config, stream_of, watchdog};

// ---------------------------------------------------------------------------
// Positions and claims, on purpose
// ---------------------------------------------------------------------------

/// Each call that reads the peer's position reports an impossible one as
/// `Corrupted` (by name), and the ring recovers once the positions are
/// consistent again. Claim words in every state, sleeper counts at the
/// wrap, and generations at the wrap are handled too.
#[test]
pub(crate) fn impossible_positions_are_reported_by_every_call() {
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

        // Claim words: a claim left half-made, a foreign holder, a generation
        // at the wrap, a tenure ended behind the holder's back.
        drop(tx);
        // State 3 (`CLAIMING`): a claimant that won the word and died before
        // storing its pid. It reads as held (by the pid the slot shows),
        // refuses a claim, and a repair ends it so the role comes back.
        region.write_u32(off::PRODUCER_CLAIM, (5 << 2) | 3);
        region.write_u32(off::PRODUCER_CLAIM + 4, 66);
        let half_made = Claim {
            pid: 66,
            generation: 5,
        };
        assert_eq!(ring.producer_state(), RoleState::Held(half_made));
        assert_eq!(
            ring.producer(w()).map(drop),
            Err(ClaimError::Taken(half_made))
        );
        saw(&mut stats, "ClaimError::Taken");
        assert!(ring.release_dead_producer(half_made, &w()));
        assert_eq!(ring.producer_state(), RoleState::Closed(half_made));
        assert!(!ring.release_dead_producer(half_made, &w()), "only once");
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
