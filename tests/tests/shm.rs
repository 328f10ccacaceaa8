//! `shm://` beyond the shared conformance suite (which also runs on shm): volume through small
//! rings, every wrap-around boundary, the record layout as seen by a raw reader, SIGKILL of
//! either side with nothing left behind, and the in-place API (`send_with`, `recv_with`,
//! `try_send`). Rings are 64 KiB (the smallest) so that messages wrap and fragment constantly.
//!
//! Unix only (Unix sockets, TCP or shared memory); the Windows run covers named pipes.

#![cfg(unix)]

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::time::Duration;

use libipc::wire::{FLAG_MORE, FrameType};
use libipc::{Channel, ErrorKind, Listener, Options};
use libipc_conformance::stream::{self, Count, Progress, Spec};
use libipc_conformance::transport::{Site, TempDir, Transport, unique_name};
use libipc_conformance::watchdog::{self, Watchdog};
use libipc_conformance::{peer, shm_raw};

const RING: usize = 64 * 1024;

fn ring_opts() -> Options {
    Options::new().with_shm_ring_size(RING)
}

fn bind(site: &mut Site, opts: &Options) -> Listener {
    let l = Listener::bind_with(site.here(), opts).unwrap();
    site.bound(l.local_endpoint());
    l
}

fn pattern(len: usize, salt: u64) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9e37_79b9) >> 7 ^ salt) as u8)
        .collect()
}

/// 1,000,000 checksummed messages, 500,000 each way at once, through 64 KiB rings, of
/// log-uniform sizes from 0 to 128 KiB (twice the ring: every message over 32,760 bytes is
/// fragmented): all arrive, in order, intact, none twice, then the orderly close.
#[test]
fn a_million_messages_through_small_rings() {
    let _watchdog = Watchdog::start();
    const EACH: u64 = 500_000;
    let max = (2 * RING).to_string();
    let mut site = Transport::Shm.site();
    let listener = bind(&mut site, &ring_opts());
    let n = EACH.to_string();
    let mut child = peer!("stream", "connect", site.there())
        .args([
            "--send",
            &n,
            "--recv",
            &n,
            "--send-seed",
            "22",
            "--recv-seed",
            "11",
        ])
        .args(["--max-size", &max, "--end", "--close"])
        .site(&site)
        .spawn();
    let ch = listener.accept().unwrap();
    child.expect("connected");
    let spec = Spec {
        send: Count::N(EACH),
        recv: Count::N(EACH),
        send_seed: 11,
        recv_seed: 22,
        max_size: 2 * RING,
        end_marker: true,
        then_end: true,
        close: true,
    };
    let report = stream::run(&ch, &spec, &Progress::default());
    let all = format!("sent={n} received={n} send_end=-");
    assert_eq!(report.to_string(), format!("{all} recv_end=Closed"));
    assert_eq!(child.expect("done"), format!("{all} recv_end=-"));
    child.finish_ok();
}

/// Messages sized to put record ends at every 8-byte offset of the last 256 bytes of a 64 KiB
/// ring (exact fits, one record short, one over, so a PAD), plus the largest single record
/// (32,760 bytes), the first fragmented size (32,761) and exact multiples, at several
/// positions (`shm_raw::boundary_sizes`). Sent pipelined to an echo server, they go through
/// both rings at the same positions; every byte of every echo is checked.
#[test]
fn every_wrap_around_boundary_both_ways() {
    let _watchdog = Watchdog::start();
    let mut site = Transport::Shm.site();
    let _server =
        peer!("echo-server", site.there(), "--shm-ring", RING.to_string()).listening(&mut site);
    let ch = Channel::connect(site.here()).unwrap();
    let sizes = shm_raw::boundary_sizes(RING as u64);
    std::thread::scope(|s| {
        s.spawn(|| {
            for (i, &len) in sizes.iter().enumerate() {
                ch.send(&pattern(len, i as u64)).unwrap();
            }
        });
        for (i, &len) in sizes.iter().enumerate() {
            let echo = ch.recv().unwrap();
            assert!(
                *echo == pattern(len, i as u64)[..],
                "message {i} of {len} bytes came back as {} different bytes",
                echo.len()
            );
            watchdog::tick();
        }
    });
}

