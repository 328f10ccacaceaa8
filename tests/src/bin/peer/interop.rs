//! The interop contract's `server` and `client` commands (`tests/interop/README.md`, which
//! is the spec: the commands, what goes on stdout and stderr, the cases and their checks).

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

use libipc::pubsub::{Policy, Publisher, Subscriber};
use libipc::rpc::{Client, Server};
use libipc::{Channel, Error, ErrorKind, Listener, Options};

use super::Args;

/// The message that makes the server close that channel (not echoed).
const CLOSE: &[u8] = b"interop:close";
/// The message that makes the server end its process at once.
const KILL: &[u8] = b"interop:kill";

/// A case: what the client does on a fresh channel; `Err` is the one-line reason it failed.
type Case = fn(&Channel) -> Result<(), String>;

const CASES: &[(&str, Case)] = &[
    ("empty", |ch| echo_check(ch, &[])),
    ("one-byte", |ch| echo_check(ch, &[0x2a])),
    ("all-bytes", |ch| {
        echo_check(ch, &(0..=255).collect::<Vec<u8>>())
    }),
    ("non-utf8", |ch| echo_check(ch, &NON_UTF8)),
    ("64k", |ch| echo_check(ch, &pattern(65_536))),
    ("1m", |ch| echo_check(ch, &pattern(1 << 20))),
    ("max-size", |ch| {
        echo_check(ch, &pattern(ch.max_message_size()))
    }),
    ("over-max", over_max),
    ("random-10k", random_10k),
    ("server-close", server_close),
    ("server-killed", server_killed),
];

/// A request/reply case: what the client does against a request/reply server at the
/// endpoint (connecting as the case says).
type RpcCase = fn(&str, &Options) -> Result<(), String>;

const RPC_CASES: &[(&str, RpcCase)] = &[
    ("rpc-echo", rpc_echo),
    ("rpc-error", rpc_error),
    ("rpc-many", rpc_many),
    ("rpc-plain-refused", rpc_plain_refused),
    ("sub-all", sub_all),
    ("sub-topic", sub_topic),
    ("sub-plain-refused", rpc_plain_refused),
];

const NON_UTF8: [u8; 16] = [
    0xff, 0xfe, 0xfd, 0x00, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x82, 0x28, 0xf0, 0x90, 0x28, 0xbc, 0x80,
];

/// `server --endpoint E [--max-message N]`: the process's exit status.
pub fn server(args: &Args) -> i32 {
    match serve(args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR {} {}", e.kind(), one_line(e.message()));
            1
        }
    }
}

fn serve(args: &Args) -> Result<(), Error> {
    let ep = endpoint(args)?;
    let opts = args.options().map_err(invalid)?;
    let listener = Arc::new(Listener::bind_with(ep, &opts)?);
    {
        let mut out = std::io::stdout().lock();
        // If stdout is gone there is nobody to serve.
        writeln!(out, "READY {}", listener.local_endpoint())
            .and_then(|()| out.flush())
            .map_err(|e| Error::new(ErrorKind::Io, format!("writing READY: {e}")))?;
    }
    let acceptor = {
        let listener = Arc::clone(&listener);
        std::thread::spawn(move || {
            for ch in listener.incoming() {
                match ch {
                    Ok(ch) => drop(std::thread::spawn(move || serve_connection(&ch))),
                    Err(e) => eprintln!("ACCEPT {} {}", e.kind(), one_line(e.message())),
                }
            }
        })
    };
    // Until end-of-file (a read error ends the wait the same way).
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    listener.close();
    if acceptor.join().is_err() {
        return Err(Error::new(ErrorKind::Io, "the accepting thread panicked"));
    }
    // Connections still open end with the process.
    Ok(())
}

/// `rpc-server --endpoint E [--max-message N]`: the process's exit status.
pub fn rpc_server(args: &Args) -> i32 {
    let run = || -> Result<(), Error> {
        let ep = endpoint(args)?;
        let opts = args.options().map_err(invalid)?;
        let server = Arc::new(Server::bind_with(ep, &opts)?);
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "READY {}", server.local_endpoint())
                .and_then(|()| out.flush())
                .map_err(|e| Error::new(ErrorKind::Io, format!("writing READY: {e}")))?;
        }
        let serving = Arc::clone(&server);
        let thread = std::thread::spawn(move || serving.serve(answer));
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        server.close();
        thread
            .join()
            .map_err(|_| Error::new(ErrorKind::Io, "the serving thread panicked"))?
    };
    match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR {} {}", e.kind(), one_line(e.message()));
            1
        }
    }
}

