//! Frame rings in use under a hostile peer: random sends (copied, granted,
//! blocking) and receives (in place, copied, truncating, blocking) with
//! forged frame headers and positions between them (in `frame_scribble`).
//! A payload slice never reaches past the ring (miri checks every access),
//! and every refusal is a typed error.

use annulus::Schema;
use annulus::frame::{FRAME_SCHEMA, FrameHeader, FrameReader, FrameRing, FrameWriter, HEADER_SIZE};
use annulus::layout::MAGIC;
use annulus::wait::Spin;

use crate::frame_region::random_meta;
use crate::names::{
    attach_error_name, claim_error_name, frame_recv_error_name, frame_send_error_name,
};
use crate::spsc_region::off;
use crate::support::{
    HeapRegion, Progress, Rng, Stats, TickClock, W, config, saved_header, stream_of, watchdog,
};

/// The operations the frame fuzzer picks from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FOp {
    TrySend,
    TryGrant,
    SendBlocking,
    TryRecvFrame,
    TryRecv,
    TryRecvTruncating,
    RecvBlocking,
    Queries,
    Sequence,
    ReclaimWriter,
    ReclaimReader,
    AttachView,
}

impl FOp {
    pub(crate) const ALL: [FOp; 12] = [
        FOp::TrySend,
        FOp::TryGrant,
        FOp::SendBlocking,
        FOp::TryRecvFrame,
        FOp::TryRecv,
        FOp::TryRecvTruncating,
        FOp::RecvBlocking,
        FOp::Queries,
        FOp::Sequence,
        FOp::ReclaimWriter,
        FOp::ReclaimReader,
        FOp::AttachView,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            FOp::TrySend => "try_send",
            FOp::TryGrant => "try_grant",
            FOp::SendBlocking => "send_blocking",
            FOp::TryRecvFrame => "try_recv_frame",
            FOp::TryRecv => "try_recv",
            FOp::TryRecvTruncating => "try_recv_truncating",
            FOp::RecvBlocking => "recv_blocking",
            FOp::Queries => "capacity/max_payload/len_bytes",
            FOp::Sequence => "next_seq/set_next_seq",
            FOp::ReclaimWriter => "drop+claim writer",
            FOp::ReclaimReader => "drop+claim reader",
            FOp::AttachView => "attach_raw view",
        }
    }

    /// `op` as the watchdog names it.
    fn describe(index: u32) -> Option<String> {
        let op = FOp::ALL.get(index as usize)?;
        Some(format!("{op:?} ({})", op.name()))
    }
}

/// A frame ring in a heap region, both ends claimed, and a hostile peer.
pub(crate) struct FrameLive<'r> {
    pub(crate) region: &'r HeapRegion,
    pub(crate) ring: FrameRing<'r>,
    pub(crate) cap: u32,
    pub(crate) clock: TickClock,
    pub(crate) writer: Option<FrameWriter<'r, W>>,
    pub(crate) reader: Option<FrameReader<'r, W>>,
    pub(crate) rng: Rng,
    pub(crate) stats: Stats,
    /// The creator's region header, for the peer's occasional repairs.
    pub(crate) saved: [u32; 16],
}

impl<'r> FrameLive<'r> {
    pub(crate) fn new(region: &'r HeapRegion, cap: u32, rng: Rng) -> Self {
        let ring = region.frame_init(cap);
        assert_eq!(region.read_u32(off::MAGIC), MAGIC);
        assert_eq!(region.read_u32(off::CAPACITY), cap);
        let mut live = FrameLive {
            region,
            ring,
            cap,
            clock: TickClock::default(),
            writer: None,
            reader: None,
            rng,
            stats: Stats::default(),
            saved: saved_header(region),
        };
        live.stats.regions += 1;
        live.writer = Some(ring.writer(live.waiter()).expect("fresh writer"));
        live.reader = Some(ring.reader(live.waiter()).expect("fresh reader"));
        // A frame lands where the test thinks the body is.
        let writer = live.writer.as_mut().expect("claimed above");
        writer
            .try_send(random_meta(&mut live.rng), b"offsets")
            .expect("first frame");
        let len = region.read_bytes(off::BODY, 4);
        assert_eq!(
            len,
            7u32.to_le_bytes(),
            "the first header's length at the body"
        );
        let reader = live.reader.as_mut().expect("claimed above");
        assert_eq!(reader.try_recv(&mut [0; 8]).map(|(_, n)| n), Ok(7));
        live
    }

