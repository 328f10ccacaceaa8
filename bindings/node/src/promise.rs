//! Settling the Promises the API returns: at once on the JavaScript thread when the core
//! could do the work there (`recv_now`, `send_now`), or from a future on the tokio runtime
//! that napi-rs runs (never the libuv thread pool).

use std::future::Future;

use napi::bindgen_prelude::*;

use crate::errors::to_napi;
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

/// A Promise settled with what `fut` gives, converted by `map` on the JavaScript thread;
/// `armed` (the call's AbortSignal wiring) is undone first.
pub(crate) fn later<'e, T, V, F, M>(
    env: &'e Env,
    armed: Option<Armed>,
    fut: F,
    map: M,
) -> Result<PromiseRaw<'e, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = libipc::Result<T>> + Send + 'static,
    M: FnOnce(&Env, T) -> Result<V> + 'static,
{
    env.spawn_future_with_callback(async move { Ok(fut.await) }, move |env, r| {
        if let Some(armed) = armed {
            // Not being able to remove the listener must not hide the call's outcome.
            let _ = armed.disarm(env);
        }
        match r {
            Ok(v) => map(env, v),
            Err(e) => Err(to_napi(env, &e)),
        }
    })
}
