//! The `annulus` binary against real objects: every kind listed and shown,
//! garbage objects listed as such, send and recv through a queue, a frame
//! ring and a byte stream, rm by name, and rm --stale telling a leftover
//! from an object in use.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use annulus::semaphore::SemOp;
use annulus_linux::SharedMemory;
use annulus_linux::named::{
    MpmcRing, NamedFrameRing, NamedMessageQueue, NamedRobustSemaphoreSet, NamedSemaphore,
    NamedSemaphoreSet, SpscRing,
};
use serde_json::Value;

/// Names unique to this test process, unlinked on drop (even on failure).
struct Names(Vec<String>);

impl Names {
    fn new(tag: &str, n: usize) -> Self {
        let pid = std::process::id();
        Names(
            (0..n)
                .map(|i| format!("test-cli-{tag}-{pid}-{i}"))
                .collect(),
        )
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        for name in &self.0 {
            let path = format!("/dev/shm/annulus.{name}");
            let _ = std::fs::remove_dir(&path);
            let _ = std::fs::remove_file(&path);
        }
    }
}

fn annulus(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_annulus"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run annulus");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `annulus` and returns its stdout, asserting success.
fn ok(args: &[&str]) -> String {
    let out = annulus(args, b"");
    assert!(
        out.status.success(),
        "annulus {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn listed(name: &str) -> Value {
    let all: Value = serde_json::from_str(&ok(&["list", "--json"])).expect("list --json is JSON");
    all.as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed"))
        .clone()
}

fn table_line(text: &str, name: &str) -> String {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("{name} not in the table:\n{text}"))
        .to_owned()
}

