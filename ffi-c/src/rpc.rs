//! Request/reply (`libipc::rpc`): `ipc_rpc_client` (calls, many in flight, by ticket),
//! `ipc_rpc_server` (bind, accept) and `ipc_rpc_conn` (one client's connection: receive
//! requests, send replies, in any order, from any thread).
//!
//! Everything is the core's: the slot table, matching replies, deadlines, cancellation, late
//! replies, the envelope. What is the C API's own is naming a request in flight by its ticket
//! (the request's id): the client keeps its `Pending` requests in a table.

use std::collections::HashMap;
use std::ffi::{CString, c_char, c_int};
use std::os::fd::AsRawFd;
use std::sync::Mutex;

use libipc::rpc::{Client, Pending, Received, Responder, Server};
use libipc::{ErrorKind, Message};

use crate::cancel::{Cancellable, ipc_cancel};
use crate::ffi::{self, Failure, FfiResult};
use crate::message::ipc_message;
use crate::options::{self, ipc_options};
use crate::status::ipc_status;

/// A request/reply client: one connection, any number of requests in flight, from any number
/// of threads. `ipc_rpc_client_free` must be the last call.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ipc_rpc_client {
    inner: Client,
    /// Requests started with `ipc_rpc_start` and not yet waited for, by ticket.
    pending: Mutex<HashMap<u64, Pending>>,
    cancel: Cancellable,
}

/// A request/reply server (a listener of request/reply clients). Any thread may call its
/// functions at once; `ipc_rpc_server_free` must be the last call.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ipc_rpc_server {
    inner: Server,
    endpoint: CString,
    cancel: Cancellable,
}

/// One client's connection on a server: receive its requests, answer each (in any order, from
/// any thread). `ipc_rpc_conn_free` must be the last call.
#[allow(non_camel_case_types)]
#[derive(Debug)]
pub struct ipc_rpc_conn {
    inner: Responder,
    cancel: Cancellable,
}

impl ipc_rpc_client {
    fn take(&self, ticket: u64) -> FfiResult<Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&ticket)
            .ok_or_else(|| {
                Failure::invalid(format!(
                    "ticket {ticket} names no request in flight on this client (already \
                     waited for, abandoned, or never started)"
                ))
            })
    }
}

/// Write a call's outcome: the reply (`IPC_OK`, `*out_status` 0), or for an error reply
/// (`IPC_ERR_REMOTE`) its text as the message and its status; NULL and 0 otherwise.
///
/// # Safety
/// `out` and `out_status` are non-null and writable.
unsafe fn deliver(
    outcome: libipc::Result<Message>,
    out: *mut *mut ipc_message,
    out_status: *mut u32,
) -> FfiResult<()> {
    let (message, status, result) = match outcome {
        Ok(m) => (Some(m.into_vec()), 0, Ok(())),
        Err(e) if e.kind() == ErrorKind::Remote => (
            Some(e.message().as_bytes().to_vec()),
            e.status().unwrap_or(1),
            Err(Failure::from(e)),
        ),
        Err(e) => (None, 0, Err(Failure::from(e))),
    };
    let handle = message.map_or(std::ptr::null_mut(), |data| {
        ffi::into_handle(ipc_message { data })
    });
    // SAFETY: per this function's contract.
    unsafe {
        ffi::write_out(out, handle);
        ffi::write_out(out_status, status);
    }
    result
}

/// Connect to a request/reply server at `endpoint` with `opts` (NULL for the defaults).
///
/// Errors: as `ipc_channel_connect`; `IPC_ERR_PROTOCOL_MISMATCH` when the endpoint is not a
/// request/reply server (a plain listener, or a libipc older than wire 1.1).
///
/// # Safety
/// `endpoint` is NULL or NUL-terminated; `opts` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_client_connect(
    endpoint: *const c_char,
    opts: *const ipc_options,
    out: *mut *mut ipc_rpc_client,
) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(out, "out")?;
        // SAFETY: per this function's contract.
        let ep = unsafe { ffi::utf8(endpoint, "endpoint") }?;
        // SAFETY: per this function's contract.
        let opts = unsafe { options::or_default(opts) };
        let inner = Client::connect_with(ep, &opts)?;
        let handle = ffi::into_handle(ipc_rpc_client {
            inner,
            pending: Mutex::default(),
            cancel: Cancellable::default(),
        });
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out, handle) };
        Ok(())
    })
}