/// A raw client publishes the boundary sizes into ring 0 exactly as the layout documents, and
/// reads libipc's echoes from ring 1: every record (and PAD) libipc publishes sits where the
/// documented layout puts it, fragments carry MORE on all but the last, and the bytes are
/// intact. This is what makes the boundary test above land on the boundaries it claims.
#[test]
fn libipc_records_follow_the_documented_layout() {
    let _watchdog = Watchdog::start();
    let mut site = Transport::Shm.site();
    let _server =
        peer!("echo-server", site.there(), "--shm-ring", RING.to_string()).listening(&mut site);
    let mut conn = shm_raw::connect(site.here()).unwrap();
    assert_eq!(conn.cap, RING as u64);
    let sizes = shm_raw::boundary_sizes(RING as u64);
    let mut expected = shm_raw::layout(RING as u64, &sizes).into_iter();
    for (i, &len) in sizes.iter().enumerate() {
        let want = pattern(len, i as u64);
        conn.send_message(&want);
        let mut got = Vec::new();
        loop {
            let r = conn.take();
            let p = expected.next().expect("more records than the layout says");
            assert_eq!(
                (r.at, r.pad),
                (p.at, p.pad),
                "message {i} ({len} bytes): {r:?}"
            );
            assert_eq!(r.header.frame_type, FrameType::Data);
            assert_eq!(r.header.flags, if p.more { FLAG_MORE } else { 0 });
            got.extend_from_slice(&r.payload);
            if !p.more {
                break;
            }
        }
        assert!(got == want, "message {i} ({len} bytes) damaged");
        watchdog::tick();
    }
    assert!(
        expected.next().is_none(),
        "fewer records than the layout says"
    );
    // Our CLOSE ends the server's channel; it hangs up the control socket.
    conn.send_record(FrameType::Close, 0, &[]);
    assert_eq!(
        std::io::Read::read(&mut conn.ctrl, &mut [0u8; 16]).unwrap(),
        0
    );
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// SIGKILL of either side at a random moment of a bidirectional stream through 64 KiB rings,
/// in every combination of what the killed side was doing (reading or not, sending or not):
/// the survivor's receiving thread and its sending thread (blocked on a full ring whenever the
/// killed side did not read) both end with PeerDisconnected, and nothing is left behind:
/// `/dev/shm` is unchanged (segments are memfds) and the runtime directory is empty once the
/// survivor has dropped its listener. When the listener is the one killed it cannot remove
/// its control socket file; the test checks that the next listener there reclaims it and
/// removes it when dropped.
#[test]
fn sigkill_of_either_side_leaves_nothing_behind() {
    let _watchdog = Watchdog::start();
    let dev_shm = Path::new("/dev/shm");
    let before = listing(dev_shm);
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let max = (2 * RING).to_string();
    for i in 0..8 {
        let (kill_listener, killed_reads, killed_sends) = (i & 1 == 0, i & 2 == 0, i & 4 == 0);
        let what = format!(
            "seed {seed}, round {i}: kill the {}, which {} and {}",
            if kill_listener { "listener" } else { "client" },
            if killed_reads {
                "reads"
            } else {
                "does not read"
            },
            if killed_sends {
                "sends"
            } else {
                "does not send"
            },
        );
        let tmp = TempDir::new("shmkill");
        let run = tmp.path().join("run");
        std::fs::DirBuilder::new().mode(0o700).create(&run).unwrap();
        let ep = format!("shm://{}", unique_name());
        // The listener sends schedule 1 and expects schedule 2; the client the other way round.
        let args = |reads: bool, sends: bool, listener: bool| {
            // A side that neither reads nor sends waits (for a line that never comes) instead
            // of finishing at once.
            let idle = if reads || sends { "--hold" } else { "--wait" };
            [
                idle,
                "--recv",
                if reads { "all" } else { "0" },
                "--send",
                if sends { "forever" } else { "0" },
                "--send-seed",
                if listener { "1" } else { "2" },
                "--recv-seed",
                if listener { "2" } else { "1" },
                "--max-size",
                &max,
            ]
            .map(str::to_owned)
        };
        let (l_args, c_args) = if kill_listener {
            (
                args(killed_reads, killed_sends, true),
                args(true, true, false),
            )
        } else {
            (
                args(true, true, true),
                args(killed_reads, killed_sends, false),
            )
        };
        let mut listener = peer!(
            "stream",
            "listen",
            &ep,
            "--hold",
            "--shm-ring",
            RING.to_string()
        )
        .args(l_args)
        .env("LIBIPC_RUNTIME_DIR", &run)
        .spawn();
        listener.ready();
        let mut client = peer!("stream", "connect", &ep)
            .args(c_args)
            .env("LIBIPC_RUNTIME_DIR", &run)
            .spawn();
        listener.expect("connected");
        client.expect("connected");
        // A ring fills in microseconds; a side that does not read has a blocked sender by then.
        std::thread::sleep(Duration::from_millis(
            rng.u64(..150) + if killed_reads { 0 } else { 50 },
        ));
        let (mut killed, survivor) = if kill_listener {
            (listener, client)
        } else {
            (client, listener)
        };
        killed.kill();
        let mut survivor = survivor;
        let report = survivor.expect("done");
        assert!(
            report.ends_with("send_end=PeerDisconnected recv_end=PeerDisconnected"),
            "{what}: {report}"
        );
        survivor.finish_ok();
        let sock = format!("{}.shm.sock", ep.trim_start_matches("shm://"));
        if kill_listener {
            assert_eq!(
                listing(&run),
                [sock],
                "{what}: the killed listener's socket"
            );
            let mut next = peer!("echo-server", &ep)
                .env("LIBIPC_RUNTIME_DIR", &run)
                .spawn();
            assert_eq!(next.ready(), ep, "{what}: the stale socket is reclaimed");
            assert_eq!(next.finish_ok(), ["bye"], "{what}");
        }
        assert!(listing(&run).is_empty(), "{what}: left {:?}", listing(&run));
        watchdog::tick();
    }
    assert_eq!(listing(dev_shm), before, "/dev/shm changed");
}

/// `send_with` writes a message in place and `recv_with` reads one in place, through an echo
/// server with 64 KiB rings: sizes from 0 to over three rings, around the largest single
/// record (32,760 bytes: in place in the ring) and the first fragmented size (32,761: built
/// privately, sent in fragments, and received by `recv_with` from the joined fragments). Then
/// 300 random sizes up to 128 KiB pipelined both ways. Every byte is checked.
#[test]
fn in_place_send_and_receive_round_trip() {
    let _watchdog = Watchdog::start();
    let mut site = Transport::Shm.site();
    let _server =
        peer!("echo-server", site.there(), "--shm-ring", RING.to_string()).listening(&mut site);
    let ch = Channel::connect(site.here()).unwrap();
    let max = shm_raw::max_record(RING as u64);
    let sizes = [
        0,
        1,
        7,
        8,
        9,
        4096,
        max - 1,
        max,
        max + 1,
        RING / 2,
        RING,
        3 * RING + 5,
    ];
    let send = |i: usize, len: usize| {
        let want = pattern(len, i as u64);
        ch.send_with(len, |buf| {
            assert_eq!(buf.len(), len);
            buf.fill(0xee);
            // Second half first, then the first: the order of writes must not matter.
            buf.write_at(len / 2, &want[len / 2..]);
            buf.write_at(0, &want[..len / 2]);
        })
        .unwrap();
    };
    let recv = |i: usize, len: usize| {
        let got = ch
            .recv_with_timeout(Duration::from_secs(60), |msg| {
                let mut v = vec![0u8; msg.len()];
                for (k, chunk) in v.chunks_mut(1000).enumerate().rev() {
                    msg.read_at(k * 1000, chunk);
                }
                assert_eq!(msg.to_vec(), v);
                v
            })
            .unwrap();
        assert!(got == pattern(len, i as u64), "message {i} ({len} bytes)");
    };
    for (i, &len) in sizes.iter().enumerate() {
        send(i, len);
        recv(i, len);
    }
    let mut rng = fastrand::Rng::new();
    let random: Vec<usize> = (0..300).map(|_| rng.usize(..=2 * RING)).collect();
    std::thread::scope(|s| {
        s.spawn(|| random.iter().enumerate().for_each(|(i, &l)| send(i, l)));
        random.iter().enumerate().for_each(|(i, &l)| recv(i, l));
    });
}

/// `try_send` towards a process that is not reading: messages go in until the 64 KiB ring is
/// full, then `try_send` returns Timeout, again and again for the same message, having sent
/// nothing (a partial or duplicate send would break the receiver's sequence check). Once the
/// peer reads, the rest follows and it receives exactly what was reported sent, messages up to
/// 128 KiB included (fragments).
#[test]
fn try_send_reports_a_full_ring_and_loses_nothing() {
    let _watchdog = Watchdog::start();
    let mut site = Transport::Shm.site();
    let listener = bind(&mut site, &ring_opts());
    let max = 2 * RING;
    let mut child = peer!("stream", "connect", site.there(), "--recv", "all")
        .args(["--recv-seed", "4", "--max-size", &max.to_string(), "--wait"])
        .site(&site)
        .spawn();
    let ch = listener.accept().unwrap();
    child.expect("connected");
    let mut schedule = stream::Schedule::new(4, max);
    let (mut buf, mut sent, mut full_at) = (Vec::new(), 0u64, None);
    let mut next = schedule.next().unwrap();
    while sent < 3000 {
        stream::encode(next.0, next.1, &mut buf);
        match ch.try_send(&buf) {
            Ok(()) => {
                sent += 1;
                next = schedule.next().unwrap();
                watchdog::tick();
            }
            Err(e) if e.kind() == ErrorKind::Timeout => {
                if full_at.is_none() {
                    assert!(sent > 0, "the first message did not fit in an empty ring");
                    for _ in 0..3 {
                        assert_eq!(ch.try_send(&buf).unwrap_err().kind(), ErrorKind::Timeout);
                    }
                    full_at = Some(sent);
                    child.say("go");
                }
                std::thread::yield_now();
            }
            Err(e) => panic!("try_send: {e}"),
        }
    }
    assert!(full_at.is_some(), "the ring never filled");
    ch.close();
    let report = format!("sent=0 received={sent} send_end=- recv_end=Closed");
    assert_eq!(child.expect("done"), report);
    child.finish_ok();
}

/// What a process holds of shared-memory connections: mappings of libipc segments and open
/// eventfds (the doorbells), from `/proc`.
fn held(pid: u32) -> (usize, usize) {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mappings = maps
        .lines()
        .filter(|l| l.contains("memfd:libipc-shm"))
        .count();
    let eventfds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy() == "anon_inode:[eventfd]")
        .count();
    (mappings, eventfds)
}

