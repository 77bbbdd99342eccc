//! The counting semaphore.
#![allow(unsafe_code)]

use annulus::semaphore::{InitOptions, Semaphore};

use crate::input::Input;
use crate::region::Region;
use crate::waiter::NeverSleep;
use crate::{Subject, Totals, drive};

struct Sem<'r> {
    region: &'r Region,
    wait: NeverSleep,
    sem: Option<Semaphore<'r, NeverSleep>>,
}

pub(crate) fn run(input: &mut Input<'_>, totals: &mut Totals) {
    let max = 1 + u32::from(input.u8() % 8);
    let initial = input.below(max.saturating_add(1));
    let size = Semaphore::region_size();
    let region = Region::zeroed(size);
    let wait = NeverSleep::default();
    // SAFETY: the whole fresh allocation, which outlives every view; no
    // other view exists yet.
    let laid = unsafe {
        Semaphore::init_raw(
            region.ptr(),
            size,
            initial,
            max,
            InitOptions::default(),
            wait.clone(),
        )
    };
    drop(laid.expect("init over a region of the layout's size"));
    let mut sem = Sem {
        region: &region,
        wait: wait.clone(),
        sem: None,
    };
    drive(&region, &mut sem, &wait, input, totals);
}

impl Subject for Sem<'_> {
    fn attach(&mut self, len: usize) -> bool {
        // SAFETY: `len` bytes of the live allocation, initialised (zeroed,
        // then laid out), which outlives the view.
        let sem = unsafe { Semaphore::attach_raw(self.region.ptr(), len, self.wait.clone()) };
        // A refused attach leaves the handle already held as they
        // were: they go on over the bytes the peer wrote.
        let Ok(mut sem) = sem else { return false };
        let need = Semaphore::region_size();
        crate::assert_fits(need, len);
        sem.set_spin_limit(len as u32 % 4);
        self.sem = Some(sem);
        true
    }

    fn attached(&self) -> bool {
        self.sem.is_some()
    }

    fn op(&mut self, code: u8, input: &mut Input<'_>) {
        let Some(sem) = &self.sem else { return };
        let n = input.below(sem.max().saturating_add(2));
        match code % 6 {
            0 => {
                let _ = sem.post(n);
            }
            1 => {
                let _ = sem.try_wait(n);
            }
            2 => {
                let _ = sem.wait(n, input.timeout());
            }
            3 => {
                let _ = sem.try_wait_zero();
            }
            4 => {
                let _ = sem.wait_zero(input.timeout());
            }
            _ => {
                let _ = (sem.value(), sem.max(), sem.spin_limit());
            }
        }
    }
}