/// Make the client's calls and waits also end, with `IPC_ERR_CANCELLED`, when `cancel`
/// fires; NULL detaches. A request whose wait is cancelled is abandoned (as on a timeout).
///
/// # Safety
/// `c` is NULL or live; `cancel` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_client_set_cancel(
    c: *mut ipc_rpc_client,
    cancel: *const ipc_cancel,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(c, "client", |c| {
            // (In the unsafe block above: `cancel` is NULL or live, per this contract.)
            c.cancel.set(cancel.as_ref());
            Ok(())
        })
    }
}

/// Send a request (`len` bytes at `data`) and wait for its reply, at most `timeout_ms` in all
/// (`IPC_WAIT_FOREVER`, 0, or milliseconds). On `IPC_OK`, `*out_reply` is the reply (free it
/// with `ipc_message_free`) and `*out_status` 0. On `IPC_ERR_REMOTE` (the server's handler
/// answered with an error) `*out_reply` holds the error's text and `*out_status` its
/// status; the client stays usable. Otherwise both are NULL and 0.
///
/// Errors: `IPC_ERR_REMOTE`; `IPC_ERR_TIMEOUT` and `IPC_ERR_CANCELLED` (the request is
/// abandoned: a reply that comes later is dropped and counted); `IPC_ERR_MESSAGE_TOO_LARGE`
/// (nothing sent); `IPC_ERR_PEER_DISCONNECTED`, `IPC_ERR_CLOSED`,
/// `IPC_ERR_PROTOCOL_VIOLATION` (the connection ended: every request in flight ends so).
///
/// # Safety
/// `c` is NULL or live; a non-null `data` is readable for `len` bytes; `out_reply` and
/// `out_status` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_call(
    c: *mut ipc_rpc_client,
    data: *const u8,
    len: usize,
    timeout_ms: i32,
    out_reply: *mut *mut ipc_message,
    out_status: *mut u32,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { ffi::handle(c, "client") }?;
        ffi::out_param(out_reply, "out_reply")?;
        ffi::out_param(out_status, "out_status")?;
        // SAFETY: per this function's contract.
        let data = unsafe { ffi::bytes(data, len) }?;
        let wait = ffi::wait(timeout_ms)?;
        let outcome = c.cancel.with(wait, |w| c.inner.call_wait(data, w));
        // SAFETY: both checked non-null; writable per this function's contract.
        unsafe { deliver(outcome, out_reply, out_status) }
    })
}

/// Send a request without waiting for its reply; `*out_ticket` names it for `ipc_rpc_wait`
/// or `ipc_rpc_abandon`. `timeout_ms` bounds the sending only (the server may be slow to
/// take requests).
///
/// Errors: `IPC_ERR_TIMEOUT` and `IPC_ERR_CANCELLED` (nothing was sent),
/// `IPC_ERR_MESSAGE_TOO_LARGE`, and the connection's end, as `ipc_rpc_call`.
///
/// # Safety
/// `c` is NULL or live; a non-null `data` is readable for `len` bytes; `out_ticket` is NULL
/// or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_start(
    c: *mut ipc_rpc_client,
    data: *const u8,
    len: usize,
    timeout_ms: i32,
    out_ticket: *mut u64,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(c, "client", out_ticket, "out_ticket", |c| {
            // (In the unsafe block above: `data` is readable for `len`, per this contract.)
            let data = ffi::bytes(data, len)?;
            let wait = ffi::wait(timeout_ms)?;
            let p = c.cancel.with(wait, |w| c.inner.start_wait(data, w))?;
            let ticket = p.id();
            c.pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(ticket, p);
            Ok(ticket)
        })
    }
}

