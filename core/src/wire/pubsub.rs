//! The publish/subscribe envelope (wire 1.2, `CAP_PUBSUB`): the 16 bytes that open every
//! message on a connection where both hellos carry `CAP_PUBSUB` (`docs/wire-format.md`,
//! section 17).
//!
//! ```text
//! off len field
//!   0   1 kind: 1 SUBSCRIBE (subscriber to publisher), 2 SUBSCRIBED, 3 MESSAGE (publisher to
//!         subscriber)
//!   1   1 flags, zero
//!   2   2 u16 LE: SUBSCRIBE: number of topic prefixes; MESSAGE: topic length; SUBSCRIBED: 0
//!   4   4 reserved, zero
//!   8   8 u64 LE: MESSAGE: its sequence number for this subscriber; SUBSCRIBED: the sequence
//!         number the first MESSAGE will carry; SUBSCRIBE: 0
//!  16   - SUBSCRIBE: the prefixes, each a u16 LE length and its bytes; SUBSCRIBED: empty;
//!         MESSAGE: the topic, then the payload
//! ```

use crate::error::{Error, ErrorKind, Result};

/// Hello capability bit of publish/subscribe connections (bit 2).
pub const CAP_PUBSUB: u32 = 0x0000_0004;
/// Bytes of the envelope in front of every publish/subscribe message.
pub const PUBSUB_ENVELOPE_LEN: usize = 16;
/// Longest topic, and longest topic prefix, in bytes.
pub const MAX_TOPIC_LEN: usize = 1024;
/// Most topic prefixes one SUBSCRIBE may carry.
pub const MAX_PREFIXES: usize = 64;

/// What a publish/subscribe envelope opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PubSubKind {
    /// Subscriber to publisher, once, first: the topic prefixes it wants (none: everything).
    Subscribe,
    /// Publisher to subscriber, once, first: the subscription is in effect.
    Subscribed,
    /// Publisher to subscriber: one published message.
    Message,
}

impl PubSubKind {
    /// The kind's byte on the wire.
    pub const fn byte(self) -> u8 {
        match self {
            PubSubKind::Subscribe => 1,
            PubSubKind::Subscribed => 2,
            PubSubKind::Message => 3,
        }
    }

    /// The kind's name as the docs and test vectors write it.
    pub const fn name(self) -> &'static str {
        match self {
            PubSubKind::Subscribe => "SUBSCRIBE",
            PubSubKind::Subscribed => "SUBSCRIBED",
            PubSubKind::Message => "MESSAGE",
        }
    }
}

/// Which end of a publish/subscribe connection decodes: each end accepts only what its peer
/// sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubSubRole {
    /// The publisher: accepts SUBSCRIBE.
    Publisher,
    /// The subscriber: accepts SUBSCRIBED and MESSAGE.
    Subscriber,
}

/// A decoded publish/subscribe message (borrowing the bytes it came from).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PubSubFrame<'a> {
    /// The subscriber's topic prefixes (empty: every topic).
    Subscribe(Vec<&'a [u8]>),
    /// The subscription is in effect; the first MESSAGE carries sequence number `first_seq`.
    Subscribed {
        /// The sequence number of the first MESSAGE to come.
        first_seq: u64,
    },
    /// One published message.
    Message {
        /// Its sequence number for this subscriber.
        seq: u64,
        /// Its topic.
        topic: &'a [u8],
        /// Its payload.
        payload: &'a [u8],
    },
}

fn violation(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, what.into())
}

fn head(kind: PubSubKind, field: u16, seq: u64) -> [u8; PUBSUB_ENVELOPE_LEN] {
    let mut b = [0u8; PUBSUB_ENVELOPE_LEN];
    b[0] = kind.byte();
    b[2..4].copy_from_slice(&field.to_le_bytes());
    b[8..16].copy_from_slice(&seq.to_le_bytes());
    b
}

/// Check a topic prefix list against the limits (before anything is sent).
pub fn check_prefixes<T: AsRef<[u8]>>(prefixes: &[T]) -> Result<()> {
    if prefixes.len() > MAX_PREFIXES {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "{} topic prefixes: a subscriber has at most {MAX_PREFIXES}",
                prefixes.len()
            ),
        ));
    }
    if let Some(p) = prefixes.iter().find(|p| p.as_ref().len() > MAX_TOPIC_LEN) {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "a topic prefix of {} bytes: at most {MAX_TOPIC_LEN}",
                p.as_ref().len()
            ),
        ));
    }
    Ok(())
}

/// Check a topic against the limit (before anything is published).
pub fn check_topic(topic: &[u8]) -> Result<()> {
    if topic.len() > MAX_TOPIC_LEN {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!("a topic of {} bytes: at most {MAX_TOPIC_LEN}", topic.len()),
        ));
    }
    Ok(())
}

