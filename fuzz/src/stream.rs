//! The byte stream (pipe) view of an SPSC ring of bytes.
#![allow(unsafe_code)]

use annulus::Schema;
use annulus::spsc::{ByteReader, ByteWriter, InitOptions, Spsc};

use crate::input::Input;
use crate::region::Region;
use crate::waiter::NeverSleep;
use crate::{Subject, Totals, drive};

/// Longest buffer.
const BUF: usize = 300;

struct Stream<'r> {
    region: &'r Region,
    wait: NeverSleep,
    view: Option<Spsc<'r, u8>>,
    writer: Option<ByteWriter<'r, NeverSleep>>,
    reader: Option<ByteReader<'r, NeverSleep>>,
}

pub(crate) fn run(input: &mut Input<'_>, totals: &mut Totals) {
    let cap = 1 << (input.u8() % 9);
    let size = Spsc::<u8>::layout(cap).expect("a valid capacity").size;
    let region = Region::zeroed(size);
    // SAFETY: the whole fresh allocation, which outlives every view; no
    // other view exists yet.
    unsafe { Spsc::<u8>::init_raw(region.ptr(), size, cap, InitOptions::default()) }
        .expect("init over a region of the layout's size");
    let wait = NeverSleep::default();
    let mut stream = Stream {
        region: &region,
        wait: wait.clone(),
        view: None,
        writer: None,
        reader: None,
    };
    drive(&region, &mut stream, &wait, input, totals);
}

impl Subject for Stream<'_> {
    fn attach(&mut self, len: usize) -> bool {
        // SAFETY: `len` bytes of the live allocation, initialised (zeroed,
        // then laid out), which outlives the view.
        let view = unsafe { Spsc::<u8>::attach_raw(self.region.ptr(), len, Schema::of::<u8>()) };
        // A refused attach leaves the view and handles already held as they
        // were: they go on over the bytes the peer wrote.
        let Ok(view) = view else { return false };
        let need = Spsc::<u8>::layout(view.capacity()).expect("an impossible capacity");
        crate::assert_fits(need.size, len);
        (self.writer, self.reader, self.view) = (None, None, Some(view));
        true
    }

    fn attached(&self) -> bool {
        self.view.is_some()
    }

    fn op(&mut self, code: u8, input: &mut Input<'_>) {
        let Some(view) = self.view else { return };
        let mut buf = [0u8; BUF];
        let n = input.index(BUF + 1);
        let buf = &mut buf[..n];
        match code % 10 {
            0 => {
                self.writer = None;
                let tx = view.producer(self.wait.clone()).ok();
                self.writer = tx.map(|mut tx| {
                    tx.set_spin_limit(u32::from(input.u8() % 4));
                    ByteWriter::new(tx)
                });
            }
            1 => {
                self.reader = None;
                let rx = view.consumer(self.wait.clone()).ok();
                self.reader = rx.map(|mut rx| {
                    rx.set_spin_limit(u32::from(input.u8() % 4));
                    ByteReader::new(rx)
                });
            }
            2 => self.writer = None,
            3 => self.reader = None,
            4 => {
                if let Some(w) = &mut self.writer
                    && let Ok(wrote) = w.try_write(buf)
                {
                    assert!(wrote <= n, "try_write wrote {wrote} of {n}");
                }
            }
            5 => {
                if let Some(w) = &mut self.writer
                    && let Ok(wrote) = w.write_blocking(buf, input.timeout())
                {
                    assert!(wrote <= n, "write_blocking wrote {wrote} of {n}");
                }
            }
            6 => {
                if let Some(w) = &mut self.writer {
                    let _ = w.write_all_blocking(buf, input.timeout());
                }
            }
            7 => {
                if let Some(r) = &mut self.reader
                    && let Ok(read) = r.try_read(buf)
                {
                    assert!(read <= n, "try_read read {read} into {n}");
                }
            }
            8 => {
                if let Some(r) = &mut self.reader
                    && let Ok(read) = r.read_blocking(buf, input.timeout())
                {
                    assert!(read <= n, "read_blocking read {read} into {n}");
                }
            }
            _ => {
                if let Some(r) = &mut self.reader
                    && let Ok(read) = r.read_exact_blocking(buf, input.timeout())
                {
                    assert!(read <= n, "read_exact_blocking read {read} into {n}");
                }
            }
        }
    }
}
