//! The kernel's pipes and FIFOs, as the seeds describe them: the four
//! read/write cases, the 64 KiB capacity and its resizing, FIFO open rules.

use std::ffi::CString;

use annulus_linux::pipe::{self, PipeOptions, PipeReader, PipeWriter};
use rustix::io::Errno;

const NONBLOCKING: PipeOptions = PipeOptions {
    nonblocking: true,
    packets: false,
};

fn nonblocking_pipe() -> (PipeReader, PipeWriter) {
    pipe::pipe(NONBLOCKING).unwrap()
}

#[test]
fn a_pipe_holds_64_kib_then_the_writer_would_block() {
    // Seed 003: 13-byte writes until the pipe is full, the reader open but
    // not reading.
    let (reader, writer) = nonblocking_pipe();
    assert_eq!(writer.capacity(), Ok(65536));
    let message = b"I am  child!\0";
    let mut total = 0;
    loop {
        match writer.write(message) {
            Ok(n) => total += n,
            Err(Errno::AGAIN) => break,
            Err(e) => panic!("{e}"),
        }
    }
    // As the seeds measured: 65,520 bytes. The 64 KiB are sixteen 4 KiB
    // page buffers, and a small write never straddles two of them, so each
    // holds 315 writes of 13 bytes (4,095 bytes).
    let page = rustix::param::page_size();
    assert_eq!(
        total,
        (65536 / page) * (page / message.len() * message.len())
    );
    assert_eq!(total, 65520);
    assert_eq!(reader.capacity(), Ok(65536));
}

#[test]
fn a_reader_with_nothing_to_read_would_block_while_a_writer_lives() {
    let (reader, _writer) = nonblocking_pipe();
    assert_eq!(reader.read(&mut [0; 16]), Err(Errno::AGAIN));
}

#[test]
fn once_every_writer_is_gone_the_reader_drains_then_reads_zero() {
    let (reader, writer) = nonblocking_pipe();
    writer.write(b"last").unwrap();
    drop(writer);
    let mut buf = [0u8; 16];
    assert_eq!(reader.read(&mut buf), Ok(4));
    assert_eq!(&buf[..4], b"last");
    assert_eq!(reader.read(&mut buf), Ok(0), "end of stream");
}

#[test]
fn once_every_reader_is_gone_the_writer_gets_epipe_not_a_signal() {
    let (reader, writer) = nonblocking_pipe();
    drop(reader);
    assert_eq!(writer.write(b"x"), Err(Errno::PIPE));
    // Still alive: std ignores SIGPIPE, so the write failed instead.
}

#[test]
fn ignoring_sigpipe_again_is_harmless() {
    // What a no_main program calls at start; under std, which ignores
    // SIGPIPE before main, it changes nothing.
    pipe::ignore_sigpipe().unwrap();
    pipe::ignore_sigpipe().unwrap();
    let (reader, writer) = nonblocking_pipe();
    drop(reader);
    assert_eq!(writer.write(b"x"), Err(Errno::PIPE));
}

#[test]
fn capacity_is_resized_to_a_power_of_two_within_the_limit() {
    let (reader, writer) = nonblocking_pipe();
    assert_eq!(writer.set_capacity(100_000), Ok(131072));
    assert_eq!(reader.capacity(), Ok(131072));
    assert_eq!(writer.set_capacity(8192), Ok(8192));
    // Below what the pipe holds (two pages in use): EBUSY.
    writer.write(&[0; 3000]).unwrap();
    writer.write(&[0; 3000]).unwrap();
    assert_eq!(writer.set_capacity(4096), Err(Errno::BUSY));
    let max: usize = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (_reader, writer) = nonblocking_pipe();
    let result = writer.set_capacity(max * 2);
    if has_cap_sys_resource() {
        assert!(matches!(result, Ok(n) if n >= max * 2) || result == Err(Errno::NOMEM));
    } else {
        // Even root gets EPERM without CAP_SYS_RESOURCE.
        assert_eq!(result, Err(Errno::PERM));
    }
}

