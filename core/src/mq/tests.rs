extern crate std;

use core::num::NonZeroU32;
use core::ptr::NonNull;
use core::time::Duration;
use std::vec::Vec;

use super::*;
use crate::region::Region;
use crate::test_support::{W, waiter};

const SIZE: usize = MessageQueue::region_size(8, 32, 4);

fn ty(t: u32) -> NonZeroU32 {
    NonZeroU32::new(t).unwrap()
}

fn new_region() -> std::boxed::Box<Region<SIZE>> {
    std::boxed::Box::new(Region::new())
}

fn endpoint<'a>(mq: &MessageQueue<'a>, pid: u32) -> Endpoint<'a, W> {
    mq.endpoint(pid, waiter()).unwrap()
}

fn recv_text(ep: &mut Endpoint<'_, W>, filter: Filter) -> Result<(Vec<u8>, u16, u32), RecvError> {
    let mut buf = [0u8; 32];
    let got = ep.try_recv_with(&mut buf, RecvOptions::filter(filter))?;
    Ok((buf[..got.len].to_vec(), got.priority, got.mtype.get()))
}

#[test]
fn layout_rejects_bad_parameters() {
    assert_eq!(
        MessageQueue::layout(0, 8, 1),
        Err(LayoutError::BadCapacity { capacity: 0 })
    );
    assert_eq!(
        MessageQueue::layout(MAX_MESSAGES + 1, 8, 1),
        Err(LayoutError::BadCapacity {
            capacity: MAX_MESSAGES + 1
        })
    );
    assert_eq!(
        MessageQueue::layout(4, 0, 1),
        Err(LayoutError::BadMessageSize { size: 0 })
    );
    assert_eq!(
        MessageQueue::layout(4, MAX_MESSAGE_SIZE + 1, 1),
        Err(LayoutError::BadMessageSize {
            size: MAX_MESSAGE_SIZE + 1
        })
    );
    assert_eq!(
        MessageQueue::layout(4, 8, 0),
        Err(LayoutError::BadParticipants { participants: 0 })
    );
    assert_eq!(
        MessageQueue::layout(MAX_MESSAGES, MAX_MESSAGE_SIZE, MAX_PARTICIPANTS),
        Err(LayoutError::TooLarge)
    );
    let layout = MessageQueue::layout(MAX_MESSAGES, 8, MAX_PARTICIPANTS).unwrap();
    assert_eq!(layout.blocks_offset % REGION_ALIGN, 0);
    assert_eq!(layout.slots_offset % REGION_ALIGN, 0);
    assert_eq!(layout.slot_size, 8);
}

#[test]
fn priority_order_then_fifo() {
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let mut tx = endpoint(&mq, 10);
    let mut rx = endpoint(&mq, 20);
    for (text, prio) in [
        ("a1", 1),
        ("c5", 5),
        ("b1", 1),
        ("d5", 5),
        ("e0", 0),
        ("f9", 9),
    ] {
        tx.try_send(text.as_bytes(), prio, ty(1)).unwrap();
    }
    let mut order = Vec::new();
    while let Ok((text, prio, _)) = recv_text(&mut rx, Filter::Any) {
        order.push((std::string::String::from_utf8(text).unwrap(), prio));
    }
    let expect = [
        ("f9", 9),
        ("c5", 5),
        ("d5", 5),
        ("a1", 1),
        ("b1", 1),
        ("e0", 0),
    ];
    assert_eq!(order.len(), expect.len());
    for (got, want) in order.iter().zip(expect) {
        assert_eq!((got.0.as_str(), got.1), want);
    }
    assert_eq!(rx.try_recv(&mut [0; 32]), Err(RecvError::Empty));
}

