//! Every byte example in `docs/wire-format.md` is checked against what libipc really sends.
//!
//! Each hex dump in the document is a fenced block right after an HTML comment
//! `<!-- example: NAME -->`; each test below produces the bytes of one example from the
//! implementation (mostly by running a real listener and channel in this process and
//! capturing the bytes on the socket, or in the shared-memory ring; the rest with the
//! public encoders of `libipc::wire`) and compares them with the block. A block's bytes are
//! the leading hex tokens of each line; the rest of a line is commentary. A line starting with
//! `C→S` or `S→C` says which direction the following bytes travel; per direction, the bytes
//! of the block must equal the bytes captured in that direction.
//!
//! `every_byte_example_is_tagged_and_checked` fails if a fenced block holds hex bytes without a
//! tag, if a tag names an example no test here produces, or if an inline code span of hex
//! bytes (such as `4c 49 50 43`) is not one the test knows and checks.
//!
//! Unix only (Unix sockets, and shared memory for section 11).

#![cfg(unix)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::Duration;

use libipc::wire::{
    CAP_SHM, FIFO_MAGIC, FLAG_MORE, FifoRequest, FrameHeader, FrameType, HEADER_LEN, Hello, MAGIC,
    Setup, decode_frame,
};
use libipc::{Channel, ErrorKind, Listener, Options};
use libipc_conformance::raw::{self, RawStream};
use libipc_conformance::shm_raw;
use libipc_conformance::transport::{TempDir, Transport};
use libipc_conformance::watchdog::Watchdog;

/// Direction of a run of bytes in an example: unmarked, client to server, server to client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    None,
    ClientToServer,
    ServerToClient,
}

/// The bytes of one example, per direction.
type Bytes = BTreeMap<Dir, Vec<u8>>;

/// Every example a test below produces, by tag.
const EXAMPLES: &[&str] = &[
    "fragmented-message",
    "close-frame",
    "error-unknown-type",
    "worked-example",
    "version-refusal",
    "silent-client-refusal",
    "setup-frame",
    "ring-record",
    "ring-pad",
    "fifo-request",
    "rpc-exchange",
    "fanout-setup",
    "fanout-record",
];

fn doc_text() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/wire-format.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The hex bytes at the start of a line (after an optional direction marker), or `None` for
/// the marker. A token counts as bytes if it is an even number of lowercase hex digits.
fn line_bytes(line: &str) -> (Option<Dir>, Vec<u8>) {
    let mut tokens = line.split_whitespace().peekable();
    let dir = match tokens.peek() {
        Some(&"C→S") => Some(Dir::ClientToServer),
        Some(&"S→C") => Some(Dir::ServerToClient),
        _ => None,
    };
    if dir.is_some() {
        tokens.next();
    }
    let mut bytes = Vec::new();
    for t in tokens {
        if t.is_empty()
            || !t.len().is_multiple_of(2)
            || !t.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        {
            break;
        }
        for i in (0..t.len()).step_by(2) {
            bytes.push(u8::from_str_radix(&t[i..i + 2], 16).expect("hex digits"));
        }
    }
    (dir, bytes)
}

/// The document parsed: tagged examples, fenced blocks holding bytes without a tag (by first
/// line number), and the inline code spans that hold hex bytes.
struct Doc {
    examples: BTreeMap<String, Bytes>,
    untagged: Vec<usize>,
    inline: Vec<String>,
}

