//! Request/reply clients (`rpcConnect`, `RpcClient`): the core's `rpc::AsyncClient`, an owned
//! handle; its reply receiver runs as a task on the core's runtime. Many calls may be in
//! flight; each promise settles with its own reply. A call whose wait ends (timeout, abort)
//! abandons its request: the server is told, and a late reply is dropped and counted.

use libipc::rpc::AsyncClient;
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
