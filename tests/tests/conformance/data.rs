//! What goes in comes out: message boundaries, FIFO order, volume in both directions at once,
//! many clients, shared channels, timeouts that lose nothing, and message size limits.

use std::time::Duration;

use libipc::{ErrorKind, Options};
use libipc_conformance::api::{Api, Ch};
use libipc_conformance::peer::ClientProcesses;
use libipc_conformance::stream::{self, Count, MIB, Progress, Spec};
use libipc_conformance::transport::Transport;
use libipc_conformance::{api_tests, peer};

use super::{bind, err_kind, pattern};

api_tests!(
    echo_keeps_boundaries_and_order,
    volume_both_directions_at_once,
    fifty_clients_at_once,
    concurrent_senders_and_receivers_share_a_channel,
    timeouts_lose_nothing,
    send_timeout_sends_all_or_nothing,
    message_too_large_is_refused_locally,
);

/// One message at a time, then 2,000 pipelined: every echo is the message sent, byte for byte,
/// in order; empty messages survive as empty messages.
fn echo_keeps_boundaries_and_order(t: Transport, api: Api) {
    let mut site = t.site();
    let mut server = peer!("echo-server", site.there()).listening(&mut site);
    let ch = api.connect(site.here()).unwrap();
    let small = [0, 1, 0, 0, 7, 8, 9, 100, 4096];
    let large = [65_535, 65_536, 65_537, MIB, 0, 3 * MIB, 1];
    for (i, &len) in small.iter().chain(&large).enumerate() {
        let m = pattern(len, i as u8);
        ch.send(&m).unwrap();
        let echo = ch.recv().unwrap();
        assert!(
            *echo == m[..],
            "message {i} ({len} bytes) came back as {echo:?}"
        );
    }
    // Echo: what we receive is what we send, so both schedules use one seed.
    let spec = Spec {
        send: Count::N(2000),
        recv: Count::N(2000),
        send_seed: 5,
        recv_seed: 5,
        max_size: 64 * 1024,
        ..Spec::default()
    };
    let report = stream::run(&ch, &spec, &Progress::default());
    assert_eq!(
        report.to_string(),
        "sent=2000 received=2000 send_end=- recv_end=-"
    );
    ch.close();
    assert_eq!(server.expect("end"), "Closed");
    assert!(server.finish_ok().contains(&"bye".to_owned()));
}

/// Both directions at once, each side with a sender and a receiver thread: messages of
/// log-uniform random size up to 1 MiB, each with sequence number and CRC-32, all arrive, in
/// order, intact, none twice, and nothing follows the last one but the orderly close.
fn volume_both_directions_at_once(t: Transport, api: Api) {
    let mut site = t.site();
    let listener = bind(&mut site, api);
    let n = t.volume().to_string();
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
        .args(["--end", "--close"])
        .site(&site)
        .spawn();
    let ch = listener.accept().unwrap();
    child.expect("connected");
    let spec = Spec {
        send: Count::N(t.volume()),
        recv: Count::N(t.volume()),
        send_seed: 11,
        recv_seed: 22,
        end_marker: true,
        then_end: true,
        close: true,
        ..Spec::default()
    };
    let report = stream::run(&ch, &spec, &Progress::default());
    let all = format!("sent={n} received={n} send_end=-");
    assert_eq!(report.to_string(), format!("{all} recv_end=Closed"));
    assert_eq!(child.expect("done"), format!("{all} recv_end=-"));
    child.finish_ok();
}

/// 50 clients in 10 processes connect at once and each exchange 1,000 tagged messages with
/// one listener: every connection carries exactly one client's messages, in order, and every
/// client gets exactly its own echoes back.
fn fifty_clients_at_once(t: Transport, api: Api) {
    const PROCESSES: u32 = 10;
    const PER_PROCESS: u32 = 5;
    const MESSAGES: u32 = 1000;
    let mut site = t.site();
    let listener = bind(&mut site, api);
    let clients = ClientProcesses::spawn(|| peer!(), &site, PROCESSES, PER_PROCESS, MESSAGES);
    let mut ids: Vec<u32> = std::thread::scope(|s| {
        let servers: Vec<_> = (0..PROCESSES * PER_PROCESS)
            .map(|_| {
                let ch = listener.accept().unwrap();
                s.spawn(move || serve_tagged(&ch, MESSAGES))
            })
            .collect();
        servers.into_iter().map(|h| h.join().unwrap()).collect()
    });
    ids.sort_unstable();
    assert_eq!(ids, (0..PROCESSES * PER_PROCESS).collect::<Vec<_>>());
    clients.finish_ok();
}

