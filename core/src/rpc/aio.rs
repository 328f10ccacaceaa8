//! Request/reply on tokio: [`AsyncClient`] (a task receives replies and hands each to the
//! call waiting for its id) and [`AsyncServer`] (each request's handler runs as a task of its
//! own, so replies go out as handlers finish, in any order, and a CANCEL aborts the handler).

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinHandle};

use super::server::PANIC_STATUS;
use super::{
    Request, ToServer, check_body, ends_channel, framed, from_server, reply_message, rpc_options,
    to_server, unknown_id,
};
use crate::aio::{AsyncChannel, AsyncListener, under};
use crate::conn::{Message, PeerCredentials, closed_error};
use crate::endpoint::Endpoint;
use crate::error::{Error, ErrorKind, Result};
use crate::options::Options;
use crate::wait::Wait;
use crate::wire::Envelope;

/// An async request/reply client: one channel, any number of calls in flight (from any
/// number of tasks), replies in any order. Cheap to clone; the channel closes when the last
/// clone drops.
#[derive(Clone)]
pub struct AsyncClient {
    shared: Arc<Shared>,
    _reader: Arc<AbortOnDrop>,
}

struct Shared {
    chan: AsyncChannel,
    state: Mutex<State>,
    next_id: AtomicU64,
    late: AtomicU64,
}

#[derive(Default)]
struct State {
    slots: HashMap<u64, oneshot::Sender<Result<Message>>>,
    ended: Option<Error>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl fmt::Debug for AsyncClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncClient")
            .field("in_flight", &self.in_flight())
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn end(&self, err: Error) {
        let mut st = self.lock();
        let err = st.ended.get_or_insert(err).clone();
        for (_, tx) in st.slots.drain() {
            let _ = tx.send(Err(err.clone()));
        }
    }

    /// The reply receiver: runs until the channel ends.
    async fn read_replies(self: Arc<Shared>) {
        loop {
            let m = match self.chan.recv().await {
                Ok(m) => m,
                Err(e) => return self.end(e),
            };
            match from_server(m) {
                Ok((id, outcome)) => {
                    let slot = self.lock().slots.remove(&id);
                    match slot {
                        Some(tx) => {
                            if tx.send(outcome).is_err() {
                                // Its call was dropped just now.
                                self.late.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        None if id != 0 && id < self.next_id.load(Ordering::Relaxed) => {
                            self.late.fetch_add(1, Ordering::Relaxed);
                        }
                        None => return self.end(self.chan.fail(unknown_id(id))),
                    }
                }
                Err(violation) => return self.end(self.chan.fail(violation)),
            }
        }
    }
}

/// The handlers still running on a connection, by request id.
fn tasks(m: &Mutex<HashMap<u64, AbortHandle>>) -> MutexGuard<'_, HashMap<u64, AbortHandle>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Releases a call's slot when the call ends without its reply (timeout, cancel, dropped
/// future), telling the server if the request went out.
struct Abandon<'a> {
    shared: &'a Shared,
    id: u64,
    sent: bool,
    armed: bool,
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let was = self.shared.lock().slots.remove(&self.id);
        if was.is_some() && self.sent {
            // Advisory and best effort: only if it goes out without waiting.
            let _ = self
                .shared
                .chan
                .send_now(&Envelope::cancel(self.id).encode());
        }
    }
}

impl AsyncClient {
    /// Connect to a request/reply server with default options (errors as
    /// [`Client::connect`](super::Client::connect)). Needs a tokio runtime; the reply
    /// receiver runs as a task on it.
    pub async fn connect<E>(endpoint: E) -> Result<AsyncClient>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        AsyncClient::connect_with(endpoint, &Options::default()).await
    }

