//! `--json` output: a small JSON value and the description of an object in
//! it (the same fields for `list` and `show`).

use std::fmt::Write as _;

use annulus::claim::RoleState;
use annulus::inspect::{Counters, HeaderInfo};
use annulus_linux::inspect::{Content, ObjectInfo, Staleness};

use crate::format;

/// A JSON value.
#[derive(Clone, Debug)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(&'static str, Json)>),
}

impl From<u32> for Json {
    fn from(n: u32) -> Self {
        Json::Int(i64::from(n))
    }
}

impl From<u64> for Json {
    fn from(n: u64) -> Self {
        i64::try_from(n).map_or_else(|_| Json::Str(n.to_string()), Json::Int)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Self {
        Json::Bool(b)
    }
}

impl From<&str> for Json {
    fn from(s: &str) -> Self {
        Json::Str(s.to_owned())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Self {
        Json::Str(s)
    }
}

impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(v: Option<T>) -> Self {
        v.map_or(Json::Null, Into::into)
    }
}

impl Json {
    /// Pretty-printed, two spaces per level, with a final newline.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, depth: usize) {
        let indent = |out: &mut String, d: usize| {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', 2 * d));
        };
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Str(s) => string(out, s),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    item.write(out, depth + 1);
                }
                indent(out, depth);
                out.push(']');
            }
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Obj(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    indent(out, depth + 1);
                    string(out, key);
                    out.push_str(": ");
                    value.write(out, depth + 1);
                }
                indent(out, depth);
                out.push('}');
            }
        }
    }
}

/// A JSON string literal, escaped.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn header(h: &HeaderInfo) -> Json {
    Json::Obj(vec![
        ("magic", h.magic.into()),
        ("version", h.version.into()),
        ("kind_word", h.kind_word.into()),
        ("init_state", format::init_state(h.init_state).into()),
        ("body_offset", h.body_offset.into()),
        ("region_size", h.region_size.into()),
        ("capacity", h.capacity.into()),
        ("elem_size", h.elem_size.into()),
        ("elem_align", h.elem_align.into()),
        ("schema", format!("{:#018x}", h.schema.0).into()),
        ("creator_pid", h.creator_pid.into()),
        ("asymmetric_wake", h.asymmetric_wake().into()),
    ])
}

