//! The message queue: two endpoints, sends and filtered receives, stats,
//! repairs and arrival notifications.
#![allow(unsafe_code)]

use core::num::NonZeroU32;

use annulus::claim::Claim;
use annulus::mq::{Endpoint, Filter, InitOptions, MQ_SCHEMA, MessageQueue, RecvOptions};

use crate::input::Input;
use crate::region::Region;
use crate::waiter::NeverSleep;
use crate::{Subject, Totals, drive};

/// Longest buffer.
const BUF: usize = 80;

struct Queue<'r> {
    region: &'r Region,
    wait: NeverSleep,
    view: Option<MessageQueue<'r>>,
    ends: [Option<Endpoint<'r, NeverSleep>>; 2],
}

pub(crate) fn run(input: &mut Input<'_>, totals: &mut Totals) {
    let max_messages = 1 + input.below(8);
    let message_size = 1 + input.below(64);
    let participants = 1 + input.below(3);
    let size = MessageQueue::layout(max_messages, message_size, participants)
        .expect("a valid geometry")
        .size;
    let region = Region::zeroed(size);
    let options = InitOptions::default();
    // SAFETY: the whole fresh allocation, which outlives every view; no
    // other view exists yet.
    let laid = unsafe {
        MessageQueue::init_raw(
            region.ptr(),
            size,
            max_messages,
            message_size,
            participants,
            options,
        )
    };
    laid.expect("init over a region of the layout's size");
    let wait = NeverSleep::default();
    let mut queue = Queue {
        region: &region,
        wait: wait.clone(),
        view: None,
        ends: [None, None],
    };
    drive(&region, &mut queue, &wait, input, totals);
}

fn mtype(input: &mut Input<'_>) -> NonZeroU32 {
    NonZeroU32::new(1 + input.below(4)).expect("at least 1")
}

fn options(input: &mut Input<'_>) -> RecvOptions {
    let filter = match input.u8() % 4 {
        0 => Filter::Any,
        1 => Filter::Type(mtype(input)),
        2 => Filter::LowestAtMost(mtype(input)),
        _ => Filter::Except(mtype(input)),
    };
    RecvOptions {
        filter,
        truncate: input.flag(),
    }
}

impl Subject for Queue<'_> {
    fn attach(&mut self, len: usize) -> bool {
        // SAFETY: `len` bytes of the live allocation, initialised (zeroed,
        // then laid out), which outlives the view.
        let view = unsafe { MessageQueue::attach_raw(self.region.ptr(), len, MQ_SCHEMA) };
        // A refused attach leaves the view and handles already held as they
        // were: they go on over the bytes the peer wrote.
        let Ok(view) = view else { return false };
        let need = MessageQueue::layout(
            view.max_messages(),
            view.max_message_size(),
            view.max_participants(),
        )
        .expect("attach accepted an impossible geometry")
        .size;
        crate::assert_fits(need, len);
        (self.ends, self.view) = ([None, None], Some(view));
        true
    }

    fn attached(&self) -> bool {
        self.view.is_some()
    }

    fn op(&mut self, code: u8, input: &mut Input<'_>) {
        let Some(view) = self.view else { return };
        let who = usize::from(input.u8() % 2);
        let mut buf = [0u8; BUF];
        let n = input.index(BUF + 1);
        let buf = &mut buf[..n];
        let priority = u16::from(input.u8() % 4);
        match code % 11 {
            0 => {
                self.ends[who] = None;
                self.ends[who] = view.endpoint(input.u32(), self.wait.clone()).ok();
                if let Some(end) = &mut self.ends[who] {
                    end.set_spin_limit(u32::from(input.u8() % 4));
                }
            }
            1 => self.ends[who] = None,
            2 => {
                if let Some(end) = &mut self.ends[who] {
                    let _ = end.try_send(buf, priority, mtype(input));
                }
            }
            3 => {
                if let Some(end) = &mut self.ends[who] {
                    let _ = end.send(buf, priority, mtype(input), input.timeout());
                }
            }
            4 => {
                if let Some(end) = &mut self.ends[who]
                    && let Ok(got) = end.try_recv(buf)
                {
                    assert!(got.len <= n, "try_recv copied {} into {n}", got.len);
                }
            }
            5 => {
                if let Some(end) = &mut self.ends[who] {
                    let options = options(input);
                    if let Ok(got) = end.try_recv_with(buf, options) {
                        assert!(got.len <= n, "try_recv_with copied {} into {n}", got.len);
                    }
                }
            }
            6 => {
                if let Some(end) = &mut self.ends[who] {
                    let options = options(input);
                    if let Ok(got) = end.recv(buf, options, input.timeout()) {
                        assert!(got.len <= n, "recv copied {} into {n}", got.len);
                    }
                }
            }
            7 => {
                // Diagnostic counters: impossible counts are an error.
                if let Ok(stats) = view.stats() {
                    assert!(stats.messages <= view.max_messages(), "{stats:?}");
                    let most = u64::from(view.max_messages()) * u64::from(view.max_message_size());
                    assert!(u64::from(stats.bytes) <= most, "{stats:?}");
                }
                let _ = view.participant(input.below(view.max_participants().saturating_add(2)));
                let _ = (view.notification(), view.notifications());
                if let Some(end) = &self.ends[who] {
                    let _ = end.record_index();
                }
            }
            8 => {
                let alive = input.u8();
                let is_alive = |claim: Claim| (claim.pid & 1) == u32::from(alive & 1);
                let released = view.release_dead(is_alive);
                assert!(released <= view.max_participants(), "released {released}");
            }
            9 => {
                let _ = view.register_notification(input.u32() % 4, input.u32());
            }
            _ => {
                let _ = view.cancel_notification(input.u32() % 4);
            }
        }
    }
}
