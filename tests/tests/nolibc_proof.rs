//! annulus-linux is libc-free, provably: builds nolibc-proof/ (a
//! `#![no_std]`, `#![no_main]` program linked with no C library and no start
//! files, using annulus and annulus-linux without default features), checks
//! that the binary is static with no trace of the C library, and runs it:
//! shared memory, an SPSC ring, futex sleeps and wakes across fork, SIGPIPE
//! and a queued signal (see nolibc-proof/src/main.rs).
//!
//! `cargo tree` shows that no `libc` crate is a dependency; this shows that
//! nothing reaches for the C library another way (a `-lc`, a start file).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far above the expected time; a watchdog, not a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(120);

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// Builds the proof with the cargo running this test, into its own target
/// directory, and returns the binary's path.
fn build() -> PathBuf {
    let root = repository();
    let target_dir = root.join("target").join("nolibc-proof");
    let output = Command::new(env!("CARGO"))
        .arg("build")
        .arg("--manifest-path")
        .arg(root.join("nolibc-proof").join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // Flags meant for the workspace (`--cfg loom`, say) do not apply to
        // this separate build, and the host target is the one proven.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .output()
        .expect("run cargo");
    // Shown when the test fails (the harness captures it otherwise).
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "building nolibc-proof failed: {}",
        output.status
    );
    target_dir.join("debug").join("nolibc-proof")
}

#[test]
fn a_program_without_the_c_library_runs_annulus() {
    let binary = build();
    let elf = std::fs::read(&binary).expect("read the binary");
    check_static_without_libc(&elf);

    let mut child = Command::new(&binary)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start nolibc-proof");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for nolibc-proof") {
            break status;
        }
        if start.elapsed() > WATCHDOG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nolibc-proof still running after {WATCHDOG:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    // A few lines, far below a pipe's capacity: nothing blocked on them.
    let mut report = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut report);
    eprintln!("{report}");
    assert!(status.success(), "nolibc-proof failed: {status}");
    assert!(report.ends_with("nolibc-proof: ok\n"), "{report}");
}

/// An ELF64 executable that the kernel runs as it is: no interpreter (the
/// dynamic loader, which would load the C library), no dynamic section (so
/// no `DT_NEEDED` library), not position-independent, and none of the C
/// library's start-up symbols.
fn check_static_without_libc(elf: &[u8]) {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const ET_EXEC: u16 = 2;

    assert!(
        elf.len() >= 64 && elf[..4] == *b"\x7fELF",
        "not an ELF file"
    );
    assert_eq!(elf[4], 2, "not ELF64");
    assert_eq!(elf[5], 1, "not little-endian");
    let u16_at = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes(elf[at..at + 4].try_into().unwrap());
    let u64_at = |at: usize| u64::from_le_bytes(elf[at..at + 8].try_into().unwrap());

    assert_eq!(u16_at(16), ET_EXEC, "e_type: a static executable");
    let phoff = usize::try_from(u64_at(32)).unwrap();
    let phentsize = usize::from(u16_at(54));
    let phnum = usize::from(u16_at(56));
    assert!(phnum > 0 && phoff + phnum * phentsize <= elf.len());
    for i in 0..phnum {
        let p_type = u32_at(phoff + i * phentsize);
        assert_ne!(p_type, PT_INTERP, "program header {i}: an interpreter");
        assert_ne!(p_type, PT_DYNAMIC, "program header {i}: a dynamic section");
    }

    // Symbols that glibc's or musl's start files and start-up code bring
    // (the binary keeps its symbol table).
    for name in [
        "__libc_start_main",
        "__libc_csu_init",
        "_IO_stdin_used",
        "GLIBC_",
    ] {
        assert!(
            !elf.windows(name.len()).any(|w| w == name.as_bytes()),
            "the binary mentions {name}"
        );
    }
}

#[test]
#[should_panic(expected = "a static executable")]
fn the_check_rejects_an_ordinary_binary() {
    // This test binary: position-independent, loaded by ld.so with glibc.
    let elf = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    check_static_without_libc(&elf);
}
