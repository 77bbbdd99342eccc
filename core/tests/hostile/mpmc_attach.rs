//! MPMC `attach`: each error reached on purpose (kind, capacity, participant
//! count, geometry), then random and mutated regions; what it accepts must
//! fit in the memory given and survive a few operations.

use core::mem::{align_of, size_of};
use core::time::Duration;

use annulus::claim::Claim;
use annulus::layout::{Kind, LAYOUT_VERSION, MAGIC, REGION_ALIGN};
use annulus::mpmc::{MAX_PARTICIPANTS, Mpmc};
use annulus::wait::Spin;
use annulus::{AttachError, Schema};

use crate::elem::{Elem, Rec};
use crate::mpmc_region::{Geometry, moff};
use crate::names::{
    attach_error_name, pop_error_name, pop_timeout_error_name, push_error_name,
    push_slice_error_name, push_timeout_error_name, register_error_name, repair_error_name,
    role_state_name,
};
use crate::spsc_region::off;
use crate::support::{
    HeapRegion, INITIALISING, READY, Rng, Stats, TICK_NS, TickClock, config, interesting_for,
    stream_of, watchdog,
};

/// Each way `Mpmc::attach_raw` refuses a region, by name and fields.
#[test]
fn mpmc_attach_reports_errors_by_name() {
    let cfg = config();
    let stats = watchdog("mpmc attach-named", cfg, move |progress| {
        let mut stats = Stats::default();
        let (cap, parts) = (8, 3);
        let geo = Geometry::of::<u64>(cap, parts);
        let size = geo.layout.size;
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
        let cap_of = |r: Result<Mpmc<'_, u64>, AttachError>| r.map(|v| v.capacity());
        // A region with a valid ring, then `word` at `at` overwritten.
        let with = |at: usize, word: u32| {
            let region = HeapRegion::zeroed(size + REGION_ALIGN);
            region.mpmc_init::<u64>(cap, parts);
            region.write_u32(at, word);
            region
        };
        let fresh = || with(off::CREATOR_PID, 0);

        let r = fresh();
        let got = r.mpmc_attach_at::<u64>(0, size + 64, schema);
        let got = got.map(|v| (v.capacity(), v.max_participants()));
        assert_eq!(got, Ok((cap, parts)));
        check(
            &mut stats,
            "valid",
            cap_of(r.mpmc_attach_at(0, size, schema)),
            Ok(cap),
        );
        let got = cap_of(HeapRegion::zeroed(size).mpmc_attach_at(0, size, schema));
        check(&mut stats, "zeroed pages", got, Err(AttachError::NotReady));
        let r = with(off::INIT_STATE, INITIALISING);
        let got = cap_of(r.mpmc_attach_at(0, size, schema));
        check(
            &mut stats,
            "half initialised",
            got,
            Err(AttachError::NotReady),
        );
        let r = with(off::MAGIC, 0x1234_5678);
        let got = cap_of(r.mpmc_attach_at(0, size, schema));
        check(
            &mut stats,
            "magic",
            got,
            Err(AttachError::BadMagic { found: 0x1234_5678 }),
        );
        let r = with(off::INIT_STATE, 7);
        let got = cap_of(r.mpmc_attach_at(0, size, schema));
        check(
            &mut stats,
            "init state",
            got,
            Err(AttachError::BadInitState { found: 7 }),
        );
        let r = with(off::VERSION, LAYOUT_VERSION + 1);
        let got = cap_of(r.mpmc_attach_at(0, size, schema));
        let want = Err(AttachError::VersionMismatch {
            expected: LAYOUT_VERSION,
            found: LAYOUT_VERSION + 1,
        });
        check(&mut stats, "version", got, want);
        for kind in [Kind::Spsc, Kind::FrameRing, Kind::Semaphore] {
            let r = with(off::KIND, kind as u32);
            let got = cap_of(r.mpmc_attach_at(0, size, schema));
            let want = Err(AttachError::KindMismatch {
                expected: Kind::Mpmc,
                found: kind as u32,
            });
            check(&mut stats, "kind", got, want);
        }
        let r = fresh();
        let got = r.mpmc_attach_at::<Rec>(0, size, Schema::of::<Rec>());
        let want = Err(AttachError::ElementMismatch {
            expected_size: 24,
            expected_align: 8,
            found_size: 8,
            found_align: 8,
        });
        check(&mut stats, "element type", got.map(|v| v.capacity()), want);
        let other = Schema::new(0x1234);
        let got = cap_of(r.mpmc_attach_at(0, size, other));
        let want = Err(AttachError::SchemaMismatch {
            expected: other,
            found: schema,
        });
        check(&mut stats, "schema", got, want);

        // Below the minimum of two, not a power of two, above the maximum.
        for bad in [0, 1, 3, 12, 1 << 30, u32::MAX] {
            let r = with(off::CAPACITY, bad);
            let got = cap_of(r.mpmc_attach_at(0, size, schema));
            check(
                &mut stats,
                "capacity",
                got,
                Err(AttachError::BadCapacity { found: bad }),
            );
        }
        // Participant counts: none, too many, or one the geometry disagrees with.
        for bad in [0, MAX_PARTICIPANTS + 1, u32::MAX] {
            let r = with(moff::PARTICIPANTS, bad);
            let got = cap_of(r.mpmc_attach_at(0, size, schema));
            check(&mut stats, "participants", got, Err(AttachError::Corrupted));
        }
        let r = with(moff::PARTICIPANTS, parts + 1);
        let got = cap_of(r.mpmc_attach_at(0, size + REGION_ALIGN, schema));
        let want = Err(AttachError::BadGeometry {
            body_offset: geo.layout.slots_offset as u32,
            region_size: size as u32,
        });
        check(
            &mut stats,
            "participants disagree with the geometry",
            got,
            want,
        );
        let r = with(off::CAPACITY, 16);
        let got = cap_of(r.mpmc_attach_at(0, size + REGION_ALIGN, schema));
        let want = Err(AttachError::BadGeometry {
            body_offset: geo.layout.slots_offset as u32,
            region_size: size as u32,
        });
        check(&mut stats, "capacity disagrees with the size", got, want);
        let r = with(off::BODY_OFFSET, 512);
        let got = cap_of(r.mpmc_attach_at(0, size, schema));
        let want = Err(AttachError::BadGeometry {
            body_offset: 512,
            region_size: size as u32,
        });
        check(&mut stats, "body offset", got, want);

        // A consistent header for a ring far larger than the memory given:
        // records and slots must never be reached.
        let (big_cap, big_parts) = (1 << 20, MAX_PARTICIPANTS);
        let big = Geometry::of::<u64>(big_cap, big_parts).layout;
        let r = with(off::CAPACITY, big_cap);
        r.write_u32(moff::PARTICIPANTS, big_parts);
        r.write_u32(off::BODY_OFFSET, big.slots_offset as u32);
        r.write_u32(off::REGION_SIZE, big.size as u32);
        let got = cap_of(r.mpmc_attach_at(0, size + REGION_ALIGN, schema));
        let want = Err(AttachError::RegionTooSmall {
            needed: big.size,
            len: size + REGION_ALIGN,
        });
        check(&mut stats, "header larger than the memory", got, want);
        let r = fresh();
        let got = cap_of(r.mpmc_attach_at(0, size - 1, schema));
        let want = Err(AttachError::RegionTooSmall {
            needed: size,
            len: size - 1,
        });
        check(&mut stats, "truncated slots", got, want);
        for len in [0, 100, 511] {
            let got = cap_of(r.mpmc_attach_at(0, len, schema));
            let want = Err(AttachError::RegionTooSmall { needed: 512, len });
            check(&mut stats, "truncated header", got, want);
        }
        for offset in [4, 64] {
            let got = cap_of(r.mpmc_attach_at(offset, size, schema));
            check(
                &mut stats,
                "misaligned",
                got,
                Err(AttachError::Misaligned { offset }),
            );
        }
        stats
    });
    stats.report("mpmc attach-named", cfg);
    assert!(stats.has("AttachError::Corrupted") && stats.has("AttachError::BadGeometry"));
}

