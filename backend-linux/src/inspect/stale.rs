//! Stale objects: left in `/dev/shm` by processes that are all gone (a
//! crash, a kill -9), found and removed like `ipcrm` would.

use std::string::String;
use std::vec::Vec;

use annulus::layout::MAGIC;

use super::{Content, ObjectInfo, inspect, list, path_of};
use crate::liveness::pid_is_alive;
use crate::shm::ShmError;

/// Whether an object may be removed as a leftover.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Staleness {
    /// Its creator and every process its header names are dead, and no
    /// process maps it.
    Stale,
    /// A process that created, uses or maps it is alive.
    InUse {
        /// What that process is to the object ("creator", "producer",
        /// "mapped", ...).
        what: &'static str,
        /// Its pid.
        pid: u32,
    },
    /// Nothing tells who uses it: no creator pid, a holder recorded as pid
    /// 0, or no readable header. Left alone.
    Unknown,
}

impl ObjectInfo {
    /// Whether this object is a leftover: see [`Staleness`]. The pids are
    /// checked now, so the answer is a snapshot.
    pub fn staleness(&self) -> Staleness {
        let Some(header) = self.header() else {
            return Staleness::Unknown;
        };
        let readable = match &self.content {
            Content::Valid(_) => true,
            // A creator that died before publishing "ready", or a region
            // corrupted since: the creator's pid is still in the header.
            Content::Invalid { .. } => header.magic == MAGIC,
            Content::Unreadable(_) => false,
        };
        if !readable || header.creator_pid == 0 {
            return Staleness::Unknown;
        }
        let mut pids = Vec::with_capacity(1);
        pids.push(("creator", header.creator_pid));
        pids.extend(self.user_pids());
        for (what, pid) in pids {
            if pid == 0 {
                return Staleness::Unknown;
            }
            if pid_is_alive(pid) {
                return Staleness::InUse { what, pid };
            }
        }
        match self.attached.pids.first() {
            Some(&pid) => Staleness::InUse {
                what: "mapped",
                pid,
            },
            None => Staleness::Stale,
        }
    }
}

/// One object [`remove_stale`] removed, or tried to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    /// Its name (after `annulus.`).
    pub name: String,
    /// Whether the unlink worked.
    pub result: Result<(), ShmError>,
}

/// Removes every stale object, or only the stale ones among `names`.
/// Objects that are in use, or whose users cannot be told, stay. Just
/// before each unlink the name is checked to still be the object that was
/// judged (same device and inode).
///
/// # Errors
///
/// Only if `/dev/shm` cannot be read (without `names`); a missing or
/// invalid name in `names` is skipped, not an error.
pub fn remove_stale(names: Option<&[&str]>) -> std::io::Result<Vec<Removal>> {
    let objects = match names {
        None => list()?,
        Some(names) => names.iter().filter_map(|n| inspect(n).ok()).collect(),
    };
    let mut removed = Vec::new();
    for object in objects {
        if object.staleness() != Staleness::Stale {
            continue;
        }
        let path = path_of(object.name.as_bytes());
        let same = match (rustix::fs::lstat(path.as_slice()), object.file) {
            (Ok(now), Some(then)) => now.st_dev == then.dev && now.st_ino == then.ino,
            _ => false,
        };
        if !same {
            continue;
        }
        let result = rustix::fs::unlink(path.as_slice()).map_err(ShmError::Os);
        removed.push(Removal {
            name: object.name,
            result,
        });
    }
    Ok(removed)
}
