//! Request/reply round trips: libipc's `rpc` client and server next to a raw Unix-socket
//! baseline and gRPC (tonic, unary calls over a Unix socket), with 1 and with 64 requests in
//! flight on one connection, 64 B each way, rounds alternating between the systems.
//!
//! Each system's server runs in a process of its own (this executable re-run as
//! `ipc-compare __compare-rpc-server SYSTEM ENDPOINT`, printing `ready` and serving until its
//! stdin ends); the client is this process. Every call's latency is its own: from just before
//! its request is sent to the moment its caller has the reply (with 64 in flight, the 64
//! requests go out first, then the replies are taken in order).
//!
//! - `raw unix`: a Unix stream socket, each message a `u32` length and a `u64` id before the
//!   body, blocking reads and writes (the server echoes frames in order). It waits as
//!   `libipc unix (no spin)` does: in the kernel.
//! - `libipc unix`, `libipc shm`: `libipc::rpc::Client` against a blocking `rpc::Server`
//!   (one thread per client), default options (adaptive spinning before sleeping).
//! - `libipc unix (no spin)`: the same with `stream_spin` 0.
//! - `grpc uds`: tonic 0.14, `bench.Rpc/Call(bytes) returns (bytes)` (raw-bytes codec, no
//!   protobuf), server on a multi-threaded runtime (2 workers), client on a current-thread
//!   runtime; 64 in flight are 64 concurrent unary calls on one HTTP/2 connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use libipc::Options;
use libipc::rpc::{Client, Server};
use libipc_bench::{Context, Fail, Result};

/// Each request's body (and each reply's).
pub const SIZE: usize = 64;
/// Requests in flight in the pipelined rows.
pub const DEPTH: usize = 64;

/// One system's calls at one depth.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RpcRow {
    pub system: String,
    pub transport: String,
    /// Requests in flight on the connection.
    pub in_flight: usize,
    pub size: usize,
    /// Medians over the rounds of each round's per-call p50 and p99, microseconds.
    pub p50_us: f64,
    pub p99_us: f64,
    /// Medians over the rounds of calls completed per second.
    pub calls_per_s: f64,
    pub rounds: usize,
    pub calls_per_round: usize,
}

/// The systems, in row order: (system, transport, server argument).
const SYSTEMS: &[(&str, &str)] = &[
    ("raw", "unix"),
    ("libipc", "unix (no spin)"),
    ("libipc", "unix"),
    ("libipc", "shm"),
    #[cfg(feature = "grpc")]
    ("grpc", "uds"),
];

/// A client of one system.
enum Caller {
    Raw(UnixStream),
    Libipc(Client),
    #[cfg(feature = "grpc")]
    Grpc(Box<grpc::Caller>),
}

impl Caller {
    fn connect(system: &str, transport: &str, endpoint: &str) -> Result<Caller> {
        Ok(match (system, transport) {
            ("raw", _) => Caller::Raw(
                UnixStream::connect(endpoint).context(format_args!("connecting {endpoint}"))?,
            ),
            ("libipc", "unix (no spin)") => Caller::Libipc(Client::connect_with(
                endpoint,
                &Options::new().with_stream_spin(Duration::ZERO),
            )?),
            ("libipc", _) => Caller::Libipc(Client::connect(endpoint)?),
            #[cfg(feature = "grpc")]
            ("grpc", _) => Caller::Grpc(Box::new(grpc::Caller::connect(endpoint)?)),
            _ => return Err(Fail::new(format!("unknown system {system} {transport}"))),
        })
    }

