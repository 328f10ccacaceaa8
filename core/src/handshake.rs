//! The connection handshake (blocking): the client sends its hello, the server answers with its
//! own, carrying status 0 or an error code followed by an ERROR frame before it closes.
//! See `docs/wire-format.md`, "Handshake".

use std::io::IoSlice;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Instant;

use crate::conn::PeerCredentials;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::shm::{self, CAP_SHM, ShmSetup};
use crate::sys::{self, Interest};
use crate::wire::{ErrorPayload, FrameHeader, FrameType, HEADER_LEN, Hello, MAX_ERROR_PAYLOAD};

/// A connection whose handshake succeeded.
#[derive(Debug)]
pub(crate) struct Established {
    pub(crate) fd: OwnedFd,
    /// The shared-memory rings and doorbells, for `shm://` connections.
    pub(crate) shm: Option<ShmSetup>,
    pub(crate) peer: PeerCredentials,
    /// Largest message the peer accepts.
    pub(crate) peer_max: u32,
}

fn read_exact(fd: &OwnedFd, buf: &mut [u8], deadline: Instant, what: &str) -> Result<()> {
    let mut done = 0;
    while done < buf.len() {
        if !sys::wait(fd.as_fd(), Interest::Read, Some(deadline))? {
            return Err(Error::new(ErrorKind::Timeout, format!("timed out {what}")));
        }
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and `read_into` only
        // writes initialised bytes into the slice, so `buf` stays initialised.
        let spare =
            unsafe { &mut *(&mut buf[done..] as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        match sys::read_into(fd.as_fd(), spare) {
            Ok(0) => {
                return Err(Error::new(
                    ErrorKind::PeerDisconnected,
                    format!("peer closed the connection during the handshake ({what})"),
                ));
            }
            Ok(n) => done += n,
            Err(e) => return Err(sys::io_error(e, what)),
        }
    }
    Ok(())
}

fn write_all(fd: &OwnedFd, bytes: &[u8], what: &str) -> Result<()> {
    sys::send_all(fd.as_fd(), &mut [IoSlice::new(bytes)])
        .map(|_| ())
        .map_err(|(_, e)| sys::io_error(e, what))
}

/// Read a hello, validating magic, major version and layout.
fn read_hello(fd: &OwnedFd, deadline: Instant) -> Result<Hello> {
    let mut prefix = [0u8; 8];
    read_exact(fd, &mut prefix, deadline, "waiting for the peer's hello")?;
    let (_, _, len) = Hello::decode_prefix(&prefix)?;
    let mut whole = vec![0u8; len as usize];
    whole[..8].copy_from_slice(&prefix);
    read_exact(fd, &mut whole[8..], deadline, "reading the peer's hello")?;
    Hello::decode(&whole)
}

fn check_allowed(opts: &Options, peer: &PeerCredentials) -> Result<()> {
    match (&opts.allowed_uids, peer.uid) {
        (None, _) => Ok(()),
        (Some(list), Some(uid)) if list.contains(&uid) => Ok(()),
        (Some(_), Some(uid)) => Err(Error::new(
            ErrorKind::PermissionDenied,
            format!("peer uid {uid} is not in the allow-list"),
        )),
        (Some(_), None) => Err(Error::new(
            ErrorKind::PermissionDenied,
            "peer credentials unavailable; the uid allow-list cannot be checked",
        )),
    }
}

/// Client side: send our hello, read and check the server's.
fn hello_for(opts: &Options, status: u16, shm: bool) -> Hello {
    let mut h = Hello::new(opts.max_message_u32(), status);
    if shm {
        h.capabilities |= CAP_SHM;
    }
    h
}

/// Client side: send our hello, read and check the server's; for `shm`, take the segment.
pub(crate) fn client(fd: OwnedFd, opts: &Options, shm: bool) -> Result<Established> {
    sys::set_io_timeouts(fd.as_fd(), Some(opts.handshake_timeout))?;
    let peer = sys::peer_credentials(fd.as_fd());
    check_allowed(opts, &peer)
        .map_err(|e| Error::new(e.kind(), format!("refusing the listener: {}", e.message())))?;
    // A listener may refuse before reading our hello; if writing fails because it already
    // closed, its refusal is still waiting to be read, and it says more than EPIPE.
    let sent = write_all(&fd, &hello_for(opts, 0, shm).encode(), "sending hello");
    let deadline = sys::after(opts.handshake_timeout);
    let hello = read_hello(&fd, deadline);
    if let Err(write_err) = sent
        && !matches!(&hello, Ok(h) if h.status != 0)
    {
        return Err(write_err);
    }
    let hello = hello.map_err(|e| match e.kind() {
        ErrorKind::Timeout => Error::new(
            ErrorKind::Timeout,
            format!(
                "no complete hello from the listener within {:?}",
                opts.handshake_timeout
            ),
        ),
        _ => e,
    })?;
    if hello.status != 0 {
        let kind = ErrorKind::from_code(hello.status).unwrap_or(ErrorKind::ProtocolViolation);
        let detail =
            read_refusal(&fd, deadline).unwrap_or_else(|| format!("status {}", hello.status));
        return Err(Error::new(
            kind,
            format!("the listener refused the connection: {detail}"),
        ));
    }
    let shm = if shm {
        if hello.capabilities & CAP_SHM == 0 {
            return Err(Error::new(
                ErrorKind::ProtocolMismatch,
                "the listener does not offer shared memory (it is not an shm:// endpoint)",
            ));
        }
        Some(shm::take_offer(fd.as_fd(), deadline)?)
    } else {
        None
    };
    sys::set_io_timeouts(fd.as_fd(), None)?;
    Ok(Established {
        fd,
        shm,
        peer,
        peer_max: hello.max_message_size,
    })
}

/// The text of the ERROR frame that follows a refusing hello, if it arrives intact.
fn read_refusal(fd: &OwnedFd, deadline: Instant) -> Option<String> {
    let mut h = [0u8; HEADER_LEN];
    read_exact(fd, &mut h, deadline, "reading refusal").ok()?;
    let header = FrameHeader::decode(&h).ok()?;
    if header.frame_type != FrameType::Error || header.length > MAX_ERROR_PAYLOAD {
        return None;
    }
    let mut p = vec![0u8; header.length as usize];
    read_exact(fd, &mut p, deadline, "reading refusal").ok()?;
    ErrorPayload::decode(&p).ok().map(|p| p.message)
}

/// Server side: read the client's hello, check it and the peer's uid, answer.
pub(crate) fn server(fd: OwnedFd, opts: &Options, shm: bool) -> Result<Established> {
    sys::set_io_timeouts(fd.as_fd(), Some(opts.handshake_timeout))?;
    let peer = sys::peer_credentials(fd.as_fd());
    let deadline = sys::after(opts.handshake_timeout);
    let result = check_allowed(opts, &peer).and_then(|()| {
        read_hello(&fd, deadline).map_err(|e| match e.kind() {
            ErrorKind::Timeout => Error::new(
                ErrorKind::Timeout,
                format!(
                    "no complete hello from the client within {:?}",
                    opts.handshake_timeout
                ),
            ),
            _ => e,
        })
    });
    let hello = match result {
        Ok(h) if h.status != 0 => Err(Error::new(
            ErrorKind::ProtocolViolation,
            "client hello has a non-zero status",
        )),
        Ok(h) if shm && h.capabilities & CAP_SHM == 0 => Err(Error::new(
            ErrorKind::ProtocolMismatch,
            "this endpoint serves shm:// clients only",
        )),
        other => other,
    };
    // For shm://, create the segment before accepting, so a failure is a proper refusal.
    let hello = match hello {
        Ok(h) if shm => shm::Offer::create(opts.shm_ring_size as u64).map(|o| (h, Some(o))),
        Ok(h) => Ok((h, None)),
        Err(e) => Err(e),
    };
    match hello {
        Ok((hello, offer)) => {
            write_all(&fd, &hello_for(opts, 0, shm).encode(), "sending hello")?;
            let shm = offer.map(|o| o.send(fd.as_fd())).transpose()?;
            sys::set_io_timeouts(fd.as_fd(), None)?;
            Ok(Established {
                fd,
                shm,
                peer,
                peer_max: hello.max_message_size,
            })
        }
        Err(e) => {
            // Tell the client why, in a form any version can read, then close.
            if e.kind() != ErrorKind::PeerDisconnected {
                let mut reply = hello_for(opts, e.kind().code(), shm).encode().to_vec();
                reply.extend(ErrorPayload::from_error(e.kind(), e.message()).encode_frame());
                let _ = write_all(&fd, &reply, "sending refusal");
            }
            sys::shutdown(fd.as_fd(), true);
            // Read what the client already sent, so closing does not turn into a TCP reset
            // that could discard the refusal before the client reads it.
            let _ = sys::drain_nowait(fd.as_fd());
            Err(e)
        }
    }
}
