//! Load: 1,000 concurrent clients, each exchanging 1,000 messages with one listener, over a
//! Unix socket, shared memory and TCP on loopback. Nothing is lost, reordered or duplicated.
//!
//! The clients are real processes: 10 `ipc-test-peer clients` processes of 100 clients each
//! (a sending and a receiving thread per client). Every message is tagged with its client's id
//! and sequence number, and its filler is derived from both, so any damage, mix-up or reordering
//! shows ([`stream::tagged`], [`stream::untag`]). The listener is in this process, on the async
//! API (tokio), a task per connection: it checks that each connection carries one client's
//! messages, numbered 0 to 999 in order, echoes each, and then sees the client's orderly close
//! (so nothing was sent twice). Each client checks every echo in order. At the end every one of
//! the 1,000 client ids has been served exactly once and every client process printed `client
//! <id> ok` for each of its clients.
//!
//! No wall-clock bound is asserted; the watchdog only turns a hang into a failure.

#![cfg(unix)]

use std::collections::BTreeMap;

use libipc::aio::{AsyncChannel, AsyncListener};
use libipc::{ErrorKind, Options};
use libipc_conformance::peer;
use libipc_conformance::peer::ClientProcesses;
use libipc_conformance::stream;
use libipc_conformance::transport::{Site, Transport};
use libipc_conformance::watchdog::{self, Watchdog};

const PROCESSES: u32 = 10;
const PER_PROCESS: u32 = 100;
const CLIENTS: u32 = PROCESSES * PER_PROCESS;
const MESSAGES: u32 = 1000;

/// Descriptors this test process may need: the listener's side of 1,000 connections (a shared
/// memory connection holds its control socket and two doorbells), with room to spare. The
/// client processes inherit the raised limit.
const FDS_NEEDED: u64 = 16384;

/// Raise the soft RLIMIT_NOFILE to at least [`FDS_NEEDED`], whatever this process inherited;
/// fail loudly if the hard limit does not allow it.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current.is_some_and(|soft| soft >= FDS_NEEDED) {
        return;
    }
    assert!(
        lim.maximum.is_none_or(|hard| hard >= FDS_NEEDED),
        "the load test needs {FDS_NEEDED} descriptors, but the hard RLIMIT_NOFILE is {:?}; \
         raise it (ulimit -Hn) to run this test",
        lim.maximum
    );
    lim.current = Some(FDS_NEEDED);
    setrlimit(Resource::Nofile, lim).expect("raise the soft RLIMIT_NOFILE");
}

/// Check and echo one client's messages; return its id once it has closed.
async fn serve(ch: AsyncChannel) -> Result<u32, String> {
    let mut id = None;
    for seq in 0..MESSAGES {
        let m = ch
            .recv()
            .await
            .map_err(|e| format!("message {seq} of client {id:?}: {e}"))?;
        let (from, n) =
            stream::untag(&m).ok_or_else(|| format!("a damaged message from client {id:?}"))?;
        if (from, n) != (*id.get_or_insert(from), seq) {
            return Err(format!(
                "client {id:?} message {seq}: got client {from}'s message {n}"
            ));
        }
        watchdog::tick();
        ch.send(&m)
            .await
            .map_err(|e| format!("echo {seq} to client {from}: {e}"))?;
    }
    match ch.recv().await {
        Err(e) if e.kind() == ErrorKind::Closed => {}
        Err(e) => return Err(format!("client {id:?} ended with {e} instead of closing")),
        Ok(m) => {
            return Err(format!(
                "client {id:?} sent more than {MESSAGES} messages: {:?}",
                stream::untag(&m)
            ));
        }
    }
    id.ok_or_else(|| "no messages".into())
}

fn thousand_clients(t: Transport) {
    let _watchdog = Watchdog::start();
    raise_fd_limit();
    let mut site: Site = t.site();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    // Smaller rings than the default 4 MiB: 1,000 segments of 2 x 64 KiB, not 8 GiB.
    let opts = Options::new().with_shm_ring_size(64 * 1024);
    let listener = rt
        .block_on(AsyncListener::bind_with(site.here(), &opts))
        .unwrap();
    site.bound(listener.local_endpoint());
    let clients = ClientProcesses::spawn(|| peer!(), &site, PROCESSES, PER_PROCESS, MESSAGES);
    let served: Vec<Result<u32, String>> = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CLIENTS {
            let ch = listener.accept().await.unwrap();
            tasks.spawn(serve(ch));
        }
        let mut served = Vec::new();
        while let Some(r) = tasks.join_next().await {
            served.push(r.expect("a serving task panicked"));
        }
        served
    });
    // Per client id: how many connections carried its 1,000 messages (exactly one each).
    let mut per_client: BTreeMap<u32, u32> = BTreeMap::new();
    for r in served {
        *per_client.entry(r.unwrap()).or_default() += 1;
    }
    let wrong: Vec<_> = (0..CLIENTS)
        .filter(|id| per_client.get(id) != Some(&1))
        .collect();
    assert!(
        wrong.is_empty(),
        "client ids not served exactly once: {wrong:?}"
    );
    assert_eq!(per_client.len() as u32, CLIENTS);
    clients.finish_ok();
    listener.close();
}

#[test]
fn thousand_clients_unix() {
    thousand_clients(Transport::Unix);
}

#[cfg(target_os = "linux")]
#[test]
fn thousand_clients_shm() {
    thousand_clients(Transport::Shm);
}

#[test]
fn thousand_clients_tcp() {
    thousand_clients(Transport::Tcp);
}
