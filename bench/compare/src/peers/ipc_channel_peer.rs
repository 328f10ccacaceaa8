//! servo's `ipc-channel` (0.23): two bytes channels (`ipc::bytes_channel`, no serde on the
//! messages), one per direction, as its users would join two processes.
//!
//! Joining: the bench makes an `IpcOneShotServer` and tells the peer its name (a socket path);
//! the peer makes both channels, connects and sends the bench `(to_peer, from_peer)`: the
//! sender of the peer's receiving channel and the receiver of the peer's sending one, passed
//! as descriptors.
//!
//! Waiting: on Linux a channel is a `SOCK_SEQPACKET` socket pair, and `recv` is a blocking
//! `recvmsg`, so the rows compare with the raw `unix` baseline (blocking Unix sockets). Every
//! received message is a fresh `Vec`. A message larger than one fragment (the socket's send
//! buffer, about 200 KiB here) goes through a new socket pair made for that message alone,
//! its receiving end sent with the first fragment: part of what the large rows measure. The
//! library starts no threads.
//!
//! Ending: `close` drops the sender, the socket's last copy, so the other side's `recv` ends
//! with `Disconnected`: no end marker is needed.
//!
//! Files: the one-shot server binds `socket` in a directory of its own under the temporary
//! directory (`$TMPDIR`, else /tmp: `.tmpXXXXXX`), which the library removes once it has
//! accepted the peer. This side also removes it when the peer never joins, and if the bench
//! fails before the peer is started (the server dropped). Only a bench killed while its peer
//! is starting leaves it behind.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use ipc_channel::ipc::{self, IpcBytesReceiver, IpcBytesSender, IpcOneShotServer, IpcSender};
use libipc_bench::{Context, Fail, Link, Pattern, Result};
use libipc_bench_unix::{BenchSide, LinkKind, Setup};

/// What the peer sends the bench through the one-shot server: the sender of the peer's
/// receiving channel and the receiver of its sending channel.
type Join = (IpcBytesSender, IpcBytesReceiver);

/// One side's two channel ends.
struct Bytes {
    /// `None` once closed (see [`Link::close`]).
    tx: Option<IpcBytesSender>,
    rx: IpcBytesReceiver,
    /// The last message received.
    last: Vec<u8>,
}

impl Bytes {
    fn new((tx, rx): Join) -> Bytes {
        Bytes {
            tx: Some(tx),
            rx,
            last: Vec::new(),
        }
    }

    fn tx(&self) -> Result<&IpcBytesSender> {
        self.tx
            .as_ref()
            .ok_or_else(|| Fail::new("the ipc-channel sender is closed"))
    }

    fn receive(&mut self) -> Result {
        self.last = self
            .rx
            .recv()
            .map_err(|e| Fail::new(format!("ipc-channel receive: {e}")))?;
        Ok(())
    }
}

impl Link for Bytes {
    fn send(&mut self, msg: &[u8]) -> Result {
        self.tx()?.send(msg).context("ipc-channel send")
    }

    fn recv(&mut self) -> Result<&[u8]> {
        self.receive()?;
        Ok(&self.last)
    }

    fn echo(&mut self) -> Result {
        self.receive()?;
        self.tx()?.send(&self.last).context("ipc-channel send")
    }

    fn close(&mut self) {
        // The only copy of this sender's socket: the other side's receive sees it closed.
        self.tx = None;
    }
}

/// The one-shot server's `accept`, which blocks with no timeout, on a thread of its own, so
/// that the bench can watch the peer process meanwhile.
struct Acceptor {
    accepted: mpsc::Receiver<std::result::Result<Join, String>>,
    thread: std::thread::JoinHandle<()>,
    /// The server's name: the socket's path.
    name: String,
}

impl Acceptor {
    fn start(server: IpcOneShotServer<Join>, name: String) -> Result<Acceptor> {
        let (done, accepted) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("ipc-channel-accept".into())
            .spawn(move || {
                // The server, and with it its directory, is gone once `accept` returns.
                let result = server.accept().map(|(_, join)| join);
                let _ = done.send(result.map_err(|e| e.to_string()));
            })
            .context("starting the ipc-channel accept thread")?;
        Ok(Acceptor {
            accepted,
            thread,
            name,
        })
    }

