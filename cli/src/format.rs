//! Text for people: kind names, capacities, occupancy, roles, times, and
//! aligned tables.

use annulus::claim::RoleState;
use annulus::inspect::{Counters, InitState};
use annulus::layout::Kind;
use annulus_linux::inspect::{Content, Details, ObjectInfo};

/// The short kind name `list` prints: spsc, stream, frames, mpmc,
/// semaphore, sem-set, mqueue, robust-sem.
pub(crate) fn kind_name(details: &Details) -> &'static str {
    match details.kind {
        Kind::Spsc if is_byte_ring(details) => "stream",
        Kind::Spsc => "spsc",
        Kind::FrameRing => "frames",
        Kind::Mpmc => "mpmc",
        Kind::Semaphore => "semaphore",
        Kind::SemaphoreSet => "sem-set",
        Kind::MessageQueue => "mqueue",
        Kind::RobustSemaphoreSet => "robust-sem",
        _ => "unknown",
    }
}

/// The long name `show` prints.
pub(crate) fn kind_long_name(details: &Details) -> &'static str {
    match details.kind {
        Kind::Spsc if is_byte_ring(details) => "byte stream (SPSC ring of u8)",
        Kind::Spsc => "SPSC ring",
        Kind::FrameRing => "frame ring (variable-length messages)",
        Kind::Mpmc => "MPMC ring",
        Kind::Semaphore => "counting semaphore",
        Kind::SemaphoreSet => "semaphore set",
        Kind::MessageQueue => "message queue",
        Kind::RobustSemaphoreSet => "robust semaphore set (units of dead holders come back)",
        _ => "unknown",
    }
}

/// Whether an SPSC or MPMC ring holds `u8` elements (as a byte stream does).
pub(crate) fn is_byte_ring(details: &Details) -> bool {
    let h = &details.header;
    h.elem_size == 1 && h.elem_align == 1 && h.schema == annulus::Schema::of::<u8>()
}

/// Capacity: slots × element size, bytes, or a semaphore's maximum.
pub(crate) fn capacity(details: &Details) -> String {
    let h = &details.header;
    match details.counters {
        Counters::Spsc(c) if is_byte_ring(details) => format!("{}B", c.capacity),
        Counters::Spsc(c) => format!("{}x{}B", c.capacity, h.elem_size),
        Counters::FrameRing(c) => format!("{}B", c.capacity),
        Counters::Mpmc(c) => format!("{}x{}B", c.capacity, h.elem_size),
        Counters::Semaphore(c) => format!("max {}", c.max),
        Counters::SemaphoreSet(c) => format!("{}x max {}", c.count, c.max),
        Counters::MessageQueue(c) => format!("{}x{}B", c.max_messages, c.message_size),
        Counters::RobustSemaphoreSet(c) => format!("{}x max {}", c.count, c.max),
        _ => String::from("?"),
    }
}

/// Occupancy: messages or bytes queued, or semaphore values.
pub(crate) fn occupancy(details: &Details) -> String {
    match details.counters {
        Counters::Spsc(c) if is_byte_ring(details) => format!("{}B", c.used),
        Counters::Spsc(c) => format!("{}", c.used),
        Counters::FrameRing(c) => format!("{}B", c.used),
        Counters::Mpmc(c) => format!("{}", c.used),
        Counters::Semaphore(c) => format!("{}", c.value),
        Counters::SemaphoreSet(_) | Counters::RobustSemaphoreSet(_) => details
            .set_values
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
        Counters::MessageQueue(c) => match c.stats {
            Some(s) => format!("{} ({}B)", s.messages, s.bytes),
            None => String::from("busy"),
        },
        _ => String::from("?"),
    }
}

/// `alive` or `dead`.
pub(crate) fn alive(alive: bool) -> &'static str {
    if alive { "alive" } else { "dead" }
}

/// Held roles as `producer:1234(alive) consumer:99(dead)`; `-` when none.
pub(crate) fn held_roles(details: &Details) -> String {
    let held: Vec<String> = details
        .roles
        .iter()
        .filter_map(|r| match r.entry.state {
            RoleState::Held(c) => Some(format!(
                "{}:{}({})",
                r.entry.name.as_str(),
                c.pid,
                r.alive.map_or("unknown", alive)
            )),
            _ => None,
        })
        .collect();
    if held.is_empty() {
        String::from("-")
    } else {
        held.join(" ")
    }
}

/// The creator as `1234(alive)`, `-` when unknown.
pub(crate) fn creator(object: &ObjectInfo) -> String {
    match (object.header().map(|h| h.creator_pid), object.creator_alive) {
        (Some(pid), Some(a)) if pid != 0 => format!("{pid}({})", alive(a)),
        _ => String::from("-"),
    }
}

/// Why an object is not a valid region, in a few words.
pub(crate) fn problem(object: &ObjectInfo) -> Option<String> {
    match &object.content {
        Content::Valid(_) => None,
        Content::Unreadable(e) => Some(format!("unreadable: {e}")),
        Content::Invalid { error, .. } => Some(format!("invalid: {error}")),
    }
}

/// The init state word in words.
pub(crate) fn init_state(state: InitState) -> String {
    match state {
        InitState::Uninit => String::from("uninitialised"),
        InitState::Initialising => String::from("initialising"),
        InitState::Ready => String::from("ready"),
        InitState::Invalid(w) => format!("invalid ({w:#010x})"),
    }
}

/// Seconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC).
pub(crate) fn utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Rows printed in columns as wide as their widest cell, two spaces apart;
/// the last column is not padded.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[c] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(utc(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["A".into(), "BB".into(), "C".into()],
            vec!["long".into(), "x".into(), "last".into()],
        ];
        assert_eq!(table(&rows), "A     BB  C\nlong  x   last\n");
    }
}
