//! Link settings of cargo's `libipc.so` (the cdylib): its SONAME, `libipc.so.<ABI major>`.
//!
//! The library that is installed is linked by `scripts/build-c-lib.sh` from `libipc.a` with
//! the version script `libipc.map` (rustc's own version script would override it here).

/// Must equal `IPC_ABI_VERSION` in src/lib.rs (a unit test checks) and the node in libipc.map.
const ABI_MAJOR: u32 = 0;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" || os == "android" {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libipc.so.{ABI_MAJOR}");
    }
}
