//! Speaking wire format v1 by hand over a plain socket (or, for `fifo://`, two FIFOs set up
//! by hand: `raw_fifo.rs`; on Windows, a named pipe opened as a file), to test what a
//! listener does with clients that misbehave. Encoding uses `libipc::wire` only for the
//! well-formed parts.

use std::io::{self, Read, Write};
use std::net::TcpStream;
#[cfg(target_os = "linux")]
use std::os::linux::net::SocketAddrExt;
#[cfg(unix)]
use std::os::unix::net::{SocketAddr, UnixStream};
use std::time::Duration;

#[cfg(unix)]
use crate::raw_fifo::{self, RawFifo, RawFifoListener};
use libipc::Endpoint;
use libipc::wire::{ErrorPayload, FrameHeader, FrameType, HEADER_LEN, Hello};

/// How long a raw read waits before the test is declared stuck (a hang guard only).
const READ_GUARD: Duration = Duration::from_secs(60);

/// A plain connected socket, Unix or TCP, or a Windows named pipe.
#[derive(Debug)]
pub enum RawStream {
    /// Unix domain (socket file or abstract).
    #[cfg(unix)]
    Unix(UnixStream),
    /// TCP.
    Tcp(TcpStream),
    /// Two FIFOs (`fifo://`).
    #[cfg(unix)]
    Fifo(RawFifo),
    /// A named pipe's client end, opened as a file (blocking; no read timeout: the
    /// watchdog guards against hangs).
    #[cfg(windows)]
    Pipe(std::fs::File),
}

/// Connect without libipc. Bare names resolve through this process's `LIBIPC_RUNTIME_DIR`
/// (so pass the test's `site.here()`, or use it in a child started with the site's env).
pub fn connect(endpoint: &str) -> io::Result<RawStream> {
    let ep = Endpoint::parse(endpoint).map_err(io::Error::other)?;
    let stream = match &ep {
        Endpoint::Tcp { host, port } => RawStream::Tcp(TcpStream::connect((host.as_str(), *port))?),
        #[cfg(target_os = "linux")]
        Endpoint::UnixAbstract(name) => RawStream::Unix(UnixStream::connect_addr(
            &SocketAddr::from_abstract_name(name.as_bytes())?,
        )?),
        #[cfg(unix)]
        Endpoint::Fifo(_) => {
            let path = ep.fifo_path().map_err(io::Error::other)?.expect("a FIFO");
            RawStream::Fifo(raw_fifo::connect(&path, READ_GUARD)?)
        }
        #[cfg(windows)]
        Endpoint::Pipe(name) | Endpoint::Named(name) => RawStream::Pipe(
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(format!(r"\\.\pipe\{name}"))?,
        ),
        #[cfg(windows)]
        other => return Err(io::Error::other(format!("{other}: not on Windows"))),
        #[cfg(unix)]
        other => {
            let path = other
                .socket_path()
                .map_err(io::Error::other)?
                .ok_or_else(|| io::Error::other(format!("{other} has no socket")))?;
            RawStream::Unix(UnixStream::connect(path)?)
        }
    };
    stream.set_read_timeout(Some(READ_GUARD))?;
    Ok(stream)
}

/// A plain listening socket at `endpoint` (as the test process names it, see
/// [`connect`]), and the endpoint clients should use (with the real TCP port). (Unix.)
#[derive(Debug)]
pub enum RawListener {
    /// Unix domain.
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener),
    /// TCP.
    Tcp(std::net::TcpListener),
    /// A rendezvous FIFO.
    #[cfg(unix)]
    Fifo(RawFifoListener),
}

impl RawListener {
    /// Listen at `endpoint`; returns the listener and the endpoint it is reachable at.
    #[cfg(unix)]
    pub fn bind(endpoint: &str) -> io::Result<(RawListener, String)> {
        use std::os::unix::net::UnixListener;
        let ep = Endpoint::parse(endpoint).map_err(io::Error::other)?;
        Ok(match &ep {
            Endpoint::Tcp { host, port } => {
                let l = std::net::TcpListener::bind((host.as_str(), *port))?;
                let actual = format!("tcp://{}", l.local_addr()?);
                (RawListener::Tcp(l), actual)
            }
            Endpoint::UnixAbstract(name) => {
                let addr = SocketAddr::from_abstract_name(name.as_bytes())?;
                (
                    RawListener::Unix(UnixListener::bind_addr(&addr)?),
                    endpoint.to_owned(),
                )
            }
            Endpoint::Fifo(_) => {
                let path = ep.fifo_path().map_err(io::Error::other)?.expect("a FIFO");
                (
                    RawListener::Fifo(RawFifoListener::bind(&path)?),
                    endpoint.to_owned(),
                )
            }
            other => {
                let path = other.socket_path().map_err(io::Error::other)?;
                let path = path.ok_or_else(|| io::Error::other("no socket path"))?;
                (
                    RawListener::Unix(UnixListener::bind(path)?),
                    endpoint.to_owned(),
                )
            }
        })
    }

    /// Accept one connection.
    pub fn accept(&self) -> io::Result<RawStream> {
        let s = match self {
            #[cfg(unix)]
            RawListener::Unix(l) => RawStream::Unix(l.accept()?.0),
            RawListener::Tcp(l) => RawStream::Tcp(l.accept()?.0),
            #[cfg(unix)]
            RawListener::Fifo(l) => RawStream::Fifo(l.accept(READ_GUARD)?),
        };
        s.set_read_timeout(Some(READ_GUARD))?;
        Ok(s)
    }
}

/// A v1 client hello advertising `max` bytes.
pub fn hello(max: u32) -> [u8; 24] {
    Hello::new(max, 0).encode()
}