    /// Connect with options.
    pub async fn connect_with<E>(endpoint: E, opts: &Options) -> Result<AsyncClient>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        let chan = AsyncChannel::connect_with(endpoint, &rpc_options(opts)).await?;
        let shared = Arc::new(Shared {
            chan,
            state: Mutex::default(),
            next_id: AtomicU64::new(1),
            late: AtomicU64::new(0),
        });
        let reader = tokio::spawn(Arc::clone(&shared).read_replies());
        Ok(AsyncClient {
            shared,
            _reader: Arc::new(AbortOnDrop(reader)),
        })
    }

    /// Send a request and wait for its reply (errors as
    /// [`Client::call`](super::Client::call)). Dropping the future abandons the request.
    pub async fn call(&self, body: &[u8]) -> Result<Message> {
        self.call_wait(body, Wait::forever()).await
    }

    /// [`call`](Self::call) with a deadline.
    pub async fn call_timeout(&self, body: &[u8], timeout: Duration) -> Result<Message> {
        self.call_wait(body, Wait::timeout(timeout)).await
    }

    /// [`call`](Self::call) within `wait`: `Timeout` when its deadline passes, `Cancelled`
    /// when one of its handles fires; the request's slot is released and a late reply is
    /// dropped and counted.
    pub async fn call_wait(&self, body: &[u8], wait: Wait<'_>) -> Result<Message> {
        let shared = &*self.shared;
        check_body(body.len(), shared.chan.max_message_size(), "request")?;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        {
            let mut st = shared.lock();
            if let Some(e) = &st.ended {
                return Err(e.clone());
            }
            st.slots.insert(id, tx);
        }
        let mut guard = Abandon {
            shared,
            id,
            sent: false,
            armed: true,
        };
        let message = framed(Envelope::request(id), body);
        let outcome = under(&wait, "the call", async {
            // A send stopped part-way still counts as sent (the rest goes first).
            guard.sent = true;
            shared.chan.send(&message).await?;
            rx.await.unwrap_or_else(|_| Err(closed_error()))
        })
        .await;
        if matches!(&outcome, Err(e) if e.kind() == ErrorKind::MessageTooLarge) {
            guard.sent = false;
        }
        if outcome.is_ok() || matches!(&outcome, Err(e) if e.kind() == ErrorKind::Remote) {
            guard.armed = false;
        }
        outcome
    }

    /// Calls in flight.
    pub fn in_flight(&self) -> usize {
        self.shared.lock().slots.len()
    }

    /// Replies dropped because nobody waited for them any more (see
    /// [`Client::late_replies`](super::Client::late_replies)).
    pub fn late_replies(&self) -> u64 {
        self.shared.late.load(Ordering::Relaxed)
    }

    /// The server's credentials.
    pub fn peer(&self) -> PeerCredentials {
        self.shared.chan.peer()
    }

    /// Close the channel: calls in flight end with `Closed`.
    pub async fn close(&self) {
        self.shared.chan.close().await;
        self.shared.end(closed_error());
    }
}

/// An async request/reply server.
#[derive(Debug)]
pub struct AsyncServer {
    listener: AsyncListener,
}

/// One client's connection on an [`AsyncServer`]. Clones share it.
#[derive(Debug, Clone)]
pub struct AsyncResponder {
    chan: AsyncChannel,
    /// Requests taken with [`next_request`](Self::next_request) and not answered yet.
    tracked: Arc<Mutex<HashMap<u64, Arc<CancelSignal>>>>,
}

/// A tracked request's fate: cancelled (the client gave up on it, or the connection ended)
/// or answered, whichever comes first.
#[derive(Debug, Default)]
pub struct CancelSignal {
    /// 0: pending; 1: cancelled; 2: answered.
    state: std::sync::atomic::AtomicU8,
    notify: tokio::sync::Notify,
}

impl CancelSignal {
    fn settle(&self, to: u8) {
        let _ = self
            .state
            .compare_exchange(0, to, Ordering::AcqRel, Ordering::Acquire);
        self.notify.notify_waiters();
    }

    fn fire(&self) {
        self.settle(1);
    }

    /// Whether the request was cancelled (or its connection ended) before it was answered.
    pub fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) == 1
    }

    /// Completes when the request is cancelled (`true`) or answered (`false`), whichever
    /// comes first; at once if that happened already.
    pub async fn cancelled(&self) -> bool {
        loop {
            let notified = self.notify.notified();
            match self.state.load(Ordering::Acquire) {
                0 => notified.await,
                s => return s == 1,
            }
        }
    }
}

