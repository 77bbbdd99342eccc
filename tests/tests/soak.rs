//! Soak: many messages between real processes, each one checked for
//! exactly-once delivery and per-producer order.
//!
//! Three scenarios, each with its own processes:
//!
//! - an MPMC ring, `N` producer processes and `M` consumer processes;
//! - a message queue of the same shape, each producer sending in several
//!   priorities (order is promised per priority: highest first, first in
//!   first out within one, so it is checked per producer and priority);
//! - SPSC rings, `P` pairs of a producer process and a consumer process.
//!
//! Every message carries its producer's id and a sequence number (and a
//! check word that depends on both, against torn or made-up messages).
//! Each consumer records what it takes in a [`Tally`] (a bitmap per
//! producer in shared memory, its own region) and checks on the spot that
//! each producer's sequence rises; the parent, once every child has
//! exited, checks that each message sent was received exactly once and
//! that the counts add up. Every blocking call has a generous timeout (a
//! watchdog, never a timing assertion); the end is the API's own: the last
//! MPMC sender and each SPSC producer leaving (receivers drain, then see
//! `Disconnected`), and for the message queue one stop message per
//! consumer at a priority below every data message.
//!
//! Sizes come from the environment: `ANNULUS_SOAK_MESSAGES` messages per
//! scenario (default [`DEFAULT_MESSAGES`], a few seconds in a debug build),
//! `ANNULUS_SOAK_PRODUCERS` x `ANNULUS_SOAK_CONSUMERS` (default 2 x 2) and
//! `ANNULUS_SOAK_PAIRS` (default 2). Each scenario prints its figures with
//! `--nocapture`. The dedicated run of the README:
//!
//! ```text
//! ANNULUS_SOAK_MESSAGES=100000000 nice cargo test -j1 --release -p annulus-process-tests \
//!     --test soak -- --nocapture --test-threads=1
//! ```

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use annulus::mpmc::PopTimeoutError as MpmcPopTimeout;
use annulus::mq::RecvOptions;
use annulus::spsc::PopTimeoutError;
use annulus_linux::named::{MpmcRing, NamedMessageQueue, SpscRing};
use annulus_process_tests::tally::{Plan, Tally};
use annulus_process_tests::{CHILD_NAME, ChildGuard, UniqueName, child_name, child_role};

/// Messages per scenario unless `ANNULUS_SOAK_MESSAGES` says otherwise.
const DEFAULT_MESSAGES: u64 = 100_000;
/// Watchdog for one blocking call; never a timing assertion.
const OP_WATCHDOG: Duration = Duration::from_secs(60);
/// The plan, in a child's environment ([`Plan::encode`]).
const CHILD_PLAN: &str = "ANNULUS_SOAK_PLAN";
/// The tally's name, in a child's environment.
const CHILD_TALLY: &str = "ANNULUS_SOAK_TALLY";

const MPMC_CAPACITY: u32 = 256;
const SPSC_CAPACITY: u32 = 1024;
/// Messages the message queue holds (`mq_maxmsg`).
const MQ_CAPACITY: u32 = 64;
/// Priorities `1..=MQ_PRIORITIES` carry data; 0 is the stop.
const MQ_PRIORITIES: u32 = 4;
/// Bytes of a data message on the queue: producer, seq, check.
const MQ_MESSAGE_SIZE: usize = 16;
/// The type of the stop message; data messages have type `producer + 1`.
const MQ_STOP: u32 = u32::MAX;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} is a number: {v:?}"))
    })
}

fn env_count(name: &str, default: u64) -> u32 {
    let n = env_number(name, default);
    assert!((1..=64).contains(&n), "{name}: 1 to 64 processes, not {n}");
    n as u32
}

/// `ANNULUS_SOAK_MESSAGES` spread over `producers` (rounded up).
fn plan(producers: u32, consumers: u32) -> Plan {
    let total = env_number("ANNULUS_SOAK_MESSAGES", DEFAULT_MESSAGES).max(1);
    let per_producer = total.div_ceil(u64::from(producers));
    Plan {
        producers,
        consumers,
        per_producer: u32::try_from(per_producer).expect("at most 2^32 - 1 messages per producer"),
    }
}

/// How long a whole scenario may take: a watchdog far above the expected
/// time even for a debug build on a loaded machine (20 µs a message).
fn run_watchdog(plan: Plan) -> Duration {
    OP_WATCHDOG * 2 + Duration::from_micros(20) * u32::try_from(plan.total()).unwrap_or(u32::MAX)
}

