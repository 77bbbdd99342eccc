//! `FrameRing::attach_raw` over random bytes, mutated headers (capacities
//! below the frame minimum, the byte-stream kind), short lengths and
//! misaligned pointers; what it accepts must fit and survive a few frames.

use core::time::Duration;

use annulus::frame::{FRAME_SCHEMA, FrameRing, MIN_CAPACITY};
use annulus::layout::{Kind, LAYOUT_VERSION, MAGIC, REGION_ALIGN};
use annulus::wait::Spin;
use annulus::{AttachError, Schema};

use crate::frame_region::random_meta;
use crate::names::{
    attach_error_name, claim_error_name, frame_recv_error_name, frame_send_error_name,
};
use crate::spsc_region::{header_words, off};
use crate::support::{
    HeapRegion, READY, Rng, Stats, TICK_NS, TickClock, config, interesting_for, stream_of, watchdog,
};

#[test]
fn frame_attach_survives_random_and_mutated_regions() {
    let cfg = config();
    let stats = watchdog("frame attach-fuzz", cfg, move |progress| {
        let mut rng = Rng::new(cfg.seed, stream_of("frame attach"));
        let mut stats = Stats::default();
        for iter in 0..cfg.iters {
            progress.at(0, iter, u64::MAX);
            attach_one(&mut rng, &mut stats);
        }
        stats
    });
    stats.report("frame attach-fuzz", cfg);
    assert_eq!(stats.regions, cfg.iters);
    if cfg.iters >= 1_000 {
        for name in [
            "AttachError::BadMagic",
            "AttachError::BadCapacity",
            "AttachError::KindMismatch",
            "AttachError::RegionTooSmall",
            "AttachError::Misaligned",
            "AttachError::SchemaMismatch",
        ] {
            assert!(stats.has(name), "{name} never seen");
        }
        // Rarer: impossible positions behind an otherwise valid header.
        if cfg.iters >= 10_000 {
            assert!(stats.has("AttachError::Corrupted"), "Corrupted never seen");
        }
        assert!(
            stats.ok.contains_key("attach_raw"),
            "no region was accepted"
        );
    }
}

