//! Endpoint strings: the one way every API and binding names a place to listen or connect.
//!
//! | form | meaning |
//! |---|---|
//! | `unix:///absolute/path.sock` | a Unix socket file at that path |
//! | `unix:@name` | a Linux abstract-namespace Unix socket (no file) |
//! | `tcp://host:port` | TCP (`[v6addr]:port` for IPv6); port 0 picks a free port when binding |
//! | `shm://name` | shared memory (Linux), set up over `<runtime dir>/name.shm.sock` |
//! | `pipe://name` | the Windows named pipe `\\.\pipe\name` (same name rule as bare names) |
//! | `fifo:///absolute/path` | Unix FIFOs: the rendezvous FIFO at that path |
//! | `fifo://name` | Unix FIFOs: the rendezvous FIFO `<runtime dir>/name.fifo` |
//! | `name` (`[A-Za-z0-9][A-Za-z0-9._-]{0,63}`) | `<runtime dir>/name.sock`, see [`runtime_dir`]; on Windows the named pipe `\\.\pipe\name` |
//!
//! The runtime directory for bare names is, in order: `$LIBIPC_RUNTIME_DIR` if set,
//! `$XDG_RUNTIME_DIR/libipc` if `XDG_RUNTIME_DIR` is set, else `<temp dir>/libipc-<uid>`
//! (`$TMPDIR` or `/tmp`). It is created with mode 0700 and must be a directory owned by the
//! current user with no group or other permissions, or binding and connecting fail with
//! `PermissionDenied`. Nothing is ever placed directly in a shared, world-writable directory.
//!
//! ```
//! use libipc::Endpoint;
//! let e: Endpoint = "tcp://127.0.0.1:7000".parse().unwrap();
//! assert_eq!(e.to_string(), "tcp://127.0.0.1:7000");
//! assert!("http://x".parse::<Endpoint>().is_err());
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};

/// Longest socket path (bytes) the kernel's `sun_path` takes, without the NUL.
pub(crate) const MAX_SOCKET_PATH: usize = 107;
/// Longest bare name.
const MAX_NAME: usize = 64;
/// Longest file name of a rendezvous FIFO: connection FIFOs add `.<token>.down` (at most 62
/// bytes) and must stay within the 255 bytes of a file name.
const MAX_FIFO_NAME: usize = 190;

/// A parsed endpoint.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A Unix socket file at an absolute path.
    Unix(PathBuf),
    /// A Linux abstract-namespace Unix socket (the name without the leading `@`).
    UnixAbstract(String),
    /// TCP: host (name, IPv4 or IPv6 without brackets) and port.
    Tcp {
        /// Host name or address.
        host: String,
        /// Port; 0 means "any free port" when binding.
        port: u16,
    },
    /// A bare name, served by the default local transport (Unix: a socket in the runtime
    /// directory; Windows: a named pipe).
    Named(String),
    /// Shared memory (not available in this build).
    Shm(String),
    /// A Windows named pipe `\\.\pipe\<name>` (on Unix binding and connecting give
    /// `Unsupported`).
    Pipe(String),
    /// Unix FIFOs: an absolute path (`fifo:///run/app.fifo`) or a bare name
    /// (`fifo://name`, the FIFO `<runtime dir>/name.fifo`); see [`Endpoint::fifo_path`].
    Fifo(String),
}

