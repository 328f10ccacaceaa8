//! Request/reply on top of channels: a [`Client`] with many requests in flight on one
//! channel, each reply finding its request by a correlation id, and a [`Server`] that hands
//! each request to a handler.
//!
//! The framing is wire 1.1's request/reply envelope (`docs/wire-format.md`, section 16): both
//! hellos carry `CAP_RPC`, and every message opens with 16 bytes saying REQUEST, REPLY or
//! CANCEL, a status and the id. A plain channel peer (or a libipc older than 1.1) is refused
//! with `ProtocolMismatch` in either direction, before any request is sent.
//!
//! - A request has a deadline and may be cancelled ([`Wait`]); one that gives up releases
//!   its slot, tells the server (CANCEL, best effort), and a reply that comes later is
//!   dropped and counted ([`Client::late_replies`]), never given to another caller.
//! - A handler's error reply reaches the caller as [`ErrorKind::Remote`] with
//!   [`Error::status`] and the handler's text; the channel stays usable. Transport errors
//!   keep their own kinds.
//! - A malformed envelope, or a reply to an id the client never sent, is a
//!   `ProtocolViolation`: the channel fails as for a malformed frame (ERROR frame, hang up).
//!
//! ```no_run
//! # fn main() -> libipc::Result<()> {
//! use libipc::rpc::{Client, Server};
//! let server = Server::bind("calc")?;
//! std::thread::spawn(move || server.serve(|req| Ok(req.body().to_ascii_uppercase())));
//! let client = Client::connect("calc")?;
//! assert_eq!(&*client.call(b"hi")?, b"HI");
//! # Ok(()) }
//! ```
//!
//! The async forms (`AsyncClient`, `AsyncServer`, Unix, feature `tokio`) run handlers
//! concurrently and reply out of order.

#[cfg(all(unix, feature = "tokio"))]
mod aio;
mod client;
mod server;

#[cfg(all(unix, feature = "tokio"))]
pub use aio::{AsyncClient, AsyncResponder, AsyncServer, CancelSignal, TrackedRequest};
pub use client::{Client, Pending};
pub use server::{Handler, PANIC_STATUS, Received, Request, Responder, Server};

use crate::conn::Message;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
#[cfg(doc)]
use crate::wait::Wait;
use crate::wire::{CAP_RPC, ENVELOPE_LEN, Envelope, RpcKind, RpcRole, fault_text};

/// The options of a request/reply endpoint: the caller's, announcing `CAP_RPC`.
fn rpc_options(opts: &Options) -> Options {
    let mut o = opts.clone();
    o.pattern_caps |= CAP_RPC;
    o
}

/// One message: `envelope` then `body`.
fn framed(envelope: Envelope, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(ENVELOPE_LEN + body.len());
    v.extend_from_slice(&envelope.encode());
    v.extend_from_slice(body);
    v
}

/// The message answering request `id` with a handler's `result`: a success REPLY with the
/// body, or an error REPLY with the error's status (a handler's [`Error::remote`]) or, for a
/// libipc error of another kind, its code, and the text cut to what a REPLY carries.
fn reply_message(id: u64, result: std::result::Result<&[u8], &Error>) -> Vec<u8> {
    match result {
        Ok(body) => framed(Envelope::reply(id, 0), body),
        Err(e) => {
            let status = e.status().unwrap_or(u32::from(e.kind().code()));
            framed(
                Envelope::reply(id, status.max(1)),
                fault_text(e.message()).as_bytes(),
            )
        }
    }
}

/// Check a request body against the channel's limit, counting its envelope.
fn check_body(len: usize, max_message: usize, what: &str) -> Result<()> {
    if len > max_message.saturating_sub(ENVELOPE_LEN) {
        return Err(Error::new(
            ErrorKind::MessageTooLarge,
            format!(
                "a {what} of {len} bytes and its {ENVELOPE_LEN}-byte envelope exceed the \
                 channel's limit of {max_message} bytes"
            ),
        ));
    }
    Ok(())
}

/// What a server receives.
enum ToServer {
    Request(Request),
    // The blocking server ignores CANCEL (it has replied by the time it reads one).
    #[cfg_attr(not(all(unix, feature = "tokio")), allow(dead_code))]
    Cancel(u64),
}

/// Decode what a client sent (a server's receive); `Err` is a violation to fail with.
fn to_server(m: Message) -> Result<ToServer> {
    let (env, _) = Envelope::decode(&m, RpcRole::Server)?;
    Ok(match env.kind {
        RpcKind::Request => ToServer::Request(Request {
            id: env.id,
            body: m.skip(ENVELOPE_LEN),
        }),
        _ => ToServer::Cancel(env.id),
    })
}

/// Decode a reply (a client's receive): its id and what the caller gets.
fn from_server(m: Message) -> Result<(u64, Result<Message>)> {
    let (env, body) = Envelope::decode(&m, RpcRole::Client)?;
    let outcome = if env.status == 0 {
        Ok(m.skip(ENVELOPE_LEN))
    } else {
        // Checked UTF-8 by `decode`.
        Err(Error::remote(
            env.status,
            String::from_utf8_lossy(body).into_owned(),
        ))
    };
    Ok((env.id, outcome))
}

/// The violation of a reply to an id the client never used.
fn unknown_id(id: u64) -> Error {
    Error::new(
        ErrorKind::ProtocolViolation,
        format!("the server replied to request id {id}, which this client never sent"),
    )
}

/// Whether a receive error ends the channel (as opposed to this call giving up).
fn ends_channel(e: &Error) -> bool {
    !matches!(e.kind(), ErrorKind::Timeout | ErrorKind::Cancelled)
}
