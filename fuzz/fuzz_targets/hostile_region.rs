//! libFuzzer target: hostile writes over a primitive's region between its
//! operations (see the crate docs of `annulus_fuzz` for the program the
//! input encodes and what fails a run).
//!
//! Every 100 000 executions it prints the running totals on stderr: the
//! figure a campaign reports is its last line.
#![no_main]

use std::cell::RefCell;

use annulus_fuzz::{Totals, run};
use libfuzzer_sys::fuzz_target;

thread_local! {
    static TOTALS: RefCell<Totals> = RefCell::new(Totals::default());
}

fuzz_target!(|data: &[u8]| {
    let one = run(data);
    TOTALS.with_borrow_mut(|totals| {
        totals.add(&one);
        if totals.regions % 100_000 == 0 {
            eprintln!(
                "annulus-fuzz: inputs={} corruptions={} steps={} ops={} attach_errors={}",
                totals.regions, totals.corruptions, totals.steps, totals.ops, totals.attach_errors
            );
        }
    });
});
