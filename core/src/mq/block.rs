//! Blocks: the queue's whole index in `u32` words, and the snapshot an
//! operation takes of the current one, edits and installs.
//!
//! Happens-before: everything an operation did before its install CAS (its
//! block edits, the payload a sender wrote into its slot, the payload a
//! receiver copied out of the slot it now frees) → the install (Release) →
//! any later operation's root load (Acquire) → everything that operation
//! does. The root is only ever changed by install CASes, read-modify-writes
//! that continue each other's release sequences.
//!
//! A block is read *speculatively*: the reader copies it while its next owner
//! may already be rewriting it, then re-reads the root. The owner's rewrite
//! happens after the CAS that replaced the block, and a Release fence sits
//! between the two; the reader's copy is followed by an Acquire fence; so a
//! reader that saw any rewritten word also sees the root changed (a seqlock).
//!
//! Word layout of a block:
//!
//! ```text
//! 0..8          header: queued, queue head, free, bytes, last sender,
//!               last receiver, sent, received
//! 8..8+P        per participant: held slot (low 16 bits, 0xFFFF none)
//!               | its scratch block (high 16 bits)
//! ..+ceil(S/32) bitmap of free slots (S = max messages + participants)
//! ..+3*M        queued messages, a circular list from the queue head in
//!               receive order: slot | priority << 16, type, length
//! ```

use super::{MessageQueue, Stats};
#[cfg(loom)]
use crate::sync::LocalFlag;
use crate::sync::{AtomicU32, Ordering, fence};

/// The ordering of every load and store of a block word: Relaxed, because
/// the root's Acquire/Release and the seqlock fences order them (module
/// docs).
#[cfg(not(loom))]
#[inline(always)]
const fn word() -> Ordering {
    Ordering::Relaxed
}

/// Under loom, SeqCst unless a model asks for Relaxed
/// ([`loom_relaxed_block_words`]).
///
/// A Relaxed load lets loom choose among every store its thread has not yet
/// seen, and a speculative block copy makes a few dozen such loads on words
/// that their next owner may be rewriting: the product of those choices kept
/// whole-queue models running for hours. SeqCst words read only the newest
/// store, so those models still explore every interleaving of copies with
/// rewrites (torn copies, recycled blocks, stale versions: the protocol's
/// logic) in seconds. The seqlock's fence pairing, which SeqCst words would
/// hide, is checked by a separate, smaller model on Relaxed words
/// (`loom-tests/tests/mq_snapshot.rs`).
#[cfg(loom)]
fn word() -> Ordering {
    // Relaxed: a process-local switch, set before the model starts.
    if RELAXED_WORDS.load(Ordering::Relaxed) {
        Ordering::Relaxed
    } else {
        Ordering::SeqCst
    }
}

#[cfg(loom)]
static RELAXED_WORDS: LocalFlag = LocalFlag::new(false);

/// loom only: makes every block word access Relaxed, as in real builds, for
/// this whole process (a test binary of its own). See `word`.
#[cfg(loom)]
#[doc(hidden)]
pub fn loom_relaxed_block_words(relaxed: bool) {
    // Relaxed: read by this process's models after this returns.
    RELAXED_WORDS.store(relaxed, Ordering::Relaxed);
}

const N_QUEUE: usize = 0;
const Q_HEAD: usize = 1;
const N_FREE: usize = 2;
const BYTES: usize = 3;
const LAST_SENDER: usize = 4;
const LAST_RECEIVER: usize = 5;
const SENT: usize = 6;
const RECEIVED: usize = 7;
const HEADER_WORDS: u32 = 8;
/// Words per queued message.
const ENTRY_WORDS: u32 = 3;
/// "No slot" in a participant word.
pub(crate) const NO_SLOT: u32 = 0xFFFF;

/// Sizes and word offsets of a queue's blocks, computed from the three
/// validated parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) max_messages: u32,
    pub(crate) message_size: u32,
    pub(crate) participants: u32,
    /// Message slots: one per queued message plus one per participant.
    pub(crate) slots: u32,
    pub(crate) bitmap_at: u32,
    pub(crate) queue_at: u32,
    pub(crate) block_words: u32,
}

