//! Peers killed with SIGKILL: the survivor is never blocked for long, keeps
//! everything that was sent, and can go on using the object.

use std::time::Duration;

use annulus::claim::RoleState;
use annulus::mpmc::PopError;
use annulus::spsc::PopTimeoutError;
use annulus_linux::named::{MpmcRing, SpscRing};
use annulus_process_tests::{CHILD_NAME, ChildGuard, UniqueName, child_name, child_role};

const SENT: u64 = 1_000;
/// Watchdog for the survivor; far above the bounded recovery time.
const WATCHDOG: Duration = Duration::from_secs(30);

#[test]
fn a_killed_producer_disconnects_a_blocked_consumer_after_the_drain() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("dead-producer");
    let ring = SpscRing::<u64>::create(&name.0, 4096).unwrap();
    let mut rx = ring.consumer().unwrap();
    let child = ChildGuard::spawn(
        "producer_then_hang",
        "producer",
        &[(CHILD_NAME, name.0.clone())],
    )
    .unwrap();
    for seq in 0..SENT {
        assert_eq!(ring.pop_watching(&mut rx, Some(WATCHDOG)), Ok(seq));
    }
    // The producer now sleeps forever with its role held; kill it.
    assert!(matches!(ring.ring().producer_state(), RoleState::Held(_)));
    child.kill();
    // Blocked with no timeout of its own, the consumer notices the death.
    assert_eq!(
        ring.pop_watching(&mut rx, Some(WATCHDOG)),
        Err(PopTimeoutError::Disconnected)
    );
    assert!(matches!(ring.ring().producer_state(), RoleState::Closed(_)));
    // The role can be claimed again, and the ring still works.
    let mut tx = ring.producer().unwrap();
    tx.push(7).unwrap();
    assert_eq!(rx.pop(), Ok(7));
}

#[test]
fn producer_then_hang() {
    let Some(_) = child_role() else {
        return;
    };
    let ring = SpscRing::<u64>::open(&child_name()).unwrap();
    let mut tx = ring.producer().unwrap();
    for seq in 0..SENT {
        tx.push_blocking(seq, Some(WATCHDOG)).unwrap();
    }
    // Wait to be killed, role held.
    std::thread::sleep(WATCHDOG * 2);
}

#[test]
fn a_killed_mpmc_sender_is_repaired_away() {
    if child_role().is_some() {
        return;
    }
    let name = UniqueName::new("dead-sender");
    let ring = MpmcRing::<u64>::create(&name.0, 4096, 4).unwrap();
    let mut rx = ring.receiver().unwrap();
    let mut live = ring.sender().unwrap();
    let child = ChildGuard::spawn(
        "sender_then_hang",
        "sender",
        &[(CHILD_NAME, name.0.clone())],
    )
    .unwrap();
    let mut got = Vec::new();
    while got.len() < SENT as usize {
        got.push(rx.pop_blocking(Some(WATCHDOG)).unwrap());
    }
    assert_eq!(got, (0..SENT).collect::<Vec<_>>());
    assert_eq!(ring.ring().senders(), 2);
    child.kill();
    let report = ring.repair_dead(|_| panic!("no receiver died")).unwrap();
    assert_eq!(report.dead, 1);
    assert_eq!(
        ring.ring().senders(),
        1,
        "the dead sender's count is released"
    );
    live.push(99).unwrap();
    assert_eq!(rx.pop(), Ok(99));
    drop(live);
    assert_eq!(rx.pop(), Err(PopError::Disconnected));
}

#[test]
fn sender_then_hang() {
    let Some(_) = child_role() else {
        return;
    };
    let ring = MpmcRing::<u64>::open(&child_name()).unwrap();
    let mut tx = ring.sender().unwrap();
    for seq in 0..SENT {
        tx.push_blocking(seq, Some(WATCHDOG)).unwrap();
    }
    std::thread::sleep(WATCHDOG * 2);
}
