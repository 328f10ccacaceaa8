//! The connection handshake, the same on every transport: the client sends its hello, the
//! server answers with its own, carrying status 0 or an error code followed by an ERROR frame
//! before it closes. Then the transport makes the connection's link (see `transport/`). See
//! `docs/wire-format.md`, "Handshake".
//!
//! Timeouts come from deadlines and waits on the stream, never from socket options, so any
//! stream a transport yields can be handshaken.

use std::fmt;
use std::io::IoSlice;
use std::sync::Arc;
use std::time::Instant;

use crate::conn::{Conn, PeerCredentials};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::link::Link;
use crate::options::Options;
use crate::sys::{self, Stream};
use crate::transport::Transport;
use crate::wait::after;
use crate::wire::{
    CAP_PUBSUB, CAP_RPC, ErrorPayload, FrameHeader, FrameType, HEADER_LEN, Hello, MAX_ERROR_PAYLOAD,
};

fn read_exact(stream: &Stream, buf: &mut [u8], deadline: Instant, what: &str) -> Result<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: `[u8]` and `[MaybeUninit<u8>]` have the same layout, and `read` only writes
        // initialised bytes into the slice, so `buf` stays initialised.
        let spare =
            unsafe { &mut *(&mut buf[done..] as *mut [u8] as *mut [std::mem::MaybeUninit<u8>]) };
        match stream.read(spare)? {
            Some(0) => {
                return Err(Error::new(
                    ErrorKind::PeerDisconnected,
                    format!("peer closed the connection during the handshake ({what})"),
                ));
            }
            Some(n) => done += n,
            None => {
                if sys::wait_any(&[stream.read_source()], [None, None], Some(deadline))?.timed_out()
                {
                    return Err(Error::new(ErrorKind::Timeout, format!("timed out {what}")));
                }
            }
        }
    }
    Ok(())
}

fn write_all(stream: &Stream, bytes: &[u8], deadline: Instant, what: &str) -> Result<()> {
    let mut done = 0;
    while done < bytes.len() {
        done += stream
            .write(&[IoSlice::new(&bytes[done..])])
            .map_err(|e| Error::new(e.kind(), format!("{what}: {}", e.message())))?;
        if done < bytes.len()
            && sys::wait_any(&[stream.write_source()], [None, None], Some(deadline))?.timed_out()
        {
            return Err(Error::new(ErrorKind::Timeout, format!("timed out {what}")));
        }
    }
    Ok(())
}

/// Read a hello, validating magic, major version and layout.
fn read_hello(stream: &Stream, deadline: Instant) -> Result<Hello> {
    let mut prefix = [0u8; 8];
    read_exact(
        stream,
        &mut prefix,
        deadline,
        "waiting for the peer's hello",
    )?;
    let (_, _, len) = Hello::decode_prefix(&prefix)?;
    let mut whole = vec![0u8; len as usize];
    whole[..8].copy_from_slice(&prefix);
    read_exact(
        stream,
        &mut whole[8..],
        deadline,
        "reading the peer's hello",
    )?;
    Hello::decode(&whole)
}

/// The allow-lists: with neither `allowed_uids` nor `allowed_gids` set, any peer; otherwise a
/// peer whose uid is in `allowed_uids` or one of whose groups (its primary gid, then `groups()`,
/// the supplementary groups the stream reports; asked only when a gid list is set) is in
/// `allowed_gids`.
fn check_allowed(
    opts: &Options,
    peer: &PeerCredentials,
    groups: impl FnOnce() -> Vec<u32>,
) -> Result<()> {
    let (uids, gids) = (&opts.allowed_uids, &opts.allowed_gids);
    if uids.is_none() && gids.is_none() {
        return Ok(());
    }
    let Some(uid) = peer.uid else {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            "peer credentials unavailable; the allow-list cannot be checked",
        ));
    };
    if uids.as_ref().is_some_and(|l| l.contains(&uid)) {
        return Ok(());
    }
    let mut seen: Vec<u32> = peer.gid.into_iter().collect();
    if let Some(list) = gids {
        if seen.iter().any(|g| list.contains(g)) {
            return Ok(());
        }
        for g in groups() {
            if list.contains(&g) {
                return Ok(());
            }
            if !seen.contains(&g) {
                seen.push(g);
            }
        }
    }
    let groups = match seen.as_slice() {
        [] => "no reported gid".to_owned(),
        [g] => format!("gid {g}"),
        _ => format!("gids {seen:?}"),
    };
    Err(Error::new(
        ErrorKind::PermissionDenied,
        format!("peer uid {uid} ({groups}) is not in the allow-list"),
    ))
}

