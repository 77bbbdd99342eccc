//! Runnable examples live beside this crate: `cargo run -p annulus-examples --example NAME`.