    /// The peer's ends once it has joined; waits a little when it has not yet.
    fn poll(&self) -> Result<Option<Join>> {
        match self.accepted.recv_timeout(Duration::from_millis(2)) {
            Ok(Ok(join)) => Ok(Some(join)),
            Ok(Err(e)) => Err(Fail::new(format!("ipc-channel accept: {e}"))),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                Err(Fail::new("the ipc-channel accept thread ended"))
            }
        }
    }

    /// Give up on the peer: connect and hang up, which ends the `accept` (it fails: nothing
    /// was sent), and remove the server's directory here too, in case the thread has not
    /// done so when this process exits. The thread is not waited for.
    fn abandon(self) -> std::thread::JoinHandle<()> {
        drop(IpcSender::<Join>::connect(self.name.clone()));
        if let Some(dir) = Path::new(&self.name).parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.thread
    }
}

/// The `ipc-channel:unix` rows.
#[derive(Debug)]
pub(crate) struct Kind;

impl LinkKind for Kind {
    fn system(&self) -> &str {
        "ipc-channel"
    }

    fn transport(&self) -> &str {
        "unix"
    }

    fn patterns(&self) -> &[Pattern] {
        &Pattern::ALL
    }

    fn same_wait(&self) -> Option<&str> {
        Some(libipc_bench_unix::Baseline::Unix.name())
    }

    fn bench_side(&self, _: &Setup<'_>) -> Result<BenchSide> {
        let (server, name) =
            IpcOneShotServer::<Join>::new().context("making the ipc-channel one-shot server")?;
        Ok(BenchSide {
            arg: name.clone(),
            inherit: Vec::new(),
            channel: false,
            finish: Box::new(move |started| {
                let acceptor = Acceptor::start(server, name)?;
                match started.wait_for(|| acceptor.poll()) {
                    Ok(join) => Ok(Box::new(Bytes::new(join))),
                    Err(e) => {
                        acceptor.abandon();
                        Err(e)
                    }
                }
            }),
        })
    }

    fn peer_side(&self, arg: &str, _: Vec<OwnedFd>) -> Result<Box<dyn Link>> {
        let (to_peer, from_bench) =
            ipc::bytes_channel().context("making the ipc-channel bytes channel")?;
        let (to_bench, from_peer) =
            ipc::bytes_channel().context("making the ipc-channel bytes channel")?;
        IpcSender::<Join>::connect(arg.to_owned())
            .context("connecting to the ipc-channel one-shot server")?
            .send((to_peer, from_peer))
            .map_err(|e| Fail::new(format!("sending the ipc-channel ends: {e}")))?;
        Ok(Box::new(Bytes::new((to_bench, from_bench))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Poll until the peer's ends arrive (a watchdog against a hang, not a time bound).
    fn accepted(acceptor: &Acceptor) -> Join {
        for _ in 0..5_000 {
            if let Some(join) = acceptor.poll().expect("accept") {
                return join;
            }
        }
        panic!("the peer's ends did not arrive");
    }

    #[test]
    fn both_sides_carry_messages_and_close_ends_the_other_receive() {
        let (server, name) = IpcOneShotServer::<Join>::new().expect("server");
        let dir = Path::new(&name).parent().expect("a directory").to_owned();
        assert!(dir.is_dir(), "{dir:?}");
        let acceptor = Acceptor::start(server, name.clone()).expect("acceptor");
        // The peer on a thread of its own: a message over one fragment is sent only while the
        // other side receives it. It echoes until its receive ends, then closes.
        let peer = std::thread::spawn(move || {
            let mut peer = Kind.peer_side(&name, Vec::new()).expect("peer side");
            let mut echoed = 0;
            while peer.echo().is_ok() {
                echoed += 1;
            }
            peer.close();
            echoed
        });
        let mut bench = Bytes::new(accepted(&acceptor));
        assert!(!dir.exists(), "the server's directory is left: {dir:?}");

        // Under one fragment and over it.
        let sizes = [0, 64, 1 << 20];
        for len in sizes {
            let msg: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            bench.send(&msg).expect("send");
            assert_eq!(bench.recv().expect("recv"), &msg[..]);
        }

        bench.close();
        assert_eq!(peer.join().expect("the peer thread"), sizes.len());
        assert!(
            bench.recv().is_err(),
            "the bench still receives after close"
        );
    }

    #[test]
    fn abandoning_a_peer_that_never_joins_ends_the_accept_and_removes_the_directory() {
        let (server, name) = IpcOneShotServer::<Join>::new().expect("server");
        let dir = Path::new(&name).parent().expect("a directory").to_owned();
        let acceptor = Acceptor::start(server, name).expect("acceptor");
        assert!(acceptor.poll().expect("poll").is_none());
        acceptor.abandon().join().expect("the accept thread");
        assert!(!dir.exists(), "the server's directory is left: {dir:?}");
    }
}