impl Geometry {
    /// The geometry; the arguments must be within the module's limits (they
    /// keep every sum far below `u32::MAX` and slot ids below [`NO_SLOT`]).
    pub(crate) const fn new(max_messages: u32, message_size: u32, participants: u32) -> Self {
        let slots = max_messages + participants;
        let bitmap_at = HEADER_WORDS + participants;
        let queue_at = bitmap_at + slots.div_ceil(32);
        Geometry {
            max_messages,
            message_size,
            participants,
            slots,
            bitmap_at,
            queue_at,
            block_words: queue_at + ENTRY_WORDS * max_messages,
        }
    }
}

/// Why an operation could not proceed on this round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Abort {
    /// The snapshot was overtaken (retry) or, once the budget is spent,
    /// too many were.
    Overtaken,
    /// A word read from the region is impossible.
    Corrupted,
}

/// One queued message, as its entry in a block says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) slot: u32,
    pub(crate) priority: u16,
    pub(crate) mtype: u32,
    pub(crate) len: u32,
}

/// The counters in a block's header words, read with `get(word index)`;
/// shared with read-only inspection, which reads the words itself.
pub(crate) fn stats_from(mut get: impl FnMut(usize) -> u32) -> Stats {
    Stats {
        messages: get(N_QUEUE),
        bytes: get(BYTES),
        last_sender: get(LAST_SENDER),
        last_receiver: get(LAST_RECEIVER),
        sent: get(SENT),
        received: get(RECEIVED),
    }
}

/// Writes the first root block into `words`: nothing queued, every slot
/// free, participant `p` owning scratch block `p`.
pub(crate) fn write_initial(g: &Geometry, words: &[AtomicU32]) {
    // word(): init publishes everything with the header's READY store.
    let set = |i: u32, v: u32| words[i as usize].store(v, word());
    for i in 0..g.block_words {
        set(i, 0);
    }
    set(N_FREE as u32, g.slots);
    for p in 0..g.participants {
        set(HEADER_WORDS + p, NO_SLOT | (p << 16));
    }
    for w in 0..g.slots.div_ceil(32) {
        let bits_here = (g.slots - w * 32).min(32);
        let mask = if bits_here == 32 {
            u32::MAX
        } else {
            (1 << bits_here) - 1
        };
        set(g.bitmap_at + w, mask);
    }
}

/// An exact copy of the block that was current at `root`, in a scratch
/// block that only this participant writes.
pub(crate) struct Snapshot<'q> {
    words: &'q [AtomicU32],
    g: Geometry,
    root: u64,
    scratch: u32,
}

impl<'q> Snapshot<'q> {
    /// Copies the current block into block `scratch` and checks that it was
    /// still current after the copy. One round: [`Abort::Overtaken`] asks
    /// the caller to retry (within its budget).
    pub(crate) fn take(mq: &MessageQueue<'q>, scratch: u32) -> Result<Self, Abort> {
        let words = mq.block(scratch);
        let root_word = &mq.hdr().root.0;
        // SYNC POINT mq rewrite: orders the CAS that made `scratch` ours
        // (it replaced this block as root) before the stores below, against
        // a stale reader's Acquire fence in this function.
        fence(Ordering::Release);
        // SYNC POINT mq root: Acquire pairs with `install`'s Release, so the
        // block it names (and the payloads queued with it) are visible.
        let root = root_word.load(Ordering::Acquire);
        let current = (root & 0xFFFF) as u32;
        if current > mq.geometry.participants || current == scratch {
            return Err(Abort::Corrupted);
        }
        copy_block(&mq.geometry, mq.block(current), words);
        // SYNC POINT mq rewrite: if any word copied above was written by the
        // block's next owner, its Release fence synchronises with this one
        // and the root load below sees the CAS that preceded the rewrite.
        fence(Ordering::Acquire);
        // Relaxed: ordered by the fence above.
        if root_word.load(Ordering::Relaxed) != root {
            return Err(Abort::Overtaken);
        }
        Ok(Snapshot {
            words,
            g: mq.geometry,
            root,
            scratch,
        })
    }

