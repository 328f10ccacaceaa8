//! Parent side of the peer processes: a private scratch directory, starting a peer by re-running
//! this executable, accepting its connection, and stopping it.

use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use libipc::ErrorKind;

use super::Transport;
use super::link::{IpcLink, Link};
use super::peer::{Command, System};
use super::raw::RawLink;
use crate::fail::{Context, Fail, Result};

/// How long a peer may take to start and connect, or to exit after `quit`.
const PEER_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh directory only this user can enter, removed with everything in it on drop.
#[derive(Debug)]
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(crate) fn new() -> Result<ScratchDir> {
        let base = std::env::temp_dir();
        let pid = std::process::id();
        let mut last = None;
        for attempt in 0..100 {
            let path = base.join(format!("ipc-bench-{pid}-{attempt}"));
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => return Ok(ScratchDir(path)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
                Err(e) => return Err(e).context(format_args!("creating {}", path.display())),
            }
        }
        Err(Fail::new(format!(
            "no free scratch directory name in {}: {}",
            base.display(),
            last.map(|e| e.to_string()).unwrap_or_default()
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

/// A running peer process and the link to it; the process is killed if still running on drop.
pub(crate) struct Peer {
    pub(crate) system: System,
    pub(crate) transport: &'static str,
    pub(crate) link: Box<dyn Link>,
    child: Child,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("system", &self.system)
            .field("transport", &self.transport)
            .field("pid", &self.child.id())
            .finish()
    }
}

impl Peer {
    /// The raw baseline: a std `UnixListener` in `dir`, a raw peer connecting to it.
    pub(crate) fn start_raw(dir: &Path) -> Result<Peer> {
        let path = dir.join("raw.sock");
        let listener =
            UnixListener::bind(&path).context(format_args!("binding {}", path.display()))?;
        listener.set_nonblocking(true)?;
        let mut child = spawn(System::Raw, path.as_os_str())?;
        let stream = wait_for_peer(&mut child, || match listener.accept() {
            Ok((stream, _)) => Ok(Some(stream)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                Ok(None)
            }
            Err(e) => Err(e).context("accepting the raw peer"),
        })?;
        stream.set_nonblocking(false)?;
        Ok(Peer {
            system: System::Raw,
            transport: "unix",
            link: Box::new(RawLink::new(stream)),
            child,
        })
    }

    /// A libipc peer over `transport`.
    pub(crate) fn start_libipc(transport: &Transport, dir: &Path) -> Result<Peer> {
        let endpoint = (transport.endpoint)(dir);
        let listener = crate::endpoint::bind(&endpoint)?;
        let local = listener.local_endpoint().to_string();
        let mut child = spawn(System::Libipc, local.as_ref())?;
        let channel = wait_for_peer(&mut child, || {
            match listener.accept_timeout(Duration::from_millis(50)) {
                Ok(channel) => Ok(Some(channel)),
                Err(e) if e.kind() == ErrorKind::Timeout => Ok(None),
                Err(e) => Err(e).context(format_args!("accepting the peer at {local}")),
            }
        })?;
        Ok(Peer {
            system: System::Libipc,
            transport: transport.name,
            link: Box::new(IpcLink::new(channel)),
            child,
        })
    }

    /// Tell the peer to quit and wait for it to exit successfully.
    pub(crate) fn finish(mut self) -> Result {
        self.link.send(Command::Quit.encode().as_bytes())?;
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

fn spawn(system: System, endpoint: &std::ffi::OsStr) -> Result<Child> {
    let exe = std::env::current_exe().context("finding this executable")?;
    Process::new(&exe)
        .arg("__bench-peer")
        .arg(system.name())
        .arg(endpoint)
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
            let _ = child.kill();
            let _ = child.wait();
            return Err(Fail::new("the bench peer did not connect within 10 s"));
        }
    }
}
