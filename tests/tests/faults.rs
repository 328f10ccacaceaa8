//! Faults, injected into real processes (Linux): SIGKILL of either side at random points, a
//! stopped consumer (SIGSTOP), a low RLIMIT_NOFILE, clients that never finish the handshake,
//! and 10,000 connect and disconnect cycles against one listener. The figures of a run are in
//! docs/security.md ("Faults").
//!
//! Resource counts are read from the process that must not leak: the survivor of the kills
//! checks itself (`ipc-test-peer fault-kill`), the listener's fds, threads and memory are read
//! from `/proc/<pid>`. Nothing here measures time: sleeps only place kills at random points,
//! and the watchdog turns a hang into a failure.

#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::time::Duration;

use libipc::{Channel, ErrorKind, Options};
use libipc_conformance::peer;
use libipc_conformance::peer::Peer;
use libipc_conformance::raw::{self, RawStream};
use libipc_conformance::transport::{Site, Transport};
use libipc_conformance::watchdog::{self, Watchdog};

/// Kills per transport and side (the survivor listening, or connecting): 4 transports × 2
/// sides × 25, and 25 more over parent-and-child pairs.
const KILLS: u32 = 25;
/// The transports with an endpoint (the pair is separate).
const TRANSPORTS: [Transport; 4] = [
    Transport::Unix,
    Transport::Tcp,
    Transport::Shm,
    Transport::Fifo,
];

/// `key=value` fields of a line.
fn fields(line: &str) -> HashMap<&str, &str> {
    line.split_whitespace()
        .filter_map(|f| f.split_once('='))
        .collect()
}

/// Run one `fault-kill` campaign and check every round it reports.
fn kill_campaign(site: &Site, endpoint: &str, survivor: &str, seed: u64) {
    let mut s = peer!(
        "fault-kill",
        endpoint,
        "--survivor",
        survivor,
        "--rounds",
        KILLS.to_string(),
        "--seed",
        seed.to_string()
    )
    .site(site)
    .spawn();
    let base = s.expect("baseline");
    let base = fields(&base);
    let ctx = format!("{endpoint} survivor={survivor} seed={seed}");
    for _ in 0..KILLS {
        let line = s.expect("round");
        watchdog::tick();
        let f = fields(&line);
        let what = format!("{ctx}: round {line}");
        assert!(!line.contains(" BAD "), "{what}");
        // Nothing leaked in the survivor once its channel and listener are dropped.
        let n = |m: &HashMap<&str, &str>, k: &str| m[k].parse::<usize>().unwrap();
        assert!(n(&f, "fds") <= n(&base, "fds"), "fds: {what}");
        assert!(n(&f, "threads") <= n(&base, "threads"), "threads: {what}");
        assert_eq!(f["shm"], "0", "shared memory still held: {what}");
        assert_eq!(f["files"], "-", "files left: {what}");
        if f["phase"] == "handshake" && endpoint != "pair" {
            // Connections close (the victim closes them) or are cut by the kill; once the
            // victim listener is dead, connecting finds nobody. Never Timeout, on `fifo://`
            // too, wherever the kill falls: before the client opens the rendezvous, or before
            // it writes its request there, it finds nobody (NotFound); once the request is in
            // the rendezvous, taken by the listener or not, the client holds its end until the
            // listener's first byte and sees it lose its reader (PeerDisconnected); once the
            // listener has opened the client's FIFOs, their hang-up says the same.
            for end in f["ends"].split(',').filter(|e| *e != "-") {
                assert!(
                    ["Closed", "PeerDisconnected", "NotFound"].contains(&end),
                    "{end}: {what}"
                );
            }
        } else {
            assert_eq!(f["recv"], "PeerDisconnected", "{what}");
            assert_eq!(f["send"], "PeerDisconnected", "{what}");
        }
        if survivor == "connect" && endpoint != "pair" {
            assert_eq!(
                f["rebind"], "ok",
                "binding the killed listener's endpoint: {what}"
            );
        }
    }
    s.expect("done");
    s.finish_ok();
}

/// SIGKILL of the listening victim and of the connecting victim, 25 times each, at random
/// points of five phases (handshake, mid-stream, mid large message, blocked in send, blocked
/// in recv), on every transport.
#[test]
fn sigkill_either_side_at_random_points() {
    let _watchdog = Watchdog::start();
    std::thread::scope(|s| {
        for (i, t) in TRANSPORTS.into_iter().enumerate() {
            for (j, survivor) in ["listen", "connect"].into_iter().enumerate() {
                s.spawn(move || {
                    let site = t.site();
                    let seed = 0x5eed_0000 + (i * 2 + j) as u64;
                    kill_campaign(&site, site.there(), survivor, seed);
                });
            }
        }
    });
}

