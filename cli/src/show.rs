//! `annulus show NAME`: one object's file, header, counters and roles.

use std::fmt::Write as _;

use annulus::claim::RoleState;
use annulus::inspect::{Counters, HeaderInfo};
use annulus_linux::inspect::{self, Content, Details, ObjectInfo, Staleness};
use lexopt::{Arg, Parser};

use crate::format;
use crate::json;
use crate::{Error, Result, string, unexpected, usage};

pub(crate) fn run(args: &mut Parser) -> Result<()> {
    let mut as_json = false;
    let mut name = None;
    while let Some(arg) = args.next()? {
        match arg {
            Arg::Long("json") => as_json = true,
            Arg::Value(v) if name.is_none() => name = Some(string(v)?),
            other => return Err(unexpected(other)),
        }
    }
    let name = name.ok_or_else(|| usage("show needs a NAME"))?;
    let object = inspect::inspect(&name).map_err(|e| Error::new(format!("{name}: {e}")))?;
    if as_json {
        print!("{}", json::object(&object).render());
    } else {
        print!("{}", text(&object));
    }
    Ok(())
}

/// Adds a `key: value` line, keys padded to one column.
fn line(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "{:<18}{value}", format!("{key}:"));
}

/// The `show` text.
pub(crate) fn text(o: &ObjectInfo) -> String {
    let mut out = String::new();
    line(&mut out, "name", &o.name);
    line(&mut out, "path", format!("/dev/shm/annulus.{}", o.name));
    match &o.content {
        Content::Valid(d) => line(&mut out, "kind", format::kind_long_name(d)),
        _ => line(&mut out, "kind", format::problem(o).unwrap_or_default()),
    }
    if let Some(f) = &o.file {
        line(&mut out, "owner uid", f.uid);
        line(&mut out, "mode", format!("{:04o}", f.mode));
        line(&mut out, "size", format!("{} bytes", f.size));
        line(
            &mut out,
            "created",
            format!(
                "{} UTC (ctime: annulus records no creation time)",
                format::utc(f.ctime)
            ),
        );
    }
    line(&mut out, "creator", format::creator(o));
    let mapped: Vec<String> = o.attached.pids.iter().map(u32::to_string).collect();
    line(
        &mut out,
        "mapped by",
        if mapped.is_empty() {
            String::from("-")
        } else {
            mapped.join(" ")
        },
    );
    let stale = match o.staleness() {
        Staleness::Stale => String::from("yes: creator and users are dead, nobody maps it"),
        Staleness::InUse { what, pid } => format!("no: {what} {pid} is alive"),
        Staleness::Unknown => String::from("unknown: no pid tells who uses it"),
    };
    line(&mut out, "stale", stale);
    if let Some(h) = o.header() {
        out.push_str("header:\n");
        header(&mut out, h);
    }
    if let Content::Valid(d) = &o.content {
        out.push_str("counters:\n");
        counters(&mut out, d);
        roles(&mut out, d);
    }
    out
}

fn header(out: &mut String, h: &HeaderInfo) {
    let magic: String = h
        .magic
        .to_le_bytes()
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
        .collect();
    line(out, "  magic", format!("{:#010x} ({magic:?})", h.magic));
    line(out, "  version", h.version);
    line(out, "  kind word", h.kind_word);
    line(out, "  init state", format::init_state(h.init_state));
    line(out, "  body offset", h.body_offset);
    line(out, "  region size", h.region_size);
    line(out, "  capacity", h.capacity);
    line(
        out,
        "  element",
        format!("{} bytes, align {}", h.elem_size, h.elem_align),
    );
    line(out, "  schema", format!("{:#018x}", h.schema.0));
    line(out, "  creator pid", h.creator_pid);
    line(
        out,
        "  wake-ups",
        if h.asymmetric_wake() {
            "asymmetric (no fence on push/pop; sleepers run membarrier)"
        } else {
            "symmetric (a fence on each side)"
        },
    );
}

fn counters(out: &mut String, d: &Details) {
    let json::Json::Obj(fields) = json::counters(&d.counters) else {
        return;
    };
    for (key, value) in fields {
        let text = match value {
            json::Json::Obj(inner) => inner
                .iter()
                .map(|(k, v)| format!("{k}={}", scalar(v)))
                .collect::<Vec<_>>()
                .join(" "),
            other => scalar(&other),
        };
        line(out, &format!("  {}", key.replace('_', " ")), text);
    }
    if let Counters::SemaphoreSet(_) | Counters::RobustSemaphoreSet(_) = d.counters {
        let values: Vec<String> = d.set_values.iter().map(u32::to_string).collect();
        line(out, "  values", values.join(" "));
    }
}

fn scalar(v: &json::Json) -> String {
    match v {
        json::Json::Null => String::from("-"),
        json::Json::Bool(b) => b.to_string(),
        json::Json::Int(n) => n.to_string(),
        json::Json::Str(s) => s.clone(),
        other => other.render().trim_end().to_owned(),
    }
}

fn roles(out: &mut String, d: &Details) {
    if d.roles.is_empty() {
        return;
    }
    let mut rows = vec![
        ["ROLE", "INDEX", "STATE", "PID", "GENERATION", "PROCESS"]
            .map(String::from)
            .to_vec(),
    ];
    let mut vacant = 0;
    for r in &d.roles {
        let (state, claim) = match r.entry.state {
            RoleState::Vacant => {
                vacant += 1;
                continue;
            }
            RoleState::Held(c) => ("held", c),
            RoleState::Closed(c) => ("closed", c),
        };
        rows.push(vec![
            r.entry.name.as_str().to_owned(),
            r.entry.index.to_string(),
            state.to_owned(),
            claim.pid.to_string(),
            claim.generation.to_string(),
            r.alive.map_or("-", format::alive).to_owned(),
        ]);
    }
    let _ = writeln!(out, "roles: ({vacant} vacant not shown)");
    for row in format::table(&rows).lines() {
        let _ = writeln!(out, "  {row}");
    }
}
