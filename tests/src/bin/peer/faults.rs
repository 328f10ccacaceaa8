//! The fault-injection modes of `ipc-test-peer` (tests/tests/faults.rs): `fault-kill` (the
//! survivor of SIGKILLed victims, which checks itself after each kill), `fault-victim` (what it
//! kills), `fault-sender` (a sender whose consumer is stopped) and `fault-nofile` (a process
//! with a low RLIMIT_NOFILE). See the command-line summary in `peer.rs`.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use libipc::{Channel, Endpoint, Error, ErrorKind, Listener, Options};
use libipc_conformance::stream::{self, Count, Progress, Spec};

use super::{Args, Fail};

/// The phases a victim is killed in.
const PHASES: [&str; 5] = ["handshake", "stream", "large", "send", "recv"];
/// Largest message of the streaming phases.
const STREAM_MAX: usize = 256 * 1024;
/// Schedules: what the victim sends, what the survivor sends.
const VICTIM_SEED: u64 = 11;
const SURVIVOR_SEED: u64 = 12;

fn kind_of<T>(r: &libipc::Result<T>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.kind().name(),
    }
}

fn name(k: Option<ErrorKind>) -> &'static str {
    k.map_or("-", ErrorKind::name)
}

/// Entries of a /proc directory of this process.
fn proc_count(dir: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Shared memory still reachable from this process: descriptors of memfds or POSIX shm
/// objects, and their mappings.
fn shm_held() -> usize {
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter(|l| is_shm(&l.to_string_lossy()))
                .count()
        })
        .unwrap_or(0);
    let maps = std::fs::read_to_string("/proc/self/maps")
        .unwrap_or_default()
        .lines()
        .filter(|l| is_shm(l))
        .count();
    fds + maps
}

fn is_shm(s: &str) -> bool {
    s.contains("memfd:") || s.contains("/dev/shm/")
}

/// `libipc-` objects in /dev/shm that stay there (one seen twice, 200 ms apart: a name exists
/// only between `shm_open` and the `shm_unlink` right after it).
fn dev_shm_leftovers() -> Vec<String> {
    let list = || -> Vec<String> {
        std::fs::read_dir("/dev/shm")
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .filter(|n| n.starts_with("libipc-"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = list();
    if first.is_empty() {
        return first;
    }
    std::thread::sleep(Duration::from_millis(200));
    let second = list();
    first.into_iter().filter(|n| second.contains(n)).collect()
}

/// Files an endpoint leaves once nobody listens: for `unix://` and `fifo://`, anything in the
/// endpoint's (private) directory; for `shm://`, its control socket.
fn leftovers(ep: &str) -> Vec<String> {
    let Ok(parsed) = Endpoint::parse(ep) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match &parsed {
        Endpoint::Unix(_) | Endpoint::Fifo(_) => {
            let path = parsed
                .socket_path()
                .ok()
                .flatten()
                .or_else(|| parsed.fifo_path().ok().flatten());
            if let Some(dir) = path.as_deref().and_then(Path::parent) {
                for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    out.push(e.path().display().to_string());
                }
            }
        }
        Endpoint::Shm(_) => {
            if let Some(p) = parsed.socket_path().ok().flatten().filter(|p| p.exists()) {
                out.push(p.display().to_string());
            }
        }
        _ => {}
    }
    out.extend(dev_shm_leftovers());
    out
}

/// A started victim, its stdout lines on a channel.
/// The process to kill: our child, or (for a child surviving its parent) the parent, which
/// the test kills when asked (`kill` on stdout, `killed` on stdin; its lines come on stdin).
struct Victim {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    reader: Option<std::thread::JoinHandle<()>>,
    channel: Option<Channel>,
}

impl Victim {
    fn spawn(mut cmd: Command) -> Result<Victim, Fail> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawn victim: {e}"))?;
        Ok(Victim::adopt(&mut child, None).with_child(child))
    }

    fn adopt(child: &mut Child, channel: Option<Channel>) -> VictimParts {
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        VictimParts {
            lines,
            reader,
            channel,
        }
    }

    fn line(&mut self) -> Result<String, Fail> {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| Fail::from("the victim printed nothing".to_owned()))
    }

    fn expect(&mut self, prefix: &str) -> Result<String, Fail> {
        let line = self.line()?;
        match line.strip_prefix(prefix) {
            Some(rest) => Ok(rest.trim().to_owned()),
            None => Err(format!("expected `{prefix}` from the victim, got {line:?}").into()),
        }
    }

    /// SIGKILL and reap it; wait for its stdout to end. (Our parent: ask the test to kill
    /// it, once.)
    fn kill(&mut self) {
        match &mut self.child {
            Some(child) => {
                let _ = child.kill();
                let _ = child.wait();
                if let Some(r) = self.reader.take() {
                    let _ = r.join();
                }
            }
            None if self.reader.is_none() => {}
            None => {
                println!("kill");
                while self.lines.recv().is_ok_and(|l| l != "killed") {}
                // The stdin reader stays (stdin stays open); it is counted in the baseline.
                drop(self.reader.take());
            }
        }
    }

    /// Our parent as the victim: its lines are relayed by the test on stdin.
    fn parent(channel: Channel) -> Victim {
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Victim {
            child: None,
            lines,
            reader: Some(reader),
            channel: Some(channel),
        }
    }
}

