//! `ipc-test-peer rpc-echo-server`: a request/reply server in its own process, for the
//! cross-process request/reply tests (tests/tests/rpc.rs) and the wire check.
//!
//! ```text
//! ipc-test-peer rpc-echo-server <endpoint> [--async] [--max-delay-ms N] [--max-message N]
//!     Bind a request/reply server; print `ready <local endpoint>`; answer every request
//!     (blocking: each client on a thread, its requests in order; --async: every request a
//!     task, answered when done, a CANCEL aborting it) until stdin closes; print `bye`.
//!     Each request waits 0..N ms first (random; default 0), then: a body `fail:<status>:<text>`
//!     is answered with that error status and text, `sleep:<ms>` after sleeping that long
//!     more with the body, anything else with the body itself.
//! ```

use std::sync::Arc;
use std::time::Duration;

use libipc::rpc::{AsyncServer, Request, Server};
use libipc::{Error, Result};

use super::{Args, Fail, wait_for_stdin_eof};

/// What a request asks for: the reply, and how long to wait first.
fn plan(req: &Request, max_delay_ms: u64) -> (Duration, Result<Vec<u8>>) {
    let mut delay = Duration::from_millis(fastrand::u64(0..=max_delay_ms));
    let body = req.body();
    let text = std::str::from_utf8(body).unwrap_or("");
    if let Some(rest) = text.strip_prefix("fail:") {
        let (status, msg) = rest.split_once(':').unwrap_or((rest, ""));
        return (delay, Err(Error::remote(status.parse().unwrap_or(1), msg)));
    }
    if let Some(ms) = text.strip_prefix("sleep:") {
        delay += Duration::from_millis(ms.parse().unwrap_or(0));
    }
    (delay, Ok(body.to_vec()))
}

pub(crate) fn server(args: &Args) -> Result<(), Fail> {
    let ep = args.pos(0, "endpoint")?;
    let opts = args.options()?;
    let max_delay: u64 = args.get("--max-delay-ms", 0)?;
    if args.flag("--async") {
        let rt = libipc::aio::new_runtime()?;
        let server = Arc::new(rt.block_on(AsyncServer::bind_with(ep, &opts))?);
        println!("ready {}", server.local_endpoint());
        let serving = Arc::clone(&server);
        let task = rt.spawn(async move {
            serving
                .serve(move |req| async move {
                    let (delay, reply) = plan(&req, max_delay);
                    tokio::time::sleep(delay).await;
                    reply
                })
                .await
        });
        wait_for_stdin_eof();
        server.close();
        rt.block_on(task).map_err(|e| e.to_string())??;
    } else {
        let server = Arc::new(Server::bind_with(ep, &opts)?);
        println!("ready {}", server.local_endpoint());
        let serving = Arc::clone(&server);
        let thread = std::thread::spawn(move || {
            serving.serve(move |req| {
                let (delay, reply) = plan(&req, max_delay);
                std::thread::sleep(delay);
                reply
            })
        });
        wait_for_stdin_eof();
        server.close();
        thread.join().map_err(|_| "server panicked".to_owned())??;
    }
    println!("bye");
    Ok(())
}