/// `publisher --endpoint E [--max-message N]`: the process's exit status. Publishes message
/// `i` = 0, 1, 2, ... about every millisecond while a subscriber is connected, until stdin
/// ends: topic `even` or `odd` (by `i`), payload `u64le(i) ‖ pattern(i % 1000)`; a full
/// subscriber blocks it up to 30 s.
pub fn publisher(args: &Args) -> i32 {
    let run = || -> Result<(), Error> {
        let ep = endpoint(args)?;
        let opts = args.options().map_err(invalid)?;
        let p = Arc::new(Publisher::bind_with(
            ep,
            &opts,
            Policy::block(std::time::Duration::from_secs(30), 1024),
        )?);
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "READY {}", p.local_endpoint())
                .and_then(|()| out.flush())
                .map_err(|e| Error::new(ErrorKind::Io, format!("writing READY: {e}")))?;
        }
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let publishing = {
            let (p, stop) = (Arc::clone(&p), Arc::clone(&stop));
            std::thread::spawn(move || -> Result<(), Error> {
                let mut i = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Nothing while nobody listens: the matrix runs many idle publishers.
                    if p.subscribers() == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        continue;
                    }
                    p.publish(stream_topic(i), &stream_payload(i))?;
                    i += 1;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Ok(())
            })
        };
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let published = publishing
            .join()
            .map_err(|_| Error::new(ErrorKind::Io, "the publishing thread panicked"))?;
        p.close_wait(std::time::Duration::from_secs(10));
        published
    };
    match run() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR {} {}", e.kind(), one_line(e.message()));
            1
        }
    }
}

/// The contract's publisher stream: message `i`'s topic and payload.
fn stream_topic(i: u64) -> &'static [u8] {
    if i.is_multiple_of(2) { b"even" } else { b"odd" }
}

fn stream_payload(i: u64) -> Vec<u8> {
    let mut v = i.to_le_bytes().to_vec();
    v.extend_from_slice(&pattern((i % 1000) as usize));
    v
}

/// Receive `count` messages from a subscription to `prefixes`: numbered 0, 1, ... with
/// nothing dropped, topics and payloads as the stream makes them, indices `step` apart.
fn subscription(
    ep: &str,
    opts: &Options,
    prefixes: &[&str],
    count: u64,
    step: u64,
) -> Result<(), String> {
    let s = Subscriber::connect_with(ep, opts, prefixes)
        .map_err(|e| format!("subscribe failed: {}", show(&e)))?;
    let mut first = None;
    for k in 0..count {
        let d = s
            .recv()
            .map_err(|e| format!("receive {k} failed: {}", show(&e)))?;
        let i = d
            .payload()
            .first_chunk::<8>()
            .map(|b| u64::from_le_bytes(*b))
            .ok_or(format!(
                "message {k}: a payload of {} bytes",
                d.payload().len()
            ))?;
        let f = *first.get_or_insert(i);
        if (d.seq(), d.dropped()) != (k, 0) {
            return Err(format!(
                "message {k}: sequence number {} and {} dropped, expected {k} and 0",
                d.seq(),
                d.dropped()
            ));
        }
        if i != f + k * step {
            return Err(format!("message {k}: index {i}, expected {}", f + k * step));
        }
        if d.topic() != stream_topic(i) || d.payload() != stream_payload(i) {
            return Err(format!("message {k} (index {i}): wrong topic or payload"));
        }
    }
    s.close();
    Ok(())
}

fn sub_all(ep: &str, opts: &Options) -> Result<(), String> {
    subscription(ep, opts, &[], 500, 1)
}

fn sub_topic(ep: &str, opts: &Options) -> Result<(), String> {
    subscription(ep, opts, &["odd"], 250, 2)
}

/// The contract's request/reply server: `fail:<status>:<text>` is answered with that error,
/// anything else with itself.
fn answer(req: libipc::rpc::Request) -> Result<Vec<u8>, Error> {
    if let Some(rest) = req.body().strip_prefix(b"fail:") {
        let text = String::from_utf8_lossy(rest);
        let (status, msg) = text.split_once(':').unwrap_or((&text, ""));
        return Err(Error::remote(status.parse().unwrap_or(1), msg));
    }
    Ok(req.into_body().into_vec())
}

fn rpc_connect(ep: &str, opts: &Options) -> Result<Client, String> {
    Client::connect_with(ep, opts).map_err(|e| format!("connect failed: {}", show(&e)))
}

fn rpc_echo(ep: &str, opts: &Options) -> Result<(), String> {
    let c = rpc_connect(ep, opts)?;
    for body in [pattern(1000), Vec::new()] {
        let got = c.call(&body).map_err(|e| format!("call: {}", show(&e)))?;
        same(&body, &got, "reply")?;
    }
    c.close();
    Ok(())
}

