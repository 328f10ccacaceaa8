//! Sockets: local (Unix domain) and TCP streams and listeners.
//!
//! Every connected [`Stream`] is non-blocking: reads and writes never wait, and callers wait
//! with `wait_any` on the stream's sources (so that a wait can also end on a cancellation).

use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::sockopt::Timeout;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

use super::Stream;
use super::wait::{Source, Waker};
use super::{errno_error, ioe};
use crate::conn::PeerCredentials;
use crate::error::{Error, ErrorKind, Result};

const BACKLOG: i32 = 1024;

/// A connected, non-blocking socket, Unix or TCP: the [`Stream`] of the socket transports.
#[derive(Debug)]
pub(crate) struct SocketStream {
    fd: OwnedFd,
    /// A Unix socket (peer credentials, no TCP linger) rather than TCP.
    local: bool,
}

impl SocketStream {
    /// A connected socket as a non-blocking [`Stream`].
    pub(super) fn stream(fd: OwnedFd, local: bool) -> Result<Stream> {
        rustix::io::ioctl_fionbio(&fd, true)
            .map_err(|e| Error::from_io(&ioe(e), "setting non-blocking mode"))?;
        Ok(Stream::Socket(SocketStream { fd, local }))
    }

    /// Read what is there into `buf` without waiting: `Some(n)` bytes (`Some(0)`: the peer
    /// closed its side), or `None` if nothing is there yet.
    pub(crate) fn read(&self, buf: &mut [MaybeUninit<u8>]) -> Result<Option<usize>> {
        loop {
            match rustix::net::recv(&self.fd, &mut *buf, RecvFlags::DONTWAIT) {
                Ok(((init, _), _)) => return Ok(Some(init.len())),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(None),
                Err(e) => return Err(errno_error(e, "recv")),
            }
        }
    }

