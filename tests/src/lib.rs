//! Helpers for tests that run real processes: a child process re-executing
//! this test binary to run one named test function, with a watchdog, and
//! passing a sealed memfd to it.
#![allow(unsafe_code)]

pub mod tally;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use annulus_linux::SharedMemory;

/// Environment variable that tells a re-executed test binary which child
/// role to play.
pub const CHILD_ROLE: &str = "ANNULUS_TEST_CHILD_ROLE";
/// Environment variable carrying an inherited memfd's number.
pub const CHILD_FD: &str = "ANNULUS_TEST_CHILD_FD";
/// Environment variable carrying the name of a named object.
pub const CHILD_NAME: &str = "ANNULUS_TEST_CHILD_NAME";

/// The role this process plays, if it is a re-executed child.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ROLE).ok()
}

/// The object name the parent passed, in a child.
pub fn child_name() -> String {
    std::env::var(CHILD_NAME).expect("CHILD_NAME set by the parent")
}

/// Makes `shm`'s fd survive `exec` so a spawned child inherits it.
pub fn share_with_children(shm: &SharedMemory) {
    rustix::io::fcntl_setfd(shm.fd(), rustix::io::FdFlags::empty()).expect("clear FD_CLOEXEC");
}

/// The sealed memfd the parent passed in [`CHILD_FD`], checked for its seals.
pub fn inherited_memfd(min_len: usize) -> SharedMemory {
    let raw: i32 = std::env::var(CHILD_FD)
        .expect("CHILD_FD set by the parent")
        .parse()
        .expect("CHILD_FD is a number");
    // SAFETY: the parent passed us this fd number and nothing else in this
    // process owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    SharedMemory::from_sealed_memfd(fd, min_len).expect("a sealed memfd of the right size")
}

/// A child process, killed and reaped if the test fails before waiting.
#[derive(Debug)]
pub struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// Re-executes this test binary to run only the test `test_name`, with
    /// [`CHILD_ROLE`] set to `role` and the extra variables in `env`.
    pub fn spawn(test_name: &str, role: &str, env: &[(&str, String)]) -> std::io::Result<Self> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ROLE, role);
        for (key, value) in env {
            command.env(key, value);
        }
        Ok(ChildGuard(Some(command.spawn()?)))
    }

    /// Re-executes this test binary for `test_name` with `shm` inherited
    /// (see [`share_with_children`]) and its number in [`CHILD_FD`].
    pub fn spawn_with_memfd(
        test_name: &str,
        role: &str,
        shm: &SharedMemory,
    ) -> std::io::Result<Self> {
        Self::spawn(
            test_name,
            role,
            &[(CHILD_FD, shm.fd().as_raw_fd().to_string())],
        )
    }

    /// Waits up to `limit` for the child to exit successfully (a watchdog,
    /// not a timing assertion: the limit is far above the expected time).
    pub fn wait_success(mut self, limit: Duration) -> Result<(), String> {
        let mut child = self.0.take().expect("waited once");
        let start = Instant::now();
        loop {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => return Err(format!("child failed: {status}")),
                Ok(None) if start.elapsed() > limit => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("child still running after {limit:?}: killed"));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(e) => return Err(format!("waiting for the child: {e}")),
            }
        }
    }
}

impl ChildGuard {
    /// Whether the child has exited successfully (`Ok(true)`, reaped) or is
    /// still running (`Ok(false)`); an error if it failed.
    pub fn poll(&mut self) -> Result<bool, String> {
        let Some(child) = self.0.as_mut() else {
            return Ok(true);
        };
        match child.try_wait() {
            Ok(Some(status)) if status.success() => {
                self.0 = None;
                Ok(true)
            }
            Ok(Some(status)) => {
                self.0 = None;
                Err(format!("child failed: {status}"))
            }
            Ok(None) => Ok(false),
            Err(e) => Err(format!("waiting for the child: {e}")),
        }
    }

    /// The child's pid.
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Kills the child with SIGKILL and reaps it.
    pub fn kill(mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A unique object name for this test run, unlinked when dropped (even if
/// the test fails).
#[derive(Debug)]
pub struct UniqueName(pub String);

impl UniqueName {
    /// `test-<tag>-<pid>-<n>`.
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        UniqueName(format!("test-{tag}-{}-{n}", std::process::id()))
    }
}

impl Drop for UniqueName {
    fn drop(&mut self) {
        let _ = SharedMemory::unlink(&self.0);
    }
}

/// `nobody` and `nogroup` on most distributions; any unprivileged ids do.
pub const NOBODY: u32 = 65534;

/// Drops this thread's credentials to `nobody` for good: supplementary
/// groups first, then the group, then the user (after which the others
/// could no longer be changed). On Linux credentials are per thread, and
/// the checks below run on this thread.
pub fn drop_to_nobody() {
    rustix::thread::set_thread_groups(&[]).expect("drop supplementary groups");
    let gid = rustix::process::Gid::from_raw(NOBODY);
    rustix::thread::set_thread_res_gid(gid, gid, gid).expect("become nogroup");
    let uid = rustix::process::Uid::from_raw(NOBODY);
    rustix::thread::set_thread_res_uid(uid, uid, uid).expect("become nobody");
    assert_eq!(rustix::process::geteuid().as_raw(), NOBODY);
    assert_eq!(rustix::process::getegid().as_raw(), NOBODY);
    // No way back: root's uid cannot be taken again.
    assert_eq!(
        rustix::thread::set_thread_uid(rustix::process::Uid::ROOT),
        Err(rustix::io::Errno::PERM),
        "the drop is permanent"
    );
}

/// Polls `condition` every millisecond until it holds; panics naming `what`
/// after `limit` (a watchdog, not a timing assertion: the limit is far above
/// the expected time).
pub fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether every thread of process `pid` is asleep (`S` in
/// `/proc/<pid>/task/*/stat`: blocked in the kernel, on a futex say, rather
/// than running or spinning); false if they cannot be read.
pub fn all_threads_asleep(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for task in tasks {
        let Ok(task) = task else { return false };
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            return false;
        };
        // "tid (comm) S ...": comm may hold spaces and parentheses.
        let state = stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].trim_start().chars().next());
        if state != Some('S') {
            return false;
        }
        any = true;
    }
    any
}

/// A little of libtest's command line for a `harness = false` test binary
/// (one whose children must block signals before any thread exists): lists
/// `tests` for `--list`, runs those whose name contains a filter argument
/// (all without one), and prints libtest-like lines.
pub fn run_tests(tests: &[(&str, fn())]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return;
    }
    let filters: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (name, test) in tests {
        if filters.is_empty() || filters.iter().any(|f| name.contains(f)) {
            print!("test {name} ... ");
            test();
            println!("ok");
        }
    }
}