/// A request taken with [`AsyncResponder::next_request`], for a handler that runs elsewhere
/// (a binding's event loop): answer it with [`AsyncResponder::reply`] or
/// [`AsyncResponder::reply_error`]; [`cancelled`](Self::cancelled) tells when the client gave
/// up on it (stop the work: no reply is needed, and none is sent).
#[derive(Debug, Clone)]
pub struct TrackedRequest {
    request: Request,
    signal: Arc<CancelSignal>,
}

impl TrackedRequest {
    /// The correlation id, to answer with.
    pub fn id(&self) -> u64 {
        self.request.id
    }

    /// The request's bytes.
    pub fn body(&self) -> &[u8] {
        self.request.body()
    }

    /// The request, owned.
    pub fn into_request(self) -> Request {
        self.request
    }

    /// The signal that fires when the client cancels this request (or the connection ends).
    pub fn signal(&self) -> Arc<CancelSignal> {
        Arc::clone(&self.signal)
    }
}

impl AsyncServer {
    /// Listen at `endpoint` with default options.
    pub async fn bind<E>(endpoint: E) -> Result<AsyncServer>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        AsyncServer::bind_with(endpoint, &Options::default()).await
    }

    /// Listen with options.
    pub async fn bind_with<E>(endpoint: E, opts: &Options) -> Result<AsyncServer>
    where
        E: TryInto<Endpoint, Error = Error>,
    {
        Ok(AsyncServer {
            listener: AsyncListener::bind_with(endpoint, &rpc_options(opts)).await?,
        })
    }

    /// The endpoint clients connect to.
    pub fn local_endpoint(&self) -> &Endpoint {
        self.listener.local_endpoint()
    }

    /// The next client.
    pub async fn accept(&self) -> Result<AsyncResponder> {
        Ok(AsyncResponder {
            chan: self.listener.accept().await?,
            tracked: Arc::default(),
        })
    }

    /// Serve every client with `handler` until the server is closed (`Ok(())`): each client's
    /// requests run concurrently, a task each, and are answered as they finish. A CANCEL from
    /// the client aborts its request's handler (no reply is sent); a handler that panics
    /// answers with status [`PANIC_STATUS`](super::server::PANIC_STATUS).
    pub async fn serve<H, F>(&self, handler: H) -> Result<()>
    where
        H: Fn(Request) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Vec<u8>>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        loop {
            match self.accept().await {
                Ok(r) => {
                    let h = Arc::clone(&handler);
                    tokio::spawn(async move {
                        if let Err(e) = r.serve_arc(h).await {
                            tracing::debug!(error = %e, "request/reply connection failed");
                        }
                    });
                }
                Err(e) if e.kind() == ErrorKind::Closed => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Stop listening; `serve` and `accept` return `Closed`/`Ok(())`.
    pub fn close(&self) {
        self.listener.close();
    }
}

fn tracked(
    m: &Mutex<HashMap<u64, Arc<CancelSignal>>>,
) -> MutexGuard<'_, HashMap<u64, Arc<CancelSignal>>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl AsyncResponder {
    /// The next request (CANCELs are skipped; [`serve`](Self::serve) acts on them).
    pub async fn recv(&self) -> Result<Request> {
        loop {
            if let ToServer::Request(r) = self.next().await? {
                return Ok(r);
            }
        }
    }

    async fn next(&self) -> Result<ToServer> {
        let m = self.chan.recv().await?;
        to_server(m).map_err(|violation| self.chan.fail(violation))
    }

    /// The next request, tracked until it is answered: the returned request's
    /// [`signal`](TrackedRequest::signal) fires if the client cancels it (CANCELs are
    /// consumed here) or the connection ends. Answer every tracked request, cancelled or not
    /// (the answer to a cancelled one is not sent): the answer is what forgets it. For
    /// handlers that run outside this runtime (a binding's event loop); [`serve`](Self::serve)
    /// is the same loop for Rust handlers.
    pub async fn next_request(&self) -> Result<TrackedRequest> {
        loop {
            match self.next().await {
                Ok(ToServer::Request(request)) => {
                    let signal = Arc::new(CancelSignal::default());
                    tracked(&self.tracked).insert(request.id, Arc::clone(&signal));
                    return Ok(TrackedRequest { request, signal });
                }
                Ok(ToServer::Cancel(id)) => {
                    // Kept until answered: the answer is what forgets it (and is not sent).
                    if let Some(s) = tracked(&self.tracked).get(&id) {
                        s.fire();
                    }
                }
                Err(e) => {
                    if ends_channel(&e) {
                        for s in tracked(&self.tracked).values() {
                            s.fire();
                        }
                    }
                    return Err(e);
                }
            }
        }
    }

    /// The cancellation signal of tracked request `id` (taken with
    /// [`next_request`](Self::next_request) and not answered yet), for a handler that knows
    /// only the id (a binding's); `None` once it is answered, or for an id never tracked.
    pub fn signal(&self, id: u64) -> Option<Arc<CancelSignal>> {
        tracked(&self.tracked).get(&id).cloned()
    }

    /// Stop tracking `id`; whether to send its reply (not for a request the client cancelled).
    fn answered(&self, id: u64) -> bool {
        match tracked(&self.tracked).remove(&id) {
            Some(s) => {
                s.settle(2);
                !s.is_cancelled()
            }
            // Not tracked: taken with `recv`, or already answered (the client drops a second
            // reply as late).
            None => true,
        }
    }

    /// Answer request `id` with `body` (nothing is sent for a tracked request the client
    /// cancelled).
    pub async fn reply(&self, id: u64, body: &[u8]) -> Result<()> {
        if !self.answered(id) {
            return Ok(());
        }
        self.chan.send(&reply_message(id, Ok(body))).await
    }

    /// Answer request `id` with an error status (non-zero) and text (nothing is sent for a
    /// tracked request the client cancelled).
    pub async fn reply_error(&self, id: u64, status: u32, text: &str) -> Result<()> {
        if !self.answered(id) {
            return Ok(());
        }
        self.chan
            .send(&reply_message(id, Err(&Error::remote(status, text))))
            .await
    }

    /// Answer this client's requests with `handler`, concurrently, until it closes or
    /// disconnects (`Ok(())`) or the channel fails. Handlers still running then are aborted.
    pub async fn serve<H, F>(&self, handler: H) -> Result<()>
    where
        H: Fn(Request) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Vec<u8>>> + Send + 'static,
    {
        self.serve_arc(Arc::new(handler)).await
    }

    async fn serve_arc<H, F>(&self, handler: Arc<H>) -> Result<()>
    where
        H: Fn(Request) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Vec<u8>>> + Send + 'static,
    {
        let running: Arc<Mutex<HashMap<u64, AbortHandle>>> = Arc::default();
        let end = loop {
            match self.next().await {
                Ok(ToServer::Request(req)) => {
                    let id = req.id;
                    let task = tokio::spawn(handler(req));
                    tasks(&running).insert(id, task.abort_handle());
                    let chan = self.chan.clone();
                    let running = Arc::clone(&running);
                    tokio::spawn(async move {
                        let result = match task.await {
                            Ok(r) => r,
                            Err(e) if e.is_panic() => {
                                Err(Error::remote(PANIC_STATUS, "the handler panicked"))
                            }
                            // Aborted by a CANCEL or the end of the connection: no reply.
                            Err(_) => return,
                        };
                        tasks(&running).remove(&id);
                        let _ = chan.send(&reply_message(id, result.as_deref())).await;
                    });
                }
                Ok(ToServer::Cancel(id)) => {
                    let task = tasks(&running).remove(&id);
                    if let Some(t) = task {
                        t.abort();
                    }
                }
                Err(e) if !ends_channel(&e) => {}
                Err(e) => break e,
            }
        };
        let left = std::mem::take(&mut *tasks(&running));
        for (_, t) in left {
            t.abort();
        }
        match end.kind() {
            ErrorKind::Closed | ErrorKind::PeerDisconnected => Ok(()),
            _ => Err(end),
        }
    }

    /// The client's credentials.
    pub fn peer(&self) -> PeerCredentials {
        self.chan.peer()
    }

    /// Close this client's connection.
    pub async fn close(&self) {
        self.chan.close().await;
    }
}