fn invalid(input: &str, why: impl fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidEndpoint,
        format!("invalid endpoint {input:?}: {why}"),
    )
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() <= MAX_NAME
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl Endpoint {
    /// Parse an endpoint string. Errors are `InvalidEndpoint` and say what is wrong.
    pub fn parse(s: &str) -> Result<Endpoint> {
        if s.is_empty() {
            return Err(invalid(s, "empty string"));
        }
        if s.contains('\0') {
            return Err(invalid(s, "contains a NUL byte"));
        }
        if let Some(rest) = s.strip_prefix("unix:@") {
            if rest.is_empty() || rest.len() > MAX_SOCKET_PATH - 1 {
                return Err(invalid(s, "abstract name must be 1 to 106 bytes"));
            }
            if !cfg!(any(target_os = "linux", target_os = "android")) {
                return Err(invalid(s, "abstract Unix sockets exist only on Linux"));
            }
            return Ok(Endpoint::UnixAbstract(rest.to_owned()));
        }
        if let Some(rest) = s.strip_prefix("unix://") {
            if !rest.starts_with('/') {
                return Err(invalid(
                    s,
                    "needs an absolute path, as in unix:///run/app.sock",
                ));
            }
            check_socket_path(s, Path::new(rest))?;
            return Ok(Endpoint::Unix(PathBuf::from(rest)));
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            let (host, port) = split_host_port(rest).ok_or_else(|| {
                invalid(
                    s,
                    "expected tcp://host:port, with [brackets] around an IPv6 address",
                )
            })?;
            let port: u16 = port
                .parse()
                .map_err(|_| invalid(s, format!("port {port:?} is not 0..=65535")))?;
            return Ok(Endpoint::Tcp {
                host: host.to_owned(),
                port,
            });
        }
        if let Some(rest) = s.strip_prefix("fifo://") {
            if rest.starts_with('/') {
                check_fifo_path(s, Path::new(rest))?;
            } else if !valid_name(rest) {
                return Err(invalid(
                    s,
                    "expected fifo:///absolute/path or fifo://name, the name matching [A-Za-z0-9][A-Za-z0-9._-]{0,63}",
                ));
            }
            return Ok(Endpoint::Fifo(rest.to_owned()));
        }
        for (prefix, make) in [
            ("shm://", Endpoint::Shm as fn(String) -> Endpoint),
            ("pipe://", Endpoint::Pipe as fn(String) -> Endpoint),
        ] {
            if let Some(rest) = s.strip_prefix(prefix) {
                if !valid_name(rest) {
                    return Err(invalid(
                        s,
                        "name must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}",
                    ));
                }
                return Ok(make(rest.to_owned()));
            }
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(invalid(
                s,
                format!(
                    "unknown scheme {scheme:?}; expected unix://, unix:@, tcp://, shm://, pipe://, fifo:// or a bare name"
                ),
            ));
        }
        if valid_name(s) {
            return Ok(Endpoint::Named(s.to_owned()));
        }
        Err(invalid(
            s,
            "not a URL (unix://, unix:@, tcp://, shm://, pipe://, fifo://) and not a bare name matching [A-Za-z0-9][A-Za-z0-9._-]{0,63}",
        ))
    }

    /// The socket file this endpoint uses, if it is file-based (`unix://` or a bare name).
    pub fn socket_path(&self) -> Result<Option<PathBuf>> {
        match self {
            Endpoint::Unix(p) => Ok(Some(p.clone())),
            Endpoint::Named(n) => Ok(Some(runtime_dir()?.join(format!("{n}.sock")))),
            Endpoint::Shm(n) => Ok(Some(runtime_dir()?.join(format!("{n}.shm.sock")))),
            _ => Ok(None),
        }
    }

    /// The rendezvous FIFO of a `fifo://` endpoint: the path itself, or
    /// `<runtime dir>/name.fifo` for a bare name.
    pub fn fifo_path(&self) -> Result<Option<PathBuf>> {
        match self {
            Endpoint::Fifo(p) if p.starts_with('/') => Ok(Some(PathBuf::from(p))),
            Endpoint::Fifo(n) => Ok(Some(runtime_dir()?.join(format!("{n}.fifo")))),
            _ => Ok(None),
        }
    }
}

fn check_fifo_path(input: &str, p: &Path) -> Result<()> {
    let name = match p.file_name() {
        Some(n) if !p.as_os_str().to_string_lossy().ends_with('/') => n,
        _ => return Err(invalid(input, "path must name a file, not a directory")),
    };
    if name.len() > MAX_FIFO_NAME {
        return Err(invalid(
            input,
            format!(
                "the FIFO's file name is {} bytes; at most {MAX_FIFO_NAME} leave room for the connection FIFOs beside it",
                name.len()
            ),
        ));
    }
    Ok(())
}

fn check_socket_path(input: &str, p: &Path) -> Result<()> {
    let len = p.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(invalid(
            input,
            format!("socket path is {len} bytes; the OS allows at most {MAX_SOCKET_PATH}"),
        ));
    }
    if p.file_name().is_none() || p.as_os_str().to_string_lossy().ends_with('/') {
        return Err(invalid(input, "path must name a file, not a directory"));
    }
    Ok(())
}

fn split_host_port(s: &str) -> Option<(&str, &str)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':')?;
        // Brackets are for IPv6 addresses only: a host without ':' would be written back
        // without them, as another endpoint.
        (host.contains(':') && !port.is_empty()).then_some((host, port))
    } else {
        let (host, port) = s.rsplit_once(':')?;
        (!host.is_empty() && !port.is_empty() && !host.contains(':') && !host.contains('/'))
            .then_some((host, port))
    }
}

impl FromStr for Endpoint {
    type Err = Error;
    fn from_str(s: &str) -> Result<Endpoint> {
        Endpoint::parse(s)
    }
}

