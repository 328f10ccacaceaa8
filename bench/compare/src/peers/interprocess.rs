//! `interprocess` (2.4): its local socket (a Unix stream socket here) with a hand-made framing,
//! a little-endian u32 length before each message, header and payload written in one call, as
//! the raw `unix` baseline does. Blocking reads, no spinning: compared with raw `unix`.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

use interprocess::local_socket::traits::{Listener as _, Stream as _};
use interprocess::local_socket::{
    GenericFilePath, ListenerNonblockingMode, ListenerOptions, Stream, ToFsName,
};
use libipc_bench::{Context, Fail, Link, Pattern, Result};
use libipc_bench_unix::{BenchSide, LinkKind, POLL_SLEEP, Setup};

/// A connected local socket with the length prefix.
struct Framed {
    /// `None` once closed: interprocess has no half-close, so closing drops the stream (the
    /// other side's receive then ends).
    stream: Option<Stream>,
    /// The last frame received or sent, header included.
    buf: Vec<u8>,
}

impl Framed {
    fn new(stream: Stream) -> Framed {
        Framed {
            stream: Some(stream),
            buf: Vec::new(),
        }
    }

    fn stream(&mut self) -> Result<&mut Stream> {
        self.stream
            .as_mut()
            .ok_or_else(|| Fail::new("the interprocess stream is closed"))
    }

    /// Read one frame into `buf`; the payload is `buf[4..]`.
    fn read_frame(&mut self) -> Result {
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| Fail::new("the interprocess stream is closed"))?;
        self.buf.resize(4, 0);
        stream.read_exact(&mut self.buf[..4])?;
        let len = u32::from_le_bytes(self.buf[..4].try_into().expect("4 bytes")) as usize;
        self.buf.resize(4 + len, 0);
        stream.read_exact(&mut self.buf[4..])?;
        Ok(())
    }
}

impl Link for Framed {
    fn send(&mut self, msg: &[u8]) -> Result {
        let len = u32::try_from(msg.len()).map_err(|_| Fail::new("message over 4 GiB"))?;
        self.buf.clear();
        self.buf.extend_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(msg);
        let frame = std::mem::take(&mut self.buf);
        let sent = self.stream()?.write_all(&frame);
        self.buf = frame;
        Ok(sent?)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        self.read_frame()?;
        Ok(&self.buf[4..])
    }

    fn echo(&mut self) -> Result {
        self.read_frame()?;
        // The frame goes back as it came, header and all.
        let frame = std::mem::take(&mut self.buf);
        let sent = self.stream()?.write_all(&frame);
        self.buf = frame;
        Ok(sent?)
    }

    fn close(&mut self) {
        self.stream = None;
    }
}

/// The `interprocess:unix` rows.
#[derive(Debug)]
pub(crate) struct Kind;

impl LinkKind for Kind {
    fn system(&self) -> &str {
        "interprocess"
    }

    fn transport(&self) -> &str {
        "unix"
    }

    fn patterns(&self) -> &[Pattern] {
        &Pattern::ALL
    }

    fn same_wait(&self) -> Option<&str> {
        Some(libipc_bench_unix::Baseline::Unix.name())
    }

    fn bench_side(&self, setup: &Setup<'_>) -> Result<BenchSide> {
        let path = setup.dir.join("interprocess.sock");
        let name = path
            .as_path()
            .to_fs_name::<GenericFilePath>()
            .context("naming the interprocess socket")?;
        let listener = ListenerOptions::new()
            .name(name)
            .nonblocking(ListenerNonblockingMode::Accept)
            .create_sync()
            .context("binding the interprocess socket")?;
        Ok(BenchSide {
            arg: path.to_string_lossy().into_owned(),
            inherit: Vec::new(),
            channel: false,
            finish: Box::new(move |started| {
                let stream = started.wait_for(|| match listener.accept() {
                    Ok(stream) => Ok(Some(stream)),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(POLL_SLEEP);
                        Ok(None)
                    }
                    Err(e) => Err(e.into()),
                })?;
                stream
                    .set_nonblocking(false)
                    .context("making the interprocess stream blocking")?;
                Ok(Box::new(Framed::new(stream)))
            }),
        })
    }

    fn peer_side(&self, arg: &str, _: Vec<OwnedFd>) -> Result<Box<dyn Link>> {
        let path = std::path::Path::new(arg);
        let name = path
            .to_fs_name::<GenericFilePath>()
            .context("naming the interprocess socket")?;
        let stream = Stream::connect(name).context("connecting the interprocess socket")?;
        Ok(Box::new(Framed::new(stream)))
    }
}
