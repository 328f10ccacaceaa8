//! Request/reply across processes, on every transport: a libipc request/reply server in an
//! `ipc-test-peer rpc-echo-server` process and clients in this one (blocking and async): 1,000
//! requests in flight with random handler delays, deadlines and cancellation, error replies,
//! a server killed mid-call; then hostile bytes in the envelopes, both ways (a raw client
//! against the server process, a raw server against a libipc client).
//!
//! Unix only (the async client, and raw servers); the Windows run covers named pipes with the
//! core's own tests.

#![cfg(unix)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use libipc::rpc::{AsyncClient, Client};
use libipc::wire::{CAP_RPC, Envelope, FrameType, HELLO_LEN_V1, Hello, RpcKind, RpcRole};
use libipc::{Cancel, ErrorKind, Wait};
use libipc_conformance::peer::Peer;
use libipc_conformance::raw::{self, RawListener};
use libipc_conformance::transport::{Site, TempDir, Transport};
use libipc_conformance::watchdog::Watchdog;
use libipc_conformance::{peer, transport_tests};
use serde::Deserialize;

transport_tests!(
    thousand_requests_in_flight_are_all_matched,
    deadlines_and_cancellation_release_slots_and_count_late_replies,
    error_replies_carry_status_and_text,
    a_killed_server_fails_every_request_in_flight;
    // Raw envelopes written on the socket after the handshake (over shm:// they would travel
    // in the rings; the envelope checks are the same code, `Envelope::decode`).
    sockets_only:
    malformed_envelopes_get_error_9,
);

/// A request/reply server in another process.
fn server(t: Transport, extra: &[&str]) -> (Site, Peer) {
    let mut site = t.site();
    let server = peer!("rpc-echo-server", site.there())
        .args(extra)
        .listening(&mut site);
    (site, server)
}

/// 1,000 requests in flight at once on one client, against handlers that each wait a random
/// 0-20 ms and run concurrently (so replies come back in another order): every reply reaches
/// the request it answers. Once from one thread of the blocking client, once from 1,000 tasks
/// of the async client.
fn thousand_requests_in_flight_are_all_matched(t: Transport) {
    let _w = Watchdog::start();
    let (site, mut server) = server(t, &["--async", "--max-delay-ms", "20"]);
    let c = Client::connect(site.here()).unwrap();
    let mut pending: Vec<_> = (0..1000u32)
        .map(|i| (i, c.start(format!("request {i}").as_bytes()).unwrap()))
        .collect();
    assert_eq!(c.in_flight(), 1000);
    fastrand::shuffle(&mut pending);
    for (i, p) in pending {
        assert_eq!(
            &*p.wait_forever().unwrap(),
            format!("request {i}").as_bytes()
        );
    }
    assert_eq!((c.in_flight(), c.late_replies()), (0, 0));

    let rt = libipc::aio::new_runtime().unwrap();
    rt.block_on(async {
        let c = AsyncClient::connect(site.here()).await.unwrap();
        let calls: Vec<_> = (0..1000u32)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move {
                    let body = format!("async {i}");
                    assert_eq!(&*c.call(body.as_bytes()).await.unwrap(), body.as_bytes());
                })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
        assert_eq!((c.in_flight(), c.late_replies()), (0, 0));
    });
    server.close_stdin();
    assert_eq!(server.expect("bye"), "");
}

/// Against a server that answers one request at a time (so a slow request's reply comes
/// before the next one's): a call that times out, one that is cancelled and one whose pending
/// handle is dropped each release their slot, and their replies, arriving later, are dropped
/// and counted, never delivered to the next call.
fn deadlines_and_cancellation_release_slots_and_count_late_replies(t: Transport) {
    let _w = Watchdog::start();
    let (site, mut server) = server(t, &[]);
    let c = Client::connect(site.here()).unwrap();
    let e = c
        .call_timeout(b"sleep:200", Duration::from_millis(20))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(c.in_flight(), 0);
    assert_eq!(&*c.call(b"one").unwrap(), b"one");
    assert_eq!(c.late_replies(), 1);

    let cancel = Cancel::new().unwrap();
    let (c2, cancel2) = (c.clone(), cancel.clone());
    let call =
        thread::spawn(move || c2.call_wait(b"sleep:200", Wait::forever().or_cancel(&cancel2)));
    thread::sleep(Duration::from_millis(20));
    cancel.cancel();
    assert_eq!(
        call.join().unwrap().unwrap_err().kind(),
        ErrorKind::Cancelled
    );
    assert_eq!(&*c.call(b"two").unwrap(), b"two");
    assert_eq!(c.late_replies(), 2);

    drop(c.start(b"sleep:100").unwrap());
    assert_eq!(&*c.call(b"three").unwrap(), b"three");
    assert_eq!((c.in_flight(), c.late_replies()), (0, 3));
    server.close_stdin();
    assert_eq!(server.expect("bye"), "");
}

