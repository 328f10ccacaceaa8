//! Protocol abuse from raw sockets, on every transport: each misbehaving client gets its
//! documented answer (a refusing hello and/or an ERROR frame with the right code, then the
//! connection closes), and the listener in the other process goes on serving good clients.
//!
//! Over `shm://` the handshake is the same (so are its tests), but after it messages travel
//! through the rings and the socket only carries the SETUP, ERROR frames and the hang-up. Tests
//! that write DATA or CLOSE frames on the socket after the handshake therefore run on the
//! socket transports only; each has a ring-level counterpart in `shm_hostile.rs`.
//!
//! On Windows the raw client is a named pipe opened as a file: it has no half-close and no
//! non-blocking look, and there is no raw pipe server here, so the tests that need those run
//! on Unix only (the Windows list below names the others).

#[cfg(unix)]
use std::io::Read;

#[cfg(unix)]
use libipc::wire::ErrorPayload;
use libipc::wire::{FrameHeader, FrameType, HELLO_LEN_V1, Hello, VERSION_MINOR};
use libipc::{Channel, ErrorKind, Listener, Options};
use libipc_conformance::peer::Peer;
#[cfg(unix)]
use libipc_conformance::raw::RawListener;
use libipc_conformance::raw::{self, RawStream};
#[cfg(unix)]
use libipc_conformance::shm_raw;
use libipc_conformance::transport::{Site, Transport};
use libipc_conformance::{peer, transport_tests};

#[cfg(unix)]
transport_tests!(
    wrong_magic_gets_status_9,
    unsupported_major_gets_status_8,
    bad_hellos_get_their_documented_status,
    truncated_hello_gets_no_reply,
    silent_client_times_out_with_status_6,
    silent_client_does_not_block_others,
    violation_ends_the_channel_for_good,
    hostile_servers_are_refused_by_clients;
    // Frames written on the socket after the handshake, which an `shm://` connection never
    // reads as messages. Their counterparts, with records published in ring 0, are in
    // `shm_hostile.rs` (oversize_record_gets_error_7, malformed_records_get_error_9, ...).
    // newer_minor_hello_is_accepted's hello also sets capability bit 0, which asks for shm.
    sockets_only:
    oversize_data_frame_gets_error_7,
    malformed_frames_get_error_9,
    newer_minor_hello_is_accepted,
    fragments_are_reassembled_within_the_limit,
    error_frame_from_client_reaches_the_application,
    half_sent_frame_then_disconnect_is_peer_disconnected,
);

// Windows (named pipes): every test above that a raw pipe client can run.
#[cfg(windows)]
transport_tests!(
    wrong_magic_gets_status_9,
    unsupported_major_gets_status_8,
    bad_hellos_get_their_documented_status,
    silent_client_times_out_with_status_6,
    violation_ends_the_channel_for_good,
    oversize_data_frame_gets_error_7,
    malformed_frames_get_error_9,
    newer_minor_hello_is_accepted,
    fragments_are_reassembled_within_the_limit,
    half_sent_frame_then_disconnect_is_peer_disconnected,
);

/// The listener's message limit in these tests.
const LIMIT: u32 = 1024;

/// An echo server in another process with a 1,024-byte message limit.
fn server(t: Transport, extra: &[&str]) -> (Site, Peer) {
    let mut site = t.site();
    let server = peer!("echo-server", site.there())
        .args(["--max-message", &LIMIT.to_string()])
        .args(extra)
        .listening(&mut site);
    (site, server)
}

fn connect(site: &Site) -> RawStream {
    raw::connect(site.here()).unwrap_or_else(|e| panic!("raw connect {}: {e}", site.here()))
}

/// A good client connects, gets every message echoed, and closes.
fn assert_still_serves(site: &Site, server: &mut Peer) {
    let ch = Channel::connect(site.here()).expect("a good client is still accepted");
    for m in [&b""[..], b"still", &[9; LIMIT as usize]] {
        ch.send(m).unwrap();
        assert_eq!(*ch.recv().unwrap(), *m);
    }
    ch.close();
    assert_eq!(server.expect("end"), "Closed");
}

