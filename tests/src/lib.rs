//! Helpers for tests that run real processes: anonymous shared memory, a
//! child process running a named test function, and a watchdog.
//!
//! The `annulus-linux` backend will own shared memory for users; these
//! helpers are the minimum the core's cross-process tests need until then.
#![allow(unsafe_code)]

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command};
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use rustix::fs::{MemfdFlags, ftruncate, memfd_create};
use rustix::mm::{MapFlags, ProtFlags, mmap, munmap};

/// Environment variable that tells a re-executed test binary which child
/// role to play.
pub const CHILD_ROLE: &str = "ANNULUS_TEST_CHILD_ROLE";
/// Environment variable carrying the inherited memfd's number.
pub const CHILD_FD: &str = "ANNULUS_TEST_CHILD_FD";

/// An anonymous shared memory object (memfd), inheritable by children.
#[derive(Debug)]
pub struct SharedMemory {
    fd: OwnedFd,
    len: usize,
}

impl SharedMemory {
    /// A zero-filled memfd of `len` bytes, without close-on-exec so that a
    /// spawned child inherits it.
    pub fn new(len: usize) -> rustix::io::Result<Self> {
        let fd = memfd_create("annulus-test", MemfdFlags::empty())?;
        ftruncate(&fd, len as u64)?;
        Ok(SharedMemory { fd, len })
    }

    /// The memfd inherited from the parent, with the number in [`CHILD_FD`].
    pub fn inherited(len: usize) -> Self {
        let raw: i32 = std::env::var(CHILD_FD)
            .expect("CHILD_FD set by the parent")
            .parse()
            .expect("CHILD_FD is a number");
        // SAFETY: the parent passed us this fd number and nothing else in
        // this process owns it.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        SharedMemory { fd, len }
    }

    /// Maps the whole object shared, read-write. Each call gives a new
    /// mapping at a new address.
    pub fn map(&self) -> rustix::io::Result<Mapping> {
        // SAFETY: a fresh mapping chosen by the kernel (null hint), of a
        // file we own and sized with ftruncate; no existing memory is affected.
        let ptr = unsafe {
            mmap(
                std::ptr::null_mut(),
                self.len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &self.fd,
                0,
            )?
        };
        Ok(Mapping {
            ptr: NonNull::new(ptr.cast()).expect("mmap never returns null on success"),
            len: self.len,
        })
    }

    /// The fd number, for [`CHILD_FD`].
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// A shared mapping, unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// Start of the mapping (page-aligned).
    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never, for a mapping that succeeded).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we mapped exactly this range and nothing borrows it once
        // the views built on it are gone (tests drop them first).
        let _ = unsafe { munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A child process that is killed and reaped if the test fails before it
/// is waited for.
#[derive(Debug)]
pub struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// Re-executes this test binary to run only the test `test_name`, with
    /// [`CHILD_ROLE`] set to `role` and the memfd passed in [`CHILD_FD`].
    pub fn spawn(test_name: &str, role: &str, shm: &SharedMemory) -> std::io::Result<Self> {
        let child = Command::new(std::env::current_exe()?)
            .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ROLE, role)
            .env(CHILD_FD, shm.raw_fd().to_string())
            .spawn()?;
        Ok(ChildGuard(Some(child)))
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

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The role this process plays, if it is a re-executed child.
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ROLE).ok()
}