    /// Installs this (edited) block as the root if the root is still the one
    /// it was copied from; on success the replaced block is the caller's new
    /// scratch block, and the caller must have recorded that in this block
    /// with [`Snapshot::set_scratch_of`].
    pub(crate) fn install(&self, mq: &MessageQueue<'q>) -> bool {
        let version = (self.root >> 16).wrapping_add(1);
        let next = (version << 16) | u64::from(self.scratch);
        // SYNC POINT mq root: Release publishes this block and everything
        // the operation did before (payload written or read) to the next
        // root load (Acquire). Relaxed on failure: the caller retries.
        mq.hdr()
            .root
            .0
            .compare_exchange(self.root, next, Ordering::Release, Ordering::Relaxed)
            .is_ok()
    }

    /// The block this snapshot was copied from (the caller's scratch block
    /// once [`Snapshot::install`] succeeds).
    pub(crate) fn source(&self) -> u32 {
        (self.root & 0xFFFF) as u32
    }

    /// Reads the counters from one consistent view of the current block.
    pub(crate) fn read_stats(mq: &MessageQueue<'q>) -> Result<Stats, Abort> {
        read_consistent(mq, |words, _| {
            // word(): validated by the root re-read in `read_consistent`.
            stats_from(|i| words[i].load(word()))
        })
    }

    /// Reads which scratch block participant `me` owns, from one consistent
    /// view of the current block (for a newly registered endpoint).
    pub(crate) fn read_scratch_of(mq: &MessageQueue<'q>, me: u32) -> Result<u32, Abort> {
        let (scratch, current) = read_consistent(mq, |words, current| {
            // word(): validated by the root re-read in `read_consistent`.
            let mine = words[(HEADER_WORDS + me) as usize].load(word());
            (mine >> 16, current)
        })?;
        if scratch > mq.geometry.participants || scratch == current {
            return Err(Abort::Corrupted);
        }
        Ok(scratch)
    }

    /// Checks the snapshot's bookkeeping: counts in range, every slot
    /// accounted for exactly once by count, scratch blocks distinct and not
    /// the root, and `me` (if any) owning `my_scratch`.
    pub(crate) fn validate(&self, me: Option<u32>) -> Result<(), Abort> {
        let g = &self.g;
        let queued = self.get(N_QUEUE as u32);
        let free = self.get(N_FREE as u32);
        if queued > g.max_messages || self.get(Q_HEAD as u32) >= g.max_messages || free > g.slots {
            return Err(Abort::Corrupted);
        }
        let mut free_bits = 0u32;
        for w in 0..g.slots.div_ceil(32) {
            let bits = self.get(g.bitmap_at + w);
            let valid = (g.slots - w * 32).min(32);
            if valid < 32 && bits >> valid != 0 {
                return Err(Abort::Corrupted);
            }
            free_bits += bits.count_ones();
        }
        // Blocks 0..=participants (at most 257): one bit each.
        let mut owned = [0u32; (super::MAX_PARTICIPANTS as usize + 1).div_ceil(32)];
        let root_block = self.source();
        owned[root_block as usize / 32] |= 1 << (root_block % 32);
        let mut held = 0u32;
        for p in 0..g.participants {
            let word = self.get(HEADER_WORDS + p);
            let (slot, block) = (word & 0xFFFF, word >> 16);
            if slot != NO_SLOT {
                if slot >= g.slots {
                    return Err(Abort::Corrupted);
                }
                held += 1;
            }
            let bit = 1 << (block % 32);
            if block > g.participants || owned[block as usize / 32] & bit != 0 {
                return Err(Abort::Corrupted);
            }
            owned[block as usize / 32] |= bit;
        }
        if free_bits != free || queued + free + held != g.slots {
            return Err(Abort::Corrupted);
        }
        if let Some(me) = me
            && self.get(HEADER_WORDS + me) >> 16 != self.scratch
        {
            return Err(Abort::Corrupted);
        }
        Ok(())
    }

