//! `ipc_options`: settings for `ipc_listener_bind` and `ipc_channel_connect`.
//!
//! A setter fails at once (`IPC_ERR_INVALID_ARGUMENT`, options unchanged) for a value it cannot
//! even represent (a negative timeout other than `IPC_WAIT_FOREVER`, NULL `uids`); values that
//! are representable but out of range (a ring size that is not a power of two, a zero
//! timeout) are reported by `bind` / `connect`, which judge the whole set together.

use std::ffi::c_int;
use std::time::Duration;

use libipc::Options;

use crate::ffi::{self, Failure, Wait};
use crate::status::ipc_status;

/// Options for binding and connecting. Create with `ipc_options_new`, free with
/// `ipc_options_free`. Not synchronised: set it up on one thread; afterwards any number of
/// threads may pass it to bind/connect at once.
#[allow(non_camel_case_types)]
#[derive(Debug, Default)]
pub struct ipc_options {
    pub(crate) inner: Options,
}

/// The options a bind or connect call uses: the defaults for `NULL`.
///
/// # Safety
/// `opts` is `NULL` or a live `ipc_options`.
pub(crate) unsafe fn or_default(opts: *const ipc_options) -> Options {
    // SAFETY: per this function's contract.
    unsafe { opts.as_ref() }.map_or_else(Options::default, |o| o.inner.clone())
}

/// Change one setting of a live options handle.
///
/// # Safety
/// `opts` is `NULL` or a live `ipc_options` no other thread uses during the call.
unsafe fn update(
    opts: *mut ipc_options,
    f: impl FnOnce(Options) -> Result<Options, Failure>,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let o = unsafe { ffi::handle_mut(opts, "opts") }?;
        // On failure the options stay exactly as they were.
        o.inner = f(o.inner.clone())?;
        Ok(())
    })
}

/// Create options with the defaults (16 MiB messages, socket mode 0600, 10 s connect timeout,
/// 5 s handshake timeout, any uid, 4 MiB shared-memory rings, 100 µs shared-memory spin, 50 µs
/// stream spin, 1024 connections per listener, 30 s frame timeout, any server uid).
///
/// # Safety
/// `out` is `NULL` (an error) or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_new(out: *mut *mut ipc_options) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(out, "out")?;
        // SAFETY: checked non-null above; valid for writes per this function's contract.
        unsafe { ffi::write_out(out, ffi::into_handle(ipc_options::default())) };
        Ok(())
    })
}

/// Free options (NULL is ignored). Channels and listeners created with them are unaffected.
///
/// # Safety
/// `opts` is `NULL` or a live `ipc_options`, not used again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_free(opts: *mut ipc_options) {
    // SAFETY: per this function's contract.
    ffi::boundary_value((), || unsafe { ffi::free_handle(opts) })
}

/// The largest message this side accepts (and advertises); at most 4294967295.
///
/// # Safety
/// `opts` is `NULL` (an error) or a live `ipc_options` no other thread uses during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_max_message_size(
    opts: *mut ipc_options,
    bytes: usize,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe { update(opts, |o| Ok(o.with_max_message_size(bytes))) }
}

/// The permission bits of a listener's socket file (default 0600; at most 0777).
///
/// # Safety
/// As `ipc_options_set_max_message_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_socket_mode(
    opts: *mut ipc_options,
    mode: u32,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe { update(opts, |o| Ok(o.with_socket_mode(mode))) }
}

/// How long `ipc_channel_connect` may take in all, in milliseconds; `IPC_WAIT_FOREVER` for no
/// limit. Must be positive otherwise.
///
/// # Safety
/// As `ipc_options_set_max_message_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_connect_timeout(
    opts: *mut ipc_options,
    timeout_ms: i32,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        update(opts, |o| {
            Ok(match ffi::wait(timeout_ms)? {
                Wait::Forever => o.with_connect_timeout(None),
                Wait::For(d) => o.with_connect_timeout(d),
            })
        })
    }
}

/// How long either side waits for the other's hello, in milliseconds (positive).
///
/// # Safety
/// As `ipc_options_set_max_message_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_handshake_timeout(
    opts: *mut ipc_options,
    timeout_ms: u32,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        update(opts, |o| {
            Ok(o.with_handshake_timeout(Duration::from_millis(u64::from(timeout_ms))))
        })
    }
}

/// Only peers running as one of these uids may connect (listener) or be connected to
/// (client). `n == 0` clears the list (anyone); `uids` may be NULL only then.
///
/// # Safety
/// As `ipc_options_set_max_message_size`; a non-null `uids` is valid for reading `n` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_allowed_uids(
    opts: *mut ipc_options,
    uids: *const u32,
    n: usize,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        update(opts, |o| {
            if n == 0 {
                return Ok(o.with_any_uid());
            }
            if uids.is_null() {
                return Err(Failure::invalid(format!("uids is NULL but n is {n}")));
            }
            if n > isize::MAX as usize / 4 {
                return Err(Failure::invalid("n is larger than any array can be"));
            }
            // SAFETY: non-null and valid for `n` reads per this function's contract.
            let list = std::slice::from_raw_parts(uids, n);
            Ok(o.with_allowed_uids(list.iter().copied()))
        })
    }
}

