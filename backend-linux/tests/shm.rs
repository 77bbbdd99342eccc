//! Shared memory objects: names, create/open checks, seals, mappings.
//! Every object a test creates is unlinked by a guard, even if it fails.

use std::ffi::CString;
use std::sync::atomic::{AtomicU32, Ordering};

use annulus_linux::shm::{self, NameError, SharedMemory, ShmError};
use rustix::fs::{self, Mode, OFlags};
use rustix::io::Errno;

/// A unique object name, unlinked when dropped.
struct TestName(String);

impl TestName {
    fn new(tag: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TestName(format!("test-{tag}-{}-{n}", std::process::id()))
    }

    fn path(&self) -> CString {
        CString::new(format!("/dev/shm/{}{}", shm::PREFIX, self.0)).unwrap()
    }
}

impl Drop for TestName {
    fn drop(&mut self) {
        let _ = fs::unlink(self.path());
    }
}

#[test]
fn names_are_validated_before_any_system_call() {
    assert_eq!(shm::validate_name(""), Err(NameError::Empty));
    assert_eq!(
        shm::validate_name("a/b"),
        Err(NameError::BadCharacter { at: 1 })
    );
    assert_eq!(
        shm::validate_name(".."),
        Err(NameError::BadCharacter { at: 0 })
    );
    assert_eq!(
        shm::validate_name("ok name"),
        Err(NameError::BadCharacter { at: 2 })
    );
    assert_eq!(
        shm::validate_name("é"),
        Err(NameError::BadCharacter { at: 0 })
    );
    let long = "x".repeat(shm::MAX_NAME_LEN + 1);
    assert_eq!(
        shm::validate_name(&long),
        Err(NameError::TooLong { len: 201 })
    );
    assert_eq!(shm::validate_name(&"x".repeat(shm::MAX_NAME_LEN)), Ok(()));
    assert_eq!(shm::validate_name("jobs.v2_A-1"), Ok(()));
    assert_eq!(
        SharedMemory::create("../etc", 4096, 0o600).unwrap_err(),
        ShmError::Name(NameError::BadCharacter { at: 2 })
    );
}

#[test]
fn create_is_exclusive_private_and_sized() {
    let name = TestName::new("create");
    let a = SharedMemory::create(&name.0, 10_000, 0o600).unwrap();
    assert_eq!(a.len(), 10_000);
    assert_eq!(
        SharedMemory::create(&name.0, 4096, 0o600).unwrap_err(),
        ShmError::Os(Errno::EXIST)
    );
    let stat = fs::fstat(a.fd()).unwrap();
    assert_eq!(stat.st_mode & 0o777, 0o600);
    assert_eq!(stat.st_size, 10_000);
    // A wider mode asked for is set despite the umask.
    let wide = TestName::new("wide");
    let b = SharedMemory::create(&wide.0, 4096, 0o660).unwrap();
    assert_eq!(fs::fstat(b.fd()).unwrap().st_mode & 0o777, 0o660);
}

#[test]
fn open_checks_mode_size_and_existence() {
    let name = TestName::new("open");
    let _created = SharedMemory::create(&name.0, 8192, 0o600).unwrap();
    let opened = SharedMemory::open(&name.0, 0o600, 8192).unwrap();
    assert_eq!(opened.len(), 8192);
    assert_eq!(
        SharedMemory::open(&name.0, 0o600, 8193).unwrap_err(),
        ShmError::TooSmall {
            len: 8192,
            needed: 8193
        }
    );
    fs::chmod(name.path(), Mode::from_raw_mode(0o644)).unwrap();
    assert_eq!(
        SharedMemory::open(&name.0, 0o600, 0).unwrap_err(),
        ShmError::ModeTooWide {
            mode: 0o644,
            allowed: 0o600
        }
    );
    assert!(SharedMemory::open(&name.0, 0o644, 0).is_ok());
    let missing = TestName::new("missing");
    assert_eq!(
        SharedMemory::open(&missing.0, 0o600, 0).unwrap_err(),
        ShmError::Os(Errno::NOENT)
    );
}

#[test]
fn a_planted_symlink_is_refused() {
    let name = TestName::new("symlink");
    let target = TestName::new("target");
    let _t = SharedMemory::create(&target.0, 4096, 0o600).unwrap();
    fs::symlink(target.path(), name.path()).unwrap();
    assert_eq!(
        SharedMemory::open(&name.0, 0o600, 0).unwrap_err(),
        ShmError::Os(Errno::LOOP)
    );
    assert_eq!(
        SharedMemory::create(&name.0, 4096, 0o600).unwrap_err(),
        ShmError::Os(Errno::EXIST)
    );
}

