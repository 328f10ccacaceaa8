//! Wire format v1 test vectors (`tests/vectors/*.json`, schema in `tests/vectors/README.md`).
//!
//! Every vector is decoded with libipc's public sans-IO API; valid ones must decode to exactly
//! the listed fields and re-encode to the same bytes, invalid ones must fail with the listed
//! [`ErrorKind`] name. A missing, unreadable or empty vector file fails the test.

use std::path::PathBuf;

use libipc::ErrorKind;
use libipc::wire::{
    ErrorPayload, FIFO_REQUEST_LEN, FifoRequest, FrameHeader, FrameType, HEADER_LEN, HELLO_LEN_V1,
    Hello, decode_frame,
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
    assert_eq!(parsed.wire_version, "1.0", "{file}: wire_version");
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
        let result = Hello::decode(&bytes);
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

/// The request shown in docs/wire-format.md ("Unix FIFOs") is the vector `request`.
#[test]
fn fifo_request_in_the_wire_format_is_the_vector() {
    let vectors: Vec<FifoVector> = load("fifo.json", "fifo-request");
    let want = &vectors.iter().find(|v| v.name == "request").unwrap().hex;
    let doc = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/wire-format.md");
    let doc = std::fs::read_to_string(&doc).unwrap();
    let (_, after) = doc
        .split_once("The request for token `1f2e-0-8a7b6c5d`:\n\n```text\n")
        .expect("the example request in the wire format");
    let (block, _) = after.split_once("```").unwrap();
    assert_eq!(&block.split_whitespace().collect::<String>(), want);
}
