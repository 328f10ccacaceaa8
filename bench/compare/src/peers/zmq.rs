//! ZeroMQ through the `zmq` crate (0.10, a statically built libzmq 4.3.4): one `PAIR` socket
//! on each side over `ipc://DIR/zmq.sock`, the bench binding and the peer connecting, each
//! message one single-frame zmq message, sent from a slice (`send(&[u8])`, which copies it
//! into a `zmq_msg_t`) and received into one reused `zmq::Message`; `echo` sends the received
//! message back as it is (no copy).
//!
//! How it waits: the application thread blocks in `zmq_msg_recv` (a `poll` on the socket's
//! mailbox descriptor, an eventfd); libzmq's I/O thread (one per context, plus a reaper
//! thread; each side has its own context) does the Unix stream socket's reads and writes and
//! wakes it. So a message crosses two threads on each side: compared with the raw blocking
//! Unix socket (`same_wait` = `unix`).
//!
//! Settings: `ZMQ_LINGER` 0 (a dropped socket never waits for undelivered messages) and
//! `ZMQ_MAXMSGSIZE` -1 (no size limit, libzmq's default, set so that 1 MiB messages are sure
//! to pass); the high-water marks keep libzmq's default of 1000 messages each way.
//!
//! Two library-level messages, since a `PAIR` socket says nothing about its peer:
//! - the peer sends [`HELLO`] right after connecting; the bench's side is complete once it has
//!   received it (so the bench knows the peer is there, and the peer's exit is watched while
//!   waiting);
//! - `close` sends an end marker, a two-frame message (two empty frames). Every bench message
//!   is a single frame, so a multipart message cannot be one; `recv` returns an error once it
//!   gets the marker, and on every call after that. The socket itself stays open until the
//!   link is dropped: with linger 0, closing it right away could discard the marker, or the
//!   `quit` just before it. libzmq gives `PAIR` no notice of a peer that disconnects or dies,
//!   so a peer whose bench was killed (SIGKILL) would wait in `recv` until it is killed too.
//!
//! Files: libzmq binds the socket file in the bench's scratch directory (removing a stale one
//! first) and removes it when the bound socket closes; nothing in /dev/shm or elsewhere.

use std::os::fd::OwnedFd;

use libipc_bench::{Fail, Link, Pattern, Result};
use libipc_bench_unix::{BenchSide, LinkKind, POLL_SLEEP, Setup};

/// The peer's first message, telling the bench it has connected.
const HELLO: &[u8] = b"zmq-bench-hello";

/// The longest socket path libzmq's `ipc://` takes (`sun_path` less its terminating NUL).
const MAX_PATH: usize = 107;

/// `what` failed with a zmq error, as the bench's error (`zmq::Error` is no `Into<Fail>`).
trait ZmqContext<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T>;
}

impl<T> ZmqContext<T> for zmq::Result<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| Fail::new(format!("{what}: {e}")))
    }
}

/// A connected `PAIR` socket.
struct Pair {
    socket: zmq::Socket,
    /// The last message received.
    msg: zmq::Message,
    /// `close` has sent the end marker: nothing more is sent.
    closed: bool,
    /// The end marker has been received: `recv` fails from now on.
    ended: bool,
}

impl Pair {
    fn new(socket: zmq::Socket) -> Pair {
        Pair {
            socket,
            msg: zmq::Message::new(),
            closed: false,
            ended: false,
        }
    }

    /// Receive one message into `msg`; the end marker (a multipart message) is an error.
    fn recv_msg(&mut self) -> Result {
        if self.ended {
            return Err(Fail::new("the zmq link has ended"));
        }
        self.socket.recv(&mut self.msg, 0).context("zmq receive")?;
        if self.msg.get_more() {
            // The end marker: take its remaining frames, which arrive with the first.
            while self.msg.get_more() {
                self.socket.recv(&mut self.msg, 0).context("zmq receive")?;
            }
            self.ended = true;
            return Err(Fail::new("the zmq link has ended (end marker)"));
        }
        Ok(())
    }

