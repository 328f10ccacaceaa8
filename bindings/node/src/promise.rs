//! Settling the Promises the API returns: at once on the JavaScript thread when the core
//! could do the work there (`recv_now`, `send_now`), or from a future on the tokio runtime
//! that napi-rs runs (never the libuv thread pool), through `settle.rs`.

use std::future::Future;
use std::ptr;

use napi::bindgen_prelude::*;
use napi::sys;

use crate::errors::to_napi;
use crate::settle;
use crate::wait::Armed;

/// A Promise settled now with `r`.
pub(crate) fn now<'e, T: ToNapiValue>(
    env: &'e Env,
    r: libipc::Result<T>,
) -> Result<PromiseRaw<'e, T>> {
    match r {
        Ok(v) => PromiseRaw::resolve(env, v),
        Err(e) => PromiseRaw::reject(env, to_napi(env, &e)),
    }
}

/// What a Promise-returning function's synchronous part gives: the promise, or a rejected
/// one for an error found before anything started (a bad argument), so callers see every
/// failure the same way.
pub(crate) fn or_reject<'e, T: ToNapiValue>(
    env: &'e Env,
    made: Result<PromiseRaw<'e, T>>,
) -> Result<PromiseRaw<'e, T>> {
    match made {
        Ok(p) => Ok(p),
        Err(e) => PromiseRaw::reject(env, e),
    }
}

/// A Promise settled with what `fut` gives (on the tokio runtime), converted by `map` on
/// the JavaScript thread; `armed` (the call's AbortSignal wiring) is undone first.
pub(crate) fn later<'e, T, V, F, M>(
    env: &'e Env,
    armed: Option<Armed>,
    fut: F,
    map: M,
) -> Result<PromiseRaw<'e, V>>
where
    T: Send + 'static,
    F: Future<Output = libipc::Result<T>> + Send + 'static,
    M: FnOnce(&Env, T) -> Result<sys::napi_value> + Send + 'static,
{
    settle::spawn(env, fut, move |env, r| {
        if let Some(armed) = armed {
            // Not being able to remove the listener must not hide the call's outcome.
            let _ = armed.disarm(env);
        }
        let made = match r {
            Ok(v) => map(env, v),
            Err(e) => Err(to_napi(env, &e)),
        };
        match made {
            Ok(v) => Ok(v),
            Err(e) => Err(raw(env, e).unwrap_or(ptr::null_mut())),
        }
    })
}

/// `v` as a JavaScript value of this thread's current scope.
pub(crate) fn raw<V: ToNapiValue>(env: &Env, v: V) -> Result<sys::napi_value> {
    // SAFETY: on the JavaScript thread, with its live environment.
    unsafe { V::to_napi_value(env.raw(), v) }
}

/// A received message as a new `Buffer` (copied: for every size this is cheaper in Node than
/// handing over the Rust allocation as an external buffer, measured 15 µs against 160 µs at
/// 64 KiB).
pub(crate) fn buffer<'e>(env: &'e Env, m: libipc::Message) -> Result<BufferSlice<'e>> {
    BufferSlice::copy_from(env, &*m)
}