struct VictimParts {
    lines: mpsc::Receiver<String>,
    reader: std::thread::JoinHandle<()>,
    channel: Option<Channel>,
}

impl VictimParts {
    fn with_child(self, child: Child) -> Victim {
        Victim {
            child: Some(child),
            lines: self.lines,
            reader: Some(self.reader),
            channel: self.channel,
        }
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        self.kill();
    }
}

fn victim_command(role: &str, ep: &str, phase: &str, posix: bool) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.args(["fault-victim", role, ep, phase]);
    if posix {
        cmd.args(["--shm-posix", "true"]);
    }
    cmd
}

/// `fault-kill <endpoint|pair> --survivor listen|connect --rounds N --seed S`: the survivor.
/// Each round picks a phase and a delay, starts a victim, kills it, checks what this side saw,
/// drops everything and checks itself; it prints one `round` line (see `Round`). With
/// `pair`, the victim is a child started with `Channel::spawn` (this side is the parent).
pub(crate) fn kill(args: &Args) -> Result<(), Fail> {
    let ep = args.pos(0, "endpoint")?.to_owned();
    let survivor = args.get("--survivor", String::from("listen"))?;
    let rounds: u32 = args.get("--rounds", 25)?;
    let mut rng = fastrand::Rng::with_seed(args.get("--seed", 1)?);
    let is_shm = ep.starts_with("shm://");
    // Warm up (lazily made process-wide state: the runtime directory, ...), then take the
    // baseline every round is compared with.
    warm_up(&ep)?;
    let counts = || (proc_count("/proc/self/fd"), proc_count("/proc/self/task"));
    // A connection's handshake thread may still be on its way out: the least of a few samples.
    let (mut fds0, mut threads0) = counts();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(10));
        let (f, t) = counts();
        (fds0, threads0) = (fds0.min(f), threads0.min(t));
    }
    println!("baseline fds={fds0} threads={threads0}");
    for i in 0..rounds {
        let phase = PHASES[i as usize % PHASES.len()];
        // Every other shm:// round uses the POSIX shm fallback.
        let posix = is_shm && rng.bool();
        let delay = Duration::from_micros(match phase {
            "handshake" => rng.u64(0..30_000),
            "stream" => rng.u64(0..3_000),
            "large" => rng.u64(0..40_000),
            "send" => rng.u64(2_000..30_000),
            _ => rng.u64(0..20_000),
        });
        let min_received = rng.u64(1..40);
        // A 1 s handshake timeout, a backstop: should a handshake ever wait for a dead peer,
        // the round ends in a second, not the default's ten (since 5c6657d a `fifo://` client
        // whose listener dies after taking its request gets PeerDisconnected at once).
        let opts = Options::new()
            .with_shm_posix_fallback(posix)
            .with_handshake_timeout(Duration::from_secs(1));
        let mut r = Round::default();
        if ep == "pair" {
            pair_round(phase, delay, min_received, &mut r)?;
        } else if survivor == "listen" {
            let listener = Listener::bind_with(ep.as_str(), &opts)?;
            let there = listener.local_endpoint().to_string();
            let v = Victim::spawn(victim_command("connect", &there, phase, posix))?;
            if phase == "handshake" {
                handshake_listen(&listener, v, delay, &mut r)?;
            } else {
                let ch = listener.accept()?;
                survive(v.with_channel(ch), phase, delay, min_received, &mut r)?;
            }
            drop(listener);
        } else {
            let mut v = Victim::spawn(victim_command("listen", &ep, phase, posix))?;
            let there = v.expect("ready")?;
            if phase == "handshake" {
                handshake_connect(&there, v, delay, &opts, &mut r)?;
            } else {
                let ch = Channel::connect_with(there.as_str(), &opts)?;
                survive(v.with_channel(ch), phase, delay, min_received, &mut r)?;
            }
            // The killed side was the listener: bind the same endpoint again at once.
            r.rebind = kind_of(&Listener::bind_with(there.as_str(), &opts)).to_owned();
        }
        // Released at once or a moment later (a handshake thread ending): wait up to 5 s.
        for _ in 0..500 {
            (r.fds, r.threads) = counts();
            if r.fds <= fds0 && r.threads <= threads0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        r.shm = shm_held();
        let files = if ep == "pair" {
            Vec::new()
        } else {
            leftovers(&ep)
        };
        r.files = if files.is_empty() {
            "-".into()
        } else {
            files.join(",")
        };
        println!(
            "round {i} phase={phase} posix={posix} delay_us={} {r}",
            delay.as_micros()
        );
    }
    println!("done");
    Ok(())
}

