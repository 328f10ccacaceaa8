//! gRPC (tonic 0.14) over a Unix stream socket: one bidirectional streaming call,
//! `bench.Link/Exchange(stream bytes) returns (stream bytes)`, is the link. Each message is one
//! gRPC message carried as is by a raw-bytes codec ([`RawCodec`]); the stubs come from
//! `tonic_build::manual` in build.rs (no .proto file, no protoc, no prost).
//!
//! The bench is the gRPC server (it binds `grpc.sock` in the scratch directory before the
//! peer starts), the peer the client; the bench's side talks to the call its handler was given
//! (the request stream and the response stream's sender). Sending pushes the message into the
//! outgoing stream (a tokio mpsc channel) and receiving takes the next message of the
//! incoming stream.
//!
//! Threads: one per side. Each side owns a current_thread tokio runtime that runs only inside
//! its link calls (`block_on` per call): the HTTP/2 connection, hyper's tasks and the server
//! all run on the measuring thread, so no thread hop is added on the measured path. The flip
//! side is that nothing moves between calls, so a send does not return once the message is
//! queued but once its bytes are on the socket: the socket wrapper ([`Counted`]) counts the
//! bytes written, and `send` drives the connection until at least the message and its gRPC
//! header went out and no write is waiting for room (as a blocking `write_all` returns). The
//! other waits are those of tokio's event loop: epoll, so a blocking wait in the kernel, as the
//! raw `unix` baseline's blocking socket calls.
//!
//! Tuning, as a user moving 1 MiB messages would: HTTP/2 stream and connection windows of
//! 4 MiB and 8 MiB (the default 64 KiB stalls each 1 MiB message on window updates), message
//! limits raised to fit the largest message (the peer is told the limit in its argument).
//! Frames stay at HTTP/2's default 16 KiB.
//!
//! Start: the peer connects and opens the call (waiting for the response headers, which the
//! bench's runtime sends while it waits in `finish`), then sends a hello message; the bench's
//! side is complete once that hello arrives, so neither side is left with bytes only its own
//! runtime could still send. Close: the side drops its sender, which ends its outgoing stream
//! (END_STREAM, or the server's trailers), drives that out, and then drops its runtime, which
//! closes the socket: the other side's next receive ends either way. Files: only the socket in
//! the scratch directory.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use hyper_util::rt::TokioIo;
use libipc_bench::{Context, Fail, Link, Pattern, Result};
use libipc_bench_unix::{BenchSide, LinkKind, PEER_TIMEOUT, Setup};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};
use tokio::runtime::Runtime;
use tokio::sync::{Notify, mpsc};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{ReceiverStream, UnixListenerStream};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder, Streaming};
use tonic::transport::server::Connected;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Request, Response, Status};

/// The generated stubs: `link_server::{Link, LinkServer}`, `link_client::LinkClient`.
#[allow(
    missing_debug_implementations,
    clippy::default_constructed_unit_structs
)]
mod stubs {
    include!(concat!(env!("OUT_DIR"), "/bench.Link.rs"));
}

use stubs::link_client::LinkClient;
use stubs::link_server::{self, LinkServer};

/// HTTP/2 flow-control windows: room for several 1 MiB messages in flight.
const STREAM_WINDOW: u32 = 4 << 20;
const CONNECTION_WINDOW: u32 = 8 << 20;
/// gRPC's default message limit (4 MiB); raised when the bench's messages are larger.
const MIN_LIMIT: usize = 4 << 20;
/// Messages queued for the outgoing stream (a send waits until its message is written, so
/// one is queued at a time).
const DEPTH: usize = 16;
/// The first message, from the peer once its call is open.
const HELLO: &[u8] = b"grpc hello";
/// How long one wait for the peer lasts before checking that it still runs.
const POLL: Duration = Duration::from_millis(2);
/// The longest `close` drives the end of the stream out before closing the socket.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Each message as it is: a `Bytes` in, the same bytes out (gRPC's 5-byte header is added and
/// removed by tonic).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }

    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// One direction's stream of messages, as the sending side feeds it.
type Outbound = mpsc::Sender<Result<Bytes, Status>>;

/// A call the bench's server was given: the peer's messages and the sender of the replies.
type Call = (Streaming<Bytes>, Outbound);

/// The bench's service: hands each call to the bench's side of the link.
#[derive(Debug)]
struct Handler {
    calls: mpsc::UnboundedSender<Call>,
}

