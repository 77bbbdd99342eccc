//! A hostile thread stores garbage into the SPSC header while the ring works.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::elem::{Elem, Rec};
use crate::spsc_live::Live;
use crate::spsc_region::header_words;
use crate::support::{Config, HeapRegion, Progress, Rng, Stats, config, interesting, watchdog};
use annulus::spsc::Spsc;

/// A hostile thread stores garbage into every header word (atomically, as
/// the words are atomics: no data race in this process) while the ring is
/// in use. Calls must still return, and the ring must recover afterwards.
/// The slots are left alone here: a racing slot write would be a data race
/// of the test itself (across processes it only means wrong data).
#[test]
pub(crate) fn live_rings_survive_concurrent_header_garbage() {
    let cfg = config();
    let iters = (cfg.iters / 4).max(1);
    let mut total = Stats::default();
    let cases: &[(u8, u32)] = if cfg!(miri) {
        &[(0, 2), (1, 8)]
    } else {
        &[
            (0, 1),
            (0, 2),
            (0, 8),
            (0, 64),
            (1, 1),
            (1, 2),
            (1, 8),
            (1, 64),
            (2, 1),
            (2, 2),
            (2, 8),
            (2, 64),
        ]
    };
    for (case, &(ty, cap)) in cases.iter().enumerate() {
        let case = case as u64;
        let stats = watchdog(
            &format!("concurrent case {case}"),
            cfg,
            move |progress| match ty {
                0 => concurrent_case::<u8>(cfg, iters, cap, case, progress),
                1 => concurrent_case::<u64>(cfg, iters, cap, case, progress),
                _ => concurrent_case::<Rec>(cfg, iters, cap, case, progress),
            },
        );
        total.merge(stats);
    }
    total.report("concurrent header garbage", cfg);
    assert_eq!(total.ops, iters * cases.len() as u64);
}

pub(crate) fn concurrent_case<T: Elem>(
    cfg: Config,
    iters: u64,
    cap: u32,
    case: u64,
    progress: &Progress,
) -> Stats {
    let region = HeapRegion::zeroed(Spsc::<T>::layout(cap).expect("layout").size);
    let mut live = Live::<T>::new(&region, cap, Rng::new(cfg.seed, 0xC0C0 + case));
    let words: Vec<&AtomicU32> = header_words()
        .into_iter()
        .map(|at| region.word(at))
        .collect();
    let stop = AtomicBool::new(false);
    let mut rng = Rng::new(cfg.seed, 0xBAD0 + case);
    let stores = std::thread::scope(|s| {
        let hostile = s.spawn(|| {
            let mut stores = 0u64;
            // Relaxed: the hostile peer promises nothing.
            while !stop.load(Ordering::Relaxed) {
                let word = words[rng.below_usize(words.len())];
                let current = word.load(Ordering::Relaxed);
                word.store(interesting(&mut rng, current, cap), Ordering::Relaxed);
                stores += 1;
                if cfg!(miri) || stores % 16 == 0 {
                    std::thread::yield_now();
                }
            }
            stores
        });
        live.run(iters, progress, case, false);
        stop.store(true, Ordering::Relaxed);
        hostile.join().expect("the hostile thread does not panic")
    });
    live.stats.corruptions += stores;
    // The join above orders every hostile store before the plain writes of
    // the restoration.
    live.restore_and_check()
}
