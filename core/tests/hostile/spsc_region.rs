//! The SPSC region as the hostile peer sees it: its byte offsets, the views
//! laid into a [`HeapRegion`], and the round trip that proves a ring whole.

use core::time::Duration;

use annulus::spsc::{
    ChunkError, InitOptions, PopError, PopTimeoutError, PushError, PushSliceError,
    PushTimeoutError, Spsc,
};
use annulus::wait::Spin;
use annulus::{AttachError, LayoutError, Pod, Schema};

use crate::elem::Elem;
use crate::support::{HeapRegion, Rng, SHORT_NS, TickClock};

// ---------------------------------------------------------------------------
// Offsets
// ---------------------------------------------------------------------------

/// Byte offsets in an SPSC region (core/src/spsc/mod.rs and layout.rs pin them).
pub(crate) mod off {
    pub(crate) const MAGIC: usize = 0;
    pub(crate) const VERSION: usize = 4;
    pub(crate) const KIND: usize = 8;
    pub(crate) const INIT_STATE: usize = 12;
    pub(crate) const BODY_OFFSET: usize = 16;
    pub(crate) const REGION_SIZE: usize = 20;
    pub(crate) const CAPACITY: usize = 24;
    pub(crate) const ELEM_SIZE: usize = 28;
    pub(crate) const ELEM_ALIGN: usize = 32;
    pub(crate) const SCHEMA_LO: usize = 36;
    pub(crate) const SCHEMA_HI: usize = 40;
    pub(crate) const CREATOR_PID: usize = 44;
    /// End of the region header (reserved words before it).
    pub(crate) const REGION_HEADER_END: usize = 64;
    pub(crate) const PRODUCER_CLAIM: usize = 64;
    pub(crate) const CONSUMER_CLAIM: usize = 72;
    /// End of the claims; the rest of the first line is padding.
    pub(crate) const CLAIMS_END: usize = 80;
    pub(crate) const EVENTS: usize = 128;
    pub(crate) const EVENTS_END: usize = 144;
    pub(crate) const TAIL: usize = 256;
    pub(crate) const HEAD: usize = 384;
    pub(crate) const BODY: usize = 512;
}

/// Every 32-bit word of the SPSC header that annulus reads (all atomics):
/// region header, claims, event counts, tail, head. Padding excluded.
pub(crate) fn header_words() -> Vec<usize> {
    (0..off::CLAIMS_END)
        .step_by(4)
        .chain((off::EVENTS..off::EVENTS_END).step_by(4))
        .chain([off::TAIL, off::HEAD])
        .collect()
}

/// SPSC views over a heap region.
impl HeapRegion {
    /// Lays a ring into the whole region.
    pub(crate) fn init<T: Pod>(&self, capacity: u32) -> Spsc<'_, T> {
        self.init_at(0, self.len(), capacity)
            .unwrap_or_else(|e| panic!("init_raw failed: {e:?}"))
    }

    pub(crate) fn init_at<T: Pod>(
        &self,
        offset: usize,
        len: usize,
        capacity: u32,
    ) -> Result<Spsc<'_, T>, LayoutError> {
        assert!(offset <= self.len() && len <= self.len() - offset);
        // SAFETY: `ptr + offset .. + len` lies in our allocation, valid for
        // the returned view's lifetime (it borrows `self`); no reference into
        // it is alive, and afterwards the test only writes it as a peer would.
        unsafe {
            let ptr = self.ptr().add(offset);
            Spsc::<T>::init_raw(ptr, len, capacity, InitOptions::default())
        }
    }

    pub(crate) fn attach<T: Pod>(
        &self,
        len: usize,
        schema: Schema,
    ) -> Result<Spsc<'_, T>, AttachError> {
        self.attach_at(0, len, schema)
    }

    pub(crate) fn attach_at<T: Pod>(
        &self,
        offset: usize,
        len: usize,
        schema: Schema,
    ) -> Result<Spsc<'_, T>, AttachError> {
        assert!(offset <= self.len() && len <= self.len() - offset);
        // SAFETY: as in `init_at`; every byte is initialised (zeroed
        // allocation, then `init_raw` or random bytes).
        unsafe { Spsc::<T>::attach_raw(self.ptr().add(offset), len, schema) }
    }
}