    pub(crate) fn queued(&self) -> u32 {
        self.get(N_QUEUE as u32)
    }

    pub(crate) fn is_full(&self) -> bool {
        self.queued() >= self.g.max_messages
    }

    /// The `j`th queued message in receive order (`j < queued()`).
    pub(crate) fn entry(&self, j: u32) -> Result<Entry, Abort> {
        let at = self.entry_at(j);
        let w0 = self.get(at);
        let entry = Entry {
            slot: w0 & 0xFFFF,
            priority: (w0 >> 16) as u16,
            mtype: self.get(at + 1),
            len: self.get(at + 2),
        };
        if entry.slot >= self.g.slots || entry.mtype == 0 || entry.len > self.g.message_size {
            return Err(Abort::Corrupted);
        }
        Ok(entry)
    }

    /// Removes the `k`th queued message (`k < queued()`), moving whichever
    /// side of it is shorter.
    pub(crate) fn remove(&self, k: u32) {
        let n = self.queued();
        debug_assert!(k < n);
        if k < n - 1 - k {
            for j in (0..k).rev() {
                self.move_entry(self.entry_at(j), self.entry_at(j + 1));
            }
            let head = self.get(Q_HEAD as u32);
            self.set(Q_HEAD as u32, (head + 1) % self.g.max_messages);
        } else {
            for j in k + 1..n {
                self.move_entry(self.entry_at(j), self.entry_at(j - 1));
            }
        }
        self.set(N_QUEUE as u32, n - 1);
    }

    /// Queues `entry` after every message of its priority or higher (the
    /// queue must not be full).
    pub(crate) fn insert(&self, entry: Entry) {
        let n = self.queued();
        debug_assert!(n < self.g.max_messages);
        let mut m = n;
        while m > 0 && self.priority_at(m - 1) < entry.priority {
            m -= 1;
        }
        if m < n - m {
            // Shift the front part one place towards the head.
            let head = self.get(Q_HEAD as u32);
            let new_head = (head + self.g.max_messages - 1) % self.g.max_messages;
            self.set(Q_HEAD as u32, new_head);
            for j in 0..m {
                // After the head moved, old logical j is new logical j + 1.
                self.move_entry(self.entry_at(j + 1), self.entry_at(j));
            }
        } else {
            for j in (m..n).rev() {
                self.move_entry(self.entry_at(j), self.entry_at(j + 1));
            }
        }
        let at = self.entry_at(m);
        self.set(at, entry.slot | (u32::from(entry.priority) << 16));
        self.set(at + 1, entry.mtype);
        self.set(at + 2, entry.len);
        self.set(N_QUEUE as u32, n + 1);
    }

    /// The slot participant `p` holds, if any.
    pub(crate) fn held(&self, p: u32) -> Option<u32> {
        let slot = self.get(HEADER_WORDS + p) & 0xFFFF;
        (slot != NO_SLOT).then_some(slot)
    }

    pub(crate) fn set_held(&self, p: u32, slot: Option<u32>) {
        let word = self.get(HEADER_WORDS + p);
        self.set(HEADER_WORDS + p, (word & !0xFFFF) | slot.unwrap_or(NO_SLOT));
    }

    pub(crate) fn set_scratch_of(&self, p: u32, block: u32) {
        let word = self.get(HEADER_WORDS + p);
        self.set(HEADER_WORDS + p, (word & 0xFFFF) | (block << 16));
    }

    /// Takes the lowest free slot.
    pub(crate) fn pop_free(&self) -> Option<u32> {
        for w in 0..self.g.slots.div_ceil(32) {
            let bits = self.get(self.g.bitmap_at + w);
            if bits != 0 {
                let bit = bits.trailing_zeros();
                self.set(self.g.bitmap_at + w, bits & !(1 << bit));
                self.set(N_FREE as u32, self.get(N_FREE as u32) - 1);
                return Some(w * 32 + bit);
            }
        }
        None
    }