fn rpc_error(ep: &str, opts: &Options) -> Result<(), String> {
    let c = rpc_connect(ep, opts)?;
    match c.call(b"fail:42:no such thing") {
        Err(e) if e.kind() == ErrorKind::Remote => {
            if e.status() != Some(42) || !e.message().contains("no such thing") {
                return Err(format!("error reply {:?} {:?}", e.status(), e.message()));
            }
        }
        other => return Err(format!("expected a Remote error, got {other:?}")),
    }
    let got = c
        .call(b"x")
        .map_err(|e| format!("call after the error: {}", show(&e)))?;
    same(b"x", &got, "reply after the error")?;
    c.close();
    Ok(())
}

fn rpc_many(ep: &str, opts: &Options) -> Result<(), String> {
    let c = rpc_connect(ep, opts)?;
    let pending = (0..200u32)
        .map(|i| c.start(&i.to_le_bytes()).map(|p| (i, p)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("start: {}", show(&e)))?;
    for (i, p) in pending.into_iter().rev() {
        let got = p
            .wait_forever()
            .map_err(|e| format!("wait {i}: {}", show(&e)))?;
        same(&i.to_le_bytes(), &got, "reply")?;
    }
    c.close();
    Ok(())
}

fn rpc_plain_refused(ep: &str, opts: &Options) -> Result<(), String> {
    expect_kind(
        Channel::connect_with(ep, opts),
        ErrorKind::ProtocolMismatch,
        "a plain channel's connect",
    )
}

/// Echo every message, except the two commands; any error ends this connection only.
fn serve_connection(ch: &Channel) {
    let end = loop {
        let m = match ch.recv() {
            Ok(m) => m,
            Err(e) => break e,
        };
        if *m == *CLOSE {
            ch.close();
            return;
        }
        if *m == *KILL {
            kill_self();
        }
        if let Err(e) = ch.send(&m) {
            break e;
        }
    };
    eprintln!("END {}", end.kind());
}

/// End this process at once, closing nothing, as a crash would.
fn kill_self() -> ! {
    #[cfg(unix)]
    {
        use rustix::process::{Signal, getpid, kill_process};
        let _ = kill_process(getpid(), Signal::KILL);
    }
    // Windows (and, should the signal not have ended us, anywhere): the process ends without
    // running any clean-up; the system closes its handles as it does for a crash.
    std::process::abort()
}

/// `client --endpoint E --case NAME[,NAME...] [--max-message N]`: the process's exit status.
pub fn client(args: &Args) -> i32 {
    let setup = endpoint(args).and_then(|ep| {
        let opts = args.options().map_err(invalid)?;
        let names: Vec<&str> = args
            .opts
            .get("--case")
            .into_iter()
            .flatten()
            .flat_map(|v| v.split(','))
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return Err(invalid("--case NAME[,NAME...] is required".into()));
        }
        Ok((ep, opts, names))
    });
    let (ep, opts, names) = match setup {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ERROR {} {}", e.kind(), one_line(e.message()));
            return 2;
        }
    };
    let (mut failed, mut unsupported) = (false, false);
    for name in names {
        let rpc = RPC_CASES.iter().find(|(n, _)| *n == name);
        let line = match CASES.iter().find(|(n, _)| *n == name) {
            None if rpc.is_some() => match (rpc.expect("checked").1)(ep, &opts) {
                Ok(()) => format!("PASS {name}"),
                Err(reason) => {
                    failed = true;
                    format!("FAIL {name} {}", one_line(&reason))
                }
            },
            None => {
                unsupported = true;
                format!("UNSUPPORTED {name}")
            }
            Some((_, case)) => {
                let result = Channel::connect_with(ep, &opts)
                    .map_err(|e| format!("connect failed: {}", show(&e)))
                    .and_then(|ch| {
                        let r = case(&ch);
                        ch.close();
                        r
                    });
                match result {
                    Ok(()) => format!("PASS {name}"),
                    Err(reason) => {
                        failed = true;
                        format!("FAIL {name} {}", one_line(&reason))
                    }
                }
            }
        };
        let mut out = std::io::stdout().lock();
        // Nothing to do if stdout is gone; the exit status still says how it went.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }
    if failed {
        1
    } else if unsupported {
        127
    } else {
        0
    }
}

/// `pattern(n)`: byte `i` is `i % 251`.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

fn send(ch: &Channel, msg: &[u8], what: &str) -> Result<(), String> {
    ch.send(msg)
        .map_err(|e| format!("sending {what} ({} bytes) failed: {}", msg.len(), show(&e)))
}

