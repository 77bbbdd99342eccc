//! Every kind of structure attached over a region laid out as every other
//! kind: the kind word tells them apart (a byte stream never attaches to a
//! frame ring of the same geometry), with a typed error.

use annulus::frame::FrameRing;
use annulus::layout::Kind;
use annulus::mpmc::Mpmc;
use annulus::semaphore::{Semaphore, SemaphoreSet};
use annulus::spsc::Spsc;
use annulus::wait::Spin;
use annulus::{AttachError, Schema};

use crate::names::attach_error_name;
use crate::support::{HeapRegion, Stats, TickClock, config, watchdog};

const KINDS: [Kind; 5] = [
    Kind::Spsc,
    Kind::Mpmc,
    Kind::FrameRing,
    Kind::Semaphore,
    Kind::SemaphoreSet,
];

/// Room for any of the structures laid below.
const SIZE: usize = 1024;

/// Lays a structure of `kind` into `region`: byte rings (SPSC and frame) of
/// the same 256 bytes, so only the kind word differs between them.
fn lay(region: &HeapRegion, kind: Kind, clock: &TickClock) {
    let (ptr, len) = (region.ptr(), region.len());
    let w = Spin::new(clock.clone());
    // SAFETY: the whole allocation, which outlives the call; no handle into
    // it is alive (each one made here is dropped at once).
    let laid = unsafe {
        match kind {
            Kind::Spsc => Spsc::<u8>::init_raw(ptr, len, 256, Default::default()).map(drop),
            Kind::Mpmc => Mpmc::<u8>::init_raw(ptr, len, 8, 2, Default::default()).map(drop),
            Kind::FrameRing => FrameRing::init_raw(ptr, len, 256, Default::default()).map(drop),
            Kind::Semaphore => {
                let sem = Semaphore::init_raw(ptr, len, 0, 3, Default::default(), w);
                sem.map(drop).map_err(|e| panic!("{e:?}"))
            }
            _ => {
                let set = SemaphoreSet::init_raw(ptr, len, &[1, 2], 3, Default::default(), w);
                set.map(drop).map_err(|e| panic!("{e:?}"))
            }
        }
    };
    laid.unwrap_or_else(|e| panic!("laying {kind:?}: {e:?}"));
}

/// Attaches to `region` as `kind`.
fn attach_as(region: &HeapRegion, kind: Kind, clock: &TickClock) -> Result<(), AttachError> {
    let (ptr, len) = (region.ptr(), region.len());
    let w = Spin::new(clock.clone());
    let u8s = Schema::of::<u8>();
    // SAFETY: the whole allocation, initialised (zeroed, then laid out), and
    // it outlives the handle, which is dropped at once.
    unsafe {
        match kind {
            Kind::Spsc => Spsc::<u8>::attach_raw(ptr, len, u8s).map(drop),
            Kind::Mpmc => Mpmc::<u8>::attach_raw(ptr, len, u8s).map(drop),
            Kind::FrameRing => FrameRing::attach_raw(ptr, len, None).map(drop),
            Kind::Semaphore => Semaphore::attach_raw(ptr, len, w).map(drop),
            _ => SemaphoreSet::attach_raw(ptr, len, w).map(drop),
        }
    }
}

#[test]
fn every_kind_refuses_every_other_kind() {
    let cfg = config();
    let stats = watchdog("kinds", cfg, move |progress| {
        let mut stats = Stats::default();
        let clock = TickClock::default();
        for (i, &laid) in KINDS.iter().enumerate() {
            let region = HeapRegion::zeroed(SIZE);
            lay(&region, laid, &clock);
            stats.regions += 1;
            for (j, &kind) in KINDS.iter().enumerate() {
                progress.at(i as u64, j as u64, u64::MAX);
                let got = attach_as(&region, kind, &clock);
                stats.ops += 1;
                if kind == laid {
                    assert_eq!(got, Ok(()), "{kind:?} over its own region");
                    stats.ok("attach own kind");
                } else {
                    let want = Err(AttachError::KindMismatch {
                        expected: kind,
                        found: laid as u32,
                    });
                    assert_eq!(got, want, "{kind:?} over a {laid:?} region");
                    stats.saw(attach_error_name(&got.unwrap_err()));
                }
            }
        }
        stats
    });
    stats.report("kinds", cfg);
    assert_eq!(stats.seen.get("AttachError::KindMismatch"), Some(&20));
}