impl Victim {
    fn with_channel(mut self, ch: Channel) -> Victim {
        self.channel = Some(ch);
        self
    }
}

/// One bind, connect and exchange on this transport, within this process.
fn warm_up(ep: &str) -> Result<(), Fail> {
    if ep == "pair" {
        let (a, b) = Channel::pair()?;
        a.send(b"warm")?;
        b.recv()?;
        return Ok(());
    }
    let listener = Listener::bind(ep)?;
    let there = listener.local_endpoint().to_string();
    let ch = Channel::connect(there.as_str())?;
    let acc = listener.accept()?;
    ch.send(b"warm")?;
    acc.recv()?;
    Ok(())
}

/// What one round saw. Printed as `recv=K send=K got=N conns=N ends=K,K fds=N threads=N shm=N
/// files=... rebind=K bad=...`.
#[derive(Default)]
struct Round {
    recv: String,
    send: String,
    got: u64,
    conns: u32,
    ends: Vec<&'static str>,
    fds: usize,
    threads: usize,
    shm: usize,
    files: String,
    rebind: String,
    bad: Option<String>,
}

impl std::fmt::Display for Round {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ends = self.ends.clone();
        ends.sort_unstable();
        ends.dedup();
        let or = |s: &str| {
            if s.is_empty() {
                "-".to_owned()
            } else {
                s.to_owned()
            }
        };
        write!(
            f,
            "recv={} send={} got={} conns={} ends={} fds={} threads={} shm={} files={} rebind={}",
            or(&self.recv),
            or(&self.send),
            self.got,
            self.conns,
            or(&ends.join(",")),
            self.fds,
            self.threads,
            self.shm,
            self.files,
            or(&self.rebind),
        )?;
        if let Some(bad) = &self.bad {
            write!(f, " BAD {bad}")?;
        }
        Ok(())
    }
}

