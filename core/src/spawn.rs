//! Parent and child: a channel over a socket pair, one end inherited by a child process.
//!
//! - [`Channel::pair`] gives two connected channels in this process.
//! - [`Channel::spawn`] starts a child process holding the other end of a new channel: the
//!   child's end is inherited across `exec`, and the environment variable
//!   [`CHANNEL_FD_ENV`] (`LIBIPC_CHANNEL_FD`) tells the child its descriptor number.
//! - In the child, [`Channel::from_env`] opens it. The child can be written in any language
//!   libipc speaks: Rust, C (`ipc_channel_from_env`), Python (`libipc.Channel.from_env()`).
//! - [`ChildEnd`] is the same for a language's own way of starting processes (Python's
//!   `subprocess.Popen(pass_fds=...)`, the C API's `ipc_spawn`): it makes the pair, says which
//!   descriptor the child must inherit and what to put in its environment, and after the
//!   child started, [`ChildEnd::finish`] makes the parent's channel.
//!
//! Both ends run the same hello handshake as any connection (versions, message limits and
//! options are negotiated as always): the parent is the server side, the child the client.
//! A child that exits, or never opens the channel, makes the parent's side fail (with
//! `PeerDisconnected`, or `Timeout` after the handshake timeout) instead of waiting forever.
//!
//! The inherited descriptor is close-on-exec in the parent and, once opened, in the child, so
//! no other process inherits it: other children the parent starts, and the child's own
//! children, never hold the channel open.
//!
//! ```no_run
//! use std::process::Command;
//! use libipc::Channel;
//! # fn main() -> libipc::Result<()> {
//! // The parent:
//! let (ch, mut child) = Channel::spawn(Command::new("worker").arg("--job=7"))?;
//! ch.send(b"work")?;
//! let answer = ch.recv()?;
//! # let _ = answer;
//! child.wait().ok();
//!
//! // In the worker:
//! let ch = Channel::from_env()?;
//! let job = ch.recv()?;
//! ch.send(&job)?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::channel::Channel;
use crate::conn::PeerCredentials;
use crate::error::{Error, ErrorKind, Result};
use crate::handshake;
use crate::link::Link;
use crate::options::Options;
use crate::sys::{self, Stream};
use crate::transport;

/// The environment variable that tells a child which inherited descriptor is its end of the
/// channel: its decimal number (`LIBIPC_CHANNEL_FD=5`).
pub const CHANNEL_FD_ENV: &str = "LIBIPC_CHANNEL_FD";

/// Whether this process has taken the descriptor named in [`CHANNEL_FD_ENV`].
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The parent's half of a channel to a child process not yet started: what the child must
/// inherit, and what to tell it.
///
/// For a spawner of your own: keep the descriptor [`child_fd`](Self::child_fd) open in the
/// child at the same number (Python: `pass_fds`; it is close-on-exec here, so only that
/// child inherits it), set [`env_name`](Self::env_name) to [`env_value`](Self::env_value) in
/// the child's environment, start the child, then call [`finish`](Self::finish) with its
/// pid. [`Channel::spawn`] does all of this for a `std::process::Command`.
///
/// Dropping a `ChildEnd` without finishing it closes both halves.
pub struct ChildEnd {
    parent: Stream,
    child: Stream,
    opts: Options,
}

impl fmt::Debug for ChildEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildEnd")
            .field(
                "env",
                &format_args!("{}={}", self.env_name(), self.env_value()),
            )
            .finish_non_exhaustive()
    }
}

impl ChildEnd {
    /// A new pair with default [`Options`].
    pub fn new() -> Result<ChildEnd> {
        ChildEnd::with_options(&Options::default())
    }

    /// A new pair; `opts` apply to the parent's channel (`max_message_size`,
    /// `handshake_timeout`, which bounds [`finish`](Self::finish), `stream_spin`).
    pub fn with_options(opts: &Options) -> Result<ChildEnd> {
        opts.validate()?;
        let (parent, child) = sys::stream_pair()?;
        Ok(ChildEnd {
            parent,
            child,
            opts: opts.clone(),
        })
    }

