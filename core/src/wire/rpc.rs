//! The request/reply envelope (wire 1.1, `CAP_RPC`): the 16 bytes that open every message on
//! a channel where both hellos carry `CAP_RPC` (`docs/wire-format.md`, section 16).
//!
//! ```text
//! off len field
//!   0   1 kind: 1 REQUEST, 2 REPLY, 3 CANCEL
//!   1   1 flags, zero
//!   2   2 reserved, zero
//!   4   4 status, u32 LE: REQUEST and CANCEL 0; REPLY 0 = success, else the handler's error
//!         status (the body is then UTF-8 text, at most 4092 bytes)
//!   8   8 correlation id, u64 LE: chosen by the client, echoed by the server's REPLY
//!  16   - body (REQUEST: the request; REPLY: the answer or the error text; CANCEL: empty)
//! ```

use crate::error::{Error, ErrorKind, Result};

/// Hello capability bit of request/reply channels (bit 1).
pub const CAP_RPC: u32 = 0x0000_0002;
/// Bytes of the envelope in front of every request/reply message.
pub const ENVELOPE_LEN: usize = 16;
/// Longest error text of an error REPLY, in bytes (as an ERROR frame's).
pub const MAX_FAULT_TEXT: usize = 4092;

/// What an envelope opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RpcKind {
    /// Client to server: a request the server answers with one REPLY of the same id.
    Request,
    /// Server to client: the answer to the request with this id.
    Reply,
    /// Client to server: the client no longer waits for this id's reply (advisory).
    Cancel,
}

impl RpcKind {
    /// The kind's byte on the wire.
    pub const fn byte(self) -> u8 {
        match self {
            RpcKind::Request => 1,
            RpcKind::Reply => 2,
            RpcKind::Cancel => 3,
        }
    }

    /// The kind's name as the docs and test vectors write it.
    pub const fn name(self) -> &'static str {
        match self {
            RpcKind::Request => "REQUEST",
            RpcKind::Reply => "REPLY",
            RpcKind::Cancel => "CANCEL",
        }
    }
}

/// Which end of a request/reply channel decodes: each end accepts only what its peer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcRole {
    /// The client: accepts REPLY.
    Client,
    /// The server: accepts REQUEST and CANCEL.
    Server,
}

/// A decoded envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope {
    /// What the message is.
    pub kind: RpcKind,
    /// REPLY: 0 for success, else the handler's error status. REQUEST, CANCEL: 0.
    pub status: u32,
    /// The correlation id.
    pub id: u64,
}

fn violation(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, what.into())
}

impl Envelope {
    /// A REQUEST with this id.
    pub const fn request(id: u64) -> Envelope {
        Envelope {
            kind: RpcKind::Request,
            status: 0,
            id,
        }
    }

    /// A REPLY to `id` with `status` (0: success).
    pub const fn reply(id: u64, status: u32) -> Envelope {
        Envelope {
            kind: RpcKind::Reply,
            status,
            id,
        }
    }

    /// A CANCEL of `id`.
    pub const fn cancel(id: u64) -> Envelope {
        Envelope {
            kind: RpcKind::Cancel,
            status: 0,
            id,
        }
    }

    /// The 16 bytes on the wire.
    pub fn encode(&self) -> [u8; ENVELOPE_LEN] {
        let mut b = [0u8; ENVELOPE_LEN];
        b[0] = self.kind.byte();
        b[4..8].copy_from_slice(&self.status.to_le_bytes());
        b[8..16].copy_from_slice(&self.id.to_le_bytes());
        b
    }