    /// Write as much of `bufs` as fits now, without waiting (and never raising SIGPIPE);
    /// returns how many bytes went out (0 if none fit).
    pub(crate) fn write(&self, bufs: &[IoSlice<'_>]) -> Result<usize> {
        let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
        let mut owned: [IoSlice<'_>; 4];
        let mut rest: &mut [IoSlice<'_>] = if bufs.len() <= 4 {
            owned = [IoSlice::new(&[]); 4];
            owned[..bufs.len()].copy_from_slice(bufs);
            &mut owned[..bufs.len()]
        } else {
            return Err(Error::new(ErrorKind::InvalidArgument, "too many slices"));
        };
        IoSlice::advance_slices(&mut rest, 0);
        let mut total = 0;
        while !rest.is_empty() {
            let r = if rest.len() == 1 {
                rustix::net::send(&self.fd, &rest[0], flags)
            } else {
                rustix::net::sendmsg(&self.fd, rest, &mut Default::default(), flags)
            };
            match r {
                Ok(n) => {
                    total += n;
                    IoSlice::advance_slices(&mut rest, n);
                }
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => break,
                Err(_) if total > 0 => break, // reported by the next write
                Err(e) => return Err(errno_error(e, "send")),
            }
        }
        Ok(total)
    }

    /// Best-effort write of a small frame without waiting (error reports, CLOSE from `Drop`):
    /// whether all of it went out.
    pub(crate) fn write_now(&self, bytes: &[u8]) -> bool {
        matches!(rustix::net::send(&self.fd, bytes, SendFlags::NOSIGNAL | SendFlags::DONTWAIT), Ok(n) if n == bytes.len())
    }

    /// Wait here for the stream to become readable.
    pub(crate) fn read_source(&self) -> Source {
        Source::readable(self.fd.as_fd())
    }

    /// Wait here for room to write.
    pub(crate) fn write_source(&self) -> Source {
        Source::writable(self.fd.as_fd())
    }

    /// The peer's credentials where the OS reports them (Unix sockets on Linux).
    pub(crate) fn peer_credentials(&self) -> PeerCredentials {
        if self.local {
            peer_credentials(self.fd.as_fd())
        } else {
            PeerCredentials::default()
        }
    }

    /// The peer's supplementary groups where the OS reports them (Unix sockets on Linux,
    /// SO_PEERGROUPS); empty otherwise.
    pub(crate) fn peer_groups(&self) -> Vec<u32> {
        if self.local {
            peer_groups(self.fd.as_fd())
        } else {
            Vec::new()
        }
    }

    /// Shut down our sending side (the peer reads EOF after what we sent). Returns whether
    /// the stream was still connected.
    pub(crate) fn shutdown_write(&self) -> bool {
        rustix::net::shutdown(&self.fd, rustix::net::Shutdown::Write).is_ok()
    }

    /// Shut down both directions, which wakes every thread waiting on the stream.
    pub(crate) fn hang_up(&self) {
        let _ = rustix::net::shutdown(&self.fd, rustix::net::Shutdown::Both);
    }

    /// Whether nothing we sent is still in flight: a Unix socket; a TCP socket whose sent
    /// bytes the peer's kernel has all acknowledged, or that has failed (so nothing more can
    /// be delivered anyway). Discards pending input as a side effect: closing a TCP socket
    /// with unread input makes Linux send a reset, which would destroy data in flight.
    pub(crate) fn settled(&self) -> bool {
        if self.local || self.drain().is_err() {
            return true;
        }
        if !matches!(rustix::net::sockopt::socket_error(&self.fd), Ok(Ok(()))) {
            return true;
        }
        matches!(tcp_unacked(self.fd.as_fd()), Some(0) | None)
    }

    /// Read and discard whatever is already queued, without waiting.
    pub(crate) fn drain(&self) -> std::result::Result<(), ()> {
        let mut buf = [0u8; 4096];
        // Bounded, so a peer that floods us cannot keep a closing thread here.
        for _ in 0..256 {
            match rustix::net::recv(&self.fd, &mut buf, RecvFlags::DONTWAIT) {
                Ok((0, _)) | Err(Errno::AGAIN) => return Ok(()),
                Ok(_) | Err(Errno::INTR) => continue,
                Err(_) => return Err(()),
            }
        }
        Ok(())
    }
}

impl AsFd for SocketStream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A bound, listening socket; accepted streams are non-blocking.
#[derive(Debug)]
pub(crate) struct StreamListener {
    fd: OwnedFd,
    local: bool,
}

impl StreamListener {
    fn new(fd: OwnedFd, local: bool) -> Result<StreamListener> {
        rustix::io::ioctl_fionbio(&fd, true)
            .map_err(|e| Error::from_io(&ioe(e), "setting non-blocking mode"))?;
        Ok(StreamListener { fd, local })
    }

    /// Accept one pending connection, or `None` if none is pending.
    pub(crate) fn try_accept(&self) -> Result<Option<Stream>> {
        loop {
            match rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC) {
                Ok(fd) => {
                    if !self.local {
                        rustix::net::sockopt::set_tcp_nodelay(&fd, true)
                            .map_err(|e| Error::from_io(&ioe(e), "TCP_NODELAY"))?;
                    }
                    return SocketStream::stream(fd, self.local).map(Some);
                }
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(None),
                // The connection died before we got it; not the listener's problem.
                Err(Errno::CONNABORTED | Errno::PROTO) => return Ok(None),
                Err(e) => return Err(Error::from_io(&ioe(e), "accept")),
            }
        }
    }

    /// Wait until `kick` fires or (if `accepting`) a connection is pending.
    pub(crate) fn wait(&self, kick: &Waker, accepting: bool) -> Result<()> {
        let flags = if accepting {
            PollFlags::IN
        } else {
            PollFlags::empty()
        };
        let kick = kick.fd();
        let mut fds = [
            PollFd::new(&kick, PollFlags::IN),
            PollFd::new(&self.fd, flags),
        ];
        loop {
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Error::from_io(&ioe(e), "poll")),
            }
        }
    }
}

/// The peer's credentials (SO_PEERCRED on Linux).
fn peer_credentials(fd: BorrowedFd<'_>) -> PeerCredentials {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // Read SO_PEERCRED into a plain `ucred`: the kernel reports pid 0 for a peer outside our
        // pid namespace, which a non-zero pid type (as in rustix's `UCred`) cannot hold.
        let mut cred = libc::ucred {
            pid: 0,
            uid: 0,
            gid: 0,
        };
        let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
        // SAFETY: `fd` is an open socket; `cred` and `len` are valid for writes and `len` is
        // the size of `cred`, as SO_PEERCRED expects.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERCRED,
                (&raw mut cred).cast(),
                &mut len,
            )
        };
        if rc == 0 && len as usize == std::mem::size_of::<libc::ucred>() {
            return PeerCredentials {
                pid: (cred.pid > 0).then_some(cred.pid as u32),
                uid: Some(cred.uid),
                gid: Some(cred.gid),
            };
        }
    }
    let _ = fd;
    PeerCredentials::default()
}

