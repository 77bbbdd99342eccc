//! What is in `/dev/shm`: every annulus object, read without changing it
//! (what `ipcs` is to System V objects), and the removal of objects whose
//! processes are all gone (`ipcrm`, for crash leftovers).
//!
//! - [`list`] reads every `/dev/shm/annulus.*` entry; [`inspect`] one by
//!   name. An entry is opened `O_RDONLY | O_NOFOLLOW` and mapped
//!   `PROT_READ`, and its bytes go through the core's
//!   `annulus::inspect::inspect_raw`, which checks the header
//!   as `attach` does and then only makes relaxed loads. Nothing here writes
//!   to an object, takes a role, or trusts a value read from it: an object
//!   that cannot be opened, or holds no valid region, is reported as such
//!   ([`Content::Unreadable`], [`Content::Invalid`]), never skipped.
//! - Creation time: annulus headers do not record one, so
//!   [`FileInfo::ctime`] is the object's status-change time from `fstat`,
//!   which creation sets (the creator's `fchmod` and `ftruncate`) and only a
//!   later `chmod`, `chown` or `truncate` moves.
//! - Who uses an object: the pids its header names (creator, role and
//!   participant claims, a semaphore set's lock holder, a repairer, a
//!   `mq_notify` registrant), each checked with
//!   [`crate::liveness::pid_is_alive`], and the processes that
//!   map it now, from `/proc/<pid>/maps` (those this user may read).
//!   [`ObjectInfo::staleness`] calls an object stale only when its creator
//!   is known and dead, every pid it names is dead, and no process maps it.
//!
//! Limit: a process allowed to write an object can also shrink it; one that
//! does so while it is mapped here makes the next read past the new end
//! fault (SIGBUS), as it would in any process that maps the object.

#![allow(unsafe_code)]

mod procs;
mod stale;

use std::string::String;
use std::vec::Vec;

use annulus::claim::RoleState;
use annulus::inspect::{Counters, HeaderInfo, RoleEntry, inspect_raw, read_header};
use annulus::layout::{AttachError, Kind};
use rustix::fs::{self, FileType, Mode, OFlags};

pub use procs::Attached;
pub use stale::{Removal, Staleness, remove_stale};

use crate::liveness::pid_is_alive;
use crate::shm::{Mapping, PREFIX, SHM_DIR, ShmError, validate_name};

/// What `fstat` (or `lstat`, for what cannot be opened) says of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileInfo {
    /// Owner.
    pub uid: u32,
    /// Permission bits (`0o600` for a default annulus object).
    pub mode: u32,
    /// Whether it is a regular file (annulus objects are); a symlink or
    /// anything else is listed but not opened.
    pub regular: bool,
    /// Size in bytes.
    pub size: u64,
    /// Status-change time, seconds since the epoch: the creation time of an
    /// object nobody `chmod`ed or resized since (see the module docs).
    pub ctime: i64,
    /// Device and inode: which object, whatever its name.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
}

/// A role slot or participant record, and whether its holder runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoleStatus {
    /// The slot, as the core read it.
    pub entry: RoleEntry,
    /// For a held role with a known pid: whether that process is alive.
    pub alive: Option<bool>,
}

/// A valid region: everything the core's inspection read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Details {
    /// The header words.
    pub header: HeaderInfo,
    /// What the region holds.
    pub kind: Kind,
    /// Its counters.
    pub counters: Counters,
    /// Its role slots and participant records, every one of them.
    pub roles: Vec<RoleStatus>,
    /// A semaphore set's or robust set's counter values (empty for other kinds).
    pub set_values: Vec<u32>,
}

/// What an object's bytes turned out to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// It could not be opened or mapped (another user's object, a symlink,
    /// a name `shm_open` would refuse, ...).
    Unreadable(ShmError),
    /// It holds no valid annulus region: why, and the header words when
    /// there are enough bytes for one.
    Invalid {
        /// The header as found, if the object is at least a header long.
        header: Option<HeaderInfo>,
        /// What `inspect_raw` refused.
        error: AttachError,
    },
    /// A valid region.
    Valid(Details),
}

/// One `/dev/shm/annulus.*` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// The name after `annulus.` (non-UTF-8 bytes replaced).
    pub name: String,
    /// What the file system says, if even `lstat` could tell.
    pub file: Option<FileInfo>,
    /// What its bytes hold.
    pub content: Content,
    /// Whether the header's creator pid runs (`None` if unknown).
    pub creator_alive: Option<bool>,
    /// Other processes that map it now (this one excluded).
    pub attached: Attached,
}

impl ObjectInfo {
    /// The header, if the object had one (valid or not).
    pub fn header(&self) -> Option<&HeaderInfo> {
        match &self.content {
            Content::Valid(d) => Some(&d.header),
            Content::Invalid { header, .. } => header.as_ref(),
            Content::Unreadable(_) => None,
        }
    }

