//! Links the program without the C library: no start files (`crt1.o` and
//! friends, which call `__libc_start_main`), no default libraries, static,
//! and not position-independent (nothing would relocate it: there is no
//! dynamic loader).

fn main() {
    for arg in ["-nostartfiles", "-nostdlib", "-static", "-no-pie"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