    pub(crate) fn waiter(&self) -> W {
        Spin::new(self.clock.clone())
    }

    /// The largest payload a frame may carry.
    pub(crate) fn max_payload(&self) -> u32 {
        self.cap / 2 - HEADER_SIZE
    }

    /// A payload length: mostly in range, sometimes just past it, under
    /// miri mostly short.
    fn payload_len(&mut self) -> usize {
        let max = self.max_payload() as usize;
        match self.rng.below(8) {
            0 => max + 1 + self.rng.below_usize(8),
            1 => max,
            _ if cfg!(miri) => self.rng.below_usize(max.min(48) + 1),
            _ => self.rng.below_usize(max + 1),
        }
    }

    /// Runs `iters` random operations, each after a scribble with
    /// probability one half.
    pub(crate) fn run(&mut self, iters: u64, progress: &Progress, case: u64) {
        progress.describe_ops(FOp::describe);
        for iter in 0..iters {
            if self.rng.one_in(2) {
                self.scribble();
            }
            let index = self.rng.below_usize(FOp::ALL.len());
            progress.at(case, iter, index as u64);
            self.op(FOp::ALL[index]);
            self.stats.ops += 1;
        }
    }

    /// The writer, claiming it first if this side lost it.
    fn writer(&mut self) -> Option<&mut FrameWriter<'r, W>> {
        if self.writer.is_none() {
            let pid = self.rng.next_u32();
            match self.ring.claim_writer(pid, self.waiter()) {
                Ok(w) => {
                    self.stats.ok("claim writer");
                    self.writer = Some(w);
                }
                Err(e) => self.stats.saw(claim_error_name(&e)),
            }
        }
        self.writer.as_mut()
    }

    fn reader(&mut self) -> Option<&mut FrameReader<'r, W>> {
        if self.reader.is_none() {
            let pid = self.rng.next_u32();
            match self.ring.claim_reader(pid, self.waiter()) {
                Ok(r) => {
                    self.stats.ok("claim reader");
                    self.reader = Some(r);
                }
                Err(e) => self.stats.saw(claim_error_name(&e)),
            }
        }
        self.reader.as_mut()
    }

    fn op(&mut self, op: FOp) {
        let name = op.name();
        let max = self.max_payload();
        let cap = self.cap;
        match op {
            FOp::TrySend | FOp::SendBlocking => {
                let len = self.payload_len();
                let payload = self.rng.bytes(len);
                let meta = random_meta(&mut self.rng);
                let timeout = self.rng.timeout();
                let Some(w) = self.writer() else { return };
                let result = if op == FOp::TrySend {
                    w.try_send(meta, &payload)
                } else {
                    w.send_blocking(meta, &payload, timeout)
                };
                match result {
                    Ok(()) => {
                        assert!(len <= max as usize, "sent {len} > {max}");
                        self.stats.ok(name);
                    }
                    Err(e) => {
                        if let annulus::frame::FrameSendError::TooLarge { len: l, max: m } = e {
                            assert_eq!((l, m), (len, max));
                            assert!(len > max as usize);
                        }
                        self.stats.saw(frame_send_error_name(&e));
                    }
                }
            }
            FOp::TryGrant => {
                let len = self.payload_len();
                let fill = self.rng.bytes(len);
                let commit = self.rng.below_usize(len + 1);
                let how = self.rng.below(3);
                let meta = random_meta(&mut self.rng);
                let Some(w) = self.writer() else { return };
                match w.try_grant(len) {
                    Ok(mut grant) => {
                        assert_eq!((grant.len(), grant.is_empty()), (len, len == 0));
                        let payload = grant.payload_mut();
                        assert_eq!(payload.len(), len);
                        payload.copy_from_slice(&fill);
                        if how > 0 {
                            grant.commit(commit, meta);
                        }
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(frame_send_error_name(&e)),
                }
            }
            FOp::TryRecvFrame => {
                let release = self.rng.one_in(2);
                let Some(r) = self.reader() else { return };
                match r.try_recv_frame() {
                    Ok(frame) => {
                        let header = *frame.header();
                        let payload = frame.payload();
                        assert_eq!(payload.len(), header.len as usize, "{header:?}");
                        assert!(header.len <= max, "{header:?} in a ring of {cap}");
                        assert_eq!(header.flags & FrameHeader::PADDING, 0, "{header:?}");
                        // Touch every byte: miri checks the slice is in bounds.
                        let _ = payload.iter().fold(0u8, |a, &b| a ^ b);
                        if release {
                            frame.release();
                        }
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(frame_recv_error_name(&e)),
                }
            }
            FOp::TryRecv | FOp::TryRecvTruncating | FOp::RecvBlocking => {
                let mut buf = vec![0; self.payload_len()];
                let timeout = self.rng.timeout();
                let Some(r) = self.reader() else { return };
                let truncate = op == FOp::TryRecvTruncating;
                let result = match op {
                    FOp::TryRecv => r.try_recv(&mut buf),
                    FOp::TryRecvTruncating => r.try_recv_truncating(&mut buf),
                    _ => r.recv_blocking(&mut buf, timeout),
                };
                match result {
                    Ok((header, n)) => {
                        assert!(header.len <= max, "{header:?} in a ring of {cap}");
                        let want = (header.len as usize).min(buf.len());
                        assert_eq!(n, want, "{header:?} into {}", buf.len());
                        assert!(truncate || n == header.len as usize);
                        self.stats.ok(name);
                    }
                    Err(e) => {
                        if let annulus::frame::FrameRecvError::BufferTooSmall { needed } = e {
                            assert!(!truncate && needed as usize > buf.len() && needed <= max);
                        }
                        self.stats.saw(frame_recv_error_name(&e));
                    }
                }
            }
            FOp::Queries => {
                assert_eq!(self.ring.capacity(), cap);
                assert_eq!(self.ring.max_payload(), max);
                assert!(self.ring.len_bytes() <= cap);
                if let Some(w) = &self.writer {
                    assert_eq!(w.max_payload(), max);
                }
                self.stats.ok(name);
            }
            FOp::Sequence => {
                let seq = [0, u64::MAX, self.rng.next_u64()][self.rng.below_usize(3)];
                if let Some(w) = &mut self.writer {
                    w.set_next_seq(seq);
                    assert_eq!(w.next_seq(), seq);
                }
                self.stats.ok(name);
            }
            FOp::ReclaimWriter => {
                // Dropped as a writer, or as the byte producer inside it.
                if let Some(w) = self.writer.take()
                    && self.rng.one_in(2)
                {
                    drop(w.into_inner());
                }
                let _ = self.writer();
            }
            FOp::ReclaimReader => {
                if let Some(r) = self.reader.take()
                    && self.rng.one_in(2)
                {
                    drop(r.into_inner());
                }
                let _ = self.reader();
            }
            FOp::AttachView => {
                let len = self.region.len();
                let schema = [
                    None,
                    Some(FRAME_SCHEMA),
                    Some(Schema::new(self.rng.next_u64())),
                ][self.rng.below_usize(3)];
                match self.region.frame_attach_at(0, len, schema) {
                    Ok(view) => {
                        let vcap = view.capacity();
                        let size = FrameRing::layout(vcap).expect("attach accepted a bad capacity");
                        assert!(
                            size.size <= len,
                            "attach accepted a ring larger than its memory"
                        );
                        assert!(view.len_bytes() <= vcap);
                        self.stats.ok(name);
                    }
                    Err(e) => self.stats.saw(attach_error_name(&e)),
                }
            }
        }
    }
}

/// Frame rings of several sizes under forged headers and positions, then
/// restored and checked.
#[test]
fn frame_rings_survive_forged_headers() {
    let cfg = config();
    let caps: &[u32] = if cfg!(miri) {
        &[256]
    } else {
        &[256, 512, 4096]
    };
    let mut total = Stats::default();
    for (case, &cap) in caps.iter().enumerate() {
        let case = case as u64;
        let stats = watchdog(&format!("frame cap {cap}"), cfg, move |progress| {
            let size = FrameRing::layout(cap).expect("layout").size;
            let region = HeapRegion::zeroed(size);
            let mut live =
                FrameLive::new(&region, cap, Rng::new(cfg.seed, stream_of("frame") ^ case));
            live.run(cfg.iters, progress, case);
            live.restore_and_check()
        });
        total.merge(stats);
    }
    total.report("frame live", cfg);
    assert_eq!(total.ops, cfg.iters * caps.len() as u64);
    if cfg.iters >= 1_000 {
        for name in [
            "FrameRecvError::Corrupted",
            "FrameRecvError::Empty",
            "FrameRecvError::BufferTooSmall",
            "FrameSendError::Full",
            "FrameSendError::TooLarge",
            "FrameSendError::Corrupted",
        ] {
            assert!(total.has(name), "{name} never seen");
        }
        assert!(
            total.ok.contains_key("try_recv_frame"),
            "no frame was ever read"
        );
    }
}
