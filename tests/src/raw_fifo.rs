//! The `fifo://` connection set-up done by hand, from `docs/wire-format.md` ("Unix FIFOs"),
//! so the raw-client tests (`raw.rs`) run over FIFOs too: a client that writes the 64-byte
//! request into the rendezvous, and a listener that reads requests and opens the pair.
//!
//! Both yield a [`RawFifo`]: a blocking reader and writer over the two FIFOs, every read
//! guarded by a poll against hanging forever.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use libipc::wire::{FIFO_REQUEST_LEN, FifoRequest};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::{Mode, OFlags};

/// One connection over two FIFOs.
#[derive(Debug)]
pub struct RawFifo {
    rd: File,
    wr: Option<File>,
    /// Client side, until the server's first byte: a reader of `up`, so writes before the
    /// server opens it do not fail.
    keeper: Option<File>,
    guard: Duration,
    nonblocking: bool,
}

fn os(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

fn open(path: &Path, flags: OFlags) -> io::Result<File> {
    let fd: OwnedFd = rustix::fs::open(
        path,
        flags | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
    )
    .map_err(os)?;
    Ok(File::from(fd))
}

/// Make a descriptor opened non-blocking block again.
fn blocking(f: File) -> io::Result<File> {
    let flags = rustix::fs::fcntl_getfl(&f).map_err(os)?;
    rustix::fs::fcntl_setfl(&f, flags - OFlags::NONBLOCK).map_err(os)?;
    Ok(f)
}

/// Poll `f` for `events` up to `timeout`: the events seen (empty: timed out).
fn poll(f: &impl AsFd, events: PollFlags, timeout: Duration) -> io::Result<PollFlags> {
    let mut fds = [PollFd::new(f, events)];
    let t = Timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    loop {
        match rustix::event::poll(&mut fds, Some(&t)) {
            Ok(0) => return Ok(PollFlags::empty()),
            Ok(_) => return Ok(fds[0].revents()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(os(e)),
        }
    }
}

fn conn_path(rendezvous: &Path, token: &str, end: &str) -> PathBuf {
    PathBuf::from(format!("{}.{token}.{end}", rendezvous.display()))
}

/// Connect through the rendezvous FIFO at `rendezvous` by hand.
pub fn connect(rendezvous: &Path, guard: Duration) -> io::Result<RawFifo> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let token = format!(
        "raw-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    connect_with(rendezvous, &token, guard)
}

/// Connect by hand with the given token (which must be fresh).
pub fn connect_with(rendezvous: &Path, token: &str, guard: Duration) -> io::Result<RawFifo> {
    connect_with_mode(rendezvous, token, 0o600, guard)
}

/// Connect by hand with the given token, giving the connection FIFOs `mode`.
pub fn connect_with_mode(
    rendezvous: &Path,
    token: &str,
    mode: u32,
    guard: Duration,
) -> io::Result<RawFifo> {
    let rv = open(rendezvous, OFlags::WRONLY)?;
    let (up, down) = (
        conn_path(rendezvous, token, "up"),
        conn_path(rendezvous, token, "down"),
    );
    for p in [&up, &down] {
        rustix::fs::mkfifoat(rustix::fs::CWD, p, Mode::from_raw_mode(0o600)).map_err(os)?;
        rustix::fs::chmod(p, Mode::from_raw_mode(mode)).map_err(os)?;
    }
    let rd = open(&down, OFlags::RDONLY)?;
    let keeper = open(&up, OFlags::RDONLY)?;
    let wr = blocking(open(&up, OFlags::WRONLY)?)?;
    let request = FifoRequest::new(token).map_err(io::Error::other)?;
    (&rv).write_all(&request.encode())?;
    Ok(RawFifo {
        rd: blocking(rd)?,
        wr: Some(wr),
        keeper: Some(keeper),
        guard,
        nonblocking: false,
    })
}

/// A rendezvous FIFO served by hand.
#[derive(Debug)]
pub struct RawFifoListener {
    path: PathBuf,
    rv: File,
}

impl RawFifoListener {
    /// Create the rendezvous at `path` (mode 0600) and hold it open.
    pub fn bind(path: &Path) -> io::Result<RawFifoListener> {
        rustix::fs::mkfifoat(rustix::fs::CWD, path, Mode::from_raw_mode(0o600)).map_err(os)?;
        let rv = blocking(open(path, OFlags::RDWR)?)?;
        Ok(RawFifoListener {
            path: path.to_owned(),
            rv,
        })
    }

    /// Read one request and open its FIFOs (removing their files).
    pub fn accept(&self, guard: Duration) -> io::Result<RawFifo> {
        let (up, down) = self.next_request(guard)?;
        open_pair(&up, &down, guard)
    }

    /// Read one request: the paths of its `up` and `down` FIFOs.
    pub fn next_request(&self, guard: Duration) -> io::Result<(PathBuf, PathBuf)> {
        if poll(&self.rv, PollFlags::IN, guard)?.is_empty() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no request"));
        }
        let mut record = [0u8; FIFO_REQUEST_LEN];
        (&self.rv).read_exact(&mut record)?;
        let req = FifoRequest::decode(&record).map_err(io::Error::other)?;
        Ok((
            conn_path(&self.path, &req.token, "up"),
            conn_path(&self.path, &req.token, "down"),
        ))
    }
}

/// Server side: open a requested pair of FIFOs (and remove their files).
pub fn open_pair(up: &Path, down: &Path, guard: Duration) -> io::Result<RawFifo> {
    {
        let rd = blocking(open(up, OFlags::RDONLY)?)?;
        let wr = blocking(open(down, OFlags::WRONLY)?)?;
        std::fs::remove_file(up)?;
        std::fs::remove_file(down)?;
        Ok(RawFifo {
            rd,
            wr: Some(wr),
            keeper: None,
            guard,
            nonblocking: false,
        })
    }
}

impl Drop for RawFifoListener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl RawFifo {
    /// Close our writing end: the peer reads EOF after what we sent.
    pub fn shutdown_write(&mut self) {
        self.keeper = None;
        self.wr = None;
    }

    /// Reads return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&mut self, on: bool) {
        self.nonblocking = on;
    }
}

impl Read for RawFifo {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wait = if self.nonblocking {
            Duration::ZERO
        } else {
            self.guard
        };
        // After poll says ready, an empty read is the end (a FIFO nobody has opened for
        // writing yet polls as not ready).
        if poll(&self.rd, PollFlags::IN, wait)?.is_empty() {
            return Err(if self.nonblocking {
                io::ErrorKind::WouldBlock.into()
            } else {
                io::Error::new(io::ErrorKind::TimedOut, "raw FIFO read guard expired")
            });
        }
        let n = self.rd.read(buf)?;
        if n > 0 {
            self.keeper = None;
        }
        Ok(n)
    }
}

impl Write for RawFifo {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.wr {
            Some(w) => w.write(buf),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