/// A refusing hello: version 1 (this build's minor), the given status, followed by an ERROR frame with the same
/// code, then the connection closes.
fn assert_refused(s: &mut RawStream, kind: ErrorKind) {
    let hello = s.read_hello();
    assert_eq!(
        (hello.major, hello.minor, hello.length),
        (1, VERSION_MINOR, HELLO_LEN_V1)
    );
    assert_eq!(hello.status, kind.code(), "hello status");
    assert_eq!(s.read_error_frame().code, kind.code(), "ERROR frame code");
    s.assert_closed();
}

/// After a good handshake, a DATA header announcing more than the listener's limit is
/// answered with ERROR(MessageTooLarge) and a close, before any body is sent; the listener's
/// receive reports MessageTooLarge.
fn oversize_data_frame_gets_error_7(t: Transport) {
    let (site, mut server) = server(t, &[]);
    let mut s = connect(&site);
    assert_eq!(s.handshake(u32::MAX).max_message_size, LIMIT);
    s.put(&raw::data_header(LIMIT + 1));
    assert_eq!(s.read_error_frame().code, ErrorKind::MessageTooLarge.code());
    s.assert_closed();
    assert_eq!(server.expect("end"), "MessageTooLarge");
    assert_still_serves(&site, &mut server);
}

/// Headers no v1 sender produces: each is answered with ERROR(ProtocolViolation) and a
/// close, and the listener's receive reports ProtocolViolation.
fn malformed_frames_get_error_9(t: Transport) {
    let (site, mut server) = server(t, &[]);
    let data = |len: u32| raw::data_header(len);
    let cases: [(&str, Vec<u8>); 11] = [
        ("unknown type 0x07", with(data(0), 4, 0x07).to_vec()),
        ("type 0", with(data(0), 4, 0x00).to_vec()),
        ("reserved byte 6 set", with(data(0), 6, 0x01).to_vec()),
        ("reserved byte 7 set", with(data(0), 7, 0x80).to_vec()),
        ("undefined DATA flag 0x02", with(data(0), 5, 0x02).to_vec()),
        ("flag on CLOSE", with(raw::close_frame(), 5, 0x01).to_vec()),
        (
            "CLOSE with a payload",
            [&with(raw::close_frame(), 0, 4)[..], &[0; 4]].concat(),
        ),
        (
            "ERROR shorter than 4 bytes",
            [&error_header(2)[..], &[4, 0]].concat(),
        ),
        ("ERROR longer than 4096 bytes", error_header(4097).to_vec()),
        (
            "ERROR reserved field set",
            [&error_header(6)[..], &[4, 0, 1, 0, b'h', b'i']].concat(),
        ),
        (
            "ERROR text not UTF-8",
            [&error_header(6)[..], &[4, 0, 0, 0, 0xc3, 0x28]].concat(),
        ),
    ];
    for (what, header) in cases {
        let mut s = connect(&site);
        s.handshake(u32::MAX);
        s.put(&raw::data_frame(b"before"));
        assert_eq!(s.read_data(), b"before", "{what}");
        s.put(&header);
        assert_eq!(
            s.read_error_frame().code,
            ErrorKind::ProtocolViolation.code(),
            "{what}"
        );
        s.assert_closed();
        assert_eq!(server.expect("end"), "ProtocolViolation", "{what}");
    }
    assert_still_serves(&site, &mut server);
}

fn with(mut header: [u8; 8], at: usize, value: u8) -> [u8; 8] {
    header[at] = value;
    header
}

fn error_header(len: u32) -> [u8; 8] {
    let mut h = raw::data_header(len);
    h[4] = FrameType::Error as u8;
    h
}

/// A client whose first bytes are not "LIPC" is refused with status ProtocolViolation.
fn wrong_magic_gets_status_9(t: Transport) {
    let (site, mut server) = server(t, &[]);
    for bad in [*b"HTTP", *b"lipc", [0; 4]] {
        let mut s = connect(&site);
        let mut hello = raw::hello(LIMIT);
        hello[..4].copy_from_slice(&bad);
        s.put(&hello);
        assert_refused(&mut s, ErrorKind::ProtocolViolation);
    }
    assert_still_serves(&site, &mut server);
}

/// A client speaking major version 2 is answered with a v1 hello carrying status
/// ProtocolMismatch, then an ERROR frame, then the connection closes.
fn unsupported_major_gets_status_8(t: Transport) {
    let (site, mut server) = server(t, &[]);
    let mut s = connect(&site);
    let mut hello = raw::hello(LIMIT);
    hello[4] = 2;
    s.put(&hello);
    assert_refused(&mut s, ErrorKind::ProtocolMismatch);
    assert_still_serves(&site, &mut server);
}

