//! The two Rust APIs the conformance suite runs over: the blocking [`Channel`] /
//! [`Listener`] and the async [`AsyncChannel`] / [`AsyncListener`] (on tokio).
//!
//! A test written once as `fn name(t: Transport, api: Api)` uses [`Api`], [`Ch`] and [`Lis`],
//! which call either API with the same blocking signatures (the async one through a shared
//! tokio runtime's `block_on`, from the test's own threads), and runs for both through
//! [`api_tests!`](crate::api_tests). Timeouts on the async side are tokio's: the future is
//! dropped, which the async API promises loses nothing.

#[cfg(unix)]
use std::sync::OnceLock;
use std::time::Duration;

#[cfg(unix)]
use libipc::Error;
#[cfg(unix)]
use libipc::aio::{AsyncChannel, AsyncListener};
use libipc::{Channel, Endpoint, ErrorKind, Listener, Message, Options, PeerCredentials, Wait};

/// Which API a test drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `libipc::{Channel, Listener}`.
    Blocking,
    /// `libipc::aio::{AsyncChannel, AsyncListener}` (Unix: the async API needs tokio's
    /// `AsyncFd`).
    #[cfg(unix)]
    Async,
}

#[cfg(unix)]
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

#[cfg(unix)]
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// A timed async call: `Timeout` when it does not finish in time (the future is dropped).
#[cfg(unix)]
fn timed<T>(
    t: Duration,
    f: impl std::future::Future<Output = libipc::Result<T>>,
) -> libipc::Result<T> {
    block_on(async move {
        match tokio::time::timeout(t, f).await {
            Ok(r) => r,
            Err(_) => Err(Error::new(ErrorKind::Timeout, "timed out (tokio)")),
        }
    })
}

/// A channel of either API. Cloning shares the channel.
#[derive(Debug, Clone)]
pub enum Ch {
    /// Blocking.
    Blocking(Channel),
    /// Async.
    #[cfg(unix)]
    Async(AsyncChannel),
}

impl Api {
    /// Connect with default options.
    pub fn connect(self, ep: &str) -> libipc::Result<Ch> {
        self.connect_with(ep, &Options::default())
    }

    /// Connect with options.
    pub fn connect_with(self, ep: &str, opts: &Options) -> libipc::Result<Ch> {
        match self {
            Api::Blocking => Channel::connect_with(ep, opts).map(Ch::Blocking),
            #[cfg(unix)]
            Api::Async => block_on(AsyncChannel::connect_with(ep, opts)).map(Ch::Async),
        }
    }

    /// Bind with default options.
    pub fn bind(self, ep: &str) -> libipc::Result<Lis> {
        self.bind_with(ep, &Options::default())
    }

    /// Bind with options.
    pub fn bind_with(self, ep: &str, opts: &Options) -> libipc::Result<Lis> {
        match self {
            Api::Blocking => Listener::bind_with(ep, opts).map(Lis::Blocking),
            #[cfg(unix)]
            Api::Async => block_on(AsyncListener::bind_with(ep, opts)).map(Lis::Async),
        }
    }
}

impl Ch {
    /// Send one message, waiting without limit.
    pub fn send(&self, data: &[u8]) -> libipc::Result<()> {
        match self {
            Ch::Blocking(c) => c.send(data),
            #[cfg(unix)]
            Ch::Async(c) => block_on(c.send(data)),
        }
    }

    /// Send, waiting at most `t`.
    pub fn send_timeout(&self, data: &[u8], t: Duration) -> libipc::Result<()> {
        match self {
            Ch::Blocking(c) => c.send_timeout(data, t),
            #[cfg(unix)]
            Ch::Async(c) => block_on(c.send_timeout(data, t)),
        }
    }

    /// Send within `wait` (its deadline and cancellation handles).
    pub fn send_wait(&self, data: &[u8], wait: Wait<'_>) -> libipc::Result<()> {
        match self {
            Ch::Blocking(c) => c.send_wait(data, wait),
            #[cfg(unix)]
            Ch::Async(c) => block_on(c.send_wait(data, wait)),
        }
    }

    /// Receive within `wait` (its deadline and cancellation handles).
    pub fn recv_wait(&self, wait: Wait<'_>) -> libipc::Result<Message> {
        match self {
            Ch::Blocking(c) => c.recv_wait(wait),
            #[cfg(unix)]
            Ch::Async(c) => block_on(c.recv_wait(wait)),
        }
    }

    /// Receive, waiting without limit.
    pub fn recv(&self) -> libipc::Result<Message> {
        match self {
            Ch::Blocking(c) => c.recv(),
            #[cfg(unix)]
            Ch::Async(c) => block_on(c.recv()),
        }
    }

    /// Receive, waiting at most `t` (async: the `recv` future is dropped after `t`).
    pub fn recv_timeout(&self, t: Duration) -> libipc::Result<Message> {
        match self {
            Ch::Blocking(c) => c.recv_timeout(t),
            #[cfg(unix)]
            Ch::Async(c) => timed(t, c.recv()),
        }
    }

