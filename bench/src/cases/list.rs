//! The list of cases: their names, what each measures, and the sizes and
//! phases the runner plans for them.

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
