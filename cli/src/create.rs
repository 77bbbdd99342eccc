//! `annulus create KIND NAME`: an object for the shell to send to and
//! receive from. Its creator (this command) exits at once, so until some
//! process uses it the object counts as stale for `rm --stale`.

use annulus_linux::named::{NamedFrameRing, NamedMessageQueue, SpscRing};
use lexopt::{Arg, Parser};

use crate::{Error, Result, string, unexpected, usage, value};

pub(crate) fn run(args: &mut Parser) -> Result<()> {
    let mut positional = Vec::new();
    let mut messages = 16u32;
    let mut size = 256u32;
    let mut participants = 8u32;
    let mut capacity = 4096u32;
    let mut mode = 0o600u32;
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("messages") => messages = value(args, "--messages")?,
            Arg::Long("size") => size = value(args, "--size")?,
            Arg::Long("participants") => participants = value(args, "--participants")?,
            Arg::Long("capacity") => capacity = value(args, "--capacity")?,
            Arg::Long("mode") => {
                let raw: String = value(args, "--mode")?;
                mode = u32::from_str_radix(&raw, 8)
                    .ok()
                    .filter(|m| *m <= 0o777)
                    .ok_or_else(|| usage(format!("--mode: {raw:?} is not an octal mode")))?;
            }
            Arg::Value(v) => positional.push(string(v)?),
            other => return Err(unexpected(other)),
        }
    }
    let [kind, name] = positional.as_slice() else {
        return Err(usage("create needs KIND (mq, frames, stream) and NAME"));
    };
    let fail = |e: annulus_linux::named::CreateError| Error::new(format!("{name}: {e}"));
    match kind.as_str() {
        "mq" | "mqueue" => {
            NamedMessageQueue::create_with_mode(name, messages, size, participants, mode)
                .map_err(fail)?;
        }
        "frames" => {
            NamedFrameRing::create_with_mode(name, capacity, mode).map_err(fail)?;
        }
        "stream" => {
            SpscRing::<u8>::create_with_mode(name, capacity, mode).map_err(fail)?;
        }
        other => {
            return Err(usage(format!(
                "unknown kind {other:?}: mq, frames or stream"
            )));
        }
    }
    Ok(())
}
