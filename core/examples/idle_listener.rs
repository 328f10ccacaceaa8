//! How much an idle connection costs an async listener (docs/security.md, "Resource limits").
//!
//! ```text
//! cargo run --release -p libipc --example idle_listener -- [unix|tcp|shm] [STEP...]
//! ```
//!
//! This process binds an `AsyncListener` (its `max_connections` above the largest step) and
//! accepts every client, keeping the channels open and idle. A child process (this program,
//! `client` mode) opens connections up to each step (default 0 1000 5000 10000) and holds
//! them. At each step, once every connection is accepted and the handshake threads have ended,
//! the listener reports its resident memory (`VmRSS`), open descriptors and threads, and the
//! KiB per connection since the previous step. Both processes raise `RLIMIT_NOFILE` to their
//! hard limit first. Linux only (it reads `/proc/self`).

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("idle_listener: Linux only (it reads /proc/self)");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use libipc::aio::AsyncListener;
    use libipc::{Channel, Options};

    fn raise_nofile() -> u64 {
        let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        let new = rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        let _ = rustix::process::setrlimit(rustix::process::Resource::Nofile, new);
        rustix::process::getrlimit(rustix::process::Resource::Nofile)
            .current
            .unwrap_or(u64::MAX)
    }

    fn status(field: &str) -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    fn fds() -> usize {
        std::fs::read_dir("/proc/self/fd").unwrap().count()
    }

    fn client(ep: &str) {
        raise_nofile();
        let mut held = Vec::new();
        for line in std::io::stdin().lock().lines() {
            let want: usize = line.unwrap().trim().parse().unwrap();
            while held.len() < want {
                held.push(Channel::connect(ep).expect("connect"));
            }
            println!("held {}", held.len());
        }
    }

    pub(super) fn main() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.first().map(String::as_str) == Some("client") {
            return client(&args[1]);
        }
        let kind = args.first().cloned().unwrap_or_else(|| "unix".into());
        let steps: Vec<usize> = if args.len() > 1 {
            args[1..].iter().map(|s| s.parse().expect("step")).collect()
        } else {
            vec![0, 1000, 5000, 10000]
        };
        let max = *steps.iter().max().unwrap();
        let limit = raise_nofile();
        let dir = std::env::temp_dir().join(format!("idle-listener-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ep = match kind.as_str() {
            "tcp" => "tcp://127.0.0.1:0".to_owned(),
            "shm" => format!("shm://idle-{}", std::process::id()),
            _ => format!("unix://{}/l.sock", dir.display()),
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let opts = Options::new().with_max_connections(max + 16);
        let listener = Arc::new(
            rt.block_on(AsyncListener::bind_with(ep.as_str(), &opts))
                .unwrap(),
        );
        let at = listener.local_endpoint().to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        {
            let (l, n) = (Arc::clone(&listener), Arc::clone(&accepted));
            rt.spawn(async move {
                let mut held = Vec::new();
                while let Ok(ch) = l.accept().await {
                    held.push(ch);
                    n.store(held.len(), Ordering::Release);
                }
            });
        }
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["client", &at])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut to = child.stdin.take().unwrap();
        let mut from = BufReader::new(child.stdout.take().unwrap()).lines();
        println!("listener {kind} ({at}), RLIMIT_NOFILE {limit}");
        println!(
            "| connections | RSS (KiB) | descriptors | threads | KiB per connection (since last) |"
        );
        println!("|---:|---:|---:|---:|---:|");
        let mut last: Option<(usize, u64)> = None;
        for &n in &steps {
            writeln!(to, "{n}").unwrap();
            let line = from.next().unwrap().unwrap();
            assert_eq!(line, format!("held {n}"));
            while accepted.load(Ordering::Acquire) < n {
                std::thread::sleep(Duration::from_millis(10));
            }
            // Let the short-lived handshake threads end (a thread count back at its base).
            std::thread::sleep(Duration::from_millis(500));
            let rss = status("VmRSS:");
            let per = match last {
                Some((n0, r0)) if n > n0 => {
                    format!("{:.2}", (rss as f64 - r0 as f64) / (n - n0) as f64)
                }
                _ => "–".into(),
            };
            println!(
                "| {n} | {rss} | {} | {} | {per} |",
                fds(),
                status("Threads:")
            );
            last = Some((n, rss));
        }
        drop(to);
        let _ = child.wait();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