/// The client's check of the listener's uid against `expected_server_uid`.
fn check_server_uid(opts: &Options, peer: &PeerCredentials) -> Result<()> {
    match (opts.expected_server_uid, peer.uid) {
        (None, _) => Ok(()),
        (Some(want), Some(uid)) if uid == want => Ok(()),
        (Some(want), Some(uid)) => Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "refusing the listener: it runs as uid {uid}, not the expected server uid {want}"
            ),
        )),
        (Some(_), None) => Err(no_credentials()),
    }
}

/// The client's checks of the listener's credentials (`expected_server_uid`, the allow-lists),
/// made before the client sends anything. A transport whose connecting writes something before
/// the handshake (a FIFO's connection request) makes them itself first.
pub(crate) fn check_listener(
    opts: &Options,
    peer: &PeerCredentials,
    groups: impl FnOnce() -> Vec<u32>,
) -> Result<()> {
    check_server_uid(opts, peer)?;
    check_allowed(opts, peer, groups)
        .map_err(|e| Error::new(e.kind(), format!("refusing the listener: {}", e.message())))
}

fn no_credentials() -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        "expected_server_uid needs the peer's credentials, which this transport does not report \
         (tcp:// never does)",
    )
}

fn hello_for(opts: &Options, status: u16, caps: u32) -> Hello {
    let mut h = Hello::new(opts.max_message_u32(), status);
    h.capabilities |= caps;
    h
}

/// Client side: connect to `ep` over `t`, send our hello, read and check the server's, and
/// let the transport make the link.
pub(crate) fn client(t: &dyn Transport, ep: &Endpoint, opts: &Options) -> Result<Arc<dyn Link>> {
    if opts.expected_server_uid.is_some() && matches!(ep, Endpoint::Tcp { .. }) {
        return Err(no_credentials());
    }
    let stream = t.connect(ep, opts)?;
    client_on(t, stream, ep, opts)
}

/// The hello bits of messaging patterns: a listener of a pattern refuses clients without its
/// bit with its own message.
const PATTERN_CAPS: u32 = CAP_RPC | CAP_PUBSUB;

/// Client side on a stream that is already connected (`ep` names the peer in messages).
pub(crate) fn client_on(
    t: &dyn Transport,
    stream: Stream,
    ep: &dyn fmt::Display,
    opts: &Options,
) -> Result<Arc<dyn Link>> {
    let caps = t.capabilities() | opts.pattern_caps;
    let peer = stream.peer_credentials();
    // Before anything is sent: a squatter learns nothing from us.
    check_listener(opts, &peer, || stream.peer_groups())?;
    let deadline = after(opts.handshake_timeout);
    // A listener may refuse before reading our hello; if writing fails because it already
    // closed, its refusal is still waiting to be read, and it says more than EPIPE.
    let sent = write_all(
        &stream,
        &hello_for(opts, 0, caps).encode(),
        deadline,
        "sending hello",
    );
    let hello = read_hello(&stream, deadline);
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
        let kind = ErrorKind::from_code(hello.status)
            .filter(|k| k.on_wire())
            .unwrap_or(ErrorKind::ProtocolViolation);
        let detail =
            read_refusal(&stream, deadline).unwrap_or_else(|| format!("status {}", hello.status));
        return Err(Error::new(
            kind,
            format!("the listener refused the connection: {detail}"),
        ));
    }
    if hello.capabilities & caps != caps {
        let missing = caps & !hello.capabilities;
        let why = if missing & CAP_RPC != 0 {
            format!(
                "the listener at {ep} does not serve request/reply (no CAP_RPC in its hello: a \
                 plain channel endpoint, or a libipc older than wire 1.1)"
            )
        } else if missing & CAP_PUBSUB != 0 {
            format!(
                "the listener at {ep} is not a publisher (no CAP_PUBSUB in its hello: a plain \
                 channel endpoint, or a libipc older than wire 1.2)"
            )
        } else {
            format!("the listener does not offer what {ep} needs (it is another kind of endpoint)")
        };
        return Err(Error::new(ErrorKind::ProtocolMismatch, why));
    }
    let conn = Conn::new(peer, hello.max_message_size, opts);
    let link = t.join(stream, conn, opts, deadline)?;
    tracing::debug!(endpoint = %ep, "connected");
    Ok(link)
}

