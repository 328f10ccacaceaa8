//! Named pipes (`\\.\pipe\<name>`): the [`StreamListener`], binding and connecting.
//!
//! Every pipe is created with the security descriptor of `security.rs` (the user and SYSTEM
//! only) and rejects remote clients, and the listener's first instance claims the name
//! (`FILE_FLAG_FIRST_PIPE_INSTANCE`), so a squatter makes `bind` fail instead of receiving
//! our clients. Clients connect at the identification impersonation level, so a server can
//! learn who they are but not act as them. While every instance is busy, clients wait for
//! one (`WaitNamedPipeW`) within the connect timeout.

use std::os::windows::io::{AsRawHandle, OwnedHandle};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_FILE_NOT_FOUND, ERROR_IO_PENDING, ERROR_PIPE_BUSY,
    ERROR_PIPE_CONNECTED, ERROR_SEM_TIMEOUT, GENERIC_READ, GENERIC_WRITE, HANDLE,
};
use windows_sys::Win32::Storage::FileSystem::{
    CreateFileW, FILE_FLAG_FIRST_PIPE_INSTANCE, FILE_FLAG_OVERLAPPED, OPEN_EXISTING,
    PIPE_ACCESS_DUPLEX, SECURITY_IDENTIFICATION, SECURITY_SQOS_PRESENT,
};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, PIPE_READMODE_BYTE, PIPE_REJECT_REMOTE_CLIENTS,
    PIPE_TYPE_BYTE, PIPE_UNLIMITED_INSTANCES, PIPE_WAIT, WaitNamedPipeW,
};
use windows_sys::Win32::System::Threading::SetEvent;

use super::op::{Op, lock};
use super::security::SecurityDescriptor;
use super::stream::{BUF, Stream};
use super::wait::{Waker, wait_any};
use super::{last_error, owned, win_error};
use crate::error::{Error, ErrorKind, Result};

/// `\\.\pipe\<name>`, NUL-terminated UTF-16.
fn pipe_path(name: &str) -> Vec<u16> {
    format!(r"\\.\pipe\{name}")
        .encode_utf16()
        .chain([0])
        .collect()
}

/// One server instance of the pipe, waiting for a client (overlapped `ConnectNamedPipe`).
#[derive(Debug)]
struct Instance {
    /// Taken when the instance becomes a stream.
    handle: Option<OwnedHandle>,
    op: Op,
    /// A client is connected (it came before `ConnectNamedPipe`, or that completed).
    connected: bool,
}

impl Instance {
    fn raw(&self) -> HANDLE {
        self.handle
            .as_ref()
            .map_or(std::ptr::null_mut(), |h| h.as_raw_handle())
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.handle.is_some() {
            self.op.cancel(self.raw());
        }
    }
}

/// How many instances wait for clients at once, so that a burst of clients rarely finds
/// every instance taken (then they wait for one, see [`connect_pipe`]).
pub(super) const WAITING: usize = 4;

/// A bound named pipe: [`WAITING`] instances wait for the next clients.
#[derive(Debug)]
pub(crate) struct StreamListener {
    name: String,
    path: Vec<u16>,
    sd: SecurityDescriptor,
    /// The instances waiting for clients (only the acceptor thread uses them).
    waiting: Mutex<Vec<Instance>>,
}

impl StreamListener {
    fn instance(&self, first: bool) -> Result<Instance> {
        let attrs = self.sd.attributes();
        let mut open = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
        if first {
            open |= FILE_FLAG_FIRST_PIPE_INSTANCE;
        }
        // SAFETY: `path` is NUL-terminated; `attrs` and the descriptor it names live for the call.
        let h = unsafe {
            CreateNamedPipeW(
                self.path.as_ptr(),
                open,
                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                PIPE_UNLIMITED_INSTANCES,
                BUF as u32,
                BUF as u32,
                0,
                &attrs,
            )
        };
        let handle = owned(h, "creating the named pipe").map_err(|e| {
            if first && e.os_error() == Some(ERROR_ACCESS_DENIED as i32) {
                Error::new(
                    ErrorKind::AddressInUse,
                    format!(
                        r"pipe://{} is in use: the named pipe \\.\pipe\{} already exists",
                        self.name, self.name
                    ),
                )
                .with_os(e.os_error())
            } else {
                e
            }
        })?;
        let mut inst = Instance {
            handle: Some(handle),
            op: Op::new(0)?,
            connected: false,
        };
        let ov = inst.op.arm();
        // SAFETY: the handle is a fresh server instance; `ov` stays put until completion.
        let ok = unsafe { ConnectNamedPipe(inst.raw(), ov) };
        if ok == 0 {
            match last_error() {
                ERROR_IO_PENDING => {}
                ERROR_PIPE_CONNECTED => {
                    inst.op.not_started();
                    inst.connected = true;
                    // SAFETY: our own event, open: waits see the connection.
                    unsafe { SetEvent(inst.op.event.as_raw_handle()) };
                }
                code => {
                    // ERROR_NO_DATA (a client came and went) and anything else: this
                    // instance is of no use.
                    inst.op.not_started();
                    return Err(win_error(code, "waiting for a pipe client"));
                }
            }
        } else {
            inst.op.not_started();
            inst.connected = true;
        }
        Ok(inst)
    }

