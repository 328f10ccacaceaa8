//! Options for listeners and channels, and the one table that describes them.
//!
//! The options are written once, in the `options!` table below: the struct's fields, their
//! defaults and the public [`Options::TABLE`] (name, default, what it applies to, description)
//! come from it. The C setters, the Python keywords and the option tables in the docs are
//! checked against that table by the test command (`cargo xtask tables --check` and the
//! bindings' own tests), so none of them can drift.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

/// Default size of each shared-memory ring (one per direction): 4 MiB.
pub const DEFAULT_SHM_RING_SIZE: usize = 4 * 1024 * 1024;

/// Default largest message: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Default most connections a listener holds at once (see [`Options::with_max_connections`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default longest time the rest of a frame may take once its header has arrived (see
/// [`Options::with_frame_timeout`]).
pub const DEFAULT_FRAME_TIMEOUT: Duration = Duration::from_secs(30);

/// Default longest time a blocking stream receive polls before sleeping (see
/// [`Options::with_stream_spin`]).
pub const DEFAULT_STREAM_SPIN: Duration = Duration::from_micros(50);

/// Default longest time a shared-memory channel spins before sleeping (see
/// [`Options::with_shm_spin`]).
pub const DEFAULT_SHM_SPIN: Duration = Duration::from_micros(100);

/// Where an option has an effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Listeners and connecting channels alike.
    Both,
    /// Only when binding a listener.
    Listen,
    /// Only when connecting.
    Connect,
}

impl Scope {
    /// `"both"`, `"listen"` or `"connect"`.
    pub fn name(self) -> &'static str {
        match self {
            Scope::Both => "both",
            Scope::Listen => "listen",
            Scope::Connect => "connect",
        }
    }
}

/// The value of an option, as the table shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptionValue {
    /// A size in bytes.
    Bytes(u64),
    /// A Unix permission mode.
    Mode(u32),
    /// A duration.
    Duration(Duration),
    /// A duration, or no limit.
    Timeout(Option<Duration>),
    /// A list of uids, or any uid.
    Uids(Option<Vec<u32>>),
    /// A list of gids, or any gid.
    Gids(Option<Vec<u32>>),
    /// One uid, or any uid.
    Uid(Option<u32>),
    /// A count.
    Count(u64),
    /// On or off.
    Flag(bool),
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Bytes(n) if *n >= 1 << 20 && n % (1 << 20) == 0 => {
                write!(f, "{} MiB", n >> 20)
            }
            OptionValue::Bytes(n) if *n >= 1 << 10 && n % (1 << 10) == 0 => {
                write!(f, "{} KiB", n >> 10)
            }
            OptionValue::Bytes(n) => write!(f, "{n} bytes"),
            OptionValue::Mode(m) => write!(f, "0o{m:o}"),
            OptionValue::Duration(d) | OptionValue::Timeout(Some(d)) => fmt_duration(f, *d),
            OptionValue::Timeout(None) => f.write_str("no limit"),
            OptionValue::Uids(None) => f.write_str("any uid"),
            OptionValue::Uids(Some(u)) => write!(f, "{u:?}"),
            OptionValue::Gids(None) => f.write_str("any gid"),
            OptionValue::Gids(Some(g)) => write!(f, "{g:?}"),
            OptionValue::Uid(None) => f.write_str("any uid"),
            OptionValue::Uid(Some(u)) => write!(f, "{u}"),
            OptionValue::Count(n) => write!(f, "{n}"),
            OptionValue::Flag(b) => write!(f, "{}", if *b { "on" } else { "off" }),
        }
    }
}

fn fmt_duration(f: &mut fmt::Formatter<'_>, d: Duration) -> fmt::Result {
    let us = d.as_micros();
    if us == 0 {
        f.write_str("0")
    } else if us.is_multiple_of(1_000_000) {
        write!(f, "{} s", us / 1_000_000)
    } else if us.is_multiple_of(1_000) {
        write!(f, "{} ms", us / 1_000)
    } else {
        write!(f, "{us} µs")
    }
}

