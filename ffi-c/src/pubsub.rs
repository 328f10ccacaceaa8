//! Publish/subscribe (`libipc::pubsub`): `ipc_publisher` (bind, publish to every matching
//! subscriber) and `ipc_subscriber` (connect with topic prefixes, receive in order with the
//! number of messages dropped before each).
//!
//! Everything is the core's: queues, the overflow policy, sequence numbers and drop reports,
//! topic filtering, the envelope. The C API only maps arguments.

use std::ffi::{CString, c_char, c_int};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use libipc::pubsub::{DEFAULT_DEPTH, Policy, Publisher, Subscriber};

use crate::cancel::{Cancellable, ipc_cancel};
use crate::ffi::{self, Failure};
use crate::message::ipc_message;
use crate::options::{self, ipc_options};
use crate::status::ipc_status;

/// `ipc_publisher_bind`'s overflow policy: drop a full subscriber's oldest queued message
/// (it learns how many it missed on its next receive). The default.
pub const IPC_OVERFLOW_DROP_OLDEST: c_int = 0;
/// `ipc_publisher_bind`'s overflow policy: wait up to the block timeout for a full
/// subscriber, then cut it off (it receives `IPC_ERR_LAGGED`).
pub const IPC_OVERFLOW_BLOCK: c_int = 1;

/// A publisher. Any thread may call its functions at once; `ipc_publisher_free` must be the
/// last call.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ipc_publisher {
    inner: Publisher,
    endpoint: CString,
    cancel: Cancellable,
}

/// A subscriber. Receives are for one thread at a time (others wait their turn);
/// `ipc_subscriber_free` must be the last call.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ipc_subscriber {
    inner: Subscriber,
    cancel: Cancellable,
}

/// Publish at `endpoint` with `opts` (NULL for the defaults). `overflow` is
/// `IPC_OVERFLOW_DROP_OLDEST` or `IPC_OVERFLOW_BLOCK` (then `block_timeout_ms` bounds how long
/// one publish waits for full subscribers; it must be 0 or more); `depth` is how many
/// messages are queued per subscriber (0: the default, 1024). Plain channel clients are
/// refused with `IPC_ERR_PROTOCOL_MISMATCH`.
///
/// Errors: as `ipc_listener_bind`; `IPC_ERR_INVALID_ARGUMENT` for an unknown `overflow` or a
/// negative `block_timeout_ms` with `IPC_OVERFLOW_BLOCK`.
///
/// # Safety
/// `endpoint` is NULL or NUL-terminated; `opts` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_publisher_bind(
    endpoint: *const c_char,
    opts: *const ipc_options,
    overflow: c_int,
    block_timeout_ms: i32,
    depth: usize,
    out: *mut *mut ipc_publisher,
) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(out, "out")?;
        // SAFETY: per this function's contract.
        let ep = unsafe { ffi::utf8(endpoint, "endpoint") }?;
        // SAFETY: per this function's contract.
        let opts = unsafe { options::or_default(opts) };
        let depth = if depth == 0 { DEFAULT_DEPTH } else { depth };
        let policy = match overflow {
            IPC_OVERFLOW_DROP_OLDEST => Policy::drop_oldest(depth),
            IPC_OVERFLOW_BLOCK if block_timeout_ms >= 0 => {
                Policy::block(Duration::from_millis(block_timeout_ms as u64), depth)
            }
            IPC_OVERFLOW_BLOCK => {
                return Err(Failure::invalid(format!(
                    "block_timeout_ms is {block_timeout_ms}: 0 or more"
                )));
            }
            other => {
                return Err(Failure::invalid(format!(
                    "overflow is {other}: IPC_OVERFLOW_DROP_OLDEST (0) or IPC_OVERFLOW_BLOCK (1)"
                )));
            }
        };
        let inner = Publisher::bind_with(ep, &opts, policy)?;
        let endpoint = CString::new(inner.local_endpoint().to_string())
            .map_err(|_| Failure::invalid("the endpoint contains a NUL byte"))?;
        let handle = ffi::into_handle(ipc_publisher {
            inner,
            endpoint,
            cancel: Cancellable::default(),
        });
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out, handle) };
        Ok(())
    })
}

