//! The raw baselines ([`Baseline`], each a [`LinkKind`]). The shared-memory ones are
//! [`crate::raw_shm`]'s; the stream ones are here: a plain `std::os::unix::net::UnixStream`
//! (`unix`, `unix-spin`), or a pair of FIFOs, one per direction (`pipe`, `pipe-spin`), carrying messages behind a 4-byte
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
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libipc_bench::{Context, Fail, Framing, Link, Pattern, Result};
use rustix::event::{PollFd, PollFlags};
use rustix::net::RecvFlags;

use crate::kind::{BenchSide, Inherit, LinkKind, POLL_SLEEP, Setup};
use crate::raw_shm::{Inherited, ShmLink, Wait};

/// A raw baseline: messages carried with no libipc channel code, measured in the same run as
/// libipc. Its rows' `system` is "raw", its `transport` [`Baseline::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// A Unix stream with a 4-byte length prefix, blocking in every read.
    Unix,
    /// The same stream, spinning before each blocking read the way libipc's stream channels
    /// wait ([`libipc::Spinner`] with libipc's default stream spin).
    UnixSpin,
    /// A FIFO per direction with the same 4-byte length prefix, blocking in every read.
    Pipe,
    /// The same FIFOs, spinning before each blocking read like `unix-spin`.
    PipeSpin,
    /// A shared-memory ring per direction, waiting in shared futexes ([`crate::raw_shm`]).
    ShmFutex,
    /// The same rings, both sides busy-spinning instead of sleeping.
    ShmSpin,
}

/// Every raw baseline, in the order `ipc bench` measures them.
pub const BASELINES: [Baseline; 6] = [
    Baseline::Unix,
    Baseline::UnixSpin,
    Baseline::Pipe,
    Baseline::PipeSpin,
    Baseline::ShmFutex,
    Baseline::ShmSpin,
];

/// The baseline every libipc row is also compared with ("vs blocking"): the plain socket an
/// application would write without libipc.
pub const BLOCKING: Baseline = Baseline::Unix;

impl Baseline {
    /// Its rows' `transport`.
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Unix => "unix",
            Baseline::UnixSpin => "unix-spin",
            Baseline::Pipe => "pipe",
            Baseline::PipeSpin => "pipe-spin",
            Baseline::ShmFutex => "shm-futex",
            Baseline::ShmSpin => "shm-spin",
        }
    }

    /// What it is measured with. Spinning streams like `shm-futex` (whose rings rarely wait
    /// when streaming), so it is measured with round trips only, which keeps the run short.
    pub fn patterns(self) -> &'static [Pattern] {
        match self {
            Baseline::Unix
            | Baseline::UnixSpin
            | Baseline::Pipe
            | Baseline::PipeSpin
            | Baseline::ShmFutex => &Pattern::ALL,
            Baseline::ShmSpin => &[Pattern::Rtt],
        }
    }

    /// How a shared-memory baseline waits; `None` for the streams.
    pub(crate) fn wait(self) -> Option<Wait> {
        match self {
            Baseline::Unix | Baseline::UnixSpin | Baseline::Pipe | Baseline::PipeSpin => None,
            Baseline::ShmFutex => Some(Wait::Futex),
            Baseline::ShmSpin => Some(Wait::Spin),
        }
    }

    /// How long a stream baseline spins before a blocking read (zero: it never spins).
    pub fn stream_spin(self) -> Duration {
        match self {
            Baseline::UnixSpin | Baseline::PipeSpin => libipc::DEFAULT_STREAM_SPIN,
            _ => Duration::ZERO,
        }
    }

    /// Whether it is a pair of FIFOs (else a socket, or shared memory).
    pub fn is_pipe(self) -> bool {
        matches!(self, Baseline::Pipe | Baseline::PipeSpin)
    }
}

/// The peer is told: `SOCKET_PATH` (`unix`, `unix-spin`), `FIFO_BASE` (`pipe`, `pipe-spin`:
/// `FIFO_BASE.down` and `FIFO_BASE.up`) or `MEMFD,ALIVE` (`shm-futex`, `shm-spin`: descriptor
/// numbers inherited from the bench).
impl LinkKind for Baseline {
    fn system(&self) -> &str {
        "raw"
    }

    fn transport(&self) -> &str {
        self.name()
    }

    fn patterns(&self) -> &[Pattern] {
        Baseline::patterns(*self)
    }