/// One row of [`Options::TABLE`].
#[derive(Debug, Clone, Copy)]
pub struct OptionInfo {
    /// The option's name: the Rust field and `with_` setter, the C `ipc_options_set_` suffix,
    /// the Python keyword (Node and the uniffi bindings use it in camelCase).
    pub name: &'static str,
    /// What it is for, in one paragraph.
    pub doc: &'static str,
    /// Where it has an effect.
    pub scope: Scope,
    /// The value in `opts`, e.g. `(OPT.get)(&Options::default())` is the default.
    pub get: fn(&Options) -> OptionValue,
}

impl OptionInfo {
    /// The default value.
    pub fn default_value(&self) -> OptionValue {
        (self.get)(&Options::default())
    }

    /// The name in camelCase (`maxMessageSize`), as bindings whose languages name things that
    /// way take it (Node; the uniffi bindings).
    pub fn camel_case_name(&self) -> String {
        let mut out = String::with_capacity(self.name.len());
        let mut up = false;
        for c in self.name.chars() {
            if c == '_' {
                up = true;
            } else if up {
                out.push(c.to_ascii_uppercase());
                up = false;
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// Declares the [`Options`] struct, its `Default` and [`Options::TABLE`] from one list.
macro_rules! options {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident: $ty:ty = $default:expr, $scope:ident, $value:expr;
    )+) => {
        /// Settings for [`Listener::bind_with`](crate::Listener::bind_with) and
        /// [`Channel::connect_with`](crate::Channel::connect_with). Build with the chained
        /// setters; [`Options::TABLE`] lists every option with its default.
        ///
        /// ```
        /// use std::time::Duration;
        /// let opts = libipc::Options::new()
        ///     .with_max_message_size(1 << 20)
        ///     .with_connect_timeout(Duration::from_secs(2))
        ///     .with_allowed_uids([1000]);
        /// assert_eq!(opts.max_message_size(), 1 << 20);
        /// ```
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Options {
            $(pub(crate) $name: $ty,)+
            /// Hello capability bits of a messaging pattern (request/reply), set by the
            /// pattern's own types (`rpc`), never by users: both sides must announce them.
            pub(crate) pattern_caps: u32,
            /// A publisher's fan-out segment, which its shared-memory listener hands to each
            /// subscriber (set by `pubsub`, never by users).
            #[cfg(unix)]
            pub(crate) fanout: Option<crate::shm::FanoutRef>,
        }

        impl Default for Options {
            fn default() -> Self {
                Options {
                    $($name: $default,)+
                    pattern_caps: 0,
                    #[cfg(unix)]
                    fanout: None,
                }
            }
        }

        impl Options {
            /// Every option: name, description, scope and a getter (which gives the default
            /// when applied to `Options::default()`).
            pub const TABLE: &'static [OptionInfo] = &[$(
                OptionInfo {
                    name: stringify!($name),
                    doc: concat!($($doc, "\n"),+),
                    scope: Scope::$scope,
                    get: $value,
                },
            )+];

            $(
                $(#[doc = $doc])+
                pub fn $name(&self) -> $ty {
                    self.$name.clone()
                }
            )+
        }
    };
}

options! {
    /// Largest message this side sends or accepts, in bytes (at most `u32::MAX`).
    max_message_size: usize = DEFAULT_MAX_MESSAGE_SIZE, Both,
        |o| OptionValue::Bytes(o.max_message_size as u64);
    /// Permission bits of a listener's socket file.
    socket_mode: u32 = 0o600, Listen, |o| OptionValue::Mode(o.socket_mode);
    /// How long `connect` waits for the listener to accept (`None`: no limit).
    connect_timeout: Option<Duration> = Some(Duration::from_secs(10)), Connect,
        |o| OptionValue::Timeout(o.connect_timeout);
    /// How long either side waits for the other's hello; a client that connects and sends
    /// nothing is dropped after this long. Also bounds `close`.
    handshake_timeout: Duration = Duration::from_secs(5), Both,
        |o| OptionValue::Duration(o.handshake_timeout);
    /// Accept only peers whose uid is in the list (Unix sockets and shared memory; checked
    /// through the kernel's peer credentials at accept and connect). `None`: any uid (a
    /// listener on an abstract socket, which has no file permissions: its own uid).
    allowed_uids: Option<Vec<u32>> = None, Both, |o| OptionValue::Uids(o.allowed_uids.clone());
    /// Accept also peers one of whose groups is in the list: its primary gid and, over Unix
    /// sockets and shared memory on Linux, its supplementary groups (FIFOs: the connection
    /// FIFO's group only). With `allowed_uids` too, a peer in either list is accepted. `None`:
    /// any gid (when `allowed_uids` is also `None`).
    allowed_gids: Option<Vec<u32>> = None, Both, |o| OptionValue::Gids(o.allowed_gids.clone());
    /// Bytes in each shared-memory ring, one per direction (`shm://` only; set by the
    /// listener): a power of two from 64 KiB to 1 GiB. Larger messages travel in fragments.
    shm_ring_size: usize = DEFAULT_SHM_RING_SIZE, Listen,
        |o| OptionValue::Bytes(o.shm_ring_size as u64);
    /// Longest time a shared-memory channel spins waiting for the peer before it sleeps
    /// (`shm://` only; zero never spins). Spinning adapts: it stops while it does not pay off.
    shm_spin: Duration = DEFAULT_SHM_SPIN, Both, |o| OptionValue::Duration(o.shm_spin);
    /// Longest time a blocking receive on a Unix socket or TCP channel polls before it sleeps
    /// (zero never spins). Spinning adapts: it stops while it does not pay off, and never
    /// happens when the process may use only one CPU.
    stream_spin: Duration = DEFAULT_STREAM_SPIN, Both, |o| OptionValue::Duration(o.stream_spin);
    /// Use an unsealed POSIX shared-memory object instead of a sealed memfd (`shm://` only;
    /// both sides must set it). The fallback for Unix systems without memfd seals, forced on
    /// Linux only for testing: a peer could shrink such a segment under us, so peers using it
    /// must trust each other.
    shm_posix_fallback: bool = !cfg!(any(target_os = "linux", target_os = "android")), Both,
        |o| OptionValue::Flag(o.shm_posix_fallback);
    /// Most connections a listener holds at once (at least 1): accepted channels not yet
    /// closed or dropped, those in their handshake and those waiting for `accept`. A client beyond it is
    /// refused with status 6 (`Timeout`: try again later).
    max_connections: usize = DEFAULT_MAX_CONNECTIONS, Listen,
        |o| OptionValue::Count(o.max_connections as u64);
    /// Once part of a frame has been read (Unix sockets, TCP, FIFOs) or the first fragment of
    /// a message has been taken (shared memory), how long the rest of it may take to arrive
    /// while this side receives; then the channel fails with
    /// `ProtocolViolation`. A receive's own timeout is unaffected. `None` (or zero): no limit.
    frame_timeout: Option<Duration> = Some(DEFAULT_FRAME_TIMEOUT), Both,
        |o| OptionValue::Timeout(o.frame_timeout);
    /// The uid the listener's process must run as (Unix sockets and shared memory: the
    /// kernel's peer credentials; FIFOs: the owner of the listener's FIFOs; checked before the
    /// client sends anything); another is refused with `PermissionDenied`. Over TCP, which has no credentials, `InvalidArgument`. `None`:
    /// any uid.
    expected_server_uid: Option<u32> = None, Connect, |o| OptionValue::Uid(o.expected_server_uid);
}

impl Options {
    /// The defaults (see [`Options::TABLE`]).
    pub fn new() -> Options {
        Options::default()
    }

