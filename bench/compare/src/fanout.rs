//! Publish/subscribe fan-out: one publisher (this process) and 1, 4 or 16 subscriber
//! processes (this executable re-run as `ipc-compare __compare-fanout-sub SYSTEM ENDPOINT
//! COUNT SIZE`), 64 B and 1 MiB messages, rounds alternating between the systems.
//!
//! The publisher sends `COUNT` messages back to back; each carries its send time
//! (`CLOCK_MONOTONIC`, the same clock in every process) and its index in its first 16 bytes.
//! Each subscriber times every message it gets from that stamp to the moment it has it, and
//! reports how many it got, its p50 and p99, and when it got the last one.
//!
//! - `publish/s`: the publisher's sustained rate: `COUNT` over the time from its first
//!   publish until it is done (libipc's `close` and iceoryx2's wait for the subscribers to
//!   take everything; raw writes block; zmq's socket closes with a 2 s linger): what fan-out
//!   costs the publisher.
//! - `pub CPU µs/msg`: the CPU time the publisher's process spent over the same span (every
//!   thread: libipc's writers over sockets, zmq's I/O thread), per message: what fan-out costs
//!   the publisher in CPU, as opposed to the rate, which also depends on the CPUs left to it.
//! - `delivered/s`: messages received per second by all subscribers together, from the first
//!   publish to the last subscriber's last message.
//! - `p50`, `p99`: the median of the subscribers' p50s, and the worst subscriber's p99.
//! - `got`: the share of the `COUNT` × subscribers messages that arrived (zmq's PUB drops at its
//!   high-water mark; the others wait for slow subscribers).
//!
//! Systems:
//! - `raw unix`: the publisher writes each message (a `u32` length, then the bytes) to every
//!   subscriber's Unix stream socket in turn, blocking; subscribers block in `read`.
//! - `libipc unix`, `libipc shm`: `libipc::pubsub` with `Policy::block` (60 s; 256 queued at
//!   64 B, 16 at 1 MiB). Over unix a queue and a copy per subscriber; over shm one fan-out ring
//!   (the default 4 MiB) written once by the publisher.
//!   Subscribers read each message in place (`Subscriber::recv_with`), taking only the stamp,
//!   as iceoryx2's do; over unix that is the received copy.
//! - `iceoryx2 shm`: one publish-subscribe service (16 subscribers at most, each buffering
//!   like the round-trip bench's), `RetryUntilDelivered`: the publisher writes a message once
//!   into shared memory and every subscriber reads it in place; an event service wakes the
//!   subscribers (a `notify` after every send; each subscriber waits in its listener).
//! - `zmq ipc`: a PUB socket bound to an `ipc://` path, SUB sockets subscribed to everything,
//!   default high-water marks (1000 messages): a slow subscriber loses messages.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::Duration;

use libipc::pubsub::{Policy, Publisher, Subscriber};
use libipc::{ErrorKind, Options, Wait};
use libipc_bench::{Context, Fail, Result};

/// The subscriber subcommand.
pub const SUB_COMMAND: &str = "__compare-fanout-sub";
/// Subscribers per row.
pub const FANOUT: [usize; 3] = [1, 4, 16];
/// The index that ends a stream (systems without an end of their own).
const END: u64 = u64::MAX;

/// One system's fan-out at one size and subscriber count.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FanoutRow {
    pub system: String,
    pub transport: String,
    pub subscribers: usize,
    pub size: usize,
    /// Medians over the rounds.
    pub publish_per_s: f64,
    /// The publisher process's CPU time per message while publishing, µs.
    pub publisher_cpu_us: f64,
    pub delivered_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Messages that arrived over messages meant to (all rounds).
    pub got: f64,
    pub rounds: usize,
    pub count: usize,
}

/// The systems, in row order.
const SYSTEMS: &[(&str, &str)] = &[
    ("raw", "unix"),
    ("libipc", "unix"),
    ("libipc", "shm"),
    #[cfg(feature = "iceoryx2")]
    ("iceoryx2", "shm"),
    #[cfg(feature = "zmq")]
    ("zmq", "ipc"),
];