/// The victim connects and closes in a loop; kill it after `delay`. Every connection this
/// listener accepted must end with Closed or PeerDisconnected.
fn handshake_listen(
    listener: &Listener,
    mut v: Victim,
    delay: Duration,
    r: &mut Round,
) -> Result<(), Fail> {
    v.expect("go")?;
    let stop = AtomicBool::new(false);
    let (conns, ends) = std::thread::scope(|s| {
        let acceptor = s.spawn(|| {
            let (mut conns, mut ends) = (0, Vec::new());
            loop {
                match listener.accept_timeout(Duration::from_millis(20)) {
                    Ok(ch) => {
                        conns += 1;
                        ends.push(ch.recv().map_or_else(|e| e.kind().name(), |_| "message"));
                    }
                    Err(e) if e.kind() == ErrorKind::Timeout => {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    Err(e) => {
                        ends.push(e.kind().name());
                        break;
                    }
                }
            }
            (conns, ends)
        });
        std::thread::sleep(delay);
        v.kill();
        stop.store(true, Ordering::Relaxed);
        acceptor.join().expect("acceptor thread")
    });
    r.conns = conns;
    r.ends = ends;
    Ok(())
}

/// The victim listens and closes every connection it accepts; we connect in a loop and kill
/// it after `delay`. Connections end with Closed (or PeerDisconnected); once it is dead,
/// connecting fails (NotFound, or PeerDisconnected for one caught in its handshake).
fn handshake_connect(
    there: &str,
    mut v: Victim,
    delay: Duration,
    opts: &Options,
    r: &mut Round,
) -> Result<(), Fail> {
    v.expect("go")?;
    let killed = AtomicBool::new(false);
    let (conns, ends) = std::thread::scope(|s| {
        let client = s.spawn(|| {
            let (mut conns, mut ends) = (0, Vec::new());
            loop {
                let dead = killed.load(Ordering::Relaxed);
                match Channel::connect_with(there, opts) {
                    Ok(ch) => {
                        conns += 1;
                        ends.push(ch.recv().map_or_else(|e| e.kind().name(), |_| "message"));
                    }
                    Err(e) => {
                        ends.push(e.kind().name());
                        if dead {
                            break;
                        }
                    }
                }
            }
            (conns, ends)
        });
        std::thread::sleep(delay);
        v.kill();
        killed.store(true, Ordering::Relaxed);
        client.join().expect("client thread")
    });
    r.conns = conns;
    r.ends = ends;
    Ok(())
}

/// The channel phases: let the victim get into `phase`, kill it, and see how this side's
/// calls end.
fn survive(
    mut v: Victim,
    phase: &str,
    delay: Duration,
    min_received: u64,
    r: &mut Round,
) -> Result<(), Fail> {
    let ch = v.channel.take().expect("a channel");
    v.expect("go")?;
    r.conns = 1;
    match phase {
        "stream" => {
            let spec = Spec {
                send: Count::Forever,
                recv: Count::Forever,
                send_seed: SURVIVOR_SEED,
                recv_seed: VICTIM_SEED,
                max_size: STREAM_MAX,
                ..Spec::default()
            };
            let progress = Progress::default();
            let report = std::thread::scope(|s| {
                let run = s.spawn(|| stream::run(&ch, &spec, &progress));
                while progress.received.load(Ordering::Relaxed) < min_received && !run.is_finished()
                {
                    std::thread::sleep(Duration::from_micros(200));
                }
                std::thread::sleep(delay);
                v.kill();
                run.join().expect("stream thread")
            });
            r.recv = name(report.recv_end).into();
            r.send = name(report.send_end).into();
            r.got = report.received;
            r.bad = report.bad;
        }
        "large" => {
            let (got, end, bad) = std::thread::scope(|s| {
                let recv = s.spawn(|| {
                    let (mut got, mut bad) = (0, None);
                    let end = loop {
                        match ch.recv() {
                            Ok(m) => {
                                if let Err(e) = stream::verify(got, m.len(), &m) {
                                    bad.get_or_insert(e);
                                }
                                got += 1;
                            }
                            Err(e) => break e.kind(),
                        }
                    };
                    (got, end, bad)
                });
                std::thread::sleep(delay);
                v.kill();
                recv.join().expect("receiving thread")
            });
            r.recv = end.name().into();
            r.send = kind_of(&ch.send(b"after")).into();
            r.got = got;
            r.bad = bad;
        }
        "send" => {
            // We never read while it sends: it fills the buffer or ring and blocks.
            std::thread::sleep(delay);
            v.kill();
            let spec = Spec {
                recv: Count::Forever,
                recv_seed: VICTIM_SEED,
                max_size: STREAM_MAX,
                ..Spec::default()
            };
            let report = stream::run(&ch, &spec, &Progress::default());
            r.recv = name(report.recv_end).into();
            r.send = kind_of(&ch.send(b"after")).into();
            r.got = report.received;
            r.bad = report.bad;
        }
        _ => {
            // "recv": it waits in recv; we send nothing.
            std::thread::sleep(delay);
            v.kill();
            r.recv = kind_of(&ch.recv()).into();
            r.send = kind_of(&ch.send(b"after")).into();
        }
    }
    drop(ch);
    Ok(())
}

/// A round over a parent-and-child pair: the child is the victim.
fn pair_round(phase: &str, delay: Duration, min_received: u64, r: &mut Round) -> Result<(), Fail> {
    let phase = if phase == "handshake" { "recv" } else { phase };
    let mut cmd = victim_command("child", "-", phase, false);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let (ch, mut child) = Channel::spawn(&mut cmd)?;
    let v = Victim::adopt(&mut child, Some(ch)).with_child(child);
    survive(v, phase, delay, min_received, r)
}

/// `fault-victim listen|connect|child <endpoint> <phase> [--shm-posix true]`: what `fault-kill`
/// kills. Prints `ready <endpoint>` when listening, then `go` when it enters the phase, and
/// runs until killed.
pub(crate) fn victim(args: &Args) -> Result<(), Fail> {
    let role = args.pos(0, "listen|connect|child")?;
    let ep = args.pos(1, "endpoint")?;
    let phase = args.pos(2, "phase")?;
    let opts = Options::new().with_shm_posix_fallback(args.get("--shm-posix", false)?);
    let ch = match (role, phase) {
        ("listen", "handshake") => {
            let listener = Listener::bind_with(ep, &opts)?;
            println!("ready {}", listener.local_endpoint());
            println!("go");
            loop {
                drop(listener.accept()?);
            }
        }
        ("connect", "handshake") => {
            println!("go");
            loop {
                if let Ok(ch) = Channel::connect_with(ep, &opts) {
                    ch.close();
                }
            }
        }
        ("listen", _) => {
            let listener = Listener::bind_with(ep, &opts)?;
            println!("ready {}", listener.local_endpoint());
            listener.accept()?
        }
        ("connect", _) => Channel::connect_with(ep, &opts)?,
        ("child", _) => Channel::from_env()?,
        ("parent", _) => {
            // The survivor is our child, sharing our stdin and stdout.
            let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
            cmd.args([
                "fault-child",
                phase,
                "--seed",
                &args.get("--seed", 1u64)?.to_string(),
            ]);
            let (ch, child) = Channel::spawn(&mut cmd)?;
            std::mem::forget(child);
            ch
        }
        (other, _) => return Err(format!("unknown role {other:?}").into()),
    };
    println!("go");
    let spec = match phase {
        "stream" => Spec {
            send: Count::Forever,
            recv: Count::Forever,
            send_seed: VICTIM_SEED,
            recv_seed: SURVIVOR_SEED,
            max_size: STREAM_MAX,
            ..Spec::default()
        },
        "send" => Spec {
            send: Count::Forever,
            send_seed: VICTIM_SEED,
            max_size: STREAM_MAX,
            ..Spec::default()
        },
        "recv" => Spec {
            recv: Count::Forever,
            recv_seed: SURVIVOR_SEED,
            max_size: STREAM_MAX,
            ..Spec::default()
        },
        "large" => {
            // Messages of 1 to 2 MiB (the most a stream message holds), so that a kill most
            // likely lands inside one.
            let mut rng = fastrand::Rng::with_seed(5);
            let mut buf = Vec::new();
            for seq in 0.. {
                stream::encode(seq, rng.usize(stream::MIB..=2 * stream::MIB), &mut buf);
                ch.send(&buf)?;
            }
            unreachable!()
        }
        other => return Err(format!("unknown phase {other:?}").into()),
    };
    let report = stream::run(&ch, &spec, &Progress::default());
    // Only a kill should end it; say how it ended otherwise.
    println!("done {report}");
    std::thread::sleep(Duration::from_secs(3600));
    Ok(())
}

/// Resident memory of this process, in KiB (VmRSS).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn stdin_line() -> String {
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    line.trim().to_owned()
}

