//! The transports the conformance suite runs on, and where each one listens.
//!
//! A test written once as `fn name(t: Transport)` runs on every transport through
//! [`transport_tests!`](crate::transport_tests). A transport joins the suite by adding a
//! [`Transport`] variant, its [`Transport::site`] rule and one line in the macro (its `@each`
//! arm, which [`api_tests!`](crate::api_tests) uses too). On Windows the suite runs on named
//! pipes: `pipe://name` and bare names (which are named pipes there), blocking API only.
//! Tests that write frames on the socket itself after the handshake are listed as
//! `sockets_only` there: over `shm://` the socket carries only the handshake, SETUP and ERROR
//! frames, and the rings have their own tests (`tests/shm*.rs`).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A transport under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A socket file: `unix:///<private temp dir>/x.sock`.
    Unix,
    /// A Linux abstract socket: `unix:@<unique name>`.
    UnixAbstract,
    /// A bare name, resolved by child processes through `LIBIPC_RUNTIME_DIR`.
    Named,
    /// TCP on the loopback interface, port chosen by the OS.
    Tcp,
    /// Shared memory: `shm://<unique name>`, its control socket in the runtime directory.
    Shm,
    /// Unix FIFOs: `fifo:///<private temp dir>/x.fifo`.
    Fifo,
    /// A Windows named pipe: `pipe://<unique name>`.
    Pipe,
}

/// A directory builder that makes private (0700) directories.
fn private_dir() -> std::fs::DirBuilder {
    #[allow(unused_mut)]
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b
}

impl Transport {
    /// A fresh, unused place to listen on this transport.
    pub fn site(self) -> Site {
        let unique = unique_name();
        match self {
            Transport::Unix => {
                let dir = TempDir::new("unix");
                let ep = format!("unix://{}/x.sock", dir.path().display());
                Site::new(ep.clone(), ep, Vec::new(), Some(dir))
            }
            Transport::UnixAbstract => {
                let ep = format!("unix:@{unique}");
                Site::new(ep.clone(), ep, Vec::new(), None)
            }
            // On Windows a bare name is a named pipe: nothing to resolve.
            Transport::Named if cfg!(windows) => {
                Site::new(unique.clone(), unique, Vec::new(), None)
            }
            Transport::Named => {
                // The test process must not change its own environment (tests run on many
                // threads), so only children see LIBIPC_RUNTIME_DIR; the test process names
                // the same socket by its path.
                let dir = TempDir::new("named");
                let run = dir.path().join("run");
                private_dir().create(&run).expect("create runtime dir");
                let here = format!("unix://{}/{unique}.sock", run.display());
                let env = vec![("LIBIPC_RUNTIME_DIR".into(), run.display().to_string())];
                Site::new(here, unique, env, Some(dir))
            }
            Transport::Tcp => {
                let ep = "tcp://127.0.0.1:0".to_owned();
                Site::new(ep.clone(), ep, Vec::new(), None)
            }
            Transport::Shm => {
                // Both processes must name the endpoint `shm://name`, and the test process may
                // not change its own environment (tests run on many threads): it uses the
                // runtime directory its environment gives, and children are pointed at that
                // same directory through LIBIPC_RUNTIME_DIR.
                let run = libipc::endpoint::runtime_dir().expect("runtime directory");
                private_dir()
                    .recursive(true)
                    .create(&run)
                    .expect("create runtime dir");
                let ep = format!("shm://{unique}");
                let env = vec![("LIBIPC_RUNTIME_DIR".into(), run.display().to_string())];
                let mut site = Site::new(ep.clone(), ep, env, None);
                site.leftover = Some(run.join(format!("{unique}.shm.sock")));
                site
            }
            Transport::Fifo => {
                let dir = TempDir::new("fifo");
                let ep = format!("fifo://{}/x.fifo", dir.path().display());
                Site::new(ep.clone(), ep, Vec::new(), Some(dir))
            }
            Transport::Pipe => {
                let ep = format!("pipe://{unique}");
                Site::new(ep.clone(), ep, Vec::new(), None)
            }
        }
    }

    /// A place where nobody listens (for "connect to nothing").
    pub fn vacant_site(self) -> Site {
        let mut site = self.site();
        if self == Transport::Tcp {
            // A port that was free a moment ago; nothing in this suite binds fixed ports.
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind probe");
            let ep = format!("tcp://{}", l.local_addr().expect("probe address"));
            drop(l);
            site.bound(&ep);
        }
        site
    }

    /// Whether the transport reports peer credentials (pid, uid) and supports uid allow-lists.
    pub fn has_credentials(self) -> bool {
        !matches!(self, Transport::Tcp) && cfg!(unix)
    }

    /// Whether it is a Windows named pipe (`pipe://`, and bare names on Windows).
    pub fn is_named_pipe(self) -> bool {
        self == Transport::Pipe || (self == Transport::Named && cfg!(windows))
    }

    /// Whether the peer's pid is among its credentials: the OS reports it for Unix sockets and
    /// Windows named pipes (which report nothing else); FIFOs give only the uid and gid of the
    /// files the peer created.
    pub fn has_pid(self) -> bool {
        (self.has_credentials() && self != Transport::Fifo) || self.is_named_pipe()
    }

