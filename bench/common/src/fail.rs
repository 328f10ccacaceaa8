//! One error type for the benches and the `ipc` command: a single line for humans, printed
//! as `ipc: <kind>: <message>` (or `pipe-bench: …`).
//!
//! A failure that came from libipc keeps its [`ErrorKind`] through every added context, and is
//! printed with the kind first, in lower-case words derived from the core's one error table
//! ([`kind_words`]): `message too large: sending message 2: message of 20 bytes exceeds …`.
//! Failures of the programs' own (a missing file, a wrong echo) have no kind and print as
//! the message alone.

use std::fmt;

use libipc::ErrorKind;

/// A failure to report. Its text is complete on its own (it names the endpoint or file).
#[derive(Debug)]
pub struct Fail {
    kind: Option<ErrorKind>,
    message: String,
}

/// `Result` with [`Fail`].
pub type Result<T = (), E = Fail> = std::result::Result<T, E>;

impl Fail {
    /// A failure of the program's own, without a libipc error kind.
    pub fn new(message: impl Into<String>) -> Fail {
        Fail {
            kind: None,
            message: message.into(),
        }
    }

    /// The same failure, its message prefixed with what was being done.
    pub fn within(self, what: impl fmt::Display) -> Fail {
        Fail {
            kind: self.kind,
            message: format!("{what}: {}", self.message),
        }
    }
}

/// A kind in lower-case words, from its name in the core's table: `ProtocolMismatch` is
/// "protocol mismatch", `Io` is "io". The one place kinds are spelled for the benches and the CLI.
pub fn kind_words(kind: ErrorKind) -> String {
    let mut words = String::new();
    for c in kind.name().chars() {
        if c.is_ascii_uppercase() && !words.is_empty() {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    words
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            Some(kind) => write!(f, "{}: {}", kind_words(kind), self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Fail {}

impl From<libipc::Error> for Fail {
    /// libipc's message (which says what failed), with its kind kept for the printed line.
    fn from(e: libipc::Error) -> Fail {
        Fail {
            kind: Some(e.kind()),
            message: e.message().to_owned(),
        }
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        Fail::new(e.to_string())
    }
}

/// Prefix an error with what was being done.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: Into<Fail>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| e.into().within(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_lower_case_words() {
        assert_eq!(kind_words(ErrorKind::ProtocolMismatch), "protocol mismatch");
        assert_eq!(kind_words(ErrorKind::MessageTooLarge), "message too large");
        assert_eq!(kind_words(ErrorKind::Io), "io");
        for &kind in ErrorKind::ALL {
            let words = kind_words(kind);
            assert_eq!(words.replace(' ', ""), kind.name().to_ascii_lowercase());
            assert!(
                !words.starts_with(' ') && !words.contains("  "),
                "{words:?}"
            );
        }
    }

    #[test]
    fn the_kind_survives_context() {
        let e: Result<(), libipc::Error> = Err(libipc::Error::new(
            ErrorKind::NotFound,
            "nobody is listening at x",
        ));
        let e = e.context("sending").unwrap_err().within("ping");
        assert_eq!(
            e.to_string(),
            "not found: ping: sending: nobody is listening at x"
        );
        let own = Fail::new("no echo").within("round trip 1");
        assert_eq!(own.to_string(), "round trip 1: no echo");
    }
}