    /// Decode and check the envelope at the start of `message`, as `role` receives it;
    /// returns it and the body. Every failure is `ProtocolViolation`, checked in the order of
    /// section 16.3 of the wire format.
    pub fn decode(message: &[u8], role: RpcRole) -> Result<(Envelope, &[u8])> {
        if message.len() < ENVELOPE_LEN {
            return Err(violation(format!(
                "a {}-byte message on a request/reply channel: shorter than its 16-byte envelope",
                message.len()
            )));
        }
        let (head, body) = message.split_at(ENVELOPE_LEN);
        let kind = match head[0] {
            1 => RpcKind::Request,
            2 => RpcKind::Reply,
            3 => RpcKind::Cancel,
            k => return Err(violation(format!("unknown envelope kind {k}"))),
        };
        let allowed = match role {
            RpcRole::Client => kind == RpcKind::Reply,
            RpcRole::Server => kind != RpcKind::Reply,
        };
        if !allowed {
            let (who, peer) = match role {
                RpcRole::Client => ("client", "server"),
                RpcRole::Server => ("server", "client"),
            };
            return Err(violation(format!(
                "the {peer} sent a {} envelope, which only a {who} sends",
                kind.name()
            )));
        }
        if head[1] != 0 {
            return Err(violation(format!(
                "envelope flags 0x{:02x}: none are defined",
                head[1]
            )));
        }
        if head[2] != 0 || head[3] != 0 {
            return Err(violation("envelope reserved bytes are not zero"));
        }
        let status = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        let id = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
        if kind != RpcKind::Reply && status != 0 {
            return Err(violation(format!(
                "a {} envelope with status {status}: only a REPLY has one",
                kind.name()
            )));
        }
        if kind == RpcKind::Cancel && !body.is_empty() {
            return Err(violation(format!(
                "a CANCEL with a {}-byte body: it has none",
                body.len()
            )));
        }
        if kind == RpcKind::Reply && status != 0 {
            if body.len() > MAX_FAULT_TEXT {
                return Err(violation(format!(
                    "an error REPLY with {} bytes of text: at most {MAX_FAULT_TEXT}",
                    body.len()
                )));
            }
            if std::str::from_utf8(body).is_err() {
                return Err(violation("an error REPLY whose text is not UTF-8"));
            }
        }
        Ok((Envelope { kind, status, id }, body))
    }
}

/// `text` cut to at most [`MAX_FAULT_TEXT`] bytes at a character boundary.
pub fn fault_text(text: &str) -> &str {
    if text.len() <= MAX_FAULT_TEXT {
        return text;
    }
    let mut end = MAX_FAULT_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip() {
        for env in [
            Envelope::request(0),
            Envelope::request(u64::MAX),
            Envelope::reply(7, 0),
            Envelope::reply(7, u32::MAX),
            Envelope::cancel(42),
        ] {
            let role = if env.kind == RpcKind::Reply {
                RpcRole::Client
            } else {
                RpcRole::Server
            };
            let mut msg = env.encode().to_vec();
            if env.kind != RpcKind::Cancel {
                msg.extend_from_slice(b"body");
            }
            let (back, body) = Envelope::decode(&msg, role).unwrap();
            assert_eq!(back, env);
            assert_eq!(body.len(), msg.len() - ENVELOPE_LEN);
        }
    }

    #[test]
    fn each_end_accepts_only_its_peers_kinds() {
        let req = Envelope::request(1).encode();
        let rep = Envelope::reply(1, 0).encode();
        let can = Envelope::cancel(1).encode();
        assert!(Envelope::decode(&req, RpcRole::Client).is_err());
        assert!(Envelope::decode(&can, RpcRole::Client).is_err());
        assert!(Envelope::decode(&rep, RpcRole::Server).is_err());
    }

    #[test]
    fn malformed_envelopes_are_violations() {
        let ok = Envelope::reply(9, 0).encode();
        let mut cases: Vec<Vec<u8>> = vec![ok[..15].to_vec(), Vec::new()];
        for (at, v) in [(0, 0u8), (0, 4), (1, 1), (2, 1), (3, 0x80)] {
            let mut b = ok.to_vec();
            b[at] = v;
            cases.push(b);
        }
        let mut bad_text = Envelope::reply(9, 5).encode().to_vec();
        bad_text.extend_from_slice(&[0xc3, 0x28]);
        cases.push(bad_text);
        let mut long_text = Envelope::reply(9, 5).encode().to_vec();
        long_text.resize(ENVELOPE_LEN + MAX_FAULT_TEXT + 1, b'a');
        cases.push(long_text);
        for c in cases {
            let e = Envelope::decode(&c, RpcRole::Client).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "{c:02x?}");
        }
        let mut req_status = Envelope::request(1).encode();
        req_status[4] = 1;
        assert!(Envelope::decode(&req_status, RpcRole::Server).is_err());
        let mut cancel_body = Envelope::cancel(1).encode().to_vec();
        cancel_body.push(0);
        assert!(Envelope::decode(&cancel_body, RpcRole::Server).is_err());
    }

    #[test]
    fn fault_text_is_cut_at_a_character_boundary() {
        let s = "é".repeat(3000); // 6000 bytes
        let cut = fault_text(&s);
        assert!(cut.len() <= MAX_FAULT_TEXT && cut.len() >= MAX_FAULT_TEXT - 1);
        assert!(s.starts_with(cut));
    }
}