/// Wait at most `timeout_ms` for the reply to the request `ticket` names; the outcome as
/// `ipc_rpc_call`. The ticket is used up either way: a wait that times out or is cancelled
/// abandons the request.
///
/// Errors: as `ipc_rpc_call`; `IPC_ERR_INVALID_ARGUMENT` for a ticket that names no request
/// in flight.
///
/// # Safety
/// `c` is NULL or live; `out_reply` and `out_status` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_wait(
    c: *mut ipc_rpc_client,
    ticket: u64,
    timeout_ms: i32,
    out_reply: *mut *mut ipc_message,
    out_status: *mut u32,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let c = unsafe { ffi::handle(c, "client") }?;
        ffi::out_param(out_reply, "out_reply")?;
        ffi::out_param(out_status, "out_status")?;
        let wait = ffi::wait(timeout_ms)?;
        let p = c.take(ticket)?;
        let outcome = c.cancel.with(wait, |w| p.wait(w));
        // SAFETY: both checked non-null; writable per this function's contract.
        unsafe { deliver(outcome, out_reply, out_status) }
    })
}

/// Give up the request `ticket` names without waiting for it (its reply, if it comes, is
/// dropped and counted; the server is told, best effort).
///
/// Errors: `IPC_ERR_INVALID_ARGUMENT` for a ticket that names no request in flight.
///
/// # Safety
/// `c` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_abandon(c: *mut ipc_rpc_client, ticket: u64) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe { ffi::with(c, "client", |c| c.take(ticket).map(drop)) }
}

/// The client's counters: requests in flight (sent, reply not yet taken) and late replies
/// (replies to requests nobody waited for any more, dropped). Either pointer may be NULL.
///
/// # Safety
/// `c` is NULL or live; each out-pointer is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_client_stats(
    c: *const ipc_rpc_client,
    out_in_flight: *mut usize,
    out_late_replies: *mut u64,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(c, "client", |c| {
            if !out_in_flight.is_null() {
                // SAFETY: non-null; writable per this function's contract.
                ffi::write_out(out_in_flight, c.inner.in_flight());
            }
            if !out_late_replies.is_null() {
                // SAFETY: non-null; writable per this function's contract.
                ffi::write_out(out_late_replies, c.inner.late_replies());
            }
            Ok(())
        })
    }
}

/// Close the connection: requests in flight end with `IPC_ERR_CLOSED`.
///
/// # Safety
/// `c` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_client_close(c: *mut ipc_rpc_client) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(c, "client", |c| {
            c.inner.close();
            Ok(())
        })
    }
}

/// Free the client (closing it; requests started and not waited for are abandoned). NULL is
/// ignored. No other call on `c` may run or follow.
///
/// # Safety
/// `c` is NULL or a live client not used by any other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_client_free(c: *mut ipc_rpc_client) {
    ffi::boundary_value((), || {
        // SAFETY: per this function's contract.
        unsafe { ffi::free_handle(c) }
    });
}

/// Listen at `endpoint` for request/reply clients, with `opts` (NULL for the defaults).
/// Plain channel clients are refused with `IPC_ERR_PROTOCOL_MISMATCH`.
///
/// Errors: as `ipc_listener_bind`.
///
/// # Safety
/// `endpoint` is NULL or NUL-terminated; `opts` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_server_bind(
    endpoint: *const c_char,
    opts: *const ipc_options,
    out: *mut *mut ipc_rpc_server,
) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(out, "out")?;
        // SAFETY: per this function's contract.
        let ep = unsafe { ffi::utf8(endpoint, "endpoint") }?;
        // SAFETY: per this function's contract.
        let opts = unsafe { options::or_default(opts) };
        let inner = Server::bind_with(ep, &opts)?;
        let endpoint = CString::new(inner.local_endpoint().to_string())
            .map_err(|_| Failure::invalid("the endpoint contains a NUL byte"))?;
        let handle = ffi::into_handle(ipc_rpc_server {
            inner,
            endpoint,
            cancel: Cancellable::default(),
        });
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out, handle) };
        Ok(())
    })
}

/// The endpoint clients connect to, as `ipc_listener_endpoint`.
///
/// # Safety
/// `s` is NULL or live; a non-null `buf` is writable for `cap` bytes; `out_len` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_server_endpoint(
    s: *const ipc_rpc_server,
    buf: *mut c_char,
    cap: usize,
    out_len: *mut usize,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let s = unsafe { ffi::handle(s, "server") }?;
        // SAFETY: per this function's contract.
        unsafe { ffi::copy_c_string(&s.endpoint, "endpoint", buf, cap, out_len) }
    })
}

