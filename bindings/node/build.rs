//! napi-rs's link set-up for a Node addon (symbols resolved from the loading `node` process).

fn main() {
    napi_build::setup();
}
