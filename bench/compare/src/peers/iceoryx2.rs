//! `iceoryx2` (0.10): two publish-subscribe `[u8]` services, one per direction, each with one
//! publisher and one subscriber, slices of up to the largest message, a subscriber buffer of
//! [`buffer`] samples and no overwriting (`enable_safe_overflow(false)`: a full buffer makes
//! the publisher retry, the library's `RetryUntilDelivered`, instead of dropping the oldest).
//! A send loans a slice in the shared memory, copies the message into it and publishes it; a
//! receive borrows the sample in place (no copy) until the next receive. An echo copies the
//! sample into a new loan, as the library has no way to send a received sample on.
//!
//! Publish-subscribe ports have no wake-up of their own, so there are two kinds:
//! - `shm-spin`: the receiver busy-polls `receive()` (`std::hint::spin_loop` between polls),
//!   never sleeping: compared with raw `shm-spin`;
//! - `shm-event`: each side also has an event service per direction; every send is followed
//!   by a `notify()`, and an empty receiver sleeps in the listener's wait (a Unix datagram
//!   socket read underneath, `UnixDatagramShmCountingBitSet`), so every message costs a
//!   datagram send and a wake-up: compared with raw `shm-futex`, the raw shared memory that
//!   sleeps.
//!
//! The end of a link: closing drops the publisher (and, with events, notifies once more so
//! the other side wakes up); a receiver that finds nothing sees the service has no publisher
//! left, receives once more (a gone publisher's samples stay readable) and then fails. A
//! receiver waiting long also asks iceoryx2 whether the other side's node is still alive, so
//! a crashed peer ends the wait too (the event kind waits with a timeout for that, the same
//! socket read as its blocking wait).
//!
//! Each link is a private iceoryx2 domain: iceoryx2's default configuration (no config file is
//! looked up) with its own file prefix (`iox2_bench-<pid>-<n>-<s|e>_`, from the scratch
//! directory's name, for the shared memory in `/dev/shm`) and its root (node and service
//! records, event sockets; by default `/tmp/iceoryx2`) inside the bench's scratch directory,
//! which the bench removes. Nodes
//! install no signal handlers; iceoryx2 logs errors only. iceoryx2 removes a service's files
//! when its last user drops it, but keeps one segment per domain, the node counter
//! (`<prefix>node.<version>.global_mgmt`); the last side to drop its link removes that, and
//! whatever else is left under the prefix ([`Cleanup`]). A peer that crashed leaves its
//! records in the scratch directory and, if the bench drops its link, nothing in `/dev/shm`;
//! a bench killed mid-run (its peer dies with it) leaves its domains' shared memory, which
//! the next bench removes as the files of a process that no longer exists.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::Path as IoxPath;
use iceoryx2::prelude::*;
use iceoryx2::sample::Sample;
use iceoryx2::service::port_factory::{event, publish_subscribe};
use libipc_bench::{Fail, Link, Pattern, Result};
use libipc_bench_unix::{BenchSide, LinkKind, POLL_SLEEP, Setup};

/// Samples a subscriber buffers before the publisher has to wait: about [`BUFFER_BYTES`] of
/// the largest messages, 8 to 256. Every sample is a slice of the largest message's size, so
/// memory grows with the count (1 MiB messages: 16 buffered, 20 slices per direction).
fn buffer(max_message: usize) -> usize {
    (BUFFER_BYTES / max_message.max(1)).clamp(8, 256)
}

/// See [`buffer`].
const BUFFER_BYTES: usize = 16 << 20;
/// Empty polls between looks at whether the other side closed (spinning).
const POLLS_PER_CHECK: u32 = 1024;
/// How often a waiting receiver asks whether the other side's node is alive.
const LIVENESS_PERIOD: Duration = Duration::from_millis(20);

type PubSub = publish_subscribe::PortFactory<ipc::Service, [u8], ()>;
type Event = event::PortFactory<ipc::Service>;

/// An iceoryx2 error as a bench failure.
fn fail<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> Fail + '_ {
    move |e| Fail::new(format!("iceoryx2: {what}: {e:?}"))
}

