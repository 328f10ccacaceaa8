//! Running `ipc-test-peer` as a separate process. See `src/bin/peer.rs` for its command line.
//!
//! A [`Peer`] owns the child: its stdout is read line by line on a background thread, its
//! stdin stays open as a lifeline (echo servers stop when it closes), and dropping the `Peer`
//! kills and reaps the child, so a failing test never leaves processes behind. Every live
//! child is also registered for the [watchdog](crate::watchdog) to kill before it aborts.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use libipc::{Channel, Options};

use crate::transport::Site;

/// How long to wait for a line before concluding the peer is stuck. A hang guard only.
const LINE_TIMEOUT: Duration = Duration::from_secs(90);

static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// SIGKILL every live child (used by the watchdog before it aborts; on Windows,
/// `taskkill /F`, which terminates the process).
pub fn kill_all() {
    for &pid in LIVE.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        #[cfg(unix)]
        if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
        #[cfg(windows)]
        let _ = Command::new("taskkill")
            .args(["/F", "/PID", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `ipc-test-peer` with arguments: `peer!("echo-server", site.there())`. Expands to a
/// [`PeerCommand`]; call `.site(&site)` to pass the site's environment, then `.spawn()`.
#[macro_export]
macro_rules! peer {
    ($($arg:expr),* $(,)?) => {
        $crate::peer::PeerCommand::new(env!("CARGO_BIN_EXE_ipc-test-peer"))$(.arg($arg))*
    };
}

/// A peer process about to be started.
#[derive(Debug)]
pub struct PeerCommand {
    cmd: Command,
    label: String,
}

impl PeerCommand {
    /// The helper binary at `exe` (use the [`peer!`](crate::peer!) macro).
    pub fn new(exe: &str) -> PeerCommand {
        let mut cmd = Command::new(exe);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        PeerCommand {
            cmd,
            label: "ipc-test-peer".into(),
        }
    }

    /// Add an argument.
    pub fn arg(mut self, arg: impl AsRef<str>) -> PeerCommand {
        self.label.push(' ');
        self.label.push_str(arg.as_ref());
        self.cmd.arg(arg.as_ref());
        self
    }

    /// Add arguments.
    pub fn args<S: AsRef<str>>(mut self, args: impl IntoIterator<Item = S>) -> PeerCommand {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// Give the child the environment it needs to resolve `site.there()`.
    pub fn site(mut self, site: &Site) -> PeerCommand {
        for (k, v) in site.env() {
            self.cmd.env(k, v);
        }
        self
    }

    /// Set one environment variable for the child only.
    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> PeerCommand {
        self.cmd.env(key, value);
        self
    }

    /// Run the child as user `uid` and group `gid` (the test process must be root).
    #[cfg(unix)]
    pub fn user(mut self, uid: u32, gid: u32) -> PeerCommand {
        use std::os::unix::process::CommandExt;
        self.cmd.uid(uid).gid(gid);
        self
    }

    /// Remove one environment variable for the child only.
    pub fn env_remove(mut self, key: &str) -> PeerCommand {
        self.cmd.env_remove(key);
        self
    }

    /// Start a child that listens at `site` (with the site's environment): wait for its
    /// `ready <endpoint>` line and record the endpoint it bound in `site`.
    pub fn listening(self, site: &mut Site) -> Peer {
        let mut peer = self.site(site).spawn();
        let endpoint = peer.ready();
        site.bound(endpoint);
        peer
    }

    /// Start the child.
    pub fn spawn(mut self) -> Peer {
        let child = self
            .cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", self.label));
        Peer::adopt(child, self.label)
    }

    /// Start the child holding the other end of a new channel ([`Channel::spawn_with`]), as
    /// its parent: the channel and the peer, or the error of `Channel::spawn_with` (which
    /// has reaped the child then).
    pub fn spawn_channel(mut self, opts: &Options) -> libipc::Result<(Channel, Peer)> {
        let (ch, child) = Channel::spawn_with(&mut self.cmd, opts)?;
        Ok((ch, Peer::adopt(child, self.label)))
    }
}

impl Peer {
    /// Take charge of a started child (its stdin and stdout piped).
    fn adopt(mut child: Child, label: String) -> Peer {
        LIVE.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child.id());
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer {
            stdin: child.stdin.take(),
            child,
            lines,
            label,
        }
    }
}

/// A running peer process; killed and reaped on drop.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    label: String,
}

impl Peer {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the peer prints. Panics if it exits first.
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(LINE_TIMEOUT) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => {
                panic!("`{}` printed nothing for {LINE_TIMEOUT:?}", self.label)
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.wait().ok();
                panic!(
                    "`{}` exited ({status:?}) before printing a line",
                    self.label
                )
            }
        }
    }

    /// A line the peer already printed, if any (does not wait).
    pub fn try_line(&mut self) -> Option<String> {
        self.lines.try_recv().ok()
    }

    /// The next line, which must start with `prefix` (then a space or nothing); returns the
    /// rest of it.
    pub fn expect(&mut self, prefix: &str) -> String {
        let line = self.line();
        match line.strip_prefix(prefix) {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => rest.trim_start().to_owned(),
            _ => panic!("`{}`: expected a `{prefix}` line, got {line:?}", self.label),
        }
    }

    /// Wait for `ready <endpoint>` and return the endpoint.
    pub fn ready(&mut self) -> String {
        self.expect("ready")
    }

    /// Write one line to the peer's stdin.
    pub fn say(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write to peer stdin");
        stdin.flush().expect("flush peer stdin");
    }

    /// Close the peer's stdin (its signal to finish) without waiting for it.
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// SIGKILL the peer now and reap it (Windows: `TerminateProcess`).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        unregister(self.child.id());
    }

    /// Close the peer's stdin (its signal to finish), wait for it to exit and return its exit
    /// status and the lines it printed that were not read yet.
    pub fn finish(mut self) -> (ExitStatus, Vec<String>) {
        self.stdin = None;
        let status = self.child.wait().expect("wait for peer");
        unregister(self.child.id());
        let mut rest = Vec::new();
        // The reader thread ends at EOF, which follows the exit.
        while let Ok(l) = self.lines.recv_timeout(LINE_TIMEOUT) {
            rest.push(l);
        }
        (status, rest)
    }

    /// Like [`finish`](Self::finish), insisting on a successful exit.
    pub fn finish_ok(self) -> Vec<String> {
        let label = self.label.clone();
        let (status, rest) = self.finish();
        assert!(
            status.success(),
            "`{label}` failed: {status}; output {rest:?}"
        );
        rest
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stdin = None;
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        unregister(self.child.id());
    }
}