/// This process's CPU time (every thread), ns.
fn cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Message `index` of `size` bytes (at least 16): its send time and index first.
fn stamp(buf: &mut [u8], index: u64) {
    buf[..8].copy_from_slice(&now_ns().to_le_bytes());
    buf[8..16].copy_from_slice(&index.to_le_bytes());
}

fn read_stamp(msg: &[u8]) -> Option<(u64, u64)> {
    let sent = u64::from_le_bytes(msg.get(..8)?.try_into().ok()?);
    let index = u64::from_le_bytes(msg.get(8..16)?.try_into().ok()?);
    Some((sent, index))
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn median(mut v: Vec<f64>) -> f64 {
    percentile(&mut v, 0.5)
}

/// What a subscriber records.
struct Tally {
    lat: Vec<f64>,
    last_ns: u64,
}

impl Tally {
    fn new(count: usize) -> Tally {
        Tally {
            lat: Vec::with_capacity(count),
            last_ns: 0,
        }
    }

    /// One message; whether it ends the stream.
    fn got(&mut self, msg: &[u8]) -> Result<bool> {
        let now = now_ns();
        let (sent, index) =
            read_stamp(msg).ok_or_else(|| Fail::new("a fan-out message without its stamp"))?;
        if index == END {
            return Ok(true);
        }
        self.lat.push(now.saturating_sub(sent) as f64 / 1e3);
        self.last_ns = now;
        Ok(false)
    }

    fn report(mut self) {
        let n = self.lat.len();
        let p50 = percentile(&mut self.lat, 0.5);
        let p99 = percentile(&mut self.lat, 0.99);
        println!("done {n} {p50} {p99} {}", self.last_ns);
    }
}

/// The subscriber process: subscribe, say `ready`, take messages until the stream ends, print
/// `done RECEIVED P50_US P99_US LAST_NS`.
pub fn run_sub(system: &str, endpoint: &str, count: usize, size: usize) -> Result {
    let mut tally = Tally::new(count);
    let ready = || {
        println!("ready");
        let _ = std::io::stdout().flush();
    };
    match system {
        "raw" => {
            let mut s = UnixStream::connect(endpoint).context("connecting (raw)")?;
            ready();
            let mut buf = vec![0u8; size.max(16)];
            loop {
                let mut len = [0u8; 4];
                match s.read_exact(&mut len) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(Fail::new(format!("raw read: {e}"))),
                }
                let n = u32::from_le_bytes(len) as usize;
                buf.resize(n, 0);
                s.read_exact(&mut buf).context("raw read")?;
                if tally.got(&buf)? {
                    break;
                }
            }
        }
        "libipc" => {
            let s = Subscriber::connect_with(
                endpoint,
                &Options::new().with_max_message_size(size + 4096),
                &[] as &[&[u8]],
            )?;
            ready();
            loop {
                // In place: only the stamp is read (over shm the message stays in the ring).
                let stamp = s.recv_with(Wait::forever(), |m| {
                    let mut stamp = [0u8; 16];
                    m.read_payload(0, &mut stamp[..m.payload_len().min(16)]);
                    stamp
                });
                match stamp {
                    Ok(v) => {
                        if tally.got(v.value())? {
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Closed => break,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        #[cfg(feature = "iceoryx2")]
        "iceoryx2" => iox::subscribe(endpoint, size, &mut tally, ready)?,
        #[cfg(feature = "zmq")]
        "zmq" => {
            let ctx = zmq::Context::new();
            let s = ctx
                .socket(zmq::SUB)
                .map_err(|e| Fail::new(format!("zmq socket: {e}")))?;
            s.set_rcvtimeo(5000)
                .and_then(|()| s.set_subscribe(b""))
                .and_then(|()| s.connect(&format!("ipc://{endpoint}")))
                .map_err(|e| Fail::new(format!("zmq subscribe: {e}")))?;
            ready();
            let mut msg = zmq::Message::new();
            loop {
                match s.recv(&mut msg, 0) {
                    Ok(()) => {
                        if tally.got(&msg)? {
                            break;
                        }
                    }
                    // No END (the publisher's high-water mark dropped it): the stream is over.
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(Fail::new(format!("zmq receive: {e}"))),
                }
            }
        }
        other => return Err(Fail::new(format!("unknown fan-out system {other}"))),
    }
    tally.report();
    Ok(())
}

/// The publishing side of one system.
enum Pub {
    Raw(UnixListener, Vec<UnixStream>),
    Libipc(Publisher),
    #[cfg(feature = "iceoryx2")]
    Iox(Box<iox::Pub>),
    #[cfg(feature = "zmq")]
    Zmq(zmq::Socket),
}

impl Pub {
    fn bind(system: &str, transport: &str, endpoint: &str, size: usize) -> Result<Pub> {
        Ok(match (system, transport) {
            ("raw", _) => Pub::Raw(
                UnixListener::bind(endpoint).context("binding (raw)")?,
                Vec::new(),
            ),
            // Over shm the default ring (4 MiB): three 1 MiB messages, or 58,000 of 64 B. A
            // ring sized for 16 messages of 1 MiB (32 MiB) was slower at every subscriber
            // count here: the publisher then writes to memory that has left the cache.
            ("libipc", _) => Pub::Libipc(Publisher::bind_with(
                endpoint,
                &Options::new().with_max_message_size(size + 4096),
                Policy::block(
                    Duration::from_secs(60),
                    if size >= 1 << 20 { 16 } else { 256 },
                ),
            )?),
            #[cfg(feature = "iceoryx2")]
            ("iceoryx2", _) => Pub::Iox(Box::new(iox::Pub::new(endpoint, size)?)),
            #[cfg(feature = "zmq")]
            ("zmq", _) => {
                let s = zmq::Context::new()
                    .socket(zmq::PUB)
                    .map_err(|e| Fail::new(format!("zmq socket: {e}")))?;
                s.set_linger(2000)
                    .and_then(|()| s.bind(&format!("ipc://{endpoint}")))
                    .map_err(|e| Fail::new(format!("zmq bind: {e}")))?;
                Pub::Zmq(s)
            }
            _ => return Err(Fail::new(format!("unknown system {system} {transport}"))),
        })
    }

    /// Wait until the `n` subscribers (which said `ready`) are known to the publisher.
    fn joined(&mut self, n: usize) -> Result {
        match self {
            Pub::Raw(l, streams) => {
                while streams.len() < n {
                    streams.push(l.accept().context("accepting (raw)")?.0);
                }
            }
            Pub::Libipc(p) => p.wait_for_subscribers(n, Wait::timeout(Duration::from_secs(60)))?,
            #[cfg(feature = "iceoryx2")]
            Pub::Iox(p) => p.joined(n)?,
            // No way to know: subscriptions travel asynchronously (the slow joiner).
            #[cfg(feature = "zmq")]
            Pub::Zmq(_) => std::thread::sleep(Duration::from_millis(300)),
        }
        Ok(())
    }

    fn send(&mut self, msg: &[u8]) -> Result {
        match self {
            Pub::Raw(_, streams) => {
                let len = (msg.len() as u32).to_le_bytes();
                for s in streams {
                    s.write_all(&len)
                        .and_then(|()| s.write_all(msg))
                        .context("raw write")?;
                }
            }
            Pub::Libipc(p) => {
                p.publish(b"", msg)?;
            }
            #[cfg(feature = "iceoryx2")]
            Pub::Iox(p) => p.send(msg)?,
            #[cfg(feature = "zmq")]
            Pub::Zmq(s) => s
                .send(msg, 0)
                .map_err(|e| Fail::new(format!("zmq send: {e}")))?,
        }
        Ok(())
    }

    /// End the stream.
    fn finish(self, size: usize) -> Result {
        match self {
            Pub::Raw(_, streams) => drop(streams),
            Pub::Libipc(p) => p.close(),
            #[cfg(feature = "iceoryx2")]
            Pub::Iox(mut p) => {
                let mut end = vec![0u8; size.max(16)];
                stamp(&mut end, END);
                p.send(&end)?;
                p.linger();
            }
            #[cfg(feature = "zmq")]
            Pub::Zmq(s) => {
                let mut end = vec![0u8; size.max(16)];
                stamp(&mut end, END);
                let _ = s.send(&end[..], 0);
            }
        }
        let _ = size;
        Ok(())
    }
}

fn endpoint_for(system: &str, transport: &str, dir: &Path, n: usize) -> String {
    match (system, transport) {
        ("libipc", "unix") => format!("unix://{}/f{n}.sock", dir.display()),
        ("libipc", "shm") => format!("shm://compare-fanout-{}-{n}", std::process::id()),
        ("iceoryx2", _) => format!("{}/iox{}-{n}", dir.display(), std::process::id()),
        _ => format!("{}/f{n}.sock", dir.display()),
    }
}

struct Subs(Vec<Child>);

impl Drop for Subs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One round of one row: (publish/s, delivered/s, p50, p99, received, publisher CPU µs per
/// message).
type Round = (f64, f64, f64, f64, usize, f64);

fn round(
    exe: &Path,
    system: &str,
    transport: &str,
    endpoint: &str,
    subscribers: usize,
    size: usize,
    count: usize,
) -> Result<Round> {
    let mut publisher = Pub::bind(system, transport, endpoint, size)?;
    let mut subs = Subs(Vec::new());
    let mut outs = Vec::new();
    for _ in 0..subscribers {
        let mut child = Process::new(exe)
            .args([
                SUB_COMMAND,
                system,
                endpoint,
                &count.to_string(),
                &size.to_string(),
            ])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .context("starting a subscriber")?;
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        subs.0.push(child);
        let mut line = String::new();
        out.read_line(&mut line)
            .context("a subscriber's ready line")?;
        if line.trim() != "ready" {
            return Err(Fail::new(format!("a {system} subscriber said {line:?}")));
        }
        outs.push(out);
    }
    publisher.joined(subscribers)?;
    let mut msg = vec![0u8; size.max(16)];
    let (start, cpu_start) = (now_ns(), cpu_ns());
    for i in 0..count as u64 {
        stamp(&mut msg, i);
        publisher.send(&msg)?;
    }
    publisher.finish(size)?;
    let (published, cpu_published) = (now_ns(), cpu_ns());
    let (mut p50s, mut p99, mut received, mut last) = (Vec::new(), 0f64, 0usize, start);
    for out in &mut outs {
        let mut line = String::new();
        out.read_line(&mut line).context("a subscriber's summary")?;
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() != 5 || w[0] != "done" {
            return Err(Fail::new(format!(
                "a {system} subscriber ended with {line:?}"
            )));
        }
        let n: usize = w[1].parse().map_err(|_| Fail::new("a bad count"))?;
        received += n;
        if n > 0 {
            p50s.push(w[2].parse().map_err(|_| Fail::new("a bad p50"))?);
            p99 = p99.max(w[3].parse().map_err(|_| Fail::new("a bad p99"))?);
            last = last.max(w[4].parse().map_err(|_| Fail::new("a bad time"))?);
        }
    }
    for c in &mut subs.0 {
        let status = c.wait().context("waiting for a subscriber")?;
        if !status.success() {
            return Err(Fail::new(format!(
                "a {system} subscriber exited with {status}"
            )));
        }
    }
    subs.0.clear();
    #[cfg(feature = "iceoryx2")]
    if system == "iceoryx2" {
        iox::cleanup(endpoint);
    }
    let publish_s = (published - start) as f64 / 1e9;
    let deliver_s = (last.max(start + 1) - start) as f64 / 1e9;
    Ok((
        count as f64 / publish_s,
        received as f64 / deliver_s,
        median(p50s),
        p99,
        received,
        cpu_published.saturating_sub(cpu_start) as f64 / 1e3 / count as f64,
    ))
}

/// Every system × subscriber count × size, `rounds` alternating rounds.
pub fn measure(exe: &Path, dir: &Path, sizes: &[usize], quick: bool) -> Result<Vec<FanoutRow>> {
    let rounds = if quick { 1 } else { 3 };
    let count_for = |size: usize| match (size >= 1 << 20, quick) {
        (true, true) => 40,
        (true, false) => 200,
        (false, true) => 2000,
        (false, false) => 20_000,
    };
    let mut per: Vec<Vec<Round>> = Vec::new();
    let mut keys = Vec::new();
    for &size in sizes {
        for &subscribers in &FANOUT {
            for &(system, transport) in SYSTEMS {
                keys.push((system, transport, subscribers, size));
                per.push(Vec::new());
            }
        }
    }
    let mut n = 0;
    for r in 0..rounds {
        for (k, &(system, transport, subscribers, size)) in keys.iter().enumerate() {
            n += 1;
            let ep = endpoint_for(system, transport, dir, n);
            eprintln!(
                "[fan-out {}/{rounds}] {system} {transport}: {subscribers} subscribers, {size} B",
                r + 1
            );
            let out = round(
                exe,
                system,
                transport,
                &ep,
                subscribers,
                size,
                count_for(size),
            )?;
            per[k].push(out);
            if transport != "shm" || system != "libipc" {
                let _ = std::fs::remove_file(&ep);
            }
        }
    }
    Ok(keys
        .iter()
        .zip(per)
        .map(|(&(system, transport, subscribers, size), r)| {
            let count = count_for(size);
            FanoutRow {
                system: system.to_owned(),
                transport: transport.to_owned(),
                subscribers,
                size,
                publish_per_s: median(r.iter().map(|x| x.0).collect()),
                publisher_cpu_us: median(r.iter().map(|x| x.5).collect()),
                delivered_per_s: median(r.iter().map(|x| x.1).collect()),
                p50_us: median(r.iter().map(|x| x.2).collect()),
                p99_us: median(r.iter().map(|x| x.3).collect()),
                got: r.iter().map(|x| x.4).sum::<usize>() as f64
                    / (count * subscribers * r.len()) as f64,
                rounds: r.len(),
                count,
            }
        })
        .collect())
}

#[cfg(feature = "iceoryx2")]
mod iox {
    //! iceoryx2 0.10 fan-out: one publish-subscribe service and one event service in a private
    //! domain (file prefix and root from the endpoint path), 16 subscribers at most.

    use std::path::Path;
    use std::time::Duration;

    use iceoryx2::port::notifier::Notifier;
    use iceoryx2::port::publisher::Publisher;
    use iceoryx2::prelude::Path as IoxPath;
    use iceoryx2::prelude::*;
    use libipc_bench::{Fail, Result};

    use super::Tally;

    fn fail<E: std::fmt::Debug>(what: &str) -> impl FnOnce(E) -> Fail + '_ {
        move |e| Fail::new(format!("iceoryx2: {what}: {e:?}"))
    }

    /// Buffered samples per subscriber: about 16 MiB of the message size, 8 to 256.
    fn buffer(size: usize) -> usize {
        ((16 << 20) / size.max(1)).clamp(8, 256)
    }

    /// The domain's file prefix in `/dev/shm`.
    fn prefix(endpoint: &str) -> Option<String> {
        let name = Path::new(endpoint).file_name()?.to_str()?;
        Some(format!("iox2_fan_{name}_"))
    }

    /// Once every node of the domain is gone: remove what iceoryx2 keeps of it in `/dev/shm`
    /// (its node counter).
    pub(super) fn cleanup(endpoint: &str) {
        let Some(prefix) = prefix(endpoint) else {
            return;
        };
        if let Ok(entries) = std::fs::read_dir("/dev/shm") {
            for e in entries.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }

    fn node(endpoint: &str) -> Result<Node<ipc::Service>> {
        let dir = Path::new(endpoint);
        let prefix = prefix(endpoint).ok_or_else(|| Fail::new("iceoryx2: a bad endpoint"))?;
        let mut config = Config::default();
        config.global.prefix = FileName::new(prefix.as_bytes()).map_err(fail("the file prefix"))?;
        let root = dir.to_str().ok_or_else(|| Fail::new("a non-UTF-8 root"))?;
        config
            .global
            .set_root_path(&IoxPath::new(root.as_bytes()).map_err(fail("the root"))?);
        set_log_level(LogLevel::Error);
        NodeBuilder::new()
            .config(&config)
            .signal_handling_mode(SignalHandlingMode::Disabled)
            .create::<ipc::Service>()
            .map_err(fail("creating a node"))
    }

    type PubSub =
        iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>;
    type Event = iceoryx2::service::port_factory::event::PortFactory<ipc::Service>;

    fn services(node: &Node<ipc::Service>, size: usize, create: bool) -> Result<(PubSub, Event)> {
        let name = ServiceName::new("fanout").map_err(fail("naming"))?;
        let ps = node
            .service_builder(&name)
            .publish_subscribe::<[u8]>()
            .max_publishers(1)
            .max_subscribers(16)
            .max_nodes(17)
            .subscriber_max_buffer_size(buffer(size))
            .history_size(0)
            .enable_safe_overflow(false);
        let ps = if create {
            ps.create().map_err(fail("creating the service"))?
        } else {
            ps.open().map_err(fail("opening the service"))?
        };
        let ename = ServiceName::new("fanout-event").map_err(fail("naming"))?;
        let ev = node
            .service_builder(&ename)
            .event()
            .max_notifiers(1)
            .max_listeners(16)
            .max_nodes(17);
        let ev = if create {
            ev.create().map_err(fail("creating the event service"))?
        } else {
            ev.open().map_err(fail("opening the event service"))?
        };
        Ok((ps, ev))
    }

    pub(super) struct Pub {
        publisher: Publisher<ipc::Service, [u8], ()>,
        notifier: Notifier<ipc::Service>,
        ps: PubSub,
        _ev: Event,
        _node: Node<ipc::Service>,
    }

    impl Pub {
        pub(super) fn new(endpoint: &str, size: usize) -> Result<Pub> {
            std::fs::create_dir_all(endpoint).map_err(|e| Fail::new(format!("{endpoint}: {e}")))?;
            let node = node(endpoint)?;
            let (ps, ev) = services(&node, size, true)?;
            let publisher = ps
                .publisher_builder()
                .initial_max_slice_len(size.max(16))
                .allocation_strategy(AllocationStrategy::Static)
                .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
                .create()
                .map_err(fail("creating the publisher"))?;
            let notifier = ev
                .notifier_builder()
                .create()
                .map_err(fail("creating the notifier"))?;
            Ok(Pub {
                publisher,
                notifier,
                ps,
                _ev: ev,
                _node: node,
            })
        }

        pub(super) fn joined(&self, n: usize) -> Result {
            for _ in 0..60_000 {
                if self.ps.dynamic_config().number_of_subscribers() >= n {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(Fail::new("iceoryx2: the subscribers did not join"))
        }

        pub(super) fn send(&mut self, msg: &[u8]) -> Result {
            let sample = self
                .publisher
                .loan_slice_uninit(msg.len())
                .map_err(fail("loaning"))?;
            sample
                .write_from_slice(msg)
                .send()
                .map_err(fail("sending"))?;
            self.notifier.notify().map_err(fail("notifying"))?;
            Ok(())
        }

        /// Stay until every subscriber took everything (a publisher that goes away drops what
        /// it published).
        pub(super) fn linger(&self) {
            for _ in 0..60_000 {
                if self.ps.dynamic_config().number_of_subscribers() == 0 {
                    return;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    pub(super) fn subscribe(
        endpoint: &str,
        size: usize,
        tally: &mut Tally,
        ready: impl FnOnce(),
    ) -> Result {
        let node = node(endpoint)?;
        let (ps, ev) = services(&node, size, false)?;
        let subscriber = ps
            .subscriber_builder()
            .buffer_size(buffer(size))
            .create()
            .map_err(fail("creating the subscriber"))?;
        let listener = ev
            .listener_builder()
            .create()
            .map_err(fail("creating the listener"))?;
        ready();
        loop {
            match subscriber.receive().map_err(fail("receiving"))? {
                Some(sample) => {
                    if tally.got(sample.payload())? {
                        return Ok(());
                    }
                }
                None => {
                    listener
                        .timed_wait(|_| {}, Duration::from_millis(100))
                        .map_err(fail("waiting"))?;
                }
            }
        }
    }
}
