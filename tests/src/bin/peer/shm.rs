//! The `shm://` modes of `ipc-test-peer`: `raw-client` over rings, `shm-hostile`, `shm-victim`
//! and `shm-bells` (see the command-line summary in `peer.rs`).

use std::io::BufRead;
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libipc::Listener;
use libipc::wire::{FLAG_MORE, FrameType};
use libipc_conformance::{shm_chaos, shm_raw};

use super::{Args, Fail};

/// `raw-client` over shared memory: the same commands, written as ring records.
pub(crate) fn raw_client(ep: &str, len: usize) -> Result<(), Fail> {
    let mut conn = shm_raw::connect(ep).map_err(|e| format!("raw shm connect: {e}"))?;
    println!("ready");
    let message: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let half = len / 2;
    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        match line.as_str() {
            "small" => conn.send_record(FrameType::Data, 0, b"small"),
            "half" => conn.send_record(FrameType::Data, FLAG_MORE, &message[..half]),
            "rest" => conn.send_record(FrameType::Data, 0, &message[half..]),
            "close" => conn.send_record(FrameType::Close, 0, &[]),
            "bad-type" => conn.publish([0, 0, 0, 0, 0x07, 0, 0, 0], &[]),
            other => return Err(format!("unknown command {other:?}").into()),
        }
        println!("sent {line}");
    }
    Ok(())
}

/// A flag set once stdin reaches its end.
fn stdin_closed() -> Arc<AtomicBool> {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&closed);
    std::thread::spawn(move || {
        super::wait_for_stdin_eof();
        flag.store(true, Ordering::Relaxed);
    });
    closed
}

pub(crate) fn victim(args: &Args) -> Result<(), Fail> {
    let ep = args.pos(1, "endpoint")?;
    let opts = args.options()?;
    let max = args.get("--max-size", 2 * opts.shm_ring_size())?;
    let stop = stdin_closed();
    let tally = match args.pos(0, "listen|connect")? {
        "listen" => {
            let listener = Listener::bind_with(ep, &opts)?;
            println!("ready {}", listener.local_endpoint());
            shm_chaos::victim_listen(&listener, max, &stop)?
        }
        "connect" => shm_chaos::victim_connect(ep, &opts, max, &stop)?,
        other => return Err(format!("expected listen or connect, got {other:?}").into()),
    };
    println!("done {tally}");
    Ok(())
}

pub(crate) fn hostile(args: &Args) -> Result<(), Fail> {
    let ep = args.pos(0, "endpoint")?;
    let end = Instant::now() + Duration::from_secs_f64(args.get("--seconds", 3.0)?);
    // At least this many sessions, however long they take on a loaded machine (the victim's
    // tests count on some; it may miss the last, still queued when we stop).
    let min_sessions: u32 = args.get("--min-sessions", 4)?;
    let mut rng = fastrand::Rng::with_seed(args.get("--seed", 1)?);
    let cap: u64 = args.get("--shm-ring", 64 * 1024)?;
    let sessions = std::cell::Cell::new(0u32);
    let (mut published, mut attacks) = (0, 0);
    let mut run = |conn: &mut shm_raw::Conn| -> Result<(), Fail> {
        let s = shm_chaos::scribble(conn, &mut rng)?;
        sessions.set(sessions.get() + 1);
        published += s.published;
        attacks += s.attacks;
        Ok(())
    };
    match args.get("--role", String::from("client"))?.as_str() {
        "client" => {
            while Instant::now() < end || sessions.get() < min_sessions {
                match shm_raw::connect(ep) {
                    Ok(mut conn) => run(&mut conn)?,
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        }
        "server" => {
            let path = shm_raw::socket_path(ep).map_err(|e| e.to_string())?;
            let listener = UnixListener::bind(&path).map_err(|e| format!("bind: {e}"))?;
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            println!("ready");
            while Instant::now() < end || sessions.get() < min_sessions {
                let Ok((mut stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                let Ok(hello) = shm_raw::read_client_hello(&mut stream) else {
                    continue;
                };
                use std::io::Write;
                if stream.write_all(&shm_raw::shm_hello(u32::MAX)).is_err() {
                    continue;
                }
                if let Ok(mut conn) = shm_raw::SetupPlan::good(cap).offer(stream, hello) {
                    run(&mut conn)?;
                }
            }
            let _ = std::fs::remove_file(&path);
        }
        other => return Err(format!("--role {other:?}").into()),
    }
    let sessions = sessions.get();
    println!("done sessions={sessions} published={published} attacks={attacks}");
    Ok(())
}

pub(crate) fn bells(args: &Args) -> Result<(), Fail> {
    let conn = shm_raw::connect(args.pos(0, "endpoint")?).map_err(|e| e.to_string())?;
    let data = match args.pos(1, "data|space")? {
        "data" => true,
        "space" => false,
        other => return Err(format!("expected data or space, got {other:?}").into()),
    };
    // The listener sleeps on ring 0's data bell (receiving) or ring 1's space bell (sending).
    let ring = if data { 0 } else { 1 };
    let stop = stdin_closed();
    println!("ready");
    while !stop.load(Ordering::Relaxed) {
        conn.ring_bell(ring, data);
    }
    Ok(())
}