#[tonic::async_trait]
impl link_server::Link for Handler {
    type ExchangeStream = ReceiverStream<Result<Bytes, Status>>;

    async fn exchange(
        &self,
        request: Request<Streaming<Bytes>>,
    ) -> Result<Response<Self::ExchangeStream>, Status> {
        let (outbound, replies) = mpsc::channel(DEPTH);
        self.calls
            .send((request.into_inner(), outbound))
            .map_err(|_| Status::unavailable("the bench's link is gone"))?;
        Ok(Response::new(ReceiverStream::new(replies)))
    }
}

/// What the socket has written so far, for a send to wait on.
#[derive(Debug, Default)]
struct Wire {
    /// Bytes written to the socket.
    written: AtomicU64,
    /// The last write found no room (the connection waits for the socket to be writable).
    blocked: AtomicBool,
    /// The socket failed or was dropped.
    closed: AtomicBool,
    /// Woken on each of the above.
    changed: Notify,
}

impl Wire {
    fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Until at least `target` bytes were written in all and no write waits for room.
    async fn reach(&self, target: u64) -> Result {
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return Err(Fail::new("the gRPC connection closed"));
            }
            if self.written() >= target && !self.blocked.load(Ordering::Relaxed) {
                return Ok(());
            }
            self.changed.notified().await;
        }
    }

    fn wrote(&self, result: &Poll<std::io::Result<usize>>) {
        match result {
            Poll::Ready(Ok(n)) => {
                self.written.fetch_add(*n as u64, Ordering::Relaxed);
                self.blocked.store(false, Ordering::Relaxed);
            }
            Poll::Ready(Err(_)) => self.closed.store(true, Ordering::Relaxed),
            Poll::Pending => self.blocked.store(true, Ordering::Relaxed),
        }
        self.changed.notify_one();
    }
}

/// The connection's Unix socket, counting what it writes into its [`Wire`].
#[derive(Debug)]
struct Counted {
    stream: UnixStream,
    wire: Arc<Wire>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.wire.closed.store(true, Ordering::Relaxed);
        self.wire.changed.notify_one();
    }
}

impl Connected for Counted {
    type ConnectInfo = ();

    fn connect_info(&self) {}
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.wire.wrote(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.wire.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a tokio runtime")
}

/// Run `future` on `runtime` for at most `limit`; `None`: it did not finish in time.
fn within<F: std::future::Future>(
    runtime: &Runtime,
    limit: Duration,
    future: F,
) -> Option<F::Output> {
    runtime.block_on(async { tokio::time::timeout(limit, future).await.ok() })
}

fn grpc_fail(what: &str, e: impl std::fmt::Display) -> Fail {
    Fail::new(format!("{what}: {e}"))
}

/// The gRPC message limit for messages of up to `max_message` bytes.
fn limit(max_message: usize) -> usize {
    max_message.max(MIN_LIMIT)
}

/// One side of the `Exchange` call.
struct Exchange {
    /// `None` once closed.
    inbound: Option<Streaming<Bytes>>,
    outbound: Option<Outbound>,
    wire: Arc<Wire>,
    last: Bytes,
    /// The peer's client, kept for the call's life.
    _client: Option<LinkClient<Channel>>,
    /// Dropped last: the connection (and the bench's server) run on it.
    runtime: Option<Runtime>,
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exchange")
            .field("open", &self.outbound.is_some())
            .field("wire", &self.wire)
            .finish_non_exhaustive()
    }
}

impl Exchange {
    fn closed() -> Fail {
        Fail::new("the gRPC link is closed")
    }

    /// Send `msg` and drive the connection until it is on the socket.
    fn push(&mut self, msg: Bytes) -> Result {
        let (Some(runtime), Some(outbound)) = (&self.runtime, &self.outbound) else {
            return Err(Exchange::closed());
        };
        // The message's bytes and gRPC's 5-byte header, at least (HTTP/2 frame headers too).
        let target = self.wire.written() + msg.len() as u64 + 5;
        let wire = &self.wire;
        runtime.block_on(async move {
            outbound
                .send(Ok(msg))
                .await
                .map_err(|_| Fail::new("the gRPC stream ended"))?;
            wire.reach(target).await
        })
    }
}

impl Link for Exchange {
    fn send(&mut self, msg: &[u8]) -> Result {
        self.push(Bytes::copy_from_slice(msg))
    }

