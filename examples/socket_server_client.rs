//! A socket server with several clients (seed 002's `socket`, `bind`,
//! `listen`, `accept` / `connect` arrangement), where the socket only makes
//! the introduction: the server binds a unix socket in a private directory
//! and, for each client it accepts, checks the client's uid as the kernel
//! reports it (`SO_PEERCRED`) and hands it two byte streams (requests and
//! replies) in sealed memfds over the socket (`SCM_RIGHTS`). The bytes then
//! move through shared memory, not through the kernel, and the streams have
//! no name in `/dev/shm` that another process could open. Each client also
//! checks that the server runs as its own uid before it takes anything.
//!
//! The server answers each line with the line in upper case; a client closes
//! its request stream when done and reads the replies to the end, as with
//! `shutdown(SHUT_WR)` on a socket.
//!
//! Run: `cargo run --release -p annulus-examples --example socket_server_client`

use std::ffi::CString;
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

use annulus_examples::Peer;
use annulus_linux::named::SpscRing;
use annulus_linux::rendezvous::{Address, Allow, Connection, Listener};

const CLIENTS: u32 = 3;
const LINES: u32 = 5;
/// Offer tags in this example's protocol.
const REQUESTS: u32 = 1;
const REPLIES: u32 = 2;
/// A watchdog, not a pace.
const WATCHDOG: Option<Duration> = Some(Duration::from_secs(30));

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("client") => client(&args[2], args[3].parse().expect("client number")),
        _ => server(),
    }
}

/// A directory only this user can enter, removed at the end (even by a
/// panic): who can reach the socket is decided here, before any uid check.
struct PrivateDir(std::path::PathBuf);

impl PrivateDir {
    fn new() -> Self {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join(format!("annulus-example-{}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .expect("a private directory");
        PrivateDir(dir)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn server() {
    let dir = PrivateDir::new();
    let socket = dir
        .0
        .join("server.sock")
        .to_str()
        .expect("utf-8")
        .to_owned();
    let path = CString::new(socket.clone()).expect("no NUL");
    let listener = Listener::bind(Address::Path(&path)).expect("bind");
    let clients: Vec<Peer> = (0..CLIENTS)
        .map(|i| Peer::spawn(&["client", &socket, &i.to_string()]))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..CLIENTS {
            let conn = listener
                .accept(Allow::SameUser, WATCHDOG)
                .expect("a client of our own uid");
            println!(
                "server: accepted pid {} (uid {})",
                conn.peer().pid,
                conn.peer().uid
            );
            let requests = SpscRing::<u8>::create_anonymous(4096).expect("requests");
            let replies = SpscRing::<u8>::create_anonymous(4096).expect("replies");
            conn.offer(requests.named().memory(), REQUESTS, &[])
                .expect("offer requests");
            conn.offer(replies.named().memory(), REPLIES, &[])
                .expect("offer replies");
            s.spawn(move || serve(&requests, &replies));
        }
    });
    for client in clients {
        client.wait();
    }
    println!(
        "server: {CLIENTS} clients served; nothing left in /dev/shm (the streams never had a name)"
    );
}

/// Answers every request line in upper case until the client closes.
fn serve(requests: &SpscRing<u8>, replies: &SpscRing<u8>) {
    let mut reader = requests.byte_reader().expect("the server reads requests");
    let mut writer = replies.byte_writer().expect("the server writes replies");
    for line in BufReader::new(&mut *reader).lines() {
        let line = line.expect("a request line");
        writeln!(writer, "{}", line.to_uppercase()).expect("reply");
    }
    // Dropping `writer` ends the client's reply stream.
}

fn client(socket: &str, number: u32) {
    let path = CString::new(socket).expect("no NUL");
    let conn = Connection::connect(Address::Path(&path), Allow::SameUser)
        .expect("a server of our own uid");
    let mut streams = [None, None];
    for _ in 0..2 {
        let offer = conn.receive(0, WATCHDOG).expect("an offer");
        let slot = match offer.tag {
            REQUESTS => 0,
            REPLIES => 1,
            other => panic!("unknown offer {other}"),
        };
        streams[slot] = Some(SpscRing::<u8>::from_memory(offer.memory).expect("a byte stream"));
    }
    let [Some(requests), Some(replies)] = streams else {
        panic!("both streams")
    };
    let mut writer = requests.byte_writer().expect("the client writes requests");
    for i in 0..LINES {
        writeln!(writer, "hello from client {number}, line {i}").expect("request");
    }
    drop(writer); // like shutdown(SHUT_WR): the server's reads end
    let mut reader = replies.byte_reader().expect("the client reads replies");
    let mut answered = 0;
    for (i, line) in BufReader::new(&mut *reader).lines().enumerate() {
        assert_eq!(
            line.expect("a reply line"),
            format!("HELLO FROM CLIENT {number}, LINE {i}")
        );
        answered += 1;
    }
    assert_eq!(answered, LINES);
    println!("client {number}: {LINES} lines answered");
}