    fn bench_side(&self, setup: &Setup<'_>) -> Result<BenchSide> {
        let name = self.name();
        match self.wait() {
            None if self.is_pipe() => {
                let base = setup.dir.join(format!("raw-{name}"));
                let mut link = RawLink::create_pipe(&base, self.stream_spin())
                    .context(format_args!("setting up raw {name}"))?;
                Ok(BenchSide {
                    arg: base.to_string_lossy().into_owned(),
                    inherit: Vec::new(),
                    channel: false,
                    finish: Box::new(move |started| {
                        // Until the peer has opened its writing end, a read here would see
                        // the end of the stream: wait for its hello.
                        started.wait_for(|| Ok(link.hello_waiting().then_some(())))?;
                        if link.recv()? != PIPE_HELLO {
                            return Err(Fail::new(
                                "the raw pipe peer's first message is not its hello",
                            ));
                        }
                        Ok(Box::new(link))
                    }),
                })
            }
            None => {
                let path = setup.dir.join(format!("raw-{name}.sock"));
                let listener = UnixListener::bind(&path)
                    .context(format_args!("binding {}", path.display()))?;
                listener.set_nonblocking(true)?;
                let spin = self.stream_spin();
                Ok(BenchSide {
                    arg: path.to_string_lossy().into_owned(),
                    inherit: Vec::new(),
                    channel: false,
                    finish: Box::new(move |started| {
                        let stream = started.wait_for(|| match listener.accept() {
                            Ok((stream, _)) => Ok(Some(stream)),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                                std::thread::sleep(POLL_SLEEP);
                                Ok(None)
                            }
                            Err(e) => Err(e).context("accepting the raw link"),
                        })?;
                        stream.set_nonblocking(false)?;
                        Ok(Box::new(RawLink::new(stream, spin)))
                    }),
                })
            }
            Some(wait) => {
                let (link, fds) = ShmLink::create(wait, setup.max_message)
                    .context(format_args!("setting up raw {name}"))?;
                Ok(BenchSide {
                    arg: fds.arg(),
                    inherit: fds.into_fds(),
                    channel: false,
                    finish: Box::new(move |_| Ok(Box::new(link))),
                })
            }
        }
    }

    fn inherits(&self, arg: &str) -> Result<Vec<Inherit>> {
        if self.wait().is_none() {
            return Ok(Vec::new());
        }
        let fds = Inherited::parse_arg(arg).ok_or_else(|| {
            Fail::new(format!(
                "expected MEMFD,ALIVE (two different descriptors above 2), got {arg:?}"
            ))
        })?;
        Ok(Inherited::named(fds))
    }

    fn peer_side(&self, arg: &str, inherited: Vec<OwnedFd>) -> Result<Box<dyn Link>> {
        Ok(match self.wait() {
            Some(wait) => Box::new(ShmLink::open(wait, Inherited::from_fds(inherited)?)?),
            None if self.is_pipe() => {
                Box::new(RawLink::open_pipe(arg.as_ref(), self.stream_spin())?)
            }
            None => Box::new(RawLink::connect(arg.as_ref(), self.stream_spin())?),
        })
    }
}

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

    /// The peer's side of the FIFO pair the bench made at `base`; says [`PIPE_HELLO`] once
    /// both ends are open.
    pub(crate) fn open_pipe(base: &Path, spin: Duration) -> Result<RawLink> {
        let (down, up) = fifo_paths(base);
        let write = File::options().write(true).open(&up)?;
        let read = File::open(&down)?;
        let mut link = RawLink::with_ends(
            Ends::Pipe {
                read,
                write: Some(write),
            },
            spin,
        );
        link.send(PIPE_HELLO)?;
        Ok(link)
    }

    /// Whether something waits to be read, after up to 50 ms (the bench's side of a pipe,
    /// waiting for the peer's hello).
    fn hello_waiting(&self) -> bool {
        let Ends::Pipe { read, .. } = &self.ends else {
            return true;
        };
        let mut fds = [PollFd::new(read, PollFlags::IN)];
        let wait = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 50_000_000,
        };
        matches!(rustix::event::poll(&mut fds, Some(&wait)), Ok(n) if n > 0)
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

/// The peer's first message on a raw pipe: until the peer has opened its writing end, the
/// bench's reads would see the end of the stream.
const PIPE_HELLO: &[u8] = b"raw-pipe-hello";

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