    fn recv(&mut self) -> Result<&[u8]> {
        let (Some(runtime), Some(inbound)) = (&self.runtime, &mut self.inbound) else {
            return Err(Exchange::closed());
        };
        match runtime.block_on(inbound.message()) {
            Ok(Some(msg)) => {
                self.last = msg;
                Ok(&self.last)
            }
            Ok(None) => Err(Fail::new("the gRPC stream ended")),
            Err(status) => Err(grpc_fail("gRPC receive", status)),
        }
    }

    fn echo(&mut self) -> Result {
        self.recv()?;
        // The same bytes go back (a reference count, no copy).
        let msg = self.last.clone();
        self.push(msg)
    }

    fn close(&mut self) {
        if let (Some(runtime), Some(outbound)) = (&self.runtime, self.outbound.take()) {
            let target = self.wire.written() + 1;
            drop(outbound);
            // The end of the stream (a few bytes) goes out, unless the socket is gone already.
            let _ = within(runtime, CLOSE_WAIT, self.wire.reach(target));
        }
        self.inbound = None;
        self._client = None;
        self.runtime = None;
    }
}

/// The bench's side before the peer's call: the gRPC server on its socket.
struct Listening {
    runtime: Runtime,
    calls: mpsc::UnboundedReceiver<Call>,
    wire: Arc<Wire>,
}

impl Listening {
    /// Bind `path` and start serving (which runs whenever the runtime does: inside this
    /// side's calls).
    fn bind(path: &Path, limit: usize) -> Result<Listening> {
        let runtime = runtime()?;
        let listener = {
            let _context = runtime.enter();
            UnixListener::bind(path).context("binding the gRPC socket")?
        };
        let wire = Arc::new(Wire::default());
        let incoming = UnixListenerStream::new(listener).map({
            let wire = Arc::clone(&wire);
            move |stream| {
                stream.map(|stream| Counted {
                    stream,
                    wire: Arc::clone(&wire),
                })
            }
        });
        let (calls_tx, calls) = mpsc::unbounded_channel();
        let service = LinkServer::new(Handler { calls: calls_tx })
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit);
        let server = Server::builder()
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .serve_with_incoming(service, incoming);
        runtime.spawn(server);
        Ok(Listening {
            runtime,
            calls,
            wire,
        })
    }

    /// Serve for a moment; the peer's call once it came.
    fn call(&mut self) -> Result<Option<Call>> {
        match within(&self.runtime, POLL, self.calls.recv()) {
            None => Ok(None),
            Some(Some(call)) => Ok(Some(call)),
            Some(None) => Err(Fail::new("the gRPC server stopped")),
        }
    }

    /// Serve the call (its response headers) for a moment; `Some` once the peer's hello says
    /// it has them.
    fn hello(&self, inbound: &mut Streaming<Bytes>) -> Result<Option<()>> {
        match within(&self.runtime, POLL, inbound.message()) {
            None => Ok(None),
            Some(Ok(Some(msg))) if msg == HELLO => Ok(Some(())),
            Some(Ok(Some(msg))) => Err(Fail::new(format!("the gRPC peer said {msg:?}, not hello"))),
            Some(Ok(None)) => Err(Fail::new("the gRPC peer ended its stream")),
            Some(Err(status)) => Err(grpc_fail("gRPC receive", status)),
        }
    }

    fn link(self, inbound: Streaming<Bytes>, outbound: Outbound) -> Exchange {
        Exchange {
            inbound: Some(inbound),
            outbound: Some(outbound),
            wire: self.wire,
            last: Bytes::new(),
            _client: None,
            runtime: Some(self.runtime),
        }
    }
}

/// The `grpc:uds` rows.
#[derive(Debug)]
pub(crate) struct Kind;

impl LinkKind for Kind {
    fn system(&self) -> &str {
        "grpc"
    }

    fn transport(&self) -> &str {
        "uds"
    }

    fn patterns(&self) -> &[Pattern] {
        &Pattern::ALL
    }

    fn same_wait(&self) -> Option<&str> {
        Some(libipc_bench_unix::Baseline::Unix.name())
    }

    fn bench_side(&self, setup: &Setup<'_>) -> Result<BenchSide> {
        let path = setup.dir.join("grpc.sock");
        let limit = limit(setup.max_message);
        let mut listening = Listening::bind(&path, limit)?;
        Ok(BenchSide {
            arg: format!("{limit}:{}", path.display()),
            inherit: Vec::new(),
            channel: false,
            finish: Box::new(move |started| {
                let (mut inbound, outbound) = started.wait_for(|| listening.call())?;
                started.wait_for(|| listening.hello(&mut inbound))?;
                Ok(Box::new(listening.link(inbound, outbound)))
            }),
        })
    }

