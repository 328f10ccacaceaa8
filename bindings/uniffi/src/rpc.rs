//! Request/reply clients for Kotlin and Swift: the core's `rpc::AsyncClient` (an owned
//! handle; its reply receiver runs as a task on the core's runtime). A call's outcome is an
//! `RpcReply`: the reply (status 0) or the server handler's error reply (its status and
//! text), distinct from the errors of the connection, which are thrown.

use std::sync::Arc;

use libipc::rpc::{AsyncClient, AsyncResponder, AsyncServer};

use crate::{CancelHandle, IpcError, IpcOptions, in_runtime, runtime, wait_for};

/// What a call got back: `status` 0 and the reply in `body`, or the handler's error status
/// (non-zero) and its UTF-8 text in `body`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RpcReply {
    pub status: u32,
    pub body: Vec<u8>,
}

/// A request/reply client: one connection to a request/reply server; any number of calls
/// in flight, each getting its own reply.
#[derive(Debug, uniffi::Object)]
pub struct RpcClient {
    client: AsyncClient,
}

fn reply(outcome: libipc::Result<libipc::Message>) -> Result<RpcReply, IpcError> {
    match outcome {
        Ok(m) => Ok(RpcReply {
            status: 0,
            body: m.into_vec(),
        }),
        Err(e) if e.kind() == libipc::ErrorKind::Remote => Ok(RpcReply {
            status: e.status().unwrap_or(1),
            body: e.message().as_bytes().to_vec(),
        }),
        Err(e) => Err(e.into()),
    }
}

/// Connect to a request/reply server at `endpoint` (`ProtocolMismatch` from a plain
/// listener).
#[uniffi::export]
pub async fn rpc_connect(
    endpoint: String,
    options: Option<IpcOptions>,
) -> Result<Arc<RpcClient>, IpcError> {
    let opts = options.unwrap_or_default().to_core()?;
    let client =
        in_runtime(async move { AsyncClient::connect_with(endpoint.as_str(), &opts).await })
            .await?;
    Ok(Arc::new(RpcClient { client }))
}

/// Connect, blocking the calling thread (within the connect timeout of `options`).
#[uniffi::export]
pub fn rpc_connect_blocking(
    endpoint: String,
    options: Option<IpcOptions>,
) -> Result<Arc<RpcClient>, IpcError> {
    let rt = runtime()?;
    let opts = options.unwrap_or_default().to_core()?;
    let client = rt.block_on(AsyncClient::connect_with(endpoint.as_str(), &opts))?;
    Ok(Arc::new(RpcClient { client }))
}