/// A client that connects and says nothing gets a hello with status Timeout and an ERROR
/// frame once the listener's handshake timeout (300 ms here) passes, then the connection
/// closes. The raw read waits as long as it takes; nothing here measures time.
fn silent_client_times_out_with_status_6(t: Transport) {
    let (site, mut server) = server(t, &["--handshake-timeout-ms", "300"]);
    let mut silent = connect(&site);
    assert_refused(&mut silent, ErrorKind::Timeout);
    assert_still_serves(&site, &mut server);
}

/// While a client that said nothing is still waiting (the handshake timeout is far away),
/// other clients connect and are served.
#[cfg(unix)]
fn silent_client_does_not_block_others(t: Transport) {
    let (site, mut server) = server(t, &["--handshake-timeout-ms", "600000"]);
    let mut silent = connect(&site);
    let mut half = connect(&site);
    half.put(&raw::hello(LIMIT)[..10]);
    for _ in 0..3 {
        assert_still_serves(&site, &mut server);
    }
    silent.assert_nothing_received();
    half.assert_nothing_received();
}

/// A hello from a later minor version (longer, with capability bits this build does not know)
/// is accepted; the connection then speaks v1 frames, and a CLOSE frame ends it cleanly.
fn newer_minor_hello_is_accepted(t: Transport) {
    let (site, mut server) = server(t, &[]);
    let mut s = connect(&site);
    let mut hello = raw::hello(LIMIT).to_vec();
    hello[5] = 7;
    hello[6..8].copy_from_slice(&32u16.to_le_bytes());
    hello[8..12].copy_from_slice(&0xdead_beef_u32.to_le_bytes());
    hello.extend_from_slice(&[0xaa; 8]);
    s.put(&hello);
    let reply: Hello = s.read_hello();
    assert_eq!((reply.major, reply.status), (1, 0));
    for m in [&b""[..], b"x", &[5; LIMIT as usize]] {
        s.put(&raw::data_frame(m));
        assert_eq!(s.read_data(), m);
    }
    s.put(&raw::close_frame());
    assert_eq!(server.expect("end"), "Closed");
    assert_still_serves(&site, &mut server);
}

/// An ERROR frame from the client ends the listener's channel with the kind it carries (an
/// unknown code as ProtocolViolation); the listener may answer with CLOSE, nothing else.
#[cfg(unix)]
fn error_frame_from_client_reaches_the_application(t: Transport) {
    let (site, mut server) = server(t, &[]);
    for (code, kind) in [
        (4, "PermissionDenied"),
        (0, "ProtocolViolation"),
        (999, "ProtocolViolation"),
    ] {
        let mut s = connect(&site);
        s.handshake(u32::MAX);
        let payload = ErrorPayload {
            code,
            message: "go away".into(),
        };
        s.put(&payload.encode_frame());
        s.shutdown_write();
        assert_eq!(server.expect("end"), kind, "code {code}");
        assert_only_close_then_end(&mut s);
    }
    assert_still_serves(&site, &mut server);
}

/// What may follow the client's CLOSE or ERROR: the listener's own CLOSE, then the end.
#[cfg(unix)]
fn assert_only_close_then_end(s: &mut RawStream) {
    let mut first = [0u8; 1];
    match s.read(&mut first) {
        Ok(0) => return,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
        Ok(_) => {}
        Err(e) => panic!("reading after ERROR: {e}"),
    }
    let rest: [u8; 7] = s.read_n(7).try_into().unwrap();
    let header = [&first[..], &rest[..]].concat();
    assert_eq!(header, raw::close_frame(), "only a CLOSE frame may follow");
    s.assert_closed();
}

/// A client that sends half a frame and disconnects leaves the listener's channel with
/// PeerDisconnected (not a truncated message).
fn half_sent_frame_then_disconnect_is_peer_disconnected(t: Transport) {
    let (site, mut server) = server(t, &[]);
    let mut s = connect(&site);
    s.handshake(u32::MAX);
    let frame = raw::data_frame(&[1; 100]);
    s.put(&frame[..50]);
    drop(s);
    assert_eq!(server.expect("end"), "PeerDisconnected");
    assert_still_serves(&site, &mut server);
}