/// Whether this process holds CAP_SYS_RESOURCE (bit 24 of CapEff).
fn has_cap_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|hex| u64::from_str_radix(hex.trim(), 16).unwrap())
        .unwrap();
    caps & (1 << 24) != 0
}

#[test]
fn packet_mode_keeps_write_boundaries() {
    let (reader, writer) = pipe::pipe(PipeOptions {
        nonblocking: true,
        packets: true,
    })
    .unwrap();
    writer.write(b"first").unwrap();
    writer.write(b"second").unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(reader.read(&mut buf), Ok(5));
    assert_eq!(reader.read(&mut buf), Ok(6));
}

/// A FIFO in a fresh directory, removed with it when dropped.
struct TempFifo {
    dir: std::path::PathBuf,
    path: CString,
}

impl TempFifo {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("annulus-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fifo");
        let path = CString::new(path.to_str().unwrap()).unwrap();
        pipe::mkfifo(&path, 0o600).unwrap();
        TempFifo { dir, path }
    }
}

impl Drop for TempFifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn fifo_open_rules_follow_the_seeds() {
    let fifo = TempFifo::new("fifo-open");
    assert_eq!(pipe::mkfifo(&fifo.path, 0o600), Err(Errno::EXIST));
    // Write-only, non-blocking, nobody reading: ENXIO.
    assert_eq!(
        pipe::open_fifo_writer(&fifo.path, true).unwrap_err(),
        Errno::NXIO
    );
    // Read-only, non-blocking: returns at once.
    let reader = pipe::open_fifo_reader(&fifo.path, true).unwrap();
    let writer = pipe::open_fifo_writer(&fifo.path, true).unwrap();
    writer.write(b"hello").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(reader.read(&mut buf), Ok(5));
    drop(writer);
    assert_eq!(reader.read(&mut buf), Ok(0));
}

#[test]
fn a_blocking_fifo_open_waits_for_the_other_side() {
    let fifo = TempFifo::new("fifo-block");
    let path = fifo.path.clone();
    let opener = std::thread::spawn(move || {
        // Blocks until the writer below opens.
        let reader = pipe::open_fifo_reader(&path, false).unwrap();
        let mut buf = [0u8; 8];
        let n = reader.read(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    let writer = pipe::open_fifo_writer(&fifo.path, false).unwrap();
    writer.write(b"met").unwrap();
    drop(writer);
    assert_eq!(opener.join().unwrap(), b"met");
}

#[test]
fn several_fifo_clients_never_interleave_small_requests() {
    // Writes of at most PIPE_BUF bytes are atomic: the server reads whole
    // requests from several clients over one FIFO.
    const CLIENTS: u8 = 4;
    const REQUESTS: usize = 500;
    const SIZE: usize = 100;
    let fifo = TempFifo::new("fifo-clients");
    let reader = pipe::open_fifo_reader(&fifo.path, true).unwrap();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let path = fifo.path.clone();
            std::thread::spawn(move || {
                let writer = pipe::open_fifo_writer(&path, false).unwrap();
                for _ in 0..REQUESTS {
                    let request = [id; SIZE];
                    assert_eq!(writer.write(&request), Ok(SIZE));
                }
            })
        })
        .collect();
    let mut counts = [0usize; CLIENTS as usize];
    let mut pending = Vec::new();
    let mut buf = [0u8; 4096];
    while counts.iter().sum::<usize>() < CLIENTS as usize * REQUESTS {
        match reader.read(&mut buf) {
            Ok(n) => pending.extend_from_slice(&buf[..n]),
            Err(Errno::AGAIN) => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
        while pending.len() >= SIZE {
            let request: Vec<u8> = pending.drain(..SIZE).collect();
            assert!(
                request.iter().all(|&b| b == request[0]),
                "interleaved request"
            );
            counts[request[0] as usize] += 1;
        }
    }
    for client in clients {
        client.join().unwrap();
    }
    assert_eq!(counts, [REQUESTS; CLIENTS as usize]);
}
