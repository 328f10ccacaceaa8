//! `ipc-test-peer`: the other process in libipc's conformance suite, and the Rust peer of the
//! interop matrix.
//!
//! The interop contract (tests/interop/README.md): `server`, `client`. Every language's peer
//! speaks it alike, and every language's tests start another language's peer through it (the
//! matrix, tests/interop/run.py; the Node, Kotlin and Swift suites):
//!
//! ```text
//! ipc-test-peer server --endpoint E [--max-message N]
//! ipc-test-peer client --endpoint E --case NAME[,NAME...] [--max-message N]
//! ipc-test-peer rpc-server --endpoint E [--max-message N]
//!     The commands, their output (`READY`, `PASS`/`FAIL`/`UNSUPPORTED`, `ERROR`/`END` on
//!     stderr) and the cases are specified in tests/interop/README.md (code: peer/interop.rs).
//!     Unlike the modes below, failures go to stderr as `ERROR <ErrorKind> <message>`.
//! ```
//!
//! Modes particular to the Rust conformance suite (tests/tests), with the options it needs
//! (socket modes, uid allow-lists, handshake timeouts, shm rings, raw wire bytes). A few serve
//! one other suite as well: `stream` checks messages in this suite's own stream format for the
//! Node tests (edge sizes up to 1 MiB), `child-echo` and `spawn-echo` are the Rust side of the
//! parent-and-child tests of the C and Python suites, and `echo-server` and `connect` are what
//! the wire check (tests/interop/wire/check.py) drives with those options:
//!
//! ```text
//! ipc-test-peer echo-server <endpoint> [--max-message N] [--handshake-timeout-ms N]
//!                                      [--socket-mode OCTAL] [--allowed-uid UID]
//!     Bind; print `ready <local endpoint>`; echo every message on every connection (a thread
//!     per connection) and print `end <ErrorKind>` when a connection ends. When stdin closes:
//!     stop, drop the listener (removing its socket file), print `bye`, exit 0.
//! ipc-test-peer stream listen|connect <endpoint> [--send N|forever] [--recv N|all]
//!                      [--send-seed S] [--recv-seed S] [--max-size N] [--end] [--then-end] [--close]
//!                      [--wait]
//!     Listen (print `ready <endpoint>`, accept one) or connect; print `connected pid=<peer pid>`;
//!     with --wait, wait for a line on stdin; send and receive checksummed streams at once
//!     (libipc_conformance::stream::Spec says what each option does); print `done <report>`
//!     and exit (0 unless a message failed verification).
//! ipc-test-peer clients <endpoint> <first id> <count> <messages>
//!     <count> clients on threads, ids from <first id>; each sends <messages> tagged messages
//!     from one thread while another checks the echoes, then closes; prints `client <id> ok`.
//! ipc-test-peer connect <endpoint> [--allowed-uid UID] [--max-message N]
//!     Connect; print `connected pid=<peer pid> uid=<peer uid>`; echo until the channel ends;
//!     print `end <ErrorKind>`.
//! ipc-test-peer raw-client <endpoint> <len>
//!     Raw wire client: handshake, print `ready`; then for each stdin line `small` (send a whole
//!     5-byte message), `half` (header and first half of a <len>-byte message), `rest` (the
//!     other half), `close` (a CLOSE frame) or `bad-type` (a header of unknown type 7), do it
//!     and print `sent <line>`. Never reads after the handshake. Over `shm://` the same, as
//!     ring records: `half` is a fragment (MORE) with the first half, `rest` the last fragment.
//! ipc-test-peer rpc-echo-server <endpoint> [--async] [--max-delay-ms N] [--max-message N]
//!     A request/reply server (peer/rpc.rs says what it answers), until stdin closes.
//! ipc-test-peer shm-hostile <endpoint> --role client|server [--seconds S] [--min-sessions M] [--seed N]
//!                           [--shm-ring N]
//!     Attack `shm://` victims for S seconds and at least M sessions (default 4)
//!     (shm_chaos::scribble), session after session: as a
//!     raw client of a listener, or as a raw server (print `ready` once listening) offering
//!     segments of N bytes per ring (default 64 KiB). Then print `done sessions=… published=…`.
//! ipc-test-peer shm-victim listen|connect <endpoint> [--max-size N] [options]
//!     Be the victim of such attacks (shm_chaos::victim_listen / victim_connect, sending
//!     messages up to N bytes), printing `ready <endpoint>` when listening, until stdin closes;
//!     then print `done <tally>`. A call ending in an unexpected way prints `fail`.
//! ipc-test-peer shm-bells <endpoint> data|space
//!     Raw `shm://` client that rings the listener's data bell (or space bell, never reading)
//!     in a tight loop, publishing nothing, until stdin closes. Prints `ready` first.
//! ipc-test-peer hostile-server unix:///path --attack huge-length|bad-type|desync|garbage-hello
//!     Raw server answering every client with that attack (peer/hostile.rs), for the
//!     bindings' hostile-peer tests; prints `ready <endpoint>`, stops when stdin closes.
//! ipc-test-peer child-echo [--twice] [--check-fd] [options]
//!     In a child started with a channel: Channel::from_env; print `connected pid=<peer pid>
//!     uid=<peer uid> max=<max message size>`; with --twice, open it again and print `second
//!     <ErrorKind>|ok`; with --check-fd, send `cloexec=yes|no grandchild=inherited|not-inherited`
//!     (whether the descriptor is close-on-exec now, and whether a grandchild holds it); then
//!     echo until the channel ends and print `end <ErrorKind>`.
//! ipc-test-peer from-env [--make file|udp|tcp|unix-dgram|unix-unconnected|pair-closed] [options]
//!     Optionally make such a descriptor and set LIBIPC_CHANNEL_FD to it; Channel::from_env;
//!     print `connected` and echo, or `error <ErrorKind> <message>` (then, for a made
//!     descriptor, `still-open yes|no`) and exit 0.
//! ipc-test-peer fd-is <fd> <dev> <ino>
//!     Print `inherited` if descriptor <fd> is open and is that file, else `not-inherited`.
//! ipc-test-peer fault-kill|fault-victim|fault-child|fault-sender|fault-nofile ...
//!     Fault injection (Linux; tests/tests/faults.rs): a survivor that SIGKILLs victims and
//!     checks itself, its victims, a sender to a stopped consumer, a low RLIMIT_NOFILE
//!     (described in peer/faults.rs).
//! ipc-test-peer exit <code>       Exit at once with <code> (a child that never opens its channel).
//! ipc-test-peer sleep             Sleep until killed (likewise).
//! ipc-test-peer spawn-echo <N> <program> <args>...
//!     Channel::spawn the program (arguments taken as they are); print `spawned pid=<child pid>
//!     peer=<peer pid>`; send <N> checksummed messages (seed 7, up to 64 KiB) while checking
//!     that they come back; close; wait; print `done <exit status>`.
//! ```
//!
//! `--sigpipe-default` (any mode) restores SIGPIPE's default action (ending the process)
//! before anything else, which Rust's runtime sets to "ignore": libipc must not depend on it.
//!
//! Options shared by the modes that bind or connect with libipc: `--max-message N`,
//! `--handshake-timeout-ms N`, `--socket-mode OCTAL`, `--allowed-uid UID`, `--shm-ring N`,
//! `--shm-spin-us N`. `stream listen --hold` keeps its listener until the stream ends.
//!
//! Any unexpected failure of the other modes prints `fail <ErrorKind> <message>` and exits 1.
//! Environment: bare names resolve through `LIBIPC_RUNTIME_DIR` as usual.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::Duration;

