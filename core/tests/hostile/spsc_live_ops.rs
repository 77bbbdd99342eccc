//! The live SPSC operations with more to check: write and read chunks,
//! second views, and the byte streams of `u8` rings.

use annulus::Schema;
use annulus::spsc::{ByteReader, ByteWriter, ChunkError, Spsc};

use crate::elem::Elem;
use crate::names::{attach_error_name, chunk_error_name, stream_error_name};
use crate::spsc_live::{Live, Op};

impl<'r, T: Elem> Live<'r, T> {
    pub(crate) fn write_chunk(&mut self) {
        let cap = self.cap;
        let n = self.rng.below(u64::from(cap) + 3) as u32;
        let values = self.values(n as usize + 2);
        let how = self.rng.below(4);
        let commit = self.rng.below(u64::from(n) + 1) as u32;
        let Some(p) = self.producer() else { return };
        match p.write_chunk(n) {
            Ok(mut chunk) => {
                assert_eq!(chunk.len(), n);
                assert_eq!(chunk.is_empty(), n == 0);
                let (a, b) = chunk.as_mut_slices();
                assert_eq!(a.len() + b.len(), n as usize);
                assert!(a.len() <= cap as usize);
                let filled = chunk.fill_from(&values);
                assert_eq!(filled, values.len().min(n as usize));
                match how {
                    // Not committed: dropped at the end of this arm.
                    0 => {}
                    1 => chunk.commit_all(),
                    _ => chunk.commit(commit),
                }
                self.stats.ok("write_chunk");
            }
            Err(e) => {
                if let ChunkError::TooFewSlots(free) = e {
                    assert!(free < n && free <= cap, "TooFewSlots({free}) for {n}");
                }
                self.stats.saw(chunk_error_name(&e));
            }
        }
    }

    pub(crate) fn read_chunk(&mut self) {
        let cap = self.cap;
        let n = self.rng.below(u64::from(cap) + 3) as u32;
        let out_len = self.rng.below_usize(n as usize + 2);
        let how = self.rng.below(4);
        let release = self.rng.below(u64::from(n) + 1) as u32;
        let mut out = vec![T::zeroed(); out_len];
        let Some(c) = self.consumer() else { return };
        match c.read_chunk(n) {
            Ok(chunk) => {
                assert_eq!(chunk.len(), n);
                assert_eq!(chunk.is_empty(), n == 0);
                let (a, b) = chunk.as_slices();
                assert_eq!(a.len() + b.len(), n as usize);
                assert!(a.len() <= cap as usize);
                let copied = chunk.copy_to(&mut out);
                assert_eq!(copied, out_len.min(n as usize));
                match how {
                    // Not released: dropped at the end of this arm.
                    0 => {}
                    1 => chunk.release_all(),
                    _ => chunk.release(release),
                }
                self.stats.ok("read_chunk");
            }
            Err(e) => {
                if let ChunkError::TooFewSlots(filled) = e {
                    assert!(filled < n && filled <= cap, "TooFewSlots({filled}) for {n}");
                }
                self.stats.saw(chunk_error_name(&e));
            }
        }
    }

    /// A second view over the live region, as another process attaching.
    pub(crate) fn attach_view(&mut self) {
        let len = self.region.len();
        match self.region.attach::<T>(len, Schema::of::<T>()) {
            Ok(view) => {
                let vcap = view.capacity();
                let size = Spsc::<T>::layout(vcap).expect("attach accepted a bad capacity");
                assert!(
                    size.size <= len,
                    "attach accepted a ring larger than its memory"
                );
                assert!(view.len() <= vcap);
                let _ = view.producer_state();
                self.stats.ok("attach_raw view");
                if self.rng.one_in(4) {
                    // Through the view, as the other process would.
                    let mut c = view.consumer(self.waiter());
                    let mut p = view.producer(self.waiter());
                    if let Ok(c) = &mut c {
                        let _ = c.pop();
                    }
                    if let Ok(p) = &mut p {
                        let _ = p.push(T::random(&mut self.rng));
                    }
                    if c.is_ok() || p.is_ok() {
                        self.stats.saw("role claimed through a second view");
                    }
                }
            }
            Err(e) => self.stats.saw(attach_error_name(&e)),
        }
    }
}

impl Live<'_, u8> {
    pub(crate) fn stream_op(&mut self, op: Op) {
        let cap = self.cap as usize;
        let name = op.name();
        match op {
            Op::StreamTryWrite | Op::StreamWriteBlocking => {
                let len = self.batch_len();
                let buf = self.rng.bytes(len);
                let timeout = self.rng.timeout();
                let all = self.rng.one_in(2);
                if self.producer().is_none() {
                    return;
                }
                let p = self.prod.take().expect("claimed above");
                let mut w = ByteWriter::new(p);
                let result = match op {
                    Op::StreamTryWrite => w.try_write(&buf),
                    _ if all => w.write_all_blocking(&buf, timeout).map(|()| len),
                    _ => w.write_blocking(&buf, timeout),
                };
                self.prod = Some(w.into_inner());
                match result {
                    Ok(n) => {
                        assert!(n <= len, "wrote {n} of {len}");
                        assert!(n > 0 || len == 0, "wrote 0");
                        assert!(n <= cap || (all && op != Op::StreamTryWrite));
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(stream_error_name(&e)),
                }
            }
            _ => {
                let len = self.batch_len();
                let mut buf = vec![0u8; len];
                let timeout = self.rng.timeout();
                let exact = self.rng.one_in(2);
                if self.consumer().is_none() {
                    return;
                }
                let c = self.cons.take().expect("claimed above");
                let mut r = ByteReader::new(c);
                let result = match op {
                    Op::StreamTryRead => r.try_read(&mut buf),
                    _ if exact => r.read_exact_blocking(&mut buf, timeout),
                    _ => r.read_blocking(&mut buf, timeout),
                };
                self.cons = Some(r.into_inner());
                match result {
                    Ok(n) => {
                        assert!(n <= len, "read {n} into {len}");
                        assert!(n <= cap || (exact && op != Op::StreamTryRead));
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(stream_error_name(&e)),
                }
            }
        }
    }
}
