//! The raw socket baselines: a plain `std::os::unix::net::UnixStream` carrying messages behind a
//! 4-byte little-endian length. No libipc channel code runs here; it shows what the kernel alone
//! costs.
//!
//! A message is written with one `write_all` of a reused buffer holding header and payload; it
//! is read with `read_exact` of the 4 header bytes, then `read_exact` of the payload into a
//! reused buffer. The `unix` baseline blocks in that read at once. The `unix-spin` baseline
//! first waits the way libipc's stream channels do: a [`Spinner`] with libipc's default
//! stream spin polls a non-blocking `recv` (`MSG_PEEK | MSG_DONTWAIT`, one byte) until data is
//! there or the adaptive window ends, then the same blocking reads follow. Writes never spin
//! (a 4 MiB-ish socket buffer rarely fills at the sizes measured).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use libipc::Spinner;
use rustix::net::RecvFlags;

use super::link::Link;
use crate::fail::{Fail, Result};

/// Refuse absurd lengths rather than allocate them (the bench never sends more than 16 MiB).
const MAX_MESSAGE: usize = 64 << 20;

#[derive(Debug)]
pub(crate) struct RawLink {
    stream: UnixStream,
    /// Spins before each blocking read (never, for the `unix` baseline: a zero maximum).
    spinner: Spinner,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    len: usize,
}

impl RawLink {
    /// A link whose reads first spin for up to `spin` (zero: block at once).
    pub(crate) fn new(stream: UnixStream, spin: Duration) -> RawLink {
        RawLink {
            stream,
            spinner: Spinner::new(spin),
            read_buf: Vec::new(),
            write_buf: Vec::new(),
            len: 0,
        }
    }

    pub(crate) fn connect(path: &Path, spin: Duration) -> Result<RawLink> {
        let stream = UnixStream::connect(path)
            .map_err(|e| Fail::new(format!("connecting to {}: {e}", path.display())))?;
        Ok(RawLink::new(stream, spin))
    }

    fn read_message(&mut self) -> io::Result<()> {
        let started = std::time::Instant::now();
        let won = self.spinner.enabled() && {
            let stream = &self.stream;
            self.spinner.spin(|| readable(stream), None)
        };
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header)?;
        if self.spinner.enabled() && !won {
            self.spinner.blocked(started);
        }
        let len = u32::from_le_bytes(header) as usize;
        if len > MAX_MESSAGE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("raw peer sent a {len}-byte length"),
            ));
        }
        if self.read_buf.len() < len {
            self.read_buf.resize(len, 0);
        }
        self.stream.read_exact(&mut self.read_buf[..len])?;
        self.len = len;
        Ok(())
    }
}

/// Whether a read would not block: data, end of stream or an error (the read reports the last
/// two).
fn readable(stream: &UnixStream) -> bool {
    let mut byte = [0u8; 1];
    match rustix::net::recv(stream, &mut byte[..], RecvFlags::PEEK | RecvFlags::DONTWAIT) {
        Ok(_) => true,
        Err(e) => e != rustix::io::Errno::AGAIN && e != rustix::io::Errno::INTR,
    }
}

fn write_message(stream: &mut UnixStream, buf: &mut Vec<u8>, msg: &[u8]) -> io::Result<()> {
    buf.clear();
    buf.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    buf.extend_from_slice(msg);
    stream.write_all(buf)
}

impl Link for RawLink {
    fn send(&mut self, msg: &[u8]) -> Result {
        Ok(write_message(&mut self.stream, &mut self.write_buf, msg)?)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        self.read_message()?;
        Ok(&self.read_buf[..self.len])
    }

    fn echo(&mut self) -> Result {
        self.read_message()?;
        let msg = &self.read_buf[..self.len];
        Ok(write_message(&mut self.stream, &mut self.write_buf, msg)?)
    }

    fn close(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }
}
