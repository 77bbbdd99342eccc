//! annulus SPSC rings between two processes: one ring per direction.

use annulus::spsc::{ChunkError, Consumer, PopError, Producer, PushError};
use annulus_linux::Futex;
use annulus_linux::named::SpscRing;

use super::shm_name::Unlink;
use super::{Ctx, Measured};
use crate::driver::{self, ClientResult, Link, Patience, ServerResult};
use crate::error::{Result, ctx, fail};
use crate::peer::PeerCtx;

/// Slots per ring.
const CAPACITY: u32 = 1024;

/// How an annulus side waits (shared by the SPSC, message queue and
/// semaphore cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Polls the non-blocking call in a loop.
    Busy,
    /// The blocking call with spin limit 0: straight to the futex.
    Blocking,
    /// The blocking call with its default spin limit.
    Adaptive,
}

impl Mode {
    /// The spin limit to set, if any.
    pub(crate) fn spin_limit(self) -> Option<u32> {
        match self {
            Mode::Blocking => Some(0),
            Mode::Busy | Mode::Adaptive => None,
        }
    }
}

struct SpscLink<'r, 'a> {
    tx: &'r mut Producer<'a, u64, Futex>,
    rx: &'r mut Consumer<'a, u64, Futex>,
    mode: Mode,
    patience: Patience,
}

impl Link for SpscLink<'_, '_> {
    #[inline]
    fn progress(&mut self) {
        self.patience.reset();
    }

    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let mut v = u64::from_ne_bytes(msg[..8].try_into().unwrap_or_default());
        if self.mode != Mode::Busy {
            let timeout = Some(self.patience.timeout());
            return self.tx.push_blocking(v, timeout).map_err(ctx("push"));
        }
        loop {
            match self.tx.push(v) {
                Ok(()) => return Ok(()),
                Err(PushError::Full(back)) => {
                    v = back;
                    self.patience.spin()?;
                }
                Err(e) => return fail(format!("push: {e}")),
            }
        }
    }

    #[inline]
    fn recv(&mut self, msg: &mut [u8]) -> Result<()> {
        let v = if self.mode != Mode::Busy {
            let timeout = Some(self.patience.timeout());
            self.rx.pop_blocking(timeout).map_err(ctx("pop"))?
        } else {
            loop {
                match self.rx.pop() {
                    Ok(v) => break v,
                    Err(PopError::Empty) => self.patience.spin()?,
                    Err(e) => return fail(format!("pop: {e}")),
                }
            }
        };
        msg[..8].copy_from_slice(&v.to_ne_bytes());
        Ok(())
    }
}

/// Creates the rings `a` (to the peer) and `b` (back), with their unlink
/// guards.
fn create(c: &Ctx<'_>) -> Result<([Unlink; 2], SpscRing<u64>, SpscRing<u64>)> {
    let (na, nb) = (c.object_name("a"), c.object_name("b"));
    let guards = [Unlink(na.clone()), Unlink(nb.clone())];
    let a = SpscRing::<u64>::create(&na, CAPACITY).map_err(ctx("create ring"))?;
    let b = SpscRing::<u64>::create(&nb, CAPACITY).map_err(ctx("create ring"))?;
    Ok((guards, a, b))
}

fn open(p: &PeerCtx) -> Result<(SpscRing<u64>, SpscRing<u64>)> {
    let a = SpscRing::<u64>::open(p.param(0)?).map_err(ctx("open ring"))?;
    let b = SpscRing::<u64>::open(p.param(1)?).map_err(ctx("open ring"))?;
    Ok((a, b))
}

fn set_spin<T: annulus::Pod>(
    mode: Mode,
    tx: &mut Producer<'_, T, Futex>,
    rx: &mut Consumer<'_, T, Futex>,
) {
    if let Some(limit) = mode.spin_limit() {
        tx.set_spin_limit(limit);
        rx.set_spin_limit(limit);
    }
}

