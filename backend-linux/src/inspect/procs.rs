//! Which processes map which annulus objects: one pass over
//! `/proc/<pid>/maps`, keyed by the device and inode each mapping names.
//!
//! Only the processes whose maps this user may read are seen (all of them
//! for root; one's own otherwise, which covers every process that can open
//! a default, mode 0600, object).

use std::collections::HashMap;
use std::vec::Vec;

use crate::shm::{PREFIX, SHM_DIR};

/// The processes (other than this one) that map an object now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attached {
    /// Their pids, ascending.
    pub pids: Vec<u32>,
}

/// Mappings of annulus objects by `(major, minor, inode)`.
#[derive(Debug, Default)]
pub(crate) struct Index(HashMap<(u32, u32, u64), Vec<u32>>);

impl Index {
    /// The processes that map the object `dev`/`ino`.
    pub(crate) fn of(&self, dev: u64, ino: u64) -> Attached {
        let key = (rustix::fs::major(dev), rustix::fs::minor(dev), ino);
        Attached {
            pids: self.0.get(&key).cloned().unwrap_or_default(),
        }
    }
}

/// Reads the maps of every process this user may read.
pub(crate) fn scan() -> Index {
    let me = std::process::id();
    let mut index = Index::default();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return index;
    };
    let mut marker = std::string::String::from(SHM_DIR);
    marker.push_str(PREFIX);
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(maps) = std::fs::read_to_string(entry.path().join("maps")) else {
            continue;
        };
        for key in maps.lines().filter_map(|line| parse_line(line, &marker)) {
            let pids = index.0.entry(key).or_default();
            if pids.last() != Some(&pid) {
                pids.push(pid);
            }
        }
    }
    for pids in index.0.values_mut() {
        pids.sort_unstable();
        pids.dedup();
    }
    index
}

/// `(major, minor, inode)` of a maps line that maps an annulus object.
fn parse_line(line: &str, marker: &str) -> Option<(u32, u32, u64)> {
    // address perms offset dev inode pathname
    let mut fields = line.split_ascii_whitespace();
    let dev = fields.nth(3)?;
    let ino = fields.next()?.parse().ok()?;
    if !fields.next()?.starts_with(marker) {
        return None;
    }
    let (major, minor) = dev.split_once(':')?;
    Some((
        u32::from_str_radix(major, 16).ok()?,
        u32::from_str_radix(minor, 16).ok()?,
        ino,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_name_device_and_inode() {
        let marker = "/dev/shm/annulus.";
        let line = "7f1c2a000000-7f1c2a001000 rw-s 00000000 00:1a 4242   /dev/shm/annulus.jobs";
        assert_eq!(parse_line(line, marker), Some((0, 0x1a, 4242)));
        let deleted =
            "7f1c2a000000-7f1c2a001000 r--s 00000000 00:1a 7 /dev/shm/annulus.x (deleted)";
        assert_eq!(parse_line(deleted, marker), Some((0, 0x1a, 7)));
        let other = "7f1c2a000000-7f1c2a001000 r-xp 00000000 08:01 99 /usr/lib/libc.so.6";
        assert_eq!(parse_line(other, marker), None);
        assert_eq!(
            parse_line("7f1c2a000000-7f1c2a001000 rw-p 00000000 00:00 0", marker),
            None
        );
        assert_eq!(parse_line("garbage", marker), None);
    }
}