use libipc::{Channel, Error, Listener, Options};
use libipc_conformance::{raw, stream};

#[cfg(target_os = "linux")]
#[path = "peer/faults.rs"]
mod faults;
#[cfg(unix)]
#[path = "peer/hostile.rs"]
mod hostile;
#[path = "peer/interop.rs"]
mod interop;
#[cfg(unix)]
#[path = "peer/shm.rs"]
mod shm;
#[path = "peer/spawn.rs"]
#[cfg(unix)]
mod spawn;

#[cfg(unix)]
#[path = "peer/rpc.rs"]
mod rpc;

#[path = "peer/pubsub.rs"]
mod pubsub;

const FLAGS: [&str; 9] = [
    "--async",
    "--end",
    "--then-end",
    "--close",
    "--wait",
    "--hold",
    "--twice",
    "--check-fd",
    "--sigpipe-default",
];

struct Args {
    pos: Vec<String>,
    opts: HashMap<String, Vec<String>>,
}

impl Args {
    fn parse(raw: impl Iterator<Item = String>) -> Result<Args, String> {
        let (mut pos, mut opts) = (Vec::new(), HashMap::<String, Vec<String>>::new());
        let mut raw = raw.peekable();
        while let Some(a) = raw.next() {
            if FLAGS.contains(&a.as_str()) {
                opts.entry(a).or_default().push(String::new());
            } else if a.starts_with("--") {
                let v = raw.next().ok_or(format!("{a} needs a value"))?;
                opts.entry(a).or_default().push(v);
            } else {
                pos.push(a);
            }
        }
        Ok(Args { pos, opts })
    }