pub(crate) fn parent(c: &Ctx<'_>, mode: Mode) -> Result<Measured> {
    let (_guards, a, b) = create(c)?;
    let peer = c.spawn(&[a.named().name().to_owned(), b.named().name().to_owned()])?;
    let mut tx = a.producer().map_err(ctx("claim producer"))?;
    let mut rx = b.consumer().map_err(ctx("claim consumer"))?;
    set_spin(mode, &mut tx, &mut rx);
    let mut link = SpscLink {
        tx: &mut tx,
        rx: &mut rx,
        mode,
        patience: c.patience(),
    };
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn peer(p: &PeerCtx, mode: Mode) -> Result<ServerResult> {
    let (a, b) = open(p)?;
    let mut rx = a.consumer().map_err(ctx("claim consumer"))?;
    let mut tx = b.producer().map_err(ctx("claim producer"))?;
    set_spin(mode, &mut tx, &mut rx);
    let mut link = SpscLink {
        tx: &mut tx,
        rx: &mut rx,
        mode,
        patience: Patience::new(p.timeout),
    };
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}

/// Elements per chunk.
const CHUNK: u32 = 64;

pub(crate) fn chunk_parent(c: &Ctx<'_>) -> Result<Measured> {
    let (_guards, a, b) = create(c)?;
    let peer = c.spawn(&[a.named().name().to_owned(), b.named().name().to_owned()])?;
    let mut rx = b.consumer().map_err(ctx("claim consumer"))?;
    let mut patience = c.patience();
    let total = c.plan.messages;
    let mut next = 1u64;
    let mut start = None;
    let mut phase = None;
    let mut before_clock = 0;
    let mut windows = None;
    while next <= total {
        let want = CHUNK.min((total - next + 1) as u32);
        let chunk = match rx.read_chunk(want) {
            Ok(chunk) => chunk,
            Err(ChunkError::TooFewSlots(0)) => {
                patience.spin()?;
                continue;
            }
            Err(ChunkError::TooFewSlots(n)) => rx.read_chunk(n).map_err(ctx("read_chunk"))?,
            Err(e) => return fail(format!("read_chunk: {e}")),
        };
        patience.reset();
        let got = u64::from(chunk.len());
        let (first, second) = chunk.as_slices();
        for &v in first.iter().chain(second) {
            if v != next {
                return fail(format!("element {next} arrived as {v}"));
            }
            next += 1;
        }
        chunk.release_all();
        if let Some(w) = &mut windows {
            crate::driver::Windows::tick(w, got);
        }
        if start.is_none() {
            // The clock starts after the first chunk, as the other cases'
            // after their first message.
            phase = crate::syscalls::start(c.counter);
            let now = std::time::Instant::now();
            start = Some(now);
            windows = Some(crate::driver::Windows::new(now));
            before_clock = next - 1;
        }
    }
    let client = ClientResult {
        stream_time: start.map(|s| s.elapsed()),
        stream_windows: windows.map(|w| w.rates).unwrap_or_default(),
        stream_syscalls: crate::syscalls::stop(phase),
        ..ClientResult::default()
    };
    let mut measured = Measured::new(client, peer.finish()?);
    // Timed: the elements after the first chunk (`messages - 1` of them,
    // as the runner counts).
    measured.messages = total - before_clock + 1;
    Ok(measured)
}

pub(crate) fn chunk_peer(p: &PeerCtx) -> Result<ServerResult> {
    let (_a, b) = open(p)?;
    let mut tx = b.producer().map_err(ctx("claim producer"))?;
    let mut patience = Patience::new(p.timeout);
    let total = p.plan.messages;
    let mut next = 1u64;
    let mut phase = None;
    while next <= total {
        let want = CHUNK.min((total - next + 1) as u32);
        let mut chunk = match tx.write_chunk(want) {
            Ok(chunk) => chunk,
            Err(ChunkError::TooFewSlots(0)) => {
                patience.spin()?;
                continue;
            }
            Err(ChunkError::TooFewSlots(n)) => tx.write_chunk(n).map_err(ctx("write_chunk"))?,
            Err(e) => return fail(format!("write_chunk: {e}")),
        };
        patience.reset();
        let (first, second) = chunk.as_mut_slices();
        for slot in first.iter_mut().chain(second.iter_mut()) {
            *slot = next;
            next += 1;
        }
        chunk.commit_all();
        if phase.is_none() {
            phase = crate::syscalls::start(p.counter.as_ref());
        }
    }
    Ok(ServerResult {
        rtt_syscalls: None,
        stream_syscalls: crate::syscalls::stop(phase),
    })
}