    /// Every pid the header names besides the creator, with what it is.
    pub fn user_pids(&self) -> Vec<(&'static str, u32)> {
        let Content::Valid(d) = &self.content else {
            return Vec::new();
        };
        let mut pids: Vec<(&'static str, u32)> = d
            .roles
            .iter()
            .filter_map(|r| match r.entry.state {
                RoleState::Held(c) => Some((r.entry.name.as_str(), c.pid)),
                _ => None,
            })
            .collect();
        match d.counters {
            Counters::Mpmc(c) => pids.extend(c.repair_lock.map(|p| ("repairer", p))),
            Counters::SemaphoreSet(c) => pids.extend(c.lock_holder.map(|p| ("lock holder", p))),
            Counters::RobustSemaphoreSet(c) => {
                pids.extend(c.lock_holder.map(|p| ("lock holder", p)));
            }
            Counters::MessageQueue(c) => {
                pids.extend(c.notification.map(|n| ("notify", n.pid)));
            }
            _ => {}
        }
        pids
    }
}

/// Reads every `/dev/shm/annulus.*` entry, sorted by name.
///
/// # Errors
///
/// Only if `/dev/shm` itself cannot be read; a bad entry is listed with
/// what is wrong with it.
pub fn list() -> std::io::Result<Vec<ObjectInfo>> {
    let attached = procs::scan();
    let mut objects = Vec::new();
    for entry in std::fs::read_dir(SHM_DIR)? {
        let entry = entry?;
        let file_name = entry.file_name();
        let bytes = file_name.as_encoded_bytes();
        let Some(name) = bytes.strip_prefix(PREFIX.as_bytes()) else {
            continue;
        };
        objects.push(read_object(name, &attached));
    }
    objects.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(objects)
}

/// Reads `/dev/shm/annulus.<name>`.
///
/// # Errors
///
/// [`ShmError::Name`] for a name `shm_open` would refuse, [`ShmError::Os`]
/// with `ENOENT` when there is no such object. Any other problem is in the
/// returned [`ObjectInfo::content`].
pub fn inspect(name: &str) -> Result<ObjectInfo, ShmError> {
    validate_name(name)?;
    let object = read_object(name.as_bytes(), &procs::scan());
    match object.content {
        Content::Unreadable(ShmError::Os(rustix::io::Errno::NOENT)) if object.file.is_none() => {
            Err(ShmError::Os(rustix::io::Errno::NOENT))
        }
        _ => Ok(object),
    }
}

fn path_of(name: &[u8]) -> Vec<u8> {
    let mut path = Vec::with_capacity(SHM_DIR.len() + PREFIX.len() + name.len());
    path.extend_from_slice(SHM_DIR.as_bytes());
    path.extend_from_slice(PREFIX.as_bytes());
    path.extend_from_slice(name);
    path
}

fn file_info(stat: &fs::Stat) -> FileInfo {
    FileInfo {
        uid: stat.st_uid,
        mode: stat.st_mode & 0o7777,
        regular: FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile,
        size: u64::try_from(stat.st_size).unwrap_or(0),
        ctime: stat.st_ctime,
        dev: stat.st_dev,
        ino: stat.st_ino,
    }
}

/// Reads one entry; every failure becomes part of the answer.
fn read_object(name: &[u8], attached: &procs::Index) -> ObjectInfo {
    let path = path_of(name);
    let mut object = ObjectInfo {
        name: String::from_utf8_lossy(name).into_owned(),
        file: None,
        content: Content::Unreadable(ShmError::Os(rustix::io::Errno::NOENT)),
        creator_alive: None,
        attached: Attached::default(),
    };
    if let Ok(stat) = fs::lstat(path.as_slice()) {
        object.file = Some(file_info(&stat));
    }
    // A name with a NUL byte cannot name a file; `open` says so (EINVAL).
    let fd = match fs::open(
        path.as_slice(),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            object.content = Content::Unreadable(ShmError::Os(e));
            return object;
        }
    };
    let stat = match fs::fstat(&fd) {
        Ok(stat) => stat,
        Err(e) => {
            object.content = Content::Unreadable(ShmError::Os(e));
            return object;
        }
    };
    let info = file_info(&stat);
    object.file = Some(info);
    object.attached = attached.of(info.dev, info.ino);
    if !info.regular {
        object.content = Content::Unreadable(ShmError::Os(rustix::io::Errno::NODEV));
        return object;
    }
    object.content = match usize::try_from(info.size) {
        Ok(0) => Content::Invalid {
            header: None,
            error: AttachError::RegionTooSmall { needed: 64, len: 0 },
        },
        Ok(len) => match Mapping::read_only(rustix::fd::AsFd::as_fd(&fd), len) {
            Ok(mapping) => read_mapping(&mapping),
            Err(e) => Content::Unreadable(e),
        },
        Err(_) => Content::Unreadable(ShmError::Os(rustix::io::Errno::FBIG)),
    };
    object.creator_alive = object
        .header()
        .filter(|h| h.creator_pid != 0)
        .map(|h| pid_is_alive(h.creator_pid));
    object
}

/// Runs the core's read-only inspection over a read-only mapping.
fn read_mapping(mapping: &Mapping) -> Content {
    // SAFETY: the mapping is readable for its whole length while `mapping`
    // lives, which outlives every view made here; the core only loads.
    let inspected = unsafe { inspect_raw(mapping.ptr(), mapping.len()) };
    match inspected {
        Ok(view) => {
            let roles = view
                .roles()
                .map(|entry| RoleStatus {
                    entry,
                    alive: match entry.state {
                        RoleState::Held(c) if c.pid != 0 => Some(pid_is_alive(c.pid)),
                        _ => None,
                    },
                })
                .collect();
            let set_values = (0..annulus::semaphore::MAX_COUNTERS)
                .map_while(|i| view.set_counter(i))
                .collect();
            Content::Valid(Details {
                header: *view.header(),
                kind: view.kind(),
                counters: view.counters(),
                roles,
                set_values,
            })
        }
        Err(error) => Content::Invalid {
            // SAFETY: as above.
            header: unsafe { read_header(mapping.ptr(), mapping.len()) }.ok(),
            error,
        },
    }
}
