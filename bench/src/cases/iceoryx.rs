//! iceoryx2 publish-subscribe between two processes: one service per
//! direction, `u64` samples sent with `send_copy`, received by polling.
//! Built only with the `iceoryx2` feature (see the crate's Cargo.toml).

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::publish_subscribe::PortFactory;

use super::{Ctx, Measured};
use crate::driver::{self, Link, Patience, ServerResult};
use crate::error::{BenchError, Result, ctx, fail};
use crate::peer::PeerCtx;

/// Samples a subscriber buffers: as many as the annulus rings hold.
const BUFFER: usize = 1024;
/// The peer's first sample, telling the parent it is subscribed.
const READY: u64 = u64::MAX;

type Service = PortFactory<ipc::Service, u64, ()>;

fn service(node: &Node<ipc::Service>, name: &str) -> Result<Service> {
    let name: ServiceName = name.try_into().map_err(ctx("service name"))?;
    node.service_builder(&name)
        .publish_subscribe::<u64>()
        .enable_safe_overflow(false)
        .subscriber_max_buffer_size(BUFFER)
        .history_size(0)
        .max_publishers(1)
        .max_subscribers(1)
        .open_or_create()
        .map_err(ctx("iceoryx2 service"))
}

fn publisher(s: &Service) -> Result<Publisher<ipc::Service, u64, ()>> {
    s.publisher_builder()
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .create()
        .map_err(ctx("iceoryx2 publisher"))
}

fn subscriber(s: &Service) -> Result<Subscriber<ipc::Service, u64, ()>> {
    s.subscriber_builder()
        .buffer_size(BUFFER)
        .create()
        .map_err(ctx("iceoryx2 subscriber"))
}

struct IceLink {
    tx: Publisher<ipc::Service, u64, ()>,
    rx: Subscriber<ipc::Service, u64, ()>,
    patience: Patience,
}

impl IceLink {
    fn take(&mut self) -> Result<u64> {
        loop {
            match self.rx.receive().map_err(ctx("receive"))? {
                Some(sample) => return Ok(*sample),
                None => self.patience.spin()?,
            }
        }
    }
}

impl Link for IceLink {
    #[inline]
    fn progress(&mut self) {
        self.patience.reset();
    }

    #[inline]
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        let v = u64::from_ne_bytes(msg[..8].try_into().unwrap_or_default());
        match self.tx.send_copy(v).map_err(ctx("send"))? {
            0 => fail("no subscriber received the sample"),
            _ => Ok(()),
        }
    }

    #[inline]
    fn recv(&mut self, msg: &mut [u8]) -> Result<()> {
        let v = self.take()?;
        msg[..8].copy_from_slice(&v.to_ne_bytes());
        Ok(())
    }
}

fn node() -> Result<Node<ipc::Service>> {
    NodeBuilder::new()
        .create::<ipc::Service>()
        .map_err(ctx("iceoryx2 node"))
}

/// The `/dev/shm/iox2_*` entries now.
fn iceoryx_files() -> Vec<std::ffi::OsString> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name()))
                .filter(|n| n.as_encoded_bytes().starts_with(b"iox2_"))
                .collect()
        })
        .unwrap_or_default()
}

/// Runs the case, then removes the `iox2_*` objects that appeared during it
/// (iceoryx2 keeps a global management segment after its last node is
/// gone; a benchmark must leave /dev/shm as it found it). Objects that were
/// there before are another iceoryx2 user's and stay.
pub(crate) fn parent(c: &Ctx<'_>) -> Result<Measured> {
    let before = iceoryx_files();
    let result = run_parent(c);
    for name in iceoryx_files() {
        if !before.contains(&name) {
            // Best effort: a failure leaves the file, which the test's
            // leftover check reports.
            let _ = std::fs::remove_file(std::path::Path::new("/dev/shm").join(&name));
        }
    }
    result
}

fn run_parent(c: &Ctx<'_>) -> Result<Measured> {
    let (na, nb) = (c.object_name("a"), c.object_name("b"));
    let node = node()?;
    let (a, b) = (service(&node, &na)?, service(&node, &nb)?);
    let mut link = IceLink {
        tx: publisher(&a)?,
        rx: subscriber(&b)?,
        patience: c.patience(),
    };
    let peer = c.spawn(&[na, nb])?;
    if link.take()? != READY {
        return Err(BenchError::new("the peer's first sample was not READY"));
    }
    super::conclude(driver::client(&mut link, &c.plan, c.counter), peer)
}

pub(crate) fn peer(p: &PeerCtx) -> Result<ServerResult> {
    let node = node()?;
    let (a, b) = (service(&node, p.param(0)?)?, service(&node, p.param(1)?)?);
    let mut link = IceLink {
        rx: subscriber(&a)?,
        tx: publisher(&b)?,
        patience: Patience::new(p.timeout),
    };
    // Subscribed to `a` now: tell the parent, which waits for this before
    // its first sample.
    while link.tx.send_copy(READY).map_err(ctx("send"))? == 0 {
        link.patience.spin()?;
    }
    driver::server(&mut link, &p.plan, p.counter.as_ref())
}
