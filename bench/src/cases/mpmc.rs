//! annulus MPMC rings between two processes: 1P1C ping-pong and stream, and
//! a 2P2C stream (two sender threads in the peer, two receiver threads
//! here).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use annulus::mpmc::{PopError, PopTimeoutError, PushError, Receiver, Sender};
use annulus_linux::Futex;
use annulus_linux::named::MpmcRing;

use super::shm_name::Unlink;
use super::{Ctx, Measured};
use crate::driver::{self, ClientResult, Link, Patience, ServerResult};
use crate::error::{BenchError, Result, ctx, fail};
use crate::peer::PeerCtx;
use crate::syscalls::{self, SyscallCounter};

const CAPACITY: u32 = 1024;
const PARTICIPANTS: u32 = 8;

struct MpmcLink<'r, 'a> {
    tx: &'r mut Sender<'a, u64, Futex>,
    rx: &'r mut Receiver<'a, u64, Futex>,
    patience: Patience,
}

impl Link for MpmcLink<'_, '_> {
    #[inline]
    fn progress(&mut self) {
        self.patience.reset();
    }

    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let mut v = u64::from_ne_bytes(msg[..8].try_into().unwrap_or_default());
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
        loop {
            match self.rx.pop() {
                Ok(v) => {
                    msg[..8].copy_from_slice(&v.to_ne_bytes());
                    return Ok(());
                }
                Err(PopError::Empty) => self.patience.spin()?,
                Err(e) => return fail(format!("pop: {e}")),
            }
        }
    }
}

fn create(c: &Ctx<'_>, suffix: &str) -> Result<(Unlink, MpmcRing<u64>)> {
    let name = c.object_name(suffix);
    let guard = Unlink(name.clone());
    let ring =
        MpmcRing::<u64>::create(&name, CAPACITY, PARTICIPANTS).map_err(ctx("create ring"))?;
    Ok((guard, ring))
}

fn open(name: &str) -> Result<MpmcRing<u64>> {
    MpmcRing::<u64>::open(name).map_err(ctx("open ring"))
}

pub(crate) fn parent(c: &Ctx<'_>) -> Result<Measured> {
    let (_ga, a) = create(c, "a")?;
    let (_gb, b) = create(c, "b")?;
    let peer = c.spawn(&[a.named().name().to_owned(), b.named().name().to_owned()])?;
    let mut tx = a.sender().map_err(ctx("register sender"))?;
    let mut rx = b.receiver().map_err(ctx("register receiver"))?;
    let mut link = MpmcLink {
        tx: &mut tx,
        rx: &mut rx,
        patience: c.patience(),
    };
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn peer(p: &PeerCtx) -> Result<ServerResult> {
    let (a, b) = (open(p.param(0)?)?, open(p.param(1)?)?);
    let mut rx = a.receiver().map_err(ctx("register receiver"))?;
    let mut tx = b.sender().map_err(ctx("register sender"))?;
    let mut link = MpmcLink {
        tx: &mut tx,
        rx: &mut rx,
        patience: Patience::new(p.timeout),
    };
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}

/// Threads per side in the 2P2C case.
const THREADS: u64 = 2;

/// What one receiving thread saw: when its first message came, when it
/// stopped, its system calls after the first message.
type Seen = (Option<Instant>, Instant, Option<u64>);

pub(crate) fn parent_2p2c(c: &Ctx<'_>) -> Result<Measured> {
    let (_g, ring) = create(c, "a")?;
    let peer = c.spawn(&[ring.named().name().to_owned()])?;
    let total = c.plan.messages;
    let received = AtomicU32::new(0);
    let timeout = c.config.case_timeout;
    let seen: Vec<Result<Seen>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| s.spawn(|| receive_share(&ring, &received, total, timeout)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| fail("receiver thread panicked"))
            })
            .collect()
    });
    let seen: Vec<Seen> = seen.into_iter().collect::<Result<_>>()?;
    let first = seen.iter().filter_map(|s| s.0).min();
    let last = seen.iter().map(|s| s.1).max();
    let syscalls = seen.iter().map(|s| s.2).sum::<Option<u64>>();
    let client = ClientResult {
        stream_time: first.zip(last).map(|(f, l)| l.saturating_duration_since(f)),
        stream_syscalls: syscalls,
        ..ClientResult::default()
    };
    let mut measured = Measured::new(client, peer.finish()?);
    measured.messages = total;
    Ok(measured)
}

/// One receiving thread: takes messages until all `total` have arrived.
fn receive_share(
    ring: &MpmcRing<u64>,
    received: &AtomicU32,
    total: u64,
    timeout: Duration,
) -> Result<Seen> {
    let mut rx = ring.receiver().map_err(ctx("register receiver"))?;
    let counter = SyscallCounter::open();
    let deadline = Instant::now() + timeout;
    let mut first = None;
    let mut phase = None;
    // Relaxed: a count; the messages themselves come through the ring.
    while u64::from(received.load(Ordering::Relaxed)) < total {
        match rx.pop_blocking(Some(Duration::from_millis(1))) {
            Ok(_) => {
                if first.is_none() {
                    first = Some(Instant::now());
                    phase = syscalls::start(counter.as_ref());
                }
                received.fetch_add(1, Ordering::Relaxed);
            }
            Err(PopTimeoutError::Timeout | PopTimeoutError::Disconnected) => {
                if Instant::now() > deadline {
                    return fail("the senders stopped (timed out)");
                }
            }
            Err(e) => return Err(BenchError::new(format!("pop: {e}"))),
        }
    }
    Ok((first, Instant::now(), syscalls::stop(phase)))
}

pub(crate) fn peer_2p2c(p: &PeerCtx) -> Result<ServerResult> {
    let ring = open(p.param(0)?)?;
    let share = p.plan.messages / THREADS;
    let extra = p.plan.messages % THREADS;
    let results: Vec<Result<Option<u64>>> = std::thread::scope(|s| {
        let ring = &ring;
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let n = share + if t == 0 { extra } else { 0 };
                s.spawn(move || send_share(ring, n, p.timeout))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| fail("sender thread panicked")))
            .collect()
    });
    let counts: Vec<Option<u64>> = results.into_iter().collect::<Result<_>>()?;
    Ok(ServerResult {
        rtt_syscalls: None,
        stream_syscalls: counts.into_iter().sum(),
    })
}

fn send_share(ring: &MpmcRing<u64>, n: u64, timeout: Duration) -> Result<Option<u64>> {
    let mut tx = ring.sender().map_err(ctx("register sender"))?;
    let counter = SyscallCounter::open();
    let phase = syscalls::start(counter.as_ref());
    for i in 0..n {
        tx.push_blocking(i, Some(timeout)).map_err(ctx("push"))?;
    }
    Ok(syscalls::stop(phase))
}
