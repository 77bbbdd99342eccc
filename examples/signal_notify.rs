//! A signal notification with a payload (seed 000: "a process notifies
//! another that an event happened"), without a signal handler: the parent
//! blocks a real-time signal and reads it from a signalfd, so the signal is
//! just a small queued message (a number, the sender's pid, one word of
//! payload) that never interrupts anything.
//!
//! 1. The child process queues the signal to the parent with payload 42
//!    (`sigqueue`): "I am ready".
//! 2. The parent had registered for arrivals on its message queue
//!    `/dev/shm/annulus.example-notify-<pid>` (`mq_notify`); the child's
//!    first message into the empty queue makes the child's send queue the
//!    same signal with the parent's tag, 7, as payload. The parent then
//!    takes the message without ever blocking in a receive.
//!
//! Run: `cargo run --release -p annulus-examples --example signal_notify`

use std::num::NonZeroU32;
use std::time::Duration;

use annulus_examples::{ExampleName, Peer};
use annulus_linux::named::NamedMessageQueue;
use annulus_linux::signal::{self, RtSignal, SignalFd};

const TAG: u16 = 7;
const READY: usize = 42;

fn sig() -> RtSignal {
    RtSignal::nth(2).expect("a real-time signal")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("child") => child(&args[2], args[3].parse().expect("parent pid")),
        _ => parent(),
    }
}

fn parent() {
    // First thing, before any thread exists: block the signal, so that it
    // queues for the signalfd instead of killing the process.
    signal::block(sig().into()).expect("block").keep();
    let fd = SignalFd::new(sig().into()).expect("signalfd");
    let name = ExampleName::new("notify");
    let mq = NamedMessageQueue::create(name.as_str(), 4, 64, 2).expect("create the queue");
    mq.notify_on_arrival(sig(), TAG)
        .expect("register for arrivals");
    let me = std::process::id().to_string();
    let child = Peer::spawn(&["child", name.as_str(), &me]);
    let patience = Some(Duration::from_secs(30));

    let ready = fd.recv_timeout(patience).expect("the child's signal");
    println!(
        "parent: signal {} from pid {} with payload {:?}",
        ready.signo, ready.pid, ready.payload
    );
    assert_eq!((ready.pid, ready.payload), (child.id(), Some(READY)));

    let arrival = fd.recv_timeout(patience).expect("the arrival notification");
    println!(
        "parent: arrival notification, payload {:?}",
        arrival.payload
    );
    assert_eq!(arrival.payload, Some(usize::from(TAG)));
    let mut rx = mq.endpoint().expect("an endpoint");
    let mut buf = [0u8; 64];
    let got = rx.try_recv(&mut buf).expect("the message is there");
    let text = String::from_utf8_lossy(&buf[..got.len]);
    println!("parent: took {text:?} without a blocking receive");
    assert_eq!(text, "job 1 is done");
    child.wait();
}

fn child(name: &str, parent: u32) {
    let mq = NamedMessageQueue::open(name).expect("open the queue");
    let mut tx = mq.endpoint().expect("an endpoint");
    signal::queue(parent, sig(), READY).expect("sigqueue to the parent");
    // The queue is empty and the parent registered: this send queues the
    // parent's signal (with its tag) on the way.
    let sent = tx
        .send(
            b"job 1 is done",
            0,
            NonZeroU32::MIN,
            Some(Duration::from_secs(10)),
        )
        .expect("room in the queue");
    println!("child: sent; notification delivered: {:?}", sent.notified);
}