fn recv(ch: &Channel, what: &str) -> Result<libipc::Message, String> {
    ch.recv()
        .map_err(|e| format!("receiving {what} failed: {}", show(&e)))
}

/// Send `msg`, receive, and check the reply is the same bytes.
fn echo_check(ch: &Channel, msg: &[u8]) -> Result<(), String> {
    send(ch, msg, "the message")?;
    same(msg, &recv(ch, "the reply")?, "the reply")
}

fn same(sent: &[u8], got: &[u8], what: &str) -> Result<(), String> {
    if sent == got {
        return Ok(());
    }
    let at = sent.iter().zip(got).position(|(a, b)| a != b);
    Err(match at {
        Some(i) => format!(
            "{what} differs from the {} bytes sent: {} bytes, first difference at byte {i} ({:#04x}, expected {:#04x})",
            sent.len(),
            got.len(),
            got[i],
            sent[i]
        ),
        None => format!(
            "{what} has {} bytes, expected the {} bytes sent",
            got.len(),
            sent.len()
        ),
    })
}

/// `r` must have failed with `kind`.
fn expect_kind<T>(r: Result<T, Error>, kind: ErrorKind, what: &str) -> Result<(), String> {
    match r {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => Err(format!("{what}: expected {kind}, got {}", show(&e))),
        Ok(_) => Err(format!("{what}: expected {kind}, it succeeded")),
    }
}

fn over_max(ch: &Channel) -> Result<(), String> {
    let m = ch.max_message_size();
    expect_kind(
        ch.send(&pattern(m + 1)),
        ErrorKind::MessageTooLarge,
        &format!("sending {} bytes (the maximum is {m})", m + 1),
    )?;
    echo_check(ch, &[0x2a])
}

fn random_10k(ch: &Channel) -> Result<(), String> {
    const COUNT: u32 = 10_000;
    const IN_FLIGHT: u32 = 8;
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut make = |i: u32| {
        let mut body = vec![0; rng.usize(0..=1024)];
        rng.fill(&mut body);
        let mut msg = Vec::with_capacity(8 + body.len());
        msg.extend_from_slice(&i.to_le_bytes());
        msg.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        msg.extend_from_slice(&body);
        msg
    };
    let fail = |i: u32, why: String| format!("message {i} (random seed {seed}): {why}");
    let mut in_flight = VecDeque::new();
    for i in 0..IN_FLIGHT.min(COUNT) {
        let msg = make(i);
        send(ch, &msg, "a message").map_err(|e| fail(i, e))?;
        in_flight.push_back(msg);
    }
    for i in 0..COUNT {
        let reply = recv(ch, "the reply").map_err(|e| fail(i, e))?;
        let sent = in_flight
            .pop_front()
            .expect("a message in flight per reply");
        same(&sent, &reply, "the reply").map_err(|e| fail(i, e))?;
        let crc = u32::from_le_bytes(reply[4..8].try_into().expect("4 bytes"));
        if crc32fast::hash(&reply[8..]) != crc || reply[..4] != i.to_le_bytes() {
            return Err(fail(
                i,
                "the reply's sequence number or CRC-32 is wrong".into(),
            ));
        }
        let next = i + IN_FLIGHT;
        if next < COUNT {
            let msg = make(next);
            send(ch, &msg, "a message").map_err(|e| fail(next, e))?;
            in_flight.push_back(msg);
        }
    }
    Ok(())
}

fn server_close(ch: &Channel) -> Result<(), String> {
    let msg = pattern(100);
    for _ in 0..3 {
        send(ch, &msg, "pattern(100)")?;
    }
    for n in 1..=3 {
        same(&msg, &recv(ch, "a reply")?, &format!("reply {n}"))?;
    }
    send(ch, CLOSE, "interop:close")?;
    expect_kind(ch.recv(), ErrorKind::Closed, "receive after interop:close")
}

fn server_killed(ch: &Channel) -> Result<(), String> {
    echo_check(ch, &pattern(100))?;
    send(ch, KILL, "interop:kill")?;
    expect_kind(
        ch.recv(),
        ErrorKind::PeerDisconnected,
        "receive after interop:kill",
    )
}

fn endpoint(args: &Args) -> Result<&str, Error> {
    match args.opts.get("--endpoint").and_then(|v| v.last()) {
        Some(ep) => Ok(ep),
        None => Err(invalid("--endpoint E is required".into())),
    }
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, msg)
}

fn show(e: &Error) -> String {
    format!("{} ({})", e.kind(), e.message())
}

fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}
