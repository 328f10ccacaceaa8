//! The C ABI of libipc: `libipc.so` / `libipc.a` and the header `include/ipc.h` (generated from
//! this crate by cbindgen; see `cbindgen.toml`).
//!
//! The conventions (names, statuses, out-parameters, errors, thread safety) are written down in
//! `docs/c-api.md`. Every `extern "C"` function runs behind the panic boundary in [`ffi`], and
//! only `ffi.rs` turns raw pointers into references or handles back into boxes.
#![warn(missing_docs)]

mod cancel;
mod channel;
mod ffi;
mod listener;
mod message;
mod options;
mod pubsub;
mod rpc;
mod spawn;
mod status;

use std::ffi::c_char;

pub use cancel::*;
pub use channel::*;
pub use listener::*;
pub use message::*;
pub use options::*;
pub use pubsub::*;
pub use rpc::*;
pub use spawn::*;
pub use status::*;

/// Major version of the libipc these declarations belong to.
pub const IPC_VERSION_MAJOR: u32 = 0;
/// Minor version of the libipc these declarations belong to.
pub const IPC_VERSION_MINOR: u32 = 1;
/// Patch version of the libipc these declarations belong to.
pub const IPC_VERSION_PATCH: u32 = 0;
/// The ABI version these declarations belong to; compare with `ipc_abi_version()`. It is the
/// number in the SONAME (`libipc.so.0`) and in the symbol version node (`LIBIPC_0`), and
/// changes only with an incompatible change of the C API (independently of the package
/// version).
pub const IPC_ABI_VERSION: u32 = 0;
/// A timeout meaning "wait as long as it takes".
pub const IPC_WAIT_FOREVER: i32 = -1;

/// The library's version as a static string, e.g. `"0.1.0"`.
#[unsafe(no_mangle)]
pub extern "C" fn ipc_version() -> *const c_char {
    ffi::boundary_value(c"".as_ptr(), || {
        const V: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
        V.as_ptr().cast()
    })
}

/// The ABI version of the loaded library. It equals `IPC_ABI_VERSION` from the header you
/// compiled against whenever the two are compatible.
#[unsafe(no_mangle)]
pub extern "C" fn ipc_abi_version() -> u32 {
    ffi::boundary_value(IPC_ABI_VERSION, || IPC_ABI_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constants_match_the_package() {
        assert_eq!(
            IPC_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            IPC_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            IPC_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        // SAFETY: ipc_version returns a static NUL-terminated string.
        let v = unsafe { std::ffi::CStr::from_ptr(ipc_version()) };
        assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
        // Before 1.0 the minor version is the ABI major; the map file names the node.
        let abi = if IPC_VERSION_MAJOR == 0 {
            0
        } else {
            IPC_VERSION_MAJOR
        };
        assert_eq!(ipc_abi_version(), abi);
        let map = include_str!("../libipc.map");
        assert!(map.contains(&format!("LIBIPC_{IPC_ABI_VERSION} {{")));
        let cbindgen = include_str!("../cbindgen.toml");
        let define = format!("#define IPC_VERSION \"{}\"", env!("CARGO_PKG_VERSION"));
        assert!(
            cbindgen.contains(&define),
            "cbindgen.toml must say {define}"
        );
        let build = include_str!("../build.rs");
        assert!(build.contains(&format!("const ABI_MAJOR: u32 = {IPC_ABI_VERSION};")));
    }
}
