//! Shared memory objects: named ones under `/dev/shm`, anonymous sealed
//! memfds, and regular files whose contents persist ([`FileMapping`]);
//! mapped shared, unmapped on drop.
//!
//! Named objects live at `/dev/shm/annulus.<name>` (what `shm_open` does on
//! Linux, done here with `open` so the flags are explicit):
//!
//! - `create` uses `O_CREAT | O_EXCL | O_NOFOLLOW`: it never reuses an
//!   existing object and never follows a planted symlink; it sets the mode
//!   with `fchmod` afterwards, because the process umask narrows the mode
//!   passed to `open`.
//! - `open` uses `O_NOFOLLOW`, then `fstat`, and refuses an object owned by
//!   another user, one whose mode grants more than the caller allows, and
//!   one smaller than the caller needs.
//!
//! A `/dev/shm` object cannot be sealed: a process allowed to open it can
//! `ftruncate` it smaller, and every process that maps it then dies of
//! SIGBUS on its next access past the new end. Only share named objects with
//! processes you trust that far; otherwise pass an anonymous memfd, sealed
//! against shrinking and growing, over a unix socket or to a child.

#![allow(unsafe_code)]

use core::ffi::CStr;
use core::fmt;
use core::ptr::NonNull;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{self, Mode, OFlags, SealFlags};
use rustix::io::Errno;
use rustix::mm::{self, MapFlags, ProtFlags};

pub use crate::file_mapping::FileMapping;

/// Directory the kernel's tmpfs for POSIX shared memory is mounted on.
pub const SHM_DIR: &str = "/dev/shm/";
/// Prefix of every annulus object name in `/dev/shm`.
pub const PREFIX: &str = "annulus.";
/// Longest name accepted (the part after the prefix).
pub const MAX_NAME_LEN: usize = 200;
/// Path capacity: directory, prefix, name, NUL.
const PATH_CAP: usize = 256;

/// Why a name was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameError {
    /// The name is empty.
    Empty,
    /// Longer than [`MAX_NAME_LEN`] bytes.
    TooLong {
        /// Its length.
        len: usize,
    },
    /// A byte outside `[A-Za-z0-9._-]`, or the name `.` or `..`.
    BadCharacter {
        /// Byte offset of the first bad character.
        at: usize,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => f.write_str("object name is empty"),
            NameError::TooLong { len } => {
                write!(f, "object name of {len} bytes exceeds {MAX_NAME_LEN}")
            }
            NameError::BadCharacter { at } => write!(
                f,
                "object name has a character outside [A-Za-z0-9._-] at byte {at}"
            ),
        }
    }
}

impl core::error::Error for NameError {}

/// Checks an object name: 1 to [`MAX_NAME_LEN`] bytes of `[A-Za-z0-9._-]`,
/// not `.` or `..`.
///
/// # Errors
///
/// The [`NameError`] naming the first problem.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { len: name.len() });
    }
    if name == "." || name == ".." {
        return Err(NameError::BadCharacter { at: 0 });
    }
    match name
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'))
    {
        Some(at) => Err(NameError::BadCharacter { at }),
        None => Ok(()),
    }
}

/// `/dev/shm/annulus.<name>` as a NUL-terminated path.
fn object_path(name: &str) -> Result<heapless::String<PATH_CAP>, NameError> {
    validate_name(name)?;
    let mut path = heapless::String::new();
    // Cannot fail: 9 + 8 + 200 + 1 bytes < PATH_CAP.
    let pushed = path.push_str(SHM_DIR).is_ok()
        && path.push_str(PREFIX).is_ok()
        && path.push_str(name).is_ok()
        && path.push('\0').is_ok();
    debug_assert!(pushed);
    Ok(path)
}

fn cstr(path: &heapless::String<PATH_CAP>) -> &CStr {
    CStr::from_bytes_with_nul(path.as_bytes()).expect("the path ends in its only NUL")
}

