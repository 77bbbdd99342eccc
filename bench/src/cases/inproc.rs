//! The in-process peers: Rust rings between two threads of this process,
//! pinned to the two CPUs, one ring per direction.

use crossbeam_queue::ArrayQueue;

use super::{Ctx, Measured};
use crate::driver::{self, Link, Patience};
use crate::error::{Result, fail};
use crate::peer::PeerReport;
use crate::syscalls::SyscallCounter;
use crate::system;

/// Slots per ring (heapless keeps one free: 1023 usable).
const CAPACITY: usize = 1024;

/// A ring's two ends as plain push/pop functions.
trait Ring8 {
    /// Pushes `v`, or gives it back when full.
    fn try_push(&mut self, v: u64) -> std::result::Result<(), u64>;
    /// Pops the oldest value, if any.
    fn try_pop(&mut self) -> Option<u64>;
}

struct RingLink<T, R> {
    tx: T,
    rx: R,
    patience: Patience,
}

impl<T: Ring8, R: Ring8> Link for RingLink<T, R> {
    #[inline]
    fn progress(&mut self) {
        self.patience.reset();
    }

    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let mut v = u64::from_ne_bytes(msg[..8].try_into().unwrap_or_default());
        loop {
            match self.tx.try_push(v) {
                Ok(()) => return Ok(()),
                Err(back) => {
                    v = back;
                    self.patience.spin()?;
                }
            }
        }
    }

    #[inline]
    fn recv(&mut self, msg: &mut [u8]) -> Result<()> {
        loop {
            if let Some(v) = self.rx.try_pop() {
                msg[..8].copy_from_slice(&v.to_ne_bytes());
                return Ok(());
            }
            self.patience.spin()?;
        }
    }
}

/// Runs the client here and the server on a thread pinned to the second CPU.
fn run_pair<A: Link, B: Link + Send>(
    c: &Ctx<'_>,
    mut client: A,
    mut server: B,
) -> Result<Measured> {
    let plan = c.plan;
    let peer_cpu = c.cpus.map(|cpus| cpus[1]);
    std::thread::scope(|s| {
        let handle = s.spawn(move || -> Result<PeerReport> {
            if let Some(cpu) = peer_cpu {
                system::pin_current_thread(cpu)?;
            }
            let counter = SyscallCounter::open();
            let result = driver::server(&mut server, &plan, counter.as_ref())?;
            Ok(PeerReport {
                pinned: peer_cpu.map(system::pin_held),
                server: result,
            })
        });
        let client = driver::client(&mut client, &plan, c.counter);
        let peer = handle
            .join()
            .unwrap_or_else(|_| fail("the peer thread panicked"));
        Ok(Measured::new(client?, peer?))
    })
}

impl Ring8 for rtrb::Producer<u64> {
    fn try_push(&mut self, v: u64) -> std::result::Result<(), u64> {
        self.push(v).map_err(|rtrb::PushError::Full(v)| v)
    }
    fn try_pop(&mut self) -> Option<u64> {
        None
    }
}

impl Ring8 for rtrb::Consumer<u64> {
    fn try_push(&mut self, v: u64) -> std::result::Result<(), u64> {
        Err(v)
    }
    fn try_pop(&mut self) -> Option<u64> {
        self.pop().ok()
    }
}

pub(crate) fn rtrb(c: &Ctx<'_>) -> Result<Measured> {
    let (a_tx, a_rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    let (b_tx, b_rx) = rtrb::RingBuffer::<u64>::new(CAPACITY);
    let client = RingLink {
        tx: a_tx,
        rx: b_rx,
        patience: c.patience(),
    };
    let server = RingLink {
        tx: b_tx,
        rx: a_rx,
        patience: c.patience(),
    };
    run_pair(c, client, server)
}

impl Ring8 for &ArrayQueue<u64> {
    fn try_push(&mut self, v: u64) -> std::result::Result<(), u64> {
        self.push(v)
    }
    fn try_pop(&mut self) -> Option<u64> {
        self.pop()
    }
}

pub(crate) fn array_queue(c: &Ctx<'_>) -> Result<Measured> {
    let (a, b) = (ArrayQueue::new(CAPACITY), ArrayQueue::new(CAPACITY));
    let client = RingLink {
        tx: &a,
        rx: &b,
        patience: c.patience(),
    };
    let server = RingLink {
        tx: &b,
        rx: &a,
        patience: c.patience(),
    };
    run_pair(c, client, server)
}

impl Ring8 for heapless::spsc::Producer<'_, u64, CAPACITY> {
    fn try_push(&mut self, v: u64) -> std::result::Result<(), u64> {
        self.enqueue(v)
    }
    fn try_pop(&mut self) -> Option<u64> {
        None
    }
}

impl Ring8 for heapless::spsc::Consumer<'_, u64, CAPACITY> {
    fn try_push(&mut self, v: u64) -> std::result::Result<(), u64> {
        Err(v)
    }
    fn try_pop(&mut self) -> Option<u64> {
        self.dequeue()
    }
}

pub(crate) fn heapless(c: &Ctx<'_>) -> Result<Measured> {
    // Boxed: two 8 KiB queues would sit on this thread's stack otherwise.
    let mut a = Box::new(heapless::spsc::Queue::<u64, CAPACITY>::new());
    let mut b = Box::new(heapless::spsc::Queue::<u64, CAPACITY>::new());
    let (a_tx, a_rx) = a.split();
    let (b_tx, b_rx) = b.split();
    let client = RingLink {
        tx: a_tx,
        rx: b_rx,
        patience: c.patience(),
    };
    let server = RingLink {
        tx: b_tx,
        rx: a_rx,
        patience: c.patience(),
    };
    run_pair(c, client, server)
}
