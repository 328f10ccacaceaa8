//! [`LinkKind`]: one kind of link the bench measures, as both processes make it.
//!
//! A kind is one row name: its `system` ("raw", "libipc", or a peer library such as "zmq")
//! and its `transport` ("unix", "shm-spin", ...). The bench makes its side before the peer
//! starts ([`LinkKind::bench_side`]), which says what the peer is told and how the bench
//! completes its side once the peer runs ([`BenchSide`]); the peer is told
//! `SYSTEM:TRANSPORT=ARG` ([`LinkSpec`]) and makes its side from that
//! ([`LinkKind::peer_side`]). Both processes run the same executable and so know the same
//! kinds: the peer looks each spec up by name among the kinds it is given ([`find`]).
//!
//! This crate's kinds are the raw baselines ([`Baseline`](crate::Baseline)) and the libipc
//! transports ([`Transport`](crate::Transport)); another crate adds its own by implementing
//! the trait.

use std::os::fd::{OwnedFd, RawFd};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use libipc::Channel;
use libipc_bench::{Fail, Link, Pattern, Result};

/// How long the peer may take to start and connect, or to exit after `quit`.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a [`Started::wait_for`] poll that found nothing sleeps before the next: short,
/// because connection set-up is measured up to the bench noticing the peer's connection.
pub const POLL_SLEEP: Duration = Duration::from_micros(100);

/// One kind of link: a row name, the patterns it is measured with, and how each process makes
/// its side.
pub trait LinkKind {
    /// The rows' `system`: "raw", "libipc", or a peer's name. No `:` or `=` in it.
    fn system(&self) -> &str;
    /// The rows' `transport` ("unix", "shm-spin", ...). No `=` in it.
    fn transport(&self) -> &str;
    /// The patterns it is measured with.
    fn patterns(&self) -> &[Pattern];
    /// The raw baseline (its `transport`) that waits the same way, whose rows this kind's rows
    /// are compared with ("vs same-wait"); `None`: not compared.
    fn same_wait(&self) -> Option<&str> {
        None
    }
    /// The plain blocking raw baseline this kind's rows are also compared with ("vs
    /// blocking"); `None`: not compared.
    fn blocking_baseline(&self) -> Option<&str> {
        None
    }
    /// The bench's side, made before the peer starts.
    fn bench_side(&self, setup: &Setup<'_>) -> Result<BenchSide>;
    /// The peer's first pass, run for every link before any is opened: the descriptors this
    /// link inherited, named by `arg`, and what each must be (see [`Inherit`]). By default
    /// none.
    fn inherits(&self, arg: &str) -> Result<Vec<Inherit>> {
        let _ = arg;
        Ok(Vec::new())
    }
    /// The peer's side, from `arg` (what [`BenchSide::arg`] said) and the descriptors
    /// [`LinkKind::inherits`] named, now owned, in the same order.
    fn peer_side(&self, arg: &str, inherited: Vec<OwnedFd>) -> Result<Box<dyn Link>>;
}

impl std::fmt::Debug for dyn LinkKind + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.system(), self.transport())
    }
}

/// What the bench's side may use to set itself up.
#[derive(Debug, Clone, Copy)]
pub struct Setup<'a> {
    /// A private directory (mode 0700) for this link's sockets and FIFOs, removed after the
    /// run: one per link, so that a peer may open several links of the same kind.
    pub dir: &'a Path,
    /// The largest message that will be sent.
    pub max_message: usize,
    /// The bench's scratch directory's name (`ipc-bench-PID-N`), unique among running benches.
    pub(crate) bench: &'a str,
    /// The link's place among the peer's links.
    pub(crate) link: usize,
}

impl Setup<'_> {
    /// A name unique among running benches and among this bench's links
    /// (`ipc-bench-PID-N-LINK`): for names outside [`Setup::dir`] (shared memory, abstract
    /// sockets).
    pub fn unique_name(&self) -> String {
        format!("{}-{}", self.bench, self.link)
    }
}