fn parse(doc: &str) -> Doc {
    let mut examples = BTreeMap::new();
    let mut untagged = Vec::new();
    let mut prose = String::new();
    let mut tag: Option<String> = None;
    let mut lines = doc.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim();
        if let Some(name) = trimmed
            .strip_prefix("<!-- example: ")
            .and_then(|r| r.strip_suffix(" -->"))
        {
            assert!(tag.is_none(), "line {}: two example tags in a row", n + 1);
            tag = Some(name.to_owned());
            continue;
        }
        if !trimmed.starts_with("```") {
            if !trimmed.is_empty() {
                assert!(
                    tag.is_none(),
                    "line {}: an example tag must be followed by a fenced block",
                    n + 1
                );
            }
            prose.push_str(line);
            prose.push('\n');
            continue;
        }
        let mut bytes = Bytes::new();
        let mut dir = Dir::None;
        for (_, inner) in lines.by_ref() {
            if inner.trim().starts_with("```") {
                break;
            }
            let (marker, b) = line_bytes(inner);
            dir = marker.unwrap_or(dir);
            if !b.is_empty() {
                bytes.entry(dir).or_default().extend(b);
            }
        }
        match tag.take() {
            Some(name) => {
                assert!(!bytes.is_empty(), "example {name:?} holds no bytes");
                assert!(
                    examples.insert(name.clone(), bytes).is_none(),
                    "example {name:?} is tagged twice"
                );
            }
            None if !bytes.is_empty() => untagged.push(n + 1),
            None => {}
        }
        prose.push('\n');
    }
    // Inline code spans (outside fenced blocks) of two or more hex byte tokens (`4c 49 50 43`,
    // not a number such as `24`), whitespace normalised.
    let inline = prose
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| {
            let (_, b) = line_bytes(s);
            b.len() >= 2 && b.len() * 3 - 1 == s.len()
        })
        .collect();
    Doc {
        examples,
        untagged,
        inline,
    }
}