#[test]
fn another_users_object_is_refused() {
    let name = TestName::new("foreign");
    let created = SharedMemory::create(&name.0, 4096, 0o600).unwrap();
    let me = rustix::process::geteuid();
    if !me.is_root() {
        eprintln!("not root: cannot give an object to another uid; checking only our own");
        assert!(SharedMemory::open(&name.0, 0o600, 0).is_ok());
        return;
    }
    let nobody = rustix::process::Uid::from_raw(65534);
    fs::fchown(created.fd(), Some(nobody), None).unwrap();
    assert_eq!(
        SharedMemory::open(&name.0, 0o600, 0).unwrap_err(),
        ShmError::NotOwner { uid: 65534 }
    );
}

#[test]
fn unlink_removes_the_name_but_not_the_mapping() {
    let name = TestName::new("unlink");
    let created = SharedMemory::create(&name.0, 4096, 0o600).unwrap();
    let map = created.map().unwrap();
    SharedMemory::unlink(&name.0).unwrap();
    assert_eq!(
        SharedMemory::unlink(&name.0).unwrap_err(),
        ShmError::Os(Errno::NOENT)
    );
    // SAFETY: the mapping is 4096 bytes and only this test uses it.
    unsafe { map.ptr().as_ptr().write(7) };
    // SAFETY: as above.
    assert_eq!(unsafe { map.ptr().as_ptr().read() }, 7);
}

#[test]
fn two_mappings_see_the_same_bytes() {
    let mem = SharedMemory::anonymous("two-maps", 4096).unwrap();
    let a = mem.map().unwrap();
    let b = mem.map().unwrap();
    assert_ne!(a.ptr(), b.ptr());
    // SAFETY: both map the same 4096 bytes; single-threaded test.
    unsafe {
        a.ptr().as_ptr().add(100).write(0x5a);
        assert_eq!(b.ptr().as_ptr().add(100).read(), 0x5a);
    }
}

#[test]
fn anonymous_memfds_are_sealed_against_resizing() {
    let mem = SharedMemory::anonymous("sealed", 8192).unwrap();
    assert_eq!(fs::ftruncate(mem.fd(), 4096), Err(Errno::PERM));
    assert_eq!(fs::ftruncate(mem.fd(), 16384), Err(Errno::PERM));
    let fd = mem.into_fd();
    let received = SharedMemory::from_sealed_memfd(fd, 8192).unwrap();
    assert_eq!(received.len(), 8192);
    let again = received.into_fd();
    assert!(matches!(
        SharedMemory::from_sealed_memfd(again, 8193),
        Err(ShmError::TooSmall {
            len: 8192,
            needed: 8193
        })
    ));
    let unsealed = fs::memfd_create("unsealed", fs::MemfdFlags::ALLOW_SEALING).unwrap();
    fs::ftruncate(&unsealed, 4096).unwrap();
    assert!(matches!(
        SharedMemory::from_sealed_memfd(unsealed, 0),
        Err(ShmError::NotSealed { .. })
    ));
    let name = TestName::new("notmemfd");
    let file = SharedMemory::create(&name.0, 4096, 0o600).unwrap();
    // A /dev/shm object cannot be sealed against resizing: older kernels
    // answer F_GET_SEALS with EINVAL, newer ones with F_SEAL_SEAL alone.
    let refused = SharedMemory::from_sealed_memfd(file.into_fd(), 0).unwrap_err();
    assert!(
        matches!(
            refused,
            ShmError::NotSealed { .. } | ShmError::Os(Errno::INVAL)
        ),
        "{refused:?}"
    );
}

#[test]
fn mapping_can_be_locked_or_reports_why_not() {
    let map = annulus_linux::Mapping::anonymous_shared(4096).unwrap();
    match map.lock() {
        Ok(()) => {}
        Err(ShmError::Os(Errno::NOMEM | Errno::PERM)) => eprintln!("mlock refused by limits"),
        Err(e) => panic!("unexpected mlock error: {e}"),
    }
    assert_eq!(
        annulus_linux::Mapping::anonymous_shared(0).unwrap_err(),
        ShmError::Os(Errno::INVAL)
    );
}

#[test]
fn objects_are_close_on_exec_and_read_write() {
    // O_CLOEXEC on every open: an exec'd child does not inherit the object
    // unless it is passed on purpose.
    let name = TestName::new("cloexec");
    let mem = SharedMemory::create(&name.0, 4096, 0o600).unwrap();
    let flags = rustix::io::fcntl_getfd(mem.fd()).unwrap();
    assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    let status = fs::fcntl_getfl(mem.fd()).unwrap();
    assert!(status.contains(OFlags::RDWR));
}
