//! Runnable examples live beside this crate: `cargo run -p annulus-examples --example NAME`.
//!
//! This library holds what the multi-process examples share: starting a peer
//! by re-executing the example with a role argument, and names that are
//! removed from `/dev/shm` when the example ends, even by a panic.

use std::process::{Child, Command};

use annulus_linux::SharedMemory;

/// A name for this run's objects (`example-<tag>-<pid>`), unlinked on drop.
#[derive(Debug)]
pub struct ExampleName(String);

impl ExampleName {
    /// A fresh name; no object is made.
    pub fn new(tag: &str) -> Self {
        ExampleName(format!("example-{tag}-{}", std::process::id()))
    }

    /// A second name beside this one, `<name>-<suffix>`, also unlinked on
    /// drop: for an example's second object.
    pub fn derived(&self, suffix: &str) -> Self {
        ExampleName(format!("{}-{suffix}", self.0))
    }

    /// The name, to create the object under and pass to peers.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for ExampleName {
    fn drop(&mut self) {
        let _ = SharedMemory::unlink(&self.0);
    }
}

/// A peer process: this example re-executed with `args`; killed and reaped
/// if dropped before [`Peer::wait`].
#[derive(Debug)]
pub struct Peer(Option<Child>);

impl Peer {
    /// Starts `current_exe args...`.
    ///
    /// # Panics
    ///
    /// If the process cannot be started (an example's way to fail).
    pub fn spawn(args: &[&str]) -> Peer {
        let exe = std::env::current_exe().expect("this example's path");
        Peer(Some(
            Command::new(exe).args(args).spawn().expect("start a peer"),
        ))
    }

    /// The peer's pid.
    pub fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// Waits for the peer and checks that it succeeded.
    ///
    /// # Panics
    ///
    /// If it failed.
    pub fn wait(mut self) {
        let status = self.0.take().expect("waited once").wait().expect("wait");
        assert!(status.success(), "peer failed: {status}");
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