    /// Largest message this side sends or accepts (default 16 MiB; at most `u32::MAX`).
    pub fn with_max_message_size(mut self, bytes: usize) -> Options {
        self.max_message_size = bytes;
        self
    }

    /// Permission bits of a listener's socket file (default `0o600`).
    pub fn with_socket_mode(mut self, mode: u32) -> Options {
        self.socket_mode = mode;
        self
    }

    /// How long `connect` waits for the listener to accept (default 10 s; `None` waits forever).
    pub fn with_connect_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Options {
        self.connect_timeout = timeout.into();
        self
    }

    /// How long either side waits for the other's hello (default 5 s). A client that connects
    /// and sends nothing is dropped after this long.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Options {
        self.handshake_timeout = timeout;
        self
    }

    /// Accept only peers whose uid is in `uids` (checked at accept and connect, through the
    /// kernel's peer credentials). Needs a transport with credentials (Unix sockets). Without
    /// it, a listener on an abstract socket (`unix:@name`, no file permissions) admits only its
    /// own uid.
    pub fn with_allowed_uids(mut self, uids: impl IntoIterator<Item = u32>) -> Options {
        self.allowed_uids = Some(uids.into_iter().collect());
        self
    }

    /// Accept peers of any uid again (the default), undoing [`with_allowed_uids`](Self::with_allowed_uids)
    /// (on an abstract socket: of the listener's own uid, see there).
    pub fn with_any_uid(mut self) -> Options {
        self.allowed_uids = None;
        self
    }