/// Make the server's and its connections' blocking calls also end, with
/// `IPC_ERR_CANCELLED`, when `cancel` fires; NULL detaches. Connections accepted later
/// inherit it; each may set its own with `ipc_rpc_conn_set_cancel`.
///
/// # Safety
/// `s` is NULL or live; `cancel` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_server_set_cancel(
    s: *mut ipc_rpc_server,
    cancel: *const ipc_cancel,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(s, "server", |s| {
            // (In the unsafe block above: `cancel` is NULL or live, per this contract.)
            s.cancel.set(cancel.as_ref());
            Ok(())
        })
    }
}

/// Accept the next client, waiting at most `timeout_ms`; free the connection with
/// `ipc_rpc_conn_free`.
///
/// Errors: `IPC_ERR_TIMEOUT`, `IPC_ERR_CANCELLED`, `IPC_ERR_CLOSED` (the server was closed).
///
/// # Safety
/// `s` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_server_accept(
    s: *mut ipc_rpc_server,
    timeout_ms: i32,
    out: *mut *mut ipc_rpc_conn,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(s, "server", out, "out", |s| {
            let wait = ffi::wait(timeout_ms)?;
            let inner = s.cancel.with(wait, |w| s.inner.accept_wait(w))?;
            let cancel = Cancellable::default();
            cancel.copy_from(&s.cancel);
            Ok(ffi::into_handle(ipc_rpc_conn { inner, cancel }))
        })
    }
}

/// A descriptor that is readable while a client waits to be accepted (as
/// `ipc_listener_fd`).
///
/// # Safety
/// `s` is NULL or live; `out_fd` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_server_fd(
    s: *const ipc_rpc_server,
    out_fd: *mut c_int,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(s, "server", out_fd, "out_fd", |s| {
            Ok(std::os::fd::AsFd::as_fd(&s.inner).as_raw_fd())
        })
    }
}

/// Stop listening: blocked and later accepts return `IPC_ERR_CLOSED`; connections already
/// accepted go on.
///
/// # Safety
/// `s` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_server_close(s: *mut ipc_rpc_server) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(s, "server", |s| {
            s.inner.close();
            Ok(())
        })
    }
}

/// Free the server (closing it). NULL is ignored.
///
/// # Safety
/// `s` is NULL or a live server not used by any other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_server_free(s: *mut ipc_rpc_server) {
    ffi::boundary_value((), || {
        // SAFETY: per this function's contract.
        unsafe { ffi::free_handle(s) }
    });
}

/// Receive the client's next request, waiting at most `timeout_ms`: its id into `*out_id`
/// (pass it to `ipc_rpc_reply`) and its body into `*out_body` (free it with
/// `ipc_message_free`). A CANCEL from the client (it no longer waits for a request's reply)
/// is returned as `IPC_OK` with `*out_body` NULL and the cancelled request's id: a server
/// that can stop that request's work may; a reply sent anyway is dropped by the client.
///
/// Errors: `IPC_ERR_TIMEOUT`, `IPC_ERR_CANCELLED` (nothing lost), `IPC_ERR_CLOSED` (the client
/// closed), `IPC_ERR_PEER_DISCONNECTED`, `IPC_ERR_PROTOCOL_VIOLATION` (a malformed envelope:
/// the connection is failed and closed).
///
/// # Safety
/// `conn` is NULL or live; `out_id` and `out_body` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_recv(
    conn: *mut ipc_rpc_conn,
    timeout_ms: i32,
    out_id: *mut u64,
    out_body: *mut *mut ipc_message,
) -> ipc_status {
    ffi::boundary(|| {
        // SAFETY: per this function's contract.
        let conn = unsafe { ffi::handle(conn, "conn") }?;
        ffi::out_param(out_id, "out_id")?;
        ffi::out_param(out_body, "out_body")?;
        let wait = ffi::wait(timeout_ms)?;
        let (id, body) = match conn.cancel.with(wait, |w| conn.inner.recv_any_wait(w))? {
            Received::Request(r) => (
                r.id(),
                ffi::into_handle(ipc_message {
                    data: r.into_body().into_vec(),
                }),
            ),
            Received::Cancel(id) => (id, std::ptr::null_mut()),
        };
        // SAFETY: both checked non-null; writable per this function's contract.
        unsafe {
            ffi::write_out(out_id, id);
            ffi::write_out(out_body, body);
        }
        Ok(())
    })
}

