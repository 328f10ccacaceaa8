//! The raw baseline: one named pipe per link and no libipc code. The bench's end is made with
//! `CreateNamedPipeW` (byte mode, blocking, one instance, 64 KiB buffers like libipc's pipes,
//! remote clients rejected, the default security descriptor) and waits in `ConnectNamedPipe`;
//! the peer opens it with `CreateFileW`. Both handles are synchronous, read and written with
//! plain blocking `ReadFile` / `WriteFile` (through `std::fs::File`).
//!
//! A message is a 4-byte little-endian length and the payload: the bench library's [`Framing`]
//! (bench/common, shared with `ipc bench`). The `raw` baseline blocks in each read at once;
//! `raw-spin` first waits the way libipc's stream channels do: a spinner with libipc's default
//! stream spin polls `PeekNamedPipe` until bytes are there or its adaptive window ends, then
//! the same blocking reads follow. Writes never spin.

use std::fs::File;
use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    ERROR_PIPE_CONNECTED, GENERIC_READ, GENERIC_WRITE, HANDLE, INVALID_HANDLE_VALUE,
};
use windows_sys::Win32::Storage::FileSystem::{CreateFileW, OPEN_EXISTING, PIPE_ACCESS_DUPLEX};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS,
    PIPE_TYPE_BYTE, PIPE_WAIT, PeekNamedPipe,
};

use libipc_bench::{Fail, Framing, Link, Result};

/// Each direction's pipe buffer, as libipc's.
const BUF: u32 = 64 * 1024;

/// `\\.\pipe\<name>`, NUL-terminated UTF-16.
fn pipe_path(name: &str) -> Vec<u16> {
    format!(r"\\.\pipe\{name}")
        .encode_utf16()
        .chain([0])
        .collect()
}

/// The handle a Win32 call returned, owned, or its last error.
fn owned(h: HANDLE, what: &str) -> Result<OwnedHandle> {
    if h.is_null() || h == INVALID_HANDLE_VALUE {
        let e = io::Error::last_os_error();
        return Err(Fail::new(format!("{what}: {e}")));
    }
    // SAFETY: `h` is a valid handle the system just returned to us, owned by no one else.
    Ok(unsafe { OwnedHandle::from_raw_handle(h) })
}

/// The bench's end of a raw pipe, before the peer connects.
#[derive(Debug)]
pub(crate) struct Server {
    handle: OwnedHandle,
    name: String,
}

impl Server {
    /// Create `\\.\pipe\<name>` (its one instance).
    pub(crate) fn create(name: &str) -> Result<Server> {
        let path = pipe_path(name);
        // SAFETY: `path` is NUL-terminated UTF-16 that outlives the call; no security
        // attributes (the default descriptor); the result is checked by `owned`.
        let h = unsafe {
            CreateNamedPipeW(
                path.as_ptr(),
                PIPE_ACCESS_DUPLEX,
                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                1,
                BUF,
                BUF,
                0,
                std::ptr::null(),
            )
        };
        Ok(Server {
            handle: owned(h, &format!(r"creating \\.\pipe\{name}"))?,
            name: name.to_owned(),
        })
    }

    /// Wait until the peer has opened the pipe; its reads then first spin for up to `spin`.
    pub(crate) fn accept(self, spin: Duration) -> Result<RawPipe> {
        // SAFETY: the handle is our open, synchronous pipe instance, so no OVERLAPPED: the
        // call blocks until a client connects (or says one already has).
        let ok = unsafe { ConnectNamedPipe(self.handle.as_raw_handle(), std::ptr::null_mut()) };
        if ok == 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() != Some(ERROR_PIPE_CONNECTED as i32) {
                return Err(Fail::new(format!(
                    r"waiting for a client on \\.\pipe\{}: {e}",
                    self.name
                )));
            }
        }
        Ok(RawPipe::new(self.handle, spin))
    }
}

/// One connected end of a raw pipe.
pub(crate) struct RawPipe {
    file: File,
    /// Spins before each blocking read (never, for `raw`: a zero spin).
    framing: Framing,
}

impl RawPipe {
    fn new(handle: OwnedHandle, spin: Duration) -> RawPipe {
        RawPipe {
            file: File::from(handle),
            framing: Framing::new(spin),
        }
    }

    /// The peer's end of the pipe the bench made as `name`.
    pub(crate) fn connect(name: &str, spin: Duration) -> Result<RawPipe> {
        let path = pipe_path(name);
        // SAFETY: `path` is NUL-terminated UTF-16 that outlives the call; no security
        // attributes, no template; the result is checked by `owned`.
        let h = unsafe {
            CreateFileW(
                path.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                std::ptr::null(),
                OPEN_EXISTING,
                0,
                std::ptr::null_mut(),
            )
        };
        let handle = owned(h, &format!(r"opening \\.\pipe\{name}"))?;
        Ok(RawPipe::new(handle, spin))
    }

    /// Whether a read would not block: bytes are there, or the pipe failed (the read then
    /// reports it).
    fn readable(file: &File) -> bool {
        let mut avail = 0u32;
        // SAFETY: the handle is open while `file` lives; no buffer (size 0), only the count
        // of available bytes, written to a local.
        let ok = unsafe {
            PeekNamedPipe(
                file.as_raw_handle(),
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                &mut avail,
                std::ptr::null_mut(),
            )
        };
        ok == 0 || avail > 0
    }
}

impl Link for RawPipe {
    fn send(&mut self, msg: &[u8]) -> Result {
        Ok(self.framing.write(&self.file, Some(msg))?)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        let file = &self.file;
        Ok(self.framing.read(file, || RawPipe::readable(file))?)
    }

    fn echo(&mut self) -> Result {
        self.recv()?;
        Ok(self.framing.write(&self.file, None)?)
    }
}