/// The peer's supplementary groups (SO_PEERGROUPS, Linux 4.13 and later): the groups of
/// the process that connected (or listened), as of then. Empty where the kernel does not
/// report them; the primary gid is in [`peer_credentials`].
fn peer_groups(fd: BorrowedFd<'_>) -> Vec<u32> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // Not in every libc crate for every target; the value is the same on all of Linux.
        const SO_PEERGROUPS: libc::c_int = 59;
        let mut groups: Vec<libc::gid_t> = vec![0; 32];
        // Twice at most: the first answer's ERANGE gives the size needed (the groups are fixed
        // at connect time, so the second fits).
        for _ in 0..2 {
            let mut len = std::mem::size_of_val(groups.as_slice()) as libc::socklen_t;
            // SAFETY: `fd` is an open socket; `groups` is valid for writes of `len` bytes, and
            // `len` is valid for reads and writes.
            let rc = unsafe {
                libc::getsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    SO_PEERGROUPS,
                    groups.as_mut_ptr().cast(),
                    &mut len,
                )
            };
            let n = len as usize / std::mem::size_of::<libc::gid_t>();
            if rc == 0 {
                groups.truncate(n.min(groups.len()));
                return groups;
            }
            if io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) || n <= groups.len()
            {
                break;
            }
            groups.resize(n, 0);
        }
    }
    let _ = fd;
    Vec::new()
}

/// Bytes a TCP socket has not yet had acknowledged by the peer's kernel (SIOCOUTQ), or `None`
/// where that cannot be asked.
fn tcp_unacked(fd: BorrowedFd<'_>) -> Option<usize> {
    #[cfg(all(
        any(target_os = "linux", target_os = "android"),
        any(
            target_arch = "x86_64",
            target_arch = "x86",
            target_arch = "aarch64",
            target_arch = "arm",
            target_arch = "riscv64"
        )
    ))]
    {
        const SIOCOUTQ: rustix::ioctl::Opcode = 0x5411;
        // SAFETY: SIOCOUTQ is a valid socket ioctl on these targets and writes one `int`.
        let getter = unsafe { rustix::ioctl::Getter::<SIOCOUTQ, std::ffi::c_int>::new() };
        // SAFETY: `fd` is a valid socket and `getter` matches what the kernel writes.
        return unsafe { rustix::ioctl::ioctl(fd, getter) }
            .ok()
            .map(|n| n.max(0) as usize);
    }
    #[allow(unreachable_code)]
    {
        let _ = fd;
        None
    }
}

/// Where a Unix socket lives.
#[derive(Debug, Clone)]
pub(crate) enum LocalAddr {
    Path(PathBuf),
    Abstract(String),
}

impl LocalAddr {
    fn sockaddr(&self) -> Result<SocketAddrUnix> {
        match self {
            LocalAddr::Path(p) => SocketAddrUnix::new(p.as_path()),
            #[cfg(any(target_os = "linux", target_os = "android"))]
            LocalAddr::Abstract(n) => SocketAddrUnix::new_abstract_name(n.as_bytes()),
            #[cfg(not(any(target_os = "linux", target_os = "android")))]
            LocalAddr::Abstract(_) => {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    "abstract sockets are Linux-only",
                ));
            }
        }
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidEndpoint,
                format!("socket address: {}", ioe(e)),
            )
        })
    }
}

