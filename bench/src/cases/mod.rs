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
mod mpmc;
mod mq;
mod posix;
mod shm_name;
mod spsc;
mod stream;

use crate::config::Config;
use crate::driver::{ClientResult, Patience, Plan, ServerResult};
use crate::error::{Result, fail};
use crate::peer::{Peer, PeerCtx, PeerReport};
use crate::syscalls::SyscallCounter;

/// What a case is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    /// The hardware and kernel floors: the least any IPC can cost.
    Floor,
    /// annulus itself.
    Annulus,
    /// The kernel's IPC mechanisms.
    Kernel,
    /// Rust rings between two threads of one process.
    InProcess,
    /// Other shared-memory IPC between two processes.
    SharedMemory,
}

/// A benchmark case, by name. See [`CASES`] for what each one measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CaseId {
    /// Two processes spinning on one atomic per direction.
    FloorAtomic,
    /// Two processes waking each other with a raw futex per direction.
    FloorFutex,
    /// annulus SPSC, busy polling.
    SpscBusy,
    /// annulus SPSC, blocking on the futex at once.
    SpscBlocking,
    /// annulus SPSC, spinning then sleeping (the default blocking calls).
    SpscAdaptive,
    /// annulus SPSC, chunk (zero-copy) API, throughput only.
    SpscChunk,
    /// annulus MPMC, one sender and one receiver, busy polling.
    Mpmc1p1c,
    /// annulus MPMC, two senders and two receivers, throughput only.
    Mpmc2p2c,
    /// annulus message queue, busy polling.
    MqBusy,
    /// annulus message queue, blocking on the futex at once.
    MqBlocking,
    /// annulus semaphores, busy polling.
    SemBusy,
    /// annulus semaphores, blocking on the futex at once.
    SemBlocking,
    /// annulus byte stream, 8-byte writes.
    Stream8,
    /// annulus byte stream, 4 KiB writes.
    Stream4k,
    /// annulus byte stream, 64 KiB writes.
    Stream64k,
    /// A pipe, 8-byte writes.
    Pipe8,
    /// A pipe, 4 KiB writes.
    Pipe4k,
    /// A pipe (1 MiB buffer), 64 KiB writes.
    Pipe64k,
    /// A unix stream socket pair, 8-byte writes.
    Unix8,
    /// A unix stream socket pair, 4 KiB writes.
    Unix4k,
    /// A unix stream socket pair, 64 KiB writes.
    Unix64k,
    /// Two eventfds in semaphore mode.
    Eventfd,
    /// Two FIFOs.
    Fifo,
    /// Two POSIX message queues.
    PosixMq,
    /// A System V semaphore set of two.
    SysvSem,
    /// rtrb between two threads.
    Rtrb,
    /// crossbeam's ArrayQueue between two threads.
    ArrayQueue,
    /// heapless's SPSC queue between two threads.
    HeaplessSpsc,
    /// iceoryx2 publish-subscribe between two processes (feature `iceoryx2`).
    #[cfg(feature = "iceoryx2")]
    Iceoryx2,
}

/// A case's description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaseInfo {
    /// The case.
    pub id: CaseId,
    /// Its name on the command line and in the report.
    pub name: &'static str,
    /// What it is compared with.
    pub group: Group,
    /// One line on what it measures.
    pub what: &'static str,
    /// Bytes per message.
    pub size: usize,
    /// Whether it sleeps in the kernel on every message (a tenth of the
    /// throughput messages).
    pub slow: bool,
    /// Whether it has a round-trip phase.
    pub round_trips: bool,
    /// Whether it has a one-way throughput phase.
    pub throughput: bool,
}

const fn case(
    id: CaseId,
    name: &'static str,
    group: Group,
    size: usize,
    slow: bool,
    what: &'static str,
) -> CaseInfo {
    CaseInfo {
        id,
        name,
        group,
        what,
        size,
        slow,
        round_trips: true,
        throughput: true,
    }
}

const fn no_rtt(c: CaseInfo) -> CaseInfo {
    CaseInfo {
        round_trips: false,
        ..c
    }
}

const fn no_stream(c: CaseInfo) -> CaseInfo {
    CaseInfo {
        throughput: false,
        ..c
    }
}

use CaseId as C;
#[cfg(feature = "iceoryx2")]
use Group::SharedMemory;
use Group::{Annulus, Floor, InProcess, Kernel};