    fn check_open(&self) -> Result {
        if self.closed {
            return Err(Fail::new("the zmq link is closed"));
        }
        Ok(())
    }
}

impl Link for Pair {
    fn send(&mut self, msg: &[u8]) -> Result {
        self.check_open()?;
        self.socket.send(msg, 0).context("zmq send")
    }

    fn recv(&mut self) -> Result<&[u8]> {
        self.recv_msg()?;
        Ok(&self.msg)
    }

    fn echo(&mut self) -> Result {
        self.recv_msg()?;
        self.check_open()?;
        let msg = std::mem::replace(&mut self.msg, zmq::Message::new());
        self.socket.send(msg, 0).context("zmq send")
    }

    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        // Without waiting: if it cannot be queued, the other side is gone (a PAIR socket
        // without its peer would block a send for ever).
        let empty: &[u8] = &[];
        let _ = self.socket.send(empty, zmq::SNDMORE | zmq::DONTWAIT);
        let _ = self.socket.send(empty, zmq::DONTWAIT);
    }
}

/// A `PAIR` socket in a context of its own, set up as the module docs say.
fn pair_socket() -> Result<zmq::Socket> {
    let socket = zmq::Context::new()
        .socket(zmq::PAIR)
        .context("making a zmq PAIR socket")?;
    socket.set_linger(0).context("setting ZMQ_LINGER")?;
    socket
        .set_maxmsgsize(-1)
        .context("setting ZMQ_MAXMSGSIZE")?;
    Ok(socket)
}

/// The `zmq:ipc` rows.
#[derive(Debug)]
pub(crate) struct Kind;

impl LinkKind for Kind {
    fn system(&self) -> &str {
        "zmq"
    }

    fn transport(&self) -> &str {
        "ipc"
    }

    fn patterns(&self) -> &[Pattern] {
        &Pattern::ALL
    }

    fn same_wait(&self) -> Option<&str> {
        Some(libipc_bench_unix::Baseline::Unix.name())
    }

    fn bench_side(&self, setup: &Setup<'_>) -> Result<BenchSide> {
        let path = setup.dir.join("zmq.sock");
        let path = path
            .to_str()
            .ok_or_else(|| Fail::new(format!("{} is not UTF-8", path.display())))?
            .to_owned();
        if path.len() > MAX_PATH {
            return Err(Fail::new(format!(
                "the zmq socket path {path} is longer than {MAX_PATH} bytes"
            )));
        }
        let socket = pair_socket()?;
        socket
            .bind(&format!("ipc://{path}"))
            .context(format_args!("binding zmq to ipc://{path}"))?;
        Ok(BenchSide {
            arg: path,
            inherit: Vec::new(),
            channel: false,
            finish: Box::new(move |started| {
                let mut msg = zmq::Message::new();
                started.wait_for(|| match socket.recv(&mut msg, zmq::DONTWAIT) {
                    Ok(()) if &*msg == HELLO && !msg.get_more() => Ok(Some(())),
                    Ok(()) => Err(Fail::new(format!(
                        "the zmq peer's first message was {:?}, not its hello",
                        String::from_utf8_lossy(&msg)
                    ))),
                    Err(zmq::Error::EAGAIN) => {
                        std::thread::sleep(POLL_SLEEP);
                        Ok(None)
                    }
                    Err(e) => Err(e).context("zmq receive"),
                })?;
                Ok(Box::new(Pair::new(socket)))
            }),
        })
    }

    fn peer_side(&self, arg: &str, _: Vec<OwnedFd>) -> Result<Box<dyn Link>> {
        let socket = pair_socket()?;
        socket
            .connect(&format!("ipc://{arg}"))
            .context(format_args!("connecting zmq to ipc://{arg}"))?;
        socket.send(HELLO, 0).context("sending the zmq hello")?;
        Ok(Box::new(Pair::new(socket)))
    }
}