fn example(name: &str) -> Bytes {
    parse(&doc_text())
        .examples
        .remove(name)
        .unwrap_or_else(|| panic!("docs/wire-format.md has no example tagged {name:?}"))
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The document's example `name` must be exactly `produced`.
fn check(name: &str, mut produced: Bytes) {
    // A direction in which nothing travels has no line in the document.
    produced.retain(|_, b| !b.is_empty());
    let documented = example(name);
    let show = |m: &Bytes| {
        m.iter()
            .map(|(d, b)| format!("  {d:?}: {}", hex(b)))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        documented == produced,
        "docs/wire-format.md example {name:?} differs from what libipc produces\n\
         documented:\n{}\nproduced:\n{}",
        show(&documented),
        show(&produced)
    );
}

fn plain(b: impl Into<Vec<u8>>) -> Bytes {
    BTreeMap::from([(Dir::None, b.into())])
}

fn both(c2s: Vec<u8>, s2c: Vec<u8>) -> Bytes {
    BTreeMap::from([(Dir::ClientToServer, c2s), (Dir::ServerToClient, s2c)])
}

/// A real listener in this process on a fresh Unix socket, with a thread that runs `serve`
/// on every accepted channel; dropping it closes the listener and joins the thread.
struct Server {
    ep: String,
    listener: Arc<Listener>,
    thread: Option<thread::JoinHandle<()>>,
    _dir: TempDir,
}

impl Server {
    fn start(opts: Options, serve: impl Fn(Channel) + Send + 'static) -> Server {
        let dir = TempDir::new("docex");
        let ep = format!("unix://{}/x.sock", dir.path().display());
        let listener = Arc::new(Listener::bind_with(ep.as_str(), &opts).expect("bind"));
        let accepting = Arc::clone(&listener);
        let thread = thread::spawn(move || {
            while let Ok(ch) = accepting.accept() {
                serve(ch);
            }
        });
        Server {
            ep,
            listener,
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.listener.close();
        if let Some(t) = self.thread.take()
            && t.join().is_err()
            && !thread::panicking()
        {
            panic!("the serving thread panicked");
        }
    }
}

fn raw_connect(ep: &str) -> RawStream {
    raw::connect(ep).unwrap_or_else(|e| panic!("raw connect {ep}: {e}"))
}

/// Section 5.3: a message sent in two fragments. Stream senders never fragment, so these are
/// the encoder's bytes, checked to decode as the fragments they claim to be.
#[test]
fn fragmented_message() {
    let mut frames = FrameHeader {
        length: 3,
        frame_type: FrameType::Data,
        flags: FLAG_MORE,
    }
    .encode()
    .to_vec();
    frames.extend_from_slice(b"hel");
    let first = frames.len();
    frames.extend_from_slice(&FrameHeader::data(2).encode());
    frames.extend_from_slice(b"lo");
    let (h, p) = decode_frame(&frames[..first], 16).unwrap();
    assert_eq!((h.flags, p), (FLAG_MORE, &b"hel"[..]));
    let (h, p) = decode_frame(&frames[first..], 16).unwrap();
    assert_eq!((h.flags, p), (0, &b"lo"[..]));
    check("fragmented-message", plain(frames));
}

/// Section 5.4: what a listener's channel sends when the application closes it.
#[test]
fn close_frame() {
    let _w = Watchdog::start();
    let server = Server::start(Options::new(), |ch| ch.close());
    let mut s = raw_connect(&server.ep);
    s.handshake(1024);
    check("close-frame", plain(raw::read_until_closed(&mut s)));
}

/// Section 5.5: the ERROR a receiver sends for a header of unknown type 0x09 (then it hangs up:
/// nothing follows).
#[test]
fn error_unknown_type() {
    let _w = Watchdog::start();
    let server = Server::start(Options::new(), |ch| while ch.recv().is_ok() {});
    let mut s = raw_connect(&server.ep);
    s.handshake(1024);
    s.put(&[0, 0, 0, 0, 0x09, 0, 0, 0]);
    check("error-unknown-type", plain(raw::read_until_closed(&mut s)));
}

/// Copy `from` into `to` until `from` ends, recording every byte (also those `to` no longer
/// takes); then shut `to`'s sending side.
fn pump(mut from: UnixStream, mut to: UnixStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let mut forward = true;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        seen.extend_from_slice(&buf[..n]);
        forward = forward && to.write_all(&buf[..n]).is_ok();
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
    seen
}

/// What a relay saw: client to server, server to client.
type Recording = thread::JoinHandle<(Vec<u8>, Vec<u8>)>;

/// A relay in front of the Unix-socket listener `server_ep`, for one connection: its
/// directory, its endpoint, and the thread that returns what went each way.
fn relay(server_ep: &str) -> (TempDir, String, Recording) {
    let relay_dir = TempDir::new("docex-relay");
    let relay_path = relay_dir.path().join("relay.sock");
    let relay = UnixListener::bind(&relay_path).unwrap();
    let server_path = server_ep.strip_prefix("unix://").unwrap().to_owned();
    let relay_thread = thread::spawn(move || {
        let (client, _) = relay.accept().unwrap();
        let upstream = UnixStream::connect(&server_path).unwrap();
        let (c2, s2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let up = thread::spawn(move || pump(c2, s2));
        let down = pump(upstream, client);
        (up.join().unwrap(), down)
    });
    let ep = format!("unix://{}", relay_path.display());
    (relay_dir, ep, relay_thread)
}

/// Section 16.5: a request/reply client calls a server twice (a reply, an error reply) through
/// a relay, then closes.
#[test]
fn rpc_exchange() {
    let _w = Watchdog::start();
    let dir = TempDir::new("docex-rpc");
    let ep = format!("unix://{}/rpc.sock", dir.path().display());
    let server = Arc::new(libipc::rpc::Server::bind(ep.as_str()).unwrap());
    let serving = Arc::clone(&server);
    let serve_thread = thread::spawn(move || {
        let r = serving.accept().unwrap();
        r.serve(&|req| match req.body() {
            b"ping" => Ok(b"pong".to_vec()),
            _ => Err(libipc::Error::remote(42, "no such thing")),
        })
        .unwrap();
    });
    let (_relay_dir, relay_ep, relay_thread) = relay(&ep);
    let c = libipc::rpc::Client::connect(relay_ep.as_str()).unwrap();
    assert_eq!(&*c.call(b"ping").unwrap(), b"pong");
    let e = c.call(b"boom").unwrap_err();
    assert_eq!((e.kind(), e.status()), (ErrorKind::Remote, Some(42)));
    c.close();
    serve_thread.join().unwrap();
    server.close();
    let (c2s, s2c) = relay_thread.join().unwrap();
    check("rpc-exchange", both(c2s, s2c));
}

/// Section 10: a libipc client (default limit) and a libipc server (1 MiB limit) through a
/// relay that records both directions.
#[test]
fn worked_example() {
    let _w = Watchdog::start();
    let server = Server::start(Options::new().with_max_message_size(1 << 20), |ch| {
        assert_eq!(&*ch.recv().unwrap(), b"ping");
        ch.send(b"pong").unwrap();
        assert_eq!(&*ch.recv().unwrap(), b"");
        assert_eq!(ch.recv().unwrap_err().kind(), ErrorKind::Closed);
        assert_eq!(ch.max_message_size(), 1 << 20);
        // Dropping the channel sends the server's own CLOSE.
    });
    let (_relay_dir, relay_ep, relay_thread) = relay(&server.ep);
    let ch = Channel::connect(relay_ep.as_str()).unwrap();
    ch.send(b"ping").unwrap();
    assert_eq!(&*ch.recv().unwrap(), b"pong");
    ch.send(b"").unwrap();
    assert_eq!(ch.max_message_size(), 1 << 20);
    ch.close();
    let (c2s, s2c) = relay_thread.join().unwrap();
    check("worked-example", both(c2s, s2c));
}

/// Section 10: a client speaking major version 2 (the hello this build would send, with major
/// 2) is refused by a listener with default options.
#[test]
fn version_refusal() {
    let _w = Watchdog::start();
    let server = Server::start(Options::new(), drop);
    let mut hello = Hello::new(16 << 20, 0).encode();
    hello[4] = 2;
    let mut s = raw_connect(&server.ep);
    s.put(&hello);
    check(
        "version-refusal",
        both(hello.to_vec(), raw::read_until_closed(&mut s)),
    );
}

/// Section 10: a client that sends nothing, refused after the default handshake timeout.
#[test]
fn silent_client_refusal() {
    let _w = Watchdog::start();
    let server = Server::start(Options::new(), drop);
    let mut s = raw_connect(&server.ep);
    check(
        "silent-client-refusal",
        both(Vec::new(), raw::read_until_closed(&mut s)),
    );
}

/// What a raw shared-memory client sees from a listener with default options: the SETUP frame
/// as received, the first 8 bytes of the segment, and the first 12 bytes of the first record
/// the server publishes (the message `ping`) with the write cursor after it.
struct ShmCapture {
    setup: Vec<u8>,
    segment_magic: Vec<u8>,
    ping_record: Vec<u8>,
    write_after_ping: u64,
}

fn shm_capture() -> &'static ShmCapture {
    static CAPTURE: OnceLock<ShmCapture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let site = Transport::Shm.site();
        let listener = Listener::bind(site.here()).expect("bind shm");
        // Two connections: the first to see the SETUP frame as it arrives, the second made
        // by shm_raw to look into the segment.
        let server = thread::spawn(move || {
            for _ in 0..2 {
                let ch = listener.accept().unwrap();
                ch.send(b"ping").unwrap();
                // Keep the channel until the client is done with the ring.
                let _ = ch.recv();
            }
        });
        // The SETUP frame as it arrives (its five descriptors are checked by shm_raw below).
        let setup = {
            let mut ctrl = UnixStream::connect(shm_raw::socket_path(site.here()).unwrap()).unwrap();
            ctrl.set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            ctrl.write_all(&shm_raw::shm_hello(u32::MAX)).unwrap();
            let mut hello = [0u8; 24];
            ctrl.read_exact(&mut hello).unwrap();
            assert_eq!(Hello::decode(&hello).unwrap().capabilities, CAP_SHM);
            let mut frame = vec![0u8; HEADER_LEN + 24];
            ctrl.read_exact(&mut frame).unwrap();
            frame
        };
        let conn = shm_raw::connect(site.here()).expect("raw shm connect");
        let mut segment_magic = vec![0u8; 8];
        conn.seg.read(0, &mut segment_magic);
        let ring = conn.rx();
        let write_at = conn.word(ring, shm_raw::WRITE);
        let mut waited = 0;
        while conn.seg.load_u64(write_at) == 0 {
            waited += 1;
            assert!(waited < 600_000, "the server never published its message");
            thread::sleep(Duration::from_micros(100));
        }
        let mut ping_record = vec![0u8; 12];
        conn.seg.read(conn.data(ring), &mut ping_record);
        let write_after_ping = conn.seg.load_u64(write_at);
        drop(conn);
        server.join().unwrap();
        ShmCapture {
            setup,
            segment_magic,
            ping_record,
            write_after_ping,
        }
    })
}