    /// A message if one is there now, else `Timeout`.
    pub fn try_recv(&self) -> libipc::Result<Message> {
        match self {
            Ch::Blocking(c) => c.try_recv(),
            #[cfg(unix)]
            Ch::Async(c) => c.try_recv(),
        }
    }

    /// Orderly close.
    pub fn close(&self) {
        match self {
            Ch::Blocking(c) => c.close(),
            #[cfg(unix)]
            Ch::Async(c) => block_on(c.close()),
        }
    }

    /// The peer's credentials.
    pub fn peer(&self) -> PeerCredentials {
        match self {
            Ch::Blocking(c) => c.peer(),
            #[cfg(unix)]
            Ch::Async(c) => c.peer(),
        }
    }

    /// The largest message this channel sends.
    pub fn max_message_size(&self) -> usize {
        match self {
            Ch::Blocking(c) => c.max_message_size(),
            #[cfg(unix)]
            Ch::Async(c) => c.max_message_size(),
        }
    }

    /// Messages until the orderly end (`Closed`); any other error is yielded and ends it.
    pub fn iter(&self) -> impl Iterator<Item = libipc::Result<Message>> + '_ {
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            match self.recv() {
                Err(e) if e.kind() == ErrorKind::Closed => None,
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
                ok => Some(ok),
            }
        })
    }
}

/// A listener of either API.
#[derive(Debug)]
pub enum Lis {
    /// Blocking.
    Blocking(Listener),
    /// Async.
    #[cfg(unix)]
    Async(AsyncListener),
}

impl Lis {
    /// Wait for the next client.
    pub fn accept(&self) -> libipc::Result<Ch> {
        match self {
            Lis::Blocking(l) => l.accept().map(Ch::Blocking),
            #[cfg(unix)]
            Lis::Async(l) => block_on(l.accept()).map(Ch::Async),
        }
    }

    /// Wait for the next client within `wait` (its deadline and cancellation handles).
    pub fn accept_wait(&self, wait: Wait<'_>) -> libipc::Result<Ch> {
        match self {
            Lis::Blocking(l) => l.accept_wait(wait).map(Ch::Blocking),
            #[cfg(unix)]
            Lis::Async(l) => block_on(l.accept_wait(wait)).map(Ch::Async),
        }
    }

    /// Wait at most `t` for the next client.
    pub fn accept_timeout(&self, t: Duration) -> libipc::Result<Ch> {
        match self {
            Lis::Blocking(l) => l.accept_timeout(t).map(Ch::Blocking),
            #[cfg(unix)]
            Lis::Async(l) => block_on(l.accept_timeout(t)).map(Ch::Async),
        }
    }

    /// Where clients connect (with the real port for `tcp://...:0`).
    pub fn local_endpoint(&self) -> &Endpoint {
        match self {
            Lis::Blocking(l) => l.local_endpoint(),
            #[cfg(unix)]
            Lis::Async(l) => l.local_endpoint(),
        }
    }

    /// Stop accepting.
    pub fn close(&self) {
        match self {
            Lis::Blocking(l) => l.close(),
            #[cfg(unix)]
            Lis::Async(l) => block_on(async { l.close() }),
        }
    }
}

/// What [`stream::run`](crate::stream::run) needs of a channel.
pub trait MessageChannel: Sync {
    /// Send, waiting without limit.
    fn send_msg(&self, data: &[u8]) -> libipc::Result<()>;
    /// Receive, waiting without limit.
    fn recv_msg(&self) -> libipc::Result<Message>;
    /// Orderly close.
    fn close_channel(&self);
}

impl MessageChannel for Channel {
    fn send_msg(&self, data: &[u8]) -> libipc::Result<()> {
        self.send(data)
    }
    fn recv_msg(&self) -> libipc::Result<Message> {
        self.recv()
    }
    fn close_channel(&self) {
        self.close();
    }
}

impl MessageChannel for Ch {
    fn send_msg(&self, data: &[u8]) -> libipc::Result<()> {
        self.send(data)
    }
    fn recv_msg(&self) -> libipc::Result<Message> {
        self.recv()
    }
    fn close_channel(&self) {
        self.close();
    }
}

/// Instantiate tests once per transport and API. Each `fn name(t: Transport, api: Api)` in
/// the calling module becomes `<transport>::blocking::name` and `<transport>::aio::name` for
/// every transport of [`transport_tests!`](crate::transport_tests), each under a
/// [`Watchdog`](crate::watchdog::Watchdog).
#[macro_export]
macro_rules! api_tests {
    ($($test:ident),+ $(,)?) => {
        $crate::transport_tests!(apis: $($test),+);
    };
    (@api $module:ident, $api:ident, $variant:ident, $($test:ident),+) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    let _watchdog = $crate::watchdog::Watchdog::start();
                    super::super::$test(
                        $crate::transport::Transport::$variant,
                        $crate::api::Api::$api,
                    );
                }
            )+
        }
    };
}
