//! The native addon of the npm package `libipc` (napi-rs): a thin layer over the core's
//! async API and owned handles (`libipc::aio`). Every wait runs on the core's tokio runtime
//! (`libipc::aio::new_runtime`, which napi-rs drives its futures on; never the libuv thread
//! pool); the common case, where a message is already there
//! or can be sent at once, is done on the JavaScript thread without a thread hop
//! (`AsyncChannel::recv_now` / `send_now`, whose spinning is the core's adaptive one).
//! Errors come from the core's one table (`errors.rs`), options from `Options::TABLE`
//! (`options.rs`). The package's `lib.js` adds only the async iterators.

mod channel;
mod errors;
mod listener;
mod options;
mod promise;
mod pubsub;
mod rpc;
mod settle;
mod wait;

use std::sync::Arc;

use libipc::ErrorKind;
use libipc::aio::{AsyncChannel, AsyncListener};
use napi::bindgen_prelude::*;
use napi_derive::napi;

pub use channel::{Channel, PeerCredentials};
pub use listener::Listener;
pub use pubsub::{
    Delivery, Publisher, PublisherPolicy, PublisherStats, Subscriber, publisher, subscribe,
};
pub use rpc::{
    PANIC_REPLY_STATUS, RpcClient, RpcConnection, RpcRequest, RpcServer, rpc_connect, rpc_listen,
};

use crate::errors::to_napi;
use crate::promise::{later, or_reject, raw};

/// Every wait runs on the core's runtime (`libipc::aio::new_runtime`), which napi-rs then
/// drives its futures on, instead of one it sizes itself.
#[napi_derive::module_init]
fn init() {
    if let Ok(rt) = libipc::aio::new_runtime() {
        napi::bindgen_prelude::create_custom_tokio_runtime(rt);
    }
}

/// How long a call may wait (all optional). (The methods read it themselves, to give
/// `IPC_INVALID_ARGUMENT` errors; this declares its type.)
#[napi(object)]
pub struct WaitOptions {
    /// Milliseconds; 0 = only what can be done now. No limit when absent.
    pub timeout: Option<f64>,
    /// Cancels the call (`IPC_CANCELLED`) without losing anything.
    #[napi(ts_type = "AbortSignal")]
    pub signal: Option<Unknown<'static>>,
}

impl std::fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitOptions")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The core's options, camelCase; durations in milliseconds, sizes in bytes. Absent: the
/// core's default (see `defaults()`).
#[napi(object)]
#[derive(Debug)]
pub struct Options {
    /// Largest message this side sends or accepts, in bytes (default 16 MiB).
    pub max_message_size: Option<f64>,
    /// Permission bits of a listener's socket file (listen; default 0o600).
    pub socket_mode: Option<u32>,
    /// How long `connect` waits for the listener, in ms (default 10000; `null`: no limit).
    #[napi(ts_type = "number | null")]
    pub connect_timeout: Option<f64>,
    /// How long either side waits for the other's hello, in ms (default 5000); also bounds
    /// `close`.
    pub handshake_timeout: Option<f64>,
    /// Accept only peers with these uids (`null`: any uid).
    #[napi(ts_type = "number[] | null")]
    pub allowed_uids: Option<Vec<u32>>,
    /// Accept also peers in one of these groups (primary, or supplementary over Unix sockets
    /// and shared memory on Linux); with `allowedUids` too, either list admits (`null`: any
    /// gid).
    #[napi(ts_type = "number[] | null")]
    pub allowed_gids: Option<Vec<u32>>,
    /// Bytes in each shared-memory ring (listen, `shm://`; default 4 MiB).
    pub shm_ring_size: Option<f64>,
    /// Longest spin before sleeping on shared memory, in ms (default 0.1).
    pub shm_spin: Option<f64>,
    /// Longest poll before sleeping on a stream socket, in ms (default 0.05).
    pub stream_spin: Option<f64>,
    /// Unsealed POSIX shared memory instead of a sealed memfd (both sides; testing).
    pub shm_posix_fallback: Option<bool>,
    /// Most connections a listener holds at once (listen; default 1024).
    pub max_connections: Option<f64>,
    /// Once part of a frame has arrived, how long the rest may take, in ms (default 30000;
    /// `null` or 0: no limit).
    #[napi(ts_type = "number | null")]
    pub frame_timeout: Option<f64>,
    /// Connect only to a listener run by this uid (connect; `null`: any uid).
    #[napi(ts_type = "number | null")]
    pub expected_server_uid: Option<u32>,
}

