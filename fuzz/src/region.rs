//! Zeroed, 128-aligned heap memory standing in for a shared mapping; the
//! interpreter keeps the pointer and writes through it as a hostile peer.
#![allow(unsafe_code)]

use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

use annulus::layout::REGION_ALIGN;

/// Words of the region header (`layout.rs`, `RegionHeader`: 16 `u32` fields).
pub(crate) const HEADER_WORDS: usize = 16;

pub(crate) struct Region {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl Region {
    pub(crate) fn zeroed(size: usize) -> Self {
        // Whole words (`write` writes only whole words), and not a byte
        // more: the address sanitizer catches an access past the end.
        let size = size.max(1).next_multiple_of(4);
        let layout = Layout::from_size_align(size, REGION_ALIGN).expect("region layout");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc_zeroed(layout) };
        let ptr = NonNull::new(raw).unwrap_or_else(|| handle_alloc_error(layout));
        Region { ptr, layout }
    }

    pub(crate) fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    pub(crate) fn len(&self) -> usize {
        self.layout.size()
    }

    /// The hostile peer's plain write of `bytes` over whole 32-bit words
    /// from `offset` (wrapped into the region, rounded down to a word): the
    /// last word is completed with zeros, and the run is clipped at the
    /// region's end.
    ///
    /// Whole words because a peer writing part of a word can produce no
    /// value a whole-word write cannot, and a plain write to part of a word
    /// last written atomically, followed by an atomic access to it, crashes
    /// miri's weak-memory emulation (the family of rust-lang/miri#5185; see
    /// core/tests/hostile/spsc_scribble.rs).
    ///
    /// The interpreter is one thread and calls this only between
    /// operations, with no chunk or frame borrowing the region's slots, so
    /// the write races with nothing: a peer process may write at any time,
    /// but in one process a racing plain write would be the harness's own
    /// data race.
    pub(crate) fn write(&self, offset: usize, bytes: &[u8]) {
        let start = (offset % self.len()) & !3;
        let mut words = [0u8; 64];
        let n = bytes.len().min(words.len());
        words[..n].copy_from_slice(&bytes[..n]);
        // The length is a multiple of 4, so whole words fit up to its end.
        let n = n.next_multiple_of(4).min(self.len() - start);
        // SAFETY: `start + n <= len`, inside our live allocation; nothing
        // else accesses it during the copy (see the doc comment).
        unsafe {
            std::ptr::copy_nonoverlapping(words.as_ptr(), self.ptr.as_ptr().add(start), n);
        }
    }

    /// The word at `index * 4` of the region header as an atomic.
    fn header_word(&self, index: usize) -> &AtomicU32 {
        assert!(index < HEADER_WORDS && 4 * HEADER_WORDS <= self.len());
        // SAFETY: in bounds (checked above), 4-aligned (the base is
        // 128-aligned), valid for as long as `self`. Initialised: the
        // allocation starts zeroed and the 16 words are all fields that
        // `init_raw` writes.
        unsafe { AtomicU32::from_ptr(self.ptr.as_ptr().add(4 * index).cast::<u32>()) }
    }

    /// The creator's region header, to restore it later.
    pub(crate) fn header(&self) -> [u32; HEADER_WORDS] {
        // Relaxed: one thread; nothing to order.
        std::array::from_fn(|i| self.header_word(i).load(Ordering::Relaxed))
    }

    /// Writes `saved` back over the region header: the peer repairs what
    /// `attach` checks, so the next attach succeeds over a body it left as
    /// it was.
    pub(crate) fn restore_header(&self, saved: &[u32; HEADER_WORDS]) {
        for (i, &word) in saved.iter().enumerate() {
            // Relaxed: one thread; nothing to order.
            self.header_word(i).store(word, Ordering::Relaxed);
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout; every view borrows
        // `self`, so none outlives this.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}
