//! The seeds' FIFO client–server: several client processes send requests
//! to one server over a named channel (here a named MPMC ring, opened by
//! name in each client, every side sleeping on the shared futex). The server
//! receives every request exactly once, each client's in order, and sees the
//! channel disconnect when the last client has gone.

use std::time::Duration;

use annulus::mpmc::PopTimeoutError;
use annulus_linux::named::MpmcRing;
use annulus_process_tests::{CHILD_NAME, ChildGuard, UniqueName, child_name, child_role};

const CLIENTS: u32 = 3;
const REQUESTS: u32 = 20_000;
/// A watchdog far above the expected time, never a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(60);

/// One request: which client, which of its requests, and a check word.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, bytemuck::Zeroable, bytemuck::Pod)]
struct Request {
    client: u32,
    seq: u32,
    check: u64,
}

fn request(client: u32, seq: u32) -> Request {
    Request {
        client,
        seq,
        check: (u64::from(client) << 32 | u64::from(seq)).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    }
}

#[test]
fn server_receives_every_request_from_several_clients() {
    if child_role().is_some() {
        return; // children run `client` only
    }
    let name = UniqueName::new("fifo");
    let server = MpmcRing::<Request>::create(&name.0, 64, CLIENTS + 2).unwrap();
    let mut rx = server.receiver().unwrap();
    rx.set_spin_limit(0); // sleep in the kernel whenever the channel is empty
    // Held like a FIFO server's read-write open: until every client has
    // connected, clients that have finished must not close the channel.
    let keep_open = server.sender().unwrap();
    let clients: Vec<ChildGuard> = (0..CLIENTS)
        .map(|id| {
            ChildGuard::spawn("client", &id.to_string(), &[(CHILD_NAME, name.0.clone())]).unwrap()
        })
        .collect();
    let mut next = vec![0u32; CLIENTS as usize];
    let mut total = 0;
    while total < CLIENTS * REQUESTS {
        let req = rx
            .pop_blocking(Some(WATCHDOG))
            .expect("clients keep sending");
        assert_eq!(
            req,
            request(req.client, next[req.client as usize]),
            "order or content"
        );
        next[req.client as usize] += 1;
        total += 1;
    }
    drop(keep_open);
    for client in clients {
        client.wait_success(WATCHDOG).unwrap();
    }
    // Every client has exited and deregistered: the channel is closed.
    assert_eq!(
        rx.pop_blocking(Some(WATCHDOG)),
        Err(PopTimeoutError::Disconnected)
    );
    assert_eq!(server.ring().senders(), 0);
}

#[test]
fn client() {
    let Some(role) = child_role() else {
        return; // only meaningful in a re-executed child
    };
    let id: u32 = role.parse().unwrap();
    let channel = MpmcRing::<Request>::open(&child_name()).unwrap();
    let mut tx = channel.sender().unwrap();
    tx.set_spin_limit(0);
    for seq in 0..REQUESTS {
        tx.push_blocking(request(id, seq), Some(WATCHDOG)).unwrap();
    }
}