/// Connect to a listener at `endpoint` (`unix:///path`, `unix:@name`, `tcp://host:port`,
/// `shm://name`, `fifo:///path`, or a bare name). Rejects with `IPC_INVALID_ENDPOINT`,
/// `IPC_NOT_FOUND` (nobody listening), `IPC_TIMEOUT`, `IPC_PERMISSION_DENIED`, ...
#[napi(
    ts_args_type = "endpoint: string, options?: Options | null",
    ts_return_type = "Promise<Channel>"
)]
pub fn connect<'e>(
    env: &'e Env,
    endpoint: Unknown<'e>,
    options: Option<Unknown<'e>>,
) -> Result<PromiseRaw<'e, Channel>> {
    let made = (|| {
        let ep = channel::endpoint(env, endpoint)?;
        let opts = options::from_js(env, options)?;
        later(
            env,
            None,
            async move { AsyncChannel::connect_with(ep.as_str(), &opts).await },
            |env, ch| raw(env, Channel { ch }),
        )
    })();
    or_reject(env, made)
}

/// Listen at `endpoint` (synchronous: throws `IPC_INVALID_ENDPOINT`, `IPC_ADDRESS_IN_USE`,
/// `IPC_PERMISSION_DENIED`, ... at once). `tcp://127.0.0.1:0` picks a free port; `endpoint`
/// on the listener tells which.
#[napi(ts_args_type = "endpoint: string, options?: Options | null")]
pub fn listen(env: &Env, endpoint: Unknown<'_>, options: Option<Unknown<'_>>) -> Result<Listener> {
    let ep = channel::endpoint(env, endpoint)?;
    let opts = options::from_js(env, options)?;
    let listener = AsyncListener::bind_now(ep.as_str(), &opts).map_err(|e| to_napi(env, &e))?;
    Ok(Listener {
        endpoint: listener.local_endpoint().to_string(),
        listener: Arc::new(listener),
    })
}

/// Two connected channels in this process, over a socket pair.
#[napi(
    ts_args_type = "options?: Options | null",
    ts_return_type = "[Channel, Channel]"
)]
pub fn pair(env: &Env, options: Option<Unknown<'_>>) -> Result<Vec<Channel>> {
    let opts = options::from_js(env, options)?;
    let (a, b) =
        napi::bindgen_prelude::within_runtime_if_available(|| AsyncChannel::pair_with(&opts))
            .map_err(|e| to_napi(env, &e))?;
    Ok(vec![Channel { ch: a }, Channel { ch: b }])
}

/// In a process started by a libipc parent (Rust `Channel::spawn`, C `ipc_spawn`, Python
/// `libipc.spawn`): the channel to the parent.
#[napi(
    ts_args_type = "options?: Options | null",
    ts_return_type = "Promise<Channel>"
)]
pub fn from_env<'e>(env: &'e Env, options: Option<Unknown<'e>>) -> Result<PromiseRaw<'e, Channel>> {
    let made = (|| {
        let opts = options::from_js(env, options)?;
        later(
            env,
            None,
            async move { AsyncChannel::from_env_with(&opts).await },
            |env, ch| raw(env, Channel { ch }),
        )
    })();
    or_reject(env, made)
}

/// Every error code, from the core's table: `{ IPC_INVALID_ENDPOINT: 1, ... }`.
#[napi(ts_return_type = "Record<string, number>")]
pub fn error_codes(env: &Env) -> Result<Object<'_>> {
    let mut out = Object::new(env)?;
    for k in ErrorKind::ALL {
        out.set_named_property(k.symbol(), u32::from(k.code()))?;
    }
    Ok(out)
}

/// The default of every option, with the names and units `Options` takes.
#[napi(ts_return_type = "Required<Options>")]
pub fn defaults(env: &Env) -> Result<Object<'_>> {
    options::defaults(env)
}