/// The identity of a file this process created (a socket, or a FIFO of `fifo.rs`), so it
/// only ever removes its own.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// The file now at `path`, removed on drop if it is still the same one.
    pub(super) fn new(path: PathBuf, dev: u64, ino: u64) -> SocketFile {
        SocketFile { path, dev, ino }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && meta.dev() == self.dev
            && meta.ino() == self.ino
        {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn unix_socket() -> Result<OwnedFd> {
    rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )
    .map_err(|e| Error::from_io(&ioe(e), "creating socket"))
}

/// Bind and listen on a Unix socket. For a path, the socket is created inside a fresh 0700
/// directory beside the target, given `mode`, then hard-linked into place (link fails if the
/// name exists, so nothing is ever replaced), so no one can reach it with wider permissions.
pub(crate) fn bind_local(
    addr: &LocalAddr,
    mode: u32,
) -> Result<(StreamListener, Option<SocketFile>)> {
    let path = match addr {
        LocalAddr::Abstract(_) => {
            let fd = unix_socket()?;
            rustix::net::bind(&fd, &addr.sockaddr()?).map_err(|e| match e {
                Errno::ADDRINUSE => Error::new(
                    ErrorKind::AddressInUse,
                    format!("abstract socket {addr:?} is in use"),
                ),
                e => Error::from_io(&ioe(e), "binding abstract socket"),
            })?;
            rustix::net::listen(&fd, BACKLOG).map_err(|e| Error::from_io(&ioe(e), "listen"))?;
            return Ok((StreamListener::new(fd, true)?, None));
        }
        LocalAddr::Path(p) => p,
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("/"));
    for _attempt in 0..8 {
        reclaim_if_stale(path)?;
        let tmp_dir = parent.join(format!(".ipc{:08x}", fastrand::u32(..)));
        let tmp_sock = tmp_dir.join("s");
        if tmp_sock.as_os_str().len() > crate::endpoint::MAX_SOCKET_PATH {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                format!(
                    "directory {} is too long to create a socket in safely",
                    parent.display()
                ),
            ));
        }
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp_dir)
            .map_err(|e| {
                Error::from_io(
                    &e,
                    format_args!("creating a private directory in {}", parent.display()),
                )
            })?;
        let result = bind_in_private_dir(&tmp_sock, path, mode);
        let _ = std::fs::remove_file(&tmp_sock);
        let _ = std::fs::remove_dir(&tmp_dir);
        match result {
            Ok(done) => return Ok(done),
            // Someone else linked a socket at the path between our check and our link: re-check.
            Err(e)
                if e.kind() == ErrorKind::AddressInUse
                    && e.os_error() == Some(Errno::EXIST.raw_os_error()) =>
            {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::new(
        ErrorKind::AddressInUse,
        format!("{} keeps changing under us", path.display()),
    ))
}

fn bind_in_private_dir(
    tmp_sock: &Path,
    path: &Path,
    mode: u32,
) -> Result<(StreamListener, Option<SocketFile>)> {
    let fd = unix_socket()?;
    let tmp_addr =
        SocketAddrUnix::new(tmp_sock).map_err(|e| Error::from_io(&ioe(e), "socket address"))?;
    rustix::net::bind(&fd, &tmp_addr).map_err(|e| Error::from_io(&ioe(e), "binding socket"))?;
    std::fs::set_permissions(tmp_sock, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::from_io(&e, "setting socket mode"))?;
    rustix::net::listen(&fd, BACKLOG).map_err(|e| Error::from_io(&ioe(e), "listen"))?;
    if let Err(e) = std::fs::hard_link(tmp_sock, path) {
        let mut err = Error::from_io(&e, format_args!("placing socket at {}", path.display()));
        if e.kind() == io::ErrorKind::AlreadyExists {
            err = Error::new(ErrorKind::AddressInUse, err.message().to_owned())
                .with_os(e.raw_os_error());
        }
        return Err(err);
    }
    let meta =
        std::fs::symlink_metadata(path).map_err(|e| Error::from_io(&e, "checking socket"))?;
    Ok((
        StreamListener::new(fd, true)?,
        Some(SocketFile {
            path: path.to_owned(),
            dev: meta.dev(),
            ino: meta.ino(),
        }),
    ))
}