    /// The name of the environment variable to set in the child: [`CHANNEL_FD_ENV`].
    pub fn env_name(&self) -> &'static str {
        CHANNEL_FD_ENV
    }

    /// Its value: the child's descriptor number, in decimal.
    pub fn env_value(&self) -> String {
        sys::inherit_token(&self.child)
    }

    /// The descriptor the child must inherit, at this same number. It is close-on-exec in
    /// this process (so no other child inherits it) and belongs to this `ChildEnd`.
    #[cfg(unix)]
    pub fn child_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::{AsFd, AsRawFd};
        self.child.as_fd().as_raw_fd()
    }

    /// After the child started: close the child's end here and run the parent's side of the
    /// handshake, waiting at most the handshake timeout for the child to open the channel.
    /// `child_pid` is the child's process id: the channel's [`peer`](Channel::peer) pid. (A
    /// socket pair reports its creator as the peer on both ends, so the peer uid and gid are
    /// this process's, which the child has unless it changes identity, e.g. by executing a
    /// set-user-ID program. The child sees this process, truly, as its peer.)
    ///
    /// Errors: `PeerDisconnected` if the child exited or closed its end without opening the
    /// channel; `Timeout` if it did not open it within the handshake timeout; the handshake's
    /// errors (`ProtocolMismatch`, `ProtocolViolation`, ...) if something else answered.
    pub fn finish(self, child_pid: u32) -> Result<Channel> {
        self.finish_link(child_pid).map(Channel::from_link)
    }

    pub(crate) fn finish_link(self, child_pid: u32) -> Result<Arc<dyn Link>> {
        let ChildEnd {
            parent,
            child,
            opts,
        } = self;
        // Only the child holds its end now: if it exits, we read EOF.
        drop(child);
        // A socket pair reports its creator (us) as the peer; the uid and gid are the ones the
        // child started with, the pid is the child's.
        let peer = PeerCredentials {
            pid: Some(child_pid),
            ..parent.peer_credentials()
        };
        handshake::server_as(transport::for_pair(), parent, peer, &opts).map_err(|e| {
            match e.kind() {
                ErrorKind::PeerDisconnected => Error::new(
                    ErrorKind::PeerDisconnected,
                    format!(
                        "the child (pid {child_pid}) exited or closed its end without opening \
                         the channel (with {CHANNEL_FD_ENV} and Channel::from_env or the like)"
                    ),
                ),
                ErrorKind::Timeout => Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "the child (pid {child_pid}) did not open the channel within the \
                         handshake timeout ({:?})",
                        opts.handshake_timeout
                    ),
                ),
                _ => Error::new(
                    e.kind(),
                    format!(
                        "opening the channel to the child (pid {child_pid}): {}",
                        e.message()
                    ),
                ),
            }
        })
    }

    /// Set the variable in `cmd`'s environment and keep the child's end open across `exec`
    /// in the child `cmd` starts (only there). `self` must outlive that spawn.
    fn prepare(&self, cmd: &mut Command) {
        cmd.env(CHANNEL_FD_ENV, self.env_value());
        sys::keep_across_exec(cmd, &self.child);
    }
}

/// Both sides of a new pair, handshaken (the first is the server side).
pub(crate) fn pair_links(opts: &Options) -> Result<(Arc<dyn Link>, Arc<dyn Link>)> {
    opts.validate()?;
    let (a, b) = sys::stream_pair()?;
    let t = transport::for_pair();
    std::thread::scope(|s| {
        let server = std::thread::Builder::new()
            .name("libipc-pair".into())
            .spawn_scoped(s, move || handshake::server(t, a, opts))
            .map_err(|e| Error::from_io(&e, "starting a thread for the pair's handshake"))?;
        let client = handshake::client_on(t, b, &"the other end of the pair", opts);
        let server = server
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        Ok((server?, client?))
    })
}

