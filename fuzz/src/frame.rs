//! The frame ring: variable-length frames in an SPSC ring of bytes.
#![allow(unsafe_code)]

use annulus::claim::Claim;
use annulus::frame::{FrameMeta, FrameReader, FrameRing, FrameWriter, MIN_CAPACITY};
use annulus::spsc::InitOptions;

use crate::input::Input;
use crate::region::Region;
use crate::waiter::NeverSleep;
use crate::{Subject, Totals, drive};

/// Longest buffer.
const BUF: usize = 600;

struct Frames<'r> {
    region: &'r Region,
    wait: NeverSleep,
    view: Option<FrameRing<'r>>,
    writer: Option<FrameWriter<'r, NeverSleep>>,
    reader: Option<FrameReader<'r, NeverSleep>>,
}

pub(crate) fn run(input: &mut Input<'_>, totals: &mut Totals) {
    let cap = MIN_CAPACITY << (input.u8() % 3);
    let size = FrameRing::layout(cap).expect("a valid capacity").size;
    let region = Region::zeroed(size);
    // SAFETY: the whole fresh allocation, which outlives every view; no
    // other view exists yet.
    unsafe { FrameRing::init_raw(region.ptr(), size, cap, InitOptions::default()) }
        .expect("init over a region of the layout's size");
    let wait = NeverSleep::default();
    let mut frames = Frames {
        region: &region,
        wait: wait.clone(),
        view: None,
        writer: None,
        reader: None,
    };
    drive(&region, &mut frames, &wait, input, totals);
}

fn meta(input: &mut Input<'_>) -> FrameMeta {
    FrameMeta {
        msg_type: input.u32(),
        priority: u32::from(input.u8()),
        sender: u32::from(input.u8()),
        flags: input.u32(),
    }
}

impl Subject for Frames<'_> {
    fn attach(&mut self, len: usize) -> bool {
        // SAFETY: `len` bytes of the live allocation, initialised (zeroed,
        // then laid out), which outlives the view.
        let view = unsafe { FrameRing::attach_raw(self.region.ptr(), len, None) };
        // A refused attach leaves the view and handles already held as they
        // were: they go on over the bytes the peer wrote.
        let Ok(view) = view else { return false };
        let need = FrameRing::layout(view.capacity()).expect("an impossible capacity");
        crate::assert_fits(need.size, len);
        assert!(view.max_payload() < view.capacity());
        (self.writer, self.reader, self.view) = (None, None, Some(view));
        true
    }

    fn attached(&self) -> bool {
        self.view.is_some()
    }

    fn op(&mut self, code: u8, input: &mut Input<'_>) {
        let Some(view) = self.view else { return };
        let max_payload = view.max_payload() as usize;
        let mut buf = [0u8; BUF];
        let n = input.index(BUF + 1);
        let buf = &mut buf[..n];
        match code % 13 {
            0 => {
                self.writer = None;
                self.writer = view.claim_writer(input.u32(), self.wait.clone()).ok();
                if let Some(w) = &mut self.writer {
                    w.set_next_seq(u64::from(input.u32()) << 32);
                }
            }
            1 => {
                self.reader = None;
                self.reader = view.claim_reader(input.u32(), self.wait.clone()).ok();
            }
            2 => self.writer = None,
            3 => self.reader = None,
            4 => {
                if let Some(w) = &mut self.writer {
                    let _ = w.try_send(meta(input), buf);
                }
            }
            5 => {
                if let Some(w) = &mut self.writer {
                    let _ = w.send_blocking(meta(input), buf, input.timeout());
                }
            }
            6 => {
                if let Some(w) = &mut self.writer {
                    let meta = meta(input);
                    let keep = input.index(n + 1);
                    if let Ok(mut grant) = w.try_grant(n) {
                        assert_eq!(grant.len(), n, "a grant of another length");
                        assert_eq!(grant.payload_mut().len(), n);
                        grant.payload_mut().fill(0xA5);
                        grant.commit(keep, meta);
                    }
                }
            }
            7 => {
                if let Some(r) = &mut self.reader
                    && let Ok((header, got)) = r.try_recv(buf)
                {
                    assert!(got <= n, "try_recv copied {got} into {n}");
                    assert_eq!(got, header.len as usize, "a frame cut short untold");
                }
            }
            8 => {
                if let Some(r) = &mut self.reader
                    && let Ok((_, got)) = r.try_recv_truncating(buf)
                {
                    assert!(got <= n, "try_recv_truncating copied {got} into {n}");
                }
            }
            9 => {
                if let Some(r) = &mut self.reader
                    && let Ok((_, got)) = r.recv_blocking(buf, input.timeout())
                {
                    assert!(got <= n, "recv_blocking copied {got} into {n}");
                }
            }
            10 => {
                if let Some(r) = &mut self.reader
                    && let Ok(frame) = r.try_recv_frame()
                {
                    let len = frame.payload().len();
                    assert!(len <= max_payload, "a payload of {len} over {max_payload}");
                    let _ = frame.header();
                    frame.release();
                }
            }
            11 => {
                let claim = Claim {
                    pid: input.u32(),
                    generation: input.u32() >> 2,
                };
                if input.flag() {
                    let _ = view.release_dead_writer(claim, &self.wait);
                } else {
                    let _ = view.release_dead_reader(claim, &self.wait);
                }
            }
            _ => {
                assert!(
                    view.len_bytes() <= view.capacity(),
                    "more bytes than the ring"
                );
                let _ = (view.writer_state(), view.reader_state());
                if let Some(w) = &self.writer {
                    let _ = (w.max_payload(), w.next_seq());
                }
            }
        }
    }
}
