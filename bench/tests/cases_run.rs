//! Every case runs end to end (processes, descriptors, shared memory) with
//! a small count, and leaves nothing behind in /dev/shm. The numbers are not
//! checked: speed belongs to the benchmark, not to a test.

use std::process::Command;

fn shm_entries(starting: &str) -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(starting))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn every_case_runs_and_cleans_up() {
    let iceoryx_before = shm_entries("iox2_");
    let child = Command::new(env!("CARGO_BIN_EXE_annulus-bench"))
        .args(["--count", "100", "--grid", "1x1,2x1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the bench binary starts");
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for case in annulus_bench::CASES {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(&format!("| {} |", case.name)))
            .unwrap_or_else(|| panic!("no row for {}:\n{stdout}", case.name));
        assert!(!row.contains("failed"), "{row}");
    }
    assert!(stdout.contains("| 2 × 1 |"), "{stdout}");
    // Objects are named after the bench's pid.
    assert_eq!(
        shm_entries(&format!("annulus.bench-{pid}-")),
        Vec::<String>::new()
    );
    // And iceoryx2 (with its feature) leaves none of its own.
    let iceoryx_after: Vec<String> = shm_entries("iox2_")
        .into_iter()
        .filter(|n| !iceoryx_before.contains(n))
        .collect();
    assert_eq!(iceoryx_after, Vec::<String>::new());
}

#[test]
fn the_peer_refuses_an_unknown_case() {
    let out = Command::new(env!("CARGO_BIN_EXE_annulus-bench"))
        .args([annulus_bench::PEER_ARG, "no-such-case"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown case"));
}