/// How a receiver waits for a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Spin,
    Event,
}

impl Wait {
    fn transport(self) -> &'static str {
        match self {
            Wait::Spin => "shm-spin",
            Wait::Event => "shm-event",
        }
    }

    /// In file names, which iceoryx2's event sockets make long already.
    fn letter(self) -> char {
        match self {
            Wait::Spin => 's',
            Wait::Event => 'e',
        }
    }
}

/// Which end of the link this process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Bench,
    Peer,
}

/// The services of one link, by direction: data and (event kind) wake-ups.
struct Services {
    to_peer: PubSub,
    to_bench: PubSub,
    events: Option<(Event, Event)>,
}

impl Services {
    /// Create (the bench) or open (the peer) the link's services in the node's domain; both
    /// sides ask for the same settings, which opening checks.
    fn new(
        node: &Node<ipc::Service>,
        wait: Wait,
        side: Side,
        max_message: usize,
    ) -> Result<Services> {
        let pub_sub = |dir: &str| -> Result<PubSub> {
            let name =
                ServiceName::new(&format!("bench/{dir}")).map_err(fail("naming a service"))?;
            let builder = node
                .service_builder(&name)
                .publish_subscribe::<[u8]>()
                .max_publishers(1)
                .max_subscribers(1)
                .max_nodes(2)
                .subscriber_max_buffer_size(buffer(max_message))
                .history_size(0)
                .enable_safe_overflow(false);
            match side {
                Side::Bench => builder.create().map_err(fail("creating a service")),
                Side::Peer => builder.open().map_err(fail("opening a service")),
            }
        };
        let event = |dir: &str| -> Result<Event> {
            let name = ServiceName::new(&format!("bench/{dir}-event"))
                .map_err(fail("naming an event service"))?;
            let builder = node
                .service_builder(&name)
                .event()
                .max_notifiers(1)
                .max_listeners(1)
                .max_nodes(2);
            match side {
                Side::Bench => builder.create().map_err(fail("creating an event service")),
                Side::Peer => builder.open().map_err(fail("opening an event service")),
            }
        };
        Ok(Services {
            to_peer: pub_sub("to-peer")?,
            to_bench: pub_sub("to-bench")?,
            events: match wait {
                Wait::Spin => None,
                Wait::Event => Some((event("to-peer")?, event("to-bench")?)),
            },
        })
    }

    /// (sent on, received from) as `side` sees them.
    fn data(&self, side: Side) -> (&PubSub, &PubSub) {
        match side {
            Side::Bench => (&self.to_peer, &self.to_bench),
            Side::Peer => (&self.to_bench, &self.to_peer),
        }
    }

    fn events(&self, side: Side) -> Option<(&Event, &Event)> {
        self.events.as_ref().map(|(to_peer, to_bench)| match side {
            Side::Bench => (to_peer, to_bench),
            Side::Peer => (to_bench, to_peer),
        })
    }

    /// Whether the other side has made all its ports.
    fn other_side_ready(&self, side: Side) -> bool {
        let (tx, rx) = self.data(side);
        let data = tx.dynamic_config().number_of_subscribers() == 1
            && rx.dynamic_config().number_of_publishers() == 1;
        let events = self.events(side).is_none_or(|(tx, rx)| {
            tx.dynamic_config().number_of_listeners() == 1
                && rx.dynamic_config().number_of_notifiers() == 1
        });
        data && events
    }
}

/// One side of a link. Fields drop in order: the borrowed sample and the ports before the
/// services, the services before the node, the files last.
struct IoxLink {
    wait: Wait,
    /// The last sample received, readable until the next receive.
    last: Option<Sample<ipc::Service, [u8], ()>>,
    /// `None` once closed.
    publisher: Option<Publisher<ipc::Service, [u8], ()>>,
    /// The event kind's; `None` once closed.
    notifier: Option<Notifier<ipc::Service>>,
    subscriber: Subscriber<ipc::Service, [u8], ()>,
    listener: Option<Listener<ipc::Service>>,
    side: Side,
    services: Services,
    /// The other side's node, to see whether it is alive.
    other: iceoryx2::identifiers::UniqueNodeId,
    config: Config,
    _node: Node<ipc::Service>,
    _cleanup: Cleanup,
}