/// Why a shared memory object could not be created, opened or mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShmError {
    /// The name is not valid.
    Name(NameError),
    /// The kernel refused (e.g. `EEXIST` on create, `ENOENT` on open,
    /// `ELOOP` for a symlink, `EACCES`).
    Os(Errno),
    /// The object belongs to another user.
    NotOwner {
        /// Its owner.
        uid: u32,
    },
    /// The object's mode grants more than allowed.
    ModeTooWide {
        /// Its permission bits.
        mode: u32,
        /// The most the caller accepts.
        allowed: u32,
    },
    /// The object is smaller than needed.
    TooSmall {
        /// Its size.
        len: u64,
        /// The size needed.
        needed: u64,
    },
    /// The path names something other than a regular file (a FIFO, a
    /// device, ...), which cannot back a persistent mapping.
    NotRegularFile {
        /// Its `st_mode` (file type and permission bits).
        mode: u32,
    },
    /// A sealed memfd lacks the seals that make it safe to map.
    NotSealed {
        /// The seals it has.
        seals: u32,
    },
}

impl fmt::Display for ShmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShmError::Name(e) => e.fmt(f),
            ShmError::Os(e) => write!(f, "shared memory: {e}"),
            ShmError::NotOwner { uid } => write!(f, "object is owned by uid {uid}"),
            ShmError::ModeTooWide { mode, allowed } => {
                write!(f, "object mode {mode:o} is wider than {allowed:o}")
            }
            ShmError::TooSmall { len, needed } => {
                write!(
                    f,
                    "object of {len} bytes is smaller than the {needed} needed"
                )
            }
            ShmError::NotRegularFile { mode } => {
                write!(f, "not a regular file (st_mode {mode:o})")
            }
            ShmError::NotSealed { seals } => {
                write!(
                    f,
                    "memfd seals {seals:#x} do not forbid shrinking and growing"
                )
            }
        }
    }
}

impl core::error::Error for ShmError {}

impl From<Errno> for ShmError {
    fn from(e: Errno) -> Self {
        ShmError::Os(e)
    }
}

impl From<NameError> for ShmError {
    fn from(e: NameError) -> Self {
        ShmError::Name(e)
    }
}

/// A shared memory object: an fd and its size.
#[derive(Debug)]
pub struct SharedMemory {
    fd: OwnedFd,
    len: usize,
}

impl SharedMemory {
    /// `shm_open(O_CREAT | O_EXCL)`: creates `/dev/shm/annulus.<name>` of
    /// `len` zero bytes with permission bits `mode` (0o600 for a private
    /// object), refusing an existing object or a symlink.
    ///
    /// # Errors
    ///
    /// [`ShmError::Name`]; [`ShmError::Os`] with `EEXIST` if it exists,
    /// or whatever `open`, `fchmod` or `ftruncate` report (the object is
    /// unlinked again if a step after `open` fails).
    pub fn create(name: &str, len: usize, mode: u32) -> Result<Self, ShmError> {
        let path = object_path(name)?;
        let fd = create_file(cstr(&path), len, mode)?;
        Ok(SharedMemory { fd, len })
    }

    /// `shm_open` of an existing `/dev/shm/annulus.<name>`, checked with
    /// `fstat`: owned by this effective user, no permission bits outside
    /// `allowed_mode`, and at least `min_len` bytes. Its size is whatever it
    /// is now.
    ///
    /// # Errors
    ///
    /// [`ShmError::Name`], [`ShmError::Os`] (`ENOENT`, `ELOOP` for a
    /// symlink, ...), [`ShmError::NotOwner`], [`ShmError::ModeTooWide`],
    /// [`ShmError::TooSmall`].
    pub fn open(name: &str, allowed_mode: u32, min_len: usize) -> Result<Self, ShmError> {
        let path = object_path(name)?;
        let (fd, len) = open_checked(cstr(&path), allowed_mode, min_len)?;
        Ok(SharedMemory { fd, len })
    }

