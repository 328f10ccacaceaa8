//! The libipc transports as link kinds ([`Transport`], [`TRANSPORTS`]): the bench listens,
//! the peer connects (or, for `pair`, inherits its end of a socket pair), and both use the
//! channel the way an application would ([`IpcLink`]).

use std::os::fd::OwnedFd;
use std::time::Duration;

use libipc::{Channel, Endpoint, ErrorKind, Listener};
use libipc_bench::{Context, Fail, IpcLink, Link, Pattern, Result};

use crate::kind::{BenchSide, LinkKind, Setup};
use crate::raw::{BLOCKING, Baseline};

/// A libipc transport the bench can measure. A new transport is one more [`TRANSPORTS`] entry.
/// Its rows' `system` is "libipc"; the peer is told the endpoint the bench listens at.
#[derive(Debug)]
pub struct Transport {
    pub name: &'static str,
    /// The endpoint to listen at, given a [`Setup`] (its scratch directory and unique name).
    pub endpoint: fn(&Setup<'_>) -> String,
    /// The raw baseline that waits the way it does, its rows' "vs same-wait" (they are also
    /// compared with [`BLOCKING`]). A variant that waits differently (say, shm with spinning
    /// enabled, against `shm-spin`) is its own entry.
    pub same_wait: Baseline,
    /// Whether this build can measure it; if not, naming it is a usage error.
    pub ready: bool,
    /// How long shared-memory channels spin before sleeping (both sides; ignored elsewhere).
    pub spin: Duration,
}

pub const TRANSPORTS: &[Transport] = &[
    Transport {
        name: "unix",
        endpoint: |s| format!("unix://{}/libipc.sock", s.dir.display()),
        same_wait: Baseline::UnixSpin,
        ready: true,
        spin: Duration::ZERO,
    },
    Transport {
        name: "tcp",
        endpoint: |_| "tcp://127.0.0.1:0".to_owned(),
        same_wait: Baseline::UnixSpin,
        ready: true,
        spin: Duration::ZERO,
    },
    // FIFOs (a rendezvous FIFO and two per connection), against the raw FIFO pair that spins
    // first like libipc's stream channels.
    Transport {
        name: "fifo",
        endpoint: |s| format!("fifo://{}/libipc.fifo", s.dir.display()),
        same_wait: Baseline::PipeSpin,
        ready: true,
        spin: Duration::ZERO,
    },
    // A socket pair whose one end the peer inherited (`Channel::spawn` here, `Channel::from_env`
    // in the peer), frames as over a Unix socket.
    Transport {
        name: "pair",
        endpoint: |_| INHERITED.to_owned(),
        same_wait: Baseline::UnixSpin,
        ready: true,
        spin: Duration::ZERO,
    },
    // Stream transports spin before sleeping (libipc's default stream spin), like `unix-spin`.
    // Shared memory without spinning, against the raw ring that sleeps on a futex at once.
    Transport {
        name: "shm",
        endpoint: |s| format!("shm://{}", s.unique_name()),
        same_wait: Baseline::ShmFutex,
        ready: true,
        spin: Duration::ZERO,
    },
    // Shared memory with libipc's default spinning, against the raw busy-spinning ping-pong.
    Transport {
        name: "shm-spin",
        endpoint: |s| format!("shm://{}-spin", s.unique_name()),
        same_wait: Baseline::ShmSpin,
        ready: true,
        spin: libipc::DEFAULT_SHM_SPIN,
    },
];

/// The "endpoint" of the `pair` transport: the peer opens it with `Channel::from_env`.
pub const INHERITED: &str = "inherited:LIBIPC_CHANNEL_FD";

impl Transport {
    fn options(&self) -> libipc::Options {
        libipc::Options::new().with_shm_spin(self.spin)
    }
}

impl LinkKind for Transport {
    fn system(&self) -> &str {
        "libipc"
    }

    fn transport(&self) -> &str {
        self.name
    }

    fn patterns(&self) -> &[Pattern] {
        &Pattern::ALL
    }

    fn same_wait(&self) -> Option<&str> {
        Some(self.same_wait.name())
    }

    fn blocking_baseline(&self) -> Option<&str> {
        Some(BLOCKING.name())
    }

    fn bench_side(&self, setup: &Setup<'_>) -> Result<BenchSide> {
        let endpoint = (self.endpoint)(setup);
        let shm = self.name.starts_with("shm");
        if endpoint == INHERITED {
            // Opened by the peer with `Channel::from_env`; finished as it starts.
            return Ok(BenchSide {
                arg: endpoint,
                inherit: Vec::new(),
                channel: true,
                finish: Box::new(move |started| {
                    Ok(Box::new(IpcLink::new(started.channel()?).in_place(shm)))
                }),
            });
        }
        let listener = bind(&endpoint, &self.options())?;
        let name = self.name;
        Ok(BenchSide {
            arg: listener.local_endpoint().to_string(),
            inherit: Vec::new(),
            channel: false,
            finish: Box::new(move |started| {
                let channel = started.wait_for(|| {
                    match listener.accept_timeout(Duration::from_millis(50)) {
                        Ok(channel) => Ok(Some(channel)),
                        Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
                        Err(e) => Err(e).context(format_args!("accepting the {name} link")),
                    }
                })?;
                // The listener lives as long as the link, as in an application (closing it
                // would make the set-up time include its shutdown).
                Ok(Box::new(Listening {
                    link: IpcLink::new(channel).in_place(shm),
                    _listener: listener,
                }))
            }),
        })
    }

    fn peer_side(&self, arg: &str, _: Vec<OwnedFd>) -> Result<Box<dyn Link>> {
        let channel = if arg == INHERITED {
            Channel::from_env()?
        } else {
            Channel::connect_with(arg, &self.options())?
        };
        Ok(Box::new(
            IpcLink::new(channel).in_place(self.name.starts_with("shm")),
        ))
    }
}

/// An accepted link and the listener it came from.
struct Listening {
    link: IpcLink,
    _listener: Listener,
}

impl Link for Listening {
    fn send(&mut self, msg: &[u8]) -> Result {
        self.link.send(msg)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        self.link.recv()
    }

    fn echo(&mut self) -> Result {
        self.link.echo()
    }

    fn discard(&mut self) -> Result {
        self.link.discard()
    }

    fn close(&mut self) {
        self.link.close();
    }
}

/// Listen at `endpoint`; a failure names the endpoint.
fn bind(endpoint: &str, opts: &libipc::Options) -> Result<Listener> {
    let naming = |e: libipc::Error| {
        let named = e.message().contains(endpoint);
        let fail = Fail::from(e);
        if named {
            fail
        } else {
            fail.within(format_args!("listening at {endpoint}"))
        }
    };
    let ep = Endpoint::parse(endpoint)?;
    Listener::bind_with(&ep, opts).map_err(naming)
}