impl IoxLink {
    /// This side's node, services and ports in `domain`; the peer opens what the bench made.
    fn open(domain: Domain, wait: Wait, side: Side, max_message: usize) -> Result<IoxLink> {
        let config = domain.config()?;
        // Declared before the node, so that on an early return it runs after the node is gone.
        let cleanup = Cleanup {
            domain,
            config: config.clone(),
        };
        let node = Domain::node(&config)?;
        let services = Services::new(&node, wait, side, max_message)?;
        let (tx, rx) = services.data(side);
        let publisher = tx
            .publisher_builder()
            .initial_max_slice_len(max_message.max(1))
            .allocation_strategy(AllocationStrategy::Static)
            .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
            .create()
            .map_err(fail("creating the publisher"))?;
        let subscriber = rx
            .subscriber_builder()
            .buffer_size(buffer(max_message))
            .create()
            .map_err(fail("creating the subscriber"))?;
        let (notifier, listener) = match services.events(side) {
            None => (None, None),
            Some((tx, rx)) => (
                Some(
                    tx.notifier_builder()
                        .create()
                        .map_err(fail("creating the notifier"))?,
                ),
                Some(
                    rx.listener_builder()
                        .create()
                        .map_err(fail("creating the listener"))?,
                ),
            ),
        };
        Ok(IoxLink {
            wait,
            last: None,
            publisher: Some(publisher),
            notifier,
            subscriber,
            listener,
            side,
            other: *node.id(), // replaced by `connected` once the other side is known
            config,
            services,
            _node: node,
            _cleanup: cleanup,
        })
    }

    /// The service received from.
    fn rx_service(&self) -> &PubSub {
        self.services.data(self.side).1
    }

    /// Note the other side's node (the publisher of the service received from).
    fn connected(&mut self) -> Result {
        let mut other = None;
        self.rx_service().dynamic_config().list_publishers(|p| {
            other = Some(p.node_id);
            CallbackProgression::Stop
        });
        self.other = other.ok_or_else(|| Fail::new("iceoryx2: the other side has no publisher"))?;
        Ok(())
    }

    /// Why the other side will send nothing more, if it will not: its publisher is gone
    /// (closed), or (with `check_node`) its node is not alive.
    fn other_side_gone(&self, check_node: bool) -> Option<&'static str> {
        if self.rx_service().dynamic_config().number_of_publishers() == 0 {
            return Some("the other side closed the iceoryx2 link");
        }
        let alive = !check_node
            || matches!(
                Node::<ipc::Service>::state_of(&self.config, self.other),
                Ok(Some(NodeState::Alive(_)))
            );
        (!alive).then_some("the other side of the iceoryx2 link is gone (its process died)")
    }

    /// Wait for the next sample.
    fn next(&mut self) -> Result<Sample<ipc::Service, [u8], ()>> {
        // Release the previous one first: a subscriber may borrow only a few at a time.
        self.last = None;
        let mut polls = 0u32;
        let mut checked = Instant::now();
        loop {
            if let Some(sample) = self
                .subscriber
                .receive()
                .map_err(fail("receiving a sample"))?
            {
                return Ok(sample);
            }
            let woken = match (&self.listener, self.wait) {
                (Some(listener), Wait::Event) => {
                    let n = listener
                        .timed_wait(|_| {}, LIVENESS_PERIOD)
                        .map_err(fail("waiting for an event"))?;
                    Some(n > 0)
                }
                _ => {
                    std::hint::spin_loop();
                    polls = polls.wrapping_add(1);
                    None
                }
            };
            let look = match woken {
                Some(_) => true,
                None => polls.is_multiple_of(POLLS_PER_CHECK),
            };
            if !look {
                continue;
            }
            let check_node = woken == Some(false) || checked.elapsed() >= LIVENESS_PERIOD;
            if check_node {
                checked = Instant::now();
            }
            if let Some(gone) = self.other_side_gone(check_node) {
                // A publisher's samples stay readable after it is gone.
                return match self
                    .subscriber
                    .receive()
                    .map_err(fail("receiving a sample"))?
                {
                    Some(sample) => Ok(sample),
                    None => Err(Fail::new(gone)),
                };
            }
        }
    }

    fn publish(&self, msg: &[u8]) -> Result {
        let publisher = self
            .publisher
            .as_ref()
            .ok_or_else(|| Fail::new("sending on a closed iceoryx2 link"))?;
        let sample = publisher
            .loan_slice_uninit(msg.len())
            .map_err(fail("loaning a sample"))?;
        sample
            .write_from_slice(msg)
            .send()
            .map_err(fail("sending a sample"))?;
        if let Some(notifier) = &self.notifier {
            notifier.notify().map_err(fail("notifying"))?;
        }
        Ok(())
    }
}

