//! `annulus send NAME` and `annulus recv NAME`: stdin lines into an object,
//! and what arrives out to stdout, like `echo > fifo` and `cat fifo`.
//!
//! What an object takes is read from its header first (read-only): a message
//! queue and a frame ring carry one message per line (without the newline);
//! a byte stream (an SPSC ring of `u8`) or an MPMC ring of `u8` carries the
//! bytes, newlines included. Rings of other element types are refused: their
//! element type is the creating program's business.

use std::io::{BufRead, Write};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use annulus::frame::{FrameMeta, FrameRecvError};
use annulus::layout::Kind;
use annulus::mq::{Filter, RecvOptions, RecvTimeoutError};
use annulus::spsc::PopTimeoutError;
use annulus_linux::inspect::{self, Content};
use annulus_linux::named::{
    MpmcRing, NamedFrameRing, NamedMessageQueue, OpenError, SpscRing, WATCH_SLICE,
};
use lexopt::{Arg, Parser};

use crate::format;
use crate::{Error, Result, string, unexpected, usage, value};

/// Any mode: the owner check still applies; the caller named the object.
const ANY_MODE: u32 = 0o777;

/// What the object behind a name takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Queue,
    Frames,
    Stream,
    MpmcBytes,
}

fn target(name: &str) -> Result<Target> {
    let object = inspect::inspect(name).map_err(|e| Error::new(format!("{name}: {e}")))?;
    let Content::Valid(d) = &object.content else {
        let why = format::problem(&object).unwrap_or_default();
        return Err(Error::new(format!("{name}: {why}")));
    };
    match d.kind {
        Kind::MessageQueue => Ok(Target::Queue),
        Kind::FrameRing => Ok(Target::Frames),
        Kind::Spsc if format::is_byte_ring(d) => Ok(Target::Stream),
        Kind::Mpmc if format::is_byte_ring(d) => Ok(Target::MpmcBytes),
        _ => Err(Error::new(format!(
            "{name} is a {} of {}-byte elements: send and recv take a message queue, \
             a frame ring, or a ring of bytes",
            format::kind_long_name(d),
            d.header.elem_size
        ))),
    }
}

fn opened(name: &str) -> impl Fn(OpenError) -> Error + '_ {
    move |e| Error::new(format!("{name}: {e}"))
}

fn failed(name: &str, e: impl std::fmt::Display) -> Error {
    Error::new(format!("{name}: {e}"))
}

/// Each stdin line, newline included when there is one.
fn lines() -> impl Iterator<Item = std::io::Result<Vec<u8>>> {
    let mut stdin = std::io::stdin().lock();
    std::iter::from_fn(move || {
        let mut line = Vec::new();
        match stdin.read_until(b'\n', &mut line) {
            Ok(0) => None,
            Ok(_) => Some(Ok(line)),
            Err(e) => Some(Err(e)),
        }
    })
}

fn strip_newline(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\n").unwrap_or(line)
}

pub(crate) fn run_send(args: &mut Parser) -> Result<()> {
    let mut name = None;
    let mut priority = 0u16;
    let mut mtype = NonZeroU32::MIN;
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("priority") | Arg::Short('p') => priority = value(args, "--priority")?,
            Arg::Long("type") | Arg::Short('t') => mtype = value(args, "--type")?,
            Arg::Value(v) if name.is_none() => name = Some(string(v)?),
            other => return Err(unexpected(other)),
        }
    }
    let name = name.ok_or_else(|| usage("send needs a NAME"))?;
    let name = name.as_str();
    match target(name)? {
        Target::Queue => {
            let mq = NamedMessageQueue::open_with_mode(name, ANY_MODE).map_err(opened(name))?;
            let mut tx = mq.endpoint().map_err(|e| failed(name, e))?;
            for line in lines() {
                let line = line?;
                tx.send(strip_newline(&line), priority, mtype, None)
                    .map_err(|e| failed(name, e))?;
            }
        }
        Target::Frames => {
            let ring = NamedFrameRing::open_with_mode(name, ANY_MODE).map_err(opened(name))?;
            let mut tx = ring.writer().map_err(|e| failed(name, e))?;
            let meta = FrameMeta {
                msg_type: mtype.get(),
                priority: u32::from(priority),
                sender: std::process::id(),
                flags: 0,
            };
            for line in lines() {
                let line = line?;
                ring.send_watching(&mut tx, meta, strip_newline(&line), None)
                    .map_err(|e| failed(name, e))?;
            }
        }
        Target::Stream => {
            let ring = SpscRing::<u8>::open_with_mode(name, ANY_MODE).map_err(opened(name))?;
            let mut tx = ring.producer().map_err(|e| failed(name, e))?;
            for line in lines() {
                let line = line?;
                let mut rest = line.as_slice();
                while let Some((&first, _)) = rest.split_first() {
                    let n = tx.push_slice(rest).map_err(|e| failed(name, e))?;
                    if n > 0 {
                        rest = &rest[n..];
                        continue;
                    }
                    // Full: sleep until there is room for one byte.
                    tx.push_blocking(first, None).map_err(|e| failed(name, e))?;
                    rest = &rest[1..];
                }
            }
        }
        Target::MpmcBytes => {
            let ring = MpmcRing::<u8>::open_with_mode(name, ANY_MODE).map_err(opened(name))?;
            let mut tx = ring.sender().map_err(|e| failed(name, e))?;
            for line in lines() {
                for byte in line? {
                    tx.push_blocking(byte, None).map_err(|e| failed(name, e))?;
                }
            }
        }
    }
    Ok(())
}