#[test]
fn typed_receive_modes() {
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let mut tx = endpoint(&mq, 1);
    let mut rx = endpoint(&mq, 2);
    // Receive order: t5 (prio 2), then t3, t1, t3b, t7 (prio 0, FIFO).
    tx.try_send(b"t3", 0, ty(3)).unwrap();
    tx.try_send(b"t1", 0, ty(1)).unwrap();
    tx.try_send(b"t5", 2, ty(5)).unwrap();
    tx.try_send(b"t3b", 0, ty(3)).unwrap();
    tx.try_send(b"t7", 0, ty(7)).unwrap();

    assert_eq!(
        recv_text(&mut rx, Filter::Type(ty(9))),
        Err(RecvError::Empty)
    );
    assert_eq!(recv_text(&mut rx, Filter::Type(ty(3))).unwrap().0, b"t3");
    // Lowest type <= 4 is 1, even though t3b comes first... t1 comes first.
    assert_eq!(
        recv_text(&mut rx, Filter::LowestAtMost(ty(4))).unwrap().0,
        b"t1"
    );
    // Now the lowest type <= 4 is 3.
    assert_eq!(
        recv_text(&mut rx, Filter::LowestAtMost(ty(6))).unwrap().0,
        b"t3b"
    );
    assert_eq!(
        recv_text(&mut rx, Filter::LowestAtMost(ty(4))),
        Err(RecvError::Empty)
    );
    // Except 5: the first message of another type is t7 (t5 comes first).
    assert_eq!(recv_text(&mut rx, Filter::Except(ty(5))).unwrap().0, b"t7");
    assert_eq!(
        recv_text(&mut rx, Filter::Except(ty(5))),
        Err(RecvError::Empty)
    );
    assert_eq!(
        recv_text(&mut rx, Filter::Any).unwrap(),
        (b"t5".to_vec(), 2, 5)
    );
}

#[test]
fn small_buffer_keeps_the_message_unless_truncating() {
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let mut tx = endpoint(&mq, 1);
    let mut rx = endpoint(&mq, 2);
    tx.try_send(b"0123456789", 0, ty(1)).unwrap();
    let mut small = [0u8; 4];
    assert_eq!(
        rx.try_recv(&mut small),
        Err(RecvError::BufferTooSmall { needed: 10 })
    );
    assert_eq!(mq.stats().unwrap().messages, 1);
    let got = rx
        .try_recv_with(
            &mut small,
            RecvOptions {
                filter: Filter::Any,
                truncate: true,
            },
        )
        .unwrap();
    assert_eq!((got.len, got.message_len, got.truncated()), (4, 10, true));
    assert_eq!(&small, b"0123");
    assert_eq!(mq.stats().unwrap().messages, 0);
    // Blocking receive reports it the same way.
    tx.try_send(b"0123456789", 0, ty(1)).unwrap();
    assert_eq!(
        rx.recv(&mut small, RecvOptions::default(), None),
        Err(RecvTimeoutError::BufferTooSmall { needed: 10 })
    );
}

#[test]
fn full_too_large_and_empty() {
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let mut tx = endpoint(&mq, 1);
    let mut rx = endpoint(&mq, 2);
    assert_eq!(
        tx.try_send(&[0; 33], 0, ty(1)),
        Err(SendError::TooLarge { len: 33, max: 32 })
    );
    tx.try_send(&[7; 32], 0, ty(1)).unwrap();
    for i in 1..8u8 {
        tx.try_send(&[i], 0, ty(1)).unwrap();
    }
    assert_eq!(tx.try_send(b"x", 0, ty(1)), Err(SendError::Full));
    assert_eq!(
        tx.send(b"x", 0, ty(1), Some(Duration::from_millis(5))),
        Err(SendTimeoutError::Timeout)
    );
    let mut buf = [0u8; 32];
    assert_eq!(rx.try_recv(&mut buf).unwrap().len, 32);
    assert_eq!(buf, [7; 32]);
    tx.try_send(b"x", 0, ty(1)).unwrap();
    for _ in 0..8 {
        rx.try_recv(&mut buf).unwrap();
    }
    assert_eq!(rx.try_recv(&mut buf), Err(RecvError::Empty));
    assert_eq!(
        rx.recv(
            &mut buf,
            RecvOptions::default(),
            Some(Duration::from_millis(5))
        ),
        Err(RecvTimeoutError::Timeout)
    );
}

#[test]
fn counters_and_notification() {
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let mut tx = endpoint(&mq, 111);
    let mut rx = endpoint(&mq, 222);
    assert_eq!(mq.register_notification(555, 1), Ok(()));
    assert_eq!(mq.register_notification(555, 40), Ok(()));
    assert_eq!(
        mq.register_notification(556, 1),
        Err(NotificationBusy { pid: 555 })
    );
    assert_eq!(
        mq.register_notification(0, 1),
        Err(NotificationBusy { pid: 0 })
    );
    let first = tx.try_send(b"abc", 0, ty(1)).unwrap();
    assert_eq!(
        first,
        Sent {
            was_empty: true,
            notify: Some(Notification {
                pid: 555,
                cookie: 40
            })
        }
    );
    // The registration is consumed, and a non-empty queue does not notify.
    assert_eq!(mq.notification(), None);
    assert_eq!(mq.notifications(), 1);
    mq.register_notification(555, 40).unwrap();
    let second = tx.try_send(b"de", 0, ty(1)).unwrap();
    assert_eq!(
        second,
        Sent {
            was_empty: false,
            notify: None
        }
    );
    assert!(mq.cancel_notification(555));
    assert!(!mq.cancel_notification(555));
    let stats = mq.stats().unwrap();
    assert_eq!(
        stats,
        Stats {
            messages: 2,
            bytes: 5,
            last_sender: 111,
            last_receiver: 0,
            sent: 2,
            received: 0
        }
    );
    rx.try_recv(&mut [0; 32]).unwrap();
    let stats = mq.stats().unwrap();
    assert_eq!(
        (stats.messages, stats.bytes, stats.last_receiver),
        (1, 2, 222)
    );
    assert_eq!(stats.received, 1);
}

