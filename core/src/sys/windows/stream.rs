//! Connected named-pipe streams (either end), non-blocking through overlapped I/O.
//!
//! A stream reads into its own buffer: `read` hands out what a completed read brought, or
//! starts the next read and says "not yet" (its event is signalled when that read completes).
//! It writes from its own buffer: `write` copies what fits and starts one write, or, while
//! the previous write is still in flight, takes nothing (its event is signalled when that
//! write completes). A buffer the system may still write is never freed: hanging up cancels
//! what is in flight and waits for the cancellation; if it never came, the memory is leaked.

use std::ffi::c_void;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::windows::io::{AsRawHandle, FromRawHandle, IntoRawHandle, OwnedHandle};
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, Ordering};

use windows_sys::Win32::Foundation::{ERROR_IO_PENDING, ERROR_OPERATION_ABORTED, HANDLE};
use windows_sys::Win32::Storage::FileSystem::{ReadFile, WriteFile};
use windows_sys::Win32::System::Pipes::{GetNamedPipeClientProcessId, GetNamedPipeServerProcessId};
use windows_sys::Win32::System::Threading::SetEvent;

use super::op::{Op, lock, thread_agnostic};
use super::wait::Source;
use super::{last_error, win_error};
use crate::conn::PeerCredentials;
use crate::error::{Error, ErrorKind, Result};

/// Each stream's read buffer and write buffer, and the pipe's buffer sizes.
pub(super) const BUF: usize = 64 * 1024;

#[derive(Debug)]
enum ReadState {
    /// No read in flight and nothing buffered.
    Idle,
    /// A read is in flight.
    Pending,
    /// A completed read left `buf[pos..len]`.
    Filled {
        pos: usize,
        len: usize,
    },
    /// The peer is gone (or we hung up): reads give 0.
    Eof,
    Failed(Error),
}

#[derive(Debug)]
struct ReadSide {
    op: Op,
    state: ReadState,
}

#[derive(Debug)]
struct WriteSide {
    op: Op,
    /// The write in flight writes `buf[done..len]`.
    done: u32,
    len: u32,
    failed: Option<Error>,
}

/// A connected, non-blocking named-pipe stream (either end).
#[derive(Debug)]
pub(crate) struct Stream {
    /// The pipe handle; null once hung up (and closed). Changed only with both locks held,
    /// and used only with at least one held, so a handle in use is never closed.
    handle: AtomicPtr<c_void>,
    /// The server end (the peer is a client).
    server: bool,
    rx: Mutex<ReadSide>,
    tx: Mutex<WriteSide>,
    read_src: Source,
    write_src: Source,
}

fn end_of_read(code: u32) -> ReadState {
    let e = win_error(code, "reading from the pipe");
    if e.kind() == ErrorKind::PeerDisconnected {
        ReadState::Eof
    } else {
        ReadState::Failed(e)
    }
}

fn hung_up_error() -> Error {
    Error::new(
        ErrorKind::PeerDisconnected,
        "writing to the pipe: the connection is shut down",
    )
}

impl Stream {
    pub(super) fn new(handle: OwnedHandle, server: bool) -> Result<Stream> {
        thread_agnostic(handle.as_raw_handle())?;
        let (rop, wop) = (Op::new(BUF)?, Op::new(BUF)?);
        Ok(Stream {
            read_src: rop.source(),
            write_src: wop.source(),
            handle: AtomicPtr::new(handle.into_raw_handle().cast()),
            server,
            rx: Mutex::new(ReadSide {
                op: rop,
                state: ReadState::Idle,
            }),
            tx: Mutex::new(WriteSide {
                op: wop,
                done: 0,
                len: 0,
                failed: None,
            }),
        })
    }

    fn handle(&self) -> HANDLE {
        self.handle.load(Ordering::Acquire)
    }

    /// The pipe handle (tests: while nobody hangs up).
    #[cfg(test)]
    pub(super) fn raw_handle(&self) -> HANDLE {
        self.handle()
    }

