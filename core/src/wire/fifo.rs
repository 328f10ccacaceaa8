//! The connection request of `fifo://` endpoints (`docs/wire-format.md`, "Unix FIFOs"): one
//! fixed-size record a client writes into the listener's rendezvous FIFO, naming the pair of
//! FIFOs it created for the connection.
//!
//! Record, 64 bytes: `magic "LIPF" | version u8 (1) | token length u8 (1..=56) | reserved u16
//! (0) | token, 56 bytes (ASCII [0-9a-z-], zero-padded)`. The connection FIFOs are
//! `<rendezvous>.<token>.up` (client to server) and `<rendezvous>.<token>.down` (server to
//! client).

use crate::error::{Error, ErrorKind, Result};

/// Length of a connection request record (at most `PIPE_BUF`, so every write is atomic).
pub const FIFO_REQUEST_LEN: usize = 64;
/// The magic that starts every connection request.
pub const FIFO_MAGIC: [u8; 4] = *b"LIPF";
/// The record version this library writes and reads.
pub const FIFO_VERSION: u8 = 1;
/// Longest token.
pub const FIFO_TOKEN_MAX: usize = 56;

/// A decoded connection request: the token that names the connection's FIFOs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoRequest {
    /// 1 to 56 bytes of `[0-9a-z-]`.
    pub token: String,
}

fn violation(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::ProtocolViolation, msg)
}

fn valid_token(t: &[u8]) -> bool {
    (1..=FIFO_TOKEN_MAX).contains(&t.len())
        && t.iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || *c == b'-')
}

impl FifoRequest {
    /// A request naming `token`; `InvalidArgument` if it is not 1 to 56 bytes of `[0-9a-z-]`.
    pub fn new(token: impl Into<String>) -> Result<FifoRequest> {
        let token = token.into();
        if !valid_token(token.as_bytes()) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("FIFO token {token:?} is not 1 to 56 bytes of [0-9a-z-]"),
            ));
        }
        Ok(FifoRequest { token })
    }

    /// The record's bytes.
    pub fn encode(&self) -> [u8; FIFO_REQUEST_LEN] {
        let mut b = [0u8; FIFO_REQUEST_LEN];
        b[0..4].copy_from_slice(&FIFO_MAGIC);
        b[4] = FIFO_VERSION;
        b[5] = self.token.len() as u8;
        b[8..8 + self.token.len()].copy_from_slice(self.token.as_bytes());
        b
    }

    /// Decode a record, checking every field (`ProtocolViolation` for a wrong magic,
    /// non-zero reserved or padding bytes, or a bad token; `ProtocolMismatch` for another
    /// version).
    pub fn decode(b: &[u8; FIFO_REQUEST_LEN]) -> Result<FifoRequest> {
        if b[0..4] != FIFO_MAGIC {
            return Err(violation(format!(
                "FIFO connection request has magic {:02x?}, not \"LIPF\"",
                &b[0..4]
            )));
        }
        if b[4] != FIFO_VERSION {
            return Err(Error::new(
                ErrorKind::ProtocolMismatch,
                format!("FIFO connection request version {} (expected 1)", b[4]),
            ));
        }
        if b[6..8] != [0, 0] {
            return Err(violation(
                "FIFO connection request: reserved bytes not zero",
            ));
        }
        let n = b[5] as usize;
        if !(1..=FIFO_TOKEN_MAX).contains(&n) || !valid_token(&b[8..8 + n]) {
            return Err(violation(
                "FIFO connection request: token is not 1 to 56 bytes of [0-9a-z-]",
            ));
        }
        if b[8 + n..].iter().any(|&c| c != 0) {
            return Err(violation(
                "FIFO connection request: padding after the token not zero",
            ));
        }
        let token = String::from_utf8(b[8..8 + n].to_vec()).expect("ASCII checked");
        Ok(FifoRequest { token })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let r = FifoRequest::new("12-3-abc").unwrap();
        let b = r.encode();
        assert_eq!(&b[..16], b"LIPF\x01\x08\x00\x0012-3-abc");
        assert_eq!(FifoRequest::decode(&b).unwrap(), r);
        for bad in ["", "A", "a/b", "a.b", &"a".repeat(57)] {
            assert_eq!(
                FifoRequest::new(bad).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
        }
        let mut m = b;
        m[0] = b'X';
        assert_eq!(
            FifoRequest::decode(&m).unwrap_err().kind(),
            ErrorKind::ProtocolViolation
        );
        let mut m = b;
        m[4] = 2;
        assert_eq!(
            FifoRequest::decode(&m).unwrap_err().kind(),
            ErrorKind::ProtocolMismatch
        );
        for (i, v) in [(5, 0), (5, 57), (6, 1), (8, b'/'), (8, b'A'), (63, 1)] {
            let mut m = b;
            m[i] = v;
            assert_eq!(
                FifoRequest::decode(&m).unwrap_err().kind(),
                ErrorKind::ProtocolViolation,
                "byte {i} = {v}"
            );
        }
    }
}
