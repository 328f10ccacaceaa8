//! Wire format v1 test vectors (`tests/vectors/*.json`, schema in `tests/vectors/README.md`).
//!
//! Every vector is decoded with libipc's public sans-IO API; valid ones must decode to exactly
//! the listed fields and re-encode to the same bytes, invalid ones must fail with the listed
//! [`ErrorKind`] name. A missing, unreadable or empty vector file fails the test.

use std::path::PathBuf;

use libipc::ErrorKind;
use libipc::wire::{
    ENVELOPE_LEN, Envelope, ErrorPayload, FIFO_REQUEST_LEN, FifoRequest, FrameHeader, FrameType,
    HEADER_LEN, HELLO_LEN_V1, Hello, PubSubFrame, PubSubRole, RpcKind, RpcRole, decode_frame,
    decode_pubsub, encode_subscribe, encode_subscribed, message_envelope,
};
use serde::Deserialize;

/// A vector file: some metadata and the vectors.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File<V> {
    wire_version: String,
    kind: String,
    #[allow(dead_code)]
    description: String,
    vectors: Vec<V>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrameVector {
    name: String,
    #[allow(dead_code)]
    description: Option<String>,
    hex: String,
    max_message_size: u32,
    valid: bool,
    #[serde(rename = "type")]
    frame_type: Option<String>,
    flags: Option<u8>,
    length: Option<u32>,
    payload_hex: Option<String>,
    error_code: Option<u16>,
    error_message: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HelloVector {
    name: String,
    #[allow(dead_code)]
    description: Option<String>,
    hex: String,
    valid: bool,
    major: Option<u8>,
    minor: Option<u8>,
    length: Option<u16>,
    capabilities: Option<u32>,
    status: Option<u16>,
    max_message_size: Option<u32>,
    error: Option<String>,
    decoded_by: Role,
}

/// Which side of a handshake reads a hello vector (`decoded_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    /// A client hello: a server reads it (checks 1-6 of section 3.3; status must be 0).
    Server,
    /// A server hello: a client reads it (checks 1-5; a non-zero status is a refusal).
    Client,
    /// Both read it alike: checks 1-5 decide, and a valid one has status 0.
    Either,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RpcVector {
    name: String,
    #[allow(dead_code)]
    description: Option<String>,
    hex: String,
    decoded_by: RpcSide,
    valid: bool,
    #[serde(rename = "type")]
    kind: Option<String>,
    status: Option<u32>,
    id: Option<u64>,
    body_hex: Option<String>,
    text: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PubSubVector {
    name: String,
    #[allow(dead_code)]
    description: Option<String>,
    hex: String,
    decoded_by: PubSubSide,
    valid: bool,
    #[serde(rename = "type")]
    kind: Option<String>,
    prefixes_hex: Option<Vec<String>>,
    seq: Option<u64>,
    topic_hex: Option<String>,
    payload_hex: Option<String>,
    error: Option<String>,
}

/// Which end of a publish/subscribe connection reads an envelope vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PubSubSide {
    Publisher,
    Subscriber,
}

/// Which end of a request/reply connection reads an envelope vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RpcSide {
    Server,
    Client,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FifoVector {
    name: String,
    #[allow(dead_code)]
    description: Option<String>,
    hex: String,
    valid: bool,
    token: Option<String>,
    error: Option<String>,
}

fn load<V: for<'de> Deserialize<'de>>(file: &str, kind: &str) -> Vec<V> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read vector file {}: {e}", path.display()));
    let parsed: File<V> = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not a valid vector file: {e}", path.display()));
    // The request/reply envelope is wire 1.1, publish/subscribe 1.2; everything else is 1.0.
    let version = match kind {
        "rpc-envelope" => "1.1",
        "pubsub-envelope" => "1.2",
        _ => "1.0",
    };
    assert_eq!(parsed.wire_version, version, "{file}: wire_version");
    assert_eq!(parsed.kind, kind, "{file}: kind");
    assert!(!parsed.vectors.is_empty(), "{file} holds no vectors");
    parsed.vectors
}

