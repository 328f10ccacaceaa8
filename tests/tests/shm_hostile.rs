//! `shm://` against peers that do not play by the rules: records and cursors that break the
//! layout, frames on the control socket, and servers whose SETUP is wrong. The side under
//! attack must report each problem with its documented kind (mostly ProtocolViolation,
//! answered with an ERROR frame on the control socket) and go on serving others. Processes
//! that scribble over a segment while it is in use are in `shm_chaos.rs`.
//!
//! The raw side (`libipc_conformance::shm_raw`) is either this test process or an
//! `ipc-test-peer shm-hostile` process; the libipc side is an `ipc-test-peer` child wherever
//! a crash must show as an exit status.
//!
//! Unix only (Unix sockets, TCP or shared memory); the Windows run covers named pipes.

#![cfg(unix)]

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use libipc::wire::{ErrorPayload, FLAG_MORE, FrameHeader, FrameType, HEADER_LEN, Hello};
use libipc::{Channel, ErrorKind};
use libipc_conformance::peer::Peer;
use libipc_conformance::shm_raw::{self, Conn, Received, SetupPlan};
use libipc_conformance::transport::{Site, Transport};
use libipc_conformance::watchdog::Watchdog;
use libipc_conformance::{peer, raw};

const RING: u64 = 64 * 1024;
/// The listener's message limit in the record tests.
const LIMIT: usize = 1024;

/// An echo server in another process: 64 KiB rings, 1,024-byte messages.
fn server() -> (Site, Peer) {
    let mut site = Transport::Shm.site();
    let server = peer!("echo-server", site.there(), "--shm-ring", RING.to_string())
        .args(["--max-message", &LIMIT.to_string()])
        .listening(&mut site);
    (site, server)
}

fn connect(site: &Site) -> Conn {
    shm_raw::connect(site.here()).unwrap_or_else(|e| panic!("raw shm connect: {e}"))
}

fn header(len: u32, frame_type: u8, flags: u8) -> [u8; 8] {
    let mut h = [0u8; 8];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4] = frame_type;
    h[5] = flags;
    h
}

/// The next frame on the control socket is an ERROR frame; its code.
fn error_code(conn: &mut Conn) -> u16 {
    let mut h = [0u8; HEADER_LEN];
    conn.ctrl.read_exact(&mut h).expect("an ERROR frame");
    let header = FrameHeader::decode(&h).unwrap();
    assert_eq!(header.frame_type, FrameType::Error, "{header:?}");
    let mut p = vec![0u8; header.length as usize];
    conn.ctrl.read_exact(&mut p).unwrap();
    ErrorPayload::decode(&p).unwrap().code
}

/// The control socket says nothing more: the other side hung up.
fn assert_hung_up(conn: &mut Conn) {
    let mut b = [0u8; 64];
    match conn.ctrl.read(&mut b) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected a hang-up, got {other:?}"),
    }
}

/// A client connects and gets a message echoed, then `abuse` (case `what`) breaks the protocol:
/// the listener answers with ERROR(ProtocolViolation) on the control socket and hangs up, and
/// reports ProtocolViolation.
fn assert_violation_after_a_message(
    site: &Site,
    server: &mut Peer,
    what: &str,
    abuse: impl FnOnce(&mut Conn),
) {
    let mut conn = connect(site);
    conn.send_message(b"before");
    assert_eq!(conn.recv(), Received::Message(b"before".to_vec()), "{what}");
    abuse(&mut conn);
    assert_eq!(
        error_code(&mut conn),
        ErrorKind::ProtocolViolation.code(),
        "{what}"
    );
    assert_hung_up(&mut conn);
    assert_eq!(server.expect("end"), "ProtocolViolation", "{what}");
}

/// A good client connects, gets every message echoed, and closes.
fn assert_still_serves(site: &Site, server: &mut Peer) {
    let ch = Channel::connect(site.here()).expect("a good client is still accepted");
    for m in [&b""[..], b"still", &[9; LIMIT]] {
        ch.send(m).unwrap();
        assert_eq!(*ch.recv().unwrap(), *m);
    }
    ch.close();
    assert_eq!(server.expect("end"), "Closed");
}

