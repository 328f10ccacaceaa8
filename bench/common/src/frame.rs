//! The raw baselines' framing: no libipc channel code, a 4-byte little-endian length and the
//! payload, over any byte stream (a Unix socket, a FIFO pair, a Windows named pipe).
//!
//! A message is written with one `write_all` of a reused buffer holding header and payload; it
//! is read with `read_exact` of the 4 header bytes, then `read_exact` of the payload into a
//! reused buffer. With a zero spin the read blocks at once; otherwise it first waits the way
//! libipc's stream channels do: a [`Spinner`] polls the caller's `readable` check until data is
//! there or the adaptive window ends, then the same blocking reads follow. Writes never spin.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use libipc::Spinner;

/// Refuse absurd lengths rather than allocate them (the benches never send more than 16 MiB).
const MAX_MESSAGE: usize = 64 << 20;

/// One raw link's framing state: its spinner and reused buffers.
#[derive(Debug)]
pub struct Framing {
    /// Spins before each blocking read (never, with a zero maximum).
    spinner: Spinner,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    len: usize,
}

impl Framing {
    /// Reads first spin for up to `spin` (zero: they block at once).
    pub fn new(spin: Duration) -> Framing {
        Framing {
            spinner: Spinner::new(spin),
            read_buf: Vec::new(),
            write_buf: Vec::new(),
            len: 0,
        }
    }

    /// Read one message from `reader`, first spinning until `readable` says a read would not
    /// block (data, end of stream or an error, which the read then reports).
    pub fn read(
        &mut self,
        mut reader: impl Read,
        readable: impl FnMut() -> bool,
    ) -> io::Result<&[u8]> {
        let started = Instant::now();
        let won = self.spinner.enabled() && self.spinner.spin(readable, None);
        let mut header = [0u8; 4];
        reader.read_exact(&mut header)?;
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
        reader.read_exact(&mut self.read_buf[..len])?;
        self.len = len;
        Ok(&self.read_buf[..len])
    }

    /// Write `msg` to `writer`, or (`None`) the message last read.
    pub fn write(&mut self, mut writer: impl Write, msg: Option<&[u8]>) -> io::Result<()> {
        let msg = msg.unwrap_or(&self.read_buf[..self.len]);
        let buf = &mut self.write_buf;
        buf.clear();
        buf.extend_from_slice(&(msg.len() as u32).to_le_bytes());
        buf.extend_from_slice(msg);
        writer.write_all(buf)
    }
}
