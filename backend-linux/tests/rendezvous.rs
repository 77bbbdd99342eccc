//! The unix-socket rendezvous within one process: binding, the uid checks
//! on both sides, timeouts, what a sender refuses to send, and every named
//! kind created in anonymous memory, offered, and opened from the offer.
//! (Malformed offers: `rendezvous_hostile.rs`; between real processes:
//! `tests/tests/rendezvous.rs`.)

use std::ffi::CString;
use std::time::Duration;

use annulus_linux::named::{
    MpmcRing, NamedFrameRing, NamedMessageQueue, NamedRobustSemaphoreSet, NamedSemaphore,
    NamedSemaphoreSet, OpenError, SpscRing,
};
use annulus_linux::rendezvous::{
    Address, Allow, Connection, Listener, MAX_EXTRA_FDS, Peer, RendezvousError,
};
use annulus_linux::{SharedMemory, ShmError};
use rustix::fd::AsFd;
use rustix::io::Errno;

const WAIT: Option<Duration> = Some(Duration::from_secs(10));

fn me() -> Peer {
    Peer {
        pid: std::process::id(),
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
    }
}

/// An abstract socket name nobody else uses.
fn abstract_name(tag: &str) -> Vec<u8> {
    format!("annulus-test-{tag}-{}", std::process::id()).into_bytes()
}

