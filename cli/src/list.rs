//! `annulus list`: every annulus object, like `ipcs`.

use annulus_linux::inspect::{self, Content, ObjectInfo, Staleness};
use lexopt::{Arg, Parser};

use crate::format;
use crate::json::{self, Json};
use crate::{Result, unexpected};

/// The table's columns.
const HEADER: [&str; 12] = [
    "NAME",
    "KIND",
    "UID",
    "MODE",
    "SIZE",
    "CAPACITY",
    "USED",
    "ROLES",
    "CREATOR",
    "MAPPED",
    "CREATED(UTC)",
    "STATUS",
];

pub(crate) fn run(args: &mut Parser) -> Result<()> {
    let mut as_json = false;
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("json") => as_json = true,
            other => return Err(unexpected(other)),
        }
    }
    let objects = inspect::list()?;
    if as_json {
        print!(
            "{}",
            Json::Arr(objects.iter().map(json::object).collect()).render()
        );
    } else if objects.is_empty() {
        println!("no annulus objects in /dev/shm");
    } else {
        print!("{}", table(&objects));
    }
    Ok(())
}

/// The `list` table.
pub(crate) fn table(objects: &[ObjectInfo]) -> String {
    let mut rows = vec![HEADER.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>()];
    rows.extend(objects.iter().map(row));
    format::table(&rows)
}

fn row(o: &ObjectInfo) -> Vec<String> {
    let dash = || String::from("-");
    let (uid, mode, size, created) = match &o.file {
        Some(f) => (
            f.uid.to_string(),
            format!("{:04o}", f.mode),
            f.size.to_string(),
            format::utc(f.ctime),
        ),
        None => (dash(), dash(), dash(), dash()),
    };
    let (kind, capacity, used, roles) = match &o.content {
        Content::Valid(d) => (
            format::kind_name(d).to_owned(),
            format::capacity(d),
            format::occupancy(d),
            format::held_roles(d),
        ),
        _ => (String::from("?"), dash(), dash(), dash()),
    };
    let status = match (format::problem(o), o.staleness()) {
        (Some(problem), _) => problem,
        (None, Staleness::Stale) => String::from("stale"),
        (None, _) => String::new(),
    };
    vec![
        o.name.clone(),
        kind,
        uid,
        mode,
        size,
        capacity,
        used,
        roles,
        format::creator(o),
        o.attached.pids.len().to_string(),
        created,
        status,
    ]
}
