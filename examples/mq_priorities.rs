//! A message queue with priorities and typed receive (seed 004's POSIX and
//! System V queues in one): a sender process posts orders of three types
//! at several priorities into `/dev/shm/annulus.example-mq-<pid>` and
//! exits; the messages stay queued without it, as in a mailbox. The
//! receiver then takes
//!
//! 1. only the messages of type 2 (`msgrcv` with `msgtyp > 0`), in order;
//! 2. the first message of the lowest type at most 3 (`msgtyp < 0`);
//! 3. the rest highest priority first, first in first out within a priority
//!    (`mq_receive`).
//!
//! Run: `cargo run --release -p annulus-examples --example mq_priorities`

use std::num::NonZeroU32;
use std::time::Duration;

use annulus::mq::{Filter, RecvOptions};
use annulus_examples::{ExampleName, Peer};
use annulus_linux::named::NamedMessageQueue;

/// (text, priority, type)
const ORDERS: [(&str, u16, u32); 6] = [
    ("routine report", 1, 3),
    ("invoice 17", 5, 2),
    ("page the on-call engineer", 9, 1),
    ("invoice 18", 5, 2),
    ("weekly digest", 0, 3),
    ("disk almost full", 9, 1),
];

fn ty(t: u32) -> NonZeroU32 {
    NonZeroU32::new(t).expect("types are non-zero")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sender") => sender(&args[2]),
        _ => receiver(),
    }
}

fn receiver() {
    let name = ExampleName::new("mq");
    // Up to 8 messages of up to 64 bytes, 2 endpoints at once.
    let mq = NamedMessageQueue::create(name.as_str(), 8, 64, 2).expect("create the queue");
    Peer::spawn(&["sender", name.as_str()]).wait();
    println!("queued: {} messages", mq.stats().expect("stats").messages);

    let mut rx = mq.endpoint().expect("an endpoint");
    let mut buf = [0u8; 64];
    let patience = Some(Duration::from_secs(10));
    let mut take = |filter: Filter| {
        let got = rx
            .recv(&mut buf, RecvOptions::filter(filter), patience)
            .expect("a matching message is queued");
        let text = String::from_utf8_lossy(&buf[..got.len]).into_owned();
        println!("  priority {} type {}: {text}", got.priority, got.mtype);
        text
    };

    println!("type 2 only:");
    assert_eq!(take(Filter::Type(ty(2))), "invoice 17");
    assert_eq!(take(Filter::Type(ty(2))), "invoice 18");
    println!("lowest type at most 3:");
    assert_eq!(
        take(Filter::LowestAtMost(ty(3))),
        "page the on-call engineer"
    );
    println!("the rest, by priority:");
    let rest: Vec<String> = (0..3).map(|_| take(Filter::Any)).collect();
    assert_eq!(
        rest,
        ["disk almost full", "routine report", "weekly digest"]
    );
    assert_eq!(mq.stats().expect("stats").messages, 0);
}

fn sender(name: &str) {
    let mq = NamedMessageQueue::open(name).expect("open the queue");
    let mut tx = mq.endpoint().expect("an endpoint");
    for (text, priority, t) in ORDERS {
        tx.send(
            text.as_bytes(),
            priority,
            ty(t),
            Some(Duration::from_secs(10)),
        )
        .expect("room in the queue");
    }
    println!("sender: {} orders queued, exiting", ORDERS.len());
}
