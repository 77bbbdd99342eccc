//! Helpers for the loom models in `tests/`: a futex model that implements
//! [`annulus::wait::Wait`] on loom's `Mutex` and `Condvar`, and heap regions
//! (an SPSC ring, an MPMC ring, a frame ring) whose handles can be moved into
//! `loom::thread::spawn`.
//!
//! Everything here exists only under `--cfg loom`; without it the crate is
//! empty, so `cargo test --workspace` builds it and runs nothing. Run the
//! models with
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
//!     cargo test -p loom-tests --release
//! ```

#[cfg(loom)]
mod frame_ring;
#[cfg(loom)]
mod futex;
#[cfg(loom)]
mod held;
#[cfg(loom)]
mod mpmc_ring;
#[cfg(loom)]
mod mq;
#[cfg(loom)]
mod ring;

#[cfg(loom)]
pub use frame_ring::{LoomFrameReader, LoomFrameRing, LoomFrameWriter};
#[cfg(loom)]
pub use futex::LoomWait;
#[cfg(loom)]
pub use held::Held;
#[cfg(loom)]
pub use mpmc_ring::{LoomMpmc, LoomReceiver, LoomSender};
#[cfg(loom)]
pub use mq::{LoomEndpoint, LoomMq};
#[cfg(loom)]
pub use ring::{LoomConsumer, LoomProducer, LoomRing};