/// A message of the rings: who sent it, its place in the sender's
/// sequence, and a check word of both.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable, bytemuck::Pod)]
#[bytemuck(crate = "annulus::bytemuck")]
struct Message {
    producer: u32,
    seq: u32,
    check: u64,
}

fn check_word(producer: u32, seq: u32) -> u64 {
    (u64::from(producer) << 32 | u64::from(seq)).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5
}

fn message(producer: u32, seq: u32) -> Message {
    Message {
        producer,
        seq,
        check: check_word(producer, seq),
    }
}

/// The message's producer and sequence, once its check word matches.
fn open_message(m: Message) -> (u32, u32) {
    assert_eq!(m.check, check_word(m.producer, m.seq), "torn message {m:?}");
    (m.producer, m.seq)
}

/// In a child: its index (the role), the plan and the tally.
fn child_setup(role: &str) -> (u32, Plan, Tally) {
    let index = role.parse().expect("the role is an index");
    let plan = std::env::var(CHILD_PLAN)
        .ok()
        .and_then(|p| Plan::decode(&p))
        .expect("the plan set by the parent");
    let tally = Tally::open(
        &std::env::var(CHILD_TALLY).expect("the tally set by the parent"),
        plan,
    );
    (index, plan, tally)
}

/// Spawns `count` children running `test`, child `i` with role `i` and the
/// object name `name(i)`.
fn spawn_all(
    test: &str,
    count: u32,
    name: impl Fn(u32) -> String,
    tally: &Tally,
    plan: Plan,
) -> Vec<ChildGuard> {
    (0..count)
        .map(|i| {
            let env = [
                (CHILD_NAME, name(i)),
                (CHILD_PLAN, plan.encode()),
                (CHILD_TALLY, tally.name().to_owned()),
            ];
            ChildGuard::spawn(test, &i.to_string(), &env).expect("spawn a child")
        })
        .collect()
}