    /// `n` requests in flight at once; each one's latency in microseconds.
    fn calls(&mut self, n: usize, body: &[u8], lat: &mut Vec<f64>) -> Result {
        match self {
            Caller::Raw(s) => {
                let mut frame = Vec::with_capacity(12 + body.len());
                let mut starts = Vec::with_capacity(n);
                for id in 0..n as u64 {
                    frame.clear();
                    frame.extend_from_slice(&(body.len() as u32).to_le_bytes());
                    frame.extend_from_slice(&id.to_le_bytes());
                    frame.extend_from_slice(body);
                    starts.push(Instant::now());
                    s.write_all(&frame).context("raw send")?;
                }
                let mut reply = vec![0u8; 12 + body.len()];
                for start in starts {
                    s.read_exact(&mut reply).context("raw receive")?;
                    lat.push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
            Caller::Libipc(c) => {
                let mut pending = Vec::with_capacity(n);
                for _ in 0..n {
                    let start = Instant::now();
                    pending.push((start, c.start(body)?));
                }
                for (start, p) in pending {
                    let reply = p.wait_forever()?;
                    lat.push(start.elapsed().as_secs_f64() * 1e6);
                    if reply.len() != body.len() {
                        return Err(Fail::new("a libipc reply of the wrong size"));
                    }
                }
            }
            #[cfg(feature = "grpc")]
            Caller::Grpc(g) => g.calls(n, body, lat)?,
        }
        Ok(())
    }
}

/// The server process's life (`__compare-rpc-server SYSTEM TRANSPORT ENDPOINT`).
pub fn run_server(system: &str, transport: &str, endpoint: &str) -> Result {
    let stop = || {
        std::thread::spawn(|| {
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
            std::process::exit(0);
        })
    };
    match system {
        "raw" => {
            let listener =
                UnixListener::bind(endpoint).context(format_args!("binding {endpoint}"))?;
            println!("ready");
            stop();
            for s in listener.incoming() {
                let mut s = s.context("accepting")?;
                std::thread::spawn(move || {
                    let mut buf = Vec::new();
                    let mut head = [0u8; 12];
                    while s.read_exact(&mut head).is_ok() {
                        let len = u32::from_le_bytes(head[..4].try_into().expect("4")) as usize;
                        buf.resize(12 + len, 0);
                        buf[..12].copy_from_slice(&head);
                        if s.read_exact(&mut buf[12..]).is_err() || s.write_all(&buf).is_err() {
                            break;
                        }
                    }
                });
            }
            Ok(())
        }
        "libipc" => {
            let opts = if transport == "unix (no spin)" {
                Options::new().with_stream_spin(Duration::ZERO)
            } else {
                Options::new()
            };
            let server = Server::bind_with(endpoint, &opts)?;
            println!("ready");
            stop();
            server.serve(|req| Ok(req.into_body().into_vec()))?;
            Ok(())
        }
        #[cfg(feature = "grpc")]
        "grpc" => grpc::serve(endpoint, || {
            println!("ready");
            stop();
        }),
        other => Err(Fail::new(format!("unknown system {other}"))),
    }
}

fn endpoint_for(system: &str, transport: &str, dir: &Path) -> String {
    let n = std::process::id();
    match (system, transport) {
        ("raw", _) => dir.join("rpc-raw.sock").display().to_string(),
        ("libipc", "shm") => format!("shm://rpc-bench-{n}"),
        ("libipc", "unix") => format!("unix://{}", dir.join("rpc-libipc.sock").display()),
        ("libipc", _) => format!("unix://{}", dir.join("rpc-libipc-ns.sock").display()),
        _ => dir.join("rpc-grpc.sock").display().to_string(),
    }
}

struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        if self.child.wait().is_err() {
            let _ = self.child.kill();
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v.get(i).copied().unwrap_or(f64::NAN)
}

/// Measure every system: `rounds` rounds; in each, `single` calls one at a time and
/// `batches` batches of [`DEPTH`] in flight, per system, systems alternating.
pub fn measure(
    exe: &Path,
    command: &str,
    dir: &Path,
    rounds: usize,
    single: usize,
    batches: usize,
) -> Result<Vec<RpcRow>> {
    let mut servers = Vec::new();
    let mut callers = Vec::new();
    for &(system, transport) in SYSTEMS {
        let endpoint = endpoint_for(system, transport, dir);
        let mut child = Process::new(exe)
            .args([command, system, transport, &endpoint])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context(format_args!("starting the {system} {transport} server"))?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .context("reading the server's ready line")?;
        servers.push(Running { child });
        if line.trim() != "ready" {
            return Err(Fail::new(format!(
                "the {system} {transport} server did not start ({line:?})"
            )));
        }
        callers.push(Caller::connect(system, transport, &endpoint)?);
    }
    let body = vec![0x5a; SIZE];
    // Per system and depth: each round's (p50, p99, calls/s).
    let mut per_round: Vec<[Vec<(f64, f64, f64)>; 2]> = (0..SYSTEMS.len())
        .map(|_| [Vec::new(), Vec::new()])
        .collect();
    for round in 0..rounds {
        for (i, caller) in callers.iter_mut().enumerate() {
            let (system, transport) = SYSTEMS[i];
            eprintln!(
                "[rpc {}/{rounds}] {system} {transport}: {single} calls, {batches} x {DEPTH} in flight",
                round + 1
            );
            // A few calls first: connections warm, spinners settled.
            let mut warm = Vec::new();
            for _ in 0..50 {
                caller.calls(1, &body, &mut warm)?;
            }
            for (d, (depth, count)) in [(1, single), (DEPTH, batches)].into_iter().enumerate() {
                let mut lat = Vec::with_capacity(depth * count);
                let start = Instant::now();
                for _ in 0..count {
                    caller.calls(depth, &body, &mut lat)?;
                }
                let per_s = (depth * count) as f64 / start.elapsed().as_secs_f64();
                let p50 = percentile(&mut lat, 0.5);
                let p99 = percentile(&mut lat, 0.99);
                per_round[i][d].push((p50, p99, per_s));
            }
        }
    }
    drop(callers);
    drop(servers);
    let mut rows = Vec::new();
    for (i, &(system, transport)) in SYSTEMS.iter().enumerate() {
        for (d, (depth, count)) in [(1, single), (DEPTH, batches)].into_iter().enumerate() {
            let r = &per_round[i][d];
            rows.push(RpcRow {
                system: system.to_owned(),
                transport: transport.to_owned(),
                in_flight: depth,
                size: SIZE,
                p50_us: median(r.iter().map(|x| x.0).collect()),
                p99_us: median(r.iter().map(|x| x.1).collect()),
                calls_per_s: median(r.iter().map(|x| x.2).collect()),
                rounds,
                calls_per_round: depth * count,
            });
        }
    }
    Ok(rows)
}

#[cfg(feature = "grpc")]
mod grpc {
    //! tonic unary calls over a Unix socket.

    use std::time::Instant;

    use bytes::Bytes;
    use hyper_util::rt::TokioIo;
    use libipc_bench::{Context, Fail, Result};
    use tokio::net::{UnixListener, UnixStream};
    use tokio::runtime::Runtime;
    use tokio_stream::wrappers::UnixListenerStream;
    use tonic::transport::{Channel, Endpoint, Server};
    use tonic::{Request, Response, Status};

    #[allow(
        missing_debug_implementations,
        clippy::default_constructed_unit_structs
    )]
    mod stubs {
        include!(concat!(env!("OUT_DIR"), "/bench.Rpc.rs"));
    }