fn unhex(name: &str, s: &str) -> Vec<u8> {
    assert!(
        s.len().is_multiple_of(2) && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
        "{name}: hex must be lowercase digit pairs without separators"
    );
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("checked above"))
        .collect()
}

/// Decode a hello as `role` reads it (section 3.3): a server also requires status 0 (check 6).
fn decode_as(role: Role, bytes: &[u8]) -> libipc::Result<Hello> {
    let h = Hello::decode(bytes)?;
    if role == Role::Server && h.status != 0 {
        return Err(libipc::Error::new(
            ErrorKind::ProtocolViolation,
            "client hello has a non-zero status",
        ));
    }
    Ok(h)
}

fn type_name(t: FrameType) -> &'static str {
    match t {
        FrameType::Data => "DATA",
        FrameType::Close => "CLOSE",
        FrameType::Error => "ERROR",
        FrameType::Setup => "SETUP",
        FrameType::Pad => "PAD",
        _ => "UNKNOWN",
    }
}

/// An invalid vector: it names a known error kind, carries no decoded fields, and decoding it
/// fails with exactly that kind.
fn check_invalid<T: std::fmt::Debug>(
    name: &str,
    expected: Option<&str>,
    no_fields: bool,
    result: &libipc::Result<T>,
) {
    let expected = expected.unwrap_or_else(|| panic!("{name}: no error"));
    known_kind(name, expected);
    assert!(no_fields, "{name}: invalid vectors carry no decoded fields");
    match result {
        Ok(decoded) => panic!("{name}: decoded as {decoded:?}, expected {expected}"),
        Err(e) => assert_eq!(e.kind().name(), expected, "{name}: {e}"),
    }
}

/// The expected error name must be one libipc defines, so a typo cannot pass by accident.
fn known_kind(name: &str, expected: &str) {
    assert!(
        ErrorKind::ALL.iter().any(|k| k.name() == expected),
        "{name}: {expected:?} is not an ErrorKind name"
    );
}

fn check_names_unique<'a>(file: &str, names: impl Iterator<Item = &'a str>) {
    let mut seen = std::collections::HashSet::new();
    for n in names {
        assert!(!n.is_empty(), "{file}: a vector has an empty name");
        assert!(seen.insert(n), "{file}: duplicate vector name {n:?}");
    }
}

fn check_mix(file: &str, valid: usize, total: usize) {
    assert!(valid > 0, "{file}: no valid vectors");
    assert!(valid < total, "{file}: no invalid vectors");
}

#[test]
fn frame_vectors() {
    let vectors: Vec<FrameVector> = load("frames.json", "frames");
    check_names_unique("frames.json", vectors.iter().map(|v| v.name.as_str()));
    let valid = vectors.iter().filter(|v| v.valid).count();
    check_mix("frames.json", valid, vectors.len());
    for v in &vectors {
        let name = v.name.as_str();
        let bytes = unhex(name, &v.hex);
        let result = decode_frame(&bytes, v.max_message_size);
        if !v.valid {
            let no_fields = v.frame_type.is_none() && v.payload_hex.is_none();
            check_invalid(name, v.error.as_deref(), no_fields, &result);
            continue;
        }
        assert!(v.error.is_none(), "{name}: valid vectors carry no error");
        let (header, payload) = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let want_type = v.frame_type.as_deref().expect("type");
        assert_eq!(type_name(header.frame_type), want_type, "{name}: type");
        assert_eq!(Some(header.flags), v.flags, "{name}: flags");
        assert_eq!(Some(header.length), v.length, "{name}: length");
        let want_payload = unhex(name, v.payload_hex.as_deref().expect("payload_hex"));
        assert_eq!(payload, &want_payload[..], "{name}: payload");

        // Re-encode: header + payload must give back the vector's bytes.
        let mut encoded = FrameHeader {
            length: header.length,
            frame_type: header.frame_type,
            flags: header.flags,
        }
        .encode()
        .to_vec();
        assert_eq!(encoded.len(), HEADER_LEN);
        encoded.extend_from_slice(&want_payload);
        assert_eq!(encoded, bytes, "{name}: re-encoded bytes");

        if header.frame_type == FrameType::Error {
            let p = ErrorPayload::decode(payload).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(Some(p.code), v.error_code, "{name}: error_code");
            assert_eq!(
                Some(p.message.as_str()),
                v.error_message.as_deref(),
                "{name}: error_message"
            );
            assert_eq!(p.encode_frame(), bytes, "{name}: re-encoded ERROR frame");
        } else {
            assert!(
                v.error_code.is_none() && v.error_message.is_none(),
                "{name}: error_code/error_message only belong to ERROR frames"
            );
        }
    }
}