/// The SUBSCRIBE message for `prefixes` (checked with [`check_prefixes`] first).
pub fn encode_subscribe<T: AsRef<[u8]>>(prefixes: &[T]) -> Vec<u8> {
    let count = u16::try_from(prefixes.len()).expect("checked: at most MAX_PREFIXES");
    let mut v = head(PubSubKind::Subscribe, count, 0).to_vec();
    for p in prefixes {
        let p = p.as_ref();
        v.extend_from_slice(
            &u16::try_from(p.len())
                .expect("checked: at most MAX_TOPIC_LEN")
                .to_le_bytes(),
        );
        v.extend_from_slice(p);
    }
    v
}

/// The SUBSCRIBED message.
pub fn encode_subscribed(first_seq: u64) -> [u8; PUBSUB_ENVELOPE_LEN] {
    head(PubSubKind::Subscribed, 0, first_seq)
}

/// The envelope of a MESSAGE with sequence number `seq` and a topic of `topic_len` bytes
/// (checked with [`check_topic`]); the topic and the payload follow it.
pub fn message_envelope(seq: u64, topic_len: usize) -> [u8; PUBSUB_ENVELOPE_LEN] {
    let len = u16::try_from(topic_len).expect("checked: at most MAX_TOPIC_LEN");
    head(PubSubKind::Message, len, seq)
}

/// Whether `topic` is one a subscriber with `prefixes` wants (no prefixes: every topic).
pub fn topic_matches<T: AsRef<[u8]>>(prefixes: &[T], topic: &[u8]) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| topic.starts_with(p.as_ref()))
}

