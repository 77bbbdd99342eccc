//! `annulus rm NAME…` and `annulus rm --stale [NAME…]`, like `ipcrm`.

use annulus_linux::SharedMemory;
use annulus_linux::inspect;
use lexopt::{Arg, Parser};

use crate::json::Json;
use crate::{Error, Result, string, unexpected, usage};

pub(crate) fn run(args: &mut Parser) -> Result<()> {
    let mut stale = false;
    let mut as_json = false;
    let mut names = Vec::new();
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("stale") => stale = true,
            Arg::Long("json") => as_json = true,
            Arg::Value(v) => names.push(string(v)?),
            other => return Err(unexpected(other)),
        }
    }
    if stale {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let only = (!names.is_empty()).then_some(names.as_slice());
        let removed = inspect::remove_stale(only)?;
        let mut failed = 0;
        let mut items = Vec::new();
        for r in &removed {
            match &r.result {
                Ok(()) if !as_json => println!("removed {}", r.name),
                Err(e) => {
                    failed += 1;
                    eprintln!("annulus: {}: {e}", r.name);
                }
                Ok(()) => {}
            }
            items.push(Json::Obj(vec![
                ("name", r.name.as_str().into()),
                ("removed", r.result.is_ok().into()),
            ]));
        }
        if as_json {
            print!("{}", Json::Arr(items).render());
        } else if removed.is_empty() {
            println!("no stale objects");
        }
        return match failed {
            0 => Ok(()),
            n => Err(Error::new(format!(
                "{n} stale objects could not be removed"
            ))),
        };
    }
    if names.is_empty() {
        return Err(usage("rm needs NAME... or --stale"));
    }
    let mut failed = 0;
    for name in &names {
        match SharedMemory::unlink(name) {
            Ok(()) => {}
            Err(e) => {
                failed += 1;
                eprintln!("annulus: {name}: {e}");
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(Error::new(format!(
            "{n} of {} objects not removed",
            names.len()
        ))),
    }
}
