//! The raw stream baselines: a plain `std::os::unix::net::UnixStream` (`unix`, `unix-spin`), or a
//! pair of FIFOs, one per direction (`pipe`, `pipe-spin`), carrying messages behind a 4-byte
//! little-endian length. No libipc channel code runs here; it shows what the kernel alone
//! costs.
//!
//! The framing is the bench library's [`Framing`] (bench/common, shared with pipe-bench). The
//! `unix` baseline blocks in each read at once. The `unix-spin` baseline first waits the way
//! libipc's stream channels do: a spinner with libipc's default stream spin polls a
//! non-blocking `recv` (`MSG_PEEK | MSG_DONTWAIT`, one byte; for a pipe, `poll` with a zero
//! timeout) until data is there or the adaptive window ends, then the same blocking reads
//! follow (`pipe-spin` waits the same way). Writes never spin.
//!
//! The FIFOs live in the bench's scratch directory: `raw-pipe.down` (bench to peer) and
//! `raw-pipe.up` (peer to bench). The bench opens its reading end without blocking and its
//! writing end read-write (so that opening neither waits for the peer), the peer opens its two
//! ends plainly.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libipc_bench::Framing;
use rustix::event::{PollFd, PollFlags};
use rustix::net::RecvFlags;

use crate::fail::{Fail, Result};
use libipc_bench::Link;

/// What a raw link reads from and writes to.
#[derive(Debug)]
enum Ends {
    Socket(UnixStream),
    /// A FIFO to read and one to write (`None` once closed).
    Pipe {
        read: File,
        write: Option<File>,
    },
}

#[derive(Debug)]
pub(crate) struct RawLink {
    ends: Ends,
    /// Spins before each blocking read (never, for the `unix` baseline: a zero spin).
    framing: Framing,
}

impl RawLink {
    /// A link whose reads first spin for up to `spin` (zero: block at once).
    pub(crate) fn new(stream: UnixStream, spin: Duration) -> RawLink {
        RawLink::with_ends(Ends::Socket(stream), spin)
    }

    fn with_ends(ends: Ends, spin: Duration) -> RawLink {
        RawLink {
            ends,
            framing: Framing::new(spin),
        }
    }

    pub(crate) fn connect(path: &Path, spin: Duration) -> Result<RawLink> {
        let stream = UnixStream::connect(path)
            .map_err(|e| Fail::new(format!("connecting to {}: {e}", path.display())))?;
        Ok(RawLink::new(stream, spin))
    }

    /// The bench's side of the FIFO pair at `base` (`base.down`, `base.up`): makes both FIFOs
    /// and opens them without waiting for the peer.
    pub(crate) fn create_pipe(base: &Path, spin: Duration) -> Result<RawLink> {
        let (down, up) = fifo_paths(base);
        for path in [&down, &up] {
            rustix::fs::mknodat(
                rustix::fs::CWD,
                path,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o600),
                0,
            )
            .map_err(|e| Fail::new(format!("mkfifo {}: {e}", path.display())))?;
        }
        // Read-write, so the open does not wait for a reader (Linux allows it on a FIFO).
        let write = File::options().read(true).write(true).open(&down)?;
        let read = File::options()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&up)?;
        // Reads block from here on (the peer's writer exists once it connects).
        let flags = rustix::fs::fcntl_getfl(&read).map_err(io::Error::from)?;
        rustix::fs::fcntl_setfl(&read, flags - rustix::fs::OFlags::NONBLOCK)
            .map_err(io::Error::from)?;
        Ok(RawLink::with_ends(
            Ends::Pipe {
                read,
                write: Some(write),
            },
            spin,
        ))
    }

    /// The peer's side of the FIFO pair the bench made at `base`.
    pub(crate) fn open_pipe(base: &Path, spin: Duration) -> Result<RawLink> {
        let (down, up) = fifo_paths(base);
        let write = File::options().write(true).open(&up)?;
        let read = File::open(&down)?;
        Ok(RawLink::with_ends(
            Ends::Pipe {
                read,
                write: Some(write),
            },
            spin,
        ))
    }

    /// Send `msg`, or (`None`) the message last received.
    fn send_message(&mut self, msg: Option<&[u8]>) -> io::Result<()> {
        match &self.ends {
            Ends::Socket(s) => self.framing.write(s, msg),
            Ends::Pipe { write: Some(w), .. } => self.framing.write(w, msg),
            Ends::Pipe { write: None, .. } => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
}

fn fifo_paths(base: &Path) -> (PathBuf, PathBuf) {
    let with = |ext: &str| {
        let mut p = base.as_os_str().to_owned();
        p.push(ext);
        PathBuf::from(p)
    };
    (with(".down"), with(".up"))
}

fn reader(ends: &Ends) -> Reader<'_> {
    match ends {
        Ends::Socket(s) => Reader::Socket(s),
        Ends::Pipe { read, .. } => Reader::Pipe(read),
    }
}

/// The reading end, borrowed.
enum Reader<'a> {
    Socket(&'a UnixStream),
    Pipe(&'a File),
}

impl Read for Reader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Reader::Socket(s) => s.read(buf),
            Reader::Pipe(f) => f.read(buf),
        }
    }
}

/// Whether a read would not block: data, end of stream or an error (the read reports the last
/// two).
fn readable(ends: &Ends) -> bool {
    match ends {
        Ends::Socket(stream) => {
            let mut byte = [0u8; 1];
            match rustix::net::recv(stream, &mut byte[..], RecvFlags::PEEK | RecvFlags::DONTWAIT) {
                Ok(_) => true,
                Err(e) => e != rustix::io::Errno::AGAIN && e != rustix::io::Errno::INTR,
            }
        }
        Ends::Pipe { read, .. } => {
            let mut fds = [PollFd::new(read, PollFlags::IN)];
            let zero = rustix::event::Timespec::default();
            !matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(0))
        }
    }
}

impl Link for RawLink {
    fn send(&mut self, msg: &[u8]) -> Result {
        Ok(self.send_message(Some(msg))?)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        let ends = &self.ends;
        Ok(self.framing.read(reader(ends), || readable(ends))?)
    }

    fn echo(&mut self) -> Result {
        self.recv()?;
        Ok(self.send_message(None)?)
    }

    fn close(&mut self) {
        match &mut self.ends {
            Ends::Socket(s) => {
                let _ = s.shutdown(std::net::Shutdown::Write);
            }
            Ends::Pipe { write, .. } => *write = None,
        }
    }
}
