//! Frame rings as the hostile peer sees them: an SPSC byte ring (the offsets
//! of [`crate::spsc_region::off`]) of kind `FrameRing`, whose body holds
//! 32-byte frame headers and payloads. The views laid into a [`HeapRegion`],
//! and the round trip that proves a frame ring whole.

use core::time::Duration;

use annulus::frame::{
    FrameHeader, FrameMeta, FrameRecvError, FrameRing, FrameSendError, HEADER_SIZE,
};
use annulus::spsc::InitOptions;
use annulus::wait::Spin;
use annulus::{AttachError, Schema};

use crate::support::{HeapRegion, Rng, SHORT_NS, TickClock};

/// Frame ring views over a heap region.
impl HeapRegion {
    /// Lays a frame ring of `cap` bytes into the whole region.
    pub(crate) fn frame_init(&self, cap: u32) -> FrameRing<'_> {
        // SAFETY: the whole allocation, valid for the view's lifetime (it
        // borrows `self`); no reference into it is alive, and afterwards the
        // test only writes it as a peer would.
        unsafe { FrameRing::init_raw(self.ptr(), self.len(), cap, InitOptions::default()) }
            .unwrap_or_else(|e| panic!("frame init_raw failed: {e:?}"))
    }

    pub(crate) fn frame_attach_at(
        &self,
        offset: usize,
        len: usize,
        schema: Option<Schema>,
    ) -> Result<FrameRing<'_>, AttachError> {
        assert!(offset <= self.len() && len <= self.len() - offset);
        // SAFETY: `ptr + offset .. + len` lies in our allocation, valid for
        // the view's lifetime (it borrows `self`); every byte is initialised
        // (zeroed allocation, then `init_raw` or random bytes).
        unsafe { FrameRing::attach_raw(self.ptr().add(offset), len, schema) }
    }
}

/// Random frame metadata; the top flag bit (padding) is set half the time,
/// and the writer must clear it.
pub(crate) fn random_meta(rng: &mut Rng) -> FrameMeta {
    FrameMeta {
        msg_type: rng.next_u32(),
        priority: rng.next_u32(),
        sender: rng.next_u32(),
        flags: rng.next_u32(),
    }
}

/// The header the writer sends for `meta`, `len` payload bytes and `seq`.
fn expected_header(meta: FrameMeta, len: usize, seq: u64) -> FrameHeader {
    FrameHeader {
        len: len as u32,
        flags: meta.flags & !FrameHeader::PADDING,
        msg_type: meta.msg_type,
        priority: meta.priority,
        sender: meta.sender,
        reserved: 0,
        seq,
    }
}