impl Link for IoxLink {
    fn send(&mut self, msg: &[u8]) -> Result {
        self.publish(msg)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        let sample = self.next()?;
        Ok(self.last.insert(sample).payload())
    }

    fn echo(&mut self) -> Result {
        let sample = self.next()?;
        self.publish(sample.payload())
    }

    fn discard(&mut self) -> Result {
        self.last = None;
        self.next().map(drop)
    }

    fn close(&mut self) {
        self.last = None;
        self.publisher = None;
        if let Some(notifier) = self.notifier.take() {
            // Wake the other side if it waits, to find the publisher gone.
            let _ = notifier.notify();
        }
    }
}

/// One link's private iceoryx2 domain: a file prefix and a root directory of its own.
#[derive(Debug, Clone)]
struct Domain {
    /// The prefix of every file iceoryx2 makes (`iox2_NAME_`).
    prefix: String,
    /// The root of its node and service records.
    root: PathBuf,
}

impl Domain {
    /// What the peer is told: `MAX_MESSAGE,PREFIX,ROOT`.
    fn arg(&self, max_message: usize) -> String {
        format!("{max_message},{},{}", self.prefix, self.root.display())
    }

    fn parse(arg: &str) -> Option<(usize, Domain)> {
        let (max, rest) = arg.split_once(',')?;
        let (prefix, root) = rest.split_once(',')?;
        let domain = Domain {
            prefix: prefix.to_owned(),
            root: PathBuf::from(root),
        };
        Some((max.parse().ok()?, domain))
    }

    /// iceoryx2's default configuration, in this domain.
    fn config(&self) -> Result<Config> {
        let mut config = Config::default();
        config.global.prefix =
            FileName::new(self.prefix.as_bytes()).map_err(fail("the domain's file prefix"))?;
        let root = self
            .root
            .to_str()
            .ok_or_else(|| Fail::new("a non-UTF-8 root"))?;
        config.global.set_root_path(
            &IoxPath::new(root.as_bytes()).map_err(fail("the domain's root directory"))?,
        );
        Ok(config)
    }

    /// A node in this domain, with no signal handlers, errors logged only.
    fn node(config: &Config) -> Result<Node<ipc::Service>> {
        set_log_level(LogLevel::Error);
        NodeBuilder::new()
            .config(config)
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<ipc::Service>()
            .map_err(fail("creating a node"))
    }
}

/// Once a side's node is gone: if the other side's is gone too (or its records are, with the
/// scratch directory), removes the domain's files left in `/dev/shm`. Whichever side drops
/// its node last finds the other's gone.
#[derive(Debug)]
struct Cleanup {
    domain: Domain,
    config: Config,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // A dead node (a crashed peer) no longer uses the domain.
        let mut alive = 0;
        let listed = Node::<ipc::Service>::list(&self.config, |node| {
            if matches!(node, NodeState::Alive(_)) {
                alive += 1;
            }
            CallbackProgression::Continue
        });
        if listed.is_ok() && alive > 0 {
            return;
        }
        remove_shm(|name| name.starts_with(self.domain.prefix.as_bytes()));
    }
}