/// A private directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("annulus-{tag}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }

    fn socket(&self) -> CString {
        CString::new(
            self.0
                .join("rendezvous.sock")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_path_is_bound_once_and_removed_with_its_listener() {
    let dir = TempDir::new("bind");
    let path = dir.socket();
    let listener = Listener::bind(Address::Path(&path)).unwrap();
    assert_eq!(
        Listener::bind(Address::Path(&path)).unwrap_err(),
        RendezvousError::Os(Errno::ADDRINUSE)
    );
    // The first listener still works after the refused second bind.
    let client = Connection::connect(Address::Path(&path), Allow::SameUser).unwrap();
    let server = listener.accept(Allow::SameUser, WAIT).unwrap();
    assert_eq!((client.peer(), server.peer()), (me(), me()));
    drop(listener);
    assert!(!std::path::Path::new(path.to_str().unwrap()).exists());
    assert_eq!(
        Connection::connect(Address::Path(&path), Allow::SameUser).unwrap_err(),
        RendezvousError::Os(Errno::NOENT)
    );
}

#[test]
fn each_side_refuses_a_peer_whose_uid_is_not_allowed() {
    let name = abstract_name("uid");
    let other = [me().uid.wrapping_add(1)];
    let listener = Listener::bind(Address::Abstract(&name)).unwrap();
    // The server refuses the client: the client then sees the end.
    let client = Connection::connect(Address::Abstract(&name), Allow::SameUser).unwrap();
    assert_eq!(
        listener.accept(Allow::Uids(&other), WAIT).unwrap_err(),
        RendezvousError::PeerRefused(me())
    );
    assert_eq!(
        client.receive(0, WAIT).unwrap_err(),
        RendezvousError::Closed
    );
    // The client refuses the server (a squatter on the address, say).
    assert_eq!(
        Connection::connect(Address::Abstract(&name), Allow::Uids(&other)).unwrap_err(),
        RendezvousError::PeerRefused(me())
    );
    // A listed uid is admitted.
    let mine = [me().uid];
    let _client = Connection::connect(Address::Abstract(&name), Allow::Uids(&mine)).unwrap();
    assert_eq!(
        listener.accept(Allow::Uids(&mine), WAIT).unwrap().peer(),
        me()
    );
}

#[test]
fn silent_peers_time_out_and_gone_peers_read_as_closed() {
    let listener = Listener::bind(Address::Abstract(&abstract_name("silent"))).unwrap();
    let short = Some(Duration::from_millis(20));
    assert_eq!(
        listener.accept(Allow::SameUser, short).unwrap_err(),
        RendezvousError::TimedOut
    );
    let (a, b) = Connection::pair().unwrap();
    assert_eq!(a.receive(0, short).unwrap_err(), RendezvousError::TimedOut);
    drop(b);
    assert_eq!(a.receive(0, short).unwrap_err(), RendezvousError::Closed);
    let memory = SharedMemory::anonymous("gone", 4096).unwrap();
    assert_eq!(
        a.offer(&memory, 0, &[]).unwrap_err(),
        RendezvousError::Closed
    );
}

#[test]
fn a_sender_refuses_memory_a_peer_could_shrink_and_too_many_fds() {
    let (a, b) = Connection::pair().unwrap();
    let name = format!("test-rendezvous-named-{}", std::process::id());
    let named = SharedMemory::create(&name, 4096, 0o600).unwrap();
    SharedMemory::unlink(&name).unwrap();
    assert!(matches!(
        a.offer(&named, 0, &[]),
        Err(RendezvousError::Memory(ShmError::NotSealed { .. }))
    ));
    let memory = SharedMemory::anonymous("fds", 4096).unwrap();
    let extra = [memory.fd(); MAX_EXTRA_FDS + 1];
    assert_eq!(
        a.offer(&memory, 0, &extra).unwrap_err(),
        RendezvousError::TooManyFds {
            given: MAX_EXTRA_FDS + 1
        }
    );
    // Nothing was sent by either refusal.
    let short = Some(Duration::from_millis(20));
    assert_eq!(b.receive(0, short).unwrap_err(), RendezvousError::TimedOut);
}

#[test]
fn extra_fds_arrive_in_order_and_work() {
    let (a, b) = Connection::pair().unwrap();
    let memory = SharedMemory::anonymous("extra", 4096).unwrap();
    let (r1, w1) = rustix::pipe::pipe().unwrap();
    let (r2, w2) = rustix::pipe::pipe().unwrap();
    a.offer(&memory, 42, &[w1.as_fd(), w2.as_fd()]).unwrap();
    let offer = b.receive(4096, WAIT).unwrap();
    assert_eq!(offer.tag, 42);
    rustix::io::write(&offer.extra[0], b"1").unwrap();
    rustix::io::write(&offer.extra[1], b"2").unwrap();
    let mut byte = [0u8];
    rustix::io::read(&r1, &mut byte).unwrap();
    assert_eq!(&byte, b"1");
    rustix::io::read(&r2, &mut byte).unwrap();
    assert_eq!(&byte, b"2");
}

/// Offers `memory` over a fresh pair and returns what the receiver got.
fn pass(memory: &SharedMemory) -> SharedMemory {
    let (a, b) = Connection::pair().unwrap();
    a.offer(memory, 0, &[]).unwrap();
    b.receive(0, WAIT).unwrap().memory
}

#[test]
fn every_named_kind_lives_in_anonymous_memory_and_opens_from_an_offer() {
    let spsc = SpscRing::<u64>::create_anonymous(16).unwrap();
    assert_eq!(spsc.named().name(), "");
    spsc.named().unlink().unwrap(); // no name: nothing to remove
    let spsc_b = SpscRing::<u64>::from_memory(pass(spsc.named().memory())).unwrap();
    spsc.producer().unwrap().push(9).unwrap();
    assert_eq!(spsc_b.consumer().unwrap().pop(), Ok(9));

    let mpmc = MpmcRing::<u32>::create_anonymous(8, 4).unwrap();
    let mpmc_b = MpmcRing::<u32>::from_memory(pass(mpmc.named().memory())).unwrap();
    assert_eq!(mpmc_b.ring().capacity(), 8);

    let frames = NamedFrameRing::create_anonymous(1024).unwrap();
    let frames_b = NamedFrameRing::from_memory(pass(frames.named().memory())).unwrap();
    assert_eq!(frames_b.ring().capacity(), frames.ring().capacity());

    let sem = NamedSemaphore::create_anonymous(0, 10).unwrap();
    let sem_b = NamedSemaphore::from_memory(pass(sem.named().memory())).unwrap();
    sem.semaphore().post(3).unwrap();
    assert_eq!(sem_b.semaphore().value(), 3);

    let set = NamedSemaphoreSet::create_anonymous(&[1, 2, 3], 10).unwrap();
    let set_b = NamedSemaphoreSet::from_memory(pass(set.named().memory())).unwrap();
    assert_eq!(set_b.set().value(2), Some(3));

    let robust = NamedRobustSemaphoreSet::create_anonymous(&[4], 10, 2).unwrap();
    let robust_b = NamedRobustSemaphoreSet::from_memory(pass(robust.named().memory())).unwrap();
    assert_eq!(robust_b.set().value(0), Some(4));

    let mq = NamedMessageQueue::create_anonymous(4, 16, 2).unwrap();
    let mq_b = NamedMessageQueue::from_memory(pass(mq.named().memory())).unwrap();
    assert_eq!(mq_b.max_messages(), 4);

    // Memory of one kind does not open as another.
    assert!(matches!(
        MpmcRing::<u64>::from_memory(pass(spsc.named().memory())),
        Err(OpenError::Attach(_))
    ));
}

#[test]
fn the_peer_pidfd_names_the_peer_process() {
    use std::os::fd::AsRawFd;
    let (a, _b) = Connection::pair().unwrap();
    let pidfd = match a.peer_pidfd() {
        Ok(fd) => fd,
        Err(RendezvousError::Os(Errno::NOPROTOOPT)) => {
            eprintln!("kernel older than 6.5: no SO_PEERPIDFD");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd())).unwrap();
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .map(|p| p.trim().parse::<u32>().unwrap());
    assert_eq!(pid, Some(std::process::id()));
    assert!(!annulus_linux::liveness::pidfd_has_exited(pidfd.as_fd()));
}

#[test]
fn a_listener_leaves_a_path_someone_else_took_since() {
    let dir = TempDir::new("retaken");
    let path = dir.socket();
    let listener = Listener::bind(Address::Path(&path)).unwrap();
    let file = std::path::PathBuf::from(path.to_str().unwrap());
    // Another process removes the socket file and puts its own there.
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, b"not ours").unwrap();
    drop(listener);
    assert_eq!(std::fs::read(&file).unwrap(), b"not ours");
}