#[test]
fn every_kind_is_listed_and_shown_with_its_roles() {
    let names = Names::new("kinds", 8);
    let n = |i: usize| names.0[i].as_str();
    let me = std::process::id();
    let spsc = SpscRing::<u64>::create(n(0), 8).unwrap();
    let mut tx = spsc.producer().unwrap();
    tx.push(1).unwrap();
    tx.push(2).unwrap();
    let stream = SpscRing::<u8>::create(n(1), 64).unwrap();
    let frames = NamedFrameRing::create(n(2), 256).unwrap();
    let _reader = frames.reader().unwrap();
    let mpmc = MpmcRing::<u32>::create(n(3), 4, 3).unwrap();
    let _s = mpmc.sender().unwrap();
    let _r = mpmc.receiver().unwrap();
    let sem = NamedSemaphore::create(n(4), 3, 10).unwrap();
    sem.semaphore().post(1).unwrap();
    let _set = NamedSemaphoreSet::create(n(5), &[1, 2, 3], 9).unwrap();
    let mq = NamedMessageQueue::create(n(6), 4, 32, 2).unwrap();
    mq.endpoint()
        .unwrap()
        .send(b"hi", 1, std::num::NonZeroU32::MIN, None)
        .unwrap();
    let robust = NamedRobustSemaphoreSet::create(n(7), &[2, 5], 5, 4).unwrap();
    let holder = robust.holder().unwrap();
    holder.try_op(&[SemOp::wait(1, 3)]).unwrap();
    let _keep = (&stream, &frames);

    let expect = [
        ("spsc", "8x8B", "2"),
        ("stream", "64B", "0B"),
        ("frames", "256B", "0B"),
        ("mpmc", "4x4B", "0"),
        ("semaphore", "max 10", "4"),
        ("sem-set", "3x max 9", "1,2,3"),
        ("mqueue", "4x32B", "1 (2B)"),
        ("robust-sem", "2x max 5", "2,2"),
    ];
    let table = ok(&["list"]);
    assert!(table.starts_with("NAME "), "a header line:\n{table}");
    for (i, (kind, capacity, used)) in expect.iter().enumerate() {
        let o = listed(n(i));
        assert_eq!(o["kind"], *kind, "{o}");
        assert_eq!(o["capacity"], *capacity, "{o}");
        assert_eq!(o["occupancy"], *used, "{o}");
        assert_eq!(o["mode"], "0600");
        assert_eq!(o["creator"]["pid"], me);
        assert_eq!(o["creator"]["alive"], true);
        assert_eq!(o["staleness"]["state"], "in-use");
        let line = table_line(&table, n(i));
        let cells: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cells[1], *kind, "{line}");
        assert!(line.contains(&format!("{me}(alive)")), "{line}");
    }
    // Held roles, with pid and liveness, in the table and in JSON.
    let line = table_line(&table, n(0));
    assert!(line.contains(&format!("producer:{me}(alive)")), "{line}");
    let line = table_line(&table, n(3));
    assert!(
        line.contains(&format!("sender:{me}(alive) receiver:{me}(alive)")),
        "{line}"
    );
    let roles = &listed(n(2))["roles"];
    assert_eq!(roles[0]["role"], "reader");
    assert_eq!(roles[0]["state"], "held");
    assert_eq!(roles[0]["pid"], me);
    assert_eq!(roles[0]["alive"], true);
    // A closed endpoint: the queue's sender above dropped its handle.
    assert_eq!(listed(n(6))["roles"][0]["state"], "closed");

    let shown = ok(&["show", n(0)]);
    for needle in [
        "kind:             SPSC ring",
        "  element:        8 bytes, align 8",
        "  tail:           2",
        "  init state:     ready",
        "stale:            no: creator",
    ] {
        assert!(shown.contains(needle), "{needle:?} missing:\n{shown}");
    }
    // Rings are created for asymmetric wake-ups where the kernel has
    // membarrier (Linux 4.16+, not filtered); queues never are.
    let membarrier = annulus::wait::Wait::prepare_light_notify(&annulus_linux::Futex);
    let mode = if membarrier {
        "asymmetric"
    } else {
        "symmetric"
    };
    assert!(
        shown.contains(&format!("  wake-ups:       {mode}")),
        "{shown}"
    );
    let ring: Value = serde_json::from_str(&ok(&["show", "--json", n(3)])).unwrap();
    assert_eq!(ring["header"]["asymmetric_wake"], membarrier);
    let shown: Value = serde_json::from_str(&ok(&["show", "--json", n(6)])).unwrap();
    assert_eq!(shown["header"]["asymmetric_wake"], false);
    assert_eq!(shown["counters"]["stats"]["messages"], 1);
    assert_eq!(shown["counters"]["stats"]["last_sender"], me);
    assert_eq!(shown["header"]["kind_word"], 6);
    let shown: Value = serde_json::from_str(&ok(&["show", "--json", n(5)])).unwrap();
    assert_eq!(shown["values"], serde_json::json!([1, 2, 3]));
    let shown: Value = serde_json::from_str(&ok(&["show", "--json", n(7)])).unwrap();
    assert_eq!(shown["values"], serde_json::json!([2, 2]));
    assert_eq!(shown["counters"]["holders"], 4);
    assert_eq!(shown["counters"]["held"], 1);
    let line = table_line(&table, n(7));
    assert!(line.contains(&format!("holder:{me}(alive)")), "{line}");
}