    /// `memfd_create(MFD_ALLOW_SEALING)` of `len` zero bytes, then sealed
    /// with `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`, so no holder of the
    /// fd can change its size: safe to map even when a peer is hostile. Pass
    /// it to a child or over a unix socket.
    ///
    /// # Errors
    ///
    /// [`ShmError::Os`] from `memfd_create`, `ftruncate` or the seal.
    pub fn anonymous(debug_name: &str, len: usize) -> Result<Self, ShmError> {
        let mut name = heapless::String::<64>::new();
        for c in debug_name.chars().take(48) {
            let _ = name.push(c);
        }
        let _ = name.push('\0');
        let name = CStr::from_bytes_until_nul(name.as_bytes()).map_err(|_| Errno::INVAL)?;
        let fd = fs::memfd_create(
            name,
            fs::MemfdFlags::CLOEXEC | fs::MemfdFlags::ALLOW_SEALING,
        )?;
        fs::ftruncate(&fd, len as u64)?;
        fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
        Ok(SharedMemory { fd, len })
    }

    /// Wraps a memfd received from another process after checking that it
    /// is sealed against shrinking and growing and is at least `min_len`
    /// bytes.
    ///
    /// # Errors
    ///
    /// [`ShmError::NotSealed`], [`ShmError::TooSmall`], [`ShmError::Os`]
    /// (`EINVAL` if it is not a memfd).
    pub fn from_sealed_memfd(fd: OwnedFd, min_len: usize) -> Result<Self, ShmError> {
        let seals = fs::fcntl_get_seals(&fd)?;
        if !seals.contains(SealFlags::SHRINK | SealFlags::GROW) {
            return Err(ShmError::NotSealed {
                seals: seals.bits(),
            });
        }
        let len = u64::try_from(fs::fstat(&fd)?.st_size).unwrap_or(0);
        if len < min_len as u64 {
            return Err(ShmError::TooSmall {
                len,
                needed: min_len as u64,
            });
        }
        let len = usize::try_from(len).map_err(|_| ShmError::Os(Errno::FBIG))?;
        Ok(SharedMemory { fd, len })
    }

    /// Removes `/dev/shm/annulus.<name>`; mappings stay valid until unmapped.
    ///
    /// # Errors
    ///
    /// [`ShmError::Name`], [`ShmError::Os`] (`ENOENT` if it does not exist).
    pub fn unlink(name: &str) -> Result<(), ShmError> {
        let path = object_path(name)?;
        fs::unlink(cstr(&path))?;
        Ok(())
    }

