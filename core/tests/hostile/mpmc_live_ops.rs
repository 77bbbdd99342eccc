//! The live MPMC operations with more to check: repairs with a random idea
//! of who is alive, and second views attached as another process would.

use annulus::Schema;
use annulus::claim::Claim;
use annulus::mpmc::{Mpmc, RepairReport};

use crate::elem::Elem;
use crate::mpmc_live::MpmcLive;
use crate::names::{attach_error_name, repair_error_name};
use crate::support::Rng;

impl<T: Elem> MpmcLive<'_, T> {
    /// A repair with a random idea of who is alive. Whatever it finds, it
    /// returns, and hands out no more orphans than it reports.
    pub(crate) fn repair(&mut self) {
        let ring = self.ring;
        let w = self.waiter();
        let mode = self.rng.below(4);
        let mut coin = Rng::new(self.rng.next_u64(), 0);
        let is_alive = |claim: Claim| match mode {
            0 => true,
            1 => false,
            2 => coin.one_in(2),
            // Odd pids are dead processes.
            _ => claim.pid % 2 == 0,
        };
        let mut orphans = 0u32;
        let pid = self.rng.next_u32();
        match ring.repair(pid, &w, is_alive, |_: T| orphans += 1) {
            Ok(report) => {
                let RepairReport {
                    dead,
                    skipped,
                    orphans: reported,
                } = report;
                assert_eq!(reported, orphans, "on_orphan calls");
                assert!(dead <= self.geo.parts, "{report:?}");
                let slots = u64::from(self.geo.parts) * u64::from(self.geo.cap);
                assert!(
                    u64::from(skipped) + u64::from(reported) <= slots,
                    "{report:?}"
                );
                if dead > 0 {
                    self.stats.saw("repair released a record");
                }
                if skipped > 0 {
                    self.stats.saw("repair skipped a slot");
                }
                if reported > 0 {
                    self.stats.saw("repair handed back an orphan");
                }
                self.stats.ok("repair");
            }
            Err(e) => self.stats.saw(repair_error_name(&e)),
        }
    }

    /// A second view over the live region, as another process attaching.
    pub(crate) fn attach_view(&mut self) {
        let len = self.region.len();
        match self.region.mpmc_attach_at::<T>(0, len, Schema::of::<T>()) {
            Ok(view) => {
                let (vcap, vparts) = (view.capacity(), view.max_participants());
                let layout = Mpmc::<T>::layout(vcap, vparts).expect("attach accepted bad sizes");
                assert!(
                    layout.size <= len,
                    "attach accepted a ring larger than its memory"
                );
                assert!(view.len() <= vcap);
                self.stats.ok("attach_raw view");
                if self.rng.one_in(4) && self.room() {
                    // Through the view, as the other process would.
                    if let Ok(mut tx) = view.sender(self.waiter()) {
                        let _ = tx.push(T::random(&mut self.rng));
                        self.stats.saw("sender registered through a second view");
                    }
                    if let Ok(mut rx) = view.receiver(self.waiter()) {
                        let _ = rx.pop();
                        self.stats.saw("receiver registered through a second view");
                    }
                }
            }
            Err(e) => self.stats.saw(attach_error_name(&e)),
        }
    }
}
