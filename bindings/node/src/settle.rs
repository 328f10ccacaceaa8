//! Settling, on the JavaScript thread, the Promises whose wait ran on tokio: one thread-safe
//! function per JavaScript thread carries every outcome back (napi-rs's own future-to-Promise
//! bridge makes a thread-safe function, a libuv handle, per call: measured several times
//! slower per round trip). It is referenced (keeps the process alive) exactly while a call
//! is pending, like a socket that is reading.

use std::cell::RefCell;
use std::ptr;
use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::sys;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};

/// What a finished wait runs on the JavaScript thread.
type Settle = Box<dyn FnOnce(&Env) + Send>;

type Tsfn = ThreadsafeFunction<Settle, (), (), Status, false, true>;

/// A Promise's resolving end, settled exactly once on the thread that made it.
pub(crate) struct Deferred(sys::napi_deferred);

// SAFETY: a `napi_deferred` is an opaque handle that tokio only carries back; it is used
// (settled) only on the JavaScript thread that created it, by `Completer`'s callback.
unsafe impl Send for Deferred {}

impl Deferred {
    /// A new pending Promise and its resolving end.
    pub(crate) fn new<'e, T>(env: &'e Env) -> Result<(Deferred, PromiseRaw<'e, T>)> {
        let mut deferred = ptr::null_mut();
        let mut promise = ptr::null_mut();
        // SAFETY: `env` is the live environment of the calling (JavaScript) thread; both
        // out-pointers are valid.
        let status = unsafe { sys::napi_create_promise(env.raw(), &mut deferred, &mut promise) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::from_reason("could not create a Promise"));
        }
        Ok((Deferred(deferred), PromiseRaw::new(env.raw(), promise)))
    }

    /// Resolve with `value` or reject with the error `value`.
    fn settle(self, env: &Env, outcome: std::result::Result<sys::napi_value, sys::napi_value>) {
        // SAFETY: called on the JavaScript thread that made the deferred, once (it is
        // consumed); the values belong to that thread's current scope.
        unsafe {
            match outcome {
                Ok(v) => sys::napi_resolve_deferred(env.raw(), self.0, v),
                Err(e) => sys::napi_reject_deferred(env.raw(), self.0, e),
            };
        }
    }
}

/// This thread's thread-safe function and how many calls wait on it.
struct Completer {
    tsfn: Arc<Tsfn>,
    pending: usize,
}

thread_local! {
    /// One per JavaScript thread (the main thread, each worker thread).
    static COMPLETER: RefCell<Option<Completer>> = const { RefCell::new(None) };
}

fn completer(env: &Env) -> Result<Arc<Tsfn>> {
    COMPLETER.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(c) = &*c {
            return Ok(Arc::clone(&c.tsfn));
        }
        let noop = env.create_function_from_closure::<(), (), _>("settle", |_| Ok(()))?;
        let tsfn: Tsfn = noop
            .build_threadsafe_function::<Settle>()
            .callee_handled::<false>()
            .weak::<true>()
            .build_callback(|ctx| {
                (ctx.value)(&ctx.env);
                done(&ctx.env);
                Ok(())
            })?;
        let tsfn = Arc::new(tsfn);
        *c = Some(Completer {
            tsfn: Arc::clone(&tsfn),
            pending: 0,
        });
        Ok(tsfn)
    })
}

/// A call starts waiting: the first keeps the event loop alive.
fn begin(env: &Env, tsfn: &Tsfn) {
    COMPLETER.with(|c| {
        if let Some(c) = &mut *c.borrow_mut() {
            c.pending += 1;
            if c.pending == 1 {
                // SAFETY: on the JavaScript thread, with its environment and a live function.
                unsafe { sys::napi_ref_threadsafe_function(env.raw(), tsfn.raw()) };
            }
        }
    });
}

/// A call settled: with none left, the event loop may end.
fn done(env: &Env) {
    COMPLETER.with(|c| {
        if let Some(c) = &mut *c.borrow_mut() {
            c.pending = c.pending.saturating_sub(1);
            if c.pending == 0 {
                // SAFETY: on the JavaScript thread, with its environment and a live function.
                unsafe { sys::napi_unref_threadsafe_function(env.raw(), c.tsfn.raw()) };
            }
        }
    });
}

/// A Promise settled, on this thread, with what `fut` gives (run on napi-rs's tokio runtime),
/// converted by `settle_with` (which also gets the error case, to make the error object and
/// undo what the call set up).
pub(crate) fn spawn<'e, T, V, F, S>(
    env: &'e Env,
    fut: F,
    settle_with: S,
) -> Result<PromiseRaw<'e, V>>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
    S: FnOnce(&Env, T) -> std::result::Result<sys::napi_value, sys::napi_value> + Send + 'static,
{
    let tsfn = completer(env)?;
    let (deferred, promise) = Deferred::new(env)?;
    begin(env, &tsfn);
    napi::bindgen_prelude::spawn(async move {
        let out = fut.await;
        let settle: Settle = Box::new(move |env: &Env| {
            let outcome = settle_with(env, out);
            deferred.settle(env, outcome);
        });
        // Fails only while the environment shuts down; nothing waits for the Promise then.
        let _ = tsfn.call(settle, ThreadsafeFunctionCallMode::NonBlocking);
    });
    Ok(promise)
}
