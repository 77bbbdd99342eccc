//! POSIX message queues and System V semaphores, through the C library
//! (rustix wraps neither). Blocking calls carry the case's timeout
//! (`mq_timedreceive`, `semtimedop`), so a dead peer cannot hang the run.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::time::Duration;

use super::{Ctx, Measured};
use crate::driver::{self, Link, ServerResult};
use crate::error::{BenchError, Result, fail};
use crate::peer::PeerCtx;

fn errno() -> std::io::Error {
    std::io::Error::last_os_error()
}

fn interrupted(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::Interrupted
}

/// An open POSIX message queue descriptor, closed on drop.
struct Mq(libc::mqd_t);

impl Drop for Mq {
    fn drop(&mut self) {
        // SAFETY: a descriptor mq_open returned, closed once here.
        unsafe { libc::mq_close(self.0) };
    }
}

/// Unlinks a POSIX message queue name on drop.
struct MqUnlink(CString);

impl Drop for MqUnlink {
    fn drop(&mut self) {
        // SAFETY: a NUL-terminated name.
        unsafe { libc::mq_unlink(self.0.as_ptr()) };
    }
}

/// Messages a queue holds: the default `fs.mqueue.msg_max` limit.
const MQ_MAXMSG: libc::c_long = 10;

fn mq_open(name: &CString, create: Option<usize>) -> Result<Mq> {
    let mqd = match create {
        Some(size) => {
            // SAFETY: an all-zero mq_attr is valid (its padding is private).
            let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
            attr.mq_maxmsg = MQ_MAXMSG;
            attr.mq_msgsize = size as libc::c_long;
            // SAFETY: a NUL-terminated name, and for O_CREAT the mode and a
            // valid attribute pointer, as mq_open(3) expects.
            unsafe {
                libc::mq_open(
                    name.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
                    0o600 as libc::mode_t,
                    &mut attr as *mut libc::mq_attr,
                )
            }
        }
        // SAFETY: a NUL-terminated name.
        None => unsafe { libc::mq_open(name.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) },
    };
    if mqd < 0 {
        return Err(BenchError::new(format!("mq_open: {}", errno())));
    }
    Ok(Mq(mqd))
}

/// An absolute CLOCK_REALTIME deadline `after` from now, as mq_timed*
/// take it.
fn realtime_deadline(after: Duration) -> libc::timespec {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        + after;
    libc::timespec {
        tv_sec: now.as_secs() as libc::time_t,
        tv_nsec: now.subsec_nanos() as libc::c_long,
    }
}

struct MqLink {
    tx: Mq,
    rx: Mq,
    timeout: Duration,
}

impl Link for MqLink {
    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        loop {
            // SAFETY: `msg` is valid for its length; a blocking send.
            let r = unsafe { libc::mq_send(self.tx.0, msg.as_ptr().cast(), msg.len(), 0) };
            if r == 0 {
                return Ok(());
            }
            let e = errno();
            if !interrupted(&e) {
                return fail(format!("mq_send: {e}"));
            }
        }
    }

    #[inline]
    fn recv(&mut self, msg: &mut [u8]) -> Result<()> {
        let deadline = realtime_deadline(self.timeout);
        loop {
            let mut prio = 0;
            // SAFETY: `msg` is valid for writes of its length, which is the
            // queue's message size; `deadline` and `prio` outlive the call.
            let n = unsafe {
                libc::mq_timedreceive(
                    self.rx.0,
                    msg.as_mut_ptr().cast(),
                    msg.len(),
                    &mut prio,
                    &deadline,
                )
            };
            if n >= 0 {
                return if n as usize == msg.len() {
                    Ok(())
                } else {
                    fail(format!("mq_receive: {n} bytes, not {}", msg.len()))
                };
            }
            let e = errno();
            if !interrupted(&e) {
                return fail(format!("mq_timedreceive: {e}"));
            }
        }
    }
}