/// `fault-sender <endpoint> --attempts N [--seed S] [--max-size N]`: connect and print
/// `connected`; on a stdin line, send the stream of seed S with `send_timeout` (20 ms) until
/// one times out, then N more attempts (1 ms each), then 3N more, printing `blocked sent=<n>
/// timeouts=<n> ok_after_full=<n> rss_kib=<at first timeout>,<after N>,<after 4N>`; on the
/// next stdin line, close the channel (which delivers everything) and print `closed`.
pub(crate) fn sender(args: &Args) -> Result<(), Fail> {
    let ch = Channel::connect_with(args.pos(0, "endpoint")?, &args.options()?)?;
    let attempts: u64 = args.get("--attempts", 1000)?;
    let mut schedule =
        stream::Schedule::new(args.get("--seed", 5)?, args.get("--max-size", 65536)?);
    println!("connected");
    stdin_line();
    let mut buf = Vec::new();
    let mut next = schedule.next().expect("endless");
    let mut sent = 0u64;
    // Fill the path to the stopped consumer.
    loop {
        stream::encode(next.0, next.1, &mut buf);
        match ch.send_timeout(&buf, Duration::from_millis(20)) {
            Ok(()) => {
                sent += 1;
                next = schedule.next().expect("endless");
            }
            Err(e) if e.kind() == ErrorKind::Timeout => break,
            Err(e) => return Err(e.into()),
        }
    }
    let mut rss = vec![rss_kib()];
    let (mut timeouts, mut ok_after_full) = (0u64, 0u64);
    for total in [attempts, 4 * attempts] {
        while timeouts + ok_after_full < total {
            stream::encode(next.0, next.1, &mut buf);
            match ch.send_timeout(&buf, Duration::from_millis(1)) {
                Ok(()) => {
                    sent += 1;
                    ok_after_full += 1;
                    next = schedule.next().expect("endless");
                }
                Err(e) if e.kind() == ErrorKind::Timeout => timeouts += 1,
                Err(e) => return Err(e.into()),
            }
        }
        rss.push(rss_kib());
    }
    println!(
        "blocked sent={sent} timeouts={timeouts} ok_after_full={ok_after_full} rss_kib={},{},{}",
        rss[0], rss[1], rss[2]
    );
    stdin_line();
    // An orderly close: the consumer receives every message, then Closed.
    ch.close();
    println!("closed");
    Ok(())
}

