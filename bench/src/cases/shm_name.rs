//! Names of annulus objects in `/dev/shm`, removed when the case ends.

use annulus_linux::SharedMemory;

/// Unlinks the annulus object `name` when dropped (whether or not the case
/// got as far as creating it).
#[derive(Debug)]
pub(crate) struct Unlink(pub(crate) String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = SharedMemory::unlink(&self.0);
    }
}
