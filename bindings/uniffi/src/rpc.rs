//! Request/reply clients for Kotlin and Swift: the core's `rpc::AsyncClient` (an owned
//! handle; its reply receiver runs as a task on the core's runtime). A call's outcome is an
//! `RpcReply`: the reply (status 0) or the server handler's error reply (its status and
//! text), distinct from the errors of the connection, which are thrown.

use std::sync::Arc;

use libipc::rpc::AsyncClient;

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