#[test]
fn hello_vectors() {
    let vectors: Vec<HelloVector> = load("hello.json", "hello");
    check_names_unique("hello.json", vectors.iter().map(|v| v.name.as_str()));
    let valid = vectors.iter().filter(|v| v.valid).count();
    check_mix("hello.json", valid, vectors.len());
    for v in &vectors {
        let name = v.name.as_str();
        let bytes = unhex(name, &v.hex);
        let result = decode_as(v.decoded_by, &bytes);
        if v.decoded_by == Role::Either {
            // Both roles must decode it alike; then a valid one cannot carry a status.
            for role in [Role::Server, Role::Client] {
                let other = decode_as(role, &bytes);
                assert_eq!(
                    other.as_ref().map_err(|e| e.kind()),
                    result.as_ref().map_err(|e| e.kind()),
                    "{name}: decoded_by \"either\", but a {role:?} decodes it differently"
                );
            }
        }
        if !v.valid {
            let no_fields = v.major.is_none() && v.length.is_none();
            check_invalid(name, v.error.as_deref(), no_fields, &result);
            continue;
        }
        assert!(v.error.is_none(), "{name}: valid vectors carry no error");
        let h = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(Some(h.major), v.major, "{name}: major");
        assert_eq!(Some(h.minor), v.minor, "{name}: minor");
        assert_eq!(Some(h.length), v.length, "{name}: length");
        assert_eq!(Some(h.capabilities), v.capabilities, "{name}: capabilities");
        assert_eq!(Some(h.status), v.status, "{name}: status");
        assert_eq!(
            Some(h.max_message_size),
            v.max_message_size,
            "{name}: max_message_size"
        );
        assert_eq!(
            usize::from(h.length),
            bytes.len(),
            "{name}: length vs bytes"
        );

        // The 8-byte prefix alone (what a stream reader sees first) gives the same version
        // and length.
        let prefix: &[u8; 8] = bytes[..8].try_into().expect("8 bytes");
        assert_eq!(
            Hello::decode_prefix(prefix).unwrap_or_else(|e| panic!("{name}: prefix: {e}")),
            (h.major, h.minor, h.length),
            "{name}: prefix"
        );

        // This build encodes only the 24 bytes of the v1.0 fields.
        if h.length == HELLO_LEN_V1 {
            assert_eq!(h.encode().to_vec(), bytes, "{name}: re-encoded bytes");
        } else {
            let mut head = h.encode();
            head[6..8].copy_from_slice(&h.length.to_le_bytes());
            assert_eq!(
                head[..],
                bytes[..usize::from(HELLO_LEN_V1)],
                "{name}: the v1.0 fields of a longer hello"
            );
        }
    }
}