#[test]
fn a_blocked_receiver_takes_the_arrival_instead_of_the_registrant() {
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let mut tx = endpoint(&mq, 111);
    let mut rx = endpoint(&mq, 222);
    mq.register_notification(555, 40).unwrap();
    std::thread::scope(|s| {
        let receiver = s.spawn(move || {
            let mut buf = [0u8; 32];
            let got = rx.recv(&mut buf, RecvOptions::default(), None).unwrap();
            buf[..got.len].to_vec()
        });
        while !mq.anyone_receiving() {
            std::thread::yield_now();
        }
        let sent = tx.try_send(b"mine", 0, ty(1)).unwrap();
        assert_eq!(sent.notify, None, "a receiver was blocked");
        assert_eq!(receiver.join().unwrap(), b"mine");
    });
    assert!(!mq.anyone_receiving(), "the mark ends with the receive");
    assert_eq!(mq.notification().map(|n| n.pid), Some(555), "not consumed");
    // A receive that times out leaves no mark either.
    let mut rx = endpoint(&mq, 222);
    let short = Some(Duration::from_millis(1));
    assert_eq!(
        rx.recv(&mut [0; 32], RecvOptions::default(), short),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(!mq.anyone_receiving());
    let sent = tx.try_send(b"x", 0, ty(1)).unwrap();
    assert_eq!(sent.notify.map(|n| n.pid), Some(555));
}

#[test]
fn a_receiver_that_died_blocked_silences_notifications_until_released() {
    // Regression: the notification used to be skipped while the event
    // count said a receiver was asleep, and the count of one killed asleep
    // never came down, so no notification was given again.
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let mut tx = endpoint(&mq, 111);
    let dead = endpoint(&mq, 333);
    // As if killed inside `recv`: the mark stays and the handle never drops.
    mq.set_receiving(dead.record_index(), true);
    core::mem::forget(dead);
    mq.register_notification(555, 40).unwrap();
    let sent = tx.try_send(b"a", 0, ty(1)).unwrap();
    assert_eq!((sent.was_empty, sent.notify), (true, None));
    assert_eq!(mq.release_dead(|claim| claim.pid != 333), 1);
    assert!(!mq.anyone_receiving(), "released with its record");
    tx.try_recv(&mut [0; 32]).unwrap();
    let sent = tx.try_send(b"b", 0, ty(1)).unwrap();
    assert_eq!(
        sent.notify,
        Some(Notification {
            pid: 555,
            cookie: 40
        })
    );
}

#[test]
fn registration_is_limited_and_records_are_reused() {
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let mut eps: Vec<_> = (0..4).map(|i| endpoint(&mq, i + 1)).collect();
    assert!(matches!(
        mq.endpoint(9, waiter()),
        Err(RegisterError::TooManyParticipants { max: 4 })
    ));
    // A sender that drops while holding a prepared slot leaves it to the
    // record's next holder: nothing leaks over many rounds.
    for round in 0..50u32 {
        let mut ep = eps.pop().unwrap();
        ep.try_send(&round.to_le_bytes(), 0, ty(1)).unwrap();
        drop(ep);
        let mut next = endpoint(&mq, 100 + round);
        let mut buf = [0u8; 4];
        next.try_recv(&mut buf).unwrap();
        assert_eq!(u32::from_le_bytes(buf), round);
        eps.push(next);
    }
    assert_eq!(mq.stats().unwrap().messages, 0);
}

#[test]
fn release_dead_frees_records() {
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let eps: Vec<_> = (0..4).map(|i| endpoint(&mq, 1000 + i)).collect();
    // Pretend the processes of the first two died without dropping.
    for ep in eps.into_iter().take(2) {
        core::mem::forget(ep);
    }
    let released = mq.release_dead(|claim| claim.pid >= 1002);
    assert_eq!(released, 2);
    assert!(matches!(
        mq.participant(0),
        Some(crate::claim::RoleState::Closed(_))
    ));
    let mut a = endpoint(&mq, 7);
    let mut b = endpoint(&mq, 8);
    a.try_send(b"ok", 3, ty(2)).unwrap();
    assert_eq!(
        recv_text(&mut b, Filter::Any).unwrap(),
        (b"ok".to_vec(), 3, 2)
    );
}

/// A reference model: the queue as a Vec in receive order.
struct Model {
    queue: Vec<(u16, u32, Vec<u8>)>,
    max: usize,
}

impl Model {
    fn send(&mut self, prio: u16, mtype: u32, data: Vec<u8>) -> bool {
        if self.queue.len() == self.max {
            return false;
        }
        let at = self
            .queue
            .iter()
            .position(|(p, _, _)| *p < prio)
            .unwrap_or(self.queue.len());
        self.queue.insert(at, (prio, mtype, data));
        true
    }

    fn recv(&mut self, filter: Filter) -> Option<(u16, u32, Vec<u8>)> {
        let at = match filter {
            Filter::Any => (!self.queue.is_empty()).then_some(0),
            Filter::Type(t) => self.queue.iter().position(|m| m.1 == t.get()),
            Filter::Except(t) => self.queue.iter().position(|m| m.1 != t.get()),
            Filter::LowestAtMost(t) => {
                let lowest = self
                    .queue
                    .iter()
                    .map(|m| m.1)
                    .filter(|&m| m <= t.get())
                    .min()?;
                self.queue.iter().position(|m| m.1 == lowest)
            }
        }?;
        Some(self.queue.remove(at))
    }
}

#[test]
fn matches_a_reference_model() {
    let rounds = if cfg!(miri) { 300 } else { 20_000 };
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let mut eps: Vec<_> = (0..3).map(|i| endpoint(&mq, i + 1)).collect();
    let mut model = Model {
        queue: Vec::new(),
        max: 8,
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rand = move |n: u32| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % u64::from(n)) as u32
    };
    for round in 0..rounds {
        let ep = &mut eps[rand(3) as usize];
        if rand(2) == 0 {
            let prio = rand(4) as u16;
            let mtype = rand(4) + 1;
            let len = rand(33) as usize;
            let data: Vec<u8> = (0..len).map(|i| (round as usize + i) as u8).collect();
            let expect_ok = model.send(prio, mtype, data.clone());
            let got = ep.try_send(&data, prio, ty(mtype));
            assert_eq!(got.is_ok(), expect_ok, "round {round}: {got:?}");
            if !expect_ok {
                assert_eq!(got, Err(SendError::Full));
            }
        } else {
            let t = ty(rand(4) + 1);
            let filter = [
                Filter::Any,
                Filter::Type(t),
                Filter::Except(t),
                Filter::LowestAtMost(t),
            ][rand(4) as usize];
            let mut buf = [0u8; 32];
            match (
                model.recv(filter),
                ep.try_recv_with(&mut buf, RecvOptions::filter(filter)),
            ) {
                (None, Err(RecvError::Empty)) => {}
                (Some((prio, mtype, data)), Ok(got)) => {
                    assert_eq!(
                        (got.priority, got.mtype.get()),
                        (prio, mtype),
                        "round {round}"
                    );
                    assert_eq!(&buf[..got.len], &data[..], "round {round}");
                }
                (want, got) => panic!("round {round}: model {want:?}, queue {got:?}"),
            }
        }
        let stats = mq.stats().unwrap();
        assert_eq!(stats.messages as usize, model.queue.len());
        let bytes: usize = model.queue.iter().map(|m| m.2.len()).sum();
        assert_eq!(stats.bytes as usize, bytes);
    }
}