pub(crate) fn mq_parent(c: &Ctx<'_>) -> Result<Measured> {
    let names: Vec<String> = ["a", "b"]
        .iter()
        .map(|s| format!("/annulus-{}", c.object_name(s)))
        .collect();
    let cnames: Vec<CString> = names
        .iter()
        .map(|n| CString::new(n.as_str()).map_err(|e| BenchError::new(e.to_string())))
        .collect::<Result<_>>()?;
    let _unlink: Vec<MqUnlink> = cnames.iter().cloned().map(MqUnlink).collect();
    let tx = mq_open(&cnames[0], Some(c.plan.size))?;
    let rx = mq_open(&cnames[1], Some(c.plan.size))?;
    let peer = c.spawn(&names)?;
    let mut link = MqLink {
        tx,
        rx,
        timeout: c.config.case_timeout,
    };
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn mq_peer(p: &PeerCtx) -> Result<ServerResult> {
    let name = |i| CString::new(p.param(i)?).map_err(|e| BenchError::new(e.to_string()));
    let mut link = MqLink {
        rx: mq_open(&name(0)?, None)?,
        tx: mq_open(&name(1)?, None)?,
        timeout: p.timeout,
    };
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}

/// A System V semaphore set of two, removed on drop by its creator.
struct SemSet {
    id: libc::c_int,
    owner: bool,
}

impl Drop for SemSet {
    fn drop(&mut self) {
        if self.owner {
            // SAFETY: IPC_RMID takes no fourth argument.
            unsafe { libc::semctl(self.id, 0, libc::IPC_RMID) };
        }
    }
}

/// Posts to semaphore `post` and takes from `take` of one set.
struct SemLink {
    set: SemSet,
    post: u16,
    take: u16,
    timeout: libc::timespec,
}

impl SemLink {
    fn op(&self, num: u16, delta: i16) -> Result<()> {
        let mut op = libc::sembuf {
            sem_num: num,
            sem_op: delta,
            sem_flg: 0,
        };
        loop {
            // SAFETY: one valid sembuf and a valid relative timeout, as
            // semtimedop(2) takes them (the C library does not export it
            // everywhere, the system call exists on every Linux).
            let r = unsafe {
                libc::syscall(
                    libc::SYS_semtimedop,
                    self.set.id,
                    &mut op as *mut libc::sembuf,
                    1 as libc::size_t,
                    &self.timeout as *const libc::timespec,
                )
            };
            if r == 0 {
                return Ok(());
            }
            let e = errno();
            match e.raw_os_error() {
                Some(libc::EINTR) => {}
                // Above SEMVMX (32767): like a full ring, wait for the taker.
                Some(libc::ERANGE) => std::thread::yield_now(),
                _ => return fail(format!("semop: {e}")),
            }
        }
    }
}

impl Link for SemLink {
    const PAYLOAD: bool = false;

    #[inline]
    fn send(&mut self, _msg: &[u8]) -> Result<()> {
        self.op(self.post, 1)
    }

    #[inline]
    fn recv(&mut self, _msg: &mut [u8]) -> Result<()> {
        self.op(self.take, -1)
    }
}

fn relative(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

pub(crate) fn sem_parent(c: &Ctx<'_>) -> Result<Measured> {
    // SAFETY: plain integer arguments.
    let id = unsafe { libc::semget(libc::IPC_PRIVATE, 2, libc::IPC_CREAT | 0o600) };
    if id < 0 {
        return fail(format!("semget: {}", errno()));
    }
    let set = SemSet { id, owner: true };
    let peer = c.spawn(&[id.to_string()])?;
    let mut link = SemLink {
        set,
        post: 0,
        take: 1,
        timeout: relative(c.config.case_timeout),
    };
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn sem_peer(p: &PeerCtx) -> Result<ServerResult> {
    let mut link = SemLink {
        set: SemSet {
            id: p.param_num(0)?,
            owner: false,
        },
        post: 1,
        take: 0,
        timeout: relative(p.timeout),
    };
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}