    /// The first instance waiting for a client (tests).
    #[cfg(test)]
    pub(super) fn waiting_handle(&self) -> HANDLE {
        lock(&self.waiting)
            .first()
            .map_or(std::ptr::null_mut(), Instance::raw)
    }

    /// Make instances until [`WAITING`] wait; an error only if none does.
    fn refill(&self, waiting: &mut Vec<Instance>) -> Result<()> {
        while waiting.len() < WAITING {
            match self.instance(false) {
                Ok(inst) => waiting.push(inst),
                Err(e) if waiting.is_empty() => return Err(e),
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Accept one connected client, or `None` if none is there.
    pub(crate) fn try_accept(&self) -> Result<Option<Stream>> {
        let mut waiting = lock(&self.waiting);
        let mut i = 0;
        let found = loop {
            let Some(inst) = waiting.get_mut(i) else {
                break None;
            };
            if !inst.connected {
                match inst.op.check(inst.raw()) {
                    None => {
                        i += 1;
                        continue;
                    }
                    Some(Ok(_)) => inst.connected = true,
                    Some(Err(_)) => {
                        // The client left before we took it: this instance is done.
                        waiting.swap_remove(i);
                        continue;
                    }
                }
            }
            break Some(waiting.swap_remove(i));
        };
        // Make the next instances before handing this one out, so clients find one.
        let refilled = self.refill(&mut waiting);
        let Some(mut connected) = found else {
            return refilled.map(|()| None);
        };
        let handle = connected
            .handle
            .take()
            .expect("an instance has its handle until taken");
        Stream::new(handle, true).map(Some)
    }

    /// Wait until `kick` fires or (if `accepting`) a client is connected.
    pub(crate) fn wait(&self, kick: &Waker, accepting: bool) -> Result<()> {
        let mut waiting = lock(&self.waiting);
        let mut sources = Vec::new();
        if accepting {
            let _ = self.refill(&mut waiting);
            sources.extend(waiting.iter().map(|i| i.op.source()));
        }
        // With no instance (making one failed), try again soon.
        let deadline =
            (accepting && sources.is_empty()).then(|| Instant::now() + Duration::from_millis(100));
        wait_any(&sources, [Some(kick), None], deadline).map(|_| ())
    }
}

/// Listen on the named pipe `\\.\pipe\<name>`. Fails with `AddressInUse` if the name exists.
pub(crate) fn bind_pipe(name: &str) -> Result<StreamListener> {
    let l = StreamListener {
        name: name.to_owned(),
        path: pipe_path(name),
        sd: SecurityDescriptor::user_and_system()?,
        waiting: Mutex::new(Vec::new()),
    };
    // Wine does not enforce FILE_FLAG_FIRST_PIPE_INSTANCE: refuse a name that exists already
    // (on Windows the flag also closes the window between this look and the creation).
    if pipe_exists(&l.path) {
        return Err(Error::new(
            ErrorKind::AddressInUse,
            format!(r"pipe://{name} is in use: the named pipe \\.\pipe\{name} already exists"),
        ));
    }
    let first = l.instance(true)?;
    let mut waiting = vec![first];
    l.refill(&mut waiting)?;
    *lock(&l.waiting) = waiting;
    Ok(l)
}

/// Whether a named pipe exists at `path` (asked without connecting to it).
fn pipe_exists(path: &[u16]) -> bool {
    // SAFETY: `path` is NUL-terminated.
    let free = unsafe { WaitNamedPipeW(path.as_ptr(), 1) } != 0;
    free || matches!(last_error(), ERROR_SEM_TIMEOUT | ERROR_PIPE_BUSY)
}

/// Connect to the named pipe `\\.\pipe\<name>`; while every instance is busy, wait (at most
/// `timeout`) for one.
pub(crate) fn connect_pipe(name: &str, timeout: Option<Duration>) -> Result<Stream> {
    let path = pipe_path(name);
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        // SAFETY: `path` is NUL-terminated; no security attributes or template.
        let h = unsafe {
            CreateFileW(
                path.as_ptr(),
                GENERIC_READ | GENERIC_WRITE,
                0,
                std::ptr::null(),
                OPEN_EXISTING,
                FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                std::ptr::null_mut(),
            )
        };
        let code = match owned(h, "") {
            Ok(handle) => return Stream::new(handle, false),
            Err(_) => last_error(),
        };
        match code {
            ERROR_FILE_NOT_FOUND => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("nobody is listening at pipe://{name}"),
                ));
            }
            ERROR_PIPE_BUSY => {
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                if left == Some(Duration::ZERO) {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "connecting to pipe://{name}: every instance stayed busy (or its listener is closed while channels it accepted are open)"
                        ),
                    ));
                }
                let ms = left.map_or(1000, |l| l.as_millis().clamp(1, 1000) as u32);
                // SAFETY: `path` is NUL-terminated.
                if unsafe { WaitNamedPipeW(path.as_ptr(), ms) } == 0 {
                    match last_error() {
                        ERROR_SEM_TIMEOUT | ERROR_PIPE_BUSY => {}
                        ERROR_FILE_NOT_FOUND => continue, // reported by CreateFileW
                        code => {
                            return Err(win_error(code, &format!("waiting for pipe://{name}")));
                        }
                    }
                }
            }
            code => return Err(win_error(code, &format!("connecting to pipe://{name}"))),
        }
    }
}
