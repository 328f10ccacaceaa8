//! One error type for the benches (and the `ipc` command): a single line for humans.

use std::fmt;

/// A failure to report. Its text is complete on its own (it names the endpoint or file).
#[derive(Debug)]
pub struct Fail(String);

/// `Result` with [`Fail`].
pub type Result<T = (), E = Fail> = std::result::Result<T, E>;

impl Fail {
    pub fn new(message: impl Into<String>) -> Fail {
        Fail(message.into())
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Fail {}

impl From<libipc::Error> for Fail {
    /// The message only: libipc's messages already say what failed, the kind adds noise.
    fn from(e: libipc::Error) -> Fail {
        Fail(e.message().to_owned())
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Fail {
        Fail(e.to_string())
    }
}

/// Prefix an error with what was being done.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: Into<Fail>> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Fail(format!("{what}: {}", e.into())))
    }
}