/// The endpoint subscribers connect to, as `ipc_listener_endpoint`.
///
/// # Safety
/// `p` is NULL or live; a non-null `buf` is writable for `cap` bytes; `out_len` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_publisher_endpoint(
    p: *const ipc_publisher,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let p = unsafe { ffi::handle(p, "publisher") }?;
        // SAFETY: per this function's contract.
        unsafe { ffi::copy_c_string(&p.endpoint, "endpoint", buf, cap, out_len) }
    })
}

/// Make `ipc_publisher_wait_subscribers` also end, with `IPC_ERR_CANCELLED`, when `cancel`
/// fires; NULL detaches.
///
/// # Safety
/// `p` is NULL or live; `cancel` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_publisher_set_cancel(
    p: *mut ipc_publisher,
    cancel: *const ipc_cancel,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(p, "publisher", |p| {
            // (In the unsafe block above: `cancel` is NULL or live, per this contract.)
            p.cancel.set(cancel.as_ref());
            Ok(())
        })
    }
}

/// Publish `len` bytes at `data` under the topic of `topic_len` bytes at `topic` (both may be
/// empty, with NULL pointers) to every subscriber whose prefixes match; `*out_count` (NULL
/// allowed) is how many subscribers it was queued for. Waits only with
/// `IPC_OVERFLOW_BLOCK`, for full subscribers, at most the block timeout.
///
/// Errors (nothing published): `IPC_ERR_MESSAGE_TOO_LARGE`, `IPC_ERR_INVALID_ARGUMENT` (a
/// topic over 1024 bytes), `IPC_ERR_CLOSED`.
///
/// # Safety
/// `p` is NULL or live; non-null `topic` and `data` are readable for their lengths;
/// `out_count` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_publish(
    p: *mut ipc_publisher,
    topic: *const u8,
    topic_len: usize,
    data: *const u8,
    len: usize,
    out_count: *mut usize,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let p = unsafe { ffi::handle(p, "publisher") }?;
        // SAFETY: per this function's contract.
        let topic = unsafe { ffi::bytes(topic, topic_len) }?;
        // SAFETY: per this function's contract.
        let data = unsafe { ffi::bytes(data, len) }?;
        let n = p.inner.publish(topic, data)?;
        if !out_count.is_null() {
            // SAFETY: non-null; writable per this function's contract.
            unsafe { ffi::write_out(out_count, n) };
        }
        Ok(())
    })
}

/// Wait at most `timeout_ms` until at least `count` subscribers are connected.
///
/// Errors: `IPC_ERR_TIMEOUT`, `IPC_ERR_CANCELLED`, `IPC_ERR_CLOSED`.
///
/// # Safety
/// `p` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_publisher_wait_subscribers(
    p: *mut ipc_publisher,
    count: usize,
    timeout_ms: i32,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(p, "publisher", |p| {
            let wait = ffi::wait(timeout_ms)?;
            p.cancel
                .with(wait, |w| p.inner.wait_for_subscribers(count, w))?;
            Ok(())
        })
    }
}

/// The publisher's counters: subscribers connected now, messages published, messages
/// dropped for full subscribers (summed), subscribers cut off. Any pointer may be NULL.
///
/// # Safety
/// `p` is NULL or live; each out-pointer is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_publisher_stats(
    p: *const ipc_publisher,
    out_subscribers: *mut usize,
    out_published: *mut u64,
    out_dropped: *mut u64,
    out_cut_off: *mut u64,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(p, "publisher", |p| {
            let st = p.inner.stats();
            // (In the unsafe block above: each pointer is written only when non-null, and is
            // writable per this function's contract.)
            if !out_subscribers.is_null() {
                ffi::write_out(out_subscribers, st.subscribers);
            }
            if !out_published.is_null() {
                ffi::write_out(out_published, st.published);
            }
            if !out_dropped.is_null() {
                ffi::write_out(out_dropped, st.dropped);
            }
            if !out_cut_off.is_null() {
                ffi::write_out(out_cut_off, st.cut_off);
            }
            Ok(())
        })
    }
}

