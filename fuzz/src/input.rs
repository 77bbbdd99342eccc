//! The fuzzer's bytes, read as a program. Every read succeeds (zeros once
//! the input is spent), so every input is a valid program.

use core::time::Duration;

use crate::waiter::TICK_NS;

/// A cursor over the input.
#[derive(Debug)]
pub(crate) struct Input<'d> {
    data: &'d [u8],
}

impl<'d> Input<'d> {
    pub(crate) fn new(data: &'d [u8]) -> Self {
        Input { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&byte, rest)) => {
                self.data = rest;
                byte
            }
            None => 0,
        }
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub(crate) fn bytes(&mut self, n: usize) -> &'d [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u32) -> u32 {
        if n <= 256 {
            u32::from(self.u8()) % n.max(1)
        } else {
            self.u32() % n
        }
    }

    /// A value in `0..n` as an index or a length.
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(u32::try_from(n).unwrap_or(u32::MAX)) as usize
    }

    pub(crate) fn flag(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// A timeout of zero to three ticks of the waiter's clock: never none,
    /// so every blocking call must return.
    pub(crate) fn timeout(&mut self) -> Option<Duration> {
        Some(Duration::from_nanos(u64::from(self.u8() % 4) * TICK_NS))
    }

    /// A 32-bit word a hostile peer might write: an edge value, one near
    /// `near` (a capacity, a count), or any word.
    pub(crate) fn word(&mut self, near: u32) -> u32 {
        match self.u8() % 8 {
            0 => 0,
            1 => u32::MAX,
            2 => 1 << 31,
            3 => near.wrapping_add(u32::from(self.u8() % 4)).wrapping_sub(1),
            4 => near.wrapping_mul(2),
            5 => annulus::layout::MAGIC,
            _ => self.u32(),
        }
    }
}
