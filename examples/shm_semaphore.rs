//! Seed 003's `shmwrite`/`shmread` pair, done right. The seed shares a
//! `{ written, text[2048] }` block and polls the `written` flag with
//! `sleep(1)`, which it itself calls unsafe: two writers can both see 0,
//! and nothing orders the text against the flag. Here the block is plain
//! shared memory (`/dev/shm/annulus.example-shm-<pid>`) and two counting
//! semaphores guard it, the classic way: `empty` (1 unit: the block may be
//! written) and `full` (0 units: the block holds text). The writer takes
//! `empty`, writes, posts `full`; the reader takes `full`, reads, posts
//! `empty`. Nobody polls, nobody sleeps by the clock, and a post (Release)
//! followed by a take (Acquire) makes the text written before the post
//! visible to the reader.
//!
//! The writer is a second process (this example re-executed); it sends a
//! few lines and then "end", as the seed's user would type them.
//!
//! Run: `cargo run --release -p annulus-examples --example shm_semaphore`

#![allow(unsafe_code)]

use std::time::Duration;

use annulus::semaphore::SemOp;
use annulus_examples::{ExampleName, Peer};
use annulus_linux::SharedMemory;
use annulus_linux::named::NamedSemaphoreSet;

/// The seed's `TEXT_SZ`.
const TEXT_SZ: usize = 2048;
/// Counters of the semaphore set.
const EMPTY: u32 = 0;
const FULL: u32 = 1;
const PATIENCE: Option<Duration> = Some(Duration::from_secs(30));

const LINES: [&str; 4] = [
    "hello from the writer",
    "shared memory is fast",
    "and now it is safe",
    "end",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("writer") => writer(&args[2]),
        _ => reader(),
    }
}

/// The block: a length word, then the text.
fn block_len() -> usize {
    8 + TEXT_SZ
}

fn reader() {
    let name = ExampleName::new("shm");
    let sems = name.derived("sem");
    let shm = SharedMemory::create(name.as_str(), block_len(), 0o600).expect("create the block");
    let block = shm.map().expect("map it");
    // empty = 1 (the writer may write), full = 0; at most 1 unit each.
    let _set = NamedSemaphoreSet::create(sems.as_str(), &[1, 0], 1).expect("create the semaphores");
    let set = _set.set();
    let writer = Peer::spawn(&["writer", name.as_str()]);

    let mut received = Vec::new();
    loop {
        set.op(&[SemOp::wait(FULL, 1)], PATIENCE)
            .expect("the writer posts");
        // SAFETY: between our take of `full` and our post of `empty` the
        // writer does not touch the block (it waits on `empty`), and the
        // take (Acquire) ordered its writes before these reads.
        let text = unsafe {
            let base = block.ptr().as_ptr();
            let len = (base.cast::<u64>().read() as usize).min(TEXT_SZ);
            let mut text = vec![0u8; len];
            std::ptr::copy_nonoverlapping(base.add(8), text.as_mut_ptr(), len);
            String::from_utf8(text).expect("the writer writes UTF-8")
        };
        set.op(&[SemOp::post(EMPTY, 1)], None).expect("post empty");
        println!("You wrote: {text}");
        let end = text.starts_with("end");
        received.push(text);
        if end {
            break;
        }
    }
    writer.wait();
    assert_eq!(received, LINES);
    println!(
        "reader: {} blocks, each read once, none overwritten unread",
        received.len()
    );
    // `name` and `sems` unlink both objects here.
}

fn writer(name: &str) {
    let shm = SharedMemory::open(name, 0o600, block_len()).expect("open the block");
    let block = shm.map().expect("map it");
    let set = NamedSemaphoreSet::open(&format!("{name}-sem")).expect("open the semaphores");
    let set = set.set();
    for line in LINES {
        set.op(&[SemOp::wait(EMPTY, 1)], PATIENCE)
            .expect("the reader posts");
        let bytes = &line.as_bytes()[..line.len().min(TEXT_SZ)];
        // SAFETY: holding `empty`, we are the only one touching the block;
        // the length fits, and the post below (Release) publishes it.
        unsafe {
            let base = block.ptr().as_ptr();
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), base.add(8), bytes.len());
            base.cast::<u64>().write(bytes.len() as u64);
        }
        set.op(&[SemOp::post(FULL, 1)], None).expect("post full");
    }
}