/// The same over parent-and-child pairs (`Channel::spawn`): the child is killed.
#[test]
fn sigkill_of_a_spawned_child_at_random_points() {
    let _watchdog = Watchdog::start();
    let site = Transport::Unix.site();
    kill_campaign(&site, "pair", "listen", 0x5eed_0100);
}

/// Parent-and-child pairs the other way round: the parent (`fault-victim parent`) is killed,
/// 25 times, in four phases (mid-stream, mid large message, blocked in send, blocked in recv);
/// the child (`fault-child`) checks itself.
#[test]
fn sigkill_of_the_parent_at_random_points() {
    let _watchdog = Watchdog::start();
    let phases = ["stream", "large", "send", "recv"];
    for i in 0..KILLS {
        let phase = phases[i as usize % phases.len()];
        let seed = (0x5eed_0200 + i).to_string();
        let mut v = peer!("fault-victim", "parent", "-", phase, "--seed", &seed).spawn();
        // The parent's line, then the child's (they share stdin and stdout).
        assert_eq!(v.line(), "go");
        v.say("go");
        assert_eq!(v.line(), "kill");
        v.kill();
        v.say("killed");
        let line = v.expect("round");
        watchdog::tick();
        let f = fields(&line);
        let what = format!("seed {seed}: {line}");
        assert!(!line.contains(" BAD "), "{what}");
        assert_eq!(f["recv"], "PeerDisconnected", "{what}");
        assert_eq!(f["send"], "PeerDisconnected", "{what}");
        let n = |k: &str| f[k].parse::<usize>().unwrap();
        // The inherited channel descriptor is closed; the stdin reader thread may remain.
        assert!(n("fds") < n("base_fds"), "fds: {what}");
        assert!(n("threads") <= n("base_threads") + 1, "threads: {what}");
        assert_eq!(f["shm"], "0", "{what}");
    }
}

fn signal(peer: &Peer, sig: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(peer.pid() as i32).expect("a pid");
    rustix::process::kill_process(pid, sig).expect("signal the peer");
}

/// A stopped consumer: the sender's `send_timeout` times out (nothing sent), again and
/// again, with its memory flat (4N attempts cost no more than N); after SIGCONT every message
/// reported sent arrives, in order, then Closed.
fn stopped_consumer(t: Transport) {
    let mut site = t.site();
    let mut consumer = peer!("stream", "listen", site.there(), "--recv", "all")
        .args(["--recv-seed", "5", "--max-size", "65536"])
        .listening(&mut site);
    let mut sender = peer!("fault-sender", site.there(), "--attempts", "300")
        .args(["--seed", "5", "--max-size", "65536"])
        .site(&site)
        .spawn();
    sender.expect("connected");
    consumer.expect("connected");
    signal(&consumer, rustix::process::Signal::STOP);
    sender.say("go");
    let blocked = sender.expect("blocked");
    let f = fields(&blocked);
    let sent: u64 = f["sent"].parse().unwrap();
    assert!(sent > 0, "{t:?}: {blocked}");
    // A stopped consumer takes nothing: every attempt after the path filled times out. Over
    // TCP the stopped process's kernel still acknowledges data and may widen its receive
    // window, so a few more messages can go out (bounded: the buffers are finite).
    let late: u64 = f["ok_after_full"].parse().unwrap();
    let timeouts: u64 = f["timeouts"].parse().unwrap();
    assert_eq!(timeouts + late, 1200, "{t:?}: {blocked}");
    if t == Transport::Tcp {
        assert!(late <= 200, "{t:?}: {blocked}");
    } else {
        assert_eq!(late, 0, "{t:?}: {blocked}");
    }
    let rss: Vec<u64> = f["rss_kib"]
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    assert!(
        rss[2] <= rss[1] + 1024,
        "{t:?}: resident memory grew with the attempts (KiB at first timeout, N, 4N): {rss:?}"
    );
    signal(&consumer, rustix::process::Signal::CONT);
    sender.say("finish");
    sender.expect("closed");
    sender.finish_ok();
    assert_eq!(
        consumer.expect("done"),
        format!("sent=0 received={sent} send_end=- recv_end=Closed"),
        "{t:?}"
    );
    consumer.finish_ok();
    println!("{t:?}: {blocked}");
}

