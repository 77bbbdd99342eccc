//! Persistence through a file (the seeds' file-backed `MAP_SHARED`
//! mapping): a child process creates a file, lays an SPSC ring into its
//! mapping, sends records, closes its end, syncs and exits; only then does
//! the parent open the file, attach to the ring and read what persisted,
//! followed by the close (`Disconnected`).

use std::path::PathBuf;
use std::time::Duration;

use annulus::Schema;
use annulus::spsc::{InitOptions, PopError, Spsc};
use annulus_linux::Futex;
use annulus_linux::shm::FileMapping;
use annulus_process_tests::{CHILD_NAME, ChildGuard, child_name, child_role};

const CAPACITY: u32 = 64;
const RECORDS: u64 = 40;
/// Watchdog for the child; never a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(60);

#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable, bytemuck::Pod)]
#[bytemuck(crate = "annulus::bytemuck")]
struct Record {
    seq: u64,
    square: u64,
}

fn record(seq: u64) -> Record {
    Record {
        seq,
        square: seq * seq,
    }
}

fn size() -> usize {
    Spsc::<Record>::layout(CAPACITY).unwrap().size
}

/// A file path unique to this run, removed when dropped (even on failure).
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_ring_written_by_an_exited_process_is_read_from_the_file() {
    if child_role().is_some() {
        return;
    }
    let path = TempPath(
        std::env::temp_dir().join(format!("annulus-test-file-ring-{}.map", std::process::id())),
    );
    let path_text = path.0.to_str().expect("a UTF-8 temp dir").to_owned();
    ChildGuard::spawn(
        "child_writes_and_exits",
        "writer",
        &[(CHILD_NAME, path_text)],
    )
    .unwrap()
    .wait_success(WATCHDOG)
    .unwrap();

    // The writer is gone; its ring lives on in the file.
    let file = FileMapping::open(&path.0, size()).unwrap();
    let map = file.mapping();
    // SAFETY: the child laid a ring of `Record` into the file; this process
    // touches the mapping only through the view, which `file` outlives.
    let ring = unsafe { Spsc::<Record>::attach_raw(map.ptr(), map.len(), Schema::of::<Record>()) }
        .unwrap();
    assert_eq!(ring.len(), RECORDS as u32);
    let mut rx = ring.claim_consumer(std::process::id(), Futex).unwrap();
    for seq in 0..RECORDS {
        assert_eq!(rx.pop(), Ok(record(seq)));
    }
    assert_eq!(rx.pop(), Err(PopError::Disconnected), "the writer closed");
}

#[test]
fn child_writes_and_exits() {
    if child_role().is_none() {
        return; // only meaningful in the re-executed child
    }
    let file = FileMapping::create(child_name(), size()).unwrap();
    let map = file.mapping();
    let options = InitOptions {
        schema: None,
        creator_pid: std::process::id(),
        asymmetric_wake: false,
    };
    // SAFETY: a fresh mapping of a new file, touched only through the view,
    // which `file` outlives.
    let ring =
        unsafe { Spsc::<Record>::init_raw(map.ptr(), map.len(), CAPACITY, options) }.unwrap();
    let mut tx = ring.claim_producer(std::process::id(), Futex).unwrap();
    for seq in 0..RECORDS {
        tx.push(record(seq)).unwrap();
    }
    drop(tx); // closes the ring: recorded in the file too
    file.sync().unwrap();
}
