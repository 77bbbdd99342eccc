//! SPSC `attach`: every `AttachError` variant reached on purpose.

use annulus::layout::{Kind, LAYOUT_VERSION, MAGIC, REGION_ALIGN};
use annulus::spsc::Spsc;
use annulus::{AttachError, LayoutError, Schema};

use crate::names::{ATTACH_ERRORS, attach_error_name};
use crate::spsc_region::off;
use crate::support::{HeapRegion, INITIALISING, Stats, config, watchdog};

// ---------------------------------------------------------------------------
// Attach
// ---------------------------------------------------------------------------

/// Every `AttachError` variant, reached on purpose and asserted by name and
/// fields; plus the regions `attach` must accept.
#[test]
pub(crate) fn attach_reports_every_error_by_name() {
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