#[test]
fn fifo_request_vectors() {
    let vectors: Vec<FifoVector> = load("fifo.json", "fifo-request");
    check_names_unique("fifo.json", vectors.iter().map(|v| v.name.as_str()));
    let valid = vectors.iter().filter(|v| v.valid).count();
    check_mix("fifo.json", valid, vectors.len());
    for v in &vectors {
        let name = v.name.as_str();
        let bytes: [u8; FIFO_REQUEST_LEN] = unhex(name, &v.hex)
            .try_into()
            .unwrap_or_else(|b: Vec<u8>| panic!("{name}: {} bytes, not 64", b.len()));
        let result = FifoRequest::decode(&bytes);
        if !v.valid {
            check_invalid(name, v.error.as_deref(), v.token.is_none(), &result);
            continue;
        }
        assert!(v.error.is_none(), "{name}: valid vectors carry no error");
        let req = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            Some(req.token.as_str()),
            v.token.as_deref(),
            "{name}: token"
        );
        let again = FifoRequest::new(req.token.clone()).unwrap();
        assert_eq!(again.encode(), bytes, "{name}: re-encoded bytes");
    }
}

#[test]
fn rpc_envelope_vectors() {
    let vectors: Vec<RpcVector> = load("rpc.json", "rpc-envelope");
    check_names_unique("rpc.json", vectors.iter().map(|v| v.name.as_str()));
    let valid = vectors.iter().filter(|v| v.valid).count();
    check_mix("rpc.json", valid, vectors.len());
    for v in &vectors {
        let name = v.name.as_str();
        let bytes = unhex(name, &v.hex);
        let role = match v.decoded_by {
            RpcSide::Server => RpcRole::Server,
            RpcSide::Client => RpcRole::Client,
        };
        let result = Envelope::decode(&bytes, role);
        if !v.valid {
            let no_fields = v.kind.is_none()
                && v.status.is_none()
                && v.id.is_none()
                && v.body_hex.is_none()
                && v.text.is_none();
            check_invalid(name, v.error.as_deref(), no_fields, &result);
            continue;
        }
        assert!(v.error.is_none(), "{name}: valid vectors carry no error");
        let (env, body) = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let kind = match env.kind {
            RpcKind::Request => "REQUEST",
            RpcKind::Reply => "REPLY",
            RpcKind::Cancel => "CANCEL",
        };
        assert_eq!(Some(kind), v.kind.as_deref(), "{name}: type");
        assert_eq!(Some(env.status), v.status, "{name}: status");
        assert_eq!(Some(env.id), v.id, "{name}: id");
        let want_body = unhex(name, v.body_hex.as_deref().expect("body_hex"));
        assert_eq!(body, &want_body[..], "{name}: body");
        let is_fault = env.kind == RpcKind::Reply && env.status != 0;
        assert_eq!(
            v.text.is_some(),
            is_fault,
            "{name}: text present iff error reply"
        );
        if let Some(t) = &v.text {
            assert_eq!(std::str::from_utf8(body).unwrap(), t, "{name}: text");
        }
        let mut again = Envelope {
            kind: env.kind,
            status: env.status,
            id: env.id,
        }
        .encode()
        .to_vec();
        again.extend_from_slice(&want_body);
        assert_eq!(again.len(), ENVELOPE_LEN + want_body.len());
        assert_eq!(again, bytes, "{name}: re-encoded bytes");
    }
}