    /// How many messages each direction carries in the volume test: 100,000 each way at once,
    /// about 7.6 GB per direction with the log-uniform sizes of [`crate::stream::Schedule`].
    pub fn volume(self) -> u64 {
        100_000
    }
}

/// One place to listen, named both ways: as the test process names it and as child processes
/// (started with [`Site::env`]) name it. For TCP both become the real address once bound.
#[derive(Debug)]
pub struct Site {
    here: String,
    there: String,
    env: Vec<(String, String)>,
    /// Holds the socket file's directory until the site is dropped.
    _dir: Option<TempDir>,
    /// A socket file in a shared directory, removed on drop if a killed listener left it.
    leftover: Option<PathBuf>,
}

impl Site {
    fn new(here: String, there: String, env: Vec<(String, String)>, dir: Option<TempDir>) -> Site {
        Site {
            here,
            there,
            env,
            _dir: dir,
            leftover: None,
        }
    }

    /// The endpoint string for the test process.
    pub fn here(&self) -> &str {
        &self.here
    }

    /// The endpoint string for child processes.
    pub fn there(&self) -> &str {
        &self.there
    }

    /// Environment child processes need to resolve [`there`](Self::there).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Record the endpoint a listener actually bound (`tcp://…:0` becomes the real port).
    pub fn bound(&mut self, actual: impl fmt::Display) {
        let actual = actual.to_string();
        if actual.starts_with("tcp://") {
            self.here = actual.clone();
            self.there = actual;
        }
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(path) = &self.leftover {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A name no other test (in this or another test process) uses.
pub fn unique_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "lipc-{}-{}-{:06x}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        fastrand::u32(..0xff_ffff)
    )
}

/// A private directory under the system temp dir, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Create a fresh directory (mode 0700) whose name contains `tag`.
    pub fn new(tag: &str) -> TempDir {
        // Socket paths are limited to 107 bytes: keep the prefix short.
        let base = Some(std::env::temp_dir())
            .filter(|t| t.as_os_str().len() <= 32)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let path = base.join(format!("{}-{tag}", unique_name()));
        private_dir()
            .create(&path)
            .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Instantiate tests once per transport. Each `fn name(t: Transport)` in the calling module
/// becomes `unix::name`, `unix_abstract::name`, `named::name`, `tcp::name`, `shm::name` and
/// `fifo::name` on Unix, `pipe::name` and `named::name` (a named pipe) on Windows, each run
/// under a [`Watchdog`](crate::watchdog::Watchdog).
///
/// Tests listed after `; sockets_only:` run on the socket transports only (not `shm`): those
/// that write frames on the connection's socket after the handshake. An `shm://` connection
/// never reads messages from its socket (they travel through the rings), so such tests need
/// ring-level counterparts instead (`tests/shm_hostile.rs`).
///
/// ```text
/// fn echoes(t: Transport) { /* ... */ }
/// fn injects_frames(t: Transport) { /* ... */ }
/// libipc_conformance::transport_tests!(echoes; sockets_only: injects_frames);
/// ```
#[macro_export]
macro_rules! transport_tests {
    ($($test:ident),+ $(,)?) => {
        $crate::transport_tests!(@each one [$($test),+] [$($test),+]);
    };
    ($($test:ident),+ ; sockets_only: $($sock:ident),+ $(,)?) => {
        $crate::transport_tests!(@each one [$($test,)+ $($sock),+] [$($test),+]);
    };
    (apis: $($test:ident),+ $(,)?) => {
        $crate::transport_tests!(@each apis [$($test),+] [$($test),+]);
    };
    // The transports: a new one is one line here (and a `Transport` variant). `shm` runs the
    // second list (without the sockets-only tests).
    (@each $arm:ident [$($all:ident),+] [$($shm:ident),+]) => {
        #[cfg(unix)]
        $crate::transport_tests!(@$arm unix, Unix, $($all),+);
        #[cfg(target_os = "linux")]
        $crate::transport_tests!(@$arm unix_abstract, UnixAbstract, $($all),+);
        $crate::transport_tests!(@$arm named, Named, $($all),+);
        #[cfg(unix)]
        $crate::transport_tests!(@$arm tcp, Tcp, $($all),+);
        #[cfg(unix)]
        $crate::transport_tests!(@$arm shm, Shm, $($shm),+);
        #[cfg(unix)]
        $crate::transport_tests!(@$arm fifo, Fifo, $($all),+);
        #[cfg(windows)]
        $crate::transport_tests!(@$arm pipe, Pipe, $($all),+);
    };
    (@apis $module:ident, $variant:ident, $($test:ident),+) => {
        mod $module {
            $crate::api_tests!(@api blocking, Blocking, $variant, $($test),+);
            #[cfg(unix)]
            $crate::api_tests!(@api aio, Async, $variant, $($test),+);
        }
    };
    (@one $module:ident, $variant:ident, $($test:ident),+) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    let _watchdog = $crate::watchdog::Watchdog::start();
                    super::$test($crate::transport::Transport::$variant);
                }
            )+
        }
    };
}
