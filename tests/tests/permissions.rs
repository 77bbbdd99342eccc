//! Permissions of named objects between two real users. Run as root, the
//! parent creates objects of every named kind, then re-executes this binary
//! as a child that drops to `nobody` (uid and gid 65534, no supplementary
//! groups) before it touches them:
//!
//! - root's private (0600) objects cannot be opened: the kernel refuses
//!   (`EACCES`), whatever the kind;
//! - an object root opened up to everyone (0666) is still refused, by the
//!   backend's owner check ([`ShmError::NotOwner`]), so a process never
//!   trusts another user's object by accident;
//! - nobody cannot unlink root's objects (`/dev/shm` is sticky);
//! - an object nobody creates is refused by root the same way.
//!
//! Not root, one user cannot act as another: the test says so and checks
//! what one user can (its own objects open, a mode wider than asked for is
//! refused).

use std::time::Duration;

use annulus_linux::ShmError;
use annulus_linux::named::{
    MpmcRing, NamedFrameRing, NamedSemaphore, NamedSemaphoreSet, OpenError, SpscRing,
};
use annulus_linux::shm::SharedMemory;
use annulus_process_tests::{
    CHILD_NAME, ChildGuard, NOBODY, UniqueName, child_name, child_role, drop_to_nobody,
};
use rustix::io::Errno;

/// Watchdog for the child; never a timing assertion.
const WATCHDOG: Duration = Duration::from_secs(60);

/// The objects of one run, by their suffixes on the base name.
struct Names {
    spsc: String,
    mpmc: String,
    frames: String,
    sem: String,
    set: String,
    /// Root's object with mode 0666.
    open_to_all: String,
    /// The object the unprivileged child creates.
    childs: String,
}

impl Names {
    fn new(base: &str) -> Self {
        Names {
            spsc: format!("{base}.spsc"),
            mpmc: format!("{base}.mpmc"),
            frames: format!("{base}.frames"),
            sem: format!("{base}.sem"),
            set: format!("{base}.set"),
            open_to_all: format!("{base}.all"),
            childs: format!("{base}.nobody"),
        }
    }

    /// Guards that unlink every object of the run, even if the test fails.
    fn guards(&self) -> Vec<UniqueName> {
        [
            &self.spsc,
            &self.mpmc,
            &self.frames,
            &self.sem,
            &self.set,
            &self.open_to_all,
            &self.childs,
        ]
        .into_iter()
        .map(|name| UniqueName(name.clone()))
        .collect()
    }
}

/// Whether an open failed because the kernel refused access.
fn access_denied<T>(result: Result<T, OpenError>) -> bool {
    matches!(result, Err(OpenError::Shm(ShmError::Os(Errno::ACCESS))))
}

#[test]
fn another_users_objects_are_refused() {
    if child_role().is_some() {
        return; // the child runs `as_nobody` only
    }
    if !rustix::process::geteuid().is_root() {
        eprintln!(
            "not root: this process cannot create an object as one user and open it as \
             another, so the two-user checks are skipped; checking one user's objects"
        );
        let own = UniqueName::new("perm-own");
        let _ring = SpscRing::<u64>::create(&own.0, 8).unwrap();
        assert!(SpscRing::<u64>::open(&own.0).is_ok());
        let wide = UniqueName::new("perm-wide");
        let _wide = SpscRing::<u64>::create_with_mode(&wide.0, 8, 0o644).unwrap();
        assert_eq!(
            SpscRing::<u64>::open(&wide.0).unwrap_err(),
            OpenError::Shm(ShmError::ModeTooWide {
                mode: 0o644,
                allowed: 0o600
            })
        );
        return;
    }
    let base = UniqueName::new("perm");
    let names = Names::new(&base.0);
    let _guards = names.guards();
    let _spsc = SpscRing::<u64>::create(&names.spsc, 8).unwrap();
    let _mpmc = MpmcRing::<u64>::create(&names.mpmc, 8, 2).unwrap();
    let _frames = NamedFrameRing::create(&names.frames, 1024).unwrap();
    let _sem = NamedSemaphore::create(&names.sem, 0, 1).unwrap();
    let _set = NamedSemaphoreSet::create(&names.set, &[0, 1], 1).unwrap();
    let _all = SpscRing::<u64>::create_with_mode(&names.open_to_all, 8, 0o666).unwrap();
    let child = ChildGuard::spawn("as_nobody", "nobody", &[(CHILD_NAME, base.0.clone())]).unwrap();
    child.wait_success(WATCHDOG).unwrap();
    // Root (who could read the file anyway) refuses the object nobody made.
    assert_eq!(
        SpscRing::<u64>::open(&names.childs).unwrap_err(),
        OpenError::Shm(ShmError::NotOwner { uid: NOBODY })
    );
}

#[test]
fn as_nobody() {
    let Some(role) = child_role() else {
        return;
    };
    assert_eq!(role, "nobody");
    let names = Names::new(&child_name());
    drop_to_nobody();
    // Root's private objects: the kernel refuses to open them at all.
    assert!(access_denied(SpscRing::<u64>::open(&names.spsc)));
    assert!(access_denied(MpmcRing::<u64>::open(&names.mpmc)));
    assert!(access_denied(NamedFrameRing::open(&names.frames)));
    assert!(access_denied(NamedSemaphore::open(&names.sem)));
    assert!(access_denied(NamedSemaphoreSet::open(&names.set)));
    // Even widening what it accepts does not help.
    assert!(access_denied(SpscRing::<u64>::open_with_mode(
        &names.spsc,
        0o777
    )));
    // Root's object open to all: the kernel would allow it, the backend's
    // owner check refuses it.
    assert_eq!(
        SpscRing::<u64>::open_with_mode(&names.open_to_all, 0o666).unwrap_err(),
        OpenError::Shm(ShmError::NotOwner { uid: 0 })
    );
    // /dev/shm is sticky: only an object's owner removes it.
    let shm_dir = rustix::fs::stat("/dev/shm").expect("stat /dev/shm");
    if shm_dir.st_mode & 0o1000 != 0 {
        assert_eq!(
            SharedMemory::unlink(&names.spsc),
            Err(ShmError::Os(Errno::PERM))
        );
    } else {
        eprintln!("/dev/shm is not sticky here: not checking who may unlink");
    }
    // Nobody's own object, which root must refuse in turn.
    let _mine = SpscRing::<u64>::create(&names.childs, 8).unwrap();
    assert!(SpscRing::<u64>::open(&names.childs).is_ok());
}
