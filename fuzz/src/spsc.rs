//! The SPSC ring of `u32`: roles, single and batch operations, chunks.
#![allow(unsafe_code)]

use annulus::Schema;
use annulus::claim::Claim;
use annulus::spsc::{Consumer, InitOptions, Producer, Spsc};

use crate::input::Input;
use crate::region::Region;
use crate::waiter::NeverSleep;
use crate::{Subject, Totals, drive};

/// Longest batch.
const BATCH: usize = 9;

struct Ring<'r> {
    region: &'r Region,
    wait: NeverSleep,
    view: Option<Spsc<'r, u32>>,
    tx: Option<Producer<'r, u32, NeverSleep>>,
    rx: Option<Consumer<'r, u32, NeverSleep>>,
}

pub(crate) fn run(input: &mut Input<'_>, totals: &mut Totals) {
    let cap = 1 << (input.u8() % 7);
    let size = Spsc::<u32>::layout(cap).expect("a valid capacity").size;
    let region = Region::zeroed(size);
    // SAFETY: the whole fresh allocation, which outlives every view; no
    // other view exists yet.
    unsafe { Spsc::<u32>::init_raw(region.ptr(), size, cap, InitOptions::default()) }
        .expect("init over a region of the layout's size");
    let wait = NeverSleep::default();
    let mut ring = Ring {
        region: &region,
        wait: wait.clone(),
        view: None,
        tx: None,
        rx: None,
    };
    drive(&region, &mut ring, &wait, input, totals);
}

fn claim(input: &mut Input<'_>) -> Claim {
    Claim {
        pid: input.u32(),
        generation: input.u32() >> 2,
    }
}

impl Subject for Ring<'_> {
    fn attach(&mut self, len: usize) -> bool {
        // SAFETY: `len` bytes of the live allocation, initialised (zeroed,
        // then laid out), which outlives the view.
        let view = unsafe { Spsc::<u32>::attach_raw(self.region.ptr(), len, Schema::of::<u32>()) };
        // A refused attach leaves the view and handles already held as they
        // were: they go on over the bytes the peer wrote.
        let Ok(view) = view else { return false };
        let cap = view.capacity();
        let need = Spsc::<u32>::layout(cap).expect("attach accepted an impossible capacity");
        crate::assert_fits(need.size, len);
        assert!(view.len() <= cap);
        (self.tx, self.rx, self.view) = (None, None, Some(view));
        true
    }

    fn attached(&self) -> bool {
        self.view.is_some()
    }

    fn op(&mut self, code: u8, input: &mut Input<'_>) {
        let Some(view) = self.view else { return };
        let cap = view.capacity();
        let value = input.u32();
        match code % 16 {
            0 => {
                self.tx = None;
                self.tx = view.claim_producer(input.u32(), self.wait.clone()).ok();
                if let Some(tx) = &mut self.tx {
                    tx.set_spin_limit(u32::from(input.u8() % 4));
                }
            }
            1 => {
                self.rx = None;
                self.rx = view.claim_consumer(input.u32(), self.wait.clone()).ok();
                if let Some(rx) = &mut self.rx {
                    rx.set_spin_limit(u32::from(input.u8() % 4));
                }
            }
            2 => self.tx = None,
            3 => self.rx = None,
            4 => {
                if let Some(tx) = &mut self.tx
                    && let Err(e) = tx.push(value)
                {
                    assert_eq!(e.into_inner(), value, "push returned another value");
                }
            }
            5 => {
                if let Some(tx) = &mut self.tx {
                    let values = [value; BATCH];
                    let n = input.index(BATCH + 1);
                    if let Ok(sent) = tx.push_slice(&values[..n]) {
                        assert!(sent <= n, "push_slice sent {sent} of {n}");
                    }
                }
            }
            6 => {
                if let Some(tx) = &mut self.tx
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
                if let Some(rx) = &mut self.rx {
                    let _ = rx.pop();
                }
            }
            8 => {
                if let Some(rx) = &mut self.rx {
                    let mut out = [0; BATCH];
                    let n = input.index(BATCH + 1);
                    if let Ok(got) = rx.pop_slice(&mut out[..n]) {
                        assert!(got <= n, "pop_slice read {got} into {n}");
                    }
                }
            }
            9 => {
                if let Some(rx) = &mut self.rx {
                    let _ = rx.pop_blocking(input.timeout());
                }
            }
            10 => {
                if let Some(rx) = &mut self.rx {
                    let _ = rx.wait_readable(input.timeout());
                }
            }
            11 => {
                if let Some(tx) = &mut self.tx {
                    let n = input.below(cap.saturating_add(2));
                    if let Ok(mut chunk) = tx.write_chunk(n) {
                        let len = chunk.len();
                        assert!(len <= n, "a write chunk of {len} for {n}");
                        let (a, b) = chunk.as_mut_slices();
                        assert_eq!(a.len() + b.len(), len as usize);
                        chunk.fill_from(&[value; BATCH]);
                        chunk.commit(input.below(len.saturating_add(1)));
                    }
                }
            }
            12 => {
                if let Some(rx) = &mut self.rx {
                    let n = input.below(cap.saturating_add(2));
                    if let Ok(chunk) = rx.read_chunk(n) {
                        let len = chunk.len();
                        assert!(len <= n, "a read chunk of {len} for {n}");
                        let (a, b) = chunk.as_slices();
                        assert_eq!(a.len() + b.len(), len as usize);
                        let mut out = [0; BATCH];
                        assert!(chunk.copy_to(&mut out) <= BATCH);
                        chunk.release(input.below(len.saturating_add(1)));
                    }
                }
            }
            13 => {
                assert!(view.len() <= cap);
                let _ = (
                    view.is_empty(),
                    view.producer_state(),
                    view.consumer_state(),
                );
                if let Some(tx) = &mut self.tx {
                    assert!(tx.free() <= cap, "free beyond the capacity");
                    let _ = tx.is_disconnected();
                }
                if let Some(rx) = &mut self.rx {
                    assert!(rx.len() <= cap, "len beyond the capacity");
                    let _ = (rx.is_empty(), rx.is_disconnected());
                }
            }
            14 => {
                let _ = view.release_dead_producer(claim(input), &self.wait);
            }
            _ => {
                let _ = view.release_dead_consumer(claim(input), &self.wait);
            }
        }
    }
}
