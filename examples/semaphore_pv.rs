//! Semaphore P and V with n (seed 001: "each P/V may add or take any
//! positive number, not only 1"): `/dev/shm/annulus.example-sem-<pid>`
//! counts units of work. The parent posts (V) one unit at a time; two
//! worker processes each take (P) three at once, all or nothing, so a
//! worker never holds a partial batch and two workers waiting for three can
//! never each hold half and deadlock. At the end the parent waits for zero
//! (`semop` with `sem_op == 0`): every unit posted was taken.
//!
//! Run: `cargo run --release -p annulus-examples --example semaphore_pv`

use std::time::Duration;

use annulus_examples::{ExampleName, Peer};
use annulus_linux::named::NamedSemaphore;

const WORKERS: u32 = 2;
const BATCH: u32 = 3;
const BATCHES_EACH: u32 = 4;
const PATIENCE: Option<Duration> = Some(Duration::from_secs(30));

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("worker") => worker(&args[2], &args[3]),
        _ => parent(),
    }
}

fn parent() {
    let name = ExampleName::new("sem");
    let total = WORKERS * BATCH * BATCHES_EACH;
    // Value 0 now, at most `total`.
    let sem = NamedSemaphore::create(name.as_str(), 0, total).expect("create");
    let sem = sem.semaphore();
    let workers: Vec<Peer> = (0..WORKERS)
        .map(|i| Peer::spawn(&["worker", name.as_str(), &i.to_string()]))
        .collect();
    for unit in 0..total {
        sem.post(1).expect("V(1): below the maximum");
        if unit % 4 == 3 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    println!("parent: posted {total} units one at a time");
    sem.wait_zero(PATIENCE)
        .expect("the workers take every unit");
    for w in workers {
        w.wait();
    }
    assert_eq!(sem.value(), 0);
    println!("parent: value is 0: all {total} units taken in batches of {BATCH}");
}

fn worker(name: &str, me: &str) {
    let sem = NamedSemaphore::open(name).expect("open");
    let sem = sem.semaphore();
    for batch in 0..BATCHES_EACH {
        // P(3): sleeps until three units are there, then takes all three.
        sem.wait(BATCH, PATIENCE).expect("units are posted");
        println!("worker {me}: took batch {batch} ({BATCH} units at once)");
    }
}
