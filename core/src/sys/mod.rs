//! Platform code, chosen by `cfg` in this one place. Every backend provides:
//!
//! - `runtime_dir()`, `ensure_private_dir(path)`: the directory bare names resolve into;
//! - `bind_unix(addr, mode)`: a listening Unix socket created with the final mode, with stale-file
//!   reclaim and no window in which it is reachable with wider permissions;
//! - `connect_unix(addr, timeout)`, `bind_tcp`, `connect_tcp`;
//! - `peer_credentials(fd)`;
//! - byte I/O that never raises SIGPIPE: `send_all`, `read_into`, `recv_nowait`, and
//!   readiness `wait`;
//! - `readiness_set(fds)`: one descriptor that is readable while any of `fds` is;
//! - `WakePipe`: a self-pipe to wake a thread blocked in `wait`.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(not(unix))]
compile_error!(
    "libipc currently supports Unix platforms only; Windows named pipes are a later issue"
);
