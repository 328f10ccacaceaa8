//! [`Stream`]: a connected, non-blocking duplex byte stream, whichever way it is carried (a
//! socket, or a pair of FIFOs). Every method answers for both kinds; the kinds themselves
//! live in `socket.rs` and `fifo.rs`.

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};

use super::fifo::FifoStream;
use super::socket::SocketStream;
use super::wait::Source;
use crate::conn::PeerCredentials;
use crate::error::Result;

/// A connected, non-blocking byte stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// A Unix or TCP socket.
    Socket(SocketStream),
    /// Two FIFOs, one per direction (`fifo://`).
    Fifo(FifoStream),
}

/// Call the same method on whichever kind of stream this is.
macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Stream::Socket($s) => $e,
            Stream::Fifo($s) => $e,
        }
    };
}

impl Stream {
    /// Read what is there into `buf` without waiting: `Some(n)` bytes (`Some(0)`: the peer
    /// closed its side), or `None` if nothing is there yet.
    pub(crate) fn read(&self, buf: &mut [MaybeUninit<u8>]) -> Result<Option<usize>> {
        each!(self, s => s.read(buf))
    }

    /// Write as much of `bufs` (at most 4 slices) as fits now, without waiting and never
    /// raising SIGPIPE; returns how many bytes went out (0 if none fit).
    pub(crate) fn write(&self, bufs: &[IoSlice<'_>]) -> Result<usize> {
        each!(self, s => s.write(bufs))
    }

    /// Best-effort write of a small frame without waiting (error reports, CLOSE from `Drop`):
    /// whether all of it went out.
    pub(crate) fn write_now(&self, bytes: &[u8]) -> bool {
        each!(self, s => s.write_now(bytes))
    }

    /// Wait here for the stream to become readable.
    pub(crate) fn read_source(&self) -> Source {
        each!(self, s => s.read_source())
    }

    /// Wait here for room to write.
    pub(crate) fn write_source(&self) -> Source {
        each!(self, s => s.write_source())
    }

    /// What a wait for reading watches when another thread may [`hang_up`](Self::hang_up)
    /// meanwhile: the read source, and for FIFOs (which cannot be shut down under a waiting
    /// thread) a bell that `hang_up` rings.
    pub(crate) fn read_sources(&self) -> Vec<Source> {
        match self {
            Stream::Socket(s) => vec![s.read_source()],
            Stream::Fifo(s) => vec![s.read_source(), s.hang_up_source()],
        }
    }

    /// Like [`read_sources`](Self::read_sources), for writing.
    pub(crate) fn write_sources(&self) -> Vec<Source> {
        match self {
            Stream::Socket(s) => vec![s.write_source()],
            Stream::Fifo(s) => vec![s.write_source(), s.hang_up_source()],
        }
    }

    /// The peer's credentials where the OS reports them.
    pub(crate) fn peer_credentials(&self) -> PeerCredentials {
        each!(self, s => s.peer_credentials())
    }

    /// The peer's supplementary groups where the OS reports them (Unix sockets on Linux);
    /// empty otherwise (FIFOs: only the primary gid, in [`peer_credentials`](Self::peer_credentials)).
    pub(crate) fn peer_groups(&self) -> Vec<u32> {
        match self {
            Stream::Socket(s) => s.peer_groups(),
            Stream::Fifo(_) => Vec::new(),
        }
    }

    /// Shut down our sending side (the peer reads EOF after what we sent). Returns whether
    /// the stream was still connected.
    pub(crate) fn shutdown_write(&self) -> bool {
        each!(self, s => s.shutdown_write())
    }

    /// Shut down both directions, which wakes every thread waiting on the stream (waiting on
    /// [`read_sources`](Self::read_sources) / [`write_sources`](Self::write_sources)).
    pub(crate) fn hang_up(&self) {
        each!(self, s => s.hang_up())
    }

    /// Whether nothing we sent is still in flight (see `SocketStream::settled`; bytes in a
    /// pipe outlive its writer, so a FIFO stream is always settled).
    pub(crate) fn settled(&self) -> bool {
        each!(self, s => s.settled())
    }

    /// Read and discard whatever is already queued, without waiting.
    pub(crate) fn drain(&self) -> std::result::Result<(), ()> {
        each!(self, s => s.drain())
    }
}

impl AsFd for Stream {
    /// The descriptor that becomes readable with input (a socket; a FIFO's read end).
    fn as_fd(&self) -> BorrowedFd<'_> {
        each!(self, s => s.as_fd())
    }
}