    fn peer_side(&self, arg: &str, _: Vec<OwnedFd>) -> Result<Box<dyn Link>> {
        let (limit, path) = arg
            .split_once(':')
            .and_then(|(limit, path)| Some((limit.parse::<usize>().ok()?, path)))
            .ok_or_else(|| Fail::new(format!("expected LIMIT:SOCKET_PATH, got {arg:?}")))?;
        let path = PathBuf::from(path);
        let runtime = runtime()?;
        let wire = Arc::new(Wire::default());
        let (outbound, requests) = mpsc::channel(DEPTH);
        let connector = tower::service_fn({
            let wire = Arc::clone(&wire);
            move |_| {
                let (path, wire) = (path.clone(), Arc::clone(&wire));
                async move {
                    let stream = UnixStream::connect(path).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(Counted { stream, wire }))
                }
            }
        });
        // At most as long as the bench waits for this side.
        let open = within(&runtime, PEER_TIMEOUT, async {
            // The authority is only a header here: the connector picks the socket.
            let channel = Endpoint::from_static("http://localhost")
                .initial_stream_window_size(STREAM_WINDOW)
                .initial_connection_window_size(CONNECTION_WINDOW)
                .connect_with_connector(connector)
                .await
                .map_err(|e| grpc_fail("connecting the gRPC socket", e))?;
            let mut client = LinkClient::new(channel)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit);
            // The bench's server only runs while the bench waits for the hello below.
            let requests = ReceiverStream::new(requests).filter_map(Result::ok);
            let response = client
                .exchange(requests)
                .await
                .map_err(|e| grpc_fail("opening the gRPC call", e))?;
            Ok::<_, Fail>((client, response.into_inner()))
        });
        let (client, inbound) =
            open.ok_or_else(|| Fail::new("the bench did not answer the gRPC call"))??;
        let mut link = Exchange {
            inbound: Some(inbound),
            outbound: Some(outbound),
            wire,
            last: Bytes::new(),
            _client: Some(client),
            runtime: Some(runtime),
        };
        link.send(HELLO)?;
        Ok(Box::new(link))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serve until the peer's call is open (a watchdog against a hang, not a time bound).
    fn accepted(mut listening: Listening) -> Exchange {
        for _ in 0..5_000 {
            if let Some((mut inbound, outbound)) = listening.call().expect("call") {
                for _ in 0..5_000 {
                    if listening.hello(&mut inbound).expect("hello").is_some() {
                        return listening.link(inbound, outbound);
                    }
                }
                panic!("no hello from the peer");
            }
        }
        panic!("the peer's call did not arrive");
    }

    #[test]
    fn both_sides_carry_messages_and_close_ends_the_other_receive() {
        let dir = std::env::temp_dir().join(format!("grpc-peer-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        let path = dir.join("grpc.sock");
        let max = 5 << 20;
        let limit = limit(max);
        let listening = Listening::bind(&path, limit).expect("bind");
        // The peer on a thread of its own, as in its own process: it echoes until its
        // receive ends, then closes.
        let arg = format!("{limit}:{}", path.display());
        let peer = std::thread::spawn(move || {
            let mut peer = Kind.peer_side(&arg, Vec::new()).expect("peer side");
            let mut echoed = 0;
            while peer.echo().is_ok() {
                echoed += 1;
            }
            peer.close();
            echoed
        });
        let mut bench = accepted(listening);

        // Empty, small, over one HTTP/2 frame and window, and over gRPC's default 4 MiB limit.
        let sizes = [0, 64, 1 << 20, max];
        for len in sizes {
            let msg: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            bench.send(&msg).expect("send");
            assert_eq!(bench.recv().expect("recv"), &msg[..]);
        }
        // Several in a row before any reply is read (the replies wait in the window).
        for i in 0..3u8 {
            bench.send(&[i; 1000]).expect("send");
        }
        for i in 0..3u8 {
            assert_eq!(bench.recv().expect("recv"), &[i; 1000][..]);
        }

        bench.close();
        assert_eq!(peer.join().expect("the peer thread"), sizes.len() + 3);
        assert!(
            bench.recv().is_err(),
            "the bench still receives after close"
        );
        std::fs::remove_dir_all(&dir).expect("remove the scratch directory");
    }
}