/// The child's side: adopt the descriptor named in the environment and run the client side
/// of the handshake.
pub(crate) fn from_env_link(opts: &Options) -> Result<Arc<dyn Link>> {
    opts.validate()?;
    let token = match std::env::var(CHANNEL_FD_ENV) {
        Ok(v) => v,
        Err(std::env::VarError::NotPresent) => {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "{CHANNEL_FD_ENV} is not set: this process was not started with a libipc \
                     channel (Channel::spawn, ipc_spawn, libipc.spawn)"
                ),
            ));
        }
        Err(std::env::VarError::NotUnicode(v)) => {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                format!("{CHANNEL_FD_ENV}={v:?} is not a descriptor number"),
            ));
        }
    };
    if TAKEN.swap(true, Ordering::AcqRel) {
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            format!(
                "{CHANNEL_FD_ENV}={token}: the inherited channel was already opened in this \
                 process (it can be opened once)"
            ),
        ));
    }
    let stream = sys::adopt_inherited(&token).map_err(|e| {
        // Nothing was taken: a later call may try again (and fail the same way).
        TAKEN.store(false, Ordering::Release);
        Error::new(
            e.kind(),
            format!("{CHANNEL_FD_ENV}={token}: {}", e.message()),
        )
    })?;
    child_side(stream, &format!("{CHANNEL_FD_ENV}={token}"), opts)
}

/// The child's side of the handshake on its end, `what` naming it in errors.
fn child_side(stream: Stream, what: &str, opts: &Options) -> Result<Arc<dyn Link>> {
    handshake::client_on(transport::for_pair(), stream, &"the parent process", opts).map_err(|e| {
        let detail = match e.kind() {
            ErrorKind::PeerDisconnected => "the parent closed its end (or exited)".to_owned(),
            _ => e.message().to_owned(),
        };
        Error::new(
            e.kind(),
            format!("opening the inherited channel ({what}): {detail}"),
        )
    })
}

/// Parent and child channels.
impl Channel {
    /// Two connected channels in this process, over a socket pair, with default options.
    /// Each sees this process as its peer.
    pub fn pair() -> Result<(Channel, Channel)> {
        Channel::pair_with(&Options::default())
    }

    /// [`pair`](Self::pair) with options (both ends use them).
    pub fn pair_with(opts: &Options) -> Result<(Channel, Channel)> {
        let (a, b) = pair_links(opts)?;
        Ok((Channel::from_link(a), Channel::from_link(b)))
    }

    /// Start `cmd` as a child process holding the other end of a new channel, and wait (at
    /// most the handshake timeout) for it to open the channel with [`Channel::from_env`] (or
    /// `ipc_channel_from_env`, `libipc.Channel.from_env()`). Returns the channel and the
    /// child; reaping it (`wait`) stays yours. The channel's peer pid is the child's.
    ///
    /// `cmd` is given [`CHANNEL_FD_ENV`] in its environment and a hook that keeps the child's
    /// end open across `exec` in the child it starts (only there); spawn such a `cmd` only
    /// this once. Its other settings (arguments, environment, standard streams, working
    /// directory) are yours.
    ///
    /// Errors: starting the process (`NotFound` for a missing program, `PermissionDenied`,
    /// `Io`); then as [`ChildEnd::finish`], after which the child, if it is still running, is
    /// killed, and it is reaped (the message says how it exited).
    pub fn spawn(cmd: &mut Command) -> Result<(Channel, Child)> {
        Channel::spawn_with(cmd, &Options::default())
    }

    /// [`spawn`](Self::spawn) with options for the parent's side.
    pub fn spawn_with(cmd: &mut Command, opts: &Options) -> Result<(Channel, Child)> {
        let (link, child) = spawn_link(cmd, opts)?;
        Ok((Channel::from_link(link), child))
    }