/// Section 11.3: the SETUP frame of a listener with the default ring capacity.
#[test]
fn setup_frame() {
    let _w = Watchdog::start();
    let setup = &shm_capture().setup;
    let decoded = Setup::decode_frame(setup[..].try_into().unwrap()).unwrap();
    assert_eq!(decoded.ring_capacity, 4 << 20);
    check("setup-frame", plain(setup.clone()));
}

/// Section 11.5: the record of the message `ping` at the start of a ring (16 bytes: the write
/// cursor moves by 16; the 4 padding bytes are unspecified and not shown).
#[test]
fn ring_record() {
    let _w = Watchdog::start();
    let c = shm_capture();
    assert_eq!(c.write_after_ping, 16);
    check("ring-record", plain(c.ping_record.clone()));
}

/// Section 11.5: a PAD header of length 8 (PADs are rare in a real ring; this is the encoder).
#[test]
fn ring_pad() {
    let pad = FrameHeader {
        length: 8,
        frame_type: FrameType::Pad,
        flags: 0,
    }
    .encode();
    assert_eq!(
        FrameHeader::decode(&pad).unwrap().frame_type,
        FrameType::Pad
    );
    check("ring-pad", plain(pad));
}

/// Section 12.2: the FIFO connection request for token `1f2e-0-8a7b6c5d`, which is also the
/// vector `request` of `tests/vectors/fifo.json`.
#[test]
fn fifo_request() {
    let bytes = FifoRequest::new("1f2e-0-8a7b6c5d").unwrap().encode();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/fifo.json");
    let vectors: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vector = vectors["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "request")
        .expect("vector `request`");
    assert_eq!(
        vector["hex"].as_str().unwrap(),
        hex(&bytes).replace(' ', "")
    );
    check("fifo-request", plain(bytes));
}

/// Section 17.5: a publisher's fan-out SETUP (the default capacity) as a subscriber receives it,
/// and the record of its first message in the ring (read through a read-only mapping; the
/// write position moves by the record's 32 bytes).
#[test]
fn fanout_setup_and_record() {
    let _w = Watchdog::start();
    let site = Transport::Shm.site();
    let p = libipc::pubsub::Publisher::bind(site.here()).unwrap();
    let mut c = shm_raw::connect_fanout(site.here()).expect("raw fan-out connect");
    check("fanout-setup", plain(c.setup.to_vec()));
    c.send_message(&libipc::wire::encode_subscribe::<&[u8]>(&[]))
        .unwrap();
    let (h, _) = c.read_frame().unwrap();
    assert_eq!(h.frame_type, FrameType::Data, "SUBSCRIBED");
    p.publish(b"t", b"ping").unwrap();
    let seg = shm_raw::Segment::map_read_only(&c.fds[0], 4096 + c.cap() as usize).unwrap();
    assert_eq!(
        seg.load_u64(64),
        32,
        "the write position after one 21-byte record"
    );
    let mut record = vec![0u8; 21];
    seg.read(4096, &mut record);
    check("fanout-record", plain(record));
}

/// Every hex block is tagged with an example produced above, and every inline hex span is one
/// this test checks.
#[test]
fn every_byte_example_is_tagged_and_checked() {
    let doc = parse(&doc_text());
    assert!(
        doc.untagged.is_empty(),
        "docs/wire-format.md: fenced blocks with hex bytes but no `<!-- example: NAME -->` tag \
         start at lines {:?}",
        doc.untagged
    );
    let tagged: Vec<&str> = doc.examples.keys().map(String::as_str).collect();
    let mut want = EXAMPLES.to_vec();
    want.sort_unstable();
    assert_eq!(
        tagged, want,
        "examples in the document vs examples tested here"
    );

    let _w = Watchdog::start();
    let shm = shm_capture();
    let setup_header = Setup::decode_frame(shm.setup[..].try_into().unwrap())
        .map(|_| shm.setup[..HEADER_LEN].to_vec())
        .unwrap();
    let known: [(&str, Vec<u8>); 4] = [
        ("hello magic", MAGIC.to_vec()),
        ("SETUP header", setup_header),
        ("segment magic", shm.segment_magic.clone()),
        ("FIFO request magic", FIFO_MAGIC.to_vec()),
    ];
    for span in &doc.inline {
        let (_, bytes) = line_bytes(span);
        assert!(
            known.iter().any(|(_, k)| *k == bytes),
            "docs/wire-format.md: inline bytes `{span}` are not checked by this test \
             (known: {:?})",
            known
                .iter()
                .map(|(n, k)| format!("{n} = {}", hex(k)))
                .collect::<Vec<_>>()
        );
    }
    for (name, bytes) in &known {
        assert!(
            doc.inline.contains(&hex(bytes)),
            "the {name} ({}) is no longer shown inline: update this test",
            hex(bytes)
        );
    }
}