/// Stop accepting subscribers and end every subscription once what is queued for it has been
/// sent (each subscriber then receives `IPC_ERR_CLOSED`), waiting at most `timeout_ms`
/// (`IPC_WAIT_FOREVER`: until each subscriber took its messages, or took none for the
/// handshake timeout); subscribers not served by then are hung up on. Later publishes return
/// `IPC_ERR_CLOSED`.
///
/// Errors: `IPC_ERR_TIMEOUT` when some subscriber was hung up on.
///
/// # Safety
/// `p` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_publisher_close(p: *mut ipc_publisher, timeout_ms: i32) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(p, "publisher", |p| {
            let served = match ffi::wait(timeout_ms)? {
                ffi::Wait::Forever => {
                    p.inner.close();
                    true
                }
                ffi::Wait::For(d) => p.inner.close_wait(d),
            };
            if served {
                Ok(())
            } else {
                Err(Failure::new(
                    ipc_status::from_kind(libipc::ErrorKind::Timeout),
                    "some subscribers had not taken their messages when the close timed out; \
                     they were hung up on",
                ))
            }
        })
    }
}

/// Free the publisher (NULL is ignored): it stops accepting, and its subscribers receive
/// what is queued for them, then the end, without this call waiting (call
/// `ipc_publisher_close` first to wait). No other call on `p` may run or follow.
///
/// # Safety
/// `p` is NULL or a live publisher not used by any other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_publisher_free(p: *mut ipc_publisher) {
    ffi::boundary_value((), || {
        // SAFETY: per this function's contract.
        unsafe { ffi::free_handle(p) }
    });
}

/// Subscribe at `endpoint` with `opts` (NULL for the defaults) to the topics that start with
/// one of `prefixes`, a NULL-terminated array of NUL-terminated strings (NULL, or an empty
/// array: every topic). Returns once the publisher confirmed: every message it publishes
/// afterwards reaches this subscriber if its topic matches.
///
/// Errors: as `ipc_channel_connect`; `IPC_ERR_PROTOCOL_MISMATCH` when the endpoint is not a
/// publisher; `IPC_ERR_INVALID_ARGUMENT` for more than 64 prefixes or one over 1024 bytes.
///
/// # Safety
/// `endpoint` is NULL or NUL-terminated; `prefixes` is NULL or a NULL-terminated array of
/// NUL-terminated strings; `opts` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_subscriber_connect(
    endpoint: *const c_char,
    opts: *const ipc_options,
    prefixes: *const *const c_char,
    out: *mut *mut ipc_subscriber,
) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(out, "out")?;
        // SAFETY: per this function's contract.
        let ep = unsafe { ffi::utf8(endpoint, "endpoint") }?;
        // SAFETY: per this function's contract.
        let opts = unsafe { options::or_default(opts) };
        let prefixes: Vec<&[u8]> = if prefixes.is_null() {
            Vec::new()
        } else {
            // SAFETY: non-null: a NULL-terminated array per this function's contract.
            unsafe { ffi::os_str_array(prefixes, "prefixes") }?
                .into_iter()
                .map(|p| p.as_bytes())
                .collect()
        };
        let inner = Subscriber::connect_with(ep, &opts, &prefixes)?;
        let handle = ffi::into_handle(ipc_subscriber {
            inner,
            cancel: Cancellable::default(),
        });
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out, handle) };
        Ok(())
    })
}

/// Make the subscriber's receives also end, with `IPC_ERR_CANCELLED`, when `cancel` fires;
/// NULL detaches.
///
/// # Safety
/// `s` is NULL or live; `cancel` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_subscriber_set_cancel(
    s: *mut ipc_subscriber,
    cancel: *const ipc_cancel,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(s, "subscriber", |s| {
            // (In the unsafe block above: `cancel` is NULL or live, per this contract.)
            s.cancel.set(cancel.as_ref());
            Ok(())
        })
    }
}

