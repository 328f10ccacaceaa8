//! The plumbing every entry point shares: the panic boundary, the per-thread last error, and
//! null-checked conversions of C arguments. Nothing else in the crate turns a raw pointer into
//! a reference or a handle back into a `Box`.

use std::cell::RefCell;
use std::ffi::{CStr, CString, OsStr, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use crate::status::ipc_status;

/// Why a call failed: the status to return and the message for `ipc_last_error`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) status: ipc_status,
    pub(crate) message: String,
}

pub(crate) type FfiResult<T> = Result<T, Failure>;

impl Failure {
    pub(crate) fn new(status: ipc_status, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(ipc_status::IPC_ERR_INVALID_ARGUMENT, message)
    }
}

impl From<libipc::Error> for Failure {
    fn from(e: libipc::Error) -> Failure {
        Failure::new(ipc_status::from_kind(e.kind()), e.to_string())
    }
}

thread_local! {
    /// The message of the last failure on this thread (NUL-terminated, never NULL).
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let c = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // `try_with`: during thread teardown the slot may be gone; the status still tells.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = c);
}

/// The current thread's last error message; valid until the next failure on this thread.
pub(crate) fn last_error_ptr() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| slot.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("internal error in libipc (please report it): {what}")
}

/// The panic boundary for functions returning a status: runs `f`, records a failure's message
/// for this thread and returns its status; a panic becomes `IPC_ERR_PANIC`.
pub(crate) fn boundary(f: impl FnOnce() -> FfiResult<()>) -> ipc_status {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => ipc_status::IPC_OK,
        Ok(Err(fail)) => {
            set_last_error(&fail.message);
            fail.status
        }
        Err(payload) => {
            set_last_error(&panic_message(&*payload));
            ipc_status::IPC_ERR_PANIC
        }
    }
}

/// The panic boundary for functions returning a value: a panic gives `neutral`.
pub(crate) fn boundary_value<T>(neutral: T, f: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(&panic_message(&*payload));
            neutral
        }
    }
}

/// A shared reference to a handle, or `IPC_ERR_INVALID_ARGUMENT` for `NULL`.
///
/// # Safety
/// `p` is `NULL` or a live handle created by this library and not yet freed, used as the
/// thread-safety table in docs/c-api.md allows.
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &str) -> FfiResult<&'a T> {
    // SAFETY: non-null handles are valid per this function's contract.
    unsafe { p.as_ref() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// The shape of an entry point acting on a handle: the panic boundary, then `f` on the handle
/// (`IPC_ERR_INVALID_ARGUMENT` for `NULL`).
///
/// # Safety
/// As [`handle`].
pub(crate) unsafe fn with<H>(
    h: *const H,
    what: &str,
    f: impl FnOnce(&H) -> FfiResult<()>,
) -> ipc_status {
    boundary(|| {
        // SAFETY: forwarded contract.
        f(unsafe { handle(h, what) }?)
    })
}

/// The shape of an entry point producing one value from a handle: the panic boundary, the
/// handle and the out-parameter checked first, and the value written only on success.
///
/// # Safety
/// As [`handle`]; `out` is `NULL` or valid for writing a `T`.
pub(crate) unsafe fn produce<H, T>(
    h: *const H,
    what: &str,
    out: *mut T,
    out_name: &str,
    f: impl FnOnce(&H) -> FfiResult<T>,
) -> ipc_status {
    boundary(|| {
        // SAFETY: forwarded contract.
        let h = unsafe { handle(h, what) }?;
        out_param(out, out_name)?;
        let value = f(h)?;
        // SAFETY: checked non-null above; writable per this function's contract.
        unsafe { write_out(out, value) };
        Ok(())
    })
}

/// A mutable reference to a caller-owned handle (`ipc_options`), or an error for `NULL`.
///
/// # Safety
/// As [`handle`], and no other thread uses the handle during the call.
pub(crate) unsafe fn handle_mut<'a, T>(p: *mut T, what: &str) -> FfiResult<&'a mut T> {
    // SAFETY: non-null handles are valid and unshared per this function's contract.
    unsafe { p.as_mut() }.ok_or_else(|| Failure::invalid(format!("{what} is NULL")))
}

/// Check an out-parameter before any work is done, so a `NULL` one fails early.
pub(crate) fn out_param<T>(p: *mut T, what: &str) -> FfiResult<()> {
    if p.is_null() {
        return Err(Failure::invalid(format!("{what} (out-parameter) is NULL")));
    }
    Ok(())
}

/// Write an out-parameter already checked by [`out_param`].
///
/// # Safety
/// `p` is non-null, aligned and valid for a write of `T`.
pub(crate) unsafe fn write_out<T>(p: *mut T, value: T) {
    // SAFETY: per this function's contract; `write` does not drop the old (uninitialised) value.
    unsafe { p.write(value) }
}

/// Move a value to the heap and hand it to C as a handle.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Take back and drop a handle; `NULL` is ignored.
///
/// # Safety
/// `p` is `NULL` or was returned by [`into_handle`] for the same `T` and is not used again.
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: per this function's contract the box is ours to drop, once.
        drop(unsafe { Box::from_raw(p) });
    }
}