/// Check and echo one client's tagged messages; return its id.
fn serve_tagged(ch: &Ch, messages: u32) -> u32 {
    let mut id = None;
    for seq in 0..messages {
        let m = ch.recv().unwrap();
        let (from, n) = stream::untag(&m).expect("an intact tagged message");
        assert_eq!(
            (from, n),
            (*id.get_or_insert(from), seq),
            "mixed up or out of order"
        );
        libipc_conformance::watchdog::tick();
        ch.send(&m).unwrap();
    }
    assert_eq!(err_kind(ch.recv()), ErrorKind::Closed);
    id.expect("at least one message")
}

/// One channel used by four sending threads and two receiving threads at once (an echo
/// server at the other end): every message comes back exactly once, intact, and each
/// sender's messages stay in order.
fn concurrent_senders_and_receivers_share_a_channel(t: Transport, api: Api) {
    const SENDERS: u32 = 4;
    const EACH: u32 = 1000;
    let mut site = t.site();
    let _server = peer!("echo-server", site.there()).listening(&mut site);
    let ch = api.connect(site.here()).unwrap();
    let mut seen: Vec<(u32, u32)> = std::thread::scope(|s| {
        for id in 0..SENDERS {
            let ch = ch.clone();
            s.spawn(move || (0..EACH).for_each(|seq| ch.send(&stream::tagged(id, seq)).unwrap()));
        }
        let receivers: Vec<_> = [0, 1]
            .map(|r| {
                let ch = &ch;
                s.spawn(move || {
                    let mut got = Vec::new();
                    let mut last = [None; SENDERS as usize];
                    // Together the receivers take exactly SENDERS * EACH messages.
                    for _ in 0..SENDERS * EACH / 2 {
                        let m = ch.recv().unwrap();
                        let (id, seq) = stream::untag(&m).expect("an intact message");
                        let prev = last[id as usize].replace(seq);
                        assert!(prev < Some(seq), "receiver {r}: {id}/{seq} after {prev:?}");
                        got.push((id, seq));
                    }
                    got
                })
            })
            .into_iter()
            .collect();
        receivers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    seen.sort_unstable();
    let all: Vec<_> = (0..SENDERS)
        .flat_map(|id| (0..EACH).map(move |seq| (id, seq)))
        .collect();
    assert_eq!(seen, all);
}

/// `recv_timeout` and `try_recv` return Timeout without losing anything, including the first
/// half of a 1 MiB message that has arrived while the second half has not been sent yet.
/// The sender is a raw client in another process that sends on command.
fn timeouts_lose_nothing(t: Transport, api: Api) {
    let mut site = t.site();
    let listener = bind(&mut site, api);
    let mut child = peer!("raw-client", site.there(), MIB.to_string())
        .site(&site)
        .spawn();
    let ch = listener.accept().unwrap();
    child.expect("ready");
    let timeout = |ch: &Ch| err_kind(ch.recv_timeout(Duration::from_millis(30)));
    assert_eq!(err_kind(ch.try_recv()), ErrorKind::Timeout);
    assert_eq!(timeout(&ch), ErrorKind::Timeout);

    child.say("small");
    assert_eq!(child.line(), "sent small");
    let small = loop {
        match ch.try_recv() {
            Ok(m) => break m,
            Err(e) if e.kind() == ErrorKind::Timeout => std::thread::yield_now(),
            Err(e) => panic!("try_recv: {e}"),
        }
    };
    assert_eq!(&*small, b"small");

    // The child may need us to read before it can finish writing the first half; every
    // receive until then must time out, the message being incomplete.
    child.say("half");
    loop {
        assert_eq!(timeout(&ch), ErrorKind::Timeout);
        if let Some(line) = child.try_line() {
            assert_eq!(line, "sent half");
            break;
        }
    }
    assert_eq!(timeout(&ch), ErrorKind::Timeout);
    assert_eq!(err_kind(ch.try_recv()), ErrorKind::Timeout);

    child.say("rest");
    let whole = ch.recv().unwrap();
    let want: Vec<u8> = (0..MIB).map(|i| (i % 251) as u8).collect();
    assert!(*whole == want[..], "the 1 MiB message arrived damaged");

    child.say("close");
    assert_eq!(err_kind(ch.recv()), ErrorKind::Closed);
    assert_eq!(err_kind(ch.try_recv()), ErrorKind::Closed);
}

/// `send_timeout` towards a process that is not reading yet: each call either sends the whole
/// message or returns Timeout having sent nothing (we then send that same message again, so
/// a partial or duplicate send would break the receiver's sequence check). Once the peer
/// reads, it receives exactly what was reported sent.
fn send_timeout_sends_all_or_nothing(t: Transport, api: Api) {
    let mut site = t.site();
    let listener = bind(&mut site, api);
    let mut child = peer!("stream", "connect", site.there(), "--recv", "all")
        .args(["--recv-seed", "1", "--max-size", "1024", "--wait"])
        .site(&site)
        .spawn();
    let ch = listener.accept().unwrap();
    child.expect("connected");
    let (mut buf, mut sent, mut timeouts, mut stop_at) = (Vec::new(), 0, 0, None);
    let mut schedule = stream::Schedule::new(1, 1024);
    let mut next = schedule.next().unwrap();
    while stop_at != Some(sent) {
        stream::encode(next.0, next.1, &mut buf);
        match ch.send_timeout(&buf, Duration::from_millis(10)) {
            Ok(()) => {
                sent += 1;
                next = schedule.next().unwrap();
                libipc_conformance::watchdog::tick();
            }
            Err(e) if e.kind() == ErrorKind::Timeout => {
                timeouts += 1;
                if timeouts == 3 {
                    // The socket buffers are full; let the child start reading.
                    child.say("go");
                    stop_at = Some(sent + 1000);
                }
            }
            Err(e) => panic!("send_timeout: {e}; child said {:?}", child.line()),
        }
    }
    ch.close();
    let report = format!("sent=0 received={sent} send_end=- recv_end=Closed");
    assert_eq!(child.expect("done"), report);
}

/// Sending more than the smaller of both sides' limits (1,024 here, 100, 0, and the default
/// 16 MiB) is MessageTooLarge before anything is sent, and the channel goes on working.
fn message_too_large_is_refused_locally(t: Transport, api: Api) {
    let mut site = t.site();
    let _server = peer!("echo-server", site.there(), "--max-message", "1024").listening(&mut site);
    let cases = [
        (Options::new(), 1024),
        (Options::new().with_max_message_size(100), 100),
        (Options::new().with_max_message_size(0), 0),
    ];
    for (opts, limit) in cases {
        let ch = api.connect_with(site.here(), &opts).unwrap();
        assert_eq!(ch.max_message_size(), limit);
        assert_eq!(
            err_kind(ch.send(&vec![1; limit + 1])),
            ErrorKind::MessageTooLarge
        );
        for m in [vec![2; limit], Vec::new(), vec![3; limit.min(10)]] {
            ch.send(&m).unwrap();
            assert_eq!(*ch.recv().unwrap(), m[..]);
        }
    }
    // The default limit, 16 MiB, on both sides.
    let mut site = t.site();
    let _server = peer!("echo-server", site.there()).listening(&mut site);
    let ch = api.connect(site.here()).unwrap();
    let max = libipc::DEFAULT_MAX_MESSAGE_SIZE;
    assert_eq!(ch.max_message_size(), max);
    assert_eq!(
        err_kind(ch.send(&vec![0; max + 1])),
        ErrorKind::MessageTooLarge
    );
    let big = pattern(max, 9);
    ch.send(&big).unwrap();
    assert!(*ch.recv().unwrap() == big[..], "16 MiB echo");
}
