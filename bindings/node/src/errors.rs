//! libipc errors as JavaScript `Error`s: `code` is the kind's stable symbol
//! (`'IPC_TIMEOUT'`, from the core's one table, `ErrorKind::symbol`), `ipcCode` its number,
//! `osError` the errno when there is one, `status` an error reply's status (`IPC_REMOTE`).
//! Wrong argument types are `TypeError`s with code
//! `'IPC_INVALID_ARGUMENT'`.

use libipc::{Error, ErrorKind};
use napi::bindgen_prelude::*;

/// The JavaScript error object for `e`.
pub(crate) fn js_error<'e>(env: &'e Env, e: &Error) -> Result<Object<'e>> {
    let mut obj = env.create_error(napi::Error::from_reason(e.message()))?;
    obj.set_named_property("code", e.kind().symbol())?;
    obj.set_named_property("ipcCode", u32::from(e.kind().code()))?;
    if let Some(errno) = e.os_error() {
        obj.set_named_property("osError", errno)?;
    }
    if let Some(status) = e.status() {
        // An error reply (`IPC_REMOTE`): the server's status; the message is its text.
        obj.set_named_property("status", status)?;
    }
    Ok(obj)
}

/// `e` as a napi error that throws (or rejects with) its JavaScript object.
pub(crate) fn to_napi(env: &Env, e: &Error) -> napi::Error {
    match js_error(env, e) {
        Ok(obj) => napi::Error::from(obj.to_unknown()),
        Err(made) => made,
    }
}

/// A `TypeError` with code `'IPC_INVALID_ARGUMENT'`, for an argument of the wrong type.
pub(crate) fn type_error(env: &Env, message: impl Into<String>) -> napi::Error {
    let made = (|| -> Result<napi::Error> {
        let err = napi::JsTypeError::from(napi::Error::from_reason(message.into()));
        // SAFETY: a `TypeError` is an object.
        let mut obj: Object<'_> = unsafe { err.into_unknown(*env).cast() }?;
        let kind = ErrorKind::InvalidArgument;
        obj.set_named_property("code", kind.symbol())?;
        obj.set_named_property("ipcCode", u32::from(kind.code()))?;
        Ok(napi::Error::from(obj.to_unknown()))
    })();
    made.unwrap_or_else(|e| e)
}

/// An `InvalidArgument` error (a value of the right type, out of range).
pub(crate) fn invalid(env: &Env, message: impl Into<String>) -> napi::Error {
    to_napi(env, &Error::new(ErrorKind::InvalidArgument, message))
}