#[test]
fn threads_lose_and_duplicate_nothing() {
    const SENDERS: u32 = 3;
    const RECEIVERS: u32 = 2;
    let per_sender: u32 = if cfg!(miri) { 30 } else { 3000 };
    let total = SENDERS * per_sender;
    let mut region = std::boxed::Box::new(Region::<{ MessageQueue::region_size(8, 32, 5) }>::new());
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, SENDERS + RECEIVERS).unwrap();
    let count = crate::sync::AtomicU32::new(0);
    let received = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for sender in 0..SENDERS {
            let mut ep = endpoint(&mq, sender + 1);
            s.spawn(move || {
                for i in 0..per_sender {
                    let word = (sender << 24) | i;
                    ep.send(&word.to_le_bytes(), (i % 3) as u16, ty(sender + 1), None)
                        .unwrap();
                }
            });
        }
        for r in 0..RECEIVERS {
            let mut ep = endpoint(&mq, 100 + r);
            let (received, count) = (&received, &count);
            s.spawn(move || {
                let mut mine = Vec::new();
                let mut buf = [0u8; 32];
                let timeout = Some(Duration::from_millis(20));
                while count.load(Ordering::Relaxed) < total {
                    match ep.recv(&mut buf, RecvOptions::default(), timeout) {
                        Ok(got) => {
                            assert_eq!(got.len, 4);
                            let word = u32::from_le_bytes(buf[..4].try_into().unwrap());
                            assert_eq!(got.mtype.get(), (word >> 24) + 1);
                            mine.push(word);
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                received.lock().unwrap().extend(mine);
            });
        }
    });
    let mut all = received.into_inner().unwrap();
    all.sort_unstable();
    let mut expect: Vec<u32> = (0..SENDERS)
        .flat_map(|s| (0..per_sender).map(move |i| (s << 24) | i))
        .collect();
    expect.sort_unstable();
    assert_eq!(all, expect);
    let stats = mq.stats().unwrap();
    assert_eq!(
        (stats.messages, stats.sent, stats.received),
        (0, total, total)
    );
}