/// With no hostile peer, the ring must behave: elements come out in order,
/// full and empty are reported, closing is seen. Crosses the wrap of the
/// slots several times.
pub(crate) fn round_trip<T: Elem>(ring: Spsc<'_, T>, clock: &TickClock, rng: &mut Rng, what: &str) {
    let cap = ring.capacity();
    let w = || Spin::new(clock.clone());
    let mut tx = ring
        .producer(w())
        .unwrap_or_else(|e| panic!("{what}: producer claim: {e:?}"));
    let mut rx = ring
        .consumer(w())
        .unwrap_or_else(|e| panic!("{what}: consumer claim: {e:?}"));
    tx.set_spin_limit(2);
    rx.set_spin_limit(2);
    assert_eq!(ring.len(), 0, "{what}");
    assert!(ring.is_empty(), "{what}");
    assert_eq!(tx.free(), cap, "{what}");
    assert_eq!(rx.len(), 0, "{what}");
    assert!(!tx.is_disconnected() && !rx.is_disconnected(), "{what}");
    assert_eq!(rx.pop(), Err(PopError::Empty), "{what}");
    let short = Some(Duration::from_nanos(SHORT_NS));

    let rounds = if cfg!(miri) { 2 } else { 16 };
    let mut next_in = 0u64;
    let mut next_out = 0u64;
    for round in 0..rounds {
        // Fill to the brim every other round.
        let k = if round % 2 == 0 {
            u64::from(cap)
        } else {
            1 + rng.below(u64::from(cap))
        };
        let target = next_in + k;
        while next_in < target {
            let want = target - next_in;
            let take = 1 + rng.below(want);
            let batch: Vec<T> = (next_in..next_in + take).map(T::numbered).collect();
            next_in += match rng.below(4) {
                0 => {
                    assert_eq!(tx.push(batch[0]), Ok(()), "{what}");
                    1
                }
                1 => {
                    assert_eq!(tx.push_slice(&batch), Ok(batch.len()), "{what}");
                    take
                }
                2 => {
                    let mut chunk = tx.write_chunk(take as u32).expect(what);
                    assert_eq!(chunk.fill_from(&batch), batch.len(), "{what}");
                    chunk.commit_all();
                    take
                }
                _ => {
                    assert_eq!(tx.push_blocking(batch[0], short), Ok(()), "{what}");
                    1
                }
            };
        }
        assert_eq!(u64::from(ring.len()), k, "{what}");
        assert_eq!(u64::from(rx.len()), k, "{what}");
        if k == u64::from(cap) {
            let v = T::numbered(u64::MAX);
            assert_eq!(tx.push(v), Err(PushError::Full(v)), "{what}");
            assert_eq!(tx.free(), 0, "{what}");
            assert_eq!(tx.push_slice(&[v]), Err(PushSliceError::Full), "{what}");
            assert_eq!(
                tx.write_chunk(1).map(|c| c.len()),
                Err(ChunkError::TooFewSlots(0)),
                "{what}"
            );
            assert_eq!(
                tx.push_blocking(v, short),
                Err(PushTimeoutError::Timeout(v)),
                "{what}"
            );
        }
        while next_out < next_in {
            let left = next_in - next_out;
            let take = 1 + rng.below(left);
            match rng.below(4) {
                0 => {
                    assert_eq!(rx.pop(), Ok(T::numbered(next_out)), "{what}");
                    next_out += 1;
                }
                1 => {
                    let mut out = vec![T::zeroed(); take as usize];
                    assert_eq!(rx.pop_slice(&mut out), Ok(out.len()), "{what}");
                    for v in out {
                        assert_eq!(v, T::numbered(next_out), "{what}");
                        next_out += 1;
                    }
                }
                2 => {
                    let chunk = rx.read_chunk(take as u32).expect(what);
                    let mut out = vec![T::zeroed(); take as usize];
                    assert_eq!(chunk.copy_to(&mut out), out.len(), "{what}");
                    chunk.release_all();
                    for v in out {
                        assert_eq!(v, T::numbered(next_out), "{what}");
                        next_out += 1;
                    }
                }
                _ => {
                    assert_eq!(rx.pop_blocking(short), Ok(T::numbered(next_out)), "{what}");
                    next_out += 1;
                }
            }
        }
        assert_eq!(rx.pop(), Err(PopError::Empty), "{what}");
        assert_eq!(
            rx.pop_blocking(short),
            Err(PopTimeoutError::Timeout),
            "{what}"
        );
        assert_eq!(ring.len(), 0, "{what}");
    }
    // Closing still works both ways.
    tx.push(T::numbered(next_in)).expect(what);
    drop(tx);
    assert!(rx.is_disconnected(), "{what}");
    assert_eq!(rx.pop(), Ok(T::numbered(next_in)), "{what}");
    assert_eq!(rx.pop(), Err(PopError::Disconnected), "{what}");
    let mut tx = ring.producer(w()).expect(what);
    drop(rx);
    let v = T::numbered(7);
    assert_eq!(tx.push(v), Err(PushError::Disconnected(v)), "{what}");
}