/// `Mpmc::attach_raw` over random bytes, over a valid header with words or
/// byte ranges corrupted, over short lengths and misaligned pointers.
#[test]
fn mpmc_attach_survives_random_and_mutated_regions() {
    let cfg = config();
    let stats = watchdog("mpmc attach-fuzz", cfg, move |progress| {
        let mut rng = Rng::new(cfg.seed, stream_of("mpmc attach"));
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
    stats.report("mpmc attach-fuzz", cfg);
    assert_eq!(stats.regions, cfg.iters);
    if cfg.iters >= 1_000 {
        for name in [
            "AttachError::BadMagic",
            "AttachError::BadCapacity",
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
    let cap = [2, 8, 64][rng.below_usize(3)];
    let parts = 1 + rng.below(8) as u32;
    let geo = Geometry::of::<T>(cap, parts);
    let size = geo.layout.size;
    let body = geo.layout.slots_offset as u32;
    let region = HeapRegion::zeroed(size + REGION_ALIGN);
    stats.regions += 1;
    stats.corruptions += 1;
    let (mut offset, mut len) = (0, size);
    let mut schema = Schema::of::<T>();
    let mode = rng.below(8);
    match mode {
        0 => {
            region.randomize(rng, 0, region.len());
            len = rng.below_usize(region.len() + 1);
        }
        1 => {
            // Garbage that starts like a ready MPMC region.
            region.randomize(rng, 0, region.len());
            region.write_u32(off::MAGIC, MAGIC);
            region.write_u32(off::INIT_STATE, READY);
            region.write_u32(off::VERSION, LAYOUT_VERSION);
            region.write_u32(off::KIND, Kind::Mpmc as u32);
            if rng.one_in(2) {
                let schema = Schema::of::<T>().0;
                region.write_u32(off::ELEM_SIZE, size_of::<T>() as u32);
                region.write_u32(off::ELEM_ALIGN, align_of::<T>() as u32);
                region.write_u32(off::SCHEMA_LO, schema as u32);
                region.write_u32(off::SCHEMA_HI, (schema >> 32) as u32);
            }
        }
        _ => {
            region.mpmc_init::<T>(cap, parts);
            match mode {
                2 | 3 => {
                    // One word, or a few, rewritten: header, control, records.
                    let words = geo.atomic_words();
                    let count = if mode == 2 { 1 } else { 2 + rng.below(4) };
                    for _ in 0..count {
                        let at = match rng.below(3) {
                            0 => 4 * rng.below_usize(16),
                            1 => [off::CAPACITY, moff::PARTICIPANTS][rng.below_usize(2)],
                            _ => words[rng.below_usize(words.len())],
                        };
                        let current = region.read_u32(at);
                        let value = interesting_for(Kind::Mpmc, body, rng, current, cap);
                        region.write_u32(at, value);
                    }
                }
                4 => {
                    // Random whole words over a random range, mostly in the header.
                    let hi = if rng.one_in(4) { size } else { 512 };
                    let start = rng.below_usize(hi) & !3;
                    let n = (1 + rng.below_usize((hi - start).min(64)) + 3) & !3;
                    let bytes = rng.bytes(n);
                    region.write(start, &bytes);
                }
                5 => len = rng.below_usize(size),
                6 => offset = 1 + rng.below_usize(REGION_ALIGN - 1),
                _ => schema = Schema::new(rng.next_u64()),
            }
        }
    }
    let result = region.mpmc_attach_at::<T>(offset, len, schema);
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
fn exercise_view<T: Elem>(view: Mpmc<'_, T>, len: usize, rng: &mut Rng, stats: &mut Stats) {
    let (cap, parts) = (view.capacity(), view.max_participants());
    let layout = Mpmc::<T>::layout(cap, parts).expect("attach accepted impossible sizes");
    assert!(
        layout.size <= len,
        "attach accepted {} bytes in {len}",
        layout.size
    );
    assert!(view.len() <= cap);
    for i in 0..parts {
        let info = view.participant(i).expect("a record below the count");
        stats.saw(role_state_name(&info.state));
    }
    assert!(view.held_claims().count() <= parts as usize);
    let clock = TickClock::default();
    let short = Some(Duration::from_nanos(TICK_NS));
    let w = || Spin::new(clock.clone());
    let mut tx = view.sender(w());
    let mut rx = view.receiver(w());
    match &mut tx {
        Ok(tx) => {
            tx.set_spin_limit(1);
            stats.ok("register sender");
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
        }
        Err(e) => stats.saw(register_error_name(e)),
    }
    match &mut rx {
        Ok(rx) => {
            rx.set_spin_limit(1);
            stats.ok("register receiver");
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
        }
        Err(e) => stats.saw(register_error_name(e)),
    }
    // Whoever the bytes say holds a record is dead, except this side.
    let mine: Vec<u32> = [
        tx.as_ref().ok().map(|t| t.record()),
        rx.as_ref().ok().map(|r| r.record()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let held: Vec<(u32, Claim)> = view.held_claims().collect();
    let is_alive = |c: Claim| held.iter().any(|&(i, h)| h == c && mine.contains(&i));
    match view.repair(rng.next_u32(), &w(), is_alive, |_: T| {}) {
        Ok(report) => {
            assert!(report.dead <= parts);
            stats.ok("repair");
        }
        Err(e) => stats.saw(repair_error_name(&e)),
    }
    stats.ops += 1;
}
