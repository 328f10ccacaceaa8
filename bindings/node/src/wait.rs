//! `{ timeout, signal }`: how long a call may wait, and the `AbortSignal` that cancels it
//! through a core `Cancel` handle (so the core stops the wait having taken nothing).

use std::time::{Duration, Instant};

use libipc::{Cancel, Wait};
use napi::UnknownRef;
use napi::bindgen_prelude::*;

use crate::errors::{to_napi, type_error};
use crate::options::millis;

/// A parsed `WaitOptions`.
pub(crate) struct WaitSpec<'e> {
    /// `timeout` in ms: `None` = no limit; zero = only what is there now.
    pub(crate) timeout: Option<Duration>,
    pub(crate) signal: Option<Object<'e>>,
}

impl<'e> WaitSpec<'e> {
    pub(crate) fn parse(env: &'e Env, opts: Option<Unknown<'e>>) -> Result<WaitSpec<'e>> {
        let mut spec = WaitSpec {
            timeout: None,
            signal: None,
        };
        let Some(opts) = opts else {
            return Ok(spec);
        };
        match opts.get_type()? {
            ValueType::Undefined | ValueType::Null => return Ok(spec),
            ValueType::Object => {}
            _ => return Err(type_error(env, "options must be an object")),
        }
        // SAFETY: checked to be an object just above.
        let opts: Object<'e> = unsafe { opts.cast() }?;
        let names = opts.get_property_names()?;
        for i in 0..names.get_array_length()? {
            let key: String = names.get_element(i)?;
            if key != "timeout" && key != "signal" {
                return Err(crate::errors::invalid(
                    env,
                    format!("unknown option '{key}' (a wait takes timeout and signal)"),
                ));
            }
        }
        let t: Unknown<'e> = opts.get_named_property("timeout")?;
        match t.get_type()? {
            ValueType::Undefined | ValueType::Null => {}
            ValueType::Number => {
                // SAFETY: checked to be a number just above.
                let ms: f64 = unsafe { t.cast() }?;
                spec.timeout = Some(millis(env, "timeout", ms)?);
            }
            _ => return Err(type_error(env, "timeout must be a number of milliseconds")),
        }
        let s: Unknown<'e> = opts.get_named_property("signal")?;
        match s.get_type()? {
            ValueType::Undefined | ValueType::Null => {}
            ValueType::Object => {
                // SAFETY: checked to be an object just above.
                let s: Object<'e> = unsafe { s.cast() }?;
                let aborted: Unknown<'e> = s.get_named_property("aborted")?;
                let listen: Unknown<'e> = s.get_named_property("addEventListener")?;
                if aborted.get_type()? != ValueType::Boolean
                    || listen.get_type()? != ValueType::Function
                {
                    return Err(type_error(env, "signal must be an AbortSignal"));
                }
                spec.signal = Some(s);
            }
            _ => return Err(type_error(env, "signal must be an AbortSignal")),
        }
        Ok(spec)
    }

    /// Whether the signal is already aborted.
    pub(crate) fn aborted(&self) -> Result<bool> {
        match &self.signal {
            None => Ok(false),
            Some(s) => s.get_named_property::<bool>("aborted"),
        }
    }

    /// For a call that waits on the runtime: the deadline from now, and the signal (if any)
    /// wired to a new core `Cancel` that its `abort` event fires. The listener stays until
    /// [`Armed::disarm`], called when the call settles.
    pub(crate) fn arm(&self, env: &Env) -> Result<(Option<Armed>, OwnedWait)> {
        let deadline = self.timeout.map(|t| Instant::now() + t);
        let Some(signal) = &self.signal else {
            return Ok((
                None,
                OwnedWait {
                    deadline,
                    cancel: None,
                },
            ));
        };
        let cancel = Cancel::new().map_err(|e| to_napi(env, &e))?;
        let fire = cancel.clone();
        let listener = env.create_function_from_closure::<(), (), _>("onAbort", move |_| {
            fire.cancel();
            Ok(())
        })?;
        call(signal, "addEventListener", &listener.to_unknown())?;
        let armed = Armed {
            signal: signal.to_unknown().create_ref()?,
            listener: listener.to_unknown().create_ref()?,
        };
        Ok((
            Some(armed),
            OwnedWait {
                deadline,
                cancel: Some(cancel),
            },
        ))
    }
}

/// `signal[method]('abort', listener)`.
fn call(signal: &Object<'_>, method: &str, listener: &Unknown<'_>) -> Result<()> {
    let f: Function<'_, FnArgs<(&str, Unknown<'_>)>, Unknown<'_>> =
        signal.get_named_property(method)?;
    f.apply(signal, ("abort", *listener).into())?;
    Ok(())
}

/// A signal wired to a core `Cancel` for the length of one call.
pub(crate) struct Armed {
    signal: UnknownRef,
    listener: UnknownRef,
}

impl Armed {
    /// The call settled: remove the listener and let go of the signal.
    pub(crate) fn disarm(self, env: &Env) -> Result<()> {
        let signal = self.signal.get_value(env)?;
        let listener = self.listener.get_value(env)?;
        // SAFETY: the reference was made from an object.
        let object: Object<'_> = unsafe { signal.cast() }?;
        let removed = call(&object, "removeEventListener", &listener);
        self.signal.unref(env)?;
        self.listener.unref(env)?;
        removed
    }
}

/// A call's limits, owned, to move into the future that waits on the runtime.
pub(crate) struct OwnedWait {
    deadline: Option<Instant>,
    cancel: Option<Cancel>,
}

impl OwnedWait {
    /// The core `Wait` for them.
    pub(crate) fn wait(&self) -> Wait<'_> {
        let w = match self.deadline {
            Some(d) => Wait::until(d),
            None => Wait::forever(),
        };
        match &self.cancel {
            Some(c) => w.or_cancel(c),
            None => w,
        }
    }
}

/// What a call given an already aborted signal rejects with.
pub(crate) fn already_aborted<T>() -> libipc::Result<T> {
    Err(libipc::Error::new(
        libipc::ErrorKind::Cancelled,
        "the signal was already aborted",
    ))
}