/// An error reply is `Remote` with the handler's status and text, and the client goes on.
fn error_replies_carry_status_and_text(t: Transport) {
    let _w = Watchdog::start();
    let (site, mut server) = server(t, &[]);
    let c = Client::connect(site.here()).unwrap();
    let e = c.call(b"fail:42:no such thing").unwrap_err();
    assert_eq!(
        (e.kind(), e.status(), e.message()),
        (ErrorKind::Remote, Some(42), "no such thing")
    );
    let e = c.call(b"fail:4294967295:").unwrap_err();
    assert_eq!((e.status(), e.message()), (Some(u32::MAX), ""));
    assert_eq!(&*c.call(b"fine").unwrap(), b"fine");
    server.close_stdin();
    assert_eq!(server.expect("bye"), "");
}

/// A server process killed while ten requests are in flight: each ends with
/// `PeerDisconnected`, and so does the next call.
fn a_killed_server_fails_every_request_in_flight(t: Transport) {
    let _w = Watchdog::start();
    let (site, mut server) = server(t, &["--async"]);
    let c = Client::connect(site.here()).unwrap();
    assert_eq!(&*c.call(b"up").unwrap(), b"up");
    let pending: Vec<_> = (0..10).map(|_| c.start(b"sleep:60000").unwrap()).collect();
    server.kill();
    for p in pending {
        assert_eq!(
            p.wait_forever().unwrap_err().kind(),
            ErrorKind::PeerDisconnected
        );
    }
    assert_eq!(
        c.call(b"x").unwrap_err().kind(),
        ErrorKind::PeerDisconnected
    );
    assert_eq!(c.in_flight(), 0);
}

#[derive(Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    hex: String,
    decoded_by: String,
    valid: bool,
}

fn vectors() -> Vec<Vector> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/rpc.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str::<Vectors>(&text).unwrap().vectors
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn rpc_hello(max: u32) -> [u8; 24] {
    let mut h = raw::hello(max);
    h[8..12].copy_from_slice(&CAP_RPC.to_le_bytes());
    h
}

/// Every malformed envelope a server may receive (the invalid `"server"` vectors of
/// `tests/vectors/rpc.json`), each from a raw client on a fresh connection, after a good
/// request: the server answers the good one, then sends ERROR 9 and closes; a good client is
/// served afterwards. A raw client without `CAP_RPC` gets a refusing hello with status 8.
fn malformed_envelopes_get_error_9(t: Transport) {
    let _w = Watchdog::start();
    let (site, mut server) = server(t, &[]);
    let connect = || raw::connect(site.here()).unwrap();
    let mut plain = connect();
    plain.put(&raw::hello(1 << 20));
    let refusal = plain.read_hello();
    assert_eq!(refusal.status, ErrorKind::ProtocolMismatch.code());
    assert_eq!(
        plain.read_error_frame().code,
        ErrorKind::ProtocolMismatch.code()
    );
    plain.assert_closed();

    let bad: Vec<_> = vectors()
        .into_iter()
        .filter(|v| !v.valid && v.decoded_by == "server")
        .collect();
    assert!(bad.len() >= 8);
    for v in bad {
        let mut s = connect();
        s.put(&rpc_hello(1 << 20));
        let hello = s.read_hello();
        assert_eq!((hello.status, hello.capabilities & CAP_RPC), (0, CAP_RPC));
        let mut good = Envelope::request(5).encode().to_vec();
        good.extend_from_slice(b"hi");
        s.put(&raw::data_frame(&good));
        let reply = s.read_data();
        let (env, body) = Envelope::decode(&reply, RpcRole::Client).unwrap();
        assert_eq!((env.id, env.status, body), (5, 0, &b"hi"[..]), "{}", v.name);
        s.put(&raw::data_frame(&unhex(&v.hex)));
        let (header, _) = s.read_frame();
        assert_eq!(header.frame_type, FrameType::Error, "{}", v.name);
        s.assert_closed();
    }
    let c = Client::connect(site.here()).unwrap();
    assert_eq!(&*c.call(b"still here").unwrap(), b"still here");
    server.close_stdin();
    assert_eq!(server.expect("bye"), "");
}

