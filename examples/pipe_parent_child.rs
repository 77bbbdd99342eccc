//! A pipe between a parent and its child, rebuilt on annulus (seed 003's
//! first example): the parent creates an SPSC byte ring in a sealed memfd,
//! starts a child process that inherits it, and writes; the child reads
//! until end of stream (`read() == 0` once the parent closes its end).
//!
//! Then the same pair streams a million 8-byte samples through a ring of
//! `u64`, sleeping on the process-shared futex only when a side must wait:
//! while both are awake, a message costs no system call at all. Check with
//! `perf stat -e raw_syscalls:sys_enter -- <this example>`.
//!
//! Run: `cargo run --release -p annulus-examples --example pipe_parent_child`

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use annulus::Schema;
use annulus::spsc::{ByteReader, ByteWriter, InitOptions, PopTimeoutError, Spsc};
use annulus_linux::{Futex, SharedMemory};

const ROLE: &str = "ANNULUS_EXAMPLE_CHILD_FD";
const TEXT_CAPACITY: u32 = 4096;
const SAMPLES_CAPACITY: u32 = 1024;
const SAMPLES: u64 = 1_000_000;

/// Where each ring lives in the one shared object.
fn layout() -> (usize, usize, usize) {
    let text = Spsc::<u8>::layout(TEXT_CAPACITY).unwrap().size;
    // The second ring starts on the next 128-byte boundary.
    let second = text.div_ceil(128) * 128;
    let samples = Spsc::<u64>::layout(SAMPLES_CAPACITY).unwrap().size;
    (text, second, second + samples)
}

fn main() {
    match std::env::var(ROLE) {
        Ok(fd) => child(fd.parse().expect("fd number")),
        Err(_) => parent(),
    }
}

fn parent() {
    let (_, second, total) = layout();
    let shm = SharedMemory::anonymous("pipe-parent-child", total).expect("memfd");
    let map = shm.map().expect("mmap");
    let (text_len, _, _) = layout();
    // SAFETY: a fresh mapping of `total` bytes; this process touches it only
    // through the two views, which do not outlive `map`.
    let (text, samples) = unsafe {
        let options = InitOptions {
            schema: None,
            creator_pid: std::process::id(),
            // Both ends sleep on the futex, which has the heavy barrier:
            // writes and reads skip the fence of the wake-up protocol.
            asymmetric_wake: true,
        };
        (
            Spsc::<u8>::init_raw(map.ptr(), text_len, TEXT_CAPACITY, options).unwrap(),
            Spsc::<u64>::init_raw(
                map.ptr().add(second),
                total - second,
                SAMPLES_CAPACITY,
                options,
            )
            .unwrap(),
        )
    };
    // The child inherits the memfd: clear close-on-exec on it.
    rustix::io::fcntl_setfd(shm.fd(), rustix::io::FdFlags::empty()).expect("fcntl");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(ROLE, shm.fd().as_raw_fd().to_string())
        .spawn()
        .expect("spawn the child");

    // The seeds' five messages, then close: the child reads 0.
    let mut writer = ByteWriter::new(text.producer(Futex).unwrap());
    for i in 0..5 {
        writeln!(writer, "I am your father! message {i}").unwrap();
    }
    drop(writer);

    let mut tx = samples.producer(Futex).unwrap();
    let start = Instant::now();
    for i in 0..SAMPLES {
        tx.push_blocking(i, None).expect("the child reads");
    }
    drop(tx);
    let status = child.wait().expect("wait for the child");
    let elapsed = start.elapsed();
    assert!(status.success(), "child failed: {status}");
    println!(
        "parent: {SAMPLES} samples to the child process in {:.1} ms ({:.1} M/s)",
        elapsed.as_secs_f64() * 1e3,
        SAMPLES as f64 / elapsed.as_secs_f64() / 1e6
    );
}

fn child(fd: i32) {
    // SAFETY: the parent passed this fd number; nothing else here owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let (text_len, second, total) = layout();
    let shm = SharedMemory::from_sealed_memfd(fd, total).expect("a sealed memfd");
    let map = shm.map().expect("mmap");
    // SAFETY: the parent laid both rings into this object; this process
    // touches the mapping only through the views, which do not outlive it.
    let (text, samples) = unsafe {
        (
            Spsc::<u8>::attach_raw(map.ptr(), text_len, Schema::of::<u8>()).unwrap(),
            Spsc::<u64>::attach_raw(map.ptr().add(second), total - second, Schema::of::<u64>())
                .unwrap(),
        )
    };
    let mut reader = ByteReader::new(text.consumer(Futex).unwrap());
    let mut all = String::new();
    reader.read_to_string(&mut all).unwrap(); // until end of stream
    print!("child read:\n{all}");
    assert_eq!(all.lines().count(), 5);

    let mut rx = samples.consumer(Futex).unwrap();
    let mut expected = 0;
    loop {
        match rx.pop_blocking(None) {
            Ok(v) => {
                assert_eq!(v, expected, "in order, none lost");
                expected += 1;
            }
            Err(PopTimeoutError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(expected, SAMPLES);
    println!("child: received all {SAMPLES} samples in order, then end of stream");
}