    /// Returns `slot` (`< slots`, not free) to the free set.
    pub(crate) fn push_free(&self, slot: u32) {
        let at = self.g.bitmap_at + slot / 32;
        self.set(at, self.get(at) | (1 << (slot % 32)));
        self.set(N_FREE as u32, self.get(N_FREE as u32) + 1);
    }

    /// Records a send of `len` bytes by `pid`.
    pub(crate) fn count_send(&self, pid: u32, len: u32) {
        self.set(BYTES as u32, self.get(BYTES as u32).wrapping_add(len));
        self.set(LAST_SENDER as u32, pid);
        self.set(SENT as u32, self.get(SENT as u32).wrapping_add(1));
    }

    /// Records a receive of `len` bytes by `pid`.
    pub(crate) fn count_receive(&self, pid: u32, len: u32) {
        self.set(BYTES as u32, self.get(BYTES as u32).wrapping_sub(len));
        self.set(LAST_RECEIVER as u32, pid);
        self.set(RECEIVED as u32, self.get(RECEIVED as u32).wrapping_add(1));
    }

    fn priority_at(&self, j: u32) -> u16 {
        (self.get(self.entry_at(j)) >> 16) as u16
    }

    /// Word offset of logical entry `j`.
    fn entry_at(&self, j: u32) -> u32 {
        let phys = (self.get(Q_HEAD as u32) + j) % self.g.max_messages;
        self.g.queue_at + ENTRY_WORDS * phys
    }

    fn move_entry(&self, from: u32, to: u32) {
        for i in 0..ENTRY_WORDS {
            self.set(to + i, self.get(from + i));
        }
    }

    fn get(&self, i: u32) -> u32 {
        // word(): our own block; only this participant writes it.
        self.words[i as usize].load(word())
    }

    fn set(&self, i: u32, value: u32) {
        // word(): published by `install`'s Release.
        self.words[i as usize].store(value, word());
    }
}

/// Copies the header, participant words, bitmap and queued entries of `src`
/// into `dst`. `src` may be changing: counts are clamped so the copy stays
/// in bounds, and the caller validates the result.
fn copy_block(g: &Geometry, src: &[AtomicU32], dst: &[AtomicU32]) {
    // word(): a speculative read, validated by the caller's root re-read.
    let copy = |i: usize| dst[i].store(src[i].load(word()), word());
    for i in 0..g.queue_at as usize {
        copy(i);
    }
    // word(): just copied above, by this thread.
    let queued = dst[N_QUEUE].load(word()).min(g.max_messages);
    let head = dst[Q_HEAD].load(word()) % g.max_messages;
    for j in 0..queued {
        let at = (g.queue_at + ENTRY_WORDS * ((head + j) % g.max_messages)) as usize;
        for i in 0..ENTRY_WORDS as usize {
            copy(at + i);
        }
    }
}

/// Runs `read` on the current block until the root is the same before and
/// after (at most `MAX_ATTEMPTS` rounds).
fn read_consistent<R>(
    mq: &MessageQueue<'_>,
    mut read: impl FnMut(&[AtomicU32], u32) -> R,
) -> Result<R, Abort> {
    let root_word = &mq.hdr().root.0;
    for _ in 0..super::MAX_ATTEMPTS {
        // SYNC POINT mq root: as in `Snapshot::take`.
        let root = root_word.load(Ordering::Acquire);
        let current = (root & 0xFFFF) as u32;
        if current > mq.geometry.participants {
            return Err(Abort::Corrupted);
        }
        let value = read(mq.block(current), current);
        // SYNC POINT mq rewrite: as in `Snapshot::take`.
        fence(Ordering::Acquire);
        // Relaxed: ordered by the fence above.
        if root_word.load(Ordering::Relaxed) == root {
            return Ok(value);
        }
    }
    Err(Abort::Overtaken)
}
