//! `cargo run -p uniffi-bindgen -- generate --library <liblibipc_uniffi.so> --language kotlin
//! --out-dir <dir>`: uniffi's own command line, pinned to the uniffi version the library uses
//! (see `bindings/uniffi/README.md`).

fn main() {
    uniffi::uniffi_bindgen_main()
}