    /// Maps the whole object shared, read-write, at an address the kernel
    /// picks. Each call gives a new mapping.
    ///
    /// # Errors
    ///
    /// [`ShmError::Os`] from `mmap`.
    pub fn map(&self) -> Result<Mapping, ShmError> {
        Mapping::shared(self.fd.as_fd(), self.len)
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the object has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file descriptor (to pass to a child or over a socket).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Gives the file descriptor up.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

/// Creates the file at `path` (`O_CREAT | O_EXCL | O_NOFOLLOW`: never an
/// existing file, never through a symlink as the last component) with
/// permission bits `mode` (set again with `fchmod`, since the umask narrows
/// them) and `len` zero bytes. Removes it again if a step after `open` fails.
pub(crate) fn create_file(path: &CStr, len: usize, mode: u32) -> Result<OwnedFd, ShmError> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(mode & 0o777);
    let fd = fs::open(path, flags, mode)?;
    let setup = fs::fchmod(&fd, mode).and_then(|()| fs::ftruncate(&fd, len as u64));
    if let Err(e) = setup {
        let _ = fs::unlink(path);
        return Err(e.into());
    }
    Ok(fd)
}

/// Opens the existing regular file at `path` read-write with `O_NOFOLLOW`
/// and checks it with `fstat`: owned by this effective user, no permission
/// bits outside `allowed_mode`, at least `min_len` bytes. Returns it and its
/// size.
pub(crate) fn open_checked(
    path: &CStr,
    allowed_mode: u32,
    min_len: usize,
) -> Result<(OwnedFd, usize), ShmError> {
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = fs::open(path, flags, Mode::empty())?;
    let stat = fs::fstat(&fd)?;
    if fs::FileType::from_raw_mode(stat.st_mode) != fs::FileType::RegularFile {
        return Err(ShmError::NotRegularFile { mode: stat.st_mode });
    }
    let euid = rustix::process::geteuid().as_raw();
    if stat.st_uid != euid {
        return Err(ShmError::NotOwner { uid: stat.st_uid });
    }
    let mode = stat.st_mode & 0o7777;
    if mode & !(allowed_mode & 0o777) != 0 {
        return Err(ShmError::ModeTooWide {
            mode,
            allowed: allowed_mode & 0o777,
        });
    }
    let len = u64::try_from(stat.st_size).unwrap_or(0);
    if len < min_len as u64 {
        return Err(ShmError::TooSmall {
            len,
            needed: min_len as u64,
        });
    }
    let len = usize::try_from(len).map_err(|_| ShmError::Os(Errno::FBIG))?;
    Ok((fd, len))
}

/// A shared mapping, unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory; who may touch it how is the business
// of the annulus views laid into it.
unsafe impl Send for Mapping {}
// SAFETY: as above; `&Mapping` only hands out the pointer.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)`.
    pub(crate) fn shared(fd: BorrowedFd<'_>, len: usize) -> Result<Mapping, ShmError> {
        if len == 0 {
            return Err(ShmError::Os(Errno::INVAL));
        }
        // SAFETY: a new mapping at an address the kernel chooses (null hint,
        // no MAP_FIXED), so no existing memory of this process is affected.
        let ptr = unsafe {
            mm::mmap(
                core::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(ShmError::Os(Errno::NOMEM))?;
        Ok(Mapping { ptr, len })
    }

    /// `mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0)`: a view that cannot
    /// change the object (a stray write faults), for inspection tools. Any
    /// fd open for reading will do.
    ///
    /// # Errors
    ///
    /// [`ShmError::Os`] from `mmap` (`EINVAL` for `len == 0`).
    pub fn read_only(fd: BorrowedFd<'_>, len: usize) -> Result<Mapping, ShmError> {
        if len == 0 {
            return Err(ShmError::Os(Errno::INVAL));
        }
        // SAFETY: a new mapping at an address the kernel chooses (null hint,
        // no MAP_FIXED), so no existing memory of this process is affected.
        let ptr = unsafe {
            mm::mmap(
                core::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                fd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(ShmError::Os(Errno::NOMEM))?;
        Ok(Mapping { ptr, len })
    }

    /// `mmap(MAP_SHARED | MAP_ANONYMOUS)`: memory shared with the children
    /// this process forks afterwards.
    ///
    /// # Errors
    ///
    /// [`ShmError::Os`] from `mmap`.
    pub fn anonymous_shared(len: usize) -> Result<Mapping, ShmError> {
        if len == 0 {
            return Err(ShmError::Os(Errno::INVAL));
        }
        // SAFETY: as in `shared`: a fresh mapping, nothing existing changes.
        let ptr = unsafe {
            mm::mmap_anonymous(
                core::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(ShmError::Os(Errno::NOMEM))?;
        Ok(Mapping { ptr, len })
    }

    /// `mlock`: keeps the pages resident (no page faults later), for
    /// real-time users. Needs `RLIMIT_MEMLOCK` room or `CAP_IPC_LOCK`.
    ///
    /// # Errors
    ///
    /// [`ShmError::Os`] (`ENOMEM` or `EPERM` past the limit).
    pub fn lock(&self) -> Result<(), ShmError> {
        // SAFETY: the range is exactly our mapping.
        unsafe { mm::mlock(self.ptr.as_ptr().cast(), self.len)? };
        Ok(())
    }

    /// Start of the mapping (page-aligned).
    pub fn ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never, for one that succeeded).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly the range we mapped; the views laid into it borrow
        // the mapping, so none outlives this.
        let result = unsafe { mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        debug_assert!(
            result.is_ok(),
            "munmap of our own mapping failed: {result:?}"
        );
    }
}
