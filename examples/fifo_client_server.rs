//! A FIFO with several clients, rebuilt on annulus (seed 001's
//! `write_fifo`/`read_fifo` "client-server" arrangement): the server creates
//! a named MPMC ring, `/dev/shm/annulus.example-fifo-<pid>`, that every
//! client knows by name; three client processes open it and send requests;
//! the server takes them all, in each client's order, from the one ring.
//!
//! Unlike a FIFO, a request is a typed record, never split or interleaved
//! with another client's, and the ring holds who the clients are (see
//! `annulus list` while it runs).
//!
//! Run: `cargo run --release -p annulus-examples --example fifo_client_server`

use std::time::Duration;

use annulus_examples::{ExampleName, Peer};
use annulus_linux::named::MpmcRing;

/// One request: plain data, copied bit for bit.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Request {
    client: u32,
    seq: u32,
    value: u64,
}

const CLIENTS: u32 = 3;
const REQUESTS: u32 = 1000;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("client") => client(&args[2], args[3].parse().expect("client number")),
        _ => server(),
    }
}

fn server() {
    let name = ExampleName::new("fifo");
    // 64 slots; records for the server's two ends and the three clients.
    let ring = MpmcRing::<Request>::create(name.as_str(), 64, 2 + CLIENTS).expect("create");
    let mut rx = ring.receiver().expect("the server receives");
    // The FIFO server's trick of opening its FIFO read-write: while the
    // server itself holds a sender, the ring does not read as closed in
    // the moment after some clients have left and before another one has
    // opened it.
    let keep_open = ring.sender().expect("the server's own sender");
    let clients: Vec<Peer> = (0..CLIENTS)
        .map(|i| Peer::spawn(&["client", name.as_str(), &i.to_string()]))
        .collect();

    let mut next = [0u32; CLIENTS as usize];
    let mut sum = 0u64;
    for _ in 0..CLIENTS * REQUESTS {
        // A watchdog, not a pace: a client that died ends the wait here.
        let req = rx
            .pop_blocking(Some(Duration::from_secs(30)))
            .expect("a request from some client");
        let expected = &mut next[req.client as usize];
        assert_eq!(req.seq, *expected, "each client's requests arrive in order");
        *expected += 1;
        sum += req.value;
    }
    drop(keep_open);
    for client in clients {
        client.wait();
    }
    println!(
        "server: {} requests from {CLIENTS} clients, each client's in order (sum {sum})",
        CLIENTS * REQUESTS
    );
    // `name` unlinks the ring when it goes out of scope.
}

fn client(name: &str, me: u32) {
    // Like open(fifo, O_WRONLY): the server created the ring already.
    let ring = MpmcRing::<Request>::open(name).expect("open the server's ring");
    let mut tx = ring.sender().expect("a sender record");
    for seq in 0..REQUESTS {
        let req = Request {
            client: me,
            seq,
            value: u64::from(me) * 1_000_000 + u64::from(seq),
        };
        tx.push_blocking(req, Some(Duration::from_secs(30)))
            .expect("the server is reading");
    }
    println!("client {me}: sent {REQUESTS} requests");
}
