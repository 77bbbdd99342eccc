//! The semaphore set: all-or-nothing operations under the region's lock.
#![allow(unsafe_code)]

use annulus::semaphore::{InitOptions, MAX_OPS, SemOp, SemaphoreSet};

use crate::input::Input;
use crate::region::Region;
use crate::waiter::NeverSleep;
use crate::{Subject, Totals, drive};

struct Set<'r> {
    region: &'r Region,
    wait: NeverSleep,
    set: Option<SemaphoreSet<'r, NeverSleep>>,
}

pub(crate) fn run(input: &mut Input<'_>, totals: &mut Totals) {
    let count = 1 + input.below(4);
    let max = 1 + u32::from(input.u8() % 8);
    let initial: Vec<u32> = (0..count)
        .map(|_| input.below(max.saturating_add(1)))
        .collect();
    let size = SemaphoreSet::layout(count).expect("a valid count").size;
    let region = Region::zeroed(size);
    let wait = NeverSleep::default();
    let options = InitOptions::default();
    // SAFETY: the whole fresh allocation, which outlives every view; no
    // other view exists yet.
    let laid =
        unsafe { SemaphoreSet::init_raw(region.ptr(), size, &initial, max, options, wait.clone()) };
    drop(laid.expect("init over a region of the layout's size"));
    let mut set = Set {
        region: &region,
        wait: wait.clone(),
        set: None,
    };
    drive(&region, &mut set, &wait, input, totals);
}

/// Up to [`MAX_OPS`] + 1 operations on counters up to one past `count`.
pub(crate) fn sem_ops(input: &mut Input<'_>, count: u32, max: u32) -> Vec<SemOp> {
    let n = input.below(MAX_OPS as u32 + 2);
    (0..n)
        .map(|_| {
            let index = input.below(count.saturating_add(1));
            let k = input.below(max.saturating_add(2));
            match input.u8() % 3 {
                0 => SemOp::wait(index, k),
                1 => SemOp::post(index, k),
                _ => SemOp::wait_zero(index),
            }
        })
        .collect()
}

impl Subject for Set<'_> {
    fn attach(&mut self, len: usize) -> bool {
        // SAFETY: `len` bytes of the live allocation, initialised (zeroed,
        // then laid out), which outlives the view.
        let set = unsafe { SemaphoreSet::attach_raw(self.region.ptr(), len, self.wait.clone()) };
        // A refused attach leaves the handle already held as they
        // were: they go on over the bytes the peer wrote.
        let Ok(mut set) = set else { return false };
        let need = SemaphoreSet::layout(set.count())
            .expect("attach accepted an impossible count")
            .size;
        crate::assert_fits(need, len);
        set.set_spin_limit(len as u32 % 4);
        self.set = Some(set);
        true
    }

    fn attached(&self) -> bool {
        self.set.is_some()
    }

    fn op(&mut self, code: u8, input: &mut Input<'_>) {
        let Some(set) = &mut self.set else { return };
        let (count, max) = (set.count(), set.max());
        match code % 5 {
            0 => {
                let ops = sem_ops(input, count, max);
                let _ = set.try_op(&ops);
            }
            1 => {
                let ops = sem_ops(input, count, max);
                let _ = set.op(&ops, input.timeout());
            }
            2 => {
                let mut out = [0; 8];
                let n = input.index(out.len() + 1);
                if let Ok(got) = set.try_snapshot(&mut out[..n]) {
                    assert!(got <= n && got <= count as usize, "snapshot of {got}");
                }
            }
            3 => set.set_pid(input.u32()),
            _ => {
                let _ = (
                    set.value(input.below(count.saturating_add(2))),
                    set.pid(),
                    set.lock_holder(),
                );
            }
        }
    }
}