/// Decode and check the message `m` as `role` receives it. Every failure is
/// `ProtocolViolation`, checked in the order of section 17.3 of the wire format.
pub fn decode_pubsub(m: &[u8], role: PubSubRole) -> Result<PubSubFrame<'_>> {
    if m.len() < PUBSUB_ENVELOPE_LEN {
        return Err(violation(format!(
            "a {}-byte message on a publish/subscribe connection: shorter than its 16-byte \
             envelope",
            m.len()
        )));
    }
    let (h, body) = m.split_at(PUBSUB_ENVELOPE_LEN);
    let kind = match h[0] {
        1 => PubSubKind::Subscribe,
        2 => PubSubKind::Subscribed,
        3 => PubSubKind::Message,
        k => return Err(violation(format!("unknown publish/subscribe kind {k}"))),
    };
    let allowed = match role {
        PubSubRole::Publisher => kind == PubSubKind::Subscribe,
        PubSubRole::Subscriber => kind != PubSubKind::Subscribe,
    };
    if !allowed {
        let (who, peer) = match role {
            PubSubRole::Publisher => ("publisher", "subscriber"),
            PubSubRole::Subscriber => ("subscriber", "publisher"),
        };
        return Err(violation(format!(
            "the {peer} sent a {} envelope, which only a {who} sends",
            kind.name()
        )));
    }
    if h[1] != 0 {
        return Err(violation(format!(
            "envelope flags 0x{:02x}: none are defined",
            h[1]
        )));
    }
    if h[4..8] != [0; 4] {
        return Err(violation("envelope reserved bytes are not zero"));
    }
    let field = u16::from_le_bytes([h[2], h[3]]);
    let seq = u64::from_le_bytes(h[8..16].try_into().expect("8 bytes"));
    match kind {
        PubSubKind::Subscribe => {
            if seq != 0 {
                return Err(violation(format!(
                    "a SUBSCRIBE with sequence number {seq}: it has none"
                )));
            }
            let count = usize::from(field);
            if count > MAX_PREFIXES {
                return Err(violation(format!(
                    "a SUBSCRIBE with {count} prefixes: at most {MAX_PREFIXES}"
                )));
            }
            let mut prefixes = Vec::with_capacity(count);
            let mut rest = body;
            for i in 0..count {
                let Some((len, tail)) = rest.split_first_chunk::<2>() else {
                    return Err(violation(format!(
                        "a SUBSCRIBE ends before the length of prefix {i}"
                    )));
                };
                let len = usize::from(u16::from_le_bytes(*len));
                if len > MAX_TOPIC_LEN {
                    return Err(violation(format!(
                        "a SUBSCRIBE prefix of {len} bytes: at most {MAX_TOPIC_LEN}"
                    )));
                }
                if tail.len() < len {
                    return Err(violation(format!(
                        "a SUBSCRIBE ends inside prefix {i} ({len} bytes, {} left)",
                        tail.len()
                    )));
                }
                let (p, tail) = tail.split_at(len);
                prefixes.push(p);
                rest = tail;
            }
            if !rest.is_empty() {
                return Err(violation(format!(
                    "a SUBSCRIBE has {} bytes after its {count} prefixes",
                    rest.len()
                )));
            }
            Ok(PubSubFrame::Subscribe(prefixes))
        }
        PubSubKind::Subscribed => {
            if field != 0 || !body.is_empty() {
                return Err(violation(
                    "a SUBSCRIBED with a topic length or a body: it has neither",
                ));
            }
            Ok(PubSubFrame::Subscribed { first_seq: seq })
        }
        PubSubKind::Message => {
            let tl = usize::from(field);
            if tl > MAX_TOPIC_LEN {
                return Err(violation(format!(
                    "a MESSAGE with a topic of {tl} bytes: at most {MAX_TOPIC_LEN}"
                )));
            }
            if tl > body.len() {
                return Err(violation(format!(
                    "a MESSAGE whose {tl}-byte topic is longer than its {}-byte body",
                    body.len()
                )));
            }
            let (topic, payload) = body.split_at(tl);
            Ok(PubSubFrame::Message {
                seq,
                topic,
                payload,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let sub = encode_subscribe(&[&b"a/"[..], b"", b"long/topic"]);
        assert_eq!(
            decode_pubsub(&sub, PubSubRole::Publisher).unwrap(),
            PubSubFrame::Subscribe(vec![&b"a/"[..], b"", b"long/topic"])
        );
        let none = encode_subscribe::<&[u8]>(&[]);
        assert_eq!(
            decode_pubsub(&none, PubSubRole::Publisher).unwrap(),
            PubSubFrame::Subscribe(vec![])
        );
        let ok = encode_subscribed(7);
        assert_eq!(
            decode_pubsub(&ok, PubSubRole::Subscriber).unwrap(),
            PubSubFrame::Subscribed { first_seq: 7 }
        );
        let mut m = message_envelope(u64::MAX, 3).to_vec();
        m.extend_from_slice(b"t/xpayload");
        assert_eq!(
            decode_pubsub(&m, PubSubRole::Subscriber).unwrap(),
            PubSubFrame::Message {
                seq: u64::MAX,
                topic: b"t/x",
                payload: b"payload"
            }
        );
    }

    #[test]
    fn malformed_messages_are_violations() {
        let ok = message_envelope(1, 0);
        let mut cases: Vec<(Vec<u8>, PubSubRole)> = vec![
            (ok[..15].to_vec(), PubSubRole::Subscriber),
            (ok.to_vec(), PubSubRole::Publisher),
            (encode_subscribe::<&[u8]>(&[]), PubSubRole::Subscriber),
        ];
        for (at, v) in [(0, 0u8), (0, 4), (1, 1), (4, 1), (7, 0x80), (2, 1)] {
            let mut b = ok.to_vec();
            b[at] = v;
            cases.push((b, PubSubRole::Subscriber));
        }
        let mut subscribed_body = encode_subscribed(0).to_vec();
        subscribed_body.push(0);
        cases.push((subscribed_body, PubSubRole::Subscriber));
        let mut sub = encode_subscribe(&[b"ab"]);
        sub.pop();
        cases.push((sub.clone(), PubSubRole::Publisher));
        sub.extend_from_slice(b"bc");
        cases.push((sub, PubSubRole::Publisher));
        let mut sub_seq = encode_subscribe::<&[u8]>(&[]);
        sub_seq[8] = 1;
        cases.push((sub_seq, PubSubRole::Publisher));
        let mut many = head(PubSubKind::Subscribe, 65, 0).to_vec();
        many.resize(16 + 65 * 2, 0);
        cases.push((many, PubSubRole::Publisher));
        let mut long = head(PubSubKind::Message, 1025, 0).to_vec();
        long.resize(16 + 2000, 0);
        cases.push((long, PubSubRole::Subscriber));
        for (c, role) in cases {
            let e = decode_pubsub(&c, role).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "{c:02x?}");
        }
    }

    #[test]
    fn prefixes_filter_topics() {
        assert!(topic_matches::<&[u8]>(&[], b"anything"));
        assert!(topic_matches(&[b"".as_slice()], b"x"));
        assert!(topic_matches(&[b"cam/".as_slice(), b"log"], b"log/err"));
        assert!(!topic_matches(&[b"cam/".as_slice()], b"cam"));
        assert!(check_prefixes(&vec![b"x"; 65]).is_err());
        assert!(check_prefixes(&[vec![0u8; 1025]]).is_err());
        assert!(check_topic(&[0u8; 1025]).is_err());
    }
}