#[test]
fn garbage_objects_are_listed_as_such_and_never_crash_the_tool() {
    let names = Names::new("garbage", 6);
    let n = |i: usize| names.0[i].as_str();
    let path = |i: usize| format!("/dev/shm/annulus.{}", n(i));
    // Random bytes; nothing; a few bytes; a valid header of a future
    // layout version; a header claiming a huge region; a directory.
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let random: Vec<u8> = (0..8192)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(path(0), &random).unwrap();
    std::fs::write(path(1), b"").unwrap();
    std::fs::write(path(2), b"ANUL").unwrap();
    {
        let ring = SpscRing::<u32>::create(n(3), 4).unwrap();
        let big = SpscRing::<u32>::create(n(4), 4).unwrap();
        // SAFETY: our own fresh mappings; the version and region size
        // words are plain u32s at offsets 4 and 20, and no view reads them
        // concurrently.
        unsafe {
            ring.named().mapping().ptr().cast::<u32>().add(1).write(99);
            big.named()
                .mapping()
                .ptr()
                .cast::<u32>()
                .add(5)
                .write(u32::MAX);
        }
    }
    std::fs::create_dir(path(5)).unwrap();

    let table = ok(&["list"]);
    let expect = [
        "invalid: not an annulus region",
        "invalid: region of 0 bytes",
        "invalid: region of 4 bytes",
        "invalid: layout version 99",
        "invalid: body offset 512 / region size 4294967295",
        "unreadable:",
    ];
    for (i, why) in expect.iter().enumerate() {
        let line = table_line(&table, n(i));
        assert!(line.contains(why), "{why:?} missing in {line:?}");
        let o = listed(n(i));
        assert!(o["kind"] == "invalid" || o["kind"] == "unreadable", "{o}");
        assert_eq!(
            o["staleness"]["state"],
            if (3..5).contains(&i) {
                "in-use"
            } else {
                "unknown"
            }
        );
        // `show` reads every one of them too.
        let out = annulus(&["show", n(i)], b"");
        assert!(out.status.success(), "show {}: {out:?}", n(i));
    }
    let shown = ok(&["show", n(3)]);
    assert!(shown.contains("version:        99"), "{shown}");
    // send/recv refuse them with the reason.
    let out = annulus(&["recv", n(0)], b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an annulus region"));
}

#[test]
fn send_and_recv_move_lines_through_queues_frames_and_streams() {
    let names = Names::new("sendrecv", 4);
    let n = |i: usize| names.0[i].as_str();
    ok(&["create", "mq", n(0), "--messages", "8", "--size", "64"]);
    ok(&["create", "frames", n(1), "--capacity", "1024"]);
    ok(&["create", "stream", n(2), "--capacity", "256"]);

    // A queue: priorities decide the order; recv stops after -n messages.
    assert!(
        annulus(&["send", n(0)], b"low one\nlow two\n")
            .status
            .success()
    );
    assert!(
        annulus(
            &["send", n(0), "--priority", "7", "--type", "3"],
            b"urgent\n"
        )
        .status
        .success()
    );
    assert_eq!(listed(n(0))["occupancy"], "3 (20B)");
    assert_eq!(ok(&["recv", n(0), "-n", "2"]), "urgent\nlow one\n");
    assert_eq!(
        ok(&["recv", n(0), "-v", "--timeout", "0.2"]),
        "[priority 0 type 1] low two\n"
    );

    // A frame ring and a byte stream: the writer's exit closes the ring, so
    // recv ends at the end of the stream.
    for i in [1, 2] {
        let sent = annulus(&["send", n(i)], b"first line\nsecond\n");
        assert!(sent.status.success(), "{sent:?}");
        assert_eq!(ok(&["recv", n(i)]), "first line\nsecond\n");
    }

    // Refusals: a ring of u64 elements, a missing object.
    let _u64s = SpscRing::<u64>::create(n(3), 4).unwrap();
    let out = annulus(&["send", n(3)], b"x\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("8-byte elements"));
    assert_eq!(
        annulus(&["recv", "test-cli-no-such-object"], b"")
            .status
            .code(),
        Some(1)
    );
    assert_eq!(annulus(&["frobnicate"], b"").status.code(), Some(2));
}

#[test]
fn rm_removes_by_name() {
    let names = Names::new("rm", 2);
    let _a = NamedSemaphore::create(&names.0[0], 0, 1).unwrap();
    let _b = NamedSemaphore::create(&names.0[1], 0, 1).unwrap();
    ok(&["rm", &names.0[0], &names.0[1]]);
    for name in &names.0 {
        assert!(
            SharedMemory::open(name, 0o600, 0).is_err(),
            "{name} removed"
        );
    }
    let out = annulus(&["rm", &names.0[0]], b"");
    assert_eq!(
        out.status.code(),
        Some(1),
        "removing a missing object fails"
    );
}

/// Set in a re-executed copy of this test binary: create the objects named
/// in it (comma-separated) and exit holding roles, as a crash would.
const CHILD: &str = "ANNULUS_CLI_TEST_CHILD";

/// The child's part: not a test of its own unless [`CHILD`] is set.
#[test]
fn stale_child() {
    let Ok(names) = std::env::var(CHILD) else {
        return;
    };
    let names: Vec<&str> = names.split(',').collect();
    // A ring whose producer this process holds, a queue with an endpoint,
    // and a plain semaphore: all left behind by exiting without cleanup.
    let ring = SpscRing::<u64>::create(names[0], 8).unwrap();
    let tx = ring.producer().unwrap();
    std::mem::forget(tx);
    std::mem::forget(ring);
    let mq = NamedMessageQueue::create(names[1], 4, 16, 2).unwrap();
    std::mem::forget(mq.endpoint().unwrap());
    std::mem::forget(mq);
    for name in &names[2..] {
        std::mem::forget(NamedSemaphore::create(name, 0, 1).unwrap());
    }
    std::process::exit(0);
}

#[test]
fn rm_stale_removes_leftovers_of_dead_processes_and_keeps_live_ones() {
    let names = Names::new("stale", 6);
    let n = |i: usize| names.0[i].as_str();
    // 0: ring whose creator and producer died; 1: queue whose creator and
    // endpoint died; 2: semaphore whose creator died; 3: dead creator, but
    // this process maps it; 4: dead creator, but this process holds a role;
    // 5: created by this live process.
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["stale_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, [n(0), n(1), n(2), n(3)].join(","))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    // Object 4: a ring the child could not hold; made by a second child.
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["stale_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, [n(4), &format!("{}-q", n(4))].join(","))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let _q4 = Names(vec![format!("{}-q", n(4))]);
    let mapped = NamedSemaphore::open(n(3)).unwrap();
    let held = SpscRing::<u64>::open(n(4)).unwrap();
    let _consumer = held.consumer().unwrap();
    let _live = NamedSemaphore::create(n(5), 0, 1).unwrap();

    let o = listed(n(0));
    assert_eq!(o["creator"]["alive"], false);
    assert_eq!(o["roles"][0]["role"], "producer");
    assert_eq!(o["roles"][0]["state"], "held");
    assert_eq!(o["roles"][0]["alive"], false);
    assert!(table_line(&ok(&["list"]), n(0)).contains("(dead)"));
    assert!(ok(&["show", n(0)]).contains("stale:            yes"));
    assert_eq!(listed(n(3))["staleness"]["by"], "mapped");
    let me = std::process::id();
    assert_eq!(listed(n(3))["mapped_by"], serde_json::json!([me]));

    let out = ok(&["rm", "--stale", n(0), n(1), n(2), n(3), n(4), n(5)]);
    for i in 0..3 {
        assert!(out.contains(&format!("removed {}", n(i))), "{out}");
        assert!(
            SharedMemory::open(n(i), 0o600, 0).is_err(),
            "{} removed",
            n(i)
        );
    }
    for i in 3..6 {
        assert!(!out.contains(n(i)), "{out}");
        assert!(SharedMemory::open(n(i), 0o600, 0).is_ok(), "{} kept", n(i));
    }
    // Once nothing maps or holds them, they are leftovers too.
    drop(mapped);
    drop(_consumer);
    // The consumer's release closed the role, so only the dead creator
    // names the ring now; this process still maps it through `held`.
    assert_eq!(listed(n(4))["staleness"]["by"], "mapped");
    drop(held);
    let removed: Value =
        serde_json::from_str(&ok(&["rm", "--stale", "--json", n(3), n(4)])).unwrap();
    assert_eq!(removed.as_array().unwrap().len(), 2, "{removed}");
    assert_eq!(removed[0]["removed"], true);
}
