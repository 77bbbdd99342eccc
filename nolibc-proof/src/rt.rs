//! The little runtime a program without the C library needs: an entry point
//! (`_start`), `exit_group`, `fork`, writing to stderr, and a panic handler.
//! The system calls rustix does not offer outside its unstable `runtime`
//! module are made here with inline assembly (x86_64 and aarch64).

use core::fmt::{self, Write};

use linux_raw_sys::general as k;
use rustix::fd::BorrowedFd;

// The kernel starts the process at `_start` with `argc` at the stack
// pointer, which it aligns to 16 bytes. Mark the outermost frame, keep the
// stack aligned as the C ABI wants at a call, and enter Rust; `entry` never
// returns.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "xor ebp, ebp",
    "and rsp, -16",
    "call {entry}",
    "ud2",
    entry = sym entry,
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".globl _start",
    ".type _start, @function",
    "_start:",
    "mov x29, xzr",
    "mov x30, xzr",
    "mov x0, sp",
    "and x0, x0, #-16",
    "mov sp, x0",
    "bl {entry}",
    "brk #1",
    entry = sym entry,
);

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
compile_error!("nolibc-proof has an entry point for x86_64 and aarch64 only");

/// Runs the program and exits with its status.
extern "C" fn entry() -> ! {
    let code = match crate::run() {
        Ok(()) => {
            print("nolibc-proof: ok\n");
            0
        }
        Err(step) => {
            let _ = writeln!(Stderr, "nolibc-proof: FAILED: {step}");
            1
        }
    };
    exit_group(code)
}

/// `exit_group(code)`: ends every thread of the process.
pub(crate) fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group takes no pointer and does not return.
    unsafe { syscall2(k::__NR_exit_group, code as usize, 0) };
    // Unreachable: the kernel does not return from exit_group.
    loop {
        core::hint::spin_loop();
    }
}

/// What [`fork`] returned in this process.
pub(crate) enum Forked {
    /// This is the new child.
    Child,
    /// This is the parent; the child's pid.
    Parent(i32),
}

/// `clone(SIGCHLD, NULL)`, which is `fork()`: a child with a copy of this
/// address space (and the same `MAP_SHARED` mappings, shared).
///
/// Sound here because the program has one thread: no lock or half-done
/// operation of another thread is copied into the child.
pub(crate) fn fork() -> Result<Forked, rustix::io::Errno> {
    // SAFETY: no new stack (the child continues on a copy of this one), no
    // pointer arguments; with a single thread, the copy is consistent.
    let ret = unsafe { syscall2(k::__NR_clone, k::SIGCHLD as usize, 0) };
    match ret as isize {
        0 => Ok(Forked::Child),
        pid @ 1.. => Ok(Forked::Parent(pid as i32)),
        err => Err(rustix::io::Errno::from_raw_os_error(-err as i32)),
    }
}

/// A system call with two arguments.
///
/// # Safety
///
/// The call must be sound with these arguments (see each caller).
#[cfg(target_arch = "x86_64")]
unsafe fn syscall2(nr: u32, a0: usize, a1: usize) -> usize {
    let ret: usize;
    // SAFETY: the x86_64 convention (number in rax, arguments in rdi and
    // rsi; rcx and r11 clobbered); the call's soundness is the caller's.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as usize => ret,
            in("rdi") a0,
            in("rsi") a1,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack, preserves_flags),
        );
    }
    ret
}

/// A system call with two arguments.
///
/// # Safety
///
/// The call must be sound with these arguments (see each caller).
#[cfg(target_arch = "aarch64")]
unsafe fn syscall2(nr: u32, a0: usize, a1: usize) -> usize {
    let ret: usize;
    // SAFETY: the aarch64 convention (number in x8, arguments in x0 and x1,
    // result in x0); the call's soundness is the caller's.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") nr as usize,
            inlateout("x0") a0 => ret,
            in("x1") a1,
            options(nostack, preserves_flags),
        );
    }
    ret
}

/// Standard error, written with `write(2)`; failures are ignored.
pub(crate) struct Stderr;

impl Write for Stderr {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: descriptor 2 is only written to; if it is not open, the
        // write fails with EBADF, which is ignored.
        let fd = unsafe { BorrowedFd::borrow_raw(2) };
        let mut bytes = s.as_bytes();
        while !bytes.is_empty() {
            match rustix::io::write(fd, bytes) {
                Ok(0) | Err(_) => break,
                Ok(n) => bytes = &bytes[n..],
            }
        }
        Ok(())
    }
}

/// Writes `s` to stderr.
pub(crate) fn print(s: &str) {
    let _ = Stderr.write_str(s);
}

/// Precompiled `core` is built to unwind, and its unwind tables name this
/// personality routine; with `panic = "abort"` nothing ever unwinds, so it
/// is never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let _ = writeln!(Stderr, "nolibc-proof: panicked: {info}");
    exit_group(101)
}
