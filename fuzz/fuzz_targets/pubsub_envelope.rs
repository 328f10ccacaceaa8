//! Publish/subscribe envelopes (`wire/pubsub.rs`): any bytes, read as a publisher and as a
//! subscriber, decode or give `ProtocolViolation`; what decodes re-encodes to the same bytes,
//! is a kind that side accepts, and keeps to the limits on prefixes and topics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libipc::ErrorKind;
use libipc::wire::{
    MAX_PREFIXES, MAX_TOPIC_LEN, PubSubFrame, PubSubRole, decode_pubsub, encode_subscribe,
    encode_subscribed, message_envelope,
};

fuzz_target!(|data: &[u8]| {
    for role in [PubSubRole::Publisher, PubSubRole::Subscriber] {
        match decode_pubsub(data, role) {
            Ok(frame) => {
                let again = match frame {
                    PubSubFrame::Subscribe(prefixes) => {
                        assert_eq!(role, PubSubRole::Publisher);
                        assert!(prefixes.len() <= MAX_PREFIXES);
                        assert!(prefixes.iter().all(|p| p.len() <= MAX_TOPIC_LEN));
                        encode_subscribe(&prefixes)
                    }
                    PubSubFrame::Subscribed { first_seq } => {
                        assert_eq!(role, PubSubRole::Subscriber);
                        encode_subscribed(first_seq).to_vec()
                    }
                    PubSubFrame::Message {
                        seq,
                        topic,
                        payload,
                    } => {
                        assert_eq!(role, PubSubRole::Subscriber);
                        assert!(topic.len() <= MAX_TOPIC_LEN);
                        let mut m = message_envelope(seq, topic.len()).to_vec();
                        m.extend_from_slice(topic);
                        m.extend_from_slice(payload);
                        m
                    }
                };
                assert_eq!(again, data, "envelopes are canonical");
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "{e}"),
        }
    }
});
