//! The measurement loops every case shares: a ping-pong client and its echo
//! server, then a one-way stream from the server to the client.
//!
//! A case supplies a [`Link`] for each side; the loops are generic over it,
//! so each case's sends and receives are inlined into them.

use std::time::{Duration, Instant};

use crate::error::{BenchError, Result, fail};
use crate::syscalls::{self, SyscallCounter};

/// One side of a two-way connection between the processes (or threads).
pub(crate) trait Link {
    /// Whether the bytes of a message arrive (false for counters: eventfd,
    /// semaphores), so the loops can check them.
    const PAYLOAD: bool = true;

    /// Sends one message of `msg.len()` bytes, waiting while there is no room.
    fn send(&mut self, msg: &[u8]) -> Result<()>;

    /// Receives one message of `msg.len()` bytes, waiting until it arrives.
    fn recv(&mut self, msg: &mut [u8]) -> Result<()>;

    /// An operation completed: restarts the link's wait bound.
    #[inline]
    fn progress(&mut self) {}
}

/// How much each phase does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Unmeasured round trips first.
    pub(crate) warmup: u32,
    /// Measured round trips.
    pub(crate) rounds: u32,
    /// Messages of the one-way phase (0: no such phase).
    pub(crate) messages: u64,
    /// Bytes per message, at least 8.
    pub(crate) size: usize,
}

/// What the client measured.
#[derive(Debug, Default)]
pub(crate) struct ClientResult {
    /// Round-trip times, nanoseconds.
    pub(crate) rtt_ns: Vec<u64>,
    /// The client's system calls during the measured round trips.
    pub(crate) rtt_syscalls: Option<u64>,
    /// From the first to the last message of the one-way phase.
    pub(crate) stream_time: Option<Duration>,
    /// Message rates of consecutive windows of the one-way phase.
    pub(crate) stream_windows: Vec<f64>,
    /// The client's system calls during the one-way phase.
    pub(crate) stream_syscalls: Option<u64>,
}

/// What the server counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerResult {
    /// The server's system calls during the measured round trips.
    pub(crate) rtt_syscalls: Option<u64>,
    /// The server's system calls during the one-way phase.
    pub(crate) stream_syscalls: Option<u64>,
}

/// Writes sequence number `seq` into the first 8 bytes of `msg`.
#[inline]
fn stamp(msg: &mut [u8], seq: u64) {
    msg[..8].copy_from_slice(&seq.to_ne_bytes());
}

#[inline]
fn seq_of(msg: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&msg[..8]);
    u64::from_ne_bytes(b)
}

#[inline]
fn check<L: Link>(msg: &[u8], want: u64) -> Result<()> {
    if L::PAYLOAD && seq_of(msg) != want {
        return fail(format!(
            "message {want} arrived as {}: the link lost or reordered data",
            seq_of(msg)
        ));
    }
    Ok(())
}

/// The measuring side: sends, waits for the echo, and times each round
/// trip; then receives the server's one-way stream.
pub(crate) fn client<L: Link>(
    link: &mut L,
    plan: &Plan,
    counter: Option<&SyscallCounter>,
) -> Result<ClientResult> {
    let mut out = vec![0u8; plan.size];
    let mut back = vec![0u8; plan.size];
    let mut seq = 0u64;
    for _ in 0..plan.warmup {
        seq += 1;
        stamp(&mut out, seq);
        link.send(&out)?;
        link.recv(&mut back)?;
        link.progress();
        check::<L>(&back, seq)?;
    }
    let mut rtt_ns = Vec::with_capacity(plan.rounds as usize);
    let phase = syscalls::start(counter);
    for _ in 0..plan.rounds {
        seq += 1;
        stamp(&mut out, seq);
        let t0 = Instant::now();
        link.send(&out)?;
        link.recv(&mut back)?;
        rtt_ns.push(t0.elapsed().as_nanos() as u64);
        link.progress();
        check::<L>(&back, seq)?;
    }
    let rtt_syscalls = syscalls::stop(phase);
    let mut result = ClientResult {
        rtt_ns,
        rtt_syscalls,
        ..ClientResult::default()
    };
    if plan.messages > 0 {
        link.recv(&mut back)?;
        check::<L>(&back, 1)?;
        let phase = syscalls::start(counter);
        let t0 = Instant::now();
        let mut windows = Windows::new(t0);
        for i in 2..=plan.messages {
            link.recv(&mut back)?;
            link.progress();
            check::<L>(&back, i)?;
            windows.tick(1);
        }
        result.stream_time = Some(t0.elapsed());
        result.stream_windows = windows.rates;
        result.stream_syscalls = syscalls::stop(phase);
    }
    Ok(result)
}

