//! Options for listeners and channels.

use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

/// Default size of each shared-memory ring (one per direction): 4 MiB.
pub const DEFAULT_SHM_RING_SIZE: usize = 4 * 1024 * 1024;

/// Default largest message: 16 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

/// Default time a blocking stream receive polls before sleeping (see
/// [`Options::with_stream_spin`]).
pub const DEFAULT_STREAM_SPIN: Duration = Duration::from_micros(50);

/// Settings for [`Listener::bind_with`](crate::Listener::bind_with) and
/// [`Channel::connect_with`](crate::Channel::connect_with). Build with the chained setters:
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
    pub(crate) max_message_size: usize,
    pub(crate) socket_mode: u32,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) allowed_uids: Option<Vec<u32>>,
    pub(crate) shm_ring_size: usize,
    pub(crate) shm_spin: Duration,
    pub(crate) stream_spin: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            socket_mode: 0o600,
            connect_timeout: Some(Duration::from_secs(10)),
            handshake_timeout: Duration::from_secs(5),
            allowed_uids: None,
            shm_ring_size: DEFAULT_SHM_RING_SIZE,
            shm_spin: Duration::from_micros(20),
            stream_spin: DEFAULT_STREAM_SPIN,
        }
    }
}

impl Options {
    /// The defaults: 16 MiB messages, socket mode 0600, 10 s connect and 5 s handshake timeouts,
    /// no uid allow-list.
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
    /// kernel's peer credentials). Needs a transport with credentials (Unix sockets).
    pub fn with_allowed_uids(mut self, uids: impl IntoIterator<Item = u32>) -> Options {
        self.allowed_uids = Some(uids.into_iter().collect());
        self
    }

    /// Accept peers of any uid again (the default), undoing [`with_allowed_uids`](Self::with_allowed_uids).
    pub fn with_any_uid(mut self) -> Options {
        self.allowed_uids = None;
        self
    }

    /// Bytes in each shared-memory ring, one per direction (`shm://` only; set by the
    /// listener). A power of two from 64 KiB to 1 GiB; default 4 MiB. Messages larger than half
    /// a ring still travel, in fragments.
    pub fn with_shm_ring_size(mut self, bytes: usize) -> Options {
        self.shm_ring_size = bytes;
        self
    }

    /// How long a shared-memory channel spins waiting for the peer before it sleeps
    /// (`shm://` only; default 20 µs; zero never spins). Spinning trades CPU for latency.
    pub fn with_shm_spin(mut self, spin: Duration) -> Options {
        self.shm_spin = spin;
        self
    }

    /// How long a blocking receive on a Unix socket or TCP channel polls the socket without
    /// sleeping before it sleeps in the kernel (default 50 µs; zero never spins). A reply that
    /// arrives within that time is taken without a scheduler wake-up, which is most of a
    /// local round trip's cost; the price is up to this much CPU time per wait.
    pub fn with_stream_spin(mut self, spin: Duration) -> Options {
        self.stream_spin = spin;
        self
    }

    /// The configured stream spin time.
    pub fn stream_spin(&self) -> Duration {
        self.stream_spin
    }

    /// The configured shared-memory ring size.
    pub fn shm_ring_size(&self) -> usize {
        self.shm_ring_size
    }

    /// The configured shared-memory spin time.
    pub fn shm_spin(&self) -> Duration {
        self.shm_spin
    }

    /// The configured largest message size.
    pub fn max_message_size(&self) -> usize {
        self.max_message_size
    }

    /// The configured socket file mode.
    pub fn socket_mode(&self) -> u32 {
        self.socket_mode
    }

    /// The configured connect timeout.
    pub fn connect_timeout(&self) -> Option<Duration> {
        self.connect_timeout
    }

    /// The configured handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.handshake_timeout
    }

    /// The configured uid allow-list, if any.
    pub fn allowed_uids(&self) -> Option<&[u32]> {
        self.allowed_uids.as_deref()
    }

    pub(crate) fn validate(&self) -> Result<()> {
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
