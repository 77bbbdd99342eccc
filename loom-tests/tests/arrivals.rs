//! loom models of watching for arrivals (core/src/arrivals.rs), the core of
//! annulus-linux's readiness fd: a watcher thread loops watch rounds the way
//! the bridge thread does (announce, look with `has_arrivals`, signal,
//! sleep) while a producer pushes or closes, and the owner ends the watch
//! with a stop flag and `wake_watchers`.
//!
//! [`LoomWait`] is a futex: a watcher whose wake-up is lost sleeps forever
//! and loom fails the model with a deadlock.
#![cfg(loom)]

use std::sync::Arc;

use annulus::arrivals::Arrivals;
use annulus::spsc::PopError;
use loom::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use loom::thread;
use loom_tests::{LoomRing, LoomWait};

/// What the bridge thread shares with its owner.
struct Bridge {
    /// Set (Release) by the owner before `wake_watchers`.
    stop: AtomicBool,
    /// Rounds in which the watcher saw an arrival (the eventfd writes).
    signals: AtomicU32,
}

/// The bridge loop of annulus-linux's `Readiness`: rounds until stopped;
/// each round that sees an arrival signals. Returns when stopped.
fn watch_until_stopped(ring: &LoomRing<u32>, bridge: &Bridge, wait: &LoomWait) {
    let view = ring.view();
    let event = view.arrival_event();
    loop {
        let mut stopping = false;
        event.watch(wait, None, || {
            stopping = bridge.stop.load(Ordering::Acquire);
            if !stopping && view.has_arrivals() {
                bridge.signals.fetch_add(1, Ordering::Relaxed);
            }
            // Sleep unless stopping or something arrived: a real bridge
            // sleeps after signalling too (the fd stays readable), but the
            // model must end, so it sleeps only while nothing arrived.
            !stopping && !view.has_arrivals()
        });
        if stopping {
            return;
        }
        if bridge.signals.load(Ordering::Relaxed) != 0 {
            // Wait for the owner's stop, still asleep on the event.
            while !bridge.stop.load(Ordering::Acquire) {
                event.watch(wait, None, || !bridge.stop.load(Ordering::Acquire));
            }
            return;
        }
    }
}

fn stop(ring: &LoomRing<u32>, bridge: &Bridge, wait: &LoomWait) {
    bridge.stop.store(true, Ordering::Release);
    ring.view().arrival_event().wake_watchers(wait);
}

/// A push while the watcher is between its look and its sleep is never
/// missed: the watcher signals, and the consumer finds the value.
#[test]
fn a_push_always_reaches_the_watcher() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        let wait = LoomWait::new();
        let mut tx = ring.producer(wait.clone()).expect("producer role");
        let mut rx = ring.consumer(wait.clone()).expect("consumer role");
        let bridge = Arc::new(Bridge {
            stop: AtomicBool::new(false),
            signals: AtomicU32::new(0),
        });
        let watcher = {
            let (ring, bridge, wait) = (ring.clone(), Arc::clone(&bridge), wait.clone());
            thread::spawn(move || watch_until_stopped(&ring, &bridge, &wait))
        };
        tx.push(7).expect("room for one");
        // The owner's epoll loop: wait for the signal, then drain.
        while bridge.signals.load(Ordering::Relaxed) == 0 {
            thread::yield_now();
        }
        assert_eq!(rx.pop(), Ok(7));
        stop(&ring, &bridge, &wait);
        watcher.join().expect("watcher thread");
        drop(tx);
    });
}

/// The producer's close is an arrival: a watcher asleep on an empty ring is
/// woken by the drop, and the drain that follows ends in `Disconnected`.
#[test]
fn a_close_always_reaches_the_watcher() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        let wait = LoomWait::new();
        let tx = ring.producer(wait.clone()).expect("producer role");
        let mut rx = ring.consumer(wait.clone()).expect("consumer role");
        let bridge = Arc::new(Bridge {
            stop: AtomicBool::new(false),
            signals: AtomicU32::new(0),
        });
        let watcher = {
            let (ring, bridge, wait) = (ring.clone(), Arc::clone(&bridge), wait.clone());
            thread::spawn(move || watch_until_stopped(&ring, &bridge, &wait))
        };
        drop(tx);
        while bridge.signals.load(Ordering::Relaxed) == 0 {
            thread::yield_now();
        }
        assert_eq!(rx.pop(), Err(PopError::Disconnected));
        stop(&ring, &bridge, &wait);
        watcher.join().expect("watcher thread");
    });
}

/// Stopping a watcher that saw nothing: the stop flag and `wake_watchers`
/// end its sleep wherever it is in its round.
#[test]
fn a_stop_always_ends_the_watch() {
    loom::model(|| {
        let ring = LoomRing::<u32>::new(1);
        let wait = LoomWait::new();
        let bridge = Arc::new(Bridge {
            stop: AtomicBool::new(false),
            signals: AtomicU32::new(0),
        });
        let watcher = {
            let (ring, bridge, wait) = (ring.clone(), Arc::clone(&bridge), wait.clone());
            thread::spawn(move || watch_until_stopped(&ring, &bridge, &wait))
        };
        stop(&ring, &bridge, &wait);
        watcher.join().expect("watcher thread");
        assert_eq!(bridge.signals.load(Ordering::Relaxed), 0);
    });
}