/// Receive the next message, waiting at most `timeout_ms`. On `IPC_OK`: `*out_payload` is the
/// payload (free it with `ipc_message_free`); `*out_topic` (NULL allowed) its topic, also a
/// message to free; `*out_seq` (NULL allowed) its sequence number for this subscriber;
/// `*out_dropped` (NULL allowed) how many messages for this subscriber were dropped just
/// before it. On error every out-value is NULL or 0.
///
/// Errors: `IPC_ERR_TIMEOUT`, `IPC_ERR_CANCELLED` (nothing lost); `IPC_ERR_CLOSED` (the
/// publisher closed, after everything it sent); `IPC_ERR_LAGGED` (the publisher cut this
/// subscriber off); `IPC_ERR_PEER_DISCONNECTED`; `IPC_ERR_PROTOCOL_VIOLATION`.
///
/// # Safety
/// `s` is NULL or live; `out_payload` is NULL or writable; the other out-pointers are NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_subscriber_recv(
    s: *mut ipc_subscriber,
    timeout_ms: i32,
    out_payload: *mut *mut ipc_message,
    out_topic: *mut *mut ipc_message,
    out_seq: *mut u64,
    out_dropped: *mut u64,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let s = unsafe { ffi::handle(s, "subscriber") }?;
        ffi::out_param(out_payload, "out_payload")?;
        // SAFETY: `out_payload` checked non-null, the others written only when non-null; all
        // writable per this function's contract.
        unsafe {
            ffi::write_out(out_payload, std::ptr::null_mut());
            if !out_topic.is_null() {
                ffi::write_out(out_topic, std::ptr::null_mut());
            }
            if !out_seq.is_null() {
                ffi::write_out(out_seq, 0);
            }
            if !out_dropped.is_null() {
                ffi::write_out(out_dropped, 0);
            }
        }
        let wait = ffi::wait(timeout_ms)?;
        let d = s.cancel.with(wait, |w| s.inner.recv_wait(w))?;
        let (seq, dropped) = (d.seq(), d.dropped());
        // SAFETY: as above.
        unsafe {
            if !out_topic.is_null() {
                let topic = ipc_message {
                    data: d.topic().to_vec(),
                };
                ffi::write_out(out_topic, ffi::into_handle(topic));
            }
            if !out_seq.is_null() {
                ffi::write_out(out_seq, seq);
            }
            if !out_dropped.is_null() {
                ffi::write_out(out_dropped, dropped);
            }
            let payload = ipc_message {
                data: d.into_payload().into_vec(),
            };
            ffi::write_out(out_payload, ffi::into_handle(payload));
        }
        Ok(())
    })
}

/// Messages dropped for this subscriber so far (the sum of the receives' `dropped`).
///
/// # Safety
/// `s` is NULL or live; `out_dropped` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_subscriber_dropped(
    s: *const ipc_subscriber,
    out_dropped: *mut u64,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(s, "subscriber", out_dropped, "out_dropped", |s| {
            Ok(s.inner.dropped())
        })
    }
}

/// A descriptor that is readable when a message may be waiting; poll it, then call
/// `ipc_subscriber_recv` with timeout 0. Do not read, write or close it.
///
/// # Safety
/// `s` is NULL or live; `out_fd` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_subscriber_fd(
    s: *const ipc_subscriber,
    out_fd: *mut c_int,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(s, "subscriber", out_fd, "out_fd", |s| {
            Ok(std::os::fd::AsFd::as_fd(&s.inner).as_raw_fd())
        })
    }
}

/// Leave: the publisher forgets this subscriber; later receives return `IPC_ERR_CLOSED`.
///
/// # Safety
/// `s` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_subscriber_close(s: *mut ipc_subscriber) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(s, "subscriber", |s| {
            s.inner.close();
            Ok(())
        })
    }
}

/// Close and free the subscriber (NULL is ignored). No other call on `s` may run or follow.
///
/// # Safety
/// `s` is NULL or a live subscriber not used by any other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_subscriber_free(s: *mut ipc_subscriber) {
    ffi::boundary_value((), || {
        // SAFETY: per this function's contract.
        unsafe { ffi::free_handle(s) }
    });
}