/// A record announcing more than the listener's limit (and fitting in the ring) is answered
/// with ERROR(MessageTooLarge) on the control socket and a hang-up; the listener's receive
/// reports MessageTooLarge.
#[test]
fn oversize_record_gets_error_7() {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server();
    let mut conn = connect(&site);
    assert_eq!(conn.peer_hello.max_message_size, LIMIT as u32);
    conn.send_record(FrameType::Data, 0, &[1; LIMIT + 1]);
    assert_eq!(error_code(&mut conn), ErrorKind::MessageTooLarge.code());
    assert_hung_up(&mut conn);
    assert_eq!(server.expect("end"), "MessageTooLarge");
    assert_still_serves(&site, &mut server);
}

/// Records and cursors no libipc producer publishes: each is answered with
/// ERROR(ProtocolViolation) on the control socket and a hang-up, and the listener's receive
/// (or, for its own ring's read cursor, its send) reports ProtocolViolation.
#[test]
fn malformed_records_get_error_9() {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server();
    let max = shm_raw::max_record(RING) as u32;
    type Abuse = Box<dyn Fn(&mut Conn)>;
    let put = |h: [u8; 8], payload: Vec<u8>| -> Abuse { Box::new(move |c| c.publish(h, &payload)) };
    let cursor = |delta: i64| -> Abuse {
        Box::new(move |c| c.publish_cursor(c.write_cursor().wrapping_add_signed(delta)))
    };
    let cases: Vec<(&str, Abuse)> = vec![
        ("unknown type 0x07", put(header(0, 7, 0), vec![])),
        ("type 0", put(header(0, 0, 0), vec![])),
        ("reserved byte 6 set", put([0, 0, 0, 0, 1, 0, 1, 0], vec![])),
        ("undefined DATA flag 0x02", put(header(0, 1, 2), vec![])),
        ("flag on CLOSE", put(header(0, 2, 1), vec![])),
        ("CLOSE with a payload", put(header(4, 2, 0), vec![0; 4])),
        (
            "ERROR record in a ring",
            put(header(6, 3, 0), vec![4, 0, 0, 0, b'h', b'i']),
        ),
        ("SETUP record in a ring", put(header(24, 4, 0), vec![0; 24])),
        (
            "PAD in the middle of the ring",
            put(header(8, 5, 0), vec![0; 8]),
        ),
        (
            "record larger than half the ring",
            put(header(max + 1, 1, 0), vec![0; max as usize + 1]),
        ),
        (
            "PAD published without a record after it",
            Box::new(|c: &mut Conn| {
                let p = c.write_cursor() % RING;
                c.put_bytes(c.write_cursor(), &header((RING - p - 8) as u32, 5, 0));
                c.publish_cursor(c.write_cursor() + RING - p);
            }),
        ),
        (
            "record running past the published data",
            Box::new(|c: &mut Conn| {
                c.put_bytes(c.write_cursor(), &header(100, 1, 0));
                c.publish_cursor(c.write_cursor() + 16);
            }),
        ),
        ("write cursor not a multiple of 8", cursor(12)),
        (
            "write cursor more than a ring ahead",
            cursor(RING as i64 + 8),
        ),
        ("write cursor moved backwards", cursor(-8)),
        (
            "CLOSE between the fragments of a message",
            Box::new(|c: &mut Conn| {
                c.send_record(FrameType::Data, FLAG_MORE, b"half a message");
                c.send_record(FrameType::Close, 0, &[]);
            }),
        ),
        (
            // The listener re-reads our read cursor only when its cached copy shows too
            // little room, so echoes must fill ring 1 before it notices.
            "read cursor of the listener's ring not a multiple of 8",
            Box::new(|c: &mut Conn| {
                c.release_to(c.read_cursor() + 4);
                for _ in 0..200 {
                    if c.ctrl_readable() {
                        break;
                    }
                    while !c.try_publish(header(1000, 1, 0), &[3; 1000]) && !c.ctrl_readable() {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }),
        ),
    ];
    for (what, abuse) in cases {
        assert_violation_after_a_message(&site, &mut server, what, abuse);
    }
    assert_still_serves(&site, &mut server);
}

/// DATA records with the MORE flag are joined into one message (echoed whole); the limit
/// applies to the joined size: a fragment that takes it past 1,024 bytes is
/// ERROR(MessageTooLarge).
#[test]
fn fragment_records_are_reassembled_within_the_limit() {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server();
    let mut conn = connect(&site);
    conn.send_record(FrameType::Data, FLAG_MORE, b"hel");
    conn.send_record(FrameType::Data, FLAG_MORE, b"");
    conn.send_record(FrameType::Data, 0, b"lo");
    assert_eq!(conn.recv(), Received::Message(b"hello".to_vec()));
    let half = vec![1; LIMIT / 2];
    conn.send_record(FrameType::Data, FLAG_MORE, &half);
    conn.send_record(FrameType::Data, 0, &half);
    assert_eq!(conn.recv(), Received::Message(vec![1; LIMIT]));
    conn.send_record(FrameType::Data, FLAG_MORE, &half);
    conn.send_record(FrameType::Data, FLAG_MORE, &half);
    conn.send_record(FrameType::Data, 0, b"!");
    assert_eq!(error_code(&mut conn), ErrorKind::MessageTooLarge.code());
    assert_hung_up(&mut conn);
    assert_eq!(server.expect("end"), "MessageTooLarge");
    assert_still_serves(&site, &mut server);
}

/// An ERROR frame on the control socket ends the listener's channel with the kind it carries
/// (an unknown code as ProtocolViolation); nothing but the hang-up follows on the socket, and
/// nothing is published in the listener's ring.
#[test]
fn error_frame_on_the_control_socket_ends_the_channel() {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server();
    for (code, kind) in [
        (4, "PermissionDenied"),
        (0, "ProtocolViolation"),
        (999, "ProtocolViolation"),
    ] {
        let mut conn = connect(&site);
        let payload = ErrorPayload {
            code,
            message: "go away".into(),
        };
        conn.ctrl.write_all(&payload.encode_frame()).unwrap();
        assert_eq!(server.expect("end"), kind, "code {code}");
        assert_hung_up(&mut conn);
        assert_eq!(conn.try_take(), None, "code {code}");
    }
    assert_still_serves(&site, &mut server);
}

/// A frame header no v1 sender writes, on the control socket after the SETUP, is answered
/// with ERROR(ProtocolViolation) and a hang-up (sections 9 and 11.8), as the same bytes are
/// on a stream; so is a DATA header of any length (nothing is awaited or allocated for it).
#[test]
fn bad_header_on_the_control_socket_gets_error_9() {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server();
    let cases: [(&str, [u8; 8]); 7] = [
        ("type 0x00", header(0, 0x00, 0)),
        ("type 0xff", header(0, 0xff, 0)),
        ("undefined DATA flag 0x02", header(0, 1, 0x02)),
        ("flag on CLOSE", header(0, 2, 0x01)),
        ("reserved byte 7 set", [0, 0, 0, 0, 1, 0, 0, 0x80]),
        ("DATA header of 4 GiB", header(u32::MAX, 1, 0)),
        ("ERROR longer than 4096 bytes", header(4097, 3, 0)),
    ];
    for (what, h) in cases {
        assert_violation_after_a_message(&site, &mut server, what, |c| {
            c.ctrl.write_all(&h).unwrap()
        });
    }
    assert_still_serves(&site, &mut server);
}

/// A DATA frame (or anything but ERROR) on the control socket is a ProtocolViolation.
#[test]
fn data_frame_on_the_control_socket_is_a_violation() {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server();
    let mut conn = connect(&site);
    conn.ctrl.write_all(&raw::data_frame(b"not here")).unwrap();
    assert_eq!(server.expect("end"), "ProtocolViolation");
    assert_still_serves(&site, &mut server);
}

/// A client that publishes the first fragment of a message and disconnects leaves the
/// listener's channel with PeerDisconnected (not a truncated message).
#[test]
fn half_published_message_then_disconnect_is_peer_disconnected() {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server();
    let mut conn = connect(&site);
    conn.send_record(FrameType::Data, FLAG_MORE, &[1; 100]);
    drop(conn);
    assert_eq!(server.expect("end"), "PeerDisconnected");
    assert_still_serves(&site, &mut server);
}

/// A hello from a later minor version (longer, with capability bits this build does not know,
/// bit 0 among them) gets the SETUP; records then flow both ways and a CLOSE record ends the
/// channel cleanly.
#[test]
fn newer_minor_shm_hello_is_accepted() {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server();
    let mut hello = shm_raw::shm_hello(LIMIT as u32).to_vec();
    hello[5] = 7;
    hello[6..8].copy_from_slice(&32u16.to_le_bytes());
    hello[8..12].copy_from_slice(&0xdead_beef_u32.to_le_bytes());
    hello.extend_from_slice(&[0xaa; 8]);
    let mut conn = shm_raw::connect_with_hello(site.here(), &hello).unwrap();
    assert_eq!(conn.peer_hello.capabilities, shm_raw::CAP_SHM);
    for m in [&b""[..], b"x", &[5; LIMIT]] {
        conn.send_message(m);
        assert_eq!(conn.recv(), Received::Message(m.to_vec()));
    }
    conn.send_record(FrameType::Close, 0, &[]);
    assert_eq!(server.expect("end"), "Closed");
    assert_still_serves(&site, &mut server);
}

/// A hello without capability bit 0 (a socket client) is refused with status
/// ProtocolMismatch and an ERROR frame, then the connection closes.
#[test]
fn hello_without_shm_capability_gets_status_8() {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server();
    let mut s = raw::connect(site.here()).unwrap();
    s.put(&raw::hello(LIMIT as u32));
    let hello: Hello = s.read_hello();
    assert_eq!(hello.status, ErrorKind::ProtocolMismatch.code());
    assert_eq!(
        s.read_error_frame().code,
        ErrorKind::ProtocolMismatch.code()
    );
    s.assert_closed();
    assert_still_serves(&site, &mut server);
}

/// The segment a client receives is sealed: it cannot shrink it (which would make the
/// listener's mapping fault) or grow it, and cannot remove the seals; it is not sealed
/// against writing (both sides map it writable).
#[test]
fn the_segment_cannot_be_resized_by_the_peer() {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server();
    let mut conn = connect(&site);
    let seals = rustix::fs::fcntl_get_seals(&conn.memfd).unwrap();
    use rustix::fs::SealFlags;
    assert!(
        seals.contains(SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL),
        "{seals:?}"
    );
    assert!(
        !seals.intersects(SealFlags::WRITE | SealFlags::FUTURE_WRITE),
        "{seals:?}"
    );
    let size = conn.seg.len() as u64;
    assert_eq!(rustix::fs::fstat(&conn.memfd).unwrap().st_size as u64, size);
    for len in [0, size / 2, size - 1, size + 1, 2 * size] {
        assert!(
            rustix::fs::ftruncate(&conn.memfd, len).is_err(),
            "resized to {len}"
        );
    }
    let grow = rustix::fs::fallocate(
        &conn.memfd,
        rustix::fs::FallocateFlags::empty(),
        0,
        2 * size,
    );
    assert!(grow.is_err(), "fallocate grew the segment");
    conn.send_message(b"still fine");
    assert_eq!(conn.recv(), Received::Message(b"still fine".to_vec()));
    conn.send_record(FrameType::Close, 0, &[]);
    assert_eq!(server.expect("end"), "Closed");
}

/// Raw server side of the SETUP tests: accept one client on the shm socket, check its hello
/// asks for shared memory, accept it.
fn accept_shm_client(listener: &UnixListener) -> std::os::unix::net::UnixStream {
    let (mut s, _) = listener.accept().unwrap();
    let hello = shm_raw::read_client_hello(&mut s).unwrap();
    assert_eq!(hello.capabilities & shm_raw::CAP_SHM, shm_raw::CAP_SHM);
    s.write_all(&shm_raw::shm_hello(u32::MAX)).unwrap();
    s
}

/// Run `plan` against a libipc client in another process; the first line it prints (`fail
/// <kind> …` after which it must have exited normally, with status 1, or `connected …`).
fn client_verdict(plan: &SetupPlan, then_close: bool) -> String {
    let site = Transport::Shm.site();
    let listener = UnixListener::bind(shm_raw::socket_path(site.here()).unwrap()).unwrap();
    let mut client = peer!("connect", site.there(), "--handshake-timeout-ms", "300")
        .site(&site)
        .spawn();
    let s = accept_shm_client(&listener);
    plan.send_only(&s).unwrap();
    // Hang up now (the listener vanishes mid-SETUP), or only once the client has spoken.
    let s = (!then_close).then_some(s);
    let line = client.line();
    drop(s);
    if line.starts_with("fail ") {
        let (status, rest) = client.finish();
        assert_eq!(
            status.code(),
            Some(1),
            "{line}: exit {status}, then {rest:?}"
        );
    }
    line
}

/// Servers whose SETUP is wrong in one way each: a libipc client in another process fails
/// with the documented kind (ProtocolViolation, ProtocolMismatch for another layout version,
/// PeerDisconnected if the listener vanishes mid-SETUP, Timeout if it goes silent) and does
/// not crash (its exit is reported in the `fail` line it prints).
#[test]
fn bad_setups_are_refused_by_clients() {
    use rustix::fs::SealFlags;
    let _watchdog = Watchdog::start();
    let good = || SetupPlan::good(RING);
    let size = shm_raw::segment_size(RING);
    let with_cap = |cap: u64| {
        let mut p = good()
            .frame_field(8, &shm_raw::segment_size(cap).to_le_bytes())
            .frame_field(16, &cap.to_le_bytes());
        p.memfd_size = shm_raw::segment_size(cap).min(1 << 24);
        p
    };
    let violation = "ProtocolViolation";
    let mut cases: Vec<(&str, SetupPlan, &str)> = vec![
        ("4 descriptors", SetupPlan { fds: 4, ..good() }, violation),
        ("6 descriptors", SetupPlan { fds: 6, ..good() }, violation),
        ("no descriptors", SetupPlan { fds: 0, ..good() }, violation),
        ("9 descriptors", SetupPlan { fds: 9, ..good() }, violation),
        (
            "memfd not sealed",
            SetupPlan {
                seals: SealFlags::empty(),
                ..good()
            },
            violation,
        ),
        (
            "memfd not sealed against growing",
            SetupPlan {
                seals: SealFlags::SHRINK | SealFlags::SEAL,
                ..good()
            },
            violation,
        ),
        (
            "seals not sealed",
            SetupPlan {
                seals: SealFlags::SHRINK | SealFlags::GROW,
                ..good()
            },
            violation,
        ),
        (
            "a pipe instead of a memfd",
            SetupPlan {
                memfd_is_pipe: true,
                ..good()
            },
            violation,
        ),
        (
            "sealed memfd smaller than announced",
            SetupPlan {
                memfd_size: size - 4096,
                ..good()
            },
            violation,
        ),
        (
            "sealed memfd larger than announced",
            SetupPlan {
                memfd_size: size + 4096,
                ..good()
            },
            violation,
        ),
        (
            "header magic wrong",
            good().header_field(0, b"LIPC-SHX"),
            violation,
        ),
        (
            "header layout version 2",
            good().header_field(8, &[2]),
            violation,
        ),
        (
            "header reserved field set",
            good().header_field(12, &[1]),
            violation,
        ),
        (
            "header ring capacity differs",
            good().header_field(16, &(2 * RING).to_le_bytes()),
            violation,
        ),
        (
            "header ring 1 offset wrong",
            good().header_field(32, &[8]),
            violation,
        ),
        (
            "header segment size wrong",
            good().header_field(40, &[8]),
            violation,
        ),
        (
            "SETUP layout version 2",
            good().frame_field(24, &[2]),
            "ProtocolMismatch",
        ),
        // UNSEALED (the POSIX shm fallback) is accepted only by a client using it too.
        (
            "SETUP flag UNSEALED",
            good().frame_field(28, &[1]),
            violation,
        ),
        ("SETUP flag bit 1", good().frame_field(28, &[2]), violation),
        (
            "SETUP layout version 0",
            good().frame_field(24, &[0]),
            "ProtocolMismatch",
        ),
        (
            "ring capacity not a power of two",
            with_cap(RING + 4096),
            violation,
        ),
        ("ring capacity below 64 KiB", with_cap(RING / 2), violation),
        ("ring capacity above 1 GiB", with_cap(1 << 31), violation),
        ("ring capacity 0", with_cap(0), violation),
        (
            "segment size field wrong",
            good().frame_field(8, &(size + 8).to_le_bytes()),
            violation,
        ),
        (
            "DATA frame instead of SETUP",
            good().frame_field(4, &[1]),
            violation,
        ),
        ("SETUP length 16", good().frame_field(0, &[16]), violation),
        ("SETUP with a flag", good().frame_field(5, &[1]), violation),
    ];
    // The documented order of the checks decides between kinds (section 11.3): descriptors
    // (4) before the layout version (5) before the capacity (6).
    cases.push((
        "layout version 2 with 4 descriptors",
        SetupPlan {
            fds: 4,
            ..good().frame_field(24, &[2])
        },
        violation,
    ));
    cases.push((
        "layout version 2 and a capacity not a power of two",
        with_cap(RING + 4096).frame_field(24, &[2]),
        "ProtocolMismatch",
    ));
    let truncated = |n: usize| {
        let mut p = good();
        p.frame.truncate(n);
        p
    };
    // Section 11.4: a write seal (which would make mapping the segment writable fail with
    // EPERM) is the server's fault: a ProtocolViolation, not a PermissionDenied of ours.
    let mut named: Vec<(SetupPlan, &str)> = Vec::new();
    for seal in [SealFlags::WRITE, SealFlags::FUTURE_WRITE] {
        let mut plan = good();
        plan.seals |= seal;
        named.push((plan, "sealed against writing"));
    }
    // Section 11.3 check 9: the doorbells the client sleeps on must be in counter mode. One
    // in semaphore mode pre-loaded near 2^64 would stay readable after every read (the
    // client would never sleep); an empty one is refused all the same.
    for count in [u64::MAX - 1, 0] {
        let plan = SetupPlan {
            semaphore_bells: Some(count),
            ..good()
        };
        named.push((plan, "doorbell"));
    }
    for (plan, why) in named {
        let line = client_verdict(&plan, true);
        assert!(
            line.starts_with("fail ProtocolViolation ") && line.contains(why),
            "{why}: {line}"
        );
    }
    cases.push((
        "SETUP cut after 20 bytes, then close",
        truncated(20),
        "PeerDisconnected",
    ));
    cases.push((
        "no SETUP, close",
        SetupPlan {
            fds: 0,
            ..truncated(0)
        },
        "PeerDisconnected",
    ));
    for (what, plan, kind) in cases {
        let line = client_verdict(&plan, true);
        assert!(line.starts_with(&format!("fail {kind} ")), "{what}: {line}");
    }
    let line = client_verdict(&truncated(20), false);
    assert!(
        line.starts_with("fail Timeout "),
        "SETUP cut short, then silence: {line}"
    );
}
