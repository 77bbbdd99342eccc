//! The robust semaphore set: two holders, operations with and without
//! undo, and the repair of dead holders (lock, journal, records).
#![allow(unsafe_code)]

use annulus::semaphore::{Holder, InitOptions, RobustSemaphoreSet};

use crate::input::Input;
use crate::region::Region;
use crate::set::sem_ops;
use crate::waiter::NeverSleep;
use crate::{Subject, Totals, drive};

struct Robust<'r> {
    region: &'r Region,
    wait: NeverSleep,
    set: Option<RobustSemaphoreSet<'r>>,
    holders: [Option<Holder<'r, NeverSleep>>; 2],
}

pub(crate) fn run(input: &mut Input<'_>, totals: &mut Totals) {
    let count = 1 + input.below(3);
    let holders = 1 + input.below(3);
    let max = 1 + u32::from(input.u8() % 8);
    let initial: Vec<u32> = (0..count)
        .map(|_| input.below(max.saturating_add(1)))
        .collect();
    let size = RobustSemaphoreSet::layout(count, holders)
        .expect("a valid geometry")
        .size;
    let region = Region::zeroed(size);
    let options = InitOptions::default();
    // SAFETY: the whole fresh allocation, which outlives every view; no
    // other view exists yet.
    let laid = unsafe {
        RobustSemaphoreSet::init_raw(region.ptr(), size, &initial, max, holders, options)
    };
    laid.expect("init over a region of the layout's size");
    let wait = NeverSleep::default();
    let mut robust = Robust {
        region: &region,
        wait: wait.clone(),
        set: None,
        holders: [None, None],
    };
    drive(&region, &mut robust, &wait, input, totals);
}

/// A liveness oracle from one input byte: a pid is alive when its low bit
/// matches the byte's.
fn alive(byte: u8) -> impl FnMut(u32) -> bool {
    move |pid| (pid & 1) == u32::from(byte & 1)
}

impl Subject for Robust<'_> {
    fn attach(&mut self, len: usize) -> bool {
        // SAFETY: `len` bytes of the live allocation, initialised (zeroed,
        // then laid out), which outlives the view.
        let set = unsafe { RobustSemaphoreSet::attach_raw(self.region.ptr(), len) };
        // A refused attach leaves the view and holders already held as they
        // were: they go on over the bytes the peer wrote.
        let Ok(set) = set else { return false };
        let need = RobustSemaphoreSet::layout(set.count(), set.holders())
            .expect("attach accepted an impossible geometry")
            .size;
        crate::assert_fits(need, len);
        // Dropping a holder gives back what it holds: an operation on the
        // region like any other, whatever it holds now.
        (self.holders, self.set) = ([None, None], Some(set));
        true
    }

    fn attached(&self) -> bool {
        self.set.is_some()
    }

    fn op(&mut self, code: u8, input: &mut Input<'_>) {
        let Some(set) = self.set else { return };
        let (count, max) = (set.count(), set.max());
        let who = usize::from(input.u8() % 2);
        let index = input.below(count.saturating_add(1));
        let n = input.below(max.saturating_add(2));
        match code % 12 {
            0 => {
                self.holders[who] = None;
                let pid = input.u32();
                self.holders[who] = set.holder(pid, self.wait.clone()).ok();
            }
            1 => {
                self.holders[who] = None;
                let pid = input.u32();
                let got = set.holder_reclaiming(pid, self.wait.clone(), alive(input.u8()));
                self.holders[who] = got.ok().map(|(holder, _)| holder);
            }
            2 => self.holders[who] = None,
            3 => {
                if let Some(h) = &self.holders[who] {
                    let ops = sem_ops(input, count, max);
                    let _ = h.try_op(&ops);
                }
            }
            4 => {
                if let Some(h) = &self.holders[who] {
                    let ops = sem_ops(input, count, max);
                    let _ = h.op(&ops, input.timeout());
                }
            }
            5 => {
                if let Some(h) = &self.holders[who] {
                    let ops = sem_ops(input, count, max);
                    let _ = h.try_op_no_undo(&ops);
                }
            }
            6 => {
                if let Some(h) = &self.holders[who] {
                    let ops = sem_ops(input, count, max);
                    let _ = h.op_no_undo(&ops, input.timeout());
                }
            }
            7 => {
                if let Some(h) = &self.holders[who] {
                    let _ = h.wait(index, n, input.timeout());
                }
            }
            8 => {
                if let Some(h) = &self.holders[who] {
                    let _ = h.try_wait(index, n);
                }
            }
            9 => {
                if let Some(h) = &self.holders[who] {
                    let _ = h.post(index, n);
                }
            }
            10 => {
                if let Some(h) = &self.holders[who] {
                    let _ = h.release_dead(alive(input.u8()));
                    let _ = (h.adjustment(index), h.index(), h.pid());
                }
            }
            _ => {
                let holder = input.below(set.holders().saturating_add(1));
                let _ = (set.value(index), set.holder_pid(holder));
                let _ = (set.adjustment(holder, index), set.lock_holder());
            }
        }
    }
}
