//! `Futex::keep_fences`: a process that opts out of asymmetric wake-ups
//! before it registers creates symmetric rings and keeps its fences; one
//! that registered already cannot opt out. Each case needs a process of its
//! own (the choice is process-wide), so the first runs in a child.

use std::time::Duration;

use annulus::wait::Wait;
use annulus_linux::Futex;
use annulus_linux::named::{MpmcRing, SpscRing};
use annulus_process_tests::{CHILD_NAME, ChildGuard, UniqueName, child_name, child_role};

const WATCHDOG: Duration = Duration::from_secs(60);

#[test]
fn a_process_that_keeps_its_fences_creates_symmetric_rings() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("keep-fences");
    let mpmc_name = UniqueName::new("keep-fences-mpmc");
    let child = ChildGuard::spawn(
        "keeps_fences",
        "child",
        &[(CHILD_NAME, format!("{}/{}", name.0, mpmc_name.0))],
    )
    .unwrap();
    child.wait_success(WATCHDOG).unwrap();
}

#[test]
fn keeps_fences() {
    let Some(_) = child_role() else {
        return;
    };
    let names = child_name();
    let (spsc, mpmc) = names.split_once('/').unwrap();
    assert!(
        Futex::keep_fences(),
        "nothing registered this fresh process"
    );
    assert!(!Futex.prepare_light_notify());
    let ring = SpscRing::<u64>::create(spsc, 8).unwrap();
    assert!(!ring.ring().asymmetric_wake());
    let many = MpmcRing::<u64>::create(mpmc, 8, 2).unwrap();
    assert!(!many.ring().asymmetric_wake());
    assert!(Futex::keep_fences(), "asking again changes nothing");
    // The rings work as ever.
    ring.producer().unwrap().push(1).unwrap();
    assert_eq!(ring.consumer().unwrap().pop(), Ok(1));
}

#[test]
fn a_registered_process_cannot_opt_out() {
    if child_role().is_some() {
        return;
    }
    if Futex.prepare_light_notify() {
        assert!(!Futex::keep_fences());
        assert!(Futex.prepare_light_notify(), "still registered");
    } else {
        eprintln!("no membarrier global expedited here: nothing to register");
    }
}