/// A byte slice from a pointer and length; `NULL` is allowed only with length 0.
///
/// # Safety
/// A non-null `data` is valid for reads of `len` bytes during the call.
pub(crate) unsafe fn bytes<'a>(data: *const u8, len: usize) -> FfiResult<&'a [u8]> {
    if data.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(Failure::invalid(format!("data is NULL but len is {len}")));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid("len is larger than any object can be"));
    }
    // SAFETY: non-null and valid for `len` bytes per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// A writable byte slice from a caller's buffer; `NULL` is allowed only with length 0.
///
/// # Safety
/// A non-null `data` is valid for writes of `len` bytes during the call, and nothing else
/// accesses it meanwhile.
pub(crate) unsafe fn bytes_mut<'a>(data: *mut u8, len: usize) -> FfiResult<&'a mut [u8]> {
    if data.is_null() {
        if len == 0 {
            return Ok(&mut []);
        }
        return Err(Failure::invalid(format!("buf is NULL but cap is {len}")));
    }
    if len > isize::MAX as usize {
        return Err(Failure::invalid("cap is larger than any object can be"));
    }
    // SAFETY: non-null and valid for writes of `len` bytes per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(data, len) })
}

/// A UTF-8 string from a NUL-terminated C string.
///
/// # Safety
/// A non-null `s` points to a NUL-terminated string valid during the call.
pub(crate) unsafe fn utf8<'a>(s: *const c_char, what: &str) -> FfiResult<&'a str> {
    if s.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null and NUL-terminated per this function's contract.
    let c = unsafe { CStr::from_ptr(s) };
    c.to_str()
        .map_err(|e| Failure::invalid(format!("{what} is not valid UTF-8: {e}")))
}

/// The bytes of a NUL-terminated C string, as an OS string (not necessarily UTF-8).
///
/// # Safety
/// A non-null `s` points to a NUL-terminated string valid during the call.
pub(crate) unsafe fn os_str<'a>(s: *const c_char, what: &str) -> FfiResult<&'a OsStr> {
    if s.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    // SAFETY: non-null and NUL-terminated per this function's contract.
    let c = unsafe { CStr::from_ptr(s) };
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(OsStr::from_bytes(c.to_bytes()))
    }
    #[cfg(not(unix))]
    c.to_str()
        .map(OsStr::new)
        .map_err(|e| Failure::invalid(format!("{what} is not valid UTF-8: {e}")))
}

/// The strings of a NULL-terminated array of C strings (an `argv`).
///
/// # Safety
/// A non-null `argv` points to an array of NUL-terminated strings ending with a NULL
/// pointer, all valid during the call.
pub(crate) unsafe fn os_str_array<'a>(
    argv: *const *const c_char,
    what: &str,
) -> FfiResult<Vec<&'a OsStr>> {
    if argv.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    let mut out = Vec::new();
    for i in 0.. {
        // SAFETY: the array is NULL-terminated per this function's contract, and we stop at
        // its NULL, so `argv + i` is within it.
        let p = unsafe { *argv.add(i) };
        if p.is_null() {
            break;
        }
        // SAFETY: a non-null entry is a NUL-terminated string per this function's contract.
        out.push(unsafe { os_str(p, what) }?);
    }
    Ok(out)
}