/// The counters, by kind, under their own names.
pub(crate) fn counters(c: &Counters) -> Json {
    let obj = |fields: Vec<(&'static str, Json)>| Json::Obj(fields);
    match c {
        Counters::Spsc(r) | Counters::FrameRing(r) => obj(vec![
            ("capacity", r.capacity.into()),
            ("head", r.head.into()),
            ("tail", r.tail.into()),
            ("used", r.used.into()),
            ("data_sleepers", r.data_sleepers.into()),
            ("space_sleepers", r.space_sleepers.into()),
        ]),
        Counters::Mpmc(m) => obj(vec![
            ("capacity", m.capacity.into()),
            ("participants", m.participants.into()),
            ("head", m.head.into()),
            ("tail", m.tail.into()),
            ("used", m.used.into()),
            ("senders", m.senders.into()),
            ("receivers", m.receivers.into()),
            ("senders_closed", m.senders_closed.into()),
            ("receivers_closed", m.receivers_closed.into()),
            ("repairs", m.repairs.into()),
            ("repair_lock_pid", m.repair_lock.into()),
            ("data_sleepers", m.data_sleepers.into()),
            ("space_sleepers", m.space_sleepers.into()),
        ]),
        Counters::Semaphore(s) => obj(vec![
            ("value", s.value.into()),
            ("max", s.max.into()),
            ("sleepers", s.sleepers.into()),
            ("zero_sleepers", s.zero_sleepers.into()),
        ]),
        Counters::SemaphoreSet(s) => obj(vec![
            ("count", s.count.into()),
            ("max", s.max.into()),
            ("lock_holder_pid", s.lock_holder.into()),
            ("sleepers", s.sleepers.into()),
        ]),
        Counters::RobustSemaphoreSet(s) => obj(vec![
            ("count", s.count.into()),
            ("max", s.max.into()),
            ("holders", s.holders.into()),
            ("held", s.held.into()),
            ("lock_holder_pid", s.lock_holder.into()),
            ("journal_committed", s.journal_committed.into()),
            ("sleepers", s.sleepers.into()),
        ]),
        Counters::MessageQueue(q) => {
            let stats = q.stats.map(|s| {
                Json::Obj(vec![
                    ("messages", s.messages.into()),
                    ("bytes", s.bytes.into()),
                    ("last_sender", s.last_sender.into()),
                    ("last_receiver", s.last_receiver.into()),
                    ("sent", s.sent.into()),
                    ("received", s.received.into()),
                ])
            });
            obj(vec![
                ("max_messages", q.max_messages.into()),
                ("message_size", q.message_size.into()),
                ("participants", q.participants.into()),
                ("stats", stats.unwrap_or(Json::Null)),
                ("notify_pid", q.notification.map(|n| n.pid).into()),
                ("notifications", q.notifications.into()),
                ("receiving", q.receiving.into()),
                ("data_sleepers", q.data_sleepers.into()),
                ("space_sleepers", q.space_sleepers.into()),
            ])
        }
        _ => Json::Null,
    }
}

fn staleness(s: Staleness) -> Json {
    match s {
        Staleness::Stale => Json::Obj(vec![("state", "stale".into())]),
        Staleness::InUse { what, pid } => Json::Obj(vec![
            ("state", "in-use".into()),
            ("by", what.into()),
            ("pid", pid.into()),
        ]),
        Staleness::Unknown => Json::Obj(vec![("state", "unknown".into())]),
    }
}

/// Everything known about an object.
pub(crate) fn object(o: &ObjectInfo) -> Json {
    let mut fields = vec![("name", Json::from(o.name.as_str()))];
    if let Some(f) = &o.file {
        fields.push(("uid", f.uid.into()));
        fields.push(("mode", format!("{:04o}", f.mode).into()));
        fields.push(("size", f.size.into()));
        fields.push(("ctime", Json::Int(f.ctime)));
        fields.push(("ctime_utc", format::utc(f.ctime).into()));
    }
    match &o.content {
        Content::Valid(d) => {
            fields.push(("kind", format::kind_name(d).into()));
            fields.push(("capacity", format::capacity(d).into()));
            fields.push(("occupancy", format::occupancy(d).into()));
            fields.push(("header", header(&d.header)));
            fields.push(("counters", counters(&d.counters)));
            let roles = d
                .roles
                .iter()
                .filter(|r| r.entry.state != RoleState::Vacant)
                .map(|r| {
                    let (state, claim) = match r.entry.state {
                        RoleState::Held(c) => ("held", Some(c)),
                        RoleState::Closed(c) => ("closed", Some(c)),
                        RoleState::Vacant => ("vacant", None),
                    };
                    Json::Obj(vec![
                        ("role", r.entry.name.as_str().into()),
                        ("index", r.entry.index.into()),
                        ("state", state.into()),
                        ("pid", claim.map(|c| c.pid).into()),
                        ("generation", claim.map(|c| c.generation).into()),
                        ("alive", r.alive.into()),
                    ])
                })
                .collect();
            fields.push(("roles", Json::Arr(roles)));
            if !d.set_values.is_empty() {
                let values = d.set_values.iter().map(|&v| v.into()).collect();
                fields.push(("values", Json::Arr(values)));
            }
        }
        Content::Invalid { header: h, error } => {
            fields.push(("kind", "invalid".into()));
            fields.push(("error", error.to_string().into()));
            fields.push(("header", h.as_ref().map_or(Json::Null, header)));
        }
        Content::Unreadable(e) => {
            fields.push(("kind", "unreadable".into()));
            fields.push(("error", e.to_string().into()));
        }
    }
    let creator = o.header().map(|h| h.creator_pid).filter(|&p| p != 0);
    fields.push((
        "creator",
        Json::Obj(vec![
            ("pid", creator.into()),
            ("alive", o.creator_alive.into()),
        ]),
    ));
    let mapped = o.attached.pids.iter().map(|&p| p.into()).collect();
    fields.push(("mapped_by", Json::Arr(mapped)));
    fields.push(("staleness", staleness(o.staleness())));
    Json::Obj(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_and_nesting_is_indented() {
        let v = Json::Obj(vec![
            ("a", Json::Str("q\"\\\n\u{1}".into())),
            (
                "b",
                Json::Arr(vec![Json::Int(1), Json::Null, Json::Bool(true)]),
            ),
            ("c", Json::Arr(vec![])),
        ]);
        assert_eq!(
            v.render(),
            "{\n  \"a\": \"q\\\"\\\\\\n\\u0001\",\n  \"b\": [\n    1,\n    null,\n    true\n  ],\n  \"c\": []\n}\n"
        );
    }
}
