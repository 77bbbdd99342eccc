//! The annulus byte stream (an SPSC ring of bytes, a pipe in shared memory)
//! between two processes, one ring per direction, busy polling.

use annulus::spsc::{ByteReader, ByteWriter, StreamError};
use annulus_linux::Futex;
use annulus_linux::named::SpscRing;

use super::shm_name::Unlink;
use super::{Ctx, Measured};
use crate::driver::{self, Link, Patience, ServerResult};
use crate::error::{Result, ctx, fail};
use crate::peer::PeerCtx;

/// Bytes per ring: room for four 64 KiB writes.
const CAPACITY: u32 = 256 << 10;

struct StreamLink<'a> {
    tx: ByteWriter<'a, Futex>,
    rx: ByteReader<'a, Futex>,
    patience: Patience,
}

impl Link for StreamLink<'_> {
    #[inline]
    fn progress(&mut self) {
        self.patience.reset();
    }

    #[inline]
    fn send(&mut self, mut msg: &[u8]) -> Result<()> {
        while !msg.is_empty() {
            match self.tx.try_write(msg) {
                Ok(n) => msg = &msg[n..],
                Err(StreamError::WouldBlock) => self.patience.spin()?,
                Err(e) => return fail(format!("write: {e}")),
            }
        }
        Ok(())
    }

    #[inline]
    fn recv(&mut self, msg: &mut [u8]) -> Result<()> {
        let mut filled = 0;
        while filled < msg.len() {
            match self.rx.try_read(&mut msg[filled..]) {
                Ok(0) => return fail("the writer closed the stream"),
                Ok(n) => filled += n,
                Err(StreamError::WouldBlock) => self.patience.spin()?,
                Err(e) => return fail(format!("read: {e}")),
            }
        }
        Ok(())
    }
}

/// Claims the writer on `tx` and the reader on `rx`, outside the registry
/// of held roles (the byte views take the bare handles; this process holds
/// one of each per ring).
fn link<'a>(
    tx: &'a SpscRing<u8>,
    rx: &'a SpscRing<u8>,
    patience: Patience,
) -> Result<StreamLink<'a>> {
    let pid = std::process::id();
    let producer = tx.ring().claim_producer(pid, Futex).map_err(ctx("claim"))?;
    let consumer = rx.ring().claim_consumer(pid, Futex).map_err(ctx("claim"))?;
    Ok(StreamLink {
        tx: ByteWriter::new(producer),
        rx: ByteReader::new(consumer),
        patience,
    })
}

pub(crate) fn parent(c: &Ctx<'_>) -> Result<Measured> {
    let (na, nb) = (c.object_name("a"), c.object_name("b"));
    let _guards = [Unlink(na.clone()), Unlink(nb.clone())];
    let a = SpscRing::<u8>::create(&na, CAPACITY).map_err(ctx("create ring"))?;
    let b = SpscRing::<u8>::create(&nb, CAPACITY).map_err(ctx("create ring"))?;
    let peer = c.spawn(&[na, nb])?;
    let mut link = link(&a, &b, c.patience())?;
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn peer(p: &PeerCtx) -> Result<ServerResult> {
    let a = SpscRing::<u8>::open(p.param(0)?).map_err(ctx("open ring"))?;
    let b = SpscRing::<u8>::open(p.param(1)?).map_err(ctx("open ring"))?;
    let mut link = link(&b, &a, Patience::new(p.timeout))?;
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}