/// A listener process that served 30 shared-memory clients, each closed in turn, holds no
/// segment mapping and no more doorbells than before them: every connection's segment, memfd
/// and eventfds are released when its channel ends. While one is open it holds exactly one
/// mapping and four doorbells for it.
#[test]
fn closed_channels_release_their_segments_and_doorbells() {
    let _watchdog = Watchdog::start();
    let mut site = Transport::Shm.site();
    let mut server =
        peer!("echo-server", site.there(), "--shm-ring", RING.to_string()).listening(&mut site);
    let one = |server: &mut libipc_conformance::peer::Peer| {
        let ch = Channel::connect(site.here()).unwrap();
        ch.send(b"hi").unwrap();
        assert_eq!(&*ch.recv().unwrap(), b"hi");
        let during = held(server.pid());
        ch.close();
        assert_eq!(server.expect("end"), "Closed");
        during
    };
    one(&mut server);
    // The echo thread drops its channel just after saying `end`: wait (30 s hang guard).
    let settled = |pid: u32, done: &dyn Fn((usize, usize)) -> bool| {
        let guard = std::time::Instant::now() + Duration::from_secs(30);
        while !done(held(pid)) && std::time::Instant::now() < guard {
            std::thread::sleep(Duration::from_millis(5));
        }
        held(pid)
    };
    let idle = settled(server.pid(), &|h| h.0 == 0);
    assert_eq!(idle.0, 0, "segments still mapped after the first client");
    for _ in 0..30 {
        // The previous connection's echo thread may still be dropping its channel.
        assert_eq!(
            settled(server.pid(), &|h| h == idle),
            idle,
            "between connections"
        );
        let during = one(&mut server);
        assert_eq!(during, (idle.0 + 1, idle.1 + 4), "one connection's share");
        watchdog::tick();
    }
    let after = settled(server.pid(), &|h| h == idle);
    assert_eq!(after, idle, "after 30 closed connections");
}