/// If `path` holds a socket nobody answers on, remove it. A live socket is AddressInUse; a path
/// holding anything else is left alone and reported.
fn reclaim_if_stale(path: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(Error::from_io(
                &e,
                format_args!("checking {}", path.display()),
            ));
        }
        Ok(m) => m,
    };
    use std::os::unix::fs::FileTypeExt;
    if !meta.file_type().is_socket() {
        return Err(Error::new(
            ErrorKind::AddressInUse,
            format!(
                "{} exists and is not a socket; refusing to replace it",
                path.display()
            ),
        ));
    }
    match connect_local(
        &LocalAddr::Path(path.to_owned()),
        Some(Duration::from_secs(1)),
    ) {
        Ok(_) => Err(Error::new(
            ErrorKind::AddressInUse,
            format!("a listener is live at {}", path.display()),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            // Narrow the race with another process reclaiming the same path: remove only the
            // very file we found dead. (If it changed, our link will fail and we re-check.)
            match std::fs::symlink_metadata(path) {
                Ok(now) if now.dev() == meta.dev() && now.ino() == meta.ino() => {}
                _ => return Ok(()),
            }
            tracing::debug!(path = %path.display(), "reclaiming stale socket file");
            match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::from_io(
                    &e,
                    format_args!("removing stale socket {}", path.display()),
                )),
            }
        }
        Err(e) if e.kind() == ErrorKind::Timeout => Err(Error::new(
            ErrorKind::AddressInUse,
            format!("a listener is live (busy) at {}", path.display()),
        )),
        Err(e) => Err(e),
    }
}

/// Connect to a Unix socket; a full backlog waits up to `timeout`.
pub(crate) fn connect_local(addr: &LocalAddr, timeout: Option<Duration>) -> Result<Stream> {
    let fd = unix_socket()?;
    let sa = addr.sockaddr()?;
    // Linux bounds a blocking Unix-socket connect by the send timeout.
    rustix::net::sockopt::set_socket_timeout(&fd, Timeout::Send, timeout)
        .map_err(|e| Error::from_io(&ioe(e), "setsockopt"))?;
    let shown = match addr {
        LocalAddr::Path(p) => format!("unix://{}", p.display()),
        LocalAddr::Abstract(n) => format!("unix:@{n}"),
    };
    loop {
        match rustix::net::connect(&fd, &sa) {
            Ok(()) => break,
            Err(Errno::INTR) => continue,
            Err(Errno::NOENT | Errno::CONNREFUSED) => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("nobody is listening at {shown}"),
                ));
            }
            Err(Errno::AGAIN) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("connecting to {shown}: listener backlog stayed full"),
                ));
            }
            Err(e) => {
                return Err(Error::from_io(
                    &ioe(e),
                    format_args!("connecting to {shown}"),
                ));
            }
        }
    }
    rustix::net::sockopt::set_socket_timeout(&fd, Timeout::Send, None)
        .map_err(|e| Error::from_io(&ioe(e), "setsockopt"))?;
    SocketStream::stream(fd, true)
}

pub(crate) fn bind_tcp(host: &str, port: u16) -> Result<(StreamListener, u16)> {
    let listener = TcpListener::bind((host, port)).map_err(|e| match e.kind() {
        io::ErrorKind::AddrInUse => Error::new(
            ErrorKind::AddressInUse,
            format!("tcp://{host}:{port} is in use"),
        ),
        _ => Error::from_io(&e, format_args!("binding tcp://{host}:{port}")),
    })?;
    let actual = listener
        .local_addr()
        .map_err(|e| Error::from_io(&e, "local address"))?
        .port();
    Ok((StreamListener::new(OwnedFd::from(listener), false)?, actual))
}

pub(crate) fn connect_tcp(host: &str, port: u16, timeout: Option<Duration>) -> Result<Stream> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| Error::new(ErrorKind::NotFound, format!("resolving {host}: {e}")))?
        .collect();
    let mut last = Error::new(
        ErrorKind::NotFound,
        format!("{host} resolved to no address"),
    );
    for a in addrs {
        let r = match timeout {
            Some(t) => TcpStream::connect_timeout(&a, t),
            None => TcpStream::connect(a),
        };
        match r {
            Ok(s) => {
                s.set_nodelay(true)
                    .map_err(|e| Error::from_io(&e, "TCP_NODELAY"))?;
                return SocketStream::stream(OwnedFd::from(s), false);
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                last = Error::new(
                    ErrorKind::NotFound,
                    format!("nobody is listening at tcp://{a}"),
                );
            }
            Err(e) => last = Error::from_io(&e, format_args!("connecting to tcp://{a}")),
        }
    }
    Err(last)
}
