//! The MPMC ring of `u32`: registrations of two senders and two
//! receivers, single and batch operations, participant records, repairs.
#![allow(unsafe_code)]

use annulus::Schema;
use annulus::mpmc::{InitOptions, Mpmc, Receiver, Sender};

use crate::input::Input;
use crate::region::Region;
use crate::waiter::NeverSleep;
use crate::{Subject, Totals, drive};

/// Longest batch.
const BATCH: usize = 9;

struct Ring<'r> {
    region: &'r Region,
    wait: NeverSleep,
    view: Option<Mpmc<'r, u32>>,
    tx: [Option<Sender<'r, u32, NeverSleep>>; 2],
    rx: [Option<Receiver<'r, u32, NeverSleep>>; 2],
}

pub(crate) fn run(input: &mut Input<'_>, totals: &mut Totals) {
    let cap = 2 << (input.u8() % 6);
    let participants = 1 + u32::from(input.u8() % 5);
    let size = Mpmc::<u32>::layout(cap, participants)
        .expect("a valid geometry")
        .size;
    let region = Region::zeroed(size);
    let options = InitOptions::default();
    // SAFETY: the whole fresh allocation, which outlives every view; no
    // other view exists yet.
    unsafe { Mpmc::<u32>::init_raw(region.ptr(), size, cap, participants, options) }
        .expect("init over a region of the layout's size");
    let wait = NeverSleep::default();
    let mut ring = Ring {
        region: &region,
        wait: wait.clone(),
        view: None,
        tx: [None, None],
        rx: [None, None],
    };
    drive(&region, &mut ring, &wait, input, totals);
}

impl Subject for Ring<'_> {
    fn attach(&mut self, len: usize) -> bool {
        // SAFETY: `len` bytes of the live allocation, initialised (zeroed,
        // then laid out), which outlives the view.
        let view = unsafe { Mpmc::<u32>::attach_raw(self.region.ptr(), len, Schema::of::<u32>()) };
        // A refused attach leaves the view and handles already held as they
        // were: they go on over the bytes the peer wrote.
        let Ok(view) = view else { return false };
        let need = Mpmc::<u32>::layout(view.capacity(), view.max_participants())
            .expect("attach accepted an impossible geometry");
        crate::assert_fits(need.size, len);
        (self.tx, self.rx, self.view) = ([None, None], [None, None], Some(view));
        true
    }

    fn attached(&self) -> bool {
        self.view.is_some()
    }

    fn op(&mut self, code: u8, input: &mut Input<'_>) {
        let Some(view) = self.view else { return };
        let cap = view.capacity();
        let who = usize::from(input.u8() % 2);
        let value = input.u32();
        match code % 12 {
            0 => {
                self.tx[who] = None;
                self.tx[who] = view.register_sender(input.u32(), self.wait.clone()).ok();
                if let Some(tx) = &mut self.tx[who] {
                    tx.set_spin_limit(u32::from(input.u8() % 4));
                }
            }
            1 => {
                self.rx[who] = None;
                self.rx[who] = view.register_receiver(input.u32(), self.wait.clone()).ok();
                if let Some(rx) = &mut self.rx[who] {
                    rx.set_spin_limit(u32::from(input.u8() % 4));
                }
            }
            2 => self.tx[who] = None,
            3 => self.rx[who] = None,
            4 => {
                if let Some(tx) = &mut self.tx[who]
                    && let Err(e) = tx.push(value)
                {
                    assert_eq!(e.into_inner(), value, "push returned another value");
                }
            }
            5 => {
                if let Some(tx) = &mut self.tx[who] {
                    let n = input.index(BATCH + 1);
                    if let Ok(sent) = tx.push_slice(&[value; BATCH][..n]) {
                        assert!(sent <= n, "push_slice sent {sent} of {n}");
                    }
                }
            }
            6 => {
                if let Some(tx) = &mut self.tx[who]
                    && let Err(e) = tx.push_blocking(value, input.timeout())
                {
                    assert_eq!(
                        e.into_inner(),
                        value,
                        "push_blocking returned another value"
                    );
                }
            }
            7 => {
                if let Some(rx) = &mut self.rx[who] {
                    let _ = rx.pop();
                }
            }
            8 => {
                if let Some(rx) = &mut self.rx[who] {
                    let mut out = [0; BATCH];
                    let n = input.index(BATCH + 1);
                    if let Ok(got) = rx.pop_slice(&mut out[..n]) {
                        assert!(got <= n, "pop_slice read {got} into {n}");
                    }
                }
            }
            9 => {
                if let Some(rx) = &mut self.rx[who] {
                    let _ = rx.pop_blocking(input.timeout());
                }
            }
            10 => {
                assert!(view.len() <= cap, "len beyond the capacity");
                let _ = (view.senders(), view.receivers(), view.repairs());
                let _ = view.participant(input.u32() % view.max_participants().saturating_add(2));
                let bound = view.max_participants() as usize;
                let held = view.held_claims().take(bound.saturating_add(1)).count();
                assert!(held <= bound, "more held claims than records");
                for tx in self.tx.iter().flatten() {
                    let _ = tx.is_disconnected();
                }
                for rx in self.rx.iter().flatten() {
                    let _ = rx.is_disconnected();
                }
            }
            _ => {
                // A repairer that takes the holders whose pid's low bit is in
                // `alive` for live processes.
                let alive = input.u8();
                let mut orphans = 0u32;
                let report = view.repair(
                    input.u32(),
                    &self.wait,
                    |claim| (claim.pid & 1) == u32::from(alive & 1),
                    |_| orphans += 1,
                );
                if let Ok(report) = report {
                    assert!(report.dead <= view.max_participants(), "{report:?}");
                    assert_eq!(report.orphans, orphans, "orphans reported and handed over");
                }
            }
        }
    }
}
