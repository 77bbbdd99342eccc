//! The benchmark cases: what each one is, and the dispatch to its two sides.
//!
//! A case module offers `parent(&Ctx) -> Result<Measured>`, which creates the
//! objects, starts the peer (a process, or a thread for in-process peers)
//! and runs the client loop, and, for process cases, `peer(&PeerCtx) ->
//! Result<ServerResult>`, the other side.

mod floor;
#[cfg(feature = "iceoryx2")]
mod iceoryx;
mod inproc;
mod kernel;
mod list;
mod mpmc;
mod mq;
mod posix;
mod shm_name;
mod spsc;
mod stream;

pub use list::{CASES, CaseId, CaseInfo, Group};

use crate::config::Config;
use crate::driver::{ClientResult, Patience, Plan, ServerResult};
use crate::error::{Result, fail};
use crate::peer::{Peer, PeerCtx, PeerReport};
use crate::syscalls::SyscallCounter;
use CaseId as C;

/// What the parent side of a case gets.
pub(crate) struct Ctx<'a> {
    pub(crate) config: &'a Config,
    pub(crate) info: &'static CaseInfo,
    /// This process's CPU and the peer's.
    pub(crate) cpus: Option<[usize; 2]>,
    pub(crate) plan: Plan,
    pub(crate) counter: Option<&'a SyscallCounter>,
}

impl Ctx<'_> {
    /// A name for a shared object of this case, unique to this run.
    pub(crate) fn object_name(&self, suffix: &str) -> String {
        format!("bench-{}-{}-{suffix}", std::process::id(), self.info.name)
    }

    /// Starts the peer process with the case's `params`.
    pub(crate) fn spawn(&self, params: &[String]) -> Result<Peer> {
        Peer::spawn(
            self.config,
            self.info.id,
            self.cpus.map(|c| c[1]),
            &self.plan,
            params,
        )
    }

    /// A bound for busy loops and timeouts of this case.
    pub(crate) fn patience(&self) -> Patience {
        Patience::new(self.config.case_timeout)
    }
}

/// What the parent side of a case measured, with the peer's report.
#[derive(Debug, Default)]
pub(crate) struct Measured {
    pub(crate) client: ClientResult,
    pub(crate) peer: PeerReport,
    /// Messages the throughput figure counts (0: take the plan's).
    pub(crate) messages: u64,
}

impl Measured {
    pub(crate) fn new(client: ClientResult, peer: PeerReport) -> Measured {
        Measured {
            client,
            peer,
            messages: 0,
        }
    }
}

/// The case's result from the client's: when the client failed, the
/// peer's own error (it usually failed first) is added.
pub(crate) fn conclude(client: Result<ClientResult>, peer: Peer) -> Result<Measured> {
    match client {
        Ok(client) => Ok(Measured::new(client, peer.finish()?)),
        Err(e) => match peer.finish_within(std::time::Duration::from_secs(2)) {
            Err(pe) => Err(crate::error::BenchError::new(format!("{e}; peer: {pe}"))),
            Ok(_) => Err(e),
        },
    }
}

/// Runs `work` while a watchdog thread checks every 100 ms that process
/// `pid` is alive; if it dies (or `timeout` passes) first, the watchdog
/// calls `unstick`, which must make `work` return.
pub(crate) fn watchdog<R>(
    pid: u32,
    timeout: std::time::Duration,
    unstick: impl FnOnce() + Send,
    work: impl FnOnce() -> R,
) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let deadline = std::time::Instant::now() + timeout;
            // Relaxed: a flag polled for termination; nothing is published.
            while !done.load(Ordering::Relaxed) {
                if !process_alive(pid) || std::time::Instant::now() > deadline {
                    unstick();
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        let result = work();
        done.store(true, Ordering::Relaxed);
        result
    })
}

