//! `annulus`: look at and use annulus objects from the shell.
//!
//! - `annulus list` — every `/dev/shm/annulus.*` object, like `ipcs`.
//! - `annulus show NAME` — one object's header, counters and roles.
//! - `annulus rm NAME…`, `annulus rm --stale [NAME…]` — like `ipcrm`.
//! - `annulus create KIND NAME` — a message queue, a frame ring or a byte
//!   stream for the shell to use.
//! - `annulus send NAME`, `annulus recv NAME` — lines from stdin into an
//!   object, and what arrives to stdout (like writing to and reading a FIFO).
//! - `annulus bench [--quick]` — annulus against pipes, eventfds, sockets,
//!   POSIX queues and other Rust rings, in one run (the `annulus-bench`
//!   library; this program is also its peer process).
//!
//! Reading is done by `annulus_linux::inspect` (read-only mappings, checked
//! headers); this binary parses arguments and prints. Each subcommand is a
//! module with a `run(&mut Parser)`; adding one is a module and a line in
//! [`dispatch`].

mod create;
mod format;
mod json;
mod list;
mod rm;
mod send_recv;
mod show;

use std::process::ExitCode;

use lexopt::Parser;

const USAGE: &str = "\
usage: annulus <command> [options]

commands:
  list [--json]                       every annulus object (like ipcs)
  show NAME [--json]                  one object's header, counters and roles
  rm NAME...                          remove objects by name (like ipcrm)
  rm --stale [NAME...] [--json]       remove objects whose creator and users are all dead
  create mq NAME [--messages N] [--size BYTES] [--participants N] [--mode OCTAL]
  create frames|stream NAME [--capacity BYTES] [--mode OCTAL]
  send NAME [--priority P] [--type T]  each stdin line into a queue or ring
  recv NAME [-n COUNT] [--timeout SECS] [--type T] [-v]
                                      print what arrives, one message a line
  bench [--quick] [--case NAME]... [--grid PxC,...] [--list] [--help]
                                      annulus against the kernel's IPC and other
                                      rings, in one run; a markdown report
  help                                this text
";

/// What went wrong: a message for stderr, and whether it was a usage error.
#[derive(Debug)]
pub(crate) struct Error {
    message: String,
    usage: bool,
}

impl Error {
    /// A failure while doing the work.
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            usage: false,
        }
    }
}

impl From<lexopt::Error> for Error {
    fn from(e: lexopt::Error) -> Self {
        Error {
            message: e.to_string(),
            usage: true,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(e.to_string())
    }
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

/// A usage error.
pub(crate) fn usage(message: impl Into<String>) -> Error {
    Error {
        message: message.into(),
        usage: true,
    }
}

/// Runs the subcommand named `command` with the remaining arguments.
fn dispatch(command: &str, args: &mut Parser) -> Result<()> {
    match command {
        "list" | "ls" => list::run(args),
        "show" => show::run(args),
        "rm" => rm::run(args),
        "create" => create::run(args),
        "send" => send_recv::run_send(args),
        "recv" => send_recv::run_recv(args),
        "bench" => bench(args),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(usage(format!("unknown command {other:?}"))),
    }
}

/// `annulus bench`: the rest of the arguments go to the bench's own parser.
fn bench(args: &mut Parser) -> Result<()> {
    let rest = args
        .raw_args()?
        .map(string)
        .collect::<Result<Vec<String>>>()?;
    if annulus_bench::cli::main_with_args(rest) == ExitCode::SUCCESS {
        Ok(())
    } else {
        // The bench printed what went wrong.
        Err(Error::new("bench: failed"))
    }
}

fn main() -> ExitCode {
    // The bench starts this program again as its peer process.
    if let Some(code) = annulus_bench::peer_main() {
        return ExitCode::from(code as u8);
    }
    let mut args = Parser::from_env();
    let result = match args.next() {
        Ok(Some(lexopt::Arg::Value(command))) => match command.into_string() {
            Ok(command) => dispatch(&command, &mut args),
            Err(_) => Err(usage("the command is not UTF-8")),
        },
        Ok(Some(lexopt::Arg::Long("help") | lexopt::Arg::Short('h'))) => {
            dispatch("help", &mut args)
        }
        Ok(Some(other)) => Err(usage(format!(
            "expected a command, got {}",
            describe(&other)
        ))),
        Ok(None) => Err(usage("no command given")),
        Err(e) => Err(e.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.usage => {
            eprintln!("annulus: {}\n\n{USAGE}", e.message);
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("annulus: {}", e.message);
            ExitCode::FAILURE
        }
    }
}

fn describe(arg: &lexopt::Arg<'_>) -> String {
    match arg {
        lexopt::Arg::Short(c) => format!("-{c}"),
        lexopt::Arg::Long(l) => format!("--{l}"),
        lexopt::Arg::Value(v) => format!("{v:?}"),
    }
}

/// The next argument as an option or a positional value, rejecting
/// anything unexpected with a usage error.
pub(crate) fn unexpected(arg: lexopt::Arg<'_>) -> Error {
    usage(format!("unexpected argument {}", describe(&arg)))
}

/// Parses an option's value.
pub(crate) fn value<T: std::str::FromStr>(args: &mut Parser, what: &str) -> Result<T> {
    let raw = args.value()?;
    let text = raw.to_string_lossy();
    text.parse()
        .map_err(|_| usage(format!("{what}: {text:?} is not a valid value")))
}

/// A positional value as a `String`.
pub(crate) fn string(value: std::ffi::OsString) -> Result<String> {
    value
        .into_string()
        .map_err(|v| usage(format!("{v:?} is not UTF-8")))
}