#[test]
fn pubsub_envelope_vectors() {
    let vectors: Vec<PubSubVector> = load("pubsub.json", "pubsub-envelope");
    check_names_unique("pubsub.json", vectors.iter().map(|v| v.name.as_str()));
    let valid = vectors.iter().filter(|v| v.valid).count();
    check_mix("pubsub.json", valid, vectors.len());
    for v in &vectors {
        let name = v.name.as_str();
        let bytes = unhex(name, &v.hex);
        let role = match v.decoded_by {
            PubSubSide::Publisher => PubSubRole::Publisher,
            PubSubSide::Subscriber => PubSubRole::Subscriber,
        };
        let result = decode_pubsub(&bytes, role);
        if !v.valid {
            let no_fields = v.kind.is_none()
                && v.prefixes_hex.is_none()
                && v.seq.is_none()
                && v.topic_hex.is_none()
                && v.payload_hex.is_none();
            check_invalid(name, v.error.as_deref(), no_fields, &result);
            continue;
        }
        assert!(v.error.is_none(), "{name}: valid vectors carry no error");
        let frame = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = match frame {
            PubSubFrame::Subscribe(prefixes) => {
                assert_eq!(v.kind.as_deref(), Some("SUBSCRIBE"), "{name}: type");
                let want: Vec<Vec<u8>> = v
                    .prefixes_hex
                    .as_ref()
                    .expect("prefixes_hex")
                    .iter()
                    .map(|p| unhex(name, p))
                    .collect();
                assert_eq!(prefixes, want, "{name}: prefixes");
                assert!(v.seq.is_none() && v.topic_hex.is_none() && v.payload_hex.is_none());
                encode_subscribe(&want)
            }
            PubSubFrame::Subscribed { first_seq } => {
                assert_eq!(v.kind.as_deref(), Some("SUBSCRIBED"), "{name}: type");
                assert_eq!(Some(first_seq), v.seq, "{name}: seq");
                encode_subscribed(first_seq).to_vec()
            }
            PubSubFrame::Message {
                seq,
                topic,
                payload,
            } => {
                assert_eq!(v.kind.as_deref(), Some("MESSAGE"), "{name}: type");
                assert_eq!(Some(seq), v.seq, "{name}: seq");
                let want_topic = unhex(name, v.topic_hex.as_deref().expect("topic_hex"));
                let want_payload = unhex(name, v.payload_hex.as_deref().expect("payload_hex"));
                assert_eq!(topic, &want_topic[..], "{name}: topic");
                assert_eq!(payload, &want_payload[..], "{name}: payload");
                let mut m = message_envelope(seq, topic.len()).to_vec();
                m.extend_from_slice(topic);
                m.extend_from_slice(payload);
                m
            }
        };
        assert_eq!(again, bytes, "{name}: re-encoded bytes");
    }
}

/// What a stream reader makes of `bytes` followed by the end of the stream: it reads the
/// 8-byte prefix, checks it (checks 1-3), reads the rest of the announced length and decodes
/// exactly those bytes, as `role`. Check 4 (the length matches the bytes) cannot fail here: a
/// stream that ends early is `PeerDisconnected`, and bytes past the announced length are
/// the next data, not part of the hello.
#[cfg(unix)]
fn on_stream(role: Role, bytes: &[u8]) -> libipc::Result<Hello> {
    let ended = || libipc::Error::new(ErrorKind::PeerDisconnected, "stream ended");
    let prefix: &[u8; 8] = bytes.first_chunk().ok_or_else(ended)?;
    let (_, _, length) = Hello::decode_prefix(prefix)?;
    let whole = bytes.get(..usize::from(length)).ok_or_else(ended)?;
    decode_as(role, whole)
}