/// Every case, in report order. All run between two processes pinned to two
/// CPUs, except the [`Group::InProcess`] ones (two pinned threads).
pub const CASES: &[CaseInfo] = &[
    no_stream(case(
        C::FloorAtomic,
        "floor-atomic",
        Floor,
        8,
        false,
        "two processes spin on one atomic per direction in shared memory",
    )),
    no_stream(case(
        C::FloorFutex,
        "floor-futex",
        Floor,
        8,
        true,
        "an atomic per direction, FUTEX_WAIT while unchanged, FUTEX_WAKE after every store",
    )),
    case(
        C::SpscBusy,
        "spsc-busy",
        Annulus,
        8,
        false,
        "SPSC ring of u64, push/pop polled in a loop",
    ),
    case(
        C::SpscBlocking,
        "spsc-blocking",
        Annulus,
        8,
        true,
        "SPSC ring, push_blocking/pop_blocking with spin limit 0 (futex at once)",
    ),
    case(
        C::SpscAdaptive,
        "spsc-adaptive",
        Annulus,
        8,
        false,
        "SPSC ring, push_blocking/pop_blocking with the default spin limit",
    ),
    no_rtt(case(
        C::SpscChunk,
        "spsc-chunk",
        Annulus,
        8,
        false,
        "SPSC ring, write_chunk/read_chunk of up to 64 elements, busy",
    )),
    case(
        C::Mpmc1p1c,
        "mpmc-1p1c",
        Annulus,
        8,
        false,
        "MPMC ring of u64, one sender and one receiver, busy",
    ),
    no_rtt(case(
        C::Mpmc2p2c,
        "mpmc-2p2c",
        Annulus,
        8,
        false,
        "MPMC ring, two sender threads in one process, two receiver threads in the other, blocking calls",
    )),
    case(
        C::MqBusy,
        "mq-busy",
        Annulus,
        8,
        false,
        "message queue per direction, try_send/try_recv polled",
    ),
    case(
        C::MqBlocking,
        "mq-blocking",
        Annulus,
        8,
        true,
        "message queue per direction, send/recv with spin limit 0",
    ),
    case(
        C::SemBusy,
        "sem-busy",
        Annulus,
        8,
        false,
        "semaphore per direction, post/try_wait polled",
    ),
    case(
        C::SemBlocking,
        "sem-blocking",
        Annulus,
        8,
        true,
        "semaphore per direction, post/wait with spin limit 0",
    ),
    case(
        C::Stream8,
        "stream-8",
        Annulus,
        8,
        false,
        "byte stream (SPSC ring of bytes, 256 KiB), 8-byte writes, busy",
    ),
    case(
        C::Stream4k,
        "stream-4k",
        Annulus,
        4096,
        false,
        "byte stream, 4 KiB writes, busy",
    ),
    case(
        C::Stream64k,
        "stream-64k",
        Annulus,
        65536,
        false,
        "byte stream, 64 KiB writes, busy",
    ),
    case(
        C::Pipe8,
        "pipe-8",
        Kernel,
        8,
        true,
        "a pipe per direction, 8-byte writes",
    ),
    case(
        C::Pipe4k,
        "pipe-4k",
        Kernel,
        4096,
        true,
        "a pipe per direction, 4 KiB writes",
    ),
    case(
        C::Pipe64k,
        "pipe-64k",
        Kernel,
        65536,
        true,
        "a pipe per direction (1 MiB buffer), 64 KiB writes",
    ),
    case(
        C::Unix8,
        "unix-8",
        Kernel,
        8,
        true,
        "a unix stream socket pair, 8-byte writes",
    ),
    case(
        C::Unix4k,
        "unix-4k",
        Kernel,
        4096,
        true,
        "a unix stream socket pair, 4 KiB writes",
    ),
    case(
        C::Unix64k,
        "unix-64k",
        Kernel,
        65536,
        true,
        "a unix stream socket pair, 64 KiB writes",
    ),
    case(
        C::Eventfd,
        "eventfd",
        Kernel,
        8,
        true,
        "an eventfd per direction (EFD_SEMAPHORE; carries a count, not data)",
    ),
    case(
        C::Fifo,
        "fifo",
        Kernel,
        8,
        true,
        "a FIFO per direction, 8-byte writes",
    ),
    case(
        C::PosixMq,
        "posix-mq",
        Kernel,
        8,
        true,
        "a POSIX message queue per direction",
    ),
    case(
        C::SysvSem,
        "sysv-sem",
        Kernel,
        8,
        true,
        "a System V semaphore per direction (semop; carries no data)",
    ),
    case(
        C::Rtrb,
        "rtrb",
        InProcess,
        8,
        false,
        "rtrb ring of u64 between two threads, busy",
    ),
    case(
        C::ArrayQueue,
        "array-queue",
        InProcess,
        8,
        false,
        "crossbeam ArrayQueue of u64 between two threads, busy",
    ),
    case(
        C::HeaplessSpsc,
        "heapless-spsc",
        InProcess,
        8,
        false,
        "heapless spsc::Queue of u64 between two threads, busy",
    ),
    #[cfg(feature = "iceoryx2")]
    case(
        C::Iceoryx2,
        "iceoryx2",
        SharedMemory,
        8,
        false,
        "iceoryx2 publish-subscribe, a service per direction, send_copy / receive polled",
    ),
];

impl CaseId {
    /// The case's description.
    pub fn info(self) -> &'static CaseInfo {
        CASES
            .iter()
            .find(|c| c.id == self)
            .expect("every CaseId has an entry in CASES")
    }

    /// The case's name.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The case called `name`.
    pub fn from_name(name: &str) -> Option<CaseId> {
        CASES.iter().find(|c| c.name == name).map(|c| c.id)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for c in CASES {
            assert_eq!(CaseId::from_name(c.name), Some(c.id));
            assert_eq!(c.id.info(), c);
            assert!(c.size >= 8);
        }
        let mut names: Vec<_> = CASES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CASES.len());
    }
}