/// Lower this process's soft RLIMIT_NOFILE to `limit`.
fn lower_nofile(limit: u64) -> Result<(), Fail> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit write or read the one struct we pass.
    let ok = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && {
            lim.rlim_cur = limit.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0
        }
    };
    if ok {
        Ok(())
    } else {
        Err(format!("setrlimit: {}", std::io::Error::last_os_error()).into())
    }
}

fn describe(e: &Error) -> String {
    format!(
        "kind={} errno={}",
        e.kind().name(),
        e.os_error().map_or("-".into(), |n| n.to_string())
    )
}

/// Paddings `fault-nofile connect` fills the descriptor table with.
const NOFILE_PADS: usize = 6;

/// `fault-nofile connect <endpoint> <bind template> --limit L`: with a soft RLIMIT_NOFILE of L,
/// bind listeners at the template (`{}` replaced by 0, 1, ...) until binding fails, printing
/// `bind-failed n=<bound> kind=K errno=E`; drop them and bind one again (`bind-recovered`);
/// then, for each padding P in 0..NOFILE_PADS (P extra descriptors open), connect to <endpoint>
/// (an echo server) until connecting fails (`connect-failed pad=P n=... kind=K errno=E`);
/// drop half of those channels, connect again and exchange a message
/// (`connect-recovered`).
///
/// `fault-nofile listen <endpoint> --limit L`: bind, print `ready <endpoint>`, accept and
/// hold every connection. Stdin lines: `count` prints `held <n>`, `free` drops them all and
/// prints `freed`.
pub(crate) fn nofile(args: &Args) -> Result<(), Fail> {
    let ep = args.pos(1, "endpoint")?;
    lower_nofile(args.get("--limit", 64)?)?;
    match args.pos(0, "listen|connect")? {
        "connect" => {
            let template = args.pos(2, "bind template")?;
            let mut listeners = Vec::new();
            let failed = loop {
                match Listener::bind(
                    template
                        .replace("{}", &listeners.len().to_string())
                        .as_str(),
                ) {
                    Ok(l) => listeners.push(l),
                    Err(e) => break e,
                }
                if listeners.len() > 100_000 {
                    return Err("binding never failed".to_owned().into());
                }
            };
            println!("bind-failed n={} {}", listeners.len(), describe(&failed));
            listeners.clear();
            let again = Listener::bind(template.replace("{}", "again").as_str())?;
            drop(again);
            println!("bind-recovered");
            let opts = Options::new().with_connect_timeout(Duration::from_secs(20));
            // A connection takes several descriptors (a shared-memory one: the control
            // socket, the segment, doorbells), taken at different steps of connecting. Each
            // padding makes the table fill up at a different one of those steps.
            let mut held = Vec::new();
            for pad in 0..NOFILE_PADS {
                held.clear();
                let padding = (0..pad)
                    .map(|_| std::io::stdin().as_fd().try_clone_to_owned())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("padding: {e}"))?;
                let failed = loop {
                    match Channel::connect_with(ep, &opts) {
                        Ok(ch) => held.push(ch),
                        Err(e) => break e,
                    }
                    if held.len() > 100_000 {
                        return Err("connecting never failed".to_owned().into());
                    }
                };
                drop(padding);
                println!(
                    "connect-failed pad={pad} n={} {}",
                    held.len(),
                    describe(&failed)
                );
            }
            held.truncate(held.len() / 2);
            let ch = Channel::connect_with(ep, &opts)?;
            ch.send(b"back")?;
            if &*ch.recv()? != b"back" {
                return Err("wrong echo".to_owned().into());
            }
            println!("connect-recovered");
            Ok(())
        }
        "listen" => {
            let listener = std::sync::Arc::new(Listener::bind(ep)?);
            println!("ready {}", listener.local_endpoint());
            let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            {
                let (listener, held) = (listener.clone(), held.clone());
                std::thread::spawn(move || {
                    for ch in listener.incoming() {
                        match ch {
                            Ok(ch) => held.lock().expect("held").push(ch),
                            Err(e) => println!("accept-error {}", describe(&e)),
                        }
                    }
                });
            }
            for line in std::io::stdin().lock().lines() {
                match line.map_err(|e| e.to_string())?.as_str() {
                    "count" => println!("held {}", held.lock().expect("held").len()),
                    "free" => {
                        held.lock().expect("held").clear();
                        println!("freed");
                    }
                    other => return Err(format!("unknown command {other:?}").into()),
                }
            }
            Ok(())
        }
        other => Err(format!("expected listen or connect, got {other:?}").into()),
    }
}

