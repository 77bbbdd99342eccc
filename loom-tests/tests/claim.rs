//! loom models of role claims (core/src/claim.rs) through the ring: racing
//! claimants, the hand-over of a role from one holder to the next, and a
//! liveness repair racing a new claim.
#![cfg(loom)]

use annulus::claim::{Claim, ClaimError, RoleState};
use annulus::spsc::PopError;
use loom::thread;
use loom_tests::{LoomRing, LoomWait};

/// Two threads race to claim one role with `claim`; each keeps what it got
/// until both have tried. Exactly one wins; the other gets `Taken` naming the
/// winner's tenure (generation 1). After the winner drops its handle the role
/// is `Closed` and can be claimed again, as generation 2.
fn race<H: Send + 'static>(
    claim: fn(&LoomRing<u32>) -> Result<H, ClaimError>,
    state: fn(&LoomRing<u32>) -> RoleState,
) {
    loom::model(move || {
        let ring = LoomRing::<u32>::new(1);
        let claimants: Vec<_> = (0..2)
            .map(|_| {
                let ring = ring.clone();
                thread::spawn(move || claim(&ring))
            })
            .collect();
        let results: Vec<_> = claimants
            .into_iter()
            .map(|t| t.join().expect("claimant thread"))
            .collect();
        let first = Claim {
            pid: 0,
            generation: 1,
        };
        let mut winners = Vec::new();
        for result in results {
            match result {
                Ok(handle) => winners.push(handle),
                Err(ClaimError::Taken(c)) => assert_eq!(c.generation, first.generation),
                Err(e) => panic!("unexpected {e:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one claimant wins");
        assert_eq!(state(&ring), RoleState::Held(first));
        drop(winners);
        assert_eq!(state(&ring), RoleState::Closed(first));
        let again = claim(&ring).expect("a released role can be claimed again");
        assert_eq!(
            state(&ring),
            RoleState::Held(Claim {
                pid: 0,
                generation: 2
            })
        );
        drop(again);
    });
}

/// The producer role: two racing `producer()` calls, one winner.
#[test]
fn producer_claim_race_has_one_winner() {
    race(
        |ring| ring.producer(LoomWait::new()),
        LoomRing::producer_state,
    );
}

/// The consumer role: two racing `consumer()` calls, one winner.
#[test]
fn consumer_claim_race_has_one_winner() {
    race(
        |ring| ring.consumer(LoomWait::new()),
        LoomRing::consumer_state,
    );
}

/// Two threads each claim the producer role (retrying while it is taken),
/// send one value, write the next slot through a chunk they never commit,
/// and drop the handle. The second holder starts from the position the first
/// left and sees its slot writes (release CAS → claim CAS): both values are
/// in the ring in the order of the two tenures, the abandoned chunk sent
/// nothing, and the two holders never write a slot concurrently.
#[test]
fn producer_handoff_keeps_position() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(2);
        let wait = LoomWait::new();
        let mut rx = ring.consumer(wait.clone()).expect("consumer role free");
        let producers: Vec<_> = (1..=2u32)
            .map(|id| {
                let ring = ring.clone();
                let wait = wait.clone();
                thread::spawn(move || {
                    loop {
                        match ring.producer(wait.clone()) {
                            Ok(mut tx) => {
                                // Stable while we hold the role.
                                let RoleState::Held(claim) = ring.producer_state() else {
                                    panic!("holder sees its role not held");
                                };
                                tx.push(id).expect("a free slot for each producer");
                                // Scribble on the next slot and abandon the
                                // chunk: nothing is sent, and the next holder
                                // overwrites that slot. Only the release CAS
                                // orders these writes before its own (the
                                // push's fence comes before them).
                                if let Ok(mut chunk) = tx.write_chunk(1) {
                                    assert_eq!(chunk.fill_from(&[99]), 1);
                                }
                                return (claim.generation, id);
                            }
                            Err(ClaimError::Taken(_)) => thread::yield_now(),
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                })
            })
            .collect();
        let mut tenures: Vec<(u32, u32)> = producers
            .into_iter()
            .map(|p| p.join().expect("producer thread"))
            .collect();
        tenures.sort_unstable();
        assert_eq!([tenures[0].0, tenures[1].0], [1, 2], "one tenure each");
        let got = [rx.pop().expect("first value"), rx.pop().expect("second")];
        assert_eq!(got, [tenures[0].1, tenures[1].1], "values in claim order");
        assert_eq!(rx.pop(), Err(PopError::Disconnected));
    });
}

/// A liveness repair races a new claim. The previous producer (pid 1) has
/// released the role and is dead; its pid is still in the slot. A claimant
/// (pid 2) takes the role while a repairer reads the state and ends any
/// tenure whose pid is 1. The repair must never end the live claimant's
/// tenure: at the end the role is held by pid 2, under the generation its
/// claim returned. (With the pid stored after a one-step claim, the repairer
/// could read the new generation beside the old pid and close the role
/// under its live holder.)
#[test]
fn a_repair_never_ends_a_live_claim_it_reads_with_a_stale_pid() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        drop(
            ring.claim_producer(1, LoomWait::new())
                .expect("first tenure"),
        );
        let claimant = {
            let ring = ring.clone();
            thread::spawn(move || {
                let tx = ring
                    .claim_producer(2, LoomWait::new())
                    .expect("a closed role is free");
                let RoleState::Held(mine) = ring.producer_state() else {
                    panic!("the holder sees its role not held");
                };
                (tx, mine)
            })
        };
        let repairer = {
            let ring = ring.clone();
            thread::spawn(move || {
                if let RoleState::Held(claim) = ring.producer_state()
                    && claim.pid == 1
                {
                    ring.release_dead_producer(claim, &LoomWait::new());
                }
            })
        };
        repairer.join().expect("repairer thread");
        let (tx, mine) = claimant.join().expect("claimant thread");
        assert_eq!(mine.pid, 2);
        assert_eq!(ring.producer_state(), RoleState::Held(mine));
        drop(tx);
    });
}
