//! [`LoomMq`]: a message queue in a heap region, with endpoints that own a
//! share of it.

extern crate alloc;

use alloc::sync::Arc;
use core::alloc::Layout;

use annulus::mq::{Endpoint, InitOptions, MessageQueue, RecvError, RegisterError, Stats};
use annulus::wait::Wait;

use crate::LoomWait;
use crate::held::{Buffer, Held};

/// An endpoint of a [`LoomMq`] that sleeps on a [`LoomWait`].
pub type LoomEndpoint = Held<Endpoint<'static, LoomWait>>;

/// A fresh message queue in a heap region that lives as long as the last of
/// this value, its clones and the endpoints registered from it.
#[derive(Debug)]
pub struct LoomMq {
    // `'static` only because `region` keeps the memory alive; see `LoomMpmc`.
    mq: MessageQueue<'static>,
    region: Arc<Buffer>,
}

impl Clone for LoomMq {
    fn clone(&self) -> Self {
        LoomMq {
            mq: self.mq,
            region: Arc::clone(&self.region),
        }
    }
}

impl LoomMq {
    /// Initialises an empty queue (`MessageQueue::init_raw`) in a zeroed,
    /// 128-aligned heap region of exactly the size its layout needs.
    ///
    /// # Panics
    ///
    /// If `MessageQueue::layout` rejects the arguments.
    pub fn new(max_messages: u32, message_size: u32, participants: u32) -> Self {
        let layout = MessageQueue::layout(max_messages, message_size, participants)
            .expect("valid queue geometry");
        let alloc_layout =
            Layout::from_size_align(layout.size, layout.align).expect("valid region layout");
        let region = Arc::new(Buffer::zeroed(alloc_layout));
        // SAFETY: as in `LoomMpmc::new`: the region is fresh, large enough,
        // freed only when the last `Arc` goes, and every view of it holds a
        // share of that `Arc` or lives no longer than `self`.
        let mq = unsafe {
            MessageQueue::init_raw(
                region.ptr,
                layout.size,
                max_messages,
                message_size,
                participants,
                InitOptions::default(),
            )
        }
        .expect("init of a correctly sized and aligned region");
        LoomMq { mq, region }
    }

    /// Registers an endpoint for process `pid` (`MessageQueue::endpoint`).
    ///
    /// # Errors
    ///
    /// As `MessageQueue::endpoint`.
    pub fn endpoint<W: Wait>(
        &self,
        pid: u32,
        wait: W,
    ) -> Result<Held<Endpoint<'static, W>>, RegisterError> {
        self.mq
            .endpoint(pid, wait)
            .map(|handle| Held::new(handle, Arc::clone(&self.region)))
    }

    /// The queue's counters (`MessageQueue::stats`).
    ///
    /// # Errors
    ///
    /// As `MessageQueue::stats`.
    pub fn stats(&self) -> Result<Stats, RecvError> {
        self.mq.stats()
    }
}