/// The echoing side: returns each message, then streams `plan.messages`.
pub(crate) fn server<L: Link>(
    link: &mut L,
    plan: &Plan,
    counter: Option<&SyscallCounter>,
) -> Result<ServerResult> {
    let mut msg = vec![0u8; plan.size];
    for _ in 0..plan.warmup {
        link.recv(&mut msg)?;
        link.send(&msg)?;
        link.progress();
    }
    let phase = syscalls::start(counter);
    for _ in 0..plan.rounds {
        link.recv(&mut msg)?;
        link.send(&msg)?;
        link.progress();
    }
    let rtt_syscalls = syscalls::stop(phase);
    let mut stream_syscalls = None;
    if plan.messages > 0 {
        // The first message is outside the client's measured window.
        stamp(&mut msg, 1);
        link.send(&msg)?;
        let phase = syscalls::start(counter);
        for i in 2..=plan.messages {
            stamp(&mut msg, i);
            link.send(&msg)?;
            link.progress();
        }
        stream_syscalls = syscalls::stop(phase);
    }
    Ok(ServerResult {
        rtt_syscalls,
        stream_syscalls,
    })
}

/// Messages per throughput window.
pub(crate) const WINDOW: u64 = 4096;

/// The one-way phase cut into windows of about [`WINDOW`] messages, each
/// timed on its own: on a busy machine a window in which either side was
/// preempted is slow, and the median window rate leaves those out where the
/// mean over the whole phase cannot.
#[derive(Debug)]
pub(crate) struct Windows {
    start: Instant,
    count: u64,
    pub(crate) rates: Vec<f64>,
}

impl Windows {
    pub(crate) fn new(start: Instant) -> Windows {
        Windows {
            start,
            count: 0,
            rates: Vec::new(),
        }
    }

    /// `n` more messages arrived.
    #[inline]
    pub(crate) fn tick(&mut self, n: u64) {
        self.count += n;
        if self.count >= WINDOW {
            let now = Instant::now();
            let secs = now.duration_since(self.start).as_secs_f64();
            if secs > 0.0 {
                self.rates.push(self.count as f64 / secs);
            }
            self.start = now;
            self.count = 0;
        }
    }
}

/// A busy-wait loop's bound: spins freely, and once a wait has lasted
/// 2^16 spins, checks the clock every 2^16 spins, so a dead peer ends the
/// case after `timeout` of waiting instead of hanging it. The loops call
/// [`Patience::reset`] (through [`Link::progress`]) after each operation, so
/// the bound is on one wait, not on the whole case.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Patience {
    timeout: Duration,
    spins: u64,
    since: Instant,
}

/// Spins between two looks at the clock.
const CHECK_EVERY: u64 = 1 << 16;

impl Patience {
    /// Patience of `timeout` per wait.
    pub(crate) fn new(timeout: Duration) -> Patience {
        Patience {
            timeout,
            spins: 0,
            since: Instant::now(),
        }
    }

    /// One failed poll: a spin hint, and an error once this wait has lasted
    /// longer than the timeout.
    #[inline]
    pub(crate) fn spin(&mut self) -> Result<()> {
        self.spins += 1;
        if self.spins % CHECK_EVERY == 0 {
            self.check()?;
        }
        std::hint::spin_loop();
        Ok(())
    }

    #[cold]
    fn check(&mut self) -> Result<()> {
        let now = Instant::now();
        if self.spins == CHECK_EVERY {
            // A long wait starts being timed here.
            self.since = now;
        } else if now.duration_since(self.since) > self.timeout {
            return Err(BenchError::new("the peer stopped answering (timed out)"));
        }
        Ok(())
    }

    /// An operation completed: the next wait starts afresh.
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.spins = 0;
    }

    /// The timeout of one blocking call.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A link over two in-memory queues, for checking the loops.
    struct Loopback {
        to_peer: VecDeque<Vec<u8>>,
        corrupt_at: Option<u64>,
    }

    impl Link for Loopback {
        fn send(&mut self, msg: &[u8]) -> Result<()> {
            let mut m = msg.to_vec();
            if Some(seq_of(&m)) == self.corrupt_at {
                stamp(&mut m, 0);
            }
            self.to_peer.push_back(m);
            Ok(())
        }
        fn recv(&mut self, msg: &mut [u8]) -> Result<()> {
            let m = self.to_peer.pop_front().ok_or(BenchError::new("empty"))?;
            msg.copy_from_slice(&m);
            Ok(())
        }
    }

    #[test]
    fn the_client_times_every_round_and_checks_order() {
        let plan = Plan {
            warmup: 3,
            rounds: 10,
            messages: 0,
            size: 16,
        };
        let mut link = Loopback {
            to_peer: VecDeque::new(),
            corrupt_at: None,
        };
        let r = client(&mut link, &plan, None).unwrap();
        assert_eq!(r.rtt_ns.len(), 10);
        assert!(r.stream_time.is_none());
        link.corrupt_at = Some(5);
        let err = client(&mut link, &plan, None).unwrap_err();
        assert!(err.message().contains("lost or reordered"), "{err}");
    }

    #[test]
    fn patience_runs_out_within_one_wait_only() {
        let mut p = Patience::new(Duration::ZERO);
        let failed = (0..3 * CHECK_EVERY).any(|_| p.spin().is_err());
        assert!(failed);
        // Waits that end before the first check never time out.
        let mut p = Patience::new(Duration::ZERO);
        for _ in 0..4 {
            assert!((0..CHECK_EVERY - 1).all(|_| p.spin().is_ok()));
            p.reset();
        }
    }
}