/// Bind template for `fault-nofile`: listeners next to the site's endpoint.
fn bind_template(t: Transport, there: &str) -> String {
    match t {
        Transport::Unix => there.replace("x.sock", "b{}.sock"),
        Transport::Fifo => there.replace("x.fifo", "b{}.fifo"),
        Transport::Shm => format!("{there}-b{{}}"),
        _ => "tcp://127.0.0.1:0".into(),
    }
}

/// The documented error for running out of descriptors: Io carrying EMFILE.
fn assert_emfile(line: &str, what: &str) {
    let f = fields(line);
    assert_eq!(
        (f["kind"], f["errno"]),
        ("Io", "24"),
        "{what}: expected Io/EMFILE, got {line}"
    );
    assert!(f["n"].parse::<u32>().unwrap() > 0, "{what}: {line}");
}

/// A process whose soft RLIMIT_NOFILE is low binds, then connects, until it cannot: a clear
/// error (Io with EMFILE) wherever in connecting the table fills up, no panic or abort, and it works again once descriptors are freed.
/// Then a listener with a low limit, fed connections until it cannot take more, is still
/// alive and accepts again once it has freed its channels.
fn low_nofile(t: Transport) {
    let mut site = t.site();
    let _server = peer!("echo-server", site.there()).listening(&mut site);
    let mut client = peer!(
        "fault-nofile",
        "connect",
        site.there(),
        bind_template(t, site.there()),
        "--limit",
        "64"
    )
    .site(&site)
    .spawn();
    assert_emfile(&client.expect("bind-failed"), &format!("{t:?} bind"));
    client.expect("bind-recovered");
    // One `connect-failed` line per padding of the descriptor table (so the table fills up
    // at each step of connecting), then `connect-recovered`.
    let mut failures = 0;
    loop {
        let line = client.line();
        match line.split_once(' ') {
            Some(("connect-failed", rest)) => {
                assert_emfile(rest, &format!("{t:?} connect"));
                failures += 1;
            }
            _ if line == "connect-recovered" => break,
            _ => panic!("{t:?}: expected connect-failed or connect-recovered, got {line:?}"),
        }
    }
    assert!(failures > 1, "{t:?}: only {failures} connect-failed lines");
    client.finish_ok();

    let mut site = t.site();
    let mut listener =
        peer!("fault-nofile", "listen", site.there(), "--limit", "40").listening(&mut site);
    let opts = Options::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_handshake_timeout(Duration::from_secs(2));
    let mut held = Vec::new();
    let failed = loop {
        match Channel::connect_with(site.here(), &opts) {
            Ok(ch) => held.push(ch),
            Err(e) => break e,
        }
        assert!(held.len() < 200, "{t:?}: the listener never ran out");
    };
    assert!(
        [
            ErrorKind::Timeout,
            ErrorKind::PeerDisconnected,
            ErrorKind::Io
        ]
        .contains(&failed.kind()),
        "{t:?}: a client of the exhausted listener got {failed}"
    );
    // Every client that got in is the listener's once its side of the handshake has ended
    // too (a client can finish first): wait for that, or freeing would miss late arrivals.
    let before = held.len().to_string();
    settle(
        || {
            listener.say("count");
            listener.expect("held") == before
        },
        &format!("{t:?}: the listener taking the {before} clients that got in"),
    );
    listener.say("free");
    listener.expect("freed");
    // Recovered: a client gets in. The first tries after freeing may still be refused
    // (fifo: PeerDisconnected; shm: Io EMFILE from memfd_create) while the listener works
    // through what queued up: up to 20 tries, 50 ms apart.
    let mut tries = Vec::new();
    let ch = loop {
        match Channel::connect_with(site.here(), &Options::new()) {
            Ok(ch) => break ch,
            Err(e) if tries.len() < 20 => {
                tries.push(e.to_string());
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{t:?}: connect after freeing: {e} (before: {tries:?})"),
        }
    };
    // Accepted in the background: held once the acceptor has handed it over.
    settle(
        || {
            listener.say("count");
            listener.expect("held") != "0"
        },
        &format!("{t:?}: the connection after freeing (held {before} before)"),
    );
    drop(ch);
    drop(held);
    let rest = listener.finish_ok();
    println!("{t:?}: listener held {before} at exhaustion, client got {failed}; {rest:?}");
}

/// Clients that connect and never finish the handshake (silent, or half a hello) do not hold
/// up others: while they wait, other clients connect and exchange. Then each is refused with
/// the handshake timeout (the default, 5 s): a hello with status Timeout, an ERROR frame, the
/// end; and the listener holds no more descriptors than before.
fn silent_clients_are_dropped(t: Transport) {
    let mut site = t.site();
    let mut server = peer!("echo-server", site.there()).listening(&mut site);
    let pid = server.pid();
    let fds = || proc_count(pid, "fd");
    let before = fds();
    let mut silent: Vec<RawStream> = (0..6)
        .map(|i| {
            let mut s = raw::connect(site.here()).expect("raw connect");
            if i % 2 == 1 {
                s.put(&raw::hello(1024)[..10]);
            }
            s
        })
        .collect();
    let clients = peer!("clients", site.there(), "0", "4", "50")
        .site(&site)
        .spawn();
    let lines = clients.finish_ok();
    assert_eq!(lines.len(), 4, "{t:?}: {lines:?}");
    assert!(lines.iter().all(|l| l.ends_with(" ok")), "{t:?}: {lines:?}");
    for s in &mut silent {
        s.assert_nothing_received();
    }
    for s in &mut silent {
        let hello = s.read_hello();
        assert_eq!(hello.status, ErrorKind::Timeout.code(), "{t:?}");
        assert_eq!(
            s.read_error_frame().code,
            ErrorKind::Timeout.code(),
            "{t:?}"
        );
        s.assert_closed();
    }
    drop(silent);
    for _ in 0..4 {
        assert_eq!(server.expect("end"), "Closed", "{t:?}");
    }
    settle(
        || fds() <= before,
        &format!("{t:?}: listener fds back to {before}"),
    );
}

fn proc_count(pid: u32, what: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/{what}"))
        .map(|d| d.count())
        .expect("read /proc")
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("read status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// Wait (a hang guard only) until `ok` holds: a connection's last descriptor and thread go
/// away just after the `end` line that says it ended.
fn settle(mut ok: impl FnMut() -> bool, what: &str) {
    for _ in 0..3000 {
        if ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{what}: never settled");
}

/// 10,000 connect, exchange and disconnect cycles against one listener process: its fds and
/// threads after the last cycle are no more than after the 1,000th, and its resident memory
/// grew by less than 4 MiB between the two.
fn connect_disconnect_cycles(t: Transport) {
    const CYCLES: u32 = 10_000;
    let mut site = t.site();
    let mut server = peer!("echo-server", site.there()).listening(&mut site);
    let pid = server.pid();
    let mut first = None;
    for i in 1..=CYCLES {
        let ch = Channel::connect(site.here()).expect("connect");
        ch.send(b"cycle").unwrap();
        assert_eq!(&*ch.recv().unwrap(), b"cycle");
        ch.close();
        drop(ch);
        assert_eq!(server.expect("end"), "Closed");
        watchdog::tick();
        if i == 1000 || i == CYCLES {
            // Settled: two samples 20 ms apart agree.
            let sample = || (proc_count(pid, "fd"), proc_count(pid, "task"));
            let mut last = sample();
            settle(
                || {
                    std::thread::sleep(Duration::from_millis(20));
                    let now = sample();
                    std::mem::replace(&mut last, now) == now
                },
                "listener counts",
            );
            let now = (last.0, last.1, rss_kib(pid));
            match first {
                None => first = Some(now),
                Some(f) => {
                    println!(
                        "{t:?}: after 1,000 cycles fds={} threads={} rss={} KiB; after {CYCLES}: fds={} threads={} rss={} KiB",
                        f.0, f.1, f.2, now.0, now.1, now.2
                    );
                    assert!(now.0 <= f.0, "{t:?}: fds grew: {f:?} -> {now:?}");
                    assert!(now.1 <= f.1, "{t:?}: threads grew: {f:?} -> {now:?}");
                    assert!(now.2 < f.2 + 4096, "{t:?}: memory grew: {f:?} -> {now:?}");
                }
            }
        }
    }
}

macro_rules! per_transport {
    ($test:ident: $($module:ident $variant:ident),+) => {
        mod $test {
            $(
                #[test]
                fn $module() {
                    let _watchdog = libipc_conformance::watchdog::Watchdog::start();
                    super::$test(libipc_conformance::transport::Transport::$variant);
                }
            )+
        }
    };
}

per_transport!(stopped_consumer: unix Unix, tcp Tcp, shm Shm, fifo Fifo);
per_transport!(low_nofile: unix Unix, tcp Tcp, shm Shm, fifo Fifo);
per_transport!(silent_clients_are_dropped: unix Unix, tcp Tcp, shm Shm, fifo Fifo);
per_transport!(connect_disconnect_cycles: unix Unix, shm Shm);