    /// Read what is there into `buf` without waiting: `Some(n)` bytes (`Some(0)`: the peer
    /// closed its end), or `None` if nothing is there yet (a read is then in flight, and
    /// [`read_source`](Self::read_source) fires when it completes).
    pub(crate) fn read(&self, buf: &mut [MaybeUninit<u8>]) -> Result<Option<usize>> {
        let mut rx = lock(&self.rx);
        // A write whose thread exited goes on here too, so a reader never waits for bytes we
        // owe the peer (errors are reported by the next write).
        if let Ok(mut tx) = self.tx.try_lock() {
            let h = self.handle();
            if tx.op.in_flight && !h.is_null() {
                let _ = self.drive_write(&mut tx, h);
            }
        }
        let rx = &mut *rx;
        // Bounded: a peer writing empty messages must not keep us here.
        for _ in 0..64 {
            match rx.state {
                ReadState::Filled { pos, len } => {
                    let n = (len - pos).min(buf.len());
                    // SAFETY: no read is in flight (the state says it completed), so the
                    // buffer is ours; the completed read wrote `len` bytes; `buf` has room
                    // for `n`, and the two never overlap.
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            rx.op.buf.add(pos),
                            buf.as_mut_ptr().cast::<u8>(),
                            n,
                        );
                    }
                    rx.state = if pos + n == len {
                        ReadState::Idle
                    } else {
                        ReadState::Filled { pos: pos + n, len }
                    };
                    return Ok(Some(n));
                }
                ReadState::Eof => return Ok(Some(0)),
                ReadState::Failed(ref e) => return Err(e.clone()),
                ReadState::Pending => {
                    let h = self.handle();
                    rx.state = match rx.op.check(h) {
                        None => return Ok(None),
                        Some(Ok(0)) => ReadState::Idle,
                        Some(Ok(n)) => ReadState::Filled {
                            pos: 0,
                            len: n as usize,
                        },
                        // The thread that started it exited (see `drive_write`): keep what it
                        // read, and read again.
                        Some(Err(ERROR_OPERATION_ABORTED)) if rx.op.moved > 0 => {
                            ReadState::Filled {
                                pos: 0,
                                len: rx.op.moved as usize,
                            }
                        }
                        Some(Err(ERROR_OPERATION_ABORTED)) => ReadState::Idle,
                        Some(Err(code)) => end_of_read(code),
                    };
                }
                ReadState::Idle => {
                    let h = self.handle();
                    if h.is_null() {
                        rx.state = ReadState::Eof;
                        continue;
                    }
                    let ov = rx.op.arm();
                    // SAFETY: `h` is open (we hold the read lock); the buffer and `ov` are
                    // live heap blocks that stay put until the read is seen complete.
                    let ok =
                        unsafe { ReadFile(h, rx.op.buf, BUF as u32, std::ptr::null_mut(), ov) };
                    rx.state = ReadState::Pending;
                    if ok == 0 {
                        let code = last_error();
                        if code != ERROR_IO_PENDING {
                            rx.op.not_started();
                            rx.state = end_of_read(code);
                        }
                    }
                }
            }
        }
        Ok(None)
    }

    /// Write as much of `bufs` as fits now, without waiting; returns how many bytes went out
    /// (0 while the previous write is still in flight: then
    /// [`write_source`](Self::write_source) fires when it completes).
    pub(crate) fn write(&self, bufs: &[IoSlice<'_>]) -> Result<usize> {
        let mut tx = lock(&self.tx);
        self.write_locked(&mut tx, bufs)
    }

    fn write_locked(&self, tx: &mut WriteSide, bufs: &[IoSlice<'_>]) -> Result<usize> {
        let h = self.handle();
        if h.is_null() && tx.failed.is_none() {
            return Err(hung_up_error());
        }
        if !self.drive_write(tx, h)? {
            return Ok(0);
        }
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(BUF - n);
            // SAFETY: no write is in flight, so the buffer is ours; `n + take <= BUF`.
            unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), tx.op.buf.add(n), take) };
            n += take;
        }
        if n == 0 {
            return Ok(0);
        }
        (tx.done, tx.len) = (0, n as u32);
        self.start_write(tx, h)?;
        Ok(n)
    }

    /// Start writing `buf[done..len]`.
    fn start_write(&self, tx: &mut WriteSide, h: HANDLE) -> Result<()> {
        let ov = tx.op.arm();
        // SAFETY: `h` is open (we hold the write lock); the buffer holds `len` bytes and, with
        // `ov`, stays put until the write is seen complete.
        let ok = unsafe {
            WriteFile(
                h,
                tx.op.buf.add(tx.done as usize),
                tx.len - tx.done,
                std::ptr::null_mut(),
                ov,
            )
        };
        if ok == 0 {
            let code = last_error();
            if code != ERROR_IO_PENDING {
                tx.op.not_started();
                let e = win_error(code, "writing to the pipe");
                tx.failed = Some(e.clone());
                return Err(e);
            }
        }
        Ok(())
    }

    /// Carry the write in flight on: `Ok(true)` once all of it is written, `Ok(false)` while
    /// it runs. A write cancelled because the thread that started it exited (Wine cancels
    /// even on a completion port) goes on from where it stopped, as does a short one.
    fn drive_write(&self, tx: &mut WriteSide, h: HANDLE) -> Result<bool> {
        if let Some(e) = &tx.failed {
            return Err(e.clone());
        }
        while tx.op.in_flight {
            match tx.op.check(h) {
                None => return Ok(false),
                Some(Ok(n)) if n > 0 => tx.done += n,
                Some(Err(ERROR_OPERATION_ABORTED)) => tx.done += tx.op.moved,
                Some(r) => {
                    let e = match r {
                        Err(code) => win_error(code, "writing to the pipe"),
                        Ok(_) => Error::new(ErrorKind::Io, "writing to the pipe: nothing written"),
                    };
                    tx.failed = Some(e.clone());
                    return Err(e);
                }
            }
            if tx.done < tx.len {
                self.start_write(tx, h)?;
            }
        }
        Ok(true)
    }

    /// Best-effort write of a small frame without waiting (error reports, CLOSE from `Drop`):
    /// whether all of it went out.
    pub(crate) fn write_now(&self, bytes: &[u8]) -> bool {
        let mut tx = lock(&self.tx);
        matches!(self.write_locked(&mut tx, &[IoSlice::new(bytes)]), Ok(n) if n == bytes.len())
    }

    /// Signalled when the read in flight completes.
    pub(crate) fn read_source(&self) -> Source {
        self.read_src
    }

    /// Signalled when the write in flight completes.
    pub(crate) fn write_source(&self) -> Source {
        self.write_src
    }

    /// Everything a reader waits on (the read event alone: hanging up cancels the read,
    /// which signals it).
    pub(crate) fn read_sources(&self) -> Vec<Source> {
        vec![self.read_src]
    }

    /// Everything a writer waits on (the write event alone).
    pub(crate) fn write_sources(&self) -> Vec<Source> {
        vec![self.write_src]
    }

    /// The peer's process id (named pipes tell nothing of its user).
    pub(crate) fn peer_credentials(&self) -> PeerCredentials {
        let _rx = lock(&self.rx);
        let h = self.handle();
        let mut pid = 0u32;
        let ok = !h.is_null()
            // SAFETY: `h` is open (we hold the read lock); `pid` is valid for writes.
            && unsafe {
                if self.server {
                    GetNamedPipeClientProcessId(h, &mut pid)
                } else {
                    GetNamedPipeServerProcessId(h, &mut pid)
                }
            } != 0;
        PeerCredentials {
            pid: (ok && pid != 0).then_some(pid),
            uid: None,
            gid: None,
        }
    }

    /// Named pipes report no groups.
    pub(crate) fn peer_groups(&self) -> Vec<u32> {
        Vec::new()
    }

    /// Pipes have no half-close: the peer sees the end when we hang up. Returns whether the
    /// stream is still connected.
    pub(crate) fn shutdown_write(&self) -> bool {
        !self.handle().is_null() && lock(&self.tx).failed.is_none()
    }

    /// Cancel what is in flight, close the pipe (the peer reads what we wrote, then the end)
    /// and wake every thread waiting on the stream.
    pub(crate) fn hang_up(&self) {
        let mut rx = lock(&self.rx);
        let mut tx = lock(&self.tx);
        let h = self.handle.swap(std::ptr::null_mut(), Ordering::AcqRel);
        if h.is_null() {
            return;
        }
        rx.op.cancel(h);
        tx.op.cancel(h);
        if matches!(rx.state, ReadState::Pending | ReadState::Idle) {
            rx.state = ReadState::Eof;
        }
        // SAFETY: `h` was ours and nothing uses it any more (both locks held, and it is no
        // longer published in `self.handle`).
        drop(unsafe { OwnedHandle::from_raw_handle(h) });
        // SAFETY: our own events, open.
        unsafe {
            SetEvent(rx.op.event.as_raw_handle());
            SetEvent(tx.op.event.as_raw_handle());
        }
    }

    /// Whether nothing we wrote is still in flight (or can no longer be delivered).
    pub(crate) fn settled(&self) -> bool {
        let mut tx = lock(&self.tx);
        let h = self.handle();
        !tx.op.in_flight || h.is_null() || !matches!(self.drive_write(&mut tx, h), Ok(false))
    }

    /// Read and discard whatever is already there, without waiting.
    pub(crate) fn drain(&self) -> std::result::Result<(), ()> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        // Bounded, so a peer that floods us cannot keep a closing thread here.
        for _ in 0..256 {
            match self.read(&mut buf) {
                Ok(None | Some(0)) => return Ok(()),
                Ok(Some(_)) => continue,
                Err(_) => return Err(()),
            }
        }
        Ok(())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.hang_up();
    }
}