    fn pos(&self, i: usize, what: &str) -> Result<&str, String> {
        self.pos
            .get(i)
            .map(String::as_str)
            .ok_or(format!("missing <{what}>"))
    }

    fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.opts.get(name).and_then(|v| v.last()) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e| format!("{name} {v:?}: {e}")),
        }
    }

    /// Every value given for a repeatable option.
    fn all(&self, name: &str) -> Vec<String> {
        self.opts.get(name).cloned().unwrap_or_default()
    }

    fn flag(&self, name: &str) -> bool {
        self.opts.contains_key(name)
    }

    fn options(&self) -> Result<Options, String> {
        let mut o = Options::new();
        if let Some(n) = self.opts.get("--max-message") {
            o = o.with_max_message_size(n[0].parse().map_err(|e| format!("--max-message: {e}"))?);
        }
        if let Some(ms) = self.opts.get("--handshake-timeout-ms") {
            let ms = ms[0]
                .parse()
                .map_err(|e| format!("--handshake-timeout-ms: {e}"))?;
            o = o.with_handshake_timeout(Duration::from_millis(ms));
        }
        if let Some(m) = self.opts.get("--socket-mode") {
            o = o.with_socket_mode(u32::from_str_radix(&m[0], 8).map_err(|e| e.to_string())?);
        }
        if let Some(uids) = self.opts.get("--allowed-uid") {
            let uids: Result<Vec<u32>, _> = uids.iter().map(|u| u.parse()).collect();
            o = o.with_allowed_uids(uids.map_err(|e| format!("--allowed-uid: {e}"))?);
        }
        if self.opts.contains_key("--shm-ring") {
            o = o.with_shm_ring_size(self.get("--shm-ring", 0)?);
        }
        if self.opts.contains_key("--shm-spin-us") {
            o = o.with_shm_spin(Duration::from_micros(self.get("--shm-spin-us", 0)?));
        }
        Ok(o)
    }
}

/// A failure to report: the libipc kind when there is one.
struct Fail(String, String);

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail(e.kind().name().into(), e.message().into())
    }
}

impl From<String> for Fail {
    fn from(s: String) -> Fail {
        Fail("Other".into(), s)
    }
}

