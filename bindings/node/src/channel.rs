//! `Channel`: a connected message channel (the core's `AsyncChannel`, an owned handle).

use libipc::aio::{AsyncChannel, SendNow};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::{to_napi, type_error};
use crate::promise::{buffer, later, now, or_reject, raw};
use crate::wait::{WaitSpec, already_aborted};

/// The peer's credentials, as the kernel reported them at connect time (`null` where the
/// transport does not tell: TCP).
#[napi(object)]
#[derive(Debug)]
pub struct PeerCredentials {
    pub pid: Either<u32, Null>,
    pub uid: Either<u32, Null>,
    pub gid: Either<u32, Null>,
}

/// A connected message channel: message boundaries kept, in order, with backpressure.
/// Iterate it with `for await (const msg of channel)`, which ends when the peer closes.
#[napi]
#[derive(Debug)]
pub struct Channel {
    pub(crate) ch: AsyncChannel,
}

/// The bytes of a `send` argument.
pub(crate) enum Data<'e> {
    Bytes(&'e [u8]),
    Text(String),
}

impl Data<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Data::Bytes(b) => b,
            Data::Text(s) => s.as_bytes(),
        }
    }
}

pub(crate) fn data<'e>(env: &Env, v: Unknown<'e>) -> Result<Data<'e>> {
    match v.get_type()? {
        ValueType::String => {
            // SAFETY: checked to be a string just above.
            Ok(Data::Text(unsafe { v.cast::<String>() }?))
        }
        // A Buffer is a Uint8Array; any other typed array or object is refused.
        ValueType::Object if v.is_typedarray()? => {
            // SAFETY: a typed array; the conversion checks that it is a Uint8Array. The slice
            // is used only during this call, while the caller's argument keeps it alive.
            unsafe { <&[u8]>::from_napi_value(env.raw(), v.raw()) }
                .map(Data::Bytes)
                .map_err(|_| type_error(env, "data must be a Buffer, a Uint8Array or a string"))
        }
        _ => Err(type_error(
            env,
            "data must be a Buffer, a Uint8Array or a string",
        )),
    }
}