impl TryFrom<&str> for Endpoint {
    type Error = Error;
    fn try_from(s: &str) -> Result<Endpoint> {
        Endpoint::parse(s)
    }
}

impl TryFrom<&Endpoint> for Endpoint {
    type Error = Error;
    fn try_from(e: &Endpoint) -> Result<Endpoint> {
        Ok(e.clone())
    }
}

impl TryFrom<String> for Endpoint {
    type Error = Error;
    fn try_from(s: String) -> Result<Endpoint> {
        Endpoint::parse(&s)
    }
}

impl TryFrom<&String> for Endpoint {
    type Error = Error;
    fn try_from(s: &String) -> Result<Endpoint> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::UnixAbstract(n) => write!(f, "unix:@{n}"),
            Endpoint::Tcp { host, port } if host.contains(':') => {
                write!(f, "tcp://[{host}]:{port}")
            }
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Endpoint::Named(n) => f.write_str(n),
            Endpoint::Shm(n) => write!(f, "shm://{n}"),
            Endpoint::Pipe(n) => write!(f, "pipe://{n}"),
            Endpoint::Fifo(p) => write!(f, "fifo://{p}"),
        }
    }
}

/// The directory bare names resolve into (see the module docs for the rule). Does not create it.
pub fn runtime_dir() -> Result<PathBuf> {
    crate::sys::runtime_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<ErrorKind> {
        Endpoint::parse(s).err().map(|e| e.kind())
    }

    /// Found by the `endpoint` fuzz target: `tcp://[name]:1` parsed, and was displayed as
    /// `tcp://name:1`, another endpoint.
    #[test]
    fn brackets_hold_only_ipv6_addresses() {
        for s in ["tcp://[fe//x]:1", "tcp://[host]:80", "tcp://[]:80"] {
            assert_eq!(kind(s), Some(ErrorKind::InvalidEndpoint), "{s}");
        }
        for s in ["tcp://[::1]:80", "tcp://[fe80::1%eth0]:7"] {
            let e = Endpoint::parse(s).unwrap();
            assert_eq!(e.to_string(), s);
            assert_eq!(Endpoint::parse(&e.to_string()).unwrap(), e);
        }
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            Endpoint::parse("unix:///tmp/a.sock").unwrap(),
            Endpoint::Unix("/tmp/a.sock".into())
        );
        if cfg!(any(target_os = "linux", target_os = "android")) {
            assert_eq!(
                Endpoint::parse("unix:@svc").unwrap(),
                Endpoint::UnixAbstract("svc".into())
            );
        } else {
            assert_eq!(kind("unix:@svc"), Some(ErrorKind::InvalidEndpoint));
        }
        assert_eq!(
            Endpoint::parse("tcp://[::1]:80").unwrap(),
            Endpoint::Tcp {
                host: "::1".into(),
                port: 80
            }
        );
        assert_eq!(
            Endpoint::parse("orders").unwrap(),
            Endpoint::Named("orders".into())
        );
        assert_eq!(
            Endpoint::parse("shm://x").unwrap(),
            Endpoint::Shm("x".into())
        );
        for s in [
            "unix:///tmp/a.sock",
            #[cfg(any(target_os = "linux", target_os = "android"))]
            "unix:@svc",
            "tcp://[::1]:80",
            "tcp://h:1",
            "orders",
            "pipe://p",
            "fifo:///run/app.fifo",
            "fifo://jobs",
        ] {
            assert_eq!(Endpoint::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_bad_input_with_invalid_endpoint() {
        for s in [
            "",
            "unix://rel.sock",
            "unix:///",
            "unix:@",
            "tcp://host",
            "tcp://:80",
            "tcp://h:99999",
            "tcp://h:x",
            "http://x",
            "a/b",
            ".hidden",
            "a b",
            "shm://",
            "shm://a/b",
            "x\0y",
            "fifo://",
            "fifo://rel/x",
            "fifo:///",
            "fifo:///tmp/",
        ] {
            assert_eq!(kind(s), Some(ErrorKind::InvalidEndpoint), "{s:?}");
        }
        let long = format!("unix:///{}", "a".repeat(120));
        assert_eq!(kind(&long), Some(ErrorKind::InvalidEndpoint));
        let long = format!("fifo:///tmp/{}", "a".repeat(191));
        assert_eq!(kind(&long), Some(ErrorKind::InvalidEndpoint));
        assert!(Endpoint::parse(&format!("fifo:///tmp/{}", "a".repeat(190))).is_ok());
        assert!(
            Endpoint::parse("http://x")
                .unwrap_err()
                .message()
                .contains("unknown scheme")
        );
    }
}
