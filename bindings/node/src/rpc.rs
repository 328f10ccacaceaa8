//! Request/reply clients (`rpcConnect`, `RpcClient`): the core's `rpc::AsyncClient`, an owned
//! handle; its reply receiver runs as a task on the core's runtime. Many calls may be in
//! flight; each promise settles with its own reply. A call whose wait ends (timeout, abort)
//! abandons its request: the server is told, and a late reply is dropped and counted.

use std::sync::Arc;

use libipc::rpc::{AsyncClient, AsyncResponder, AsyncServer, PANIC_STATUS};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::channel::{self, PeerCredentials};
use crate::promise::{buffer, later, now, or_reject, raw};
use crate::wait::{WaitSpec, already_aborted};
use crate::{options, promise};

/// A request/reply client: one connection to a request/reply server, any number of calls
/// in flight.
#[napi]
#[derive(Debug)]
pub struct RpcClient {
    client: AsyncClient,
}

/// Connect to a request/reply server at `endpoint` (the endpoints and options of
/// `connect`). Rejects with `IPC_PROTOCOL_MISMATCH` when the endpoint is a plain listener
/// (or a libipc older than wire 1.1), and as `connect` does.
#[napi(
    ts_args_type = "endpoint: string, options?: Options | null",
    ts_return_type = "Promise<RpcClient>"
)]
pub fn rpc_connect<'e>(
    env: &'e Env,
    endpoint: Unknown<'e>,
    options: Option<Unknown<'e>>,
) -> Result<PromiseRaw<'e, RpcClient>> {
    let made = (|| {
        let ep = channel::endpoint(env, endpoint)?;
        let opts = options::from_js(env, options)?;
        later(
            env,
            None,
            async move { AsyncClient::connect_with(ep.as_str(), &opts).await },
            |env, client| raw(env, RpcClient { client }),
        )
    })();
    or_reject(env, made)
}

#[napi]
impl RpcClient {
    /// Send a request (a string is sent as UTF-8) and resolve with its reply. Rejects with
    /// `IPC_REMOTE` when the server's handler answered with an error (`err.status` is its
    /// status, the message its text; the client stays usable), `IPC_TIMEOUT` after `timeout`
    /// ms or `IPC_CANCELLED` when `signal` aborts (the request is abandoned),
    /// `IPC_MESSAGE_TOO_LARGE` (nothing sent), and with the connection's end
    /// (`IPC_PEER_DISCONNECTED`, `IPC_CLOSED`), which ends every call in flight.
    #[napi(
        ts_args_type = "data: Buffer | Uint8Array | string, options?: WaitOptions | null",
        ts_return_type = "Promise<Buffer>"
    )]
    pub fn call<'e>(
        &self,
        env: &'e Env,
        data: Unknown<'e>,
        options: Option<Unknown<'e>>,
    ) -> Result<PromiseRaw<'e, BufferSlice<'e>>> {
        let made = (|| {
            let body = channel::data(env, data)?.bytes().to_vec();
            let spec = WaitSpec::parse(env, options)?;
            if spec.aborted()? {
                return now(env, already_aborted());
            }
            let (armed, limits) = spec.arm(env)?;
            let client = self.client.clone();
            later(
                env,
                armed,
                async move { client.call_wait(&body, limits.wait()).await },
                |env, m| raw(env, buffer(env, m)?),
            )
        })();
        or_reject(env, made)
    }

    /// Calls in flight.
    #[napi(getter)]
    pub fn in_flight(&self) -> u32 {
        u32::try_from(self.client.in_flight()).unwrap_or(u32::MAX)
    }

    /// Replies that came for calls nobody waited for any more (timed out, aborted), dropped.
    #[napi(getter)]
    pub fn late_replies(&self) -> f64 {
        self.client.late_replies() as f64
    }

    /// The server's credentials.
    #[napi(getter)]
    pub fn peer(&self) -> PeerCredentials {
        channel::peer_of(self.client.peer())
    }

    /// Close the connection: calls in flight reject with `IPC_CLOSED`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, ()>> {
        let client = self.client.clone();
        promise::later(
            env,
            None,
            async move {
                client.close().await;
                Ok(())
            },
            |env, ()| raw(env, ()),
        )
    }
}

/// A request/reply server (`rpcListen`): accepts `RpcConnection`s. `serve(server, handler)`
/// (lib.js) is the usual way to run one.
#[napi]
#[derive(Debug)]
pub struct RpcServer {
    server: Arc<AsyncServer>,
    endpoint: String,
}

/// One client's connection on an `RpcServer`: take its requests with `next()`, answer each
/// with `reply` or `replyError` (in any order); `cancelled(id)` settles when the client gives
/// up on a request. Every request must be answered, cancelled or not (the answer to a
/// cancelled one is not sent).
#[napi]
#[derive(Debug)]
pub struct RpcConnection {
    conn: AsyncResponder,
}

/// A request taken with `RpcConnection.next()`.
#[napi(object)]
pub struct RpcRequest {
    /// Its correlation id, to answer with.
    pub id: f64,
    /// Its bytes.
    pub body: Buffer,
}

