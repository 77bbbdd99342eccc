//! A hostile thread stores garbage into every atomic word of an MPMC region
//! (header, participant records, slot sequences) while the ring works.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use annulus::layout::Kind;

use crate::elem::{Elem, Rec};
use crate::mpmc_live::MpmcLive;
use crate::mpmc_region::Geometry;
use crate::support::{
    Config, HeapRegion, Progress, Rng, Stats, StopOnDrop, config, interesting_for, stream_of,
    watchdog,
};

/// Atomic stores only (the words are atomics: no data race in this
/// process); slot values are left alone, as a racing value write would be a
/// data race of the test itself. Calls must still return, and the ring must
/// work once laid out again.
#[test]
fn mpmc_rings_survive_concurrent_garbage() {
    let cfg = config();
    let iters = (cfg.iters / 4).max(1);
    let mut total = Stats::default();
    let cases: &[(u8, u32, u32)] = if cfg!(miri) {
        &[(1, 8, 4)]
    } else {
        &[
            (0, 2, 2),
            (0, 64, 8),
            (1, 8, 4),
            (1, 2, 8),
            (2, 64, 3),
            (2, 8, 5),
        ]
    };
    for (case, &(ty, cap, parts)) in cases.iter().enumerate() {
        let case = case as u64;
        let stats = watchdog(
            &format!("mpmc concurrent case {case}"),
            cfg,
            move |progress| match ty {
                0 => concurrent_case::<u8>(cfg, iters, (cap, parts), case, progress),
                1 => concurrent_case::<u64>(cfg, iters, (cap, parts), case, progress),
                _ => concurrent_case::<Rec>(cfg, iters, (cap, parts), case, progress),
            },
        );
        total.merge(stats);
    }
    total.report("mpmc concurrent garbage", cfg);
    assert_eq!(total.ops, iters * cases.len() as u64);
}

fn concurrent_case<T: Elem>(
    cfg: Config,
    iters: u64,
    (cap, parts): (u32, u32),
    case: u64,
    progress: &Progress,
) -> Stats {
    let geo = Geometry::of::<T>(cap, parts);
    let region = HeapRegion::zeroed(geo.layout.size);
    let rng = Rng::new(cfg.seed, stream_of("mpmc concurrent") ^ case);
    let mut live = MpmcLive::<T>::new(&region, cap, parts, rng);
    let words: Vec<&AtomicU32> = geo
        .atomic_words()
        .into_iter()
        .map(|at| region.word(at))
        .collect();
    let stop = AtomicBool::new(false);
    let mut rng = Rng::new(cfg.seed, stream_of("mpmc hostile thread") ^ case);
    let body = geo.layout.slots_offset as u32;
    let stores = std::thread::scope(|s| {
        let hostile = s.spawn(|| {
            let mut stores = 0u64;
            // Relaxed: the hostile peer promises nothing.
            while !stop.load(Ordering::Relaxed) {
                let word = words[rng.below_usize(words.len())];
                let current = word.load(Ordering::Relaxed);
                let value = interesting_for(Kind::Mpmc, body, &mut rng, current, cap);
                word.store(value, Ordering::Relaxed);
                stores += 1;
                if cfg!(miri) || stores % 16 == 0 {
                    std::thread::yield_now();
                }
            }
            stores
        });
        let stop = StopOnDrop(&stop);
        live.run(iters, progress, case, false);
        drop(stop);
        hostile.join().expect("the hostile thread does not panic")
    });
    live.stats.corruptions += stores;
    // The join above orders every hostile store before the plain writes of
    // the restoration.
    live.restore_and_check()
}