    /// In a child started with [`spawn`](Self::spawn) (or `ipc_spawn`, `libipc.spawn`, or
    /// anything that sets [`CHANNEL_FD_ENV`] and lets the descriptor be inherited): open the
    /// channel to the parent, with default options.
    ///
    /// The descriptor is checked before it is taken (it must be an open, connected Unix stream
    /// socket; on a failed check nothing is closed), then made close-on-exec, so the child's
    /// own children do not inherit it. It can be taken once per process: a second call fails.
    /// The variable is left in the environment (changing the environment of a process that
    /// may run other threads is unsafe); remove it yourself if you start other programs that
    /// should not see it.
    ///
    /// Errors: `NotFound` if the variable is not set; `InvalidEndpoint` if it is not a
    /// descriptor number, names no open descriptor, or one that is not a connected Unix stream
    /// socket, or if the channel was already opened in this process; `PeerDisconnected` if the
    /// parent closed its end; `Timeout` if the parent did not answer within the handshake
    /// timeout; `ProtocolMismatch` and the like if something else answered.
    pub fn from_env() -> Result<Channel> {
        Channel::from_env_with(&Options::default())
    }

    /// [`from_env`](Self::from_env) with options.
    pub fn from_env_with(opts: &Options) -> Result<Channel> {
        from_env_link(opts).map(Channel::from_link)
    }

    /// The child's side on a descriptor you got some other way (a command-line argument,
    /// descriptor passing): it must be a connected Unix stream socket whose other end is a
    /// parent's [`ChildEnd`]. The descriptor is made close-on-exec and belongs to the channel;
    /// on an error it is closed. Errors as [`from_env`](Self::from_env).
    #[cfg(unix)]
    pub fn from_fd(fd: std::os::fd::OwnedFd, opts: &Options) -> Result<Channel> {
        opts.validate()?;
        let what = format!("descriptor {}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        let stream = sys::adopt_fd(fd)?;
        child_side(stream, &what, opts).map(Channel::from_link)
    }
}

/// Start `cmd` with the child's end and finish the parent's side (see [`start`], [`finish`]).
pub(crate) fn spawn_link(cmd: &mut Command, opts: &Options) -> Result<(Arc<dyn Link>, Child)> {
    let (end, child) = start(cmd, opts)?;
    finish(end, child)
}

/// Start `cmd` holding the child's end of a new pair (does not wait for the child).
pub(crate) fn start(cmd: &mut Command, opts: &Options) -> Result<(ChildEnd, Child)> {
    let end = ChildEnd::with_options(opts)?;
    end.prepare(cmd);
    let child = cmd
        .spawn()
        .map_err(|e| Error::from_io(&e, format_args!("starting {:?}", cmd.get_program())))?;
    Ok((end, child))
}

/// Finish the parent's side for `child`; on failure the child is killed if still running, and
/// reaped.
pub(crate) fn finish(end: ChildEnd, mut child: Child) -> Result<(Arc<dyn Link>, Child)> {
    match end.finish_link(child.id()) {
        Ok(link) => Ok((link, child)),
        Err(e) => {
            let running = matches!(child.try_wait(), Ok(None));
            if running {
                // A child already exiting (it closed its end on the way) ignores the signal
                // and keeps its own exit status, which `wait` then reports.
                let _ = child.kill();
            }
            let ended = match child.wait() {
                Ok(status) if running && killed(&status) => {
                    format!("the child was still running and was killed ({status})")
                }
                Ok(status) => format!("the child exited ({status})"),
                Err(w) => format!("the child could not be reaped: {w}"),
            };
            Err(Error::new(e.kind(), format!("{} ({ended})", e.message())))
        }
    }
}

/// Whether `status` is that of a process ended by `Child::kill` (SIGKILL on Unix).
fn killed(status: &std::process::ExitStatus) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        status.signal() == Some(9)
    }
    #[cfg(not(unix))]
    {
        !status.success()
    }
}
