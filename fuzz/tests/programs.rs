//! The fuzz target's interpreter over a fixed set of pseudo-random programs,
//! on the stable toolchain: what CI runs without cargo-fuzz.
//!
//! `ANNULUS_FUZZ_PROGRAMS=<n>` changes how many (default 64 000: 8 000 per
//! primitive; 24 under miri, which interprets every step and replays the
//! environment its build saw); `--nocapture` shows the totals.

use annulus_fuzz::{Totals, run};

/// splitmix64.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Programs per run: 8 000 per primitive natively, 3 under miri.
const DEFAULT_PROGRAMS: u64 = if cfg!(miri) { 24 } else { 64_000 };

fn programs() -> u64 {
    std::env::var("ANNULUS_FUZZ_PROGRAMS")
        .map(|v| v.parse().expect("ANNULUS_FUZZ_PROGRAMS is a number"))
        .unwrap_or(DEFAULT_PROGRAMS)
}

#[test]
fn random_programs_only_fail_with_typed_errors() {
    let mut state = 0x0A11_0C8E_F022_2026;
    let mut totals = Totals::default();
    let mut data = Vec::new();
    let count = programs();
    for i in 0..count {
        data.clear();
        // The primitive in turn, then a random program of up to 2 KiB.
        data.push(i as u8 % 8);
        let len = (next(&mut state) % 2048) as usize;
        while data.len() < len + 1 {
            data.extend_from_slice(&next(&mut state).to_le_bytes());
        }
        // Hostile steps (writes, restores, attaches) are 6 of the 16 step
        // codes. In a third of the programs four bytes in five have bit 3
        // set: read as step codes those are operations (8..=15), so these
        // programs corrupt less often and get further with roles and data.
        if i % 3 == 0 {
            for (j, byte) in data.iter_mut().enumerate().skip(8) {
                if j % 5 != 0 {
                    *byte |= 0x08;
                }
            }
        }
        totals.add(&run(&data));
    }
    println!(
        "annulus-fuzz programs: regions={} corruptions={} steps={} ops={} attach_errors={}",
        totals.regions, totals.corruptions, totals.steps, totals.ops, totals.attach_errors
    );
    assert_eq!(totals.regions, count);
    assert!(totals.ops > totals.attach_errors, "nothing got past attach");
}