#[napi]
impl Channel {
    /// Send one message (a string is sent as UTF-8). Resolves once all of the message is
    /// written; waits while the peer is not reading (backpressure), at most `timeout` ms.
    /// Rejects with `IPC_MESSAGE_TOO_LARGE` (over `maxMessageSize`, nothing sent),
    /// `IPC_TIMEOUT` or `IPC_CANCELLED` (nothing of it sent; once part of it is out, the wait
    /// ending resolves instead, and the rest goes before the next message),
    /// `IPC_PEER_DISCONNECTED`, `IPC_CLOSED`.
    #[napi(
        ts_args_type = "data: Buffer | Uint8Array | string, options?: WaitOptions | null",
        ts_return_type = "Promise<void>"
    )]
    pub fn send<'e>(
        &self,
        env: &'e Env,
        data: Unknown<'e>,
        options: Option<Unknown<'e>>,
    ) -> Result<PromiseRaw<'e, ()>> {
        let made = (|| {
            let data = self::data(env, data)?;
            let spec = WaitSpec::parse(env, options)?;
            if spec.aborted()? {
                return now(env, already_aborted());
            }
            let started = match self.ch.send_now(data.bytes()) {
                Ok(SendNow::Sent) => return now(env, Ok(())),
                Ok(SendNow::Started) => true,
                Ok(SendNow::Blocked) => false,
                Err(e) => return now(env, Err(e)),
            };
            let (armed, limits) = spec.arm(env)?;
            if started {
                // Part of it is out and the rest is kept in the channel: the promise settles
                // once the rest is written too (or the wait ends, the rest still going first).
                let ch = self.ch.clone();
                return later(
                    env,
                    armed,
                    async move { ch.flush_wait(limits.wait()).await.map(drop) },
                    |env, ()| raw(env, ()),
                );
            }
            let owned = match data {
                Data::Bytes(b) => b.to_vec(),
                Data::Text(s) => s.into_bytes(),
            };
            let ch = self.ch.clone();
            later(
                env,
                armed,
                async move { ch.send_wait(&owned, limits.wait()).await },
                |env, ()| raw(env, ()),
            )
        })();
        or_reject(env, made)
    }

    /// Receive the next message. Waits at most `timeout` ms (`IPC_TIMEOUT`; 0: only a
    /// message already there), until `signal` aborts (`IPC_CANCELLED`); neither loses a
    /// message. Rejects with `IPC_CLOSED` when the peer closed in an orderly way, and
    /// `IPC_PEER_DISCONNECTED` when it went away.
    #[napi(
        ts_args_type = "options?: WaitOptions | null",
        ts_return_type = "Promise<Buffer>"
    )]
    pub fn recv<'e>(
        &self,
        env: &'e Env,
        options: Option<Unknown<'e>>,
    ) -> Result<PromiseRaw<'e, BufferSlice<'e>>> {
        let made = (|| {
            let spec = WaitSpec::parse(env, options)?;
            if spec.aborted()? {
                return now(env, already_aborted());
            }
            let spin = spec.timeout.is_none_or(|t| !t.is_zero());
            match self.ch.recv_now(spin) {
                Ok(Some(m)) => return PromiseRaw::resolve(env, buffer(env, m)?),
                Ok(None) => {}
                Err(e) => return now(env, Err(e)),
            }
            let (armed, limits) = spec.arm(env)?;
            let ch = self.ch.clone();
            later(
                env,
                armed,
                async move { ch.recv_wait(limits.wait()).await },
                |env, m| raw(env, buffer(env, m)?),
            )
        })();
        or_reject(env, made)
    }

    /// A message that is already there, or `null`; never waits. Throws what `recv` rejects
    /// with.
    #[napi(ts_return_type = "Buffer | null")]
    pub fn try_recv<'e>(&self, env: &'e Env) -> Result<Option<BufferSlice<'e>>> {
        match self.ch.recv_now(false) {
            Ok(m) => m.map(|m| buffer(env, m)).transpose(),
            Err(e) => Err(to_napi(env, &e)),
        }
    }

    /// Close in an orderly way: what is still to go is sent, then the peer's receive ends
    /// with `IPC_CLOSED`; pending calls on this side reject with `IPC_CLOSED`. Resolves when
    /// done (at most the handshake timeout). Idempotent.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close<'e>(&self, env: &'e Env) -> Result<PromiseRaw<'e, ()>> {
        let ch = self.ch.clone();
        later(
            env,
            None,
            async move {
                ch.close().await;
                Ok(())
            },
            |env, ()| raw(env, ()),
        )
    }

    /// The peer process's credentials.
    #[napi(getter)]
    pub fn peer(&self) -> PeerCredentials {
        peer_of(self.ch.peer())
    }

    /// The largest message `send` accepts (the smaller of both sides' limits), in bytes.
    #[napi(getter)]
    pub fn max_message_size(&self) -> f64 {
        self.ch.max_message_size() as f64
    }
}

/// An endpoint argument: a string, else a `TypeError`.
/// Credentials as JavaScript sees them (`null` where unknown).
pub(crate) fn peer_of(p: libipc::PeerCredentials) -> PeerCredentials {
    let or_null = |v: Option<u32>| v.map_or(Either::B(Null), Either::A);
    PeerCredentials {
        pid: or_null(p.pid),
        uid: or_null(p.uid),
        gid: or_null(p.gid),
    }
}

pub(crate) fn endpoint(env: &Env, v: Unknown<'_>) -> Result<String> {
    if v.get_type()? != ValueType::String {
        return Err(type_error(env, "endpoint must be a string"));
    }
    // SAFETY: checked to be a string just above.
    unsafe { v.cast::<String>() }
}