/// How long a call may wait, from a C timeout in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    Forever,
    /// `Duration::ZERO` means "do not wait".
    For(Duration),
}

pub(crate) fn wait(timeout_ms: i32) -> FfiResult<Wait> {
    match timeout_ms {
        crate::IPC_WAIT_FOREVER => Ok(Wait::Forever),
        ms if ms >= 0 => Ok(Wait::For(Duration::from_millis(ms as u64))),
        ms => Err(Failure::invalid(format!(
            "timeout_ms is {ms}: use IPC_WAIT_FOREVER (-1), 0, or a positive number"
        ))),
    }
}

/// Copy `text` (a `what`, for messages) into `buf` (`cap` bytes), NUL-terminated, and its
/// length without the NUL into `*out_len`. If `cap` is too small: `IPC_ERR_BUFFER_TOO_SMALL`
/// with `*out_len` = the bytes needed including the NUL (`buf` NULL with `cap` 0 asks for just
/// that; NULL with `cap > 0` is `IPC_ERR_INVALID_ARGUMENT`).
///
/// # Safety
/// A non-null `buf` is writable for `cap` bytes; `out_len` is NULL or writable.
pub(crate) unsafe fn copy_c_string(
    text: &std::ffi::CStr,
    what: &str,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> FfiResult<()> {
    out_param(out_len, "out_len")?;
    if buf.is_null() && cap > 0 {
        return Err(Failure::invalid(format!("buf is NULL but cap is {cap}")));
    }
    let bytes = text.to_bytes_with_nul();
    if cap < bytes.len() {
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { write_out(out_len, bytes.len()) };
        return Err(Failure::new(
            ipc_status::IPC_ERR_BUFFER_TOO_SMALL,
            format!(
                "the {what} needs {} bytes, the buffer has {cap}",
                bytes.len()
            ),
        ));
    }
    // SAFETY: `buf` is writable for `cap >= bytes.len()` bytes (per this function's contract)
    // and cannot overlap the caller's CStr, which the library owns.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len()) };
    // SAFETY: checked non-null; writable per this function's contract.
    unsafe { write_out(out_len, bytes.len() - 1) };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: last_error_ptr returns a NUL-terminated string valid until the next failure.
        unsafe { CStr::from_ptr(last_error_ptr()) }
            .to_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn a_panic_becomes_a_status_and_a_message() {
        let st = boundary(|| panic!("boom"));
        assert_eq!(st, ipc_status::IPC_ERR_PANIC);
        assert!(last_error().contains("boom"), "{}", last_error());
        assert_eq!(boundary_value(7, || panic!("bang")), 7);
        assert!(last_error().contains("bang"));
    }

    #[test]
    fn failures_set_this_threads_message_only() {
        let st = boundary(|| Err(Failure::invalid("first\0thread")));
        assert_eq!(st, ipc_status::IPC_ERR_INVALID_ARGUMENT);
        assert_eq!(last_error(), "first thread");
        std::thread::spawn(|| {
            assert_eq!(last_error(), "");
            boundary(|| Err(Failure::invalid("second")));
            assert_eq!(last_error(), "second");
        })
        .join()
        .unwrap();
        assert_eq!(last_error(), "first thread");
        // Success leaves the message of the last failure alone.
        assert_eq!(boundary(|| Ok(())), ipc_status::IPC_OK);
        assert_eq!(last_error(), "first thread");
    }

    #[test]
    fn timeouts() {
        assert_eq!(wait(-1).unwrap(), Wait::Forever);
        assert_eq!(wait(0).unwrap(), Wait::For(Duration::ZERO));
        assert_eq!(wait(250).unwrap(), Wait::For(Duration::from_millis(250)));
        assert_eq!(
            wait(-2).unwrap_err().status,
            ipc_status::IPC_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            wait(i32::MIN).unwrap_err().status,
            ipc_status::IPC_ERR_INVALID_ARGUMENT
        );
    }
}
