//! The unix-socket rendezvous between real processes: a server hands an
//! unrelated process (here a re-executed child that inherits nothing) a
//! message queue in a sealed memfd that has no name in `/dev/shm`, after
//! each side checked the other's uid; and a server that does not allow the
//! client's uid refuses it before anything is sent.

use std::ffi::CString;
use std::num::NonZeroU32;
use std::time::Duration;

use annulus::mq::RecvOptions;
use annulus_linux::liveness::pidfd_has_exited;
use annulus_linux::named::NamedMessageQueue;
use annulus_linux::rendezvous::{Address, Allow, Connection, Listener, RendezvousError};
use annulus_process_tests::{
    CHILD_NAME, ChildGuard, NOBODY, child_name, child_role, drop_to_nobody, wait_until,
};
use rustix::fd::AsFd;

/// Watchdog for every wait and every child; never a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(60);
const MESSAGES: u32 = 1000;
/// The tag of the offer: "a job queue", in this test's protocol.
const JOB_QUEUE: u32 = 1;

/// A directory only this user can search, removed when dropped (even when
/// the test fails), holding the socket.
struct PrivateDir(std::path::PathBuf);

impl PrivateDir {
    fn new(tag: &str) -> Self {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("annulus-{tag}-{}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        PrivateDir(dir)
    }

    fn socket(&self) -> String {
        self.0.join("server.sock").to_str().unwrap().to_owned()
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn path(s: &str) -> CString {
    CString::new(s).unwrap()
}

fn spawn(test: &str, role: &str, socket: &str) -> ChildGuard {
    ChildGuard::spawn(test, role, &[(CHILD_NAME, socket.to_owned())]).expect("spawn a child")
}

#[test]
fn a_queue_without_a_name_reaches_an_allowed_process() {
    if child_role().is_some() {
        return;
    }
    let dir = PrivateDir::new("rendezvous");
    let socket = dir.socket();
    let listener = Listener::bind(Address::Path(&path(&socket))).unwrap();
    let child = spawn("client_receives_a_queue", "client", &socket);
    let conn = listener.accept(Allow::SameUser, Some(WATCHDOG)).unwrap();
    // The kernel names the connecting process: the child, not a stranger.
    assert_eq!(conn.peer().pid, child.id());
    // And a pidfd for it, which can never name another process.
    let pidfd = conn.peer_pidfd().unwrap();
    assert!(!pidfd_has_exited(pidfd.as_fd()));
    let mq = NamedMessageQueue::create_anonymous(16, 8, 2).unwrap();
    assert_eq!(mq.named().name(), "", "no name in /dev/shm");
    conn.offer(mq.named().memory(), JOB_QUEUE, &[]).unwrap();
    let mut tx = mq.endpoint().unwrap();
    for seq in 0..MESSAGES {
        let ty = NonZeroU32::new(1).unwrap();
        tx.send(&seq.to_le_bytes(), 0, ty, Some(WATCHDOG)).unwrap();
    }
    wait_until("the child exits", WATCHDOG, || {
        pidfd_has_exited(pidfd.as_fd())
    });
    child.wait_success(WATCHDOG).unwrap();
    assert_eq!(mq.stats().unwrap().messages, 0, "the child took them all");
}

#[test]
fn client_receives_a_queue() {
    let Some(_) = child_role() else {
        return;
    };
    let conn = Connection::connect(Address::Path(&path(&child_name())), Allow::SameUser).unwrap();
    assert_eq!(
        conn.peer().pid,
        rustix::process::getppid().unwrap().as_raw_pid() as u32
    );
    let offer = conn.receive(0, Some(WATCHDOG)).unwrap();
    assert_eq!(offer.tag, JOB_QUEUE);
    let mq = NamedMessageQueue::from_memory(offer.memory).unwrap();
    let mut rx = mq.endpoint().unwrap();
    let mut buf = [0u8; 8];
    for seq in 0..MESSAGES {
        let got = rx
            .recv(&mut buf, RecvOptions::default(), Some(WATCHDOG))
            .unwrap();
        assert_eq!(&buf[..got.len], &seq.to_le_bytes(), "in order, once");
    }
}

#[test]
fn a_server_refuses_a_uid_it_does_not_allow() {
    if child_role().is_some() {
        return;
    }
    let dir = PrivateDir::new("rendezvous-refused");
    let socket = dir.socket();
    let listener = Listener::bind(Address::Path(&path(&socket))).unwrap();
    let child = spawn("client_is_refused", "client", &socket);
    let other = [rustix::process::geteuid().as_raw().wrapping_add(1)];
    match listener.accept(Allow::Uids(&other), Some(WATCHDOG)) {
        Err(RendezvousError::PeerRefused(peer)) => assert_eq!(peer.pid, child.id()),
        other => panic!("expected a refusal, got {other:?}"),
    }
    child.wait_success(WATCHDOG).unwrap();
}

#[test]
fn client_is_refused() {
    let Some(_) = child_role() else {
        return;
    };
    let conn = Connection::connect(Address::Path(&path(&child_name())), Allow::SameUser).unwrap();
    // The server closed the connection without an offer.
    assert_eq!(
        conn.receive(0, Some(WATCHDOG)).unwrap_err(),
        RendezvousError::Closed
    );
}

/// An abstract socket name for this run (no file: anyone may connect, and
/// only the credential checks keep a stranger out).
fn abstract_name() -> String {
    format!("annulus-test-two-users-{}", std::process::id())
}

#[test]
fn another_user_is_refused_by_both_sides() {
    if child_role().is_some() {
        return;
    }
    if !rustix::process::geteuid().is_root() {
        eprintln!("not root: one user cannot act as another; the two-user check is skipped");
        return;
    }
    let name = abstract_name();
    let listener = Listener::bind(Address::Abstract(name.as_bytes())).unwrap();
    let child = spawn("client_as_nobody", "nobody", &name);
    // Root's server admits only root: the child (nobody) is refused.
    match listener.accept(Allow::SameUser, Some(WATCHDOG)) {
        Err(RendezvousError::PeerRefused(peer)) => {
            assert_eq!((peer.pid, peer.uid, peer.gid), (child.id(), NOBODY, NOBODY));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    child.wait_success(WATCHDOG).unwrap();
}

#[test]
fn client_as_nobody() {
    let Some(_) = child_role() else {
        return;
    };
    let name = child_name();
    drop_to_nobody();
    // It trusts root's server: connected, then refused by it.
    let root = [0];
    let conn = Connection::connect(Address::Abstract(name.as_bytes()), Allow::Uids(&root)).unwrap();
    assert_eq!(conn.peer().uid, 0);
    assert_eq!(
        conn.receive(0, Some(WATCHDOG)).unwrap_err(),
        RendezvousError::Closed
    );
    // Trusting only its own uid, it refuses root's server itself.
    match Connection::connect(Address::Abstract(name.as_bytes()), Allow::SameUser) {
        Err(RendezvousError::PeerRefused(peer)) => assert_eq!(peer.uid, 0),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