    /// Accept also peers one of whose groups is in `gids` (checked at accept and connect,
    /// through the kernel's peer credentials): its primary gid and, over Unix sockets and
    /// shared memory on Linux, its supplementary groups (FIFOs: the group of the connection
    /// FIFO, normally the client's primary gid). A peer passes if its uid is in
    /// [`with_allowed_uids`](Self::with_allowed_uids) or one of its groups is in this list.
    /// Needs a transport with credentials, like the uid list.
    pub fn with_allowed_gids(mut self, gids: impl IntoIterator<Item = u32>) -> Options {
        self.allowed_gids = Some(gids.into_iter().collect());
        self
    }

    /// Accept peers of any gid again (the default), undoing
    /// [`with_allowed_gids`](Self::with_allowed_gids).
    pub fn with_any_gid(mut self) -> Options {
        self.allowed_gids = None;
        self
    }

    /// Bytes in each shared-memory ring, one per direction (`shm://` only; set by the
    /// listener). A power of two from 64 KiB to 1 GiB; default 4 MiB. Messages larger than half
    /// a ring still travel, in fragments.
    pub fn with_shm_ring_size(mut self, bytes: usize) -> Options {
        self.shm_ring_size = bytes;
        self
    }

    /// Longest time a shared-memory channel spins waiting for the peer before it sleeps
    /// (`shm://` only; default 100 µs; zero never spins). Spinning trades CPU for latency, and
    /// adapts: it stops while it does not pay off (see [`with_stream_spin`](Self::with_stream_spin)).
    /// The default is long enough to outlast a peer's wake-up from sleep even when that takes
    /// two thread hops (an event-loop binding such as Node's: its runtime's thread, then the
    /// loop's); with a shorter window both sides of a ping-pong can settle into sleeping every
    /// time (measured in Node: 20 µs gave 22–62 µs round trips, 100 µs gave 4 µs).
    pub fn with_shm_spin(mut self, spin: Duration) -> Options {
        self.shm_spin = spin;
        self
    }

    /// Longest time a blocking receive on a Unix socket or TCP channel polls the socket
    /// without sleeping before it sleeps in the kernel (default 50 µs; zero never spins). A
    /// reply that arrives within that time is taken without a scheduler wake-up, which is most
    /// of a local round trip's cost.
    ///
    /// Spinning adapts to how it fares: the window shrinks while replies do not arrive within
    /// it (on a loaded machine the peer is usually waiting for the CPU we would spin on) and
    /// grows back while they do; the spinner yields its CPU between polls; and nothing spins
    /// when the process may use only one CPU. So the CPU time burned per message stays
    /// bounded.
    pub fn with_stream_spin(mut self, spin: Duration) -> Options {
        self.stream_spin = spin;
        self
    }

    /// Use the unsealed POSIX shared-memory fallback instead of sealed memfds (`shm://`;
    /// default: off on Linux and Android, where memfds exist). Both sides must agree: a side
    /// that does not use the fallback refuses an unsealed segment. A POSIX shm object cannot
    /// be sealed, so a peer could shrink it under us: **peers using it must trust each
    /// other.** Its name exists only between `shm_open` and the `shm_unlink` right after, so
    /// nothing is left in `/dev/shm`.
    pub fn with_shm_posix_fallback(mut self, on: bool) -> Options {
        self.shm_posix_fallback = on;
        self
    }

    /// Most connections a listener holds at once (default 1024; at least 1): channels it
    /// accepted and that are not yet closed or dropped, connections in their handshake, and handshaken
    /// ones waiting for `accept`. A client beyond it is refused at once with a hello of status
    /// 6 (`Timeout`, "the listener is at its connection limit"), before its hello is read.
    /// Each held connection costs a descriptor (two for FIFOs, more for `shm://`), so keep it
    /// below the process's descriptor limit.
    pub fn with_max_connections(mut self, n: usize) -> Options {
        self.max_connections = n;
        self
    }

