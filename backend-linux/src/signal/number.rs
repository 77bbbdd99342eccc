//! Naming real-time signals, and sets of them (see the module docs on the
//! range offered).

// One unsafe block: naming an `RtSignal` as a rustix `Signal`.
#![allow(unsafe_code)]

use linux_raw_sys::general as k;
use rustix::process::Signal;

use crate::raw::SigSet;

/// A real-time signal number that no C library reserves (see the module
/// docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RtSignal(u8);

impl RtSignal {
    /// The first number offered: 35 (above glibc's and musl's reserved
    /// signals), or 42 on Android (above bionic's).
    pub const FIRST: i32 = if cfg!(target_os = "android") { 42 } else { 35 };
    /// The last real-time signal, `SIGRTMAX` (64).
    pub const LAST: i32 = k::_NSIG as i32;
    /// How many numbers [`RtSignal::nth`] accepts.
    pub const COUNT: u32 = (Self::LAST - Self::FIRST + 1) as u32;

    /// The `n`th signal from [`RtSignal::FIRST`], or `None` when `n` is not
    /// below [`RtSignal::COUNT`].
    pub const fn nth(n: u32) -> Option<RtSignal> {
        if n < Self::COUNT {
            Some(RtSignal((Self::FIRST as u32 + n) as u8))
        } else {
            None
        }
    }

    /// The signal with kernel number `signo`, if it is in the offered range.
    pub const fn from_raw(signo: i32) -> Option<RtSignal> {
        if Self::FIRST <= signo && signo <= Self::LAST {
            Some(RtSignal(signo as u8))
        } else {
            None
        }
    }

    /// The kernel's signal number.
    pub const fn as_raw(self) -> i32 {
        self.0 as i32
    }

    /// Bit `signo - 1` of a kernel signal set.
    const fn bit(self) -> SigSet {
        1 << (self.0 - 1)
    }

    /// The same signal as rustix names it.
    pub(super) fn to_rustix(self) -> Signal {
        // SAFETY: a valid non-zero signal number (at most SIGRTMAX), and
        // above the range any C library reserves, so using it cannot disturb
        // one (rustix's condition).
        unsafe { Signal::from_raw_unchecked(self.as_raw()) }
    }
}

/// A set of [`RtSignal`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SignalSet(SigSet);

/// The bits of every [`RtSignal`].
const RT_BITS: SigSet = (u64::MAX >> (64 - RtSignal::COUNT)) << (RtSignal::FIRST - 1);

impl SignalSet {
    /// The empty set.
    pub const EMPTY: SignalSet = SignalSet(0);

    /// This set and `sig`.
    #[must_use]
    pub const fn with(self, sig: RtSignal) -> SignalSet {
        SignalSet(self.0 | sig.bit())
    }

    /// This set without `sig`.
    #[must_use]
    pub const fn without(self, sig: RtSignal) -> SignalSet {
        SignalSet(self.0 & !sig.bit())
    }

    /// Whether `sig` is in the set.
    pub const fn contains(self, sig: RtSignal) -> bool {
        self.0 & sig.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The kernel signal set.
    pub(super) const fn bits(self) -> SigSet {
        self.0
    }

    /// The real-time signals of a kernel signal set; the others are dropped.
    pub(super) const fn from_kernel(bits: SigSet) -> SignalSet {
        SignalSet(bits & RT_BITS)
    }
}

impl From<RtSignal> for SignalSet {
    fn from(sig: RtSignal) -> SignalSet {
        SignalSet::EMPTY.with(sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offered_range_avoids_every_c_library() {
        assert_eq!(RtSignal::LAST, 64);
        assert_eq!(
            RtSignal::nth(0).map(RtSignal::as_raw),
            Some(RtSignal::FIRST)
        );
        assert_eq!(
            RtSignal::nth(RtSignal::COUNT - 1).map(RtSignal::as_raw),
            Some(64)
        );
        assert_eq!(RtSignal::nth(RtSignal::COUNT), None);
        assert_eq!(RtSignal::from_raw(34), None, "glibc's SIGRTMIN, musl's");
        assert_eq!(RtSignal::from_raw(65), None);
        assert_eq!(RtSignal::from_raw(0), None);
        assert_eq!(RtSignal::from_raw(-1), None);
    }

    #[test]
    fn sets_hold_the_kernel_bits() {
        let a = RtSignal::nth(0).unwrap();
        let b = RtSignal::nth(RtSignal::COUNT - 1).unwrap();
        let set = SignalSet::EMPTY.with(a).with(b);
        assert_eq!(set.bits(), 1 << (a.as_raw() - 1) | 1 << 63);
        assert!(set.contains(a) && set.contains(b));
        assert!(set.without(a).without(b).is_empty());
        assert_eq!(RT_BITS.count_ones(), RtSignal::COUNT);
        assert_eq!(SignalSet::from_kernel(u64::MAX).bits(), RT_BITS);
        assert_eq!(SignalSet::from_kernel(set.bits()), set);
    }
}
