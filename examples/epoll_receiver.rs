//! A receiver inside an epoll loop (seed 003's "reader blocked in read",
//! but for a process that serves several sources at once): one thread
//! waits with `epoll_wait` on two readiness descriptors, one for a message
//! queue and one for a semaphore, while a sender process queues messages
//! of several priorities and posts units at its own pace.
//!
//! The loop is the one `Readiness` documents: wait until readable, clear,
//! then drain with the non-blocking calls until empty. The receiver never
//! blocks inside annulus and never polls on a timer; the sender pays no
//! system call for the descriptors unless the bridge thread sleeps.
//!
//! Run: `cargo run --release -p annulus-examples --example epoll_receiver`

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use annulus::mq::RecvError;
use annulus::semaphore::SemaphoreError;
use annulus_examples::{ExampleName, Peer};
use annulus_linux::named::{NamedMessageQueue, NamedSemaphore};
use rustix::buffer::spare_capacity;
use rustix::event::{Timespec, epoll};

const MESSAGES: u32 = 40;
const UNITS: u32 = 12;
const BURST: u32 = 4;
const QUEUE: Token = Token(1);
const UNITS_FD: Token = Token(2);
/// A bound on the whole run, so a bug ends the example instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, PartialEq, Eq)]
struct Token(u64);

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sender") => sender(&args[2], &args[3]),
        _ => receiver(),
    }
}

fn receiver() {
    let mq_name = ExampleName::new("epoll-mq");
    let sem_name = mq_name.derived("sem");
    // Room for 8 messages of 32 bytes, 4 endpoints; a semaphore of at most
    // UNITS.
    let mq = NamedMessageQueue::create(mq_name.as_str(), 8, 32, 4).expect("create the queue");
    let sem = NamedSemaphore::create(sem_name.as_str(), 0, UNITS).expect("create the semaphore");
    let mut rx = mq.endpoint().expect("an endpoint");
    let mq_ready = mq.readiness().expect("the queue's readiness fd");
    let sem_ready = sem.readiness().expect("the semaphore's readiness fd");

    let ep = epoll::create(epoll::CreateFlags::CLOEXEC).expect("epoll_create");
    for (fd, token) in [(&mq_ready, QUEUE), (&sem_ready, UNITS_FD)] {
        epoll::add(
            &ep,
            fd,
            epoll::EventData::new_u64(token.0),
            epoll::EventFlags::IN,
        )
        .expect("epoll_ctl ADD");
    }
    let peer = Peer::spawn(&["sender", mq_name.as_str(), sem_name.as_str()]);

    let started = Instant::now();
    let (mut messages, mut units, mut wakeups) = (0u32, 0u32, 0u32);
    let mut buf = [0u8; 32];
    let mut events = Vec::with_capacity(4);
    while messages < MESSAGES || units < UNITS {
        assert!(started.elapsed() < PATIENCE, "the sender stalled");
        let timeout = Timespec::try_from(Duration::from_secs(1)).expect("a timespec");
        events.clear();
        // 1. wait until a descriptor is readable.
        epoll::wait(&ep, spare_capacity(&mut events), Some(&timeout)).expect("epoll_wait");
        wakeups += 1;
        for event in &events {
            match Token(event.data.u64()) {
                QUEUE => {
                    // 2. clear first, 3. then drain until empty.
                    mq_ready.clear().expect("clear");
                    let mut batch = Vec::new();
                    loop {
                        match rx.try_recv(&mut buf) {
                            Ok(got) => {
                                let text = std::str::from_utf8(&buf[..got.len]).expect("UTF-8");
                                batch.push((got.priority, text.to_owned()));
                                messages += 1;
                            }
                            Err(RecvError::Empty) => break,
                            Err(RecvError::Contended) => continue,
                            Err(e) => panic!("receive: {e}"),
                        }
                    }
                    // Within one drain, the highest priority came out first.
                    assert!(batch.windows(2).all(|w| w[0].0 >= w[1].0), "{batch:?}");
                    if let Some(first) = batch.first() {
                        println!(
                            "queue: drained {} ({} first: {:?})",
                            batch.len(),
                            first.0,
                            first.1
                        );
                    }
                }
                UNITS_FD => {
                    sem_ready.clear().expect("clear");
                    let mut taken = 0;
                    loop {
                        match sem.semaphore().try_wait(1) {
                            Ok(()) => taken += 1,
                            Err(SemaphoreError::WouldBlock) => break,
                            Err(SemaphoreError::Contended) => continue,
                            Err(e) => panic!("P(1): {e}"),
                        }
                    }
                    units += taken;
                    if taken > 0 {
                        println!("semaphore: took {taken} unit(s)");
                    }
                }
                Token(other) => panic!("unknown token {other}"),
            }
        }
    }
    peer.wait();
    println!(
        "receiver: {messages} messages and {units} units through {wakeups} epoll wake-ups \
         in {:?}, never blocked inside annulus",
        started.elapsed()
    );
}

fn sender(mq_name: &str, sem_name: &str) {
    let mq = NamedMessageQueue::open(mq_name).expect("open the queue");
    let sem = NamedSemaphore::open(sem_name).expect("open the semaphore");
    let mut tx = mq.endpoint().expect("an endpoint");
    let mtype = NonZeroU32::MIN;
    for i in 0..MESSAGES {
        // Priorities 0..3, so a burst drained at once shows the order.
        let priority = (i % 4) as u16;
        let text = format!("message {i} (priority {priority})");
        tx.send(text.as_bytes(), priority, mtype, Some(PATIENCE))
            .expect("send: the receiver drains the queue");
        if i % BURST == BURST - 1 {
            if i / BURST < UNITS {
                sem.semaphore().post(1).expect("V(1)");
            }
            // Let the receiver's loop run between bursts.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // The rest of the units, two at a time.
    let posted = (MESSAGES / BURST).min(UNITS);
    for _ in (posted..UNITS).step_by(2) {
        sem.semaphore().post(2).expect("V(2)");
        std::thread::sleep(Duration::from_millis(5));
    }
}