/// How `recv` stops: after `count` messages (lines, for byte rings), or when
/// nothing arrives for `idle`.
#[derive(Clone, Copy, Debug)]
struct Stop {
    count: Option<u64>,
    idle: Option<Duration>,
}

pub(crate) fn run_recv(args: &mut Parser) -> Result<()> {
    let mut name = None;
    let mut stop = Stop {
        count: None,
        idle: None,
    };
    let mut filter = Filter::Any;
    let mut verbose = false;
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Short('n') | Arg::Long("count") => stop.count = Some(value(args, "--count")?),
            Arg::Long("timeout") => {
                let secs: f64 = value(args, "--timeout")?;
                let idle = Duration::try_from_secs_f64(secs)
                    .map_err(|_| usage("--timeout: not a duration in seconds"))?;
                stop.idle = Some(idle);
            }
            Arg::Long("type") | Arg::Short('t') => filter = Filter::Type(value(args, "--type")?),
            Arg::Short('v') | Arg::Long("verbose") => verbose = true,
            Arg::Value(v) if name.is_none() => name = Some(string(v)?),
            other => return Err(unexpected(other)),
        }
    }
    let name = name.ok_or_else(|| usage("recv needs a NAME"))?;
    let name = name.as_str();
    if stop.count == Some(0) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let mut received = 0u64;
    let done = |received: u64| stop.count.is_some_and(|n| received >= n);
    match target(name)? {
        Target::Queue => {
            let mq = NamedMessageQueue::open_with_mode(name, ANY_MODE).map_err(opened(name))?;
            let mut rx = mq.endpoint().map_err(|e| failed(name, e))?;
            let mut buf = vec![0u8; mq.max_message_size() as usize];
            let options = RecvOptions::filter(filter);
            while !done(received) {
                match rx.recv(&mut buf, options, stop.idle) {
                    Ok(got) => {
                        if verbose {
                            write!(out, "[priority {} type {}] ", got.priority, got.mtype)?;
                        }
                        out.write_all(&buf[..got.len])?;
                        out.write_all(b"\n")?;
                        out.flush()?;
                        received += 1;
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(e) => return Err(failed(name, e)),
                }
            }
        }
        Target::Frames => {
            let ring = NamedFrameRing::open_with_mode(name, ANY_MODE).map_err(opened(name))?;
            let mut rx = ring.reader().map_err(|e| failed(name, e))?;
            let mut buf = vec![0u8; ring.ring().max_payload() as usize];
            while !done(received) {
                match ring.recv_watching(&mut rx, &mut buf, stop.idle) {
                    Ok((header, len)) => {
                        if verbose {
                            write!(
                                out,
                                "[priority {} type {} seq {}] ",
                                header.priority, header.msg_type, header.seq
                            )?;
                        }
                        out.write_all(&buf[..len])?;
                        out.write_all(b"\n")?;
                        out.flush()?;
                        received += 1;
                    }
                    Err(FrameRecvError::Timeout | FrameRecvError::Disconnected) => break,
                    Err(e) => return Err(failed(name, e)),
                }
            }
        }
        Target::Stream => {
            let ring = SpscRing::<u8>::open_with_mode(name, ANY_MODE).map_err(opened(name))?;
            let mut rx = ring.consumer().map_err(|e| failed(name, e))?;
            // With a line count, take one byte at a time so as to stop right
            // after the last line and leave the rest in the ring.
            let mut buf = vec![0u8; if stop.count.is_some() { 1 } else { 4096 }];
            let mut idle_since = Instant::now();
            while !done(received) {
                let slice = stop.idle.map_or(WATCH_SLICE, |idle| {
                    idle.saturating_sub(idle_since.elapsed()).min(WATCH_SLICE)
                });
                match rx.wait_readable(Some(slice)) {
                    Ok(_) => {
                        let n = rx.pop_slice(&mut buf).map_err(|e| failed(name, e))?;
                        out.write_all(&buf[..n])?;
                        out.flush()?;
                        received += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
                        idle_since = Instant::now();
                    }
                    Err(PopTimeoutError::Disconnected) => break,
                    Err(PopTimeoutError::Timeout) => {
                        // A producer that died will never close the ring.
                        ring.release_dead_peers();
                        if stop.idle.is_some_and(|idle| idle_since.elapsed() >= idle) {
                            break;
                        }
                    }
                    Err(e) => return Err(failed(name, e)),
                }
            }
        }
        Target::MpmcBytes => {
            let ring = MpmcRing::<u8>::open_with_mode(name, ANY_MODE).map_err(opened(name))?;
            let mut rx = ring.receiver().map_err(|e| failed(name, e))?;
            while !done(received) {
                match rx.pop_blocking(stop.idle) {
                    Ok(byte) => {
                        out.write_all(&[byte])?;
                        if byte == b'\n' {
                            out.flush()?;
                            received += 1;
                        }
                    }
                    Err(PopTimeoutError::Timeout | PopTimeoutError::Disconnected) => break,
                    Err(e) => return Err(failed(name, e)),
                }
            }
            out.flush()?;
        }
    }
    Ok(())
}