/// Hellos failing each check of the documented validation order get that check's status:
/// magic before major before length before reserved fields before the client's status.
fn bad_hellos_get_their_documented_status(t: Transport) {
    let (site, mut server) = server(t, &[]);
    let hello = raw::hello(LIMIT);
    let set = |at: usize, bytes: &[u8]| {
        let mut h = hello.to_vec();
        h[at..at + bytes.len()].copy_from_slice(bytes);
        h
    };
    let violation = ErrorKind::ProtocolViolation;
    let cases = [
        ("major 0", set(4, &[0]), ErrorKind::ProtocolMismatch),
        ("major 255", set(4, &[255]), ErrorKind::ProtocolMismatch),
        ("bad magic and major 2", set(0, b"LIPX\x02"), violation),
        (
            "major 2 and length 5",
            set(4, &[2, 0, 5, 0]),
            ErrorKind::ProtocolMismatch,
        ),
        ("length 23", set(6, &23u16.to_le_bytes()), violation),
        ("length 1025", set(6, &1025u16.to_le_bytes()), violation),
        ("reserved at 14", set(14, &[1]), violation),
        ("reserved at 20", set(23, &[1]), violation),
        ("client status 4", set(12, &[4]), violation),
    ];
    for (what, bytes, kind) in cases {
        let mut s = connect(&site);
        s.put(&bytes);
        let reply = s.read_hello();
        assert_eq!(reply.status, kind.code(), "{what}");
        assert_eq!(s.read_error_frame().code, kind.code(), "{what}");
        s.assert_closed();
    }
    assert_still_serves(&site, &mut server);
}

/// A client that ends the connection in the middle of its hello gets no reply at all.
#[cfg(unix)]
fn truncated_hello_gets_no_reply(t: Transport) {
    let (site, mut server) = server(t, &[]);
    for cut in [0, 3, 8, 23] {
        let mut s = connect(&site);
        s.put(&raw::hello(LIMIT)[..cut]);
        s.shutdown_write();
        s.assert_closed();
    }
    assert_still_serves(&site, &mut server);
}

/// DATA fragments (the MORE flag, which stream senders never use but every receiver must
/// accept) are joined into one message; the limit applies to the joined size.
fn fragments_are_reassembled_within_the_limit(t: Transport) {
    let (site, mut server) = server(t, &[]);
    let fragment = |payload: &[u8], more: bool| {
        let mut f = raw::data_frame(payload);
        f[5] = u8::from(more);
        f
    };
    let mut s = connect(&site);
    s.handshake(u32::MAX);
    s.put(
        &[
            fragment(b"hel", true),
            fragment(b"", true),
            fragment(b"lo", false),
        ]
        .concat(),
    );
    assert_eq!(s.read_data(), b"hello");
    let half = vec![1; LIMIT as usize / 2];
    s.put(&[fragment(&half, true), fragment(&half, false)].concat());
    assert_eq!(s.read_data().len(), LIMIT as usize);
    s.put(&[fragment(&half, true), fragment(&half, true)].concat());
    s.put(&raw::data_header(1));
    assert_eq!(s.read_error_frame().code, ErrorKind::MessageTooLarge.code());
    s.assert_closed();
    assert_eq!(server.expect("end"), "MessageTooLarge");
    assert_still_serves(&site, &mut server);
}

/// On the receiving channel (here, in the test process), a malformed or oversize frame from
/// another process ends the channel: that receive and every later one return the error, and
/// later sends fail. (Over `shm://` the raw client writes ring records; a fragmented message
/// carries no total length, so the limit is only passed once its last fragment, `rest`, is in.)
fn violation_ends_the_channel_for_good(t: Transport) {
    let oversize = if t == Transport::Shm {
        "half\nrest"
    } else {
        "half"
    };
    for (command, kind) in [
        ("bad-type", ErrorKind::ProtocolViolation),
        (oversize, ErrorKind::MessageTooLarge),
    ] {
        let mut site = t.site();
        let opts = Options::new().with_max_message_size(LIMIT as usize);
        let listener = Listener::bind_with(site.here(), &opts).unwrap();
        site.bound(listener.local_endpoint());
        let mut child = peer!("raw-client", site.there(), (2 * LIMIT).to_string())
            .site(&site)
            .spawn();
        let ch = listener.accept().unwrap();
        child.expect("ready");
        child.say("small");
        assert_eq!(&*ch.recv().unwrap(), b"small");
        for line in command.lines() {
            child.say(line);
        }
        for _ in 0..3 {
            assert_eq!(ch.recv().unwrap_err().kind(), kind, "{command}");
        }
        assert!(
            ch.send(b"after").is_err(),
            "{command}: send after the channel failed"
        );
    }
}

