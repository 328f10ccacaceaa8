//! Parent side of the peer process: a private scratch directory, starting the peer by re-running
//! this executable, accepting its links in order, switching between them, and stopping it.

use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use libipc::ErrorKind;

use super::Transport;
use super::link::{IpcLink, Link};
use super::peer::{Command, LinkSpec, System};
use super::raw::RawLink;
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

/// One of the peer's links, as the bench sees it.
pub(crate) struct PeerLink {
    pub(crate) system: System,
    pub(crate) transport: &'static str,
    link: Box<dyn Link>,
}

/// The running peer process and its links; the process is killed if still running on drop.
pub(crate) struct Peer {
    pub(crate) links: Vec<PeerLink>,
    /// The link the peer reads its next command from.
    current: usize,
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
    /// Start the peer with link 0 the raw baseline (a std `UnixListener` in `dir`), then one
    /// libipc link per transport.
    pub(crate) fn start(dir: &Path, transports: &[&Transport]) -> Result<Peer> {
        let raw_path = dir.join("raw.sock");
        let raw = UnixListener::bind(&raw_path)
            .context(format_args!("binding {}", raw_path.display()))?;
        raw.set_nonblocking(true)?;
        let mut specs = vec![LinkSpec {
            system: System::Raw,
            endpoint: raw_path.to_string_lossy().into_owned(),
        }];
        let mut listeners = Vec::new();
        for t in transports {
            let listener = crate::endpoint::bind(&(t.endpoint)(dir))?;
            specs.push(LinkSpec {
                system: System::Libipc,
                endpoint: listener.local_endpoint().to_string(),
            });
            listeners.push((t.name, listener));
        }

        let mut child = spawn(&specs)?;
        let stream = wait_for_peer(&mut child, || match raw.accept() {
            Ok((stream, _)) => Ok(Some(stream)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
                Ok(None)
            }
            Err(e) => Err(e).context("accepting the raw link"),
        })?;
        stream.set_nonblocking(false)?;
        let mut links = vec![PeerLink {
            system: System::Raw,
            transport: "unix",
            link: Box::new(RawLink::new(stream)),
        }];
        for (transport, listener) in listeners {
            let channel = wait_for_peer(&mut child, || {
                match listener.accept_timeout(Duration::from_millis(50)) {
                    Ok(channel) => Ok(Some(channel)),
                    Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
                    Err(e) => Err(e).context(format_args!("accepting the {transport} link")),
                }
            })?;
            links.push(PeerLink {
                system: System::Libipc,
                transport,
                link: Box::new(IpcLink::new(channel)),
            });
        }
        Ok(Peer {
            links,
            current: 0,
            child,
        })
    }

    /// Link `i`, after telling the peer to take its next command from there.
    pub(crate) fn link(&mut self, i: usize) -> Result<&mut dyn Link> {
        if i != self.current {
            let goto = Command::Goto(i).encode();
            self.links[self.current].link.send(goto.as_bytes())?;
            self.current = i;
        }
        Ok(&mut *self.links[i].link)
    }

    /// Tell the peer to quit, close every link, and wait for the peer to exit successfully.
    pub(crate) fn finish(mut self) -> Result {
        let quit = Command::Quit.encode();
        self.links[self.current].link.send(quit.as_bytes())?;
        for link in &mut self.links {
            link.link.close();
        }
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

fn spawn(links: &[LinkSpec]) -> Result<Child> {
    let exe = std::env::current_exe().context("finding this executable")?;
    Process::new(&exe)
        .arg("__bench-peer")
        .args(links.iter().map(LinkSpec::to_arg))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context(format_args!("starting {}", exe.display()))
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
