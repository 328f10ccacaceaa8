//! The handshake state machine, both sides, against a peer that sends arbitrary bytes.
//!
//! Input: `side u8 | the peer's bytes`. The hello decoders run on the bytes directly; then a
//! real connection over a Unix socket (the handshake is the same on every transport):
//! - even side: a `Listener` of libipc reads them as the client's hello (and frames after
//!   it). It must accept exactly a valid client hello, and otherwise answer with a hello
//!   whose status is the error the decoder gives, followed by an ERROR frame carrying it, or
//!   (bytes cut short) hang up without an answer;
//! - odd side: `Channel::connect` reads them as the server's answer. It must connect exactly
//!   on a valid accepting hello, and otherwise fail with the error the decoder gives, the
//!   refusal's status, or `PeerDisconnected` when the bytes stop short.
//!
//! Once connected, the messages the channel receives are those the frame reader decodes from
//! the bytes after the hello.
#![no_main]

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use libipc::fuzzing::{Decoded, Reader};
use libipc::wire::{HEADER_LEN, HELLO_LEN_V1, Hello, decode_frame};
use libipc::{Channel, ErrorKind, Listener, Options};

/// Limit of both sides; small, so the reader cross-check stays cheap.
const MAX: usize = 1 << 16;
/// A hang guard only: every exchange ends at once because the peer's side is shut down.
const GUARD: Duration = Duration::from_secs(20);

struct World {
    dir: PathBuf,
    listener: Listener,
    server: UnixListener,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        // SAFETY: ignoring SIGPIPE is process-wide and allowed at any time; a write to a
        // socket whose peer hung up then fails with EPIPE instead of killing the fuzzer.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let dir =
            std::env::temp_dir().join(format!("libipc-fuzz-handshake-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let opts = Options::new()
            .with_max_message_size(MAX)
            .with_handshake_timeout(GUARD);
        let listener =
            Listener::bind_with(format!("unix://{}/l.sock", dir.display()).as_str(), &opts)
                .unwrap();
        let server = UnixListener::bind(dir.join("s.sock")).unwrap();
        World {
            dir,
            listener,
            server,
        }
    })
}

fn opts() -> Options {
    Options::new()
        .with_max_message_size(MAX)
        .with_handshake_timeout(GUARD)
}

/// What the handshake must conclude from `bytes` as the peer's hello: `Ok(len)` for a valid
/// hello of `len` bytes (its status not yet judged), or the error kind.
fn judge(bytes: &[u8]) -> Result<(Hello, usize), ErrorKind> {
    let Some(prefix) = bytes.first_chunk::<8>() else {
        return Err(ErrorKind::PeerDisconnected);
    };
    let (_, _, len) = Hello::decode_prefix(prefix).map_err(|e| e.kind())?;
    let len = len as usize;
    if bytes.len() < len {
        return Err(ErrorKind::PeerDisconnected);
    }
    let h = Hello::decode(&bytes[..len]).map_err(|e| e.kind())?;
    Ok((h, len))
}

/// Messages the frame reader decodes from `bytes`, up to an error or the end.
fn expected_messages(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut r = Reader::new(MAX as u32);
    r.push(bytes);
    let mut out = Vec::new();
    while let Ok(Some(Decoded::Message(m))) = r.next() {
        out.push(m);
    }
    out
}

/// Receive until the channel ends (the peer's side is shut, so it does).
fn received(ch: &Channel) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Ok(m) = ch.recv_timeout(GUARD) {
        out.push(m.to_vec());
    }
    out
}

fn server_side(w: &World, bytes: &[u8]) {
    let mut s = UnixStream::connect(w.dir.join("l.sock")).unwrap();
    s.set_read_timeout(Some(GUARD)).unwrap();
    // One write: the socket buffer takes it before the listener can judge any of it.
    let _ = s.write_all(bytes);
    s.shutdown(Shutdown::Write).unwrap();
    let expected = judge(bytes).and_then(|(h, len)| {
        if h.status != 0 {
            Err(ErrorKind::ProtocolViolation)
        } else {
            Ok(len)
        }
    });
    let mut answer = [0u8; HELLO_LEN_V1 as usize];
    let got = s.read_exact(&mut answer);
    match expected {
        Ok(len) => {
            got.expect("an accepting hello");
            let h = Hello::decode(&answer).unwrap();
            assert_eq!(h.status, 0);
            assert_eq!(h.max_message_size, MAX as u32);
            let ch = w
                .listener
                .accept_timeout(GUARD)
                .expect("the accepted channel");
            assert_eq!(received(&ch), expected_messages(&bytes[len..]));
        }
        Err(ErrorKind::PeerDisconnected) => {
            assert!(
                got.is_err(),
                "an answer to a cut-short hello: {answer:02x?}"
            );
        }
        Err(kind) => {
            got.expect("a refusing hello");
            let h = Hello::decode(&answer).unwrap();
            assert_eq!(h.status, kind.code(), "refusal status");
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).unwrap();
            let (head, payload) = decode_frame(&rest, 0).expect("one ERROR frame");
            assert_eq!(head.length as usize, rest.len() - HEADER_LEN);
            assert_eq!(payload[..2], kind.code().to_le_bytes());
        }
    }
}

fn client_side(w: &World, bytes: &[u8]) {
    let ep = format!("unix://{}/s.sock", w.dir.display());
    std::thread::scope(|scope| {
        let client = scope.spawn(|| {
            let ch = Channel::connect_with(ep.as_str(), &opts())?;
            Ok::<_, libipc::Error>(received(&ch))
        });
        let (mut s, _) = w.server.accept().unwrap();
        s.set_read_timeout(Some(GUARD)).unwrap();
        let mut hello = [0u8; HELLO_LEN_V1 as usize];
        s.read_exact(&mut hello).unwrap();
        assert_eq!(Hello::decode(&hello).unwrap().status, 0);
        let _ = s.write_all(bytes);
        s.shutdown(Shutdown::Write).unwrap();
        let result = client.join().unwrap();
        drop(s);
        let expected = judge(bytes).and_then(|(h, len)| match h.status {
            0 => Ok(len),
            code => Err(ErrorKind::from_code(code)
                .filter(|k| k.on_wire())
                .unwrap_or(ErrorKind::ProtocolViolation)),
        });
        match (expected, result) {
            (Ok(len), Ok(msgs)) => assert_eq!(msgs, expected_messages(&bytes[len..])),
            (Err(kind), Err(e)) => assert_eq!(e.kind(), kind, "{e}"),
            (want, got) => panic!("expected {want:?}, got {got:?}"),
        }
    });
}

fuzz_target!(|data: &[u8]| {
    let Some((&side, bytes)) = data.split_first() else {
        return;
    };
    // The decoders alone: never a panic, and a decoded v1.0 hello re-encodes to its bytes.
    if let Some(prefix) = bytes.first_chunk::<8>() {
        let _ = Hello::decode_prefix(prefix);
    }
    if let Ok(h) = Hello::decode(bytes)
        && h.length == HELLO_LEN_V1
    {
        assert_eq!(h.encode()[..], bytes[..]);
    }
    let w = world();
    if side % 2 == 0 {
        server_side(w, bytes);
    } else {
        client_side(w, bytes);
    }
});
