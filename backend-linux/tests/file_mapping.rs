//! File-backed mappings: the same create/open checks as shared memory
//! objects, data that persists in the file, and `msync`. Every file a test
//! creates is removed by a guard, even if it fails.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use annulus_linux::shm::{FileMapping, ShmError};
use rustix::fs::{self, Mode};
use rustix::io::Errno;

/// A unique path in the temporary directory, removed when dropped.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempPath(
            std::env::temp_dir().join(format!("annulus-test-{tag}-{}-{n}", std::process::id())),
        )
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn mode_of(path: &TempPath) -> u32 {
    fs::stat(&path.0).unwrap().st_mode & 0o7777
}

#[test]
fn create_is_exclusive_private_and_sized() {
    let path = TempPath::new("create");
    let file = FileMapping::create(&path.0, 8192).unwrap();
    assert_eq!(file.len(), 8192);
    assert_eq!(std::fs::metadata(&path.0).unwrap().len(), 8192);
    assert_eq!(mode_of(&path), 0o600, "umask does not widen or narrow it");
    assert_eq!(
        FileMapping::create(&path.0, 8192).unwrap_err(),
        ShmError::Os(Errno::EXIST)
    );
    let wide = TempPath::new("create-wide");
    FileMapping::create_with_mode(&wide.0, 4096, 0o640).unwrap();
    assert_eq!(mode_of(&wide), 0o640);
}

#[test]
fn bytes_persist_in_the_file_after_unmapping() {
    let path = TempPath::new("persist");
    {
        let file = FileMapping::create(&path.0, 4096).unwrap();
        // SAFETY: our own fresh mapping of 4096 bytes, nothing else maps it.
        unsafe { file.mapping().ptr().as_ptr().copy_from(b"kept".as_ptr(), 4) };
        file.sync().unwrap();
    }
    let on_disk = std::fs::read(&path.0).unwrap();
    assert_eq!(&on_disk[..4], b"kept");
    let again = FileMapping::open(&path.0, 4096).unwrap();
    // SAFETY: reading our own mapping, which nothing else writes.
    let first = unsafe { std::slice::from_raw_parts(again.mapping().ptr().as_ptr(), 4) };
    assert_eq!(first, b"kept");
}

#[test]
fn two_mappings_share_the_page_cache() {
    let path = TempPath::new("shared");
    let a = FileMapping::create(&path.0, 4096).unwrap();
    let b = FileMapping::open(&path.0, 4096).unwrap();
    assert_ne!(a.mapping().ptr(), b.mapping().ptr());
    // SAFETY: both are mappings of 4096 bytes that only this test touches.
    unsafe {
        a.mapping().ptr().as_ptr().add(100).write_volatile(0xA5);
        assert_eq!(b.mapping().ptr().as_ptr().add(100).read_volatile(), 0xA5);
    }
}

#[test]
fn open_checks_mode_size_kind_and_existence() {
    let path = TempPath::new("checks");
    FileMapping::create(&path.0, 4096).unwrap();
    assert_eq!(
        FileMapping::open(&path.0, 8192).unwrap_err(),
        ShmError::TooSmall {
            len: 4096,
            needed: 8192
        }
    );
    fs::chmod(&path.0, Mode::from_raw_mode(0o644)).unwrap();
    assert_eq!(
        FileMapping::open(&path.0, 0).unwrap_err(),
        ShmError::ModeTooWide {
            mode: 0o644,
            allowed: 0o600
        }
    );
    assert!(FileMapping::open_with_mode(&path.0, 0o644, 0).is_ok());

    let missing = TempPath::new("missing");
    assert_eq!(
        FileMapping::open(&missing.0, 0).unwrap_err(),
        ShmError::Os(Errno::NOENT)
    );

    let fifo = TempPath::new("fifo");
    fs::mknodat(
        fs::CWD,
        &fifo.0,
        fs::FileType::Fifo,
        Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    assert!(matches!(
        FileMapping::open(&fifo.0, 0),
        Err(ShmError::NotRegularFile { .. })
    ));
}

#[test]
fn a_planted_symlink_is_refused() {
    let target = TempPath::new("target");
    let link = TempPath::new("link");
    FileMapping::create(&target.0, 4096).unwrap();
    fs::symlink(&target.0, &link.0).unwrap();
    assert_eq!(
        FileMapping::open(&link.0, 0).unwrap_err(),
        ShmError::Os(Errno::LOOP)
    );
    assert_eq!(
        FileMapping::create(&link.0, 4096).unwrap_err(),
        ShmError::Os(Errno::EXIST)
    );
    assert_eq!(
        std::fs::metadata(&target.0).unwrap().len(),
        4096,
        "untouched"
    );
}

#[test]
fn another_users_file_is_refused() {
    let path = TempPath::new("foreign");
    let file = FileMapping::create(&path.0, 4096).unwrap();
    if !rustix::process::geteuid().is_root() {
        eprintln!("not root: cannot give a file to another uid; checking only our own");
        assert!(FileMapping::open(&path.0, 0).is_ok());
        return;
    }
    let nobody = rustix::process::Uid::from_raw(65534);
    fs::fchown(file.fd(), Some(nobody), None).unwrap();
    assert_eq!(
        FileMapping::open(&path.0, 0).unwrap_err(),
        ShmError::NotOwner { uid: 65534 }
    );
}

#[test]
fn remove_takes_the_file_away_but_not_the_mapping() {
    let path = TempPath::new("remove");
    let file = FileMapping::create(&path.0, 4096).unwrap();
    FileMapping::remove(&path.0).unwrap();
    assert!(!path.0.exists());
    // SAFETY: our own mapping, still mapped.
    unsafe { file.mapping().ptr().as_ptr().write_volatile(1) };
    assert_eq!(
        FileMapping::remove(&path.0).unwrap_err(),
        ShmError::Os(Errno::NOENT)
    );
}