/// A raw request/reply server in this process: accepts one connection, answers the hello with
/// `CAP_RPC`, then for each request runs `answer` (the request's envelope id, and the
/// stream).
fn raw_server(
    answer: impl FnOnce(&mut raw::RawStream) + Send + 'static,
) -> (TempDir, String, thread::JoinHandle<()>) {
    let dir = TempDir::new("rpc-raw");
    let ep = format!("unix://{}/raw.sock", dir.path().display());
    let (listener, ep) = RawListener::bind(&ep).unwrap();
    let t = thread::spawn(move || {
        let mut s = listener.accept().unwrap();
        let _client_hello = s.read_n(HELLO_LEN_V1.into());
        let mut h = Hello::new(1 << 20, 0);
        h.capabilities = CAP_RPC;
        s.put(&h.encode());
        answer(&mut s);
    });
    (dir, ep, t)
}

/// The id of the request the raw server reads next (skipping CANCELs).
fn next_request(s: &mut raw::RawStream) -> u64 {
    loop {
        let m = s.read_data();
        let (env, _) = Envelope::decode(&m, RpcRole::Server).unwrap();
        if env.kind == RpcKind::Request {
            return env.id;
        }
    }
}

/// Every malformed envelope a client may receive (the invalid `"client"` vectors), as the
/// answer to a request: the call fails with `ProtocolViolation`, the server gets ERROR 9 and
/// the connection ends. So does a reply to an id the client never sent. A reply to a request
/// that timed out is dropped and counted, not a violation.
#[test]
fn hostile_replies_fail_the_client() {
    let _w = Watchdog::start();
    let mut cases: HashMap<String, Vec<u8>> = vectors()
        .into_iter()
        .filter(|v| !v.valid && v.decoded_by == "client")
        .map(|v| (v.name.clone(), unhex(&v.hex)))
        .collect();
    assert!(cases.len() >= 10);
    cases.insert(
        "reply to an id never sent".into(),
        Envelope::reply(1_000_000, 0).encode().to_vec(),
    );
    for (name, bytes) in cases {
        let (_dir, ep, t) = raw_server(move |s| {
            next_request(s);
            s.put(&raw::data_frame(&bytes));
            let (header, _) = s.read_frame();
            assert_eq!(header.frame_type, FrameType::Error);
            s.assert_closed();
        });
        let c = Client::connect(ep.as_str()).unwrap();
        let e = c.call(b"q").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "{name}: {e}");
        assert_eq!(
            c.call(b"again").unwrap_err().kind(),
            ErrorKind::ProtocolViolation
        );
        t.join().unwrap();
    }

    // A late reply (to a request that gave up) and a duplicate are dropped and counted.
    let (_dir, ep, t) = raw_server(|s| {
        let slow = next_request(s);
        let next = next_request(s);
        for id in [slow, next, next] {
            let mut m = Envelope::reply(id, 0).encode().to_vec();
            m.extend_from_slice(&id.to_le_bytes());
            s.put(&raw::data_frame(&m));
        }
        let _ = raw::read_until_closed(s);
    });
    let c = Client::connect(ep.as_str()).unwrap();
    let e = c
        .call_timeout(b"slow", Duration::from_millis(10))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let got = c.call(b"next").unwrap();
    assert_eq!(u64::from_le_bytes(got[..8].try_into().unwrap()), 2);
    // The duplicate arrives after the call returned: the next receive drops it.
    let e = c
        .call_timeout(b"unanswered", Duration::from_millis(100))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(c.late_replies(), 2);
    c.close();
    t.join().unwrap();
}
