//! Request/reply envelopes (`wire/rpc.rs`): any bytes, read as a client and as a server,
//! decode or give `ProtocolViolation`; what decodes re-encodes to the same bytes, is a kind
//! that side accepts, and an error reply's text is UTF-8 within its limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use libipc::ErrorKind;
use libipc::wire::{Envelope, MAX_FAULT_TEXT, RpcKind, RpcRole};

fuzz_target!(|data: &[u8]| {
    for role in [RpcRole::Client, RpcRole::Server] {
        match Envelope::decode(data, role) {
            Ok((env, body)) => {
                let mut again = env.encode().to_vec();
                again.extend_from_slice(body);
                assert_eq!(again, data, "envelopes are canonical");
                assert_eq!(role == RpcRole::Client, env.kind == RpcKind::Reply);
                if env.kind == RpcKind::Reply && env.status != 0 {
                    assert!(body.len() <= MAX_FAULT_TEXT);
                    assert!(std::str::from_utf8(body).is_ok());
                }
                if env.kind != RpcKind::Reply {
                    assert_eq!(env.status, 0);
                }
            }
            Err(e) => assert_eq!(e.kind(), ErrorKind::ProtocolViolation, "{e}"),
        }
    }
});
