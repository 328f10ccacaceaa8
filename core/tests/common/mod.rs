//! Helpers shared by the core crate's integration tests.
#![allow(dead_code)] // each test file uses part of this

use std::path::{Path, PathBuf};
use std::time::Duration;

/// A fresh private directory under the system temporary directory, removed when dropped.
pub fn private_dir(tag: &str) -> TempDir {
    let d = std::env::temp_dir().join(format!(
        "libipc-{tag}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&d).unwrap();
    TempDir(d)
}

/// A directory removed (with its contents) on drop; derefs to its path.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Fails the test (instead of hanging it) if `f` does not finish; not a timing assertion.
pub fn watchdog<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()).unwrap());
    rx.recv_timeout(Duration::from_secs(120)).expect("hung")
}