/// Peers with one of these groups (primary, or supplementary over Unix sockets and shared
/// memory on Linux) may also connect (listener) or be connected to (client): a peer passes if
/// its uid is in the uid list or one of its groups is in this one. `n == 0` clears the list
/// (any gid); `gids` may be NULL only then.
///
/// # Safety
/// As `ipc_options_set_max_message_size`; a non-null `gids` is valid for reading `n` values.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_allowed_gids(
    opts: *mut ipc_options,
    gids: *const u32,
    n: usize,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        update(opts, |o| {
            if n == 0 {
                return Ok(o.with_any_gid());
            }
            if gids.is_null() {
                return Err(Failure::invalid(format!("gids is NULL but n is {n}")));
            }
            if n > isize::MAX as usize / 4 {
                return Err(Failure::invalid("n is larger than any array can be"));
            }
            // SAFETY: non-null and valid for `n` reads per this function's contract.
            let list = std::slice::from_raw_parts(gids, n);
            Ok(o.with_allowed_gids(list.iter().copied()))
        })
    }
}

/// The size of each shared-memory ring a listener creates (a power of two, 64 KiB to 1 GiB).
///
/// # Safety
/// As `ipc_options_set_max_message_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_shm_ring_size(
    opts: *mut ipc_options,
    bytes: usize,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe { update(opts, |o| Ok(o.with_shm_ring_size(bytes))) }
}

/// How long a shared-memory channel spins before it sleeps, in microseconds (0: never spin).
///
/// # Safety
/// As `ipc_options_set_max_message_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_shm_spin_us(
    opts: *mut ipc_options,
    us: u32,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        update(opts, |o| {
            Ok(o.with_shm_spin(Duration::from_micros(u64::from(us))))
        })
    }
}

/// How long a blocking receive on a Unix socket or TCP channel polls before it sleeps, in
/// microseconds (default 50; 0: never spin).
///
/// # Safety
/// As `ipc_options_set_max_message_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_stream_spin_us(
    opts: *mut ipc_options,
    us: u32,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        update(opts, |o| {
            Ok(o.with_stream_spin(Duration::from_micros(u64::from(us))))
        })
    }
}

/// Use an unsealed POSIX shared-memory object instead of a sealed memfd for `shm://` (`on`:
/// nonzero). Both sides must set it. The fallback for Unix systems without memfd seals; on
/// Linux only for testing: a peer could shrink such a segment, so peers using it must trust
/// each other. Default: off on Linux.
///
/// # Safety
/// As `ipc_options_set_max_message_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_shm_posix_fallback(
    opts: *mut ipc_options,
    on: c_int,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe { update(opts, |o| Ok(o.with_shm_posix_fallback(on != 0))) }
}

/// The most connections a listener holds at once (default 1024; at least 1, checked by
/// `ipc_listener_bind`): accepted channels not yet freed, and those in their handshake or
/// waiting for `ipc_listener_accept`. A client beyond it is refused with `IPC_ERR_TIMEOUT`.
///
/// # Safety
/// As `ipc_options_set_max_message_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_max_connections(
    opts: *mut ipc_options,
    n: usize,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe { update(opts, |o| Ok(o.with_max_connections(n))) }
}

/// Once part of a frame has been read, how long the rest may take to arrive, in milliseconds
/// (default 30000; 0: no limit). A stalled peer makes the channel fail with
/// `IPC_ERR_PROTOCOL_VIOLATION`.
///
/// # Safety
/// As `ipc_options_set_max_message_size`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_frame_timeout_ms(
    opts: *mut ipc_options,
    timeout_ms: u32,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        update(opts, |o| {
            Ok(o.with_frame_timeout(Duration::from_millis(u64::from(timeout_ms))))
        })
    }
}

/// Connect only to a listener whose process runs as `*uid`; NULL: any uid (the default).
/// Another uid gives `IPC_ERR_PERMISSION_DENIED` before anything is sent; connecting over TCP
/// with it set gives `IPC_ERR_INVALID_ARGUMENT` (TCP reports no credentials).
///
/// # Safety
/// As `ipc_options_set_max_message_size`; a non-null `uid` is valid for reading one value.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_options_set_expected_server_uid(
    opts: *mut ipc_options,
    uid: *const u32,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        update(opts, |o| {
            // SAFETY: non-null and valid for one read per this function's contract.
            Ok(match uid.as_ref() {
                Some(&u) => o.with_expected_server_uid(u),
                None => o.with_any_server_uid(),
            })
        })
    }
}