/// `--sigpipe-default`: restore SIGPIPE's default action (ending the process), whatever this
/// process inherited.
fn sigpipe_default(args: &Args) {
    #[cfg(unix)]
    if args.flag("--sigpipe-default") {
        // SAFETY: setting a standard signal's disposition to SIG_DFL, before this process
        // starts any thread that could be affected.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    #[cfg(not(unix))]
    let _ = args;
}

fn main() {
    let mut argv = std::env::args().skip(1);
    let mode = argv.next().unwrap_or_default();
    #[cfg(unix)]
    if mode == "spawn-echo" {
        let rest: Vec<String> = argv.collect();
        if let Err(Fail(kind, msg)) = spawn::spawn_echo(&rest) {
            println!("fail {kind} {msg}");
            std::process::exit(1);
        }
        return;
    }
    if mode == "server" || mode == "client" || mode == "rpc-server" || mode == "publisher" {
        let code = match Args::parse(argv) {
            Ok(args) if mode == "server" => interop::server(&args),
            Ok(args) if mode == "rpc-server" => interop::rpc_server(&args),
            Ok(args) if mode == "publisher" => interop::publisher(&args),
            Ok(args) => interop::client(&args),
            Err(e) => {
                eprintln!("ERROR InvalidArgument {e}");
                2
            }
        };
        std::process::exit(code);
    }
    let result = Args::parse(argv)
        .map_err(Fail::from)
        .inspect(sigpipe_default)
        .and_then(|args| match mode.as_str() {
            "echo-server" => echo_server(&args),
            "stream" => stream_mode(&args),
            "clients" => clients(&args),
            "connect" => connect(&args),
            "raw-client" => raw_client(&args),
            #[cfg(unix)]
            "rpc-echo-server" => rpc::server(&args),
            "subscribe" => pubsub::subscribe(&args),
            "publish" => pubsub::publish(&args),
            #[cfg(unix)]
            "shm-hostile" => shm::hostile(&args),
            #[cfg(unix)]
            "shm-victim" => shm::victim(&args),
            #[cfg(unix)]
            "shm-bells" => shm::bells(&args),
            #[cfg(unix)]
            "hostile-server" => hostile::server(&args),
            #[cfg(unix)]
            "child-echo" => spawn::child_echo(&args),
            #[cfg(unix)]
            "from-env" => spawn::from_env(&args),
            #[cfg(unix)]
            "fd-is" => spawn::fd_is(&args),
            #[cfg(unix)]
            "exit" => spawn::exit(&args),
            #[cfg(unix)]
            "sleep" => spawn::sleep(&args),
            #[cfg(target_os = "linux")]
            "fault-kill" => faults::kill(&args),
            #[cfg(target_os = "linux")]
            "fault-victim" => faults::victim(&args),
            #[cfg(target_os = "linux")]
            "fault-sender" => faults::sender(&args),
            #[cfg(target_os = "linux")]
            "fault-nofile" => faults::nofile(&args),
            #[cfg(target_os = "linux")]
            "fault-child" => faults::child(&args),
            other => Err(Fail::from(format!("unknown mode {other:?}"))),
        });
    if let Err(Fail(kind, msg)) = result {
        println!("fail {kind} {msg}");
        std::process::exit(1);
    }
}

fn wait_for_stdin_eof() {
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
}

fn echo_server(args: &Args) -> Result<(), Fail> {
    let listener = Arc::new(Listener::bind_with(
        args.pos(0, "endpoint")?,
        &args.options()?,
    )?);
    println!("ready {}", listener.local_endpoint());
    let acceptor = {
        let listener = Arc::clone(&listener);
        std::thread::spawn(move || {
            for ch in listener.incoming() {
                match ch {
                    Ok(ch) => drop(std::thread::spawn(move || echo(&ch))),
                    Err(e) => println!("accept-error {}", e.kind()),
                }
            }
        })
    };
    wait_for_stdin_eof();
    listener.close();
    acceptor
        .join()
        .map_err(|_| "acceptor panicked".to_owned())?;
    drop(listener);
    println!("bye");
    Ok(())
}

/// Echo until the channel ends; print how it ended.
fn echo(ch: &Channel) {
    let end = loop {
        match ch.recv().and_then(|m| ch.send(&m)) {
            Ok(()) => {}
            Err(e) => break e,
        }
    };
    println!("end {}", end.kind());
}

fn stream_mode(args: &Args) -> Result<(), Fail> {
    let ep = args.pos(1, "endpoint")?;
    let opts = args.options()?;
    let mut held = None;
    let ch = match args.pos(0, "listen|connect")? {
        "listen" => {
            let listener = Listener::bind_with(ep, &opts)?;
            println!("ready {}", listener.local_endpoint());
            let ch = listener.accept()?;
            if args.flag("--hold") {
                held = Some(listener);
            }
            ch
        }
        "connect" => Channel::connect_with(ep, &opts)?,
        other => return Err(format!("expected listen or connect, got {other:?}").into()),
    };
    println!("connected pid={}", show(ch.peer().pid));
    let spec = stream::Spec {
        send: args.get("--send", stream::Count::N(0))?,
        recv: args.get("--recv", stream::Count::N(0))?,
        send_seed: args.get("--send-seed", 1)?,
        recv_seed: args.get("--recv-seed", 2)?,
        max_size: args.get("--max-size", stream::MIB)?,
        end_marker: args.flag("--end"),
        then_end: args.flag("--then-end"),
        close: args.flag("--close"),
    };
    if args.flag("--wait") {
        let mut go = String::new();
        std::io::stdin()
            .read_line(&mut go)
            .map_err(|e| e.to_string())?;
    }
    let report = stream::run(&ch, &spec, &stream::Progress::default());
    drop(held);
    println!("done {report}");
    match report.bad {
        None => Ok(()),
        Some(bad) => Err(bad.into()),
    }
}

fn show(v: Option<u32>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

fn clients(args: &Args) -> Result<(), Fail> {
    let ep = args.pos(0, "endpoint")?;
    let parse = |i, what| -> Result<u32, Fail> {
        let v = args.pos(i, what)?;
        v.parse()
            .map_err(|e| Fail::from(format!("<{what}> {v:?}: {e}")))
    };
    let (first, count, messages) = (
        parse(1, "first id")?,
        parse(2, "count")?,
        parse(3, "messages")?,
    );
    let results: Vec<Result<(), Fail>> = std::thread::scope(|s| {
        let handles: Vec<_> = (first..first + count)
            .map(|id| s.spawn(move || one_client(ep, id, messages)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    results.into_iter().collect()
}

fn one_client(ep: &str, id: u32, messages: u32) -> Result<(), Fail> {
    let ch = Channel::connect(ep)?;
    let sent = std::thread::scope(|s| {
        let sender =
            s.spawn(|| (0..messages).try_for_each(|seq| ch.send(&stream::tagged(id, seq))));
        for seq in 0..messages {
            let echo = ch.recv()?;
            if stream::untag(&echo) != Some((id, seq)) {
                ch.close();
                let got = stream::untag(&echo);
                return Err(Fail::from(format!(
                    "client {id}: echo {seq} came back as {got:?}"
                )));
            }
        }
        sender.join().expect("sender thread").map_err(Fail::from)
    });
    sent?;
    ch.close();
    println!("client {id} ok");
    Ok(())
}

fn connect(args: &Args) -> Result<(), Fail> {
    let ch = Channel::connect_with(args.pos(0, "endpoint")?, &args.options()?)?;
    let peer = ch.peer();
    println!("connected pid={} uid={}", show(peer.pid), show(peer.uid));
    echo(&ch);
    Ok(())
}

fn raw_client(args: &Args) -> Result<(), Fail> {
    let len: usize = args
        .pos(1, "len")?
        .parse()
        .map_err(|e| format!("<len>: {e}"))?;
    #[cfg(unix)]
    if args.pos(0, "endpoint")?.starts_with("shm://") {
        return shm::raw_client(args.pos(0, "endpoint")?, len);
    }
    let mut s = raw::connect(args.pos(0, "endpoint")?).map_err(|e| e.to_string())?;
    s.handshake(u32::MAX);
    println!("ready");
    let message: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let frame = raw::data_frame(&message);
    let half = raw::data_header(0).len() + len / 2;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let bytes = match line.as_str() {
            "small" => raw::data_frame(b"small"),
            "half" => frame[..half].to_vec(),
            "rest" => frame[half..].to_vec(),
            "close" => raw::close_frame().to_vec(),
            "bad-type" => vec![0, 0, 0, 0, 0x07, 0, 0, 0],
            other => return Err(format!("unknown command {other:?}").into()),
        };
        s.write_all(&bytes).map_err(|e| format!("{line}: {e}"))?;
        println!("sent {line}");
    }
    Ok(())
}
