//! Parent side of the peer process: a private scratch directory, starting the peer by re-running
//! the bench's executable, completing its links in order, switching between them, and stopping
//! it.

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use libipc::Channel;
use libipc_bench::{Context, Fail, Link, Pattern, PeerLinks, Result};

use crate::kind::{LinkKind, LinkSpec, PEER_TIMEOUT, Setup, Started};

/// A fresh directory only this user can enter, removed with everything in it on drop.
#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    pub fn new() -> Result<ScratchDir> {
        let base = std::env::temp_dir();
        let pid = std::process::id();
        for attempt in 0..100 {
            let path = base.join(format!("ipc-bench-{pid}-{attempt}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(ScratchDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).context(format_args!("creating {}", path.display())),
            }
        }
        Err(Fail::new(format!(
            "no free scratch directory name in {}",
            base.display()
        )))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An executable re-run as a helper process, and the arguments before the helper's own: for
/// the peer, this executable and its hidden peer subcommand (`ipc __bench-peer`), which must
/// end up in [`run_peer`](crate::run_peer) with the same kinds; for load workers, its hidden
/// load subcommand (`ipc __bench-load`), which must end up in
/// [`run_load_worker`](crate::run_load_worker).
#[derive(Debug, Clone)]
pub struct Rerun {
    pub exe: PathBuf,
    pub args: Vec<OsString>,
}

impl Rerun {
    /// This executable with the subcommand `subcommand`.
    pub fn current_exe(subcommand: &str) -> Result<Rerun> {
        let exe = std::env::current_exe().context("finding this executable")?;
        Ok(Rerun {
            exe,
            args: vec![subcommand.into()],
        })
    }
}

/// What one of the peer's links measures, as the bench reports it (see [`LinkKind`]).
#[derive(Debug, Clone)]
pub struct PeerLink {
    pub system: String,
    pub transport: String,
    pub patterns: Vec<Pattern>,
    pub same_wait: Option<String>,
    pub blocking_baseline: Option<String>,
}

/// The running peer process and its links; the process is killed if still running on drop.
pub struct Peer {
    /// What each link measures, in the order of [`Peer::board`].
    pub links: Vec<PeerLink>,
    /// The links themselves.
    pub board: PeerLinks,
    child: Child,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("links", &self.links.len())
            .field("pid", &self.child.id())
            .finish()
    }
}

impl Peer {
    /// Start the peer with `command` (followed by one [`LinkSpec`] per link) and one link of each of `kinds`, in that order (the
    /// order of the rows), for messages of up to `max_message` bytes; `dir` is the scratch
    /// directory ([`ScratchDir`]).
    pub fn start(
        command: &Rerun,
        dir: &Path,
        kinds: &[&dyn LinkKind],
        max_message: usize,
    ) -> Result<Peer> {
        let bench = dir
            .file_name()
            .map_or_else(|| "ipc-bench".into(), |n| n.to_string_lossy().into_owned());
        let mut specs = Vec::new();
        let mut finishes = Vec::new();
        let mut links = Vec::new();
        // The peer's copies of inherited descriptors, closed here once it has started.
        let mut inherited = Vec::new();
        let mut inherits = false;
        for (link, &kind) in kinds.iter().enumerate() {
            let (system, transport) = (kind.system(), kind.transport());
            if system.contains([':', '=']) || transport.contains('=') || system.is_empty() {
                return Err(Fail::new(format!(
                    "link kind {system:?} {transport:?}: a system has no ':' or '=', a \
                     transport no '='"
                )));
            }
            // A directory of its own (short: socket paths are limited to 107 bytes), so
            // that links of the same kind do not meet.
            let link_dir = dir.join(link.to_string());
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&link_dir)
                .context(format_args!("creating {}", link_dir.display()))?;
            let setup = Setup {
                dir: &link_dir,
                max_message,
                bench: &bench,
                link,
            };
            let side = kind.bench_side(&setup)?;
            if side.channel && std::mem::replace(&mut inherits, true) {
                return Err(Fail::new(format!(
                    "{system} {transport}: only one link may use the inherited channel"
                )));
            }
            specs.push(LinkSpec::new(kind, side.arg));
            inherited.extend(side.inherit);
            finishes.push(side.finish);
            links.push(PeerLink {
                system: system.to_owned(),
                transport: transport.to_owned(),
                patterns: kind.patterns().to_vec(),
                same_wait: kind.same_wait().map(str::to_owned),
                blocking_baseline: kind.blocking_baseline().map(str::to_owned),
            });
        }

        let (mut child, channel) = spawn(command, &specs, inherits)?;
        drop(inherited);
        let mut started = Started {
            child: &mut child,
            channel,
        };
        let mut board: Vec<Box<dyn Link>> = Vec::new();
        for finish in finishes {
            match finish(&mut started) {
                Ok(link) => board.push(link),
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e);
                }
            }
        }
        Ok(Peer {
            links,
            board: PeerLinks::new(board),
            child,
        })
    }

    /// The peer's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Tell the peer to quit, close every link, and wait for the peer to exit successfully.
    pub fn finish(mut self) -> Result {
        self.board.quit()?;
        let deadline = Instant::now() + PEER_TIMEOUT;
        loop {
            match self.child.try_wait()? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => {
                    return Err(Fail::new(format!("the bench peer failed ({status})")));
                }
                None if Instant::now() > deadline => {
                    return Err(Fail::new("the bench peer did not exit after `quit`"));
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Start the peer; with `inherits`, through [`Channel::spawn`], giving it one end of a socket
/// pair and returning the channel over the other.
fn spawn(command: &Rerun, links: &[LinkSpec], inherits: bool) -> Result<(Child, Option<Channel>)> {
    let exe = &command.exe;
    let mut cmd = Process::new(exe);
    cmd.args(&command.args)
        .args(links.iter().map(LinkSpec::to_arg))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if inherits {
        let (channel, child) = Channel::spawn(&mut cmd)
            .context(format_args!("starting {} with a channel", exe.display()))?;
        return Ok((child, Some(channel)));
    }
    let child = cmd
        .spawn()
        .context(format_args!("starting {}", exe.display()))?;
    Ok((child, None))
}
