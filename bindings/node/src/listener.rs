//! `Listener`: a listening endpoint (the core's `AsyncListener`, an owned handle).

use std::sync::Arc;

use libipc::aio::AsyncListener;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::channel::Channel;
use crate::promise::{later, now, or_reject, raw};
use crate::wait::{WaitSpec, already_aborted};

/// A listening endpoint. Handshakes run in the background, so a silent client never holds up
/// the others. Iterate it with `for await (const channel of listener)`, which ends when the
/// listener is closed.
#[napi]
#[derive(Debug)]
pub struct Listener {
    pub(crate) listener: Arc<AsyncListener>,
    pub(crate) endpoint: String,
}

#[napi]
impl Listener {
    /// The endpoint clients connect to (with the real port for `tcp://…:0`).
    #[napi(getter)]
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The next client whose handshake succeeded. Waits at most `timeout` ms
    /// (`IPC_TIMEOUT`), until `signal` aborts (`IPC_CANCELLED`; a client that connected
    /// meanwhile waits for the next `accept`), or until `close()` (`IPC_CLOSED`).
    #[napi(ts_args_type = "options?: WaitOptions | null")]
    pub fn accept<'e>(
        &self,
        env: &'e Env,
        options: Option<Unknown<'e>>,
    ) -> Result<PromiseRaw<'e, Channel>> {
        let made = (|| {
            let spec = WaitSpec::parse(env, options)?;
            if spec.aborted()? {
                return now(env, already_aborted());
            }
            let (armed, limits) = spec.arm(env)?;
            let listener = Arc::clone(&self.listener);
            later(
                env,
                armed,
                async move { listener.accept_wait(limits.wait()).await },
                |env, ch| raw(env, Channel { ch }),
            )
        })();
        or_reject(env, made)
    }

    /// Stop listening: the socket (file) goes away at once, clients are refused, and a
    /// pending `accept` rejects with `IPC_CLOSED`. Channels already accepted stay open.
    /// Idempotent.
    #[napi]
    pub fn close(&self) {
        self.listener.close();
    }
}