/// With no hostile peer, the frame ring must behave: frames of every length
/// come out whole and in order (across the end of the ring, padding
/// included), with their headers and sequence numbers; full, empty, too
/// large, too small a buffer and closing are reported.
pub(crate) fn frame_round_trip(ring: FrameRing<'_>, clock: &TickClock, rng: &mut Rng, what: &str) {
    let w = || Spin::new(clock.clone());
    let max = ring.max_payload();
    assert_eq!(max, ring.capacity() / 2 - HEADER_SIZE, "{what}");
    let mut tx = ring
        .writer(w())
        .unwrap_or_else(|e| panic!("{what}: writer claim: {e:?}"));
    let mut rx = ring
        .reader(w())
        .unwrap_or_else(|e| panic!("{what}: reader claim: {e:?}"));
    assert_eq!(ring.len_bytes(), 0, "{what}");
    assert_eq!(
        rx.try_recv(&mut []).map(drop),
        Err(FrameRecvError::Empty),
        "{what}"
    );
    let short = Some(Duration::from_nanos(SHORT_NS));
    let first_seq = u64::MAX - rng.below(3);
    tx.set_next_seq(first_seq);
    let mut seq = first_seq;
    let too_long = vec![0; max as usize + 1];
    let got = tx.try_send(FrameMeta::default(), &too_long);
    let want = Err(FrameSendError::TooLarge {
        len: max as usize + 1,
        max,
    });
    assert_eq!(got, want, "{what}");

    let rounds = if cfg!(miri) { 2 } else { 12 };
    // Payloads stay short under miri, so a round is a few frames.
    let longest = if cfg!(miri) { max.min(40) } else { max } as u64;
    for _ in 0..rounds {
        // Send until full (or a few frames).
        let mut sent = Vec::new();
        let frames = 1 + rng.below(8);
        while (sent.len() as u64) < frames {
            let len = rng.below_usize(longest as usize + 1);
            let payload = rng.bytes(len);
            let meta = random_meta(rng);
            let result = match rng.below(3) {
                0 => tx.try_send(meta, &payload),
                1 => tx.try_grant(len).map(|mut grant| {
                    assert_eq!(grant.len(), len, "{what}");
                    grant.payload_mut().copy_from_slice(&payload);
                    grant.commit(len, meta);
                }),
                _ => tx.send_blocking(meta, &payload, short),
            };
            match result {
                Ok(()) => {
                    sent.push((expected_header(meta, len, seq), payload));
                    seq = seq.wrapping_add(1);
                }
                Err(FrameSendError::Full | FrameSendError::Timeout) => {
                    assert!(!sent.is_empty(), "{what}: full with nothing in it");
                    let got = tx.send_blocking(meta, &payload, short);
                    assert_eq!(got, Err(FrameSendError::Timeout), "{what}");
                    break;
                }
                Err(e) => panic!("{what}: send: {e:?}"),
            }
        }
        assert_eq!(tx.next_seq(), seq, "{what}");
        assert!(ring.len_bytes() <= ring.capacity(), "{what}");
        for (header, payload) in sent {
            let len = payload.len();
            match rng.below(5) {
                0 => {
                    let frame = rx.try_recv_frame().expect(what);
                    assert_eq!((frame.header(), frame.payload()), (&header, &payload[..]));
                    frame.release();
                }
                1 => {
                    let mut buf = vec![0; len + rng.below_usize(9)];
                    assert_eq!(rx.try_recv(&mut buf), Ok((header, len)), "{what}");
                    assert_eq!(buf[..len], payload[..], "{what}");
                }
                2 if len > 0 => {
                    // Too small: the frame stays; then truncated.
                    let mut buf = vec![0; rng.below_usize(len)];
                    let got = rx.try_recv(&mut buf);
                    let want = Err(FrameRecvError::BufferTooSmall { needed: len as u32 });
                    assert_eq!(got, want, "{what}");
                    let got = rx.try_recv_truncating(&mut buf);
                    assert_eq!(got, Ok((header, buf.len())), "{what}");
                    assert_eq!(buf[..], payload[..buf.len()], "{what}");
                }
                3 => {
                    // Read in place and dropped unreleased: it stays.
                    let got = rx.try_recv_frame().map(|frame| *frame.header());
                    assert_eq!(got, Ok(header), "{what}");
                    let mut buf = vec![0; len];
                    assert_eq!(rx.try_recv_truncating(&mut buf), Ok((header, len)));
                    assert_eq!(buf, payload, "{what}");
                }
                _ => {
                    let mut buf = vec![0; len];
                    assert_eq!(rx.recv_blocking(&mut buf, short), Ok((header, len)));
                    assert_eq!(buf, payload, "{what}");
                }
            }
        }
        let got = rx.try_recv_frame().map(|f| *f.header());
        assert_eq!(got, Err(FrameRecvError::Empty), "{what}");
        let got = rx.recv_blocking(&mut [], short);
        assert_eq!(got, Err(FrameRecvError::Timeout), "{what}");
    }
    assert_eq!(ring.len_bytes(), 0, "{what}");
    // Closing both ways.
    let meta = random_meta(rng);
    tx.try_send(meta, b"last").expect(what);
    drop(tx);
    let mut buf = [0; 8];
    let got = rx.try_recv(&mut buf);
    assert_eq!(got, Ok((expected_header(meta, 4, seq), 4)), "{what}");
    assert_eq!(
        rx.try_recv(&mut buf),
        Err(FrameRecvError::Disconnected),
        "{what}"
    );
    let got = rx.recv_blocking(&mut buf, short);
    assert_eq!(got, Err(FrameRecvError::Disconnected), "{what}");
    let mut tx = ring.writer(w()).expect(what);
    drop(rx);
    let got = tx.try_send(meta, b"x");
    assert_eq!(got, Err(FrameSendError::Disconnected), "{what}");
    let got = tx.send_blocking(meta, b"x", short);
    assert_eq!(got, Err(FrameSendError::Disconnected), "{what}");
}