/// Remove the files in `/dev/shm` whose names `pick` says.
fn remove_shm(pick: impl Fn(&[u8]) -> bool) {
    let Ok(entries) = std::fs::read_dir(SHM_DIR) else {
        return;
    };
    for entry in entries.flatten() {
        if pick(entry.file_name().as_encoded_bytes()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Remove what the links of benches that are no longer running left in `/dev/shm` (a bench
/// killed before its links were dropped, its peer with it): the files of the domains named
/// after a process that does not exist.
fn remove_orphans() {
    remove_shm(|name| {
        let Some(rest) = name.strip_prefix(DOMAIN_PREFIX.as_bytes()) else {
            return false;
        };
        let pid: Vec<u8> = rest
            .iter()
            .copied()
            .take_while(u8::is_ascii_digit)
            .collect();
        let Ok(pid) = std::str::from_utf8(&pid) else {
            return false;
        };
        !pid.is_empty() && !Path::new("/proc").join(pid).exists()
    });
}

/// How every domain's prefix starts, before the bench's process id.
const DOMAIN_PREFIX: &str = "iox2_bench-";

/// The room for a Unix socket's path, its terminating NUL included.
const SUN_PATH: usize = 108;

/// Where POSIX shared memory lives.
const SHM_DIR: &str = "/dev/shm";

/// The `iceoryx2:shm-spin` and `iceoryx2:shm-event` rows.
#[derive(Debug)]
pub(crate) struct Kind(Wait);

/// Busy-polling receivers.
pub(crate) const SPIN: Kind = Kind(Wait::Spin);
/// Receivers that sleep on an event service.
pub(crate) const EVENT: Kind = Kind(Wait::Event);

impl LinkKind for Kind {
    fn system(&self) -> &str {
        "iceoryx2"
    }

    fn transport(&self) -> &str {
        self.0.transport()
    }

    fn patterns(&self) -> &[Pattern] {
        &Pattern::ALL
    }

    fn same_wait(&self) -> Option<&str> {
        Some(match self.0 {
            Wait::Spin => libipc_bench_unix::Baseline::ShmSpin.name(),
            Wait::Event => libipc_bench_unix::Baseline::ShmFutex.name(),
        })
    }

    fn bench_side(&self, setup: &Setup<'_>) -> Result<BenchSide> {
        let wait = self.0;
        let name = setup.unique_name();
        let domain = Domain {
            prefix: format!(
                "{DOMAIN_PREFIX}{}-{}_",
                name.strip_prefix("ipc-bench-").unwrap_or(&name),
                wait.letter()
            ),
            root: setup.dir.join(format!("iox2-{}", wait.letter())),
        };
        // The event sockets are ROOT/PREFIX<listener id, a u128 in decimal>.event.
        let socket = domain.root.as_os_str().len() + 1 + domain.prefix.len() + 39 + 6;
        if wait == Wait::Event && socket >= SUN_PATH {
            return Err(Fail::new(format!(
                "iceoryx2: the event sockets' paths under {} would be too long ({socket} bytes; \
                 a shorter TMPDIR helps)",
                domain.root.display()
            )));
        }
        let max_message = setup.max_message;
        let arg = domain.arg(max_message);
        remove_orphans();
        let mut link = IoxLink::open(domain, wait, Side::Bench, max_message)?;
        Ok(BenchSide {
            arg,
            inherit: Vec::new(),
            channel: false,
            finish: Box::new(move |started| {
                started.wait_for(|| {
                    if link.services.other_side_ready(Side::Bench) {
                        Ok(Some(()))
                    } else {
                        std::thread::sleep(POLL_SLEEP);
                        Ok(None)
                    }
                })?;
                link.connected()?;
                Ok(Box::new(link))
            }),
        })
    }

    fn peer_side(&self, arg: &str, _: Vec<OwnedFd>) -> Result<Box<dyn Link>> {
        let (max_message, domain) = Domain::parse(arg).ok_or_else(|| {
            Fail::new(format!(
                "iceoryx2: expected MAX_MESSAGE,PREFIX,ROOT, got {arg:?}"
            ))
        })?;
        let mut link = IoxLink::open(domain, self.0, Side::Peer, max_message)?;
        link.connected()?;
        Ok(Box::new(link))
    }
}
