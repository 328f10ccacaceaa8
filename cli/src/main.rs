//! `ipc`: listen on, send to, ping and benchmark libipc endpoints from the shell.
//!
//! Every subcommand returns [`fail::Result`]; a failure is printed as one line, `ipc: <what went
//! wrong>` (`ipc: <error kind>: <what went wrong>` when libipc reported it), and exits with
//! status 1, whatever the kind. Usage errors are clap's (status 2). Diagnostics from libipc
//! are shown only when `LIBIPC_LOG` holds a `tracing` filter (e.g. `LIBIPC_LOG=libipc=debug`).

#![deny(unsafe_code)]

mod bench;
mod endpoint;
mod fail;
mod listen;
mod ping;
mod send;
mod stop;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Message channels between processes over Unix sockets, TCP, shared memory and FIFOs.
///
/// Endpoints are `unix:///abs/path.sock`, `unix:@abstract-name`, `tcp://host:port`,
/// `shm://name` (shared memory, Linux), `fifo:///abs/path` or `fifo://name` (Unix FIFOs) or a
/// bare name such as `orders` (a socket in the per-user runtime directory). Set LIBIPC_LOG (for example `LIBIPC_LOG=libipc=debug`) to see
/// libipc's diagnostics on stderr.
///
/// A failure prints one line on stderr, `ipc: <error kind>: <message>` when libipc reported it
/// (for example `ipc: not found: nobody is listening at unix:///tmp/orders.sock`), and exits with status 1,
/// whatever the kind; usage errors exit with status 2.
#[derive(Debug, Parser)]
#[command(name = "ipc", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Listen(listen::Args),
    Send(send::Args),
    Ping(ping::Args),
    Bench(bench::Args),
    /// The other end of `ipc bench` (started by it; not for direct use).
    #[command(name = "__bench-peer", hide = true)]
    BenchPeer(bench::PeerArgs),
    /// A load process of `ipc bench --load` (started by it; not for direct use).
    #[command(name = "__bench-load", hide = true)]
    BenchLoad(bench::LoadWorkerArgs),
    /// The listening side of `ipc bench --soak` (started by it; not for direct use).
    #[command(name = "__soak-peer", hide = true)]
    SoakPeer(bench::SoakPeerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Listen(args) => listen::run(args),
        Command::Send(args) => send::run(args),
        Command::Ping(args) => ping::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BenchPeer(args) => bench::run_peer(args),
        Command::BenchLoad(args) => bench::run_load_worker(args),
        Command::SoakPeer(args) => bench::run_soak_peer(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipc: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Send libipc's `tracing` output to stderr, filtered by `LIBIPC_LOG`, if that is set.
fn init_logging() {
    let Some(filter) = std::env::var_os("LIBIPC_LOG") else {
        return;
    };
    let filter = filter.to_string_lossy();
    match tracing_subscriber::EnvFilter::try_new(&*filter) {
        Ok(filter) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        Err(e) => eprintln!("ipc: ignoring LIBIPC_LOG={filter:?}: {e}"),
    }
}
