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
        for i in 2..=plan.messages {
            link.recv(&mut back)?;
            check::<L>(&back, i)?;
        }
        result.stream_time = Some(t0.elapsed());
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
    }
    let phase = syscalls::start(counter);
    for _ in 0..plan.rounds {
        link.recv(&mut msg)?;
        link.send(&msg)?;
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
        }
        stream_syscalls = syscalls::stop(phase);
    }
    Ok(ServerResult {
        rtt_syscalls,
        stream_syscalls,
    })
}

/// A busy-wait loop's bound: spins freely, and every 2^16 spins checks the
/// case's deadline, so a dead peer ends the case instead of hanging it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Patience {
    deadline: Instant,
    timeout: Duration,
    spins: u32,
}

impl Patience {
    /// Patience until `timeout` from now.
    pub(crate) fn new(timeout: Duration) -> Patience {
        Patience {
            deadline: Instant::now() + timeout,
            timeout,
            spins: 0,
        }
    }

    /// One failed poll: a spin hint, and an error once the deadline passed.
    #[inline]
    pub(crate) fn spin(&mut self) -> Result<()> {
        self.spins = self.spins.wrapping_add(1);
        if self.spins & 0xffff == 0 && Instant::now() > self.deadline {
            return Err(BenchError::new("the peer stopped answering (timed out)"));
        }
        std::hint::spin_loop();
        Ok(())
    }

    /// Time left, for blocking calls that take a timeout.
    pub(crate) fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The whole timeout, for a blocking call on a fast path, where reading
    /// the clock for [`Patience::remaining`] would be measured too.
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
    fn patience_runs_out() {
        let mut p = Patience::new(Duration::ZERO);
        let failed = (0..0x20000).any(|_| p.spin().is_err());
        assert!(failed);
    }
}
