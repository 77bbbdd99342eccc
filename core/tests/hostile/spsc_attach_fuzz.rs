//! SPSC `attach` over random bytes, mutated headers, short lengths and
//! misaligned pointers; what it accepts must work.

use core::time::Duration;

use annulus::layout::{Kind, LAYOUT_VERSION, MAGIC, REGION_ALIGN};
use annulus::spsc::Spsc;
use annulus::wait::Spin;
use annulus::{AttachError, Schema};

use crate::elem::{Elem, Rec};
use crate::names::{
    attach_error_name, claim_error_name, pop_error_name, pop_timeout_error_name, push_error_name,
    push_slice_error_name, push_timeout_error_name, role_state_name,
};
use crate::spsc_region::{header_words, off};
use crate::support::{
    CAPACITIES, HeapRegion, READY, Rng, Stats, TICK_NS, TickClock, config, interesting, stream_of,
    watchdog,
};

/// `attach` over random bytes, over a valid header with words or byte
/// ranges corrupted, over truncated lengths and misaligned pointers. When it
/// accepts a region, the ring must be usable (if nonsensical) and the
/// geometry it accepted must fit in the memory given.
#[test]
pub(crate) fn attach_survives_random_and_mutated_regions() {
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

pub(crate) fn attach_one<T: Elem>(rng: &mut Rng, stats: &mut Stats) {
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
pub(crate) fn exercise_view<T: Elem>(
    view: Spsc<'_, T>,
    len: usize,
    rng: &mut Rng,
    stats: &mut Stats,
) {
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
