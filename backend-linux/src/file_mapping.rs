//! [`FileMapping`]: a regular file mapped `MAP_SHARED`, so what a structure
//! holds persists in the file after every process has exited (the seeds'
//! file-backed `mmap`).
//!
//! The memory is the file's page cache: every process that maps the file
//! shares it, as with `/dev/shm`, and the kernel writes it back to the disk
//! in its own time, or now with [`FileMapping::sync`] (`msync(MS_SYNC)`).
//! A process that opens the file later, even after a reboot once synced,
//! attaches to the structure as it was left (its header says whether it was
//! initialised; a structure with roles still marked held by processes that
//! are gone is for the liveness repairs, as in shared memory).
//!
//! The same rules as for named shared memory objects apply: create with
//! `O_CREAT | O_EXCL | O_NOFOLLOW` and mode 0600 (set with `fchmod`, since
//! the umask narrows it); open with `O_NOFOLLOW`, then refuse with `fstat`
//! anything but a regular file owned by this user, with no permission bits
//! beyond the allowed ones, at least as large as needed. `O_NOFOLLOW` guards
//! the last path component only: keep the file in a directory that others
//! cannot write. A file cannot be sealed either: a process that may write it
//! can truncate it, and every process mapping it then dies of SIGBUS on its
//! next access past the new end.

#![allow(unsafe_code)]

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs;
use rustix::io::Errno;
use rustix::mm::{self, MsyncFlags};
use rustix::path::Arg;

use crate::shm::{Mapping, ShmError, create_file, open_checked};

/// Default permission bits of a created file: owner read/write only.
const DEFAULT_MODE: u32 = 0o600;

/// A regular file mapped shared, read-write; unmapped (and closed) on drop,
/// the file stays.
///
/// Lay any core structure into [`FileMapping::mapping`] with its `init_raw`
/// (creator) or `attach_raw` (later openers), as with shared memory.
///
/// # Examples
///
/// A ring written by one process and read back after it has gone (here
/// one after the other in one process):
///
/// ```
/// use annulus::spsc::{InitOptions, Spsc};
/// use annulus::Schema;
/// use annulus_linux::Futex;
/// use annulus_linux::shm::FileMapping;
///
/// let path = std::env::temp_dir().join(format!("doc-file-{}.ring", std::process::id()));
/// let size = Spsc::<u32>::layout(8).unwrap().size;
/// {
///     // Process A: creates the file, lays a ring into it, sends, syncs, exits.
///     let file = FileMapping::create(&path, size).unwrap();
///     let map = file.mapping();
///     // SAFETY: a fresh mapping that this process touches only through the ring.
///     let ring = unsafe { Spsc::<u32>::init_raw(map.ptr(), map.len(), 8, InitOptions::default()) }
///         .unwrap();
///     ring.producer(Futex).unwrap().push(7).unwrap();
///     file.sync().unwrap();
/// }
/// // Process B, later: opens the file and finds the ring as it was left.
/// let file = FileMapping::open(&path, size).unwrap();
/// let map = file.mapping();
/// // SAFETY: touched in this process only through the ring.
/// let ring = unsafe { Spsc::<u32>::attach_raw(map.ptr(), map.len(), Schema::of::<u32>()) }
///     .unwrap();
/// let mut rx = ring.consumer(Futex).unwrap();
/// assert_eq!(rx.pop(), Ok(7));
/// FileMapping::remove(&path).unwrap();
/// ```
#[derive(Debug)]
pub struct FileMapping {
    // Declared first: unmapped before the fd closes (either order is valid
    // for the kernel; this one reads naturally).
    mapping: Mapping,
    fd: OwnedFd,
}

impl FileMapping {
    /// Creates the file at `path` with `len` zero bytes and mode 0600, and
    /// maps it.
    ///
    /// # Errors
    ///
    /// [`ShmError::Os`]: `EEXIST` if anything exists at `path` (a symlink
    /// included), or whatever `open`, `fchmod`, `ftruncate` or `mmap`
    /// report (the file is removed again if a step after `open` fails).
    pub fn create<P: Arg>(path: P, len: usize) -> Result<Self, ShmError> {
        Self::create_with_mode(path, len, DEFAULT_MODE)
    }

    /// Creates the file with permission bits `mode`, and maps it.
    ///
    /// # Errors
    ///
    /// As [`FileMapping::create`].
    pub fn create_with_mode<P: Arg>(path: P, len: usize, mode: u32) -> Result<Self, ShmError> {
        let mut created = Err(ShmError::Os(Errno::INVAL));
        path.into_with_c_str(|path| {
            created = create_file(path, len, mode).and_then(|fd| {
                match Mapping::shared(fd.as_fd(), len) {
                    Ok(mapping) => Ok(FileMapping { mapping, fd }),
                    Err(e) => {
                        let _ = fs::unlink(path);
                        Err(e)
                    }
                }
            });
            Ok(())
        })?;
        created
    }

    /// Opens the existing file at `path` (a regular file owned by this user,
    /// mode at most 0600, at least `min_len` bytes) and maps all of it.
    ///
    /// # Errors
    ///
    /// [`ShmError::Os`] (`ENOENT`, `ELOOP` for a symlink, ...),
    /// [`ShmError::NotRegularFile`], [`ShmError::NotOwner`],
    /// [`ShmError::ModeTooWide`], [`ShmError::TooSmall`].
    pub fn open<P: Arg>(path: P, min_len: usize) -> Result<Self, ShmError> {
        Self::open_with_mode(path, DEFAULT_MODE, min_len)
    }

    /// Opens the file, accepting permission bits up to `allowed_mode`.
    ///
    /// # Errors
    ///
    /// As [`FileMapping::open`].
    pub fn open_with_mode<P: Arg>(
        path: P,
        allowed_mode: u32,
        min_len: usize,
    ) -> Result<Self, ShmError> {
        let mut checked = Err(ShmError::Os(Errno::INVAL));
        path.into_with_c_str(|path| {
            checked = open_checked(path, allowed_mode, min_len);
            Ok(())
        })?;
        let (fd, len) = checked?;
        let mapping = Mapping::shared(fd.as_fd(), len)?;
        Ok(FileMapping { mapping, fd })
    }

    /// Removes the file at `path` (`unlink`); mappings stay valid.
    ///
    /// # Errors
    ///
    /// [`ShmError::Os`] (`ENOENT`, ...).
    pub fn remove<P: Arg>(path: P) -> Result<(), ShmError> {
        fs::unlink(path)?;
        Ok(())
    }

    /// `msync(MS_SYNC)`: writes the mapping's dirty pages to the file and
    /// waits until they are on the disk. Not needed for other processes to
    /// see the data (they share the page cache), only for it to survive a
    /// crash of the machine.
    ///
    /// # Errors
    ///
    /// [`ShmError::Os`] (`EIO`, ...).
    ///
    /// # References
    ///
    /// - [msync(2)](https://man7.org/linux/man-pages/man2/msync.2.html)
    #[doc(alias = "msync")]
    pub fn sync(&self) -> Result<(), ShmError> {
        // SAFETY: exactly the range this object mapped, still mapped.
        unsafe {
            mm::msync(
                self.mapping.ptr().as_ptr().cast(),
                self.mapping.len(),
                MsyncFlags::SYNC,
            )?;
        }
        Ok(())
    }

    /// The mapping: lay a structure into it.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// The file's size, which is the mapping's length.
    pub fn len(&self) -> usize {
        self.mapping.len()
    }

    /// Whether the mapping is empty (never, for one that succeeded).
    pub fn is_empty(&self) -> bool {
        self.mapping.is_empty()
    }

    /// The file descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