fn attach_one(rng: &mut Rng, stats: &mut Stats) {
    let cap = [MIN_CAPACITY, 512, 1024][rng.below_usize(3)];
    let size = FrameRing::layout(cap).expect("layout").size;
    let region = HeapRegion::zeroed(size + REGION_ALIGN);
    stats.regions += 1;
    stats.corruptions += 1;
    let (mut offset, mut len) = (0, size);
    let mut schema = [None, Some(FRAME_SCHEMA)][rng.below_usize(2)];
    let mode = rng.below(9);
    match mode {
        0 => {
            region.randomize(rng, 0, region.len());
            len = rng.below_usize(region.len() + 1);
        }
        1 => {
            // Garbage that starts like a ready frame ring.
            region.randomize(rng, 0, region.len());
            region.write_u32(off::MAGIC, MAGIC);
            region.write_u32(off::INIT_STATE, READY);
            region.write_u32(off::VERSION, LAYOUT_VERSION);
            region.write_u32(off::KIND, Kind::FrameRing as u32);
            if rng.one_in(2) {
                region.write_u32(off::ELEM_SIZE, 1);
                region.write_u32(off::ELEM_ALIGN, 1);
                region.write_u32(off::SCHEMA_LO, FRAME_SCHEMA.0 as u32);
                region.write_u32(off::SCHEMA_HI, (FRAME_SCHEMA.0 >> 32) as u32);
            }
        }
        _ => {
            region.frame_init(cap);
            match mode {
                2 | 3 => {
                    let words = header_words();
                    let n = if mode == 2 { 1 } else { 2 + rng.below(4) };
                    for _ in 0..n {
                        let at = match rng.below(3) {
                            0 => 4 * rng.below_usize(16),
                            1 => [off::CAPACITY, off::REGION_SIZE, off::KIND][rng.below_usize(3)],
                            _ => words[rng.below_usize(words.len())],
                        };
                        let current = region.read_u32(at);
                        let value = interesting_for(Kind::FrameRing, 512, rng, current, cap);
                        region.write_u32(at, value);
                    }
                }
                4 => {
                    // A smaller, self-consistent byte ring: too small for frames.
                    let small = [2, 16, 128][rng.below_usize(3)];
                    region.write_u32(off::CAPACITY, small);
                    region.write_u32(off::REGION_SIZE, 512 + small);
                    region.write_u32(off::TAIL, 0);
                    region.write_u32(off::HEAD, 0);
                }
                5 => len = rng.below_usize(size),
                6 => offset = 1 + rng.below_usize(REGION_ALIGN - 1),
                7 => schema = Some(Schema::new(rng.next_u64())),
                _ => region.write_u32(off::KIND, Kind::Spsc as u32),
            }
        }
    }
    let result = region.frame_attach_at(offset, len, schema);
    match (mode, &result) {
        (4, Err(AttachError::BadCapacity { found })) => assert!(*found < MIN_CAPACITY),
        (4, other) => panic!("a byte ring too small for frames: {other:?}"),
        (5, Err(AttachError::RegionTooSmall { len: l, .. })) => assert_eq!(*l, len),
        (5, other) => panic!("truncated to {len} of {size}: {other:?}"),
        (6, Err(AttachError::Misaligned { offset: o })) => assert_eq!(*o, offset),
        (6, other) => panic!("misaligned by {offset}: {other:?}"),
        (7, Err(AttachError::SchemaMismatch { .. })) => {}
        (7, other) => panic!("wrong schema: {other:?}"),
        (8, Err(AttachError::KindMismatch { .. })) => {}
        (8, other) => panic!("a byte stream's kind: {other:?}"),
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

/// A few frames through a ring that `attach` accepted from hostile bytes.
fn exercise_view(view: FrameRing<'_>, len: usize, rng: &mut Rng, stats: &mut Stats) {
    let cap = view.capacity();
    let layout = FrameRing::layout(cap).expect("attach accepted an impossible capacity");
    assert!(
        layout.size <= len,
        "attach accepted {} bytes in {len}",
        layout.size
    );
    assert!(view.len_bytes() <= cap);
    let clock = TickClock::default();
    let short = Some(Duration::from_nanos(TICK_NS));
    let w = || Spin::new(clock.clone());
    match view.writer(w()) {
        Ok(mut tx) => {
            stats.ok("claim writer");
            let n = rng.below_usize(40);
            let payload = rng.bytes(n);
            for result in [
                tx.try_send(random_meta(rng), &payload),
                tx.try_grant(payload.len()).map(drop),
                tx.send_blocking(random_meta(rng), &payload, short),
            ] {
                if let Err(e) = result {
                    stats.saw(frame_send_error_name(&e));
                }
            }
        }
        Err(e) => stats.saw(claim_error_name(&e)),
    }
    match view.reader(w()) {
        Ok(mut rx) => {
            stats.ok("claim reader");
            let max = view.max_payload();
            match rx.try_recv_frame() {
                Ok(frame) => {
                    assert_eq!(frame.payload().len(), frame.header().len as usize);
                    assert!(frame.header().len <= max);
                    frame.release();
                }
                Err(e) => stats.saw(frame_recv_error_name(&e)),
            }
            let mut buf = [0; 16];
            for result in [
                rx.try_recv(&mut buf),
                rx.try_recv_truncating(&mut buf),
                rx.recv_blocking(&mut buf, short),
            ] {
                match result {
                    Ok((header, n)) => assert!(n <= buf.len() && header.len <= max),
                    Err(e) => stats.saw(frame_recv_error_name(&e)),
                }
            }
        }
        Err(e) => stats.saw(claim_error_name(&e)),
    }
    stats.ops += 1;
}