/// Waits until every child in `done` exited successfully, failing at once
/// if any child in `done` or `watched` fails, or after `limit`. Each group
/// is named (`"producer"`, say) for the failure's message.
fn wait_for(done: (&str, &mut [ChildGuard]), watched: (&str, &mut [ChildGuard]), limit: Duration) {
    let start = Instant::now();
    loop {
        let mut all = true;
        for (i, child) in done.1.iter_mut().enumerate() {
            all &= child
                .poll()
                .unwrap_or_else(|e| panic!("{} {i}: {e}", done.0));
        }
        for (i, child) in watched.1.iter_mut().enumerate() {
            child
                .poll()
                .unwrap_or_else(|e| panic!("{} {i}: {e}", watched.0));
        }
        if all {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{}s still running after {limit:?}",
            done.0
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Checks the tally and prints the scenario's figures.
fn conclude(tag: &str, shape: &str, plan: Plan, tally: &Tally, elapsed: Duration) {
    let per_consumer = tally.check().unwrap_or_else(|e| panic!("soak[{tag}]: {e}"));
    let total = plan.total();
    let shares: Vec<String> = per_consumer
        .iter()
        .map(|&n| format!("{:.1}%", 100.0 * n as f64 / total as f64))
        .collect();
    println!(
        "soak[{tag}]: {total} messages, {shape}, {:.2} s, {:.2} M msgs/s; \
         exactly once, in order per producer; consumer shares {}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64() / 1e6,
        shares.join(" "),
    );
}

// MPMC ring: N producers x M consumers.

#[test]
fn mpmc_producers_to_consumers_each_message_exactly_once_in_order() {
    if child_role().is_some() {
        return;
    }
    let producers = env_count("ANNULUS_SOAK_PRODUCERS", 2);
    let consumers = env_count("ANNULUS_SOAK_CONSUMERS", 2);
    let plan = plan(producers, consumers);
    let name = UniqueName::new("soak-mpmc");
    let ring = MpmcRing::<Message>::create(&name.0, MPMC_CAPACITY, producers + consumers + 1)
        .expect("create the ring");
    let tally = Tally::create("soak-mpmc-tally", plan);
    // Held until every producer is done: the consumers see `Disconnected`
    // only once the last sender has left, not when an early one does.
    let keep_open = ring.sender().expect("the parent's sender");
    let start = Instant::now();
    let mut rx = spawn_all("mpmc_consumer", consumers, |_| name.0.clone(), &tally, plan);
    let mut tx = spawn_all("mpmc_producer", producers, |_| name.0.clone(), &tally, plan);
    wait_for(
        ("producer", &mut tx),
        ("consumer", &mut rx),
        run_watchdog(plan),
    );
    drop(keep_open);
    wait_for(("consumer", &mut rx), ("none", &mut []), OP_WATCHDOG * 2);
    let shape = format!("{producers} producers x {consumers} consumers");
    conclude("mpmc", &shape, plan, &tally, start.elapsed());
    assert!(ring.ring().is_empty());
}

#[test]
fn mpmc_producer() {
    let Some(role) = child_role() else {
        return;
    };
    let (index, plan, _) = child_setup(&role);
    let ring = MpmcRing::<Message>::open(&child_name()).expect("open the ring");
    let mut tx = ring.sender().expect("a sender");
    for seq in 0..plan.per_producer {
        if let Err(e) = tx.push_blocking(message(index, seq), Some(OP_WATCHDOG)) {
            panic!("producer {index} at {seq}: {e:?}");
        }
    }
}

#[test]
fn mpmc_consumer() {
    let Some(role) = child_role() else {
        return;
    };
    let (index, _, tally) = child_setup(&role);
    let ring = MpmcRing::<Message>::open(&child_name()).expect("open the ring");
    let mut rx = ring.receiver().expect("a receiver");
    let mut record = tally.recorder(index, 1);
    loop {
        match rx.pop_blocking(Some(OP_WATCHDOG)) {
            Ok(m) => {
                let (producer, seq) = open_message(m);
                record.record(producer, 0, seq).unwrap();
            }
            Err(MpmcPopTimeout::Disconnected) => break,
            Err(e) => panic!("consumer {index} after {}: {e:?}", record.received()),
        }
    }
    record.finish();
}

// Message queue: N producers x M consumers, several priorities.

fn mq_type(t: u32) -> NonZeroU32 {
    NonZeroU32::new(t).expect("types are non-zero")
}

/// The priority of message `seq` of `producer`: `1..=MQ_PRIORITIES`.
fn mq_priority(producer: u32, seq: u32) -> u16 {
    (1 + producer.wrapping_add(seq) % MQ_PRIORITIES) as u16
}

fn mq_bytes(producer: u32, seq: u32) -> [u8; MQ_MESSAGE_SIZE] {
    let mut bytes = [0u8; MQ_MESSAGE_SIZE];
    bytes[..4].copy_from_slice(&producer.to_le_bytes());
    bytes[4..8].copy_from_slice(&seq.to_le_bytes());
    bytes[8..].copy_from_slice(&check_word(producer, seq).to_le_bytes());
    bytes
}

#[test]
fn mq_producers_to_consumers_each_message_exactly_once_in_order() {
    if child_role().is_some() {
        return;
    }
    let producers = env_count("ANNULUS_SOAK_PRODUCERS", 2);
    let consumers = env_count("ANNULUS_SOAK_CONSUMERS", 2);
    let plan = plan(producers, consumers);
    let name = UniqueName::new("soak-mq");
    let mq = NamedMessageQueue::create(
        &name.0,
        MQ_CAPACITY,
        MQ_MESSAGE_SIZE as u32,
        producers + consumers + 1,
    )
    .expect("create the queue");
    let tally = Tally::create("soak-mq-tally", plan);
    let start = Instant::now();
    let mut rx = spawn_all("mq_consumer", consumers, |_| name.0.clone(), &tally, plan);
    let mut tx = spawn_all("mq_producer", producers, |_| name.0.clone(), &tally, plan);
    wait_for(
        ("producer", &mut tx),
        ("consumer", &mut rx),
        run_watchdog(plan),
    );
    // Every data message is queued or taken; the stops, below every data
    // priority, are taken only once none is left.
    let mut stop = mq.endpoint().expect("the parent's endpoint");
    for _ in 0..consumers {
        stop.send(b"stop", 0, mq_type(MQ_STOP), Some(OP_WATCHDOG))
            .expect("the consumers make room");
    }
    wait_for(("consumer", &mut rx), ("none", &mut []), OP_WATCHDOG * 2);
    let shape =
        format!("{producers} producers x {consumers} consumers, {MQ_PRIORITIES} priorities");
    conclude("mq", &shape, plan, &tally, start.elapsed());
    let stats = mq.stats().expect("the queue's counters");
    // The counters wrap at 2^32.
    let moved = (plan.total() + u64::from(consumers)) as u32;
    assert_eq!(
        (stats.messages, stats.sent, stats.received),
        (0, moved, moved)
    );
}

#[test]
fn mq_producer() {
    let Some(role) = child_role() else {
        return;
    };
    let (index, plan, _) = child_setup(&role);
    let mq = NamedMessageQueue::open(&child_name()).expect("open the queue");
    let mut tx = mq.endpoint().expect("an endpoint");
    for seq in 0..plan.per_producer {
        let bytes = mq_bytes(index, seq);
        let priority = mq_priority(index, seq);
        if let Err(e) = tx.send(&bytes, priority, mq_type(index + 1), Some(OP_WATCHDOG)) {
            panic!("producer {index} at {seq}: {e:?}");
        }
    }
}

#[test]
fn mq_consumer() {
    let Some(role) = child_role() else {
        return;
    };
    let (index, _, tally) = child_setup(&role);
    let mq = NamedMessageQueue::open(&child_name()).expect("open the queue");
    let mut rx = mq.endpoint().expect("an endpoint");
    let mut record = tally.recorder(index, MQ_PRIORITIES);
    let mut buf = [0u8; MQ_MESSAGE_SIZE];
    loop {
        let got = match rx.recv(&mut buf, RecvOptions::default(), Some(OP_WATCHDOG)) {
            Ok(got) => got,
            Err(e) => panic!("consumer {index} after {}: {e:?}", record.received()),
        };
        if got.mtype.get() == MQ_STOP {
            assert_eq!((got.priority, &buf[..got.len]), (0, &b"stop"[..]));
            break;
        }
        let word = |at: usize| u32::from_le_bytes(buf[at..at + 4].try_into().unwrap());
        let (producer, seq) = (word(0), word(4));
        assert_eq!(&buf[..got.len], &mq_bytes(producer, seq), "torn message");
        assert_eq!(
            (got.priority, got.mtype.get()),
            (mq_priority(producer, seq), producer + 1),
            "producer {producer} seq {seq}"
        );
        record
            .record(producer, u32::from(got.priority) - 1, seq)
            .unwrap();
    }
    record.finish();
}

// SPSC rings: P pairs.

#[test]
fn spsc_pairs_each_message_exactly_once_in_order() {
    if child_role().is_some() {
        return;
    }
    let pairs = env_count("ANNULUS_SOAK_PAIRS", 2);
    let plan = plan(pairs, pairs);
    let names: Vec<UniqueName> = (0..pairs).map(|_| UniqueName::new("soak-spsc")).collect();
    let _rings: Vec<SpscRing<Message>> = names
        .iter()
        .map(|n| SpscRing::create(&n.0, SPSC_CAPACITY).expect("create a ring"))
        .collect();
    let tally = Tally::create("soak-spsc-tally", plan);
    let pair_name = |i: u32| names[i as usize].0.clone();
    let start = Instant::now();
    let mut rx = spawn_all("spsc_consumer", pairs, pair_name, &tally, plan);
    let mut tx = spawn_all("spsc_producer", pairs, pair_name, &tally, plan);
    wait_for(
        ("producer", &mut tx),
        ("consumer", &mut rx),
        run_watchdog(plan),
    );
    wait_for(("consumer", &mut rx), ("none", &mut []), OP_WATCHDOG * 2);
    conclude(
        "spsc",
        &format!("{pairs} pairs"),
        plan,
        &tally,
        start.elapsed(),
    );
}

#[test]
fn spsc_producer() {
    let Some(role) = child_role() else {
        return;
    };
    let (index, plan, _) = child_setup(&role);
    let ring = SpscRing::<Message>::open(&child_name()).expect("open the ring");
    let mut tx = ring.producer().expect("the producer");
    for seq in 0..plan.per_producer {
        if let Err(e) = tx.push_blocking(message(index, seq), Some(OP_WATCHDOG)) {
            panic!("producer {index} at {seq}: {e:?}");
        }
    }
    // Dropping the producer closes the ring: the consumer drains it, then
    // sees `Disconnected`.
}

#[test]
fn spsc_consumer() {
    let Some(role) = child_role() else {
        return;
    };
    let (index, _, tally) = child_setup(&role);
    let ring = SpscRing::<Message>::open(&child_name()).expect("open the ring");
    let mut rx = ring.consumer().expect("the consumer");
    let mut record = tally.recorder(index, 1);
    loop {
        match rx.pop_blocking(Some(OP_WATCHDOG)) {
            Ok(m) => {
                let (producer, seq) = open_message(m);
                assert_eq!(producer, index, "a message of another pair");
                record.record(producer, 0, seq).unwrap();
            }
            Err(PopTimeoutError::Disconnected) => break,
            Err(e) => panic!("consumer {index} after {}: {e:?}", record.received()),
        }
    }
    record.finish();
}
