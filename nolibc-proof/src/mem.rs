//! What compiled Rust expects the C library to provide: `memcpy`,
//! `memmove`, `memset`, `memcmp` and `bcmp` (the compiler emits calls to
//! them for copies, fills and comparisons), and `strlen` (core's
//! `CStr::from_ptr`). Rust's prebuilt `compiler_builtins` leaves them out
//! on Linux targets, expecting the C library, so this program has its own.
//!
//! Plain byte loops: simple and fast enough for a proof. The crate is
//! `#![no_builtins]`, so the compiler does not turn these loops back into
//! calls to the functions themselves.

/// `memcpy(3)`.
///
/// # Safety
///
/// `src` readable and `dst` writable for `n` bytes; the ranges do not
/// overlap.
#[unsafe(no_mangle)]
unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: `i < n`, within both ranges (the caller's contract).
        unsafe { *dst.add(i) = *src.add(i) };
    }
    dst
}

/// `memmove(3)`.
///
/// # Safety
///
/// `src` readable and `dst` writable for `n` bytes; they may overlap.
#[unsafe(no_mangle)]
unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dst as usize) <= (src as usize) {
        for i in 0..n {
            // SAFETY: in range; copying forwards never overwrites a source
            // byte not yet read when `dst` is at or below `src`.
            unsafe { *dst.add(i) = *src.add(i) };
        }
    } else {
        for i in (0..n).rev() {
            // SAFETY: in range; backwards, likewise, when `dst` is above.
            unsafe { *dst.add(i) = *src.add(i) };
        }
    }
    dst
}

/// `memset(3)`.
///
/// # Safety
///
/// `dst` writable for `n` bytes.
#[unsafe(no_mangle)]
unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    for i in 0..n {
        // SAFETY: `i < n`, within the range (the caller's contract).
        unsafe { *dst.add(i) = c as u8 };
    }
    dst
}

/// `memcmp(3)`.
///
/// # Safety
///
/// `a` and `b` readable for `n` bytes.
#[unsafe(no_mangle)]
unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    for i in 0..n {
        // SAFETY: `i < n`, within both ranges (the caller's contract).
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}

/// `bcmp(3)`: zero when equal, as `memcmp`.
///
/// # Safety
///
/// As `memcmp`.
#[unsafe(no_mangle)]
unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the same contract.
    unsafe { memcmp(a, b, n) }
}

/// `strlen(3)`.
///
/// # Safety
///
/// `s` points to a NUL-terminated string.
#[unsafe(no_mangle)]
unsafe extern "C" fn strlen(s: *const u8) -> usize {
    let mut n = 0;
    // SAFETY: every byte up to and including the NUL is readable.
    while unsafe { *s.add(n) } != 0 {
        n += 1;
    }
    n
}
