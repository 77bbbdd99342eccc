//! annulus message queues and semaphores between two processes: one object
//! per direction.

use std::num::NonZeroU32;

use annulus::mq::{RecvError, RecvOptions, SendError};
use annulus::semaphore::{Semaphore, SemaphoreError};
use annulus_linux::Futex;
use annulus_linux::named::{MqEndpoint, NamedMessageQueue, NamedSemaphore};

use super::shm_name::Unlink;
use super::spsc::Mode;
use super::{Ctx, Measured};
use crate::driver::{self, Link, Patience, ServerResult};
use crate::error::{Result, ctx, fail};
use crate::peer::PeerCtx;

/// Messages a queue holds.
const MAX_MESSAGES: u32 = 64;

struct MqLink<'r, 'a> {
    tx: &'r mut MqEndpoint<'a>,
    rx: &'r mut MqEndpoint<'a>,
    mode: Mode,
    patience: Patience,
}

impl Link for MqLink<'_, '_> {
    #[inline]
    fn progress(&mut self) {
        self.patience.reset();
    }

    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let mtype = NonZeroU32::MIN;
        if self.mode != Mode::Busy {
            let timeout = Some(self.patience.timeout());
            self.tx.send(msg, 0, mtype, timeout).map_err(ctx("send"))?;
            return Ok(());
        }
        loop {
            match self.tx.try_send(msg, 0, mtype) {
                Ok(_) => return Ok(()),
                Err(SendError::Full | SendError::Contended) => self.patience.spin()?,
                Err(e) => return fail(format!("send: {e}")),
            }
        }
    }

    #[inline]
    fn recv(&mut self, msg: &mut [u8]) -> Result<()> {
        let got = if self.mode != Mode::Busy {
            let timeout = Some(self.patience.timeout());
            self.rx
                .recv(msg, RecvOptions::default(), timeout)
                .map_err(ctx("recv"))?
        } else {
            loop {
                match self.rx.try_recv(msg) {
                    Ok(got) => break got,
                    Err(RecvError::Empty | RecvError::Contended) => self.patience.spin()?,
                    Err(e) => return fail(format!("recv: {e}")),
                }
            }
        };
        if got.len != msg.len() {
            return fail(format!("received {} bytes, not {}", got.len, msg.len()));
        }
        Ok(())
    }
}

fn endpoints<'q>(
    a: &'q NamedMessageQueue,
    b: &'q NamedMessageQueue,
    mode: Mode,
) -> Result<[annulus_linux::named::Claimed<MqEndpoint<'q>>; 2]> {
    let mut ea = a.endpoint().map_err(ctx("endpoint"))?;
    let mut eb = b.endpoint().map_err(ctx("endpoint"))?;
    if let Some(limit) = mode.spin_limit() {
        ea.set_spin_limit(limit);
        eb.set_spin_limit(limit);
    }
    Ok([ea, eb])
}

pub(crate) fn parent(c: &Ctx<'_>, mode: Mode) -> Result<Measured> {
    let size = c.plan.size as u32;
    let (na, nb) = (c.object_name("a"), c.object_name("b"));
    let _guards = [Unlink(na.clone()), Unlink(nb.clone())];
    let a = NamedMessageQueue::create(&na, MAX_MESSAGES, size, 2).map_err(ctx("create mq"))?;
    let b = NamedMessageQueue::create(&nb, MAX_MESSAGES, size, 2).map_err(ctx("create mq"))?;
    let peer = c.spawn(&[na, nb])?;
    let [mut ea, mut eb] = endpoints(&a, &b, mode)?;
    let mut link = MqLink {
        tx: &mut ea,
        rx: &mut eb,
        mode,
        patience: c.patience(),
    };
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn peer(p: &PeerCtx, mode: Mode) -> Result<ServerResult> {
    let a = NamedMessageQueue::open(p.param(0)?).map_err(ctx("open mq"))?;
    let b = NamedMessageQueue::open(p.param(1)?).map_err(ctx("open mq"))?;
    let [mut ea, mut eb] = endpoints(&a, &b, mode)?;
    let mut link = MqLink {
        tx: &mut eb,
        rx: &mut ea,
        mode,
        patience: Patience::new(p.timeout),
    };
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}

/// Largest semaphore value: the one-way phase may post every message
/// before the other side takes one.
const SEM_MAX: u32 = 1 << 30;

struct SemLink<'s> {
    post: Semaphore<'s, Futex>,
    take: Semaphore<'s, Futex>,
    mode: Mode,
    patience: Patience,
}

impl Link for SemLink<'_> {
    const PAYLOAD: bool = false;

    #[inline]
    fn progress(&mut self) {
        self.patience.reset();
    }

    #[inline]
    fn send(&mut self, _msg: &[u8]) -> Result<()> {
        self.post.post(1).map_err(ctx("post"))
    }

    #[inline]
    fn recv(&mut self, _msg: &mut [u8]) -> Result<()> {
        if self.mode != Mode::Busy {
            let timeout = Some(self.patience.timeout());
            return self.take.wait(1, timeout).map_err(ctx("wait"));
        }
        loop {
            match self.take.try_wait(1) {
                Ok(()) => return Ok(()),
                Err(SemaphoreError::WouldBlock | SemaphoreError::Contended) => {
                    self.patience.spin()?;
                }
                Err(e) => return fail(format!("try_wait: {e}")),
            }
        }
    }
}

fn sem_link<'s>(
    post: &'s NamedSemaphore,
    take: &'s NamedSemaphore,
    mode: Mode,
    patience: Patience,
) -> SemLink<'s> {
    let (mut post, mut take) = (post.semaphore().clone(), take.semaphore().clone());
    if let Some(limit) = mode.spin_limit() {
        post.set_spin_limit(limit);
        take.set_spin_limit(limit);
    }
    SemLink {
        post,
        take,
        mode,
        patience,
    }
}

pub(crate) fn sem_parent(c: &Ctx<'_>, mode: Mode) -> Result<Measured> {
    let (na, nb) = (c.object_name("a"), c.object_name("b"));
    let _guards = [Unlink(na.clone()), Unlink(nb.clone())];
    let a = NamedSemaphore::create(&na, 0, SEM_MAX).map_err(ctx("create semaphore"))?;
    let b = NamedSemaphore::create(&nb, 0, SEM_MAX).map_err(ctx("create semaphore"))?;
    let peer = c.spawn(&[na, nb])?;
    let mut link = sem_link(&a, &b, mode, c.patience());
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn sem_peer(p: &PeerCtx, mode: Mode) -> Result<ServerResult> {
    let a = NamedSemaphore::open(p.param(0)?).map_err(ctx("open semaphore"))?;
    let b = NamedSemaphore::open(p.param(1)?).map_err(ctx("open semaphore"))?;
    let mut link = sem_link(&b, &a, mode, Patience::new(p.timeout));
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}