/// Servers that misbehave during the handshake: a libipc client in another process reports
/// each with its documented kind. (An `shm://` client's hello asks for shared memory, with
/// capability bit 0; the replies here carry it too, so each fails for the reason named.)
#[cfg(unix)]
fn hostile_servers_are_refused_by_clients(t: Transport) {
    let shm = t == Transport::Shm;
    let hello = |max: u32| {
        if shm {
            shm_raw::shm_hello(max)
        } else {
            raw::hello(max)
        }
    };
    let reply = |at: usize, bytes: &[u8]| {
        let mut h = hello(LIMIT).to_vec();
        h[at..at + bytes.len()].copy_from_slice(bytes);
        h
    };
    let refusal = |code: u16| {
        let payload = ErrorPayload {
            code,
            message: "refused".into(),
        };
        [reply(12, &code.to_le_bytes()), payload.encode_frame()].concat()
    };
    let mut cases: Vec<(&str, Option<Vec<u8>>, &str)> = vec![
        ("major 2", Some(reply(4, &[2])), "ProtocolMismatch"),
        ("bad magic", Some(reply(0, b"NOPE")), "ProtocolViolation"),
        ("length 23", Some(reply(6, &[23])), "ProtocolViolation"),
        (
            "refusal with status 4",
            Some(refusal(4)),
            "PermissionDenied",
        ),
        (
            "refusal with unknown status 999",
            Some(refusal(999)),
            "ProtocolViolation",
        ),
        ("close without reply", Some(Vec::new()), "PeerDisconnected"),
        ("silence", None, "Timeout"),
    ];
    if shm {
        // A listener that accepts without offering shared memory is not an shm:// listener.
        let plain = raw::hello(LIMIT).to_vec();
        cases.push((
            "accepting without capability bit 0",
            Some(plain),
            "ProtocolMismatch",
        ));
    }
    for (what, answer, kind) in cases {
        let mut site = t.site();
        let (listener, actual) = RawListener::bind(site.here()).unwrap();
        site.bound(&actual);
        let mut client = peer!("connect", site.there(), "--handshake-timeout-ms", "300")
            .site(&site)
            .spawn();
        let mut s = listener.accept().unwrap();
        assert_eq!(
            s.read_n(24),
            hello(libipc::DEFAULT_MAX_MESSAGE_SIZE as u32),
            "{what}"
        );
        match answer {
            Some(bytes) => {
                s.put(&bytes);
                drop(s);
                let line = client.expect("fail");
                assert_eq!(line.split(' ').next(), Some(kind), "{what}: {line}");
            }
            None => {
                let line = client.expect("fail");
                assert_eq!(line.split(' ').next(), Some(kind), "{what}: {line}");
                drop(s);
            }
        }
    }
}

#[test]
fn frame_header_helpers_are_canonical() {
    // The raw helpers above must produce exactly what libipc accepts, or the cases would test
    // the helpers instead of the listener.
    assert!(FrameHeader::decode(&raw::data_header(5)).is_ok());
    assert!(FrameHeader::decode(&raw::close_frame()).is_ok());
    assert!(FrameHeader::decode(&error_header(4)).is_ok());
    assert!(FrameHeader::decode(&error_header(2)).is_err());
}

/// A client that trickles its hello a byte at a time, each byte well within the handshake
/// timeout (300 ms), is still refused with status Timeout: the timeout bounds the whole hello,
/// not each read. Run over a Unix socket, where the client's writes after the refusal fail
/// harmlessly instead of resetting the connection. Nothing here measures time.
#[cfg(unix)]
#[test]
fn trickled_hello_is_refused_after_the_whole_timeout() {
    let _watchdog = libipc_conformance::watchdog::Watchdog::start();
    let (site, mut server) = server(Transport::Unix, &["--handshake-timeout-ms", "300"]);
    let mut s = connect(&site);
    for byte in raw::hello(LIMIT) {
        let _ = std::io::Write::write_all(&mut s, &[byte]);
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_refused(&mut s, ErrorKind::Timeout);
    assert_still_serves(&site, &mut server);
}