    /// Once part of a frame has been read, how long the rest of the frame may take to arrive
    /// (default 30 s; `None` or zero: no limit), on the stream transports (Unix sockets, TCP,
    /// FIFOs; each fragment of a fragmented message is a frame of its own). `shm://` records
    /// are published whole, so it does not apply there. Checked while this side receives
    /// (blocking and tokio receives wake for it; an event loop that waits on the readiness
    /// descriptor itself sees it at its next receive): a peer that stalls half-way through a
    /// frame longer than this makes the channel fail with `ProtocolViolation` (and an ERROR
    /// frame to the peer). A receive that gives up on its own timeout first still loses
    /// nothing, as before.
    ///
    /// A sender that abandons a send half-way (a send timeout after part of the message went
    /// out) keeps the rest, which goes out with its next call on the channel: if it then makes
    /// no call for longer than the peer's frame timeout, the peer fails the channel.
    pub fn with_frame_timeout(mut self, timeout: impl Into<Option<Duration>>) -> Options {
        self.frame_timeout = timeout.into().filter(|t| !t.is_zero());
        self
    }

    /// Connect only to a listener whose process runs as `uid` (default: any). Checked through
    /// the kernel's peer credentials (Unix sockets and `shm://`: the listener's uid at the time
    /// it bound; FIFOs: the owner of the listener's FIFOs) as soon as the connection is
    /// established, before the client sends its hello: another uid gives `PermissionDenied`
    /// and the server gets nothing. Connecting over TCP, which has no credentials, with this
    /// set is `InvalidArgument`. A squatter that bound the name first cannot impersonate the
    /// service.
    pub fn with_expected_server_uid(mut self, uid: u32) -> Options {
        self.expected_server_uid = Some(uid);
        self
    }

    /// Connect to a listener of any uid again (the default), undoing
    /// [`with_expected_server_uid`](Self::with_expected_server_uid).
    pub fn with_any_server_uid(mut self) -> Options {
        self.expected_server_uid = None;
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "max_connections must be at least 1",
            ));
        }
        if self.max_message_size > u32::MAX as usize {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "max_message_size {} exceeds the wire limit {}",
                    self.max_message_size,
                    u32::MAX
                ),
            ));
        }
        if self.socket_mode & !0o777 != 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("socket_mode {:o} has bits outside 0o777", self.socket_mode),
            ));
        }
        let ring = self.shm_ring_size as u64;
        if !ring.is_power_of_two() || !(64 * 1024..=1 << 30).contains(&ring) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("shm_ring_size {ring} must be a power of two from 64 KiB to 1 GiB"),
            ));
        }
        if self.connect_timeout.is_some_and(|t| t.is_zero()) {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "connect_timeout must be positive (or None)",
            ));
        }
        if self.handshake_timeout.is_zero() {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "handshake_timeout must be positive",
            ));
        }
        Ok(())
    }

    pub(crate) fn max_message_u32(&self) -> u32 {
        self.max_message_size as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_every_option_once_with_its_default() {
        let names: Vec<&str> = Options::TABLE.iter().map(|o| o.name).collect();
        let mut dedup = names.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), names.len());
        let find = |n: &str| Options::TABLE.iter().find(|o| o.name == n).unwrap();
        assert_eq!(
            find("stream_spin").default_value(),
            OptionValue::Duration(DEFAULT_STREAM_SPIN)
        );
        assert_eq!(find("stream_spin").default_value().to_string(), "50 µs");
        assert_eq!(
            find("max_message_size").default_value().to_string(),
            "16 MiB"
        );
        assert_eq!(find("connect_timeout").default_value().to_string(), "10 s");
        assert_eq!(find("max_message_size").camel_case_name(), "maxMessageSize");
        assert_eq!(find("socket_mode").camel_case_name(), "socketMode");
        assert_eq!(find("socket_mode").default_value().to_string(), "0o600");
        // A setter changes what the table reads.
        let o = Options::new().with_stream_spin(Duration::ZERO);
        assert_eq!((find("stream_spin").get)(&o).to_string(), "0");
    }
}