impl std::fmt::Debug for RpcRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcRequest")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// The status of the error reply to a request whose handler threw something that is not an
/// `IPC_REMOTE` error (4294967295, as the core's `PANIC_STATUS`).
#[napi]
pub const PANIC_REPLY_STATUS: u32 = PANIC_STATUS;

/// Listen at `endpoint` for request/reply clients (the endpoints and options of `listen`).
/// Plain channel clients are refused.
#[napi(
    ts_args_type = "endpoint: string, options?: Options | null",
    ts_return_type = "Promise<RpcServer>"
)]
pub fn rpc_listen<'e>(
    env: &'e Env,
    endpoint: Unknown<'e>,
    options: Option<Unknown<'e>>,
) -> Result<PromiseRaw<'e, RpcServer>> {
    let made = (|| {
        let ep = channel::endpoint(env, endpoint)?;
        let opts = options::from_js(env, options)?;
        later(
            env,
            None,
            async move { AsyncServer::bind_with(ep.as_str(), &opts).await },
            |env, server| {
                let endpoint = server.local_endpoint().to_string();
                raw(
                    env,
                    RpcServer {
                        server: Arc::new(server),
                        endpoint,
                    },
                )
            },
        )
    })();
    or_reject(env, made)
}

fn id_of(env: &Env, id: f64) -> Result<u64> {
    if id.fract() != 0.0 || !(0.0..=9_007_199_254_740_991.0).contains(&id) {
        return Err(crate::errors::invalid(
            env,
            format!("{id} is not a request id"),
        ));
    }
    Ok(id as u64)
}

#[napi]
impl RpcServer {
    /// The endpoint clients connect to.
    #[napi(getter)]
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The next client; rejects with `IPC_CLOSED` once the server is closed.
    #[napi(ts_return_type = "Promise<RpcConnection>")]
    pub fn accept<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, RpcConnection>> {
        let server = Arc::clone(&self.server);
        later(
            env,
            None,
            async move { server.accept().await },
            |env, conn| raw(env, RpcConnection { conn }),
        )
    }

    /// Stop listening: a pending `accept` rejects with `IPC_CLOSED`. Idempotent.
    #[napi]
    pub fn close(&self) {
        self.server.close();
    }
}

#[napi]
impl RpcConnection {
    /// The client's next request; rejects with `IPC_CLOSED` (or `IPC_PEER_DISCONNECTED`) when
    /// the client is gone.
    #[napi(ts_return_type = "Promise<RpcRequest>")]
    pub fn next<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, RpcRequest>> {
        let conn = self.conn.clone();
        later(
            env,
            None,
            async move { conn.next_request().await },
            |env, r| {
                raw(
                    env,
                    RpcRequest {
                        id: r.id() as f64,
                        body: r.body().to_vec().into(),
                    },
                )
            },
        )
    }

    /// Settles with `true` when the client cancels request `id` (or the connection ends)
    /// before it is answered, with `false` once it is answered, and at once with `false` for
    /// an id that is not waiting for an answer.
    #[napi(ts_return_type = "Promise<boolean>")]
    pub fn cancelled<'e>(&self, env: &'e Env, id: f64) -> Result<PromiseRaw<'e, bool>> {
        let made = (|| {
            let id = id_of(env, id)?;
            // The core tracks each request taken with `next` until it is answered.
            let Some(signal) = self.conn.signal(id) else {
                return PromiseRaw::resolve(env, false);
            };
            later(env, None, async move { Ok(signal.cancelled().await) }, raw)
        })();
        or_reject(env, made)
    }

    /// Answer request `id` with `data` (a string is sent as UTF-8).
    #[napi(
        ts_args_type = "id: number, data: Buffer | Uint8Array | string",
        ts_return_type = "Promise<void>"
    )]
    pub fn reply<'e>(
        &self,
        env: &'e Env,
        id: f64,
        data: Unknown<'e>,
    ) -> Result<PromiseRaw<'e, ()>> {
        let made = (|| {
            let id = id_of(env, id)?;
            let body = channel::data(env, data)?.bytes().to_vec();
            let conn = self.conn.clone();
            later(
                env,
                None,
                async move { conn.reply(id, &body).await },
                |env, ()| raw(env, ()),
            )
        })();
        or_reject(env, made)
    }

    /// Answer request `id` with an error: `status` (non-zero) and `text`; the client's call
    /// rejects with `IPC_REMOTE`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn reply_error<'e>(
        &self,
        env: &'e Env,
        id: f64,
        status: u32,
        text: String,
    ) -> Result<PromiseRaw<'e, ()>> {
        let made = (|| {
            let id = id_of(env, id)?;
            let conn = self.conn.clone();
            later(
                env,
                None,
                async move { conn.reply_error(id, status, &text).await },
                |env, ()| raw(env, ()),
            )
        })();
        or_reject(env, made)
    }

    /// Close this client's connection.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, ()>> {
        let conn = self.conn.clone();
        later(
            env,
            None,
            async move {
                conn.close().await;
                Ok(())
            },
            |env, ()| raw(env, ()),
        )
    }
}