/// Forget a reaped child (its pid may be reused from now on).
fn unregister(pid: u32) {
    LIVE.lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|&p| p != pid);
}

/// `ipc-test-peer clients` processes: `processes` of them with `per_process` clients each, the
/// client ids numbered from 0 across them, every client exchanging `messages` tagged messages
/// with the listener at a site (see the peer's `clients` mode).
#[derive(Debug)]
pub struct ClientProcesses {
    peers: Vec<Peer>,
    per_process: u32,
}

impl ClientProcesses {
    /// Start them; `peer` makes the bare command (`|| peer!()`).
    pub fn spawn(
        peer: impl Fn() -> PeerCommand,
        site: &Site,
        processes: u32,
        per_process: u32,
        messages: u32,
    ) -> ClientProcesses {
        let peers = (0..processes)
            .map(|p| {
                peer()
                    .args(["clients", site.there()])
                    .arg((p * per_process).to_string())
                    .arg(per_process.to_string())
                    .arg(messages.to_string())
                    .site(site)
                    .spawn()
            })
            .collect();
        ClientProcesses { peers, per_process }
    }

    /// Wait for every process to exit successfully; each must have printed `client <id> ok` for
    /// each of its clients (in any order) and nothing else.
    pub fn finish_ok(self) {
        for (p, peer) in self.peers.into_iter().enumerate() {
            let mut lines = peer.finish_ok();
            lines.sort();
            let first = p as u32 * self.per_process;
            let mut want: Vec<_> = (first..first + self.per_process)
                .map(|id| format!("client {id} ok"))
                .collect();
            want.sort();
            assert_eq!(lines, want, "client process {p}");
        }
    }
}
