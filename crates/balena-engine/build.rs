//! Links the binary position-dependent (`-no-pie`).
//!
//! Every shim maps this binary. In a position-independent executable the
//! dynamic loader patches ~140,000 pointers in its read-only data at every
//! start, so each shim (one per container) carried ~390 KiB of private
//! copies of those pages. Linked at a fixed address, the pointers are
//! final on disk and the pages stay shared with the daemon and every other
//! shim. Go builds dockerd and containerd the same way. The price is no
//! address randomisation of the executable itself (libraries, stack and
//! heap are still randomised).
fn main() {
    let target = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target == "linux" {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
