//! The bench's command line, shared by `annulus-bench` and `annulus bench`:
//! options to a [`Config`], a run, the report on stdout.
//!
//! ```text
//! [--quick] [--case NAME]... [--count N] [--cpus A,B] [--repeat N]
//! [--grid PxC,...] [--no-grid] [--list]
//! ```

use std::process::ExitCode;

use crate::{CASES, CaseId, Config};

/// The options, for `--help` and usage errors.
pub const USAGE: &str =
    "usage: annulus-bench | annulus bench [--quick] [--case NAME]... [--count N] \
[--cpus A,B] [--repeat N] [--grid PxC,...] [--no-grid] [--list]

  --quick        every case, a few thousand messages each (seconds; for CI)
  --case NAME    run only this case (repeatable); --list shows the names
  --count N      N measured round trips and N one-way messages per case,
                 no warm-up, no grid, no load sampling (for perf stat)
  --cpus A,B     pin this process to CPU A and the peer to CPU B
  --repeat N     run the case list N times, report each case's median
  --grid PxC,..  MPMC vs ArrayQueue points, producers x consumers (1-8)
  --no-grid      skip the MPMC grid
  --list         list the cases and exit";

/// Runs the bench as the arguments (after the program or subcommand name)
/// ask: progress on stderr, the markdown report on stdout. Exit status: 0,
/// 1 if a case failed, 2 for bad arguments. The program must have called
/// [`peer_main`](crate::peer_main) first.
pub fn main_with_args(args: Vec<String>) -> ExitCode {
    match parse(args) {
        Ok(Some(config)) => {
            let report = crate::run(&config, &mut |p| eprintln!("{p}"));
            println!("{}", report.to_markdown());
            if report.rows.iter().any(|r| r.error.is_some())
                || report.grid.iter().any(|g| g.error.is_some())
            {
                eprintln!("some cases failed; see the table");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Ok(None) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The configuration the arguments ask for; `None` when they only asked
/// for information (`--list`, `--help`).
fn parse(args: Vec<String>) -> Result<Option<Config>, String> {
    let mut config = if args.iter().any(|a| a == "--quick") {
        Config::quick()
    } else {
        Config::full()
    };
    let mut cases = Vec::new();
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--quick" => {}
            "--case" => {
                let name = value()?;
                cases.push(CaseId::from_name(&name).ok_or(format!("no case {name}"))?);
            }
            "--count" => {
                let n: u32 = value()?.parse().map_err(|_| "--count needs a number")?;
                config.warmup = 0;
                config.rounds = n;
                config.messages = u64::from(n);
                config.byte_budget = u64::MAX;
                config.grid.clear();
                config.repeat = 1;
                config.load_window = std::time::Duration::ZERO;
            }
            "--cpus" => {
                let v = value()?;
                let (a, b) = v.split_once(',').ok_or("--cpus needs A,B")?;
                let cpu = |s: &str| s.trim().parse::<usize>().map_err(|_| "bad CPU number");
                config.cpus = Some([cpu(a)?, cpu(b)?]);
            }
            "--grid" => {
                config.grid = value()?
                    .split(',')
                    .map(parse_point)
                    .collect::<Result<_, _>>()?;
            }
            "--no-grid" => config.grid.clear(),
            "--repeat" => {
                config.repeat = value()?.parse().map_err(|_| "--repeat needs a number")?;
            }
            "--list" => {
                for c in CASES {
                    println!("{:14} {}", c.name, c.what);
                }
                return Ok(None);
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(None);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if !cases.is_empty() {
        config.cases = cases;
    }
    Ok(Some(config))
}

fn parse_point(s: &str) -> Result<(u32, u32), String> {
    let (p, c) = s
        .split_once(['x', 'X'])
        .ok_or(format!("grid point {s} is not PxC"))?;
    let n = |v: &str| match v.trim().parse::<u32>() {
        Ok(n @ 1..=8) => Ok(n),
        _ => Err(format!("grid counts are 1 to 8, not {v}")),
    };
    Ok((n(p)?, n(c)?))
}