/// `fault-child <phase> --seed S`: the survivor of a parent killed in `phase` (started by
/// `fault-victim parent`). Waits for the test's `go` on stdin, asks for the kill (`kill`, then
/// `killed` on stdin), checks itself like `fault-kill` and prints one `round` line.
pub(crate) fn child(args: &Args) -> Result<(), Fail> {
    let phase = args.pos(0, "phase")?.to_owned();
    let mut rng = fastrand::Rng::with_seed(args.get("--seed", 1)?);
    let delay = Duration::from_micros(rng.u64(0..20_000));
    let min_received = rng.u64(1..40);
    // The inherited channel descriptor is open already and counted here; so is the stdin
    // reader, started first.
    let (tx, rx) = mpsc::channel::<Channel>();
    let holder = std::thread::spawn(move || rx.recv().ok().map(Victim::parent));
    std::thread::sleep(Duration::from_millis(20));
    let counts = || (proc_count("/proc/self/fd"), proc_count("/proc/self/task"));
    let (fds0, threads0) = counts();
    tx.send(Channel::from_env()?)
        .map_err(|_| "holder thread gone".to_owned())?;
    let v = holder
        .join()
        .map_err(|_| "holder thread panicked".to_owned())?
        .expect("a victim");
    let mut r = Round::default();
    survive(v, &phase, delay, min_received, &mut r)?;
    for _ in 0..500 {
        (r.fds, r.threads) = counts();
        // The stdin reader thread (started after the baseline) may remain.
        if r.fds < fds0 && r.threads <= threads0 + 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    r.shm = shm_held();
    r.files = "-".into();
    println!(
        "round phase={phase} delay_us={} base_fds={fds0} base_threads={threads0} {r}",
        delay.as_micros()
    );
    Ok(())
}
