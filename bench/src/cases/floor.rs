//! The floors: what two processes pay to pass a word through shared memory
//! with nothing else, spinning (the hardware's cache-line transfer) or
//! sleeping on a raw futex (the kernel's cheapest wake-up).

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use annulus_linux::{Mapping, SharedMemory};
use rustix::thread::futex;

use super::shm_name::Unlink;
use super::{Ctx, Measured};
use crate::driver::{self, Link, Patience, ServerResult};
use crate::error::{Result, ctx, fail};
use crate::peer::PeerCtx;

/// How a side waits for the other's word to change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Spin on the word.
    Spin,
    /// Sleep on the word with FUTEX_WAIT; the writer always calls FUTEX_WAKE.
    Futex,
}

/// Bytes mapped: two words, 128 bytes apart (separate cache lines, and
/// separate adjacent-line prefetch pairs).
const LEN: usize = 4096;
const A: usize = 0;
const B: usize = 128;

fn word(map: &Mapping, offset: usize) -> &AtomicU32 {
    debug_assert!(offset + 4 <= map.len());
    // SAFETY: the mapping is page-aligned and at least LEN bytes, so the
    // word is in bounds and 4-aligned; it lives as long as `map`; both
    // processes access it only through atomics.
    unsafe { &*map.ptr().as_ptr().add(offset).cast::<AtomicU32>() }
}

struct FloorLink<'m> {
    tx: &'m AtomicU32,
    rx: &'m AtomicU32,
    last: u32,
    kind: Kind,
    patience: Patience,
}

impl Link for FloorLink<'_> {
    #[inline]
    fn progress(&mut self) {
        self.patience.reset();
    }

    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let v = u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]);
        // Release: the receiver's Acquire load sees the value (nothing
        // else is published, but a real queue would need it).
        self.tx.store(v, Ordering::Release);
        if self.kind == Kind::Futex {
            futex::wake(self.tx, futex::Flags::empty(), 1).map_err(ctx("futex wake"))?;
        }
        Ok(())
    }

    #[inline]
    fn recv(&mut self, msg: &mut [u8]) -> Result<()> {
        loop {
            let v = self.rx.load(Ordering::Acquire);
            if v != self.last {
                self.last = v;
                msg[..8].copy_from_slice(&u64::from(v).to_ne_bytes());
                return Ok(());
            }
            match self.kind {
                Kind::Spin => self.patience.spin()?,
                Kind::Futex => {
                    let timeout = self.patience.timeout();
                    let limit = rustix::time::Timespec {
                        tv_sec: timeout.as_secs() as _,
                        tv_nsec: timeout.subsec_nanos() as _,
                    };
                    // EAGAIN (changed meanwhile) and EINTR mean: look again.
                    let waited = futex::wait(self.rx, futex::Flags::empty(), v, Some(&limit));
                    if waited == Err(rustix::io::Errno::TIMEDOUT) {
                        return fail("the peer stopped answering (timed out)");
                    }
                }
            }
        }
    }
}

pub(crate) fn parent(c: &Ctx<'_>, kind: Kind) -> Result<Measured> {
    let name = c.object_name("w");
    let shm = SharedMemory::create(&name, LEN, 0o600).map_err(ctx("shm create"))?;
    let _unlink = Unlink(name.clone());
    let map = shm.map().map_err(ctx("mmap"))?;
    let peer = c.spawn(&[name])?;
    let mut link = FloorLink {
        tx: word(&map, A),
        rx: word(&map, B),
        last: 0,
        kind,
        patience: c.patience(),
    };
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn peer(p: &PeerCtx, kind: Kind) -> Result<ServerResult> {
    let shm = SharedMemory::open(p.param(0)?, 0o600, LEN).map_err(ctx("shm open"))?;
    let map = shm.map().map_err(ctx("mmap"))?;
    let mut link = FloorLink {
        tx: word(&map, B),
        rx: word(&map, A),
        last: 0,
        kind,
        patience: Patience::new(p.timeout),
    };
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}