/// Whether process `pid` exists and has not exited (a zombie has).
fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Runs the parent side of `id`.
pub(crate) fn run_parent(id: CaseId, ctx: &Ctx<'_>) -> Result<Measured> {
    match id {
        C::FloorAtomic => floor::parent(ctx, floor::Kind::Spin),
        C::FloorFutex => floor::parent(ctx, floor::Kind::Futex),
        C::SpscBusy => spsc::parent(ctx, spsc::Mode::Busy),
        C::SpscBlocking => spsc::parent(ctx, spsc::Mode::Blocking),
        C::SpscAdaptive => spsc::parent(ctx, spsc::Mode::Adaptive),
        C::SpscChunk => spsc::chunk_parent(ctx),
        C::Mpmc1p1c => mpmc::parent(ctx),
        C::Mpmc2p2c => mpmc::parent_2p2c(ctx),
        C::MqBusy => mq::parent(ctx, spsc::Mode::Busy),
        C::MqBlocking => mq::parent(ctx, spsc::Mode::Blocking),
        C::SemBusy => mq::sem_parent(ctx, spsc::Mode::Busy),
        C::SemBlocking => mq::sem_parent(ctx, spsc::Mode::Blocking),
        C::Stream8 | C::Stream4k | C::Stream64k => stream::parent(ctx),
        C::Pipe8 | C::Pipe4k | C::Pipe64k => kernel::pipe_parent(ctx),
        C::Unix8 | C::Unix4k | C::Unix64k => kernel::unix_parent(ctx),
        C::Eventfd => kernel::eventfd_parent(ctx),
        C::Fifo => kernel::fifo_parent(ctx),
        C::PosixMq => posix::mq_parent(ctx),
        C::SysvSem => posix::sem_parent(ctx),
        #[cfg(feature = "iceoryx2")]
        C::Iceoryx2 => iceoryx::parent(ctx),
        C::Rtrb => inproc::rtrb(ctx),
        C::ArrayQueue => inproc::array_queue(ctx),
        C::HeaplessSpsc => inproc::heapless(ctx),
    }
}

/// Runs the peer side of `id` in the peer process.
pub(crate) fn run_peer(id: CaseId, ctx: &PeerCtx) -> Result<ServerResult> {
    match id {
        C::FloorAtomic => floor::peer(ctx, floor::Kind::Spin),
        C::FloorFutex => floor::peer(ctx, floor::Kind::Futex),
        C::SpscBusy => spsc::peer(ctx, spsc::Mode::Busy),
        C::SpscBlocking => spsc::peer(ctx, spsc::Mode::Blocking),
        C::SpscAdaptive => spsc::peer(ctx, spsc::Mode::Adaptive),
        C::SpscChunk => spsc::chunk_peer(ctx),
        C::Mpmc1p1c => mpmc::peer(ctx),
        C::Mpmc2p2c => mpmc::peer_2p2c(ctx),
        C::MqBusy => mq::peer(ctx, spsc::Mode::Busy),
        C::MqBlocking => mq::peer(ctx, spsc::Mode::Blocking),
        C::SemBusy => mq::sem_peer(ctx, spsc::Mode::Busy),
        C::SemBlocking => mq::sem_peer(ctx, spsc::Mode::Blocking),
        C::Stream8 | C::Stream4k | C::Stream64k => stream::peer(ctx),
        C::Pipe8 | C::Pipe4k | C::Pipe64k | C::Unix8 | C::Unix4k | C::Unix64k => {
            kernel::fd_pair_peer(ctx)
        }
        C::Eventfd => kernel::eventfd_peer(ctx),
        C::Fifo => kernel::fifo_peer(ctx),
        C::PosixMq => posix::mq_peer(ctx),
        C::SysvSem => posix::sem_peer(ctx),
        #[cfg(feature = "iceoryx2")]
        C::Iceoryx2 => iceoryx::peer(ctx),
        C::Rtrb | C::ArrayQueue | C::HeaplessSpsc => fail("an in-process case has no peer process"),
    }
}