/// Every hello vector replayed on a live Unix socket, to the real implementation of each role
/// its `decoded_by` names: as a client hello to a libipc listener (which must answer as section
/// 4.2 says), and as a server hello to a connecting libipc client (which must connect, or fail
/// with the vector's error, or report the refusal's code).
#[cfg(unix)]
#[test]
fn hello_vectors_replayed_to_both_roles() {
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};

    use libipc::{Channel, Listener, Options};
    use libipc_conformance::raw::read_until_closed;
    use libipc_conformance::transport::TempDir;
    use libipc_conformance::watchdog::Watchdog;

    const LIMIT: u32 = 4096;
    let _w = Watchdog::start();
    let dir = TempDir::new("vectors");
    let server_ep = format!("unix://{}/server.sock", dir.path().display());
    let listener = Listener::bind_with(
        server_ep.as_str(),
        &Options::new().with_max_message_size(LIMIT as usize),
    )
    .expect("bind");
    let listener = std::sync::Arc::new(listener);
    // Channels are dropped at once: the replay looks only at the handshake.
    let accepting = {
        let listener = std::sync::Arc::clone(&listener);
        std::thread::spawn(move || while listener.accept().is_ok() {})
    };
    let server_path = dir.path().join("server.sock");
    let fake_path = dir.path().join("fake.sock");
    let fake = UnixListener::bind(&fake_path).expect("bind the fake server");
    let fake_ep = format!("unix://{}", fake_path.display());

    let vectors: Vec<HelloVector> = load("hello.json", "hello");
    let mut replayed = [0usize; 2];
    for v in &vectors {
        let name = v.name.as_str();
        let bytes = unhex(name, &v.hex);
        if matches!(v.decoded_by, Role::Server | Role::Either) {
            replayed[0] += 1;
            let mut s = UnixStream::connect(&server_path).expect("connect");
            s.write_all(&bytes).expect("write the hello");
            s.shutdown(std::net::Shutdown::Write).expect("shutdown");
            // Everything until the end; a reset ends it too (as when bytes follow the hello).
            let reply = read_until_closed(&mut s);
            match on_stream(Role::Server, &bytes) {
                Ok(_) => assert_eq!(
                    reply.get(..24),
                    Some(&Hello::new(LIMIT, 0).encode()[..]),
                    "{name}: a listener accepts it with its own v1.0 hello (capabilities 0)"
                ),
                Err(e) if e.kind() == ErrorKind::PeerDisconnected => {
                    assert!(reply.is_empty(), "{name}: no answer to a cut hello");
                }
                Err(e) => {
                    let code = e.kind().code();
                    assert_eq!(
                        reply.get(..24),
                        Some(&Hello::new(LIMIT, code).encode()[..]),
                        "{name}: refusing hello, status {code}, the listener's limit, capabilities 0"
                    );
                    let (header, payload) = decode_frame(&reply[24..], u32::MAX)
                        .unwrap_or_else(|e| panic!("{name}: the ERROR after the refusal: {e}"));
                    assert_eq!(header.frame_type, FrameType::Error, "{name}");
                    assert_eq!(ErrorPayload::decode(payload).unwrap().code, code, "{name}");
                }
            }
        }
        if matches!(v.decoded_by, Role::Client | Role::Either) {
            replayed[1] += 1;
            let serving = {
                let (fake, bytes) = (fake.try_clone().unwrap(), bytes.clone());
                std::thread::spawn(move || {
                    let (mut s, _) = fake.accept().expect("accept");
                    let mut hello = [0u8; 24];
                    s.read_exact(&mut hello).expect("the client's hello");
                    // Writing may fail once the client has given up on a bad hello.
                    let _ = s.write_all(&bytes);
                    let _ = s.shutdown(std::net::Shutdown::Write);
                    let mut rest = Vec::new();
                    let _ = s.read_to_end(&mut rest);
                })
            };
            let got = Channel::connect_with(fake_ep.as_str(), &Options::new());
            let want = on_stream(Role::Client, &bytes).and_then(|h| match h.status {
                0 => Ok(h),
                code => Err(libipc::Error::new(
                    ErrorKind::from_code(code)
                        .filter(|k| k.on_wire())
                        .unwrap_or(ErrorKind::ProtocolViolation),
                    "refused",
                )),
            });
            assert_eq!(
                got.as_ref().map(|_| ()).map_err(|e| e.kind()),
                want.as_ref().map(|_| ()).map_err(|e| e.kind()),
                "{name}: what a connecting client makes of it"
            );
            drop(got);
            serving.join().expect("fake server");
        }
    }
    assert!(
        replayed[0] > 0 && replayed[1] > 0,
        "no vector for a role: {replayed:?}"
    );
    listener.close();
    accepting.join().expect("accepting thread");
}