/// The 8 header bytes of a DATA frame of `len` bytes.
pub fn data_header(len: u32) -> [u8; HEADER_LEN] {
    FrameHeader::data(len).encode()
}

/// A complete DATA frame.
pub fn data_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = data_header(payload.len() as u32).to_vec();
    f.extend_from_slice(payload);
    f
}

/// A CLOSE frame.
pub fn close_frame() -> [u8; HEADER_LEN] {
    FrameHeader {
        length: 0,
        frame_type: FrameType::Close,
        flags: 0,
    }
    .encode()
}

/// Everything the peer sends until the connection ends: end of stream or a reset (a channel
/// closed with unread input resets a Unix socket too). Panics on any other error.
pub fn read_until_closed(s: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return out,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading until the peer closes: {e}"),
        }
    }
}

impl RawStream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            RawStream::Unix(s) => s.set_read_timeout(t),
            RawStream::Tcp(s) => s.set_read_timeout(t),
            #[cfg(unix)]
            RawStream::Fifo(_) => Ok(()), // every read is guarded by READ_GUARD already
            #[cfg(windows)]
            RawStream::Pipe(_) => Ok(()),
        }
    }

    fn set_nonblocking(&mut self, on: bool) -> io::Result<()> {
        match self {
            #[cfg(unix)]
            RawStream::Unix(s) => s.set_nonblocking(on),
            RawStream::Tcp(s) => s.set_nonblocking(on),
            #[cfg(unix)]
            RawStream::Fifo(s) => {
                s.set_nonblocking(on);
                Ok(())
            }
            #[cfg(windows)]
            RawStream::Pipe(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a named pipe opened as a file cannot be made non-blocking",
            )),
        }
    }

    /// Send bytes, panicking on failure.
    pub fn put(&mut self, bytes: &[u8]) {
        self.write_all(bytes).expect("raw write");
    }

    /// Read exactly `n` bytes.
    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut b = vec![0; n];
        self.read_exact(&mut b)
            .unwrap_or_else(|e| panic!("raw read of {n} bytes: {e}"));
        b
    }

    /// Read and decode the peer's (24-byte, v1.0) hello.
    pub fn read_hello(&mut self) -> Hello {
        let b = self.read_n(24);
        Hello::decode(&b).unwrap_or_else(|e| panic!("reply is not a hello ({b:02x?}): {e}"))
    }

    /// Send a v1 hello and return the accepting reply (status 0).
    pub fn handshake(&mut self, max: u32) -> Hello {
        self.put(&hello(max));
        let reply = self.read_hello();
        assert_eq!(reply.status, 0, "listener refused a valid hello: {reply:?}");
        reply
    }

    /// Read one frame: its header and payload.
    pub fn read_frame(&mut self) -> (FrameHeader, Vec<u8>) {
        let h: [u8; HEADER_LEN] = self.read_n(HEADER_LEN).try_into().unwrap();
        let header = FrameHeader::decode(&h).unwrap_or_else(|e| panic!("bad header {h:02x?}: {e}"));
        let payload = self.read_n(header.length as usize);
        (header, payload)
    }

    /// Read one frame, which must be an ERROR frame; return its payload.
    pub fn read_error_frame(&mut self) -> ErrorPayload {
        let (header, payload) = self.read_frame();
        assert_eq!(
            header.frame_type,
            FrameType::Error,
            "expected an ERROR frame"
        );
        ErrorPayload::decode(&payload).expect("well-formed ERROR payload")
    }

    /// Read one frame, which must be a DATA frame; return its payload.
    pub fn read_data(&mut self) -> Vec<u8> {
        let (header, payload) = self.read_frame();
        assert_eq!(header.frame_type, FrameType::Data, "expected a DATA frame");
        payload
    }

    /// The peer has closed the connection: the next read reports end of stream (or a reset,
    /// which is how a peer that closes with unread input ends the stream).
    pub fn assert_closed(&mut self) {
        let mut b = [0u8; 64];
        match self.read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Ok(n) => panic!("expected the connection to be closed, got {:02x?}", &b[..n]),
            Err(e) => panic!("expected the connection to be closed, got {e}"),
        }
    }

    /// Half-close: tell the peer nothing more will be sent.
    pub fn shutdown_write(&mut self) {
        let r = match self {
            #[cfg(unix)]
            RawStream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
            RawStream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            #[cfg(unix)]
            RawStream::Fifo(s) => {
                s.shutdown_write();
                Ok(())
            }
            #[cfg(windows)]
            RawStream::Pipe(_) => panic!("named pipes have no half-close"),
        };
        r.expect("shutdown");
    }

    /// Nothing has arrived and the connection is still open (does not wait).
    pub fn assert_nothing_received(&mut self) {
        self.set_nonblocking(true).expect("nonblocking");
        let mut b = [0u8; 64];
        let r = self.read(&mut b);
        self.set_nonblocking(false).expect("blocking");
        match r {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Ok(0) => panic!("the connection was closed"),
            Ok(n) => panic!("unexpected bytes {:02x?}", &b[..n]),
            Err(e) => panic!("unexpected error {e}"),
        }
    }
}

impl Read for RawStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            RawStream::Unix(s) => s.read(buf),
            RawStream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            RawStream::Fifo(s) => s.read(buf),
            #[cfg(windows)]
            RawStream::Pipe(s) => s.read(buf),
        }
    }
}

impl Write for RawStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            #[cfg(unix)]
            RawStream::Unix(s) => s.write(buf),
            RawStream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            RawStream::Fifo(s) => s.write(buf),
            #[cfg(windows)]
            RawStream::Pipe(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