/// Answer request `id` with `len` bytes at `data`, waiting at most `timeout_ms` for the client
/// to take it.
///
/// Errors: `IPC_ERR_TIMEOUT` (nothing was sent), `IPC_ERR_MESSAGE_TOO_LARGE` (the reply and its
/// 16-byte envelope exceed the connection's limit; nothing sent), `IPC_ERR_CLOSED`,
/// `IPC_ERR_PEER_DISCONNECTED`, `IPC_ERR_CANCELLED`.
///
/// # Safety
/// `conn` is NULL or live; a non-null `data` is readable for `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_reply(
    conn: *mut ipc_rpc_conn,
    id: u64,
    data: *const u8,
    len: usize,
    timeout_ms: i32,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(conn, "conn", |conn| {
            // SAFETY: per this function's contract.
            let data = ffi::bytes(data, len)?;
            let wait = ffi::wait(timeout_ms)?;
            conn.cancel
                .with(wait, |w| conn.inner.respond_wait(id, Ok(data), w))
                .map_err(Failure::from)
        })
    }
}

/// Answer request `id` with an error: `status` (non-zero; 0 is sent as 1) and `text` (UTF-8,
/// NUL-terminated, cut to 4092 bytes; NULL for none). The client's call fails with
/// `IPC_ERR_REMOTE`.
///
/// Errors: as `ipc_rpc_reply`; `IPC_ERR_INVALID_ARGUMENT` for text that is not UTF-8.
///
/// # Safety
/// `conn` is NULL or live; `text` is NULL or NUL-terminated.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_reply_error(
    conn: *mut ipc_rpc_conn,
    id: u64,
    status: u32,
    text: *const c_char,
    timeout_ms: i32,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(conn, "conn", |conn| {
            let text = if text.is_null() {
                ""
            } else {
                // SAFETY: per this function's contract.
                ffi::utf8(text, "text")?
            };
            let wait = ffi::wait(timeout_ms)?;
            let err = libipc::Error::remote(status, text);
            conn.cancel
                .with(wait, |w| conn.inner.respond_wait(id, Err(&err), w))
                .map_err(Failure::from)
        })
    }
}

/// Make this connection's blocking calls also end, with `IPC_ERR_CANCELLED`, when `cancel`
/// fires; NULL detaches.
///
/// # Safety
/// `conn` is NULL or live; `cancel` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_conn_set_cancel(
    conn: *mut ipc_rpc_conn,
    cancel: *const ipc_cancel,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(conn, "conn", |conn| {
            // SAFETY: per this function's contract.
            conn.cancel.set(cancel.as_ref());
            Ok(())
        })
    }
}

/// A descriptor that becomes readable when `ipc_rpc_recv` with timeout 0 could make progress
/// (the rule of `ipc_channel_fd`).
///
/// # Safety
/// `conn` is NULL or live; `out_fd` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_conn_fd(
    conn: *const ipc_rpc_conn,
    out_fd: *mut c_int,
) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::produce(conn, "conn", out_fd, "out_fd", |conn| {
            Ok(std::os::fd::AsFd::as_fd(&conn.inner).as_raw_fd())
        })
    }
}

/// Close the connection to this client.
///
/// # Safety
/// `conn` is NULL or live.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_conn_close(conn: *mut ipc_rpc_conn) -> ipc_status {
    // SAFETY: forwarded contract.
    unsafe {
        ffi::with(conn, "conn", |conn| {
            conn.inner.close();
            Ok(())
        })
    }
}

/// Free the connection (closing it). NULL is ignored.
///
/// # Safety
/// `conn` is NULL or a live connection not used by any other thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_rpc_conn_free(conn: *mut ipc_rpc_conn) {
    ffi::boundary_value((), || {
        // SAFETY: per this function's contract.
        unsafe { ffi::free_handle(conn) }
    });
}