    use stubs::rpc_client::RpcClient;
    use stubs::rpc_server::{self, RpcServer};

    fn fail(what: &str, e: impl std::fmt::Display) -> Fail {
        Fail::new(format!("{what}: {e}"))
    }

    #[derive(Debug)]
    struct Echo;

    #[tonic::async_trait]
    impl rpc_server::Rpc for Echo {
        async fn call(&self, request: Request<Bytes>) -> Result<Response<Bytes>, Status> {
            Ok(Response::new(request.into_inner()))
        }
    }

    /// Serve at `path` until the process ends; `ready` once bound.
    pub(super) fn serve(path: &str, ready: impl FnOnce()) -> Result {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting tokio")?;
        runtime.block_on(async {
            let listener = UnixListener::bind(path).context("binding the gRPC socket")?;
            ready();
            Server::builder()
                .serve_with_incoming(RpcServer::new(Echo), UnixListenerStream::new(listener))
                .await
                .map_err(|e| fail("serving gRPC", e))
        })
    }

    pub(super) struct Caller {
        runtime: Runtime,
        client: RpcClient<Channel>,
    }

    impl Caller {
        pub(super) fn connect(path: &str) -> Result<Caller> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("starting tokio")?;
            let path = path.to_owned();
            let client = runtime.block_on(async move {
                let connector = tower::service_fn(move |_| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                });
                let channel = Endpoint::from_static("http://localhost")
                    .connect_with_connector(connector)
                    .await
                    .map_err(|e| fail("connecting the gRPC socket", e))?;
                Ok::<_, Fail>(RpcClient::new(channel))
            })?;
            Ok(Caller { runtime, client })
        }

        pub(super) fn calls(&mut self, n: usize, body: &[u8], lat: &mut Vec<f64>) -> Result {
            let want = body.len();
            let body = Bytes::copy_from_slice(body);
            let client = self.client.clone();
            let times = self.runtime.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                for i in 0..n {
                    let mut c = client.clone();
                    let body = body.clone();
                    tasks.spawn(async move {
                        let start = Instant::now();
                        let reply = c.call(body).await.map_err(|e| fail("gRPC call", e))?;
                        let us = start.elapsed().as_secs_f64() * 1e6;
                        Ok::<_, Fail>((i, us, reply.into_inner().len()))
                    });
                }
                let mut out = Vec::with_capacity(n);
                while let Some(r) = tasks.join_next().await {
                    out.push(r.map_err(|e| fail("gRPC task", e))??);
                }
                Ok::<_, Fail>(out)
            })?;
            for (_, us, len) in times {
                if len != want {
                    return Err(Fail::new("a gRPC reply of the wrong size"));
                }
                lat.push(us);
            }
            Ok(())
        }
    }
}