/// The text of the ERROR frame that follows a refusing hello, if it arrives intact.
fn read_refusal(stream: &Stream, deadline: Instant) -> Option<String> {
    let mut h = [0u8; HEADER_LEN];
    read_exact(stream, &mut h, deadline, "reading refusal").ok()?;
    let header = FrameHeader::decode(&h).ok()?;
    if header.frame_type != FrameType::Error || header.length > MAX_ERROR_PAYLOAD {
        return None;
    }
    let mut p = vec![0u8; header.length as usize];
    read_exact(stream, &mut p, deadline, "reading refusal").ok()?;
    ErrorPayload::decode(&p).ok().map(|p| p.message)
}

/// Refuse a connection at once, without reading anything and without waiting (the listener
/// is full): the refusing hello and ERROR frame go out if the socket takes them now, which a
/// fresh connection's send buffer does.
pub(crate) fn refuse_now(t: &dyn Transport, stream: Stream, opts: &Options, err: &Error) {
    let mut reply = hello_for(
        opts,
        err.kind().code(),
        t.capabilities() | opts.pattern_caps,
    )
    .encode()
    .to_vec();
    reply.extend(ErrorPayload::from_error(err.kind(), err.message()).encode_frame());
    stream.write_now(&reply);
    stream.shutdown_write();
    let _ = stream.drain();
}

/// Server side: read the client's hello, check it and the peer's uid, answer, and let the
/// transport make the link.
pub(crate) fn server(t: &dyn Transport, stream: Stream, opts: &Options) -> Result<Arc<dyn Link>> {
    let peer = stream.peer_credentials();
    server_as(t, stream, peer, opts)
}

