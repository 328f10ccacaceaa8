//! Parent side of the peer process: a private scratch directory, starting the peer by re-running
//! this executable, accepting its links in order, switching between them, and stopping it.

use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use libipc::{Channel, ErrorKind, Listener};

use libipc_bench::{IpcLink, Link, Pattern, PeerLinks};

use super::peer::{LinkSpec, System};
use super::raw::RawLink;
use super::raw_shm::ShmLink;
use super::{BASELINES, Baseline, INHERITED, Transport};
use crate::fail::{Context, Fail, Result};

/// How long the peer may take to start and connect, or to exit after `quit`.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh directory only this user can enter, removed with everything in it on drop.
#[derive(Debug)]
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(crate) fn new() -> Result<ScratchDir> {
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

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one of the peer's links measures, as the bench reports it.
pub(crate) struct PeerLink {
    pub(crate) system: System,
    pub(crate) transport: &'static str,
    /// libipc links: the raw baseline that waits the same way ("vs same-wait").
    pub(crate) same_wait: Option<Baseline>,
}

impl PeerLink {
    pub(crate) fn patterns(&self) -> &'static [Pattern] {
        self.system.patterns()
    }
}

/// A link set up before the peer starts, completed once it runs.
enum Pending {
    /// Accept the peer's connection to a raw socket whose reads spin this long first.
    Unix(UnixListener, Duration),
    /// Ready: the peer opens its side from inherited descriptors.
    Shm(ShmLink),
    /// Ready: the peer opens the FIFOs by name.
    Pipe(RawLink),
    /// The channel over the socket pair the peer inherits, made as it starts.
    Inherited,
    /// Accept the peer's libipc connection.
    Libipc(Listener),
}

/// The running peer process and its links; the process is killed if still running on drop.
pub(crate) struct Peer {
    /// What each link measures, in the order of [`Peer::board`].
    pub(crate) links: Vec<PeerLink>,
    /// The links themselves.
    pub(crate) board: PeerLinks,
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
    /// Start the peer with one link per raw baseline, each followed by the libipc transports
    /// that wait the same way (so the rows come out grouped), for messages of up to
    /// `max_message` bytes.
    pub(crate) fn start(dir: &Path, transports: &[&Transport], max_message: usize) -> Result<Peer> {
        // Per link: how the peer opens it, how the bench completes it, and how it is reported.
        let mut specs = Vec::new();
        let mut pending = Vec::new();
        let mut labels = Vec::new();
        // The peer's copies of shared-memory descriptors, closed here once it has started.
        let mut inherited = Vec::new();
        for baseline in BASELINES {
            let system = System::Raw(baseline);
            match baseline.wait() {
                None if baseline.is_pipe() => {
                    let base = dir.join(format!("raw-{}", baseline.name()));
                    let link = RawLink::create_pipe(&base, baseline.stream_spin())
                        .context(format_args!("setting up raw {}", baseline.name()))?;
                    specs.push(LinkSpec {
                        system,
                        endpoint: base.to_string_lossy().into_owned(),
                        spin_us: 0,
                    });
                    pending.push(Pending::Pipe(link));
                }
                None => {
                    let path = dir.join(format!("raw-{}.sock", baseline.name()));
                    let listener = UnixListener::bind(&path)
                        .context(format_args!("binding {}", path.display()))?;
                    listener.set_nonblocking(true)?;
                    let endpoint = path.to_string_lossy().into_owned();
                    specs.push(LinkSpec {
                        system,
                        endpoint,
                        spin_us: 0,
                    });
                    pending.push(Pending::Unix(listener, baseline.stream_spin()));
                }
                Some(wait) => {
                    let (link, fds) = ShmLink::create(wait, max_message)
                        .context(format_args!("setting up raw {}", baseline.name()))?;
                    let endpoint = fds.arg();
                    specs.push(LinkSpec {
                        system,
                        endpoint,
                        spin_us: 0,
                    });
                    pending.push(Pending::Shm(link));
                    inherited.push(fds);
                }
            }
            labels.push((baseline.name(), None));
            for &t in transports.iter().filter(|t| t.same_wait == baseline) {
                if (t.endpoint)(dir) == INHERITED {
                    // Opened by the peer with `Channel::from_env`; finished as it starts.
                    specs.push(LinkSpec {
                        system: System::Libipc,
                        endpoint: INHERITED.to_owned(),
                        spin_us: 0,
                    });
                    pending.push(Pending::Inherited);
                    labels.push((t.name, Some(t.same_wait)));
                    continue;
                }
                let opts = libipc::Options::new().with_shm_spin(t.spin);
                let listener = crate::endpoint::bind_with(&(t.endpoint)(dir), &opts)?;
                specs.push(LinkSpec {
                    system: System::Libipc,
                    endpoint: listener.local_endpoint().to_string(),
                    spin_us: t.spin.as_micros() as u64,
                });
                pending.push(Pending::Libipc(listener));
                labels.push((t.name, Some(t.same_wait)));
            }
        }

        let inherits = pending.iter().any(|p| matches!(p, Pending::Inherited));
        let (mut child, mut paired) = spawn(&specs, inherits)?;
        drop(inherited);
        let mut links = Vec::new();
        let mut board = Vec::new();
        for ((spec, pending), (transport, same_wait)) in specs.iter().zip(pending).zip(labels) {
            let link: Box<dyn Link> = match pending {
                Pending::Unix(listener, spin) => {
                    let stream = wait_for_peer(&mut child, || match listener.accept() {
                        Ok((stream, _)) => Ok(Some(stream)),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                            Ok(None)
                        }
                        Err(e) => Err(e).context("accepting the raw link"),
                    })?;
                    stream.set_nonblocking(false)?;
                    Box::new(RawLink::new(stream, spin))
                }
                Pending::Shm(link) => Box::new(link),
                Pending::Pipe(link) => Box::new(link),
                Pending::Inherited => Box::new(IpcLink::new(
                    paired.take().expect("the inherited channel, made once"),
                )),
                Pending::Libipc(listener) => {
                    let channel = wait_for_peer(&mut child, || {
                        match listener.accept_timeout(Duration::from_millis(50)) {
                            Ok(channel) => Ok(Some(channel)),
                            Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
                            Err(e) => {
                                Err(e).context(format_args!("accepting the {transport} link"))
                            }
                        }
                    })?;
                    Box::new(IpcLink::new(channel))
                }
            };
            links.push(PeerLink {
                system: spec.system,
                transport,
                same_wait,
            });
            board.push(link);
        }
        Ok(Peer {
            links,
            board: PeerLinks::new(board),
            child,
        })
    }

    /// Tell the peer to quit, close every link, and wait for the peer to exit successfully.
    pub(crate) fn finish(mut self) -> Result {
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
fn spawn(links: &[LinkSpec], inherits: bool) -> Result<(Child, Option<Channel>)> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let mut cmd = Process::new(&exe);
    cmd.arg("__bench-peer")
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

/// Poll `accept` until the peer connects, failing if it exits or takes too long.
fn wait_for_peer<T>(child: &mut Child, mut accept: impl FnMut() -> Result<Option<T>>) -> Result<T> {
    let deadline = Instant::now() + PEER_TIMEOUT;
    loop {
        if let Some(link) = accept()? {
            return Ok(link);
        }
        if let Some(status) = child.try_wait()? {
            return Err(Fail::new(format!(
                "the bench peer exited before connecting ({status})"
            )));
        }
        if Instant::now() > deadline {
            return Err(Fail::new("the bench peer did not connect within 10 s"));
        }
    }
}
