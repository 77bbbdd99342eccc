//! Element types of the rings under test: bytes, words and a 24-byte record.

use core::fmt::Debug;
use core::mem::size_of;

use annulus::Pod;
use bytemuck::Zeroable;

use crate::spsc_live::{Live, Op};
use crate::support::Rng;

/// A 24-byte plain element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub(crate) struct Rec {
    pub(crate) seq: u64,
    pub(crate) lo: u32,
    pub(crate) hi: u32,
    pub(crate) tag: [u8; 8],
}

// No padding: 8 + 4 + 4 + 8 bytes at alignment 8.
const _: () = assert!(size_of::<Rec>() == 24 && core::mem::align_of::<Rec>() == 8);

// SAFETY: `repr(C)` integers and bytes with no padding (asserted above), so
// all-zero bytes are a valid `Rec`.
unsafe impl Zeroable for Rec {}
// SAFETY: as above; every bit pattern is a valid `Rec`, it has no pointers
// and no drop glue, and it is `Copy + 'static`.
unsafe impl Pod for Rec {}

/// What the tests need from an element type.
pub(crate) trait Elem: Pod + PartialEq + Debug {
    const NAME: &'static str;

    /// The `i`-th element of a known sequence.
    fn numbered(i: u64) -> Self;

    fn random(rng: &mut Rng) -> Self {
        let mut value = Self::zeroed();
        rng.fill(bytemuck::bytes_of_mut(&mut value));
        value
    }

    /// Runs a byte-stream operation (rings of `u8` only); `false` if `Self`
    /// has none.
    fn stream_op(live: &mut Live<'_, Self>, op: Op) -> bool {
        let _ = (live, op);
        false
    }
}

impl Elem for u8 {
    const NAME: &'static str = "u8";

    fn numbered(i: u64) -> Self {
        i as u8
    }

    fn stream_op(live: &mut Live<'_, u8>, op: Op) -> bool {
        live.stream_op(op);
        true
    }
}

impl Elem for u64 {
    const NAME: &'static str = "u64";

    fn numbered(i: u64) -> Self {
        i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

impl Elem for Rec {
    const NAME: &'static str = "rec24";

    fn numbered(i: u64) -> Self {
        Rec {
            seq: i,
            lo: i as u32 ^ 0xA5A5_A5A5,
            hi: (i >> 32) as u32,
            tag: i.to_le_bytes(),
        }
    }
}
