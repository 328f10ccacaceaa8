//! The core's options (`libipc::Options::TABLE`) as a record: the same names (camelCase in
//! Kotlin and Swift), the same defaults (`None`: the core's); durations in milliseconds.

use std::time::Duration;

use libipc::Options;

use crate::IpcError;

/// Options for `connect` and `Listener.bind` (every field optional: the core's default).
#[derive(Debug, Clone, Default, uniffi::Record)]
pub struct IpcOptions {
    /// Largest message this side sends or accepts, in bytes (default 16 MiB).
    #[uniffi(default = None)]
    pub max_message_size: Option<u64>,
    /// Permission bits of a listener's socket file (default 0o600).
    #[uniffi(default = None)]
    pub socket_mode: Option<u32>,
    /// How long `connect` waits for the listener, in ms (default 10000).
    #[uniffi(default = None)]
    pub connect_timeout: Option<u64>,
    /// How long either side waits for the other's hello, in ms (default 5000).
    #[uniffi(default = None)]
    pub handshake_timeout: Option<u64>,
    /// Accept only peers with these uids (default: any uid).
    #[uniffi(default = None)]
    pub allowed_uids: Option<Vec<u32>>,
    /// Accept also peers in one of these groups (primary, or supplementary over Unix sockets
    /// and shared memory on Linux); with `allowed_uids` too, either list admits (default: any
    /// gid).
    #[uniffi(default = None)]
    pub allowed_gids: Option<Vec<u32>>,
    /// Bytes in each shared-memory ring (listener, `shm://`; default 4 MiB).
    #[uniffi(default = None)]
    pub shm_ring_size: Option<u64>,
    /// Longest spin before sleeping on shared memory, in µs (default 100).
    #[uniffi(default = None)]
    pub shm_spin: Option<u64>,
    /// Longest poll before sleeping on a stream socket, in µs (default 50).
    #[uniffi(default = None)]
    pub stream_spin: Option<u64>,
    /// Unsealed POSIX shared memory instead of a sealed memfd (both sides; testing).
    #[uniffi(default = None)]
    pub shm_posix_fallback: Option<bool>,
    /// Most connections a listener holds at once (listener; default 1024).
    #[uniffi(default = None)]
    pub max_connections: Option<u64>,
    /// Once part of a frame has arrived, how long the rest may take, in ms (default 30000;
    /// 0: no limit).
    #[uniffi(default = None)]
    pub frame_timeout: Option<u64>,
    /// Connect only to a listener run by this uid (client; default: any uid).
    #[uniffi(default = None)]
    pub expected_server_uid: Option<u32>,
}

fn size(what: &str, v: u64) -> Result<usize, IpcError> {
    usize::try_from(v).map_err(|_| IpcError::InvalidArgument(format!("{what} is out of range")))
}

impl IpcOptions {
    /// The core's options.
    pub(crate) fn to_core(&self) -> Result<Options, IpcError> {
        let mut o = Options::new();
        if let Some(n) = self.max_message_size {
            o = o.with_max_message_size(size("maxMessageSize", n)?);
        }
        if let Some(m) = self.socket_mode {
            o = o.with_socket_mode(m);
        }
        if let Some(ms) = self.connect_timeout {
            o = o.with_connect_timeout(Duration::from_millis(ms));
        }
        if let Some(ms) = self.handshake_timeout {
            o = o.with_handshake_timeout(Duration::from_millis(ms));
        }
        if let Some(uids) = &self.allowed_uids {
            o = o.with_allowed_uids(uids.iter().copied());
        }
        if let Some(gids) = &self.allowed_gids {
            o = o.with_allowed_gids(gids.iter().copied());
        }
        if let Some(n) = self.shm_ring_size {
            o = o.with_shm_ring_size(size("shmRingSize", n)?);
        }
        if let Some(us) = self.shm_spin {
            o = o.with_shm_spin(Duration::from_micros(us));
        }
        if let Some(us) = self.stream_spin {
            o = o.with_stream_spin(Duration::from_micros(us));
        }
        if let Some(on) = self.shm_posix_fallback {
            o = o.with_shm_posix_fallback(on);
        }
        if let Some(n) = self.max_connections {
            o = o.with_max_connections(size("maxConnections", n)?);
        }
        if let Some(ms) = self.frame_timeout {
            o = o.with_frame_timeout(Duration::from_millis(ms));
        }
        if let Some(uid) = self.expected_server_uid {
            o = o.with_expected_server_uid(uid);
        }
        Ok(o)
    }
}