/// Completes the bench's side of a link once the peer runs.
pub type Finish = Box<dyn FnOnce(&mut Started<'_>) -> Result<Box<dyn Link>>>;

/// The bench's side of a link before the peer starts.
pub struct BenchSide {
    /// What the peer is told (after `SYSTEM:TRANSPORT=`).
    pub arg: String,
    /// The peer's copies of descriptors it inherits (made without `FD_CLOEXEC`), closed here
    /// once it has started: a copy left open here would hide the peer's exit.
    pub inherit: Vec<OwnedFd>,
    /// Whether the peer is started with a libipc channel over an inherited socket pair
    /// (`Channel::spawn`); [`Started::channel`] gives the bench's end. One link at most.
    pub channel: bool,
    /// Completes the link once the peer runs (accepting its connection, say).
    pub finish: Finish,
}

impl BenchSide {
    /// A side that is complete already (`link`), telling the peer `arg`.
    pub fn ready(arg: String, link: Box<dyn Link>) -> BenchSide {
        BenchSide {
            arg,
            inherit: Vec::new(),
            channel: false,
            finish: Box::new(move |_| Ok(link)),
        }
    }
}

impl std::fmt::Debug for BenchSide {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchSide")
            .field("arg", &self.arg)
            .field("inherit", &self.inherit)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// The running peer, as the bench's sides see it while completing their links.
#[derive(Debug)]
pub struct Started<'a> {
    pub(crate) child: &'a mut Child,
    pub(crate) channel: Option<Channel>,
}

impl Started<'_> {
    /// Poll `accept` until the peer connects (`Some`), failing if the peer exits or takes
    /// longer than [`PEER_TIMEOUT`]. `accept` should wait a little when nothing is there yet.
    pub fn wait_for<T>(&mut self, mut accept: impl FnMut() -> Result<Option<T>>) -> Result<T> {
        let deadline = Instant::now() + PEER_TIMEOUT;
        loop {
            if let Some(link) = accept()? {
                return Ok(link);
            }
            if let Some(status) = self.child.try_wait()? {
                return Err(Fail::new(format!(
                    "the bench peer exited before connecting ({status})"
                )));
            }
            if Instant::now() > deadline {
                return Err(Fail::new("the bench peer did not connect within 10 s"));
            }
        }
    }

    /// The bench's end of the channel the peer inherited (see [`BenchSide::channel`]).
    pub fn channel(&mut self) -> Result<Channel> {
        self.channel
            .take()
            .ok_or_else(|| Fail::new("no inherited channel (or it was taken already)"))
    }
}

/// A descriptor the peer inherited, as [`LinkKind::inherits`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inherit {
    /// Its number in the peer.
    pub fd: RawFd,
    /// What `/proc/self/fd/FD` must point to, up to the first `:` inclusive ("memfd:",
    /// "socket:").
    pub kind: &'static str,
}

/// One link for the peer to open: `SYSTEM:TRANSPORT=ARG`, e.g. `raw:unix=SOCKET_PATH`,
/// `libipc:tcp=tcp://127.0.0.1:40123`. `ARG` may itself contain `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    pub system: String,
    pub transport: String,
    pub arg: String,
}

impl LinkSpec {
    pub fn new(kind: &dyn LinkKind, arg: String) -> LinkSpec {
        LinkSpec {
            system: kind.system().to_owned(),
            transport: kind.transport().to_owned(),
            arg,
        }
    }

    /// The spec as one command-line argument.
    pub fn to_arg(&self) -> String {
        format!("{}:{}={}", self.system, self.transport, self.arg)
    }

    /// Parse `SYSTEM:TRANSPORT=ARG`, naming one of `kinds`, and check `ARG` as far as the
    /// kind can without owning anything ([`LinkKind::inherits`]).
    pub fn parse(text: &str, kinds: &[&dyn LinkKind]) -> Result<LinkSpec, String> {
        let expected = || {
            let names: Vec<String> = kinds
                .iter()
                .map(|k| format!("{}:{}", k.system(), k.transport()))
                .collect();
            format!(
                "expected SYSTEM:TRANSPORT=ARG with SYSTEM:TRANSPORT one of {}, got {text:?}",
                names.join(", ")
            )
        };
        let (head, arg) = text.split_once('=').ok_or_else(expected)?;
        let (system, transport) = head.split_once(':').ok_or_else(expected)?;
        let spec = LinkSpec {
            system: system.to_owned(),
            transport: transport.to_owned(),
            arg: arg.to_owned(),
        };
        let kind = find(kinds, &spec).ok_or_else(expected)?;
        kind.inherits(arg).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(spec)
    }
}

/// The kind `spec` names among `kinds`.
pub fn find<'k>(kinds: &[&'k dyn LinkKind], spec: &LinkSpec) -> Option<&'k dyn LinkKind> {
    kinds
        .iter()
        .copied()
        .find(|k| k.system() == spec.system && k.transport() == spec.transport)
}
