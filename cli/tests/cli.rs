//! End-to-end tests of the `ipc` binary: every process here is the real executable.
//!
//! Nothing asserts how long anything takes. A watchdog only turns a hang into a failure: every
//! wait gives up after [`WATCHDOG`], and children are killed when their guard drops.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// Far longer than anything here should take; reached only if something hangs.
const WATCHDOG: Duration = Duration::from_secs(120);

fn ipc() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ipc"));
    cmd.env_remove("LIBIPC_LOG");
    cmd
}

/// A fresh private directory for one test, removed afterwards.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> TestDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ipc-cli-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TestDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn endpoint(&self, file: &str) -> String {
        format!("unix://{}", self.0.join(file).display())
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A background process, killed on drop; its stdout and stderr arrive line by line.
struct Proc {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null());
        Proc::start(cmd)
    }

    /// Like `spawn`, with `child.stdin` piped for the test to write.
    fn spawn_with_stdin(mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::piped());
        Proc::start(cmd)
    }

    fn start(mut cmd: Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ipc");
        let stdout = lines(child.stdout.take().unwrap());
        let stderr = lines(child.stderr.take().unwrap());
        Proc {
            child,
            stdout,
            stderr,
        }
    }

    fn next_stdout(&self) -> String {
        self.stdout
            .recv_timeout(WATCHDOG)
            .expect("watchdog: expected another line on stdout")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `ipc listen [--echo] ENDPOINT`, once it says it is listening; returns it and its endpoint.
fn listen(endpoint: &str, echo: bool) -> (Proc, String) {
    let mut cmd = ipc();
    cmd.arg("listen").arg(endpoint);
    if echo {
        cmd.arg("--echo");
    }
    let proc = Proc::spawn(cmd);
    let line = proc
        .stderr
        .recv_timeout(WATCHDOG)
        .expect("watchdog: listen never said it was listening");
    let bound = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line from listen: {line:?}"))
        .to_owned();
    (proc, bound)
}

struct Output {
    /// The process id it had.
    pid: u32,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Run to completion with `stdin` as input, under the watchdog.
fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ipc");
    let pid = child.id();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = lines(child.stdout.take().unwrap());
    let err = lines(child.stderr.take().unwrap());
    let deadline = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("watchdog: {cmd:?} did not finish");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let collect = |rx: Receiver<String>| {
        let mut text = String::new();
        while let Ok(line) = rx.recv_timeout(WATCHDOG) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    };
    Output {
        pid,
        status,
        stdout: collect(out),
        stderr: collect(err),
    }
}

fn ipc_run(args: &[&str]) -> Output {
    let mut cmd = ipc();
    cmd.args(args);
    run(cmd, b"")
}

fn ping_works(listen_at: &str, size: &str) {
    let (_server, endpoint) = listen(listen_at, true);
    let out = ipc_run(&["ping", &endpoint, "-n", "50", "--size", size]);
    assert!(out.status.success(), "ping failed: {}", out.stderr);
    assert!(out.stdout.contains("count 50"), "{}", out.stdout);
    for field in ["min", "p50", "p99", "p99.9", "max"] {
        assert!(out.stdout.contains(&format!(" {field} ")), "{}", out.stdout);
    }
}

#[test]
fn ping_over_unix() {
    let dir = TestDir::new("ping-unix");
    ping_works(&dir.endpoint("echo.sock"), "100");
    ping_works(&dir.endpoint("big.sock"), "300000");
}

#[test]
fn ping_and_send_over_fifos() {
    let dir = TestDir::new("ping-fifo");
    let at = format!("fifo://{}", dir.path().join("echo.fifo").display());
    ping_works(&at, "100");
    ping_works(&at, "300000");
    let at = format!("fifo://{}", dir.path().join("print.fifo").display());
    let (server, endpoint) = listen(&at, false);
    let out = ipc_run(&["send", &endpoint, "one", "two"]);
    assert!(out.status.success(), "send failed: {}", out.stderr);
    assert_eq!(server.next_stdout(), "one");
    assert_eq!(server.next_stdout(), "two");
}

#[test]
fn ping_over_tcp() {
    let (_server, endpoint) = listen("tcp://127.0.0.1:0", true);
    assert!(
        !endpoint.ends_with(":0"),
        "the real port is shown: {endpoint}"
    );
    let out = ipc_run(&["ping", &endpoint, "-n", "20", "--size", "70000"]);
    assert!(out.status.success(), "ping failed: {}", out.stderr);
    assert!(out.stdout.contains("count 20"), "{}", out.stdout);
}

#[test]
fn ping_detects_a_server_that_does_not_echo() {
    let dir = TestDir::new("ping-noecho");
    let (server, endpoint) = listen(&dir.endpoint("print.sock"), false);
    // The printing listener never answers: ping gives up after its timeout.
    let out = ipc_run(&["ping", &endpoint, "-n", "1", "--timeout", "0.2"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.starts_with("ipc: round trip 1: no echo"),
        "{}",
        out.stderr
    );
    // ping's 64-byte payload: bytes 0, 1, 2, ... with the round trip number (0) in the first 8.
    let expect: String = (0..64u8)
        .map(|i| format!("{:02x}", if i < 8 { 0 } else { i }))
        .collect();
    assert_eq!(server.next_stdout(), format!("hex: {expect}"));

    // A server that dies mid-ping is reported too.
    let mut cmd = ipc();
    cmd.args(["ping", &endpoint, "-n", "1"]);
    let ping = Proc::spawn(cmd);
    server.next_stdout();
    drop(server);
    let err = ping.stderr.recv_timeout(WATCHDOG).expect("ping reports");
    assert!(
        err.starts_with("ipc: peer disconnected: waiting for the echo: "),
        "{err}"
    );
}

#[test]
fn send_args_stdin_and_file_are_printed() {
    let dir = TestDir::new("send");
    let (server, endpoint) = listen(&dir.endpoint("print.sock"), false);

    let out = ipc_run(&["send", &endpoint, "hello", "tab\there", "\u{1}\u{2}", ""]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(server.next_stdout(), "hello");
    assert_eq!(server.next_stdout(), "tab\there");
    assert_eq!(server.next_stdout(), "hex: 0102");
    assert_eq!(server.next_stdout(), "");

    let mut cmd = ipc();
    cmd.args(["send", &endpoint]);
    let out = run(cmd, b"line one\nline two\n\xff\xfe\nlast without newline");
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(server.next_stdout(), "line one");
    assert_eq!(server.next_stdout(), "line two");
    assert_eq!(server.next_stdout(), "hex: fffe");
    assert_eq!(server.next_stdout(), "last without newline");

    let binary = dir.path().join("binary");
    std::fs::write(&binary, [0x00, 0x41, 0xff, b'\n']).unwrap();
    let text = dir.path().join("text");
    std::fs::write(&text, "grüße aus der Datei").unwrap();
    for (file, expect) in [(&binary, "hex: 0041ff0a"), (&text, "grüße aus der Datei")] {
        let out = ipc_run(&["send", &endpoint, "--file", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", out.stderr);
        assert_eq!(server.next_stdout(), expect);
    }
}

#[test]
fn listen_serves_clients_concurrently() {
    let (_server, endpoint) = listen("tcp://127.0.0.1:0", true);
    // A client that stays connected (stdin held open) must not keep another from being served.
    let mut held = ipc();
    held.args(["send", &endpoint]);
    let mut held = Proc::spawn_with_stdin(held);
    let stdin = held.child.stdin.as_mut().unwrap();
    stdin.write_all(b"held open\n").unwrap();
    stdin.flush().unwrap();
    let out = ipc_run(&["ping", &endpoint, "-n", "5"]);
    assert!(out.status.success(), "{}", out.stderr);
}

/// `ipc listen` ends on SIGINT and SIGTERM as on a normal close: its socket file is removed,
/// and it dies by that signal. The child's SIGINT disposition is set here, both ways (a child of
/// a background job inherits SIGINT ignored): `ipc listen` installs its handlers regardless.
#[test]
fn listen_removes_its_socket_file_on_sigint_and_sigterm() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};

    let dir = TestDir::new("signals");
    for (signal, name) in [(libc::SIGTERM, "term"), (libc::SIGINT, "int")] {
        for inherited in [libc::SIG_DFL, libc::SIG_IGN] {
            let sock = dir.path().join(format!("{name}-{inherited}.sock"));
            let mut cmd = ipc();
            cmd.arg("listen").arg(format!("unix://{}", sock.display()));
            // SAFETY: between fork and exec only async-signal-safe calls are allowed; `signal`
            // is one, and it touches no memory of the parent.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::signal(libc::SIGINT, inherited) == libc::SIG_ERR {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            let mut proc = Proc::spawn(cmd);
            let line = proc
                .stderr
                .recv_timeout(WATCHDOG)
                .expect("watchdog: listen never said it was listening");
            assert!(line.starts_with("listening on "), "{line}");
            assert!(sock.exists(), "no socket file at {}", sock.display());

            let pid = rustix::process::Pid::from_child(&proc.child);
            let sig = rustix::process::Signal::from_named_raw(signal).unwrap();
            rustix::process::kill_process(pid, sig).unwrap();
            let deadline = Instant::now() + WATCHDOG;
            let status = loop {
                if let Some(status) = proc.child.try_wait().unwrap() {
                    break status;
                }
                assert!(Instant::now() < deadline, "watchdog: listen ignored {name}");
                std::thread::sleep(Duration::from_millis(10));
            };
            assert_eq!(
                status.signal(),
                Some(signal),
                "SIG{name} (inherited SIGINT {inherited}): {status:?}"
            );
            assert!(
                !sock.exists(),
                "SIG{name} (inherited SIGINT {inherited}) left {} behind",
                sock.display()
            );
        }
    }
}

#[test]
fn bad_endpoints_are_reported() {
    for args in [
        ["send", "http://example", "x"],
        ["ping", "unix://relative.sock", "-n1"],
        ["listen", "not a name", "--echo"],
    ] {
        let out = ipc_run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("ipc: invalid endpoint: "),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(args[1]),
            "mentions the endpoint: {}",
            out.stderr
        );
        assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    }
}

#[test]
fn nobody_listening_is_reported() {
    let dir = TestDir::new("nobody");
    let endpoint = dir.endpoint("none.sock");
    let out = ipc_run(&["send", &endpoint, "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        out.stderr,
        format!("ipc: not found: nobody is listening at {endpoint}\n")
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = ipc_run(&["ping", &format!("tcp://127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.starts_with("ipc: "), "{}", out.stderr);
}

#[test]
fn permission_denied_is_reported() {
    // Bare names live in the runtime directory, which must be private; this one is not.
    // (Works as root too, unlike file permissions.)
    let dir = TestDir::new("perm");
    let runtime = dir.path().join("shared");
    std::fs::create_dir(&runtime).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = ipc();
    cmd.env("LIBIPC_RUNTIME_DIR", &runtime)
        .args(["listen", "orders"]);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr
            .starts_with("ipc: permission denied: listening at orders: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("755"), "{}", out.stderr);
}

/// What the README's section on the `ipc` command quotes of a skipped message's report.
const SEND_SKIPPED: &str = "ipc: message too large: message 2 not sent: ";
const ECHO_SKIPPED: &str = "ipc: message too large: not echoed, skipped: ";

#[test]
fn the_readme_and_help_show_real_error_lines() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("## The `ipc` command")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the README's section on the ipc command");
    // Its example, run with its /tmp replaced by a private directory.
    let command = "$ ipc send unix:///tmp/orders.sock hello\n";
    let shown = section
        .split(command)
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("the README's example");
    let dir = TestDir::new("readme");
    let here = dir.path().to_str().unwrap();
    let out = ipc_run(&["send", &format!("unix://{here}/orders.sock"), "hello"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!(out.stderr.replace(here, "/tmp"), format!("{shown}\n"));
    // `ipc --help` quotes the same line.
    let help = ipc_run(&["--help"]).stdout;
    assert!(help.contains(&format!("`{shown}`")), "{help}");
    // The reports of skipped messages start as quoted (the tests below check them whole).
    for quoted in [SEND_SKIPPED, ECHO_SKIPPED] {
        let quoted = format!("`{quoted}…`");
        assert!(section.contains(&quoted), "the README lacks {quoted}");
    }
}

#[test]
fn send_skips_messages_too_large_for_the_listener_and_fails_at_the_end() {
    let dir = TestDir::new("send-too-large");
    let mut cmd = ipc();
    cmd.args(["listen", "--max-message", "4", &dir.endpoint("small.sock")]);
    let server = Proc::spawn(cmd);
    let first = server.stderr.recv_timeout(WATCHDOG).expect("listening");
    let endpoint = first
        .strip_prefix("listening on ")
        .expect(&first)
        .to_owned();
    let too_large = |what: &str, len: usize| {
        format!(
            "ipc: message too large: {what} not sent: message of {len} bytes exceeds the limit \
             of 4 bytes (the smaller of this side's and the peer's)"
        )
    };

    // Arguments: the second is skipped, the third still sent; exit status 1 at the end.
    let out = ipc_run(&["send", &endpoint, "ab", "too long", "abcd"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(out.stderr.starts_with(SEND_SKIPPED), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "{}\nipc: 1 of 3 messages not sent (too large)\n",
            too_large("message 2", 8)
        )
    );
    assert_eq!(server.next_stdout(), "ab");
    assert_eq!(server.next_stdout(), "abcd", "exactly the limit is sent");

    // Stdin lines likewise.
    let mut cmd = ipc();
    cmd.args(["send", &endpoint]);
    let out = run(cmd, b"x\nlonger\nlongest\nyz\n");
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert_eq!(
        out.stderr,
        format!(
            "{}\n{}\nipc: 2 of 4 messages not sent (too large)\n",
            too_large("line 2", 6),
            too_large("line 3", 7)
        )
    );
    assert_eq!(server.next_stdout(), "x");
    assert_eq!(server.next_stdout(), "yz");

    // All sent: status 0, nothing on stderr.
    let out = ipc_run(&["send", &endpoint, "done"]);
    assert!(out.status.success(), "{}", out.stderr);
    assert_eq!(out.stderr, "");
    assert_eq!(server.next_stdout(), "done");
}

/// A client speaking the wire format by hand (`libipc::wire` encodes it), so that it can do
/// what a libipc client never does: advertise a maximum message size and send larger messages
/// (which the wire format allows: a sender is bound by its peer's limit only).
struct RawClient(std::os::unix::net::UnixStream);

impl RawClient {
    fn connect(endpoint: &str, max_message: u32) -> RawClient {
        use libipc::wire::{HELLO_LEN_V1, Hello};
        let path = endpoint
            .strip_prefix("unix://")
            .expect("a unix:// endpoint");
        let mut s = std::os::unix::net::UnixStream::connect(path).expect("connect");
        s.set_read_timeout(Some(WATCHDOG)).unwrap();
        s.write_all(&Hello::new(max_message, 0).encode()).unwrap();
        let mut reply = vec![0; HELLO_LEN_V1 as usize];
        s.read_exact(&mut reply)
            .expect("watchdog: the listener's hello");
        let reply = Hello::decode(&reply).expect("a hello");
        assert_eq!(reply.status, 0, "{reply:?}");
        RawClient(s)
    }

    fn put(&mut self, frame_type: libipc::wire::FrameType, payload: &[u8]) {
        let header = libipc::wire::FrameHeader {
            length: payload.len() as u32,
            frame_type,
            flags: 0,
        };
        self.0.write_all(&header.encode()).unwrap();
        self.0.write_all(payload).unwrap();
    }

    fn next_frame(&mut self) -> (libipc::wire::FrameType, Vec<u8>) {
        use libipc::wire::{FrameHeader, HEADER_LEN};
        let mut h = [0; HEADER_LEN];
        self.0.read_exact(&mut h).expect("watchdog: a frame");
        let header = FrameHeader::decode(&h).expect("a frame header");
        let mut payload = vec![0; header.length as usize];
        self.0
            .read_exact(&mut payload)
            .expect("watchdog: a payload");
        (header.frame_type, payload)
    }
}

#[test]
fn echo_skips_a_message_too_large_for_its_sender_and_keeps_serving() {
    use libipc::wire::FrameType;
    let dir = TestDir::new("echo-too-large");
    let (mut server, endpoint) = listen(&dir.endpoint("echo.sock"), true);
    // The client accepts 4 bytes, and sends more.
    let mut client = RawClient::connect(&endpoint, 4);
    client.put(FrameType::Data, b"ab");
    assert_eq!(client.next_frame(), (FrameType::Data, b"ab".to_vec()));
    client.put(FrameType::Data, b"too long");
    let err = server.stderr.recv_timeout(WATCHDOG).expect("a report");
    assert!(err.starts_with(ECHO_SKIPPED), "{err}");
    assert_eq!(
        err,
        "ipc: message too large: not echoed, skipped: message of 8 bytes exceeds the limit of \
         4 bytes (the smaller of this side's and the peer's)"
    );
    // Still served: the next message comes back, and the oversize one never does.
    client.put(FrameType::Data, b"abcd");
    assert_eq!(client.next_frame(), (FrameType::Data, b"abcd".to_vec()));
    // An orderly close is answered by one, and reported as nothing.
    client.put(FrameType::Close, b"");
    assert_eq!(client.next_frame(), (FrameType::Close, vec![]));
    // Other clients are served as before (and ping's 64 bytes fit a libipc client).
    let out = ipc_run(&["ping", &endpoint, "-n", "3"]);
    assert!(out.status.success(), "{}", out.stderr);
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    // The pipe closed with the process: this ends at its last line.
    let rest: Vec<String> =
        std::iter::from_fn(|| server.stderr.recv_timeout(WATCHDOG).ok()).collect();
    assert_eq!(rest, Vec::<String>::new(), "nothing else on stderr");
}

#[test]
fn missing_file_is_reported() {
    let dir = TestDir::new("nofile");
    let missing = dir.path().join("missing");
    let out = ipc_run(&[
        "send",
        "tcp://127.0.0.1:1",
        "--file",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr
            .starts_with(&format!("ipc: reading {}", missing.display())),
        "{}",
        out.stderr
    );
}

#[test]
fn bench_refuses_an_unwritable_json_path_before_running() {
    let dir = TestDir::new("bench-json");
    let bad = dir.path().join("missing-dir").join("out.json");
    let out = ipc_run(&["bench", "--quick", "--json", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.starts_with("ipc: creating "), "{}", out.stderr);
    assert!(
        !out.stderr.contains("[1/"),
        "fails before measuring: {}",
        out.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["ping"][..],
        &["bench", "--transport", "pipe"],
        &["bench", "--transport", "carrier-pigeon"],
        &["bench", "--sizes", "12x"],
        &["send", "x", "msg", "--file", "f"],
        &["ping", "x", "--timeout", "0"],
        &["frobnicate"],
    ] {
        let out = ipc_run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
    }
    let out = ipc_run(&["bench", "--transport", "pipe"]);
    assert!(
        out.stderr.contains("on Unix the pipe transport is fifo"),
        "{}",
        out.stderr
    );
}

#[test]
fn every_subcommand_has_help() {
    for sub in ["listen", "send", "ping", "bench"] {
        let out = ipc_run(&[sub, "--help"]);
        assert!(out.status.success(), "{sub}");
        assert!(out.stdout.contains("Usage: ipc "), "{sub}: {}", out.stdout);
    }
    let out = ipc_run(&["bench", "--help"]);
    assert!(out.stdout.contains("--quick"));
    // The default limit `ipc listen --help` names is libipc's.
    let out = ipc_run(&["listen", "--help"]);
    let default = format!("(default {}, libipc's)", libipc::DEFAULT_MAX_MESSAGE_SIZE);
    assert!(out.stdout.contains(&default), "{}", out.stdout);
    let out = ipc_run(&["--help"]);
    assert!(
        !out.stdout.contains("__bench-peer"),
        "the peer subcommand is hidden"
    );
    // Every endpoint form is named, shared memory included.
    for args in [&["--help"][..], &["listen", "--help"]] {
        let out = ipc_run(args);
        for form in ["unix://", "unix:@", "tcp://", "shm://", "fifo://"] {
            assert!(
                out.stdout.contains(form),
                "{args:?} lacks {form}: {}",
                out.stdout
            );
        }
    }
}

#[test]
fn libipc_log_enables_diagnostics() {
    let (_server, endpoint) = listen("tcp://127.0.0.1:0", true);
    let mut cmd = ipc();
    cmd.env("LIBIPC_LOG", "libipc=debug")
        .args(["ping", &endpoint, "-n", "1"]);
    let out = run(cmd, b"");
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stderr.contains("connected"), "{}", out.stderr);
    let out = ipc_run(&["ping", &endpoint, "-n", "1"]);
    assert_eq!(out.stderr, "", "silent without LIBIPC_LOG");
}

#[test]
fn bench_quick_writes_json() {
    let dir = TestDir::new("bench");
    let json = dir.path().join("bench.json");
    let out = ipc_run(&[
        "bench",
        "--quick",
        "--sizes",
        "64",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("vs same-wait"), "{}", out.stdout);
    assert!(out.stdout.contains("vs blocking"), "{}", out.stdout);
    assert!(out.stdout.contains("cpu µs/msg"), "{}", out.stdout);
    assert!(
        out.stderr.starts_with("estimated run time: ~"),
        "{}",
        out.stderr
    );
    // rtt: raw unix, raw unix-spin, libipc unix, libipc tcp, libipc pair, raw pipe, raw
    // pipe-spin, libipc fifo, raw shm-futex, libipc shm, raw shm-spin, libipc shm-spin; stream:
    // all but raw shm-spin.
    assert!(
        out.stderr.contains("[1/23] raw unix rtt 64 B ..."),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("x unix-spin"), "{}", out.stdout);
    assert!(!out.stdout.contains("load:"), "{}", out.stdout);

    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(doc["load"].is_null(), "{doc}");
    check_noise(&doc);
    let rows = doc["results"].as_array().expect("results array");
    let mut seen = Vec::new();
    for row in rows {
        let system = row["system"].as_str().unwrap();
        let transport = row["transport"].as_str().unwrap();
        let pattern = row["pattern"].as_str().unwrap();
        match system {
            "raw" => {
                assert!(
                    [
                        "unix",
                        "unix-spin",
                        "pipe",
                        "pipe-spin",
                        "shm-futex",
                        "shm-spin"
                    ]
                    .contains(&transport),
                    "{row}"
                );
                for field in [
                    "vs_same_wait",
                    "same_wait_baseline",
                    "vs_blocking",
                    "blocking_baseline",
                ] {
                    assert!(row.get(field).is_none(), "{row}");
                }
            }
            "libipc" => {
                let same_wait = match transport {
                    "unix" | "tcp" | "pair" => "unix-spin",
                    "fifo" => "pipe-spin",
                    "shm" => "shm-futex",
                    "shm-spin" => "shm-spin",
                    other => panic!("transport {other:?}"),
                };
                // Streaming has no raw shared-memory spin baseline: no same-wait ratio there.
                if (transport, pattern) == ("shm-spin", "stream") {
                    assert!(row.get("vs_same_wait").is_none(), "{row}");
                } else {
                    assert_eq!(row["same_wait_baseline"], same_wait, "{row}");
                    assert!(row["vs_same_wait"].as_f64().unwrap() > 0.0, "{row}");
                }
                assert_eq!(row["blocking_baseline"], "unix", "{row}");
                assert!(row["vs_blocking"].as_f64().unwrap() > 0.0, "{row}");
            }
            other => panic!("system {other:?}"),
        }
        assert!(row["cpu_us_per_msg"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["rounds_spread"].as_f64().unwrap() >= 1.0, "{row}");
        assert_eq!(row["size"], 64, "{row}");
        let fields: &[&str] = match pattern {
            "rtt" => &["p50_us", "p99_us", "p999_us"],
            "stream" => &["msgs_per_s", "mb_per_s"],
            other => panic!("pattern {other:?}"),
        };
        for field in fields {
            let v = row[field]
                .as_f64()
                .unwrap_or_else(|| panic!("{field} in {row}"));
            assert!(v > 0.0, "{row}");
        }
        seen.push((system.to_owned(), transport.to_owned(), pattern.to_owned()));
    }
    let want = [
        ("raw", "unix", "rtt"),
        ("raw", "unix", "stream"),
        ("raw", "unix-spin", "rtt"),
        ("raw", "unix-spin", "stream"),
        ("libipc", "unix", "rtt"),
        ("libipc", "unix", "stream"),
        ("libipc", "tcp", "rtt"),
        ("libipc", "tcp", "stream"),
        ("libipc", "pair", "rtt"),
        ("libipc", "pair", "stream"),
        ("raw", "pipe", "rtt"),
        ("raw", "pipe", "stream"),
        ("raw", "pipe-spin", "rtt"),
        ("raw", "pipe-spin", "stream"),
        ("libipc", "fifo", "rtt"),
        ("libipc", "fifo", "stream"),
        ("raw", "shm-futex", "rtt"),
        ("raw", "shm-futex", "stream"),
        ("raw", "shm-spin", "rtt"),
        ("libipc", "shm", "rtt"),
        ("libipc", "shm", "stream"),
        ("libipc", "shm-spin", "rtt"),
        ("libipc", "shm-spin", "stream"),
    ];
    for (system, transport, pattern) in want {
        let want = (system.to_owned(), transport.to_owned(), pattern.to_owned());
        assert!(seen.contains(&want), "missing {want:?}");
    }
    assert_eq!(seen.len(), want.len(), "one row each: {seen:?}");
}

/// The `noise` object every bench JSON carries.
fn check_noise(doc: &serde_json::Value) {
    assert!(doc["noise"]["busy"].is_boolean(), "{doc}");
    let detail = doc["noise"]["detail"].as_str().expect("noise detail");
    assert!(detail.contains("rounds differ"), "{detail}");
}

/// Processes whose command line is `... __bench-load PARENT` (the load workers of the bench
/// with process id `parent`), found through /proc.
fn load_workers_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args
            .windows(2)
            .any(|w| w[0] == b"__bench-load" && w[1] == parent.to_string().as_bytes())
        {
            found.push(pid);
        }
    }
    found
}

#[test]
fn bench_load_reports_its_workers_and_removes_them() {
    let dir = TestDir::new("bench-load");
    let json = dir.path().join("bench.json");
    let out = ipc_run(&[
        "bench",
        "--quick",
        "--load=2",
        "--transport",
        "unix",
        "--transport",
        "shm",
        "--sizes",
        "64",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.starts_with("load: 2 processes"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.starts_with("estimated run time: ~"),
        "{}",
        out.stderr
    );
    // Killed and reaped before the bench exited (a worker whose parent is gone would also
    // leave by itself, but only after its current burst).
    assert_eq!(
        load_workers_of(out.pid),
        Vec::<u32>::new(),
        "workers left behind"
    );

    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["load"], 2, "{doc}");
    check_noise(&doc);
    let rows = doc["results"].as_array().expect("results array");
    // rtt: 6 raw, libipc unix and shm; stream: 5 raw, libipc unix and shm.
    assert_eq!(rows.len(), 15, "{doc}");
    for row in rows {
        assert!(row["cpu_us_per_msg"].as_f64().unwrap() > 0.0, "{row}");
        if row["system"] == "libipc" {
            assert!(row["vs_same_wait"].as_f64().unwrap() > 0.0, "{row}");
            assert!(row["vs_blocking"].as_f64().unwrap() > 0.0, "{row}");
        }
    }
}

#[test]
fn bench_load_rejects_zero_and_a_detached_count() {
    for args in [&["bench", "--load=0"][..], &["bench", "--load", "2"]] {
        let out = ipc_run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", out.stderr);
    }
}