#[test]
fn attach_checks_the_header() {
    let mut region = new_region();
    let len = SIZE;
    let ptr = NonNull::from(&mut *region).cast::<u8>();
    // SAFETY: the region outlives the views and is used only through them.
    unsafe { MessageQueue::init_raw(ptr, len, 8, 32, 4, InitOptions::default()) }.unwrap();
    // SAFETY: the region outlives the views and is used only through them.
    let other = unsafe { MessageQueue::attach_raw(ptr, len, MQ_SCHEMA) }.unwrap();
    assert_eq!(
        (
            other.max_messages(),
            other.max_message_size(),
            other.max_participants()
        ),
        (8, 32, 4)
    );
    // SAFETY: as above.
    let wrong = unsafe { MessageQueue::attach_raw(ptr, len, Schema::new(1)) };
    assert!(matches!(wrong, Err(AttachError::SchemaMismatch { .. })));
    // SAFETY: as above.
    let short = unsafe { MessageQueue::attach_raw(ptr, len - 1, MQ_SCHEMA) };
    assert!(matches!(short, Err(AttachError::RegionTooSmall { .. })));
    let mut a = endpoint(&other, 1);
    a.try_send(b"hi", 0, ty(1)).unwrap();
    // The block-word count is cross-checked against the geometry.
    other
        .hdr()
        .control
        .0
        .block_words
        .store(3, Ordering::Relaxed);
    // SAFETY: as above.
    let bad = unsafe { MessageQueue::attach_raw(ptr, len, MQ_SCHEMA) };
    assert_eq!(bad.err(), Some(AttachError::Corrupted));
}

#[test]
fn impossible_blocks_are_reported() {
    let mut region = new_region();
    let mq = MessageQueue::init(region.as_uninit_mut(), 8, 32, 4).unwrap();
    let mut a = endpoint(&mq, 1);
    a.try_send(b"hi", 0, ty(1)).unwrap();
    let root = mq.hdr().root.0.load(Ordering::Relaxed);
    let block = mq.block((root & 0xFFFF) as u32);
    let g = mq.geometry;
    // Each scribble is undone afterwards; the queue must then work again.
    let scribbles: [(usize, u32); 6] = [
        (0, 99),                      // more queued than max
        (1, 8),                       // head out of range
        (2, 0),                       // free count disagrees with the bitmap
        (8, 0xFFFF_0000),             // scratch block out of range
        (g.bitmap_at as usize, 0),    // bitmap loses slots
        (g.queue_at as usize + 1, 0), // a message of type 0
    ];
    for (word, value) in scribbles {
        let saved = block[word].load(Ordering::Relaxed);
        block[word].store(value, Ordering::Relaxed);
        let mut buf = [0u8; 32];
        let got = a.try_recv(&mut buf);
        assert_eq!(got, Err(RecvError::Corrupted), "word {word} = {value:#x}");
        block[word].store(saved, Ordering::Relaxed);
    }
    assert_eq!(recv_text(&mut a, Filter::Any).unwrap().0, b"hi");
    // A root naming no block.
    let root = mq.hdr().root.0.load(Ordering::Relaxed);
    let scribbled =
        mq.hdr()
            .root
            .0
            .compare_exchange(root, root | 0xFFFF, Ordering::Relaxed, Ordering::Relaxed);
    assert!(scribbled.is_ok());
    assert_eq!(a.try_send(b"x", 0, ty(1)), Err(SendError::Corrupted));
    assert_eq!(mq.stats(), Err(RecvError::Corrupted));
}