#[uniffi::export]
impl RpcClient {
    /// Send a request and wait for its reply; `cancel` ends the wait with `Cancelled`,
    /// abandoning the request (the server is told; a late reply is dropped and counted).
    #[uniffi::method(default(cancel = None))]
    pub async fn call(
        &self,
        data: Vec<u8>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<RpcReply, IpcError> {
        let client = self.client.clone();
        let outcome = in_runtime(async move {
            let wait = wait_for(None, cancel.as_deref());
            Ok(client.call_wait(&data, wait).await)
        })
        .await?;
        reply(outcome)
    }

    /// `call`, blocking the calling thread at most `timeout_ms` (`Timeout`) or until `cancel`
    /// fires.
    pub fn call_blocking(
        &self,
        data: Vec<u8>,
        timeout_ms: Option<u64>,
        cancel: Option<Arc<CancelHandle>>,
    ) -> Result<RpcReply, IpcError> {
        let rt = runtime()?;
        let wait = wait_for(timeout_ms, cancel.as_deref());
        reply(rt.block_on(self.client.call_wait(&data, wait)))
    }

    /// Calls in flight.
    pub fn in_flight(&self) -> u64 {
        self.client.in_flight() as u64
    }

    /// Replies that came for calls nobody waited for any more, dropped.
    pub fn late_replies(&self) -> u64 {
        self.client.late_replies()
    }

    /// Close the connection: calls in flight end with `Closed`.
    pub fn shutdown(&self) -> Result<(), IpcError> {
        let rt = runtime()?;
        rt.block_on(self.client.close());
        Ok(())
    }
}

/// The status of the error reply to a request whose handler failed with something that is not
/// an error reply (4294967295, the core's `PANIC_STATUS`).
#[uniffi::export]
pub fn rpc_panic_status() -> u32 {
    libipc::rpc::PANIC_STATUS
}

/// A request/reply server: accepts `RpcConnection`s. The Kotlin and Swift packages add a
/// `serve(handler)` on top (a coroutine or task per request, cancelled with its request).
#[derive(Debug, uniffi::Object)]
pub struct RpcServer {
    server: Arc<AsyncServer>,
}

/// One client's connection: take its requests with `next()`, answer each with `reply` or
/// `replyError` (any order); `cancelled(id)` returns `true` when the client gives up on a
/// request (or the connection ends), `false` once it is answered. Answer every request,
/// cancelled or not (the answer to a cancelled one is not sent).
#[derive(Debug, uniffi::Object)]
pub struct RpcConnection {
    conn: AsyncResponder,
}

/// A request: its id (to answer with) and its bytes.
#[derive(Debug, Clone, uniffi::Record)]
pub struct RpcRequest {
    pub id: u64,
    pub body: Vec<u8>,
}

/// Listen at `endpoint` for request/reply clients (plain channel clients are refused).
#[uniffi::export]
pub async fn rpc_listen(
    endpoint: String,
    options: Option<IpcOptions>,
) -> Result<Arc<RpcServer>, IpcError> {
    let opts = options.unwrap_or_default().to_core()?;
    let server =
        in_runtime(async move { AsyncServer::bind_with(endpoint.as_str(), &opts).await }).await?;
    Ok(Arc::new(RpcServer {
        server: Arc::new(server),
    }))
}

#[uniffi::export]
impl RpcServer {
    /// The endpoint clients connect to.
    pub fn endpoint(&self) -> String {
        self.server.local_endpoint().to_string()
    }

    /// The next client (`Closed` once the server is shut down).
    pub async fn accept(&self) -> Result<Arc<RpcConnection>, IpcError> {
        let server = Arc::clone(&self.server);
        let conn = in_runtime(async move { server.accept().await }).await?;
        Ok(Arc::new(RpcConnection { conn }))
    }

    /// Stop listening: a pending `accept` ends with `Closed`.
    pub fn shutdown(&self) {
        self.server.close();
    }
}

#[uniffi::export]
impl RpcConnection {
    /// The client's next request (`Closed` or `PeerDisconnected` when it is gone).
    pub async fn next(&self) -> Result<RpcRequest, IpcError> {
        let conn = self.conn.clone();
        // The core tracks the request until it is answered (`cancelled` asks it).
        let r = in_runtime(async move { conn.next_request().await }).await?;
        Ok(RpcRequest {
            id: r.id(),
            body: r.body().to_vec(),
        })
    }

    /// `true` when the client cancels request `id` (or the connection ends) before it is
    /// answered, `false` once it is answered (at once for an id not waiting for an answer).
    pub async fn cancelled(&self, id: u64) -> bool {
        match self.conn.signal(id) {
            Some(s) => in_runtime(async move { Ok(s.cancelled().await) })
                .await
                .unwrap_or(true),
            None => false,
        }
    }

    /// Answer request `id` with `body`.
    pub async fn reply(&self, id: u64, body: Vec<u8>) -> Result<(), IpcError> {
        let conn = self.conn.clone();
        in_runtime(async move { conn.reply(id, &body).await }).await
    }

    /// Answer request `id` with an error: `status` (non-zero) and `text`.
    pub async fn reply_error(&self, id: u64, status: u32, text: String) -> Result<(), IpcError> {
        let conn = self.conn.clone();
        in_runtime(async move { conn.reply_error(id, status, &text).await }).await
    }

    /// Close this client's connection.
    pub fn shutdown(&self) -> Result<(), IpcError> {
        let rt = runtime()?;
        rt.block_on(self.conn.close());
        Ok(())
    }
}