/// Server side, with the peer's credentials given (a socket pair reports its creator, not the
/// child process that holds the other end).
pub(crate) fn server_as(
    t: &dyn Transport,
    stream: Stream,
    peer: PeerCredentials,
    opts: &Options,
) -> Result<Arc<dyn Link>> {
    let caps = t.capabilities() | opts.pattern_caps;
    let deadline = after(opts.handshake_timeout);
    let result = check_allowed(opts, &peer, || stream.peer_groups()).and_then(|()| {
        read_hello(&stream, deadline).map_err(|e| match e.kind() {
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
    let prepared = match result {
        Ok(h) if h.status != 0 => Err(Error::new(
            ErrorKind::ProtocolViolation,
            "client hello has a non-zero status",
        )),
        Ok(h) if h.capabilities & caps & !PATTERN_CAPS != caps & !PATTERN_CAPS => Err(Error::new(
            ErrorKind::ProtocolMismatch,
            "this endpoint serves clients of its own kind only (shm:// endpoints: shm:// clients)",
        )),
        Ok(h) if h.capabilities & caps & CAP_RPC != caps & CAP_RPC => Err(Error::new(
            ErrorKind::ProtocolMismatch,
            "this endpoint serves request/reply clients only (CAP_RPC, wire 1.1); connect \
             with a request/reply client",
        )),
        Ok(h) if h.capabilities & caps != caps => Err(Error::new(
            ErrorKind::ProtocolMismatch,
            "this endpoint is a publisher and serves subscribers only (CAP_PUBSUB, wire 1.2); \
             connect with a subscriber",
        )),
        // The transport prepares before we accept, so a failure is a proper refusal.
        Ok(h) => t.prepare(opts).map(|p| (h, p)),
        Err(e) => Err(e),
    };
    match prepared {
        Ok((hello, prepared)) => {
            write_all(
                &stream,
                &hello_for(opts, 0, caps).encode(),
                deadline,
                "sending hello",
            )?;
            let conn = Conn::new(peer, hello.max_message_size, opts);
            prepared.finish(stream, conn, opts, deadline)
        }
        Err(e) => {
            // Tell the client why, in a form any version can read, then close.
            if e.kind() != ErrorKind::PeerDisconnected {
                let mut reply = hello_for(opts, e.kind().code(), caps).encode().to_vec();
                reply.extend(ErrorPayload::from_error(e.kind(), e.message()).encode_frame());
                let _ = write_all(&stream, &reply, deadline, "sending refusal");
            }
            // Linger until the client's kernel has the refusal (TCP: it acknowledged every
            // byte), at most until the handshake deadline, reading what the client sends
            // meanwhile: closing with unread input or unacknowledged output makes a TCP reset,
            // which could destroy the refusal before the client reads it. As `close` does.
            stream.shutdown_write();
            // Read what the client already sent (a Unix socket closed with unread input
            // resets too; `settled` does not read there).
            let _ = stream.drain();
            while !stream.settled() && Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod allow_list_tests {
    use super::*;

    fn peer(uid: u32, gid: u32) -> PeerCredentials {
        PeerCredentials {
            pid: None,
            uid: Some(uid),
            gid: Some(gid),
        }
    }

    fn no_groups() -> Vec<u32> {
        Vec::new()
    }

    #[test]
    fn no_lists_admit_anyone_even_without_credentials() {
        let o = Options::new();
        assert!(check_allowed(&o, &peer(7, 8), no_groups).is_ok());
        assert!(check_allowed(&o, &PeerCredentials::default(), || unreachable!()).is_ok());
    }

    #[test]
    fn a_uid_or_a_group_in_the_lists_admits() {
        let o = Options::new()
            .with_allowed_uids([10])
            .with_allowed_gids([20, 21]);
        // The uid matches; the groups are not asked for.
        assert!(check_allowed(&o, &peer(10, 99), || unreachable!()).is_ok());
        // The primary gid matches.
        assert!(check_allowed(&o, &peer(11, 21), || unreachable!()).is_ok());
        // A supplementary group matches.
        assert!(check_allowed(&o, &peer(11, 99), || vec![5, 20]).is_ok());
        // Neither.
        let e = check_allowed(&o, &peer(11, 99), || vec![5, 99]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(
            e.message(),
            "peer uid 11 (gids [99, 5]) is not in the allow-list"
        );
    }

    #[test]
    fn only_a_gid_list_refuses_uids_not_in_its_groups() {
        let o = Options::new().with_allowed_gids([20]);
        assert!(check_allowed(&o, &peer(0, 20), no_groups).is_ok());
        let e = check_allowed(&o, &peer(0, 0), no_groups).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(e.message(), "peer uid 0 (gid 0) is not in the allow-list");
        // An empty list admits nobody.
        let none = Options::new().with_allowed_gids([]);
        assert!(check_allowed(&none, &peer(0, 20), || vec![20]).is_err());
        // Undone by with_any_gid.
        assert!(check_allowed(&none.with_any_gid(), &peer(0, 0), no_groups).is_ok());
    }

    #[test]
    fn only_a_uid_list_ignores_groups() {
        let o = Options::new().with_allowed_uids([10]);
        let e = check_allowed(&o, &peer(11, 10), || unreachable!()).unwrap_err();
        assert_eq!(e.message(), "peer uid 11 (gid 10) is not in the allow-list");
    }

    #[test]
    fn a_list_without_credentials_is_permission_denied() {
        for o in [
            Options::new().with_allowed_gids([0]),
            Options::new().with_allowed_uids([0]),
        ] {
            let e = check_allowed(&o, &PeerCredentials::default(), no_groups).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        }
    }
}
