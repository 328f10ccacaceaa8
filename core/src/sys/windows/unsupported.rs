//! What the Windows backend does not provide: each gives `Unsupported`, saying what to use.
//!
//! Bare names are named pipes on Windows (`transport/mod.rs`), so there is no runtime
//! directory of socket files; Unix sockets and shared memory are Unix transports; TCP is not
//! ported yet (its streams would need `WSAEventSelect` events to fit `wait_any`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::listener::StreamListener;
use super::stream::Stream;
use crate::error::{Error, ErrorKind, Result};

fn unsupported(what: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!("{what} on Windows; use pipe://name (a named pipe) or a bare name"),
    )
}

/// There is no runtime directory on Windows: bare names are named pipes.
pub(crate) fn runtime_dir() -> Result<PathBuf> {
    Err(unsupported(
        "there is no runtime directory of socket files (bare names are named pipes)",
    ))
}

pub(crate) fn ensure_private_dir(_dir: &Path) -> Result<()> {
    Err(unsupported("socket directories are not used"))
}

pub(crate) fn check_private_dir(_dir: &Path) -> Result<()> {
    Err(unsupported("socket directories are not used"))
}

/// Where a Unix socket would live (never reached: binding and connecting fail first).
#[derive(Debug, Clone)]
#[allow(dead_code)] // the same shape as on Unix, read by nothing here
pub(crate) enum LocalAddr {
    Path(PathBuf),
    Abstract(String),
}

/// A bound socket file: none exist on Windows.
#[derive(Debug)]
pub(crate) enum SocketFile {}

/// Removes its file on Unix; there is never one here.
impl Drop for SocketFile {
    fn drop(&mut self) {
        match *self {}
    }
}

pub(crate) fn bind_local(
    _addr: &LocalAddr,
    _mode: u32,
) -> Result<(StreamListener, Option<SocketFile>)> {
    Err(unsupported("Unix sockets (unix://) are not available"))
}

pub(crate) fn connect_local(_addr: &LocalAddr, _timeout: Option<Duration>) -> Result<Stream> {
    Err(unsupported("Unix sockets (unix://) are not available"))
}

pub(crate) fn bind_tcp(host: &str, port: u16) -> Result<(StreamListener, u16)> {
    Err(unsupported(&format!(
        "tcp://{host}:{port}: TCP is not available yet"
    )))
}

pub(crate) fn connect_tcp(host: &str, port: u16, _timeout: Option<Duration>) -> Result<Stream> {
    Err(unsupported(&format!(
        "tcp://{host}:{port}: TCP is not available yet"
    )))
}

/// Parent and child: a socket pair inherited by the child is not ported to Windows yet (an
/// inherited anonymous or named pipe handle would be its counterpart).
pub(crate) fn stream_pair() -> Result<(Stream, Stream)> {
    Err(unsupported(
        "parent and child channels (Channel::pair, spawn, from_env) are not available yet",
    ))
}

/// Never reached: [`stream_pair`] fails first.
pub(crate) fn inherit_token(_end: &Stream) -> String {
    String::new()
}

/// Never reached: [`stream_pair`] fails first.
pub(crate) fn keep_across_exec(_cmd: &mut std::process::Command, _end: &Stream) {}

pub(crate) fn adopt_inherited(_token: &str) -> Result<Stream> {
    Err(unsupported(
        "parent and child channels (Channel::pair, spawn, from_env) are not available yet",
    ))
}
