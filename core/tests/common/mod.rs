//! Helpers shared by the core crate's integration tests.
#![allow(dead_code)] // each test file uses part of this

use std::path::PathBuf;
use std::time::Duration;

/// A fresh private directory under the system temporary directory.
pub fn private_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "libipc-{tag}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Fails the test (instead of hanging it) if `f` does not finish; not a timing assertion.
pub fn watchdog<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(120)).expect("hung")
}