/// `shm://svc` and the bare name `svc` live side by side in one runtime directory (as
/// `svc.shm.sock` and `svc.sock`, both mode 0600) and never reach each other's listener; both
/// files go when their listeners stop.
#[test]
fn shm_and_bare_names_have_separate_private_socket_files() {
    use std::os::unix::fs::PermissionsExt;
    let _watchdog = Watchdog::start();
    let tmp = TempDir::new("shmfile");
    let run = tmp.path().join("run");
    let (shm, bare) = ("shm://svc", "svc");
    let mut servers: Vec<_> = [shm, bare]
        .map(|ep| {
            peer!("echo-server", ep)
                .env("LIBIPC_RUNTIME_DIR", &run)
                .spawn()
        })
        .into_iter()
        .collect();
    for (s, ep) in servers.iter_mut().zip([shm, bare]) {
        assert_eq!(s.ready(), ep);
    }
    assert_eq!(listing(&run), ["svc.shm.sock", "svc.sock"]);
    for f in listing(&run) {
        let mode = std::fs::metadata(run.join(&f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    for (ep, server) in [shm, bare].into_iter().zip(&servers) {
        let mut client = peer!("connect", ep).env("LIBIPC_RUNTIME_DIR", &run).spawn();
        let seen = client.expect("connected");
        assert!(
            seen.starts_with(&format!("pid={} ", server.pid())),
            "{ep}: {seen}"
        );
    }
    for s in servers {
        assert_eq!(s.finish_ok().last().map(String::as_str), Some("bye"));
    }
    assert!(listing(&run).is_empty(), "left {:?}", listing(&run));
}
