//! `hostile-server`: a raw `unix://` server that answers every client with one attack, for the
//! bindings' hostile-peer tests (Python, Node, C): the client must get its language's error
//! for the documented kind, and live on.
//!
//! ```text
//! ipc-test-peer hostile-server unix:///path --attack huge-length|bad-type|desync|garbage-hello
//! ```
//! Prints `ready <endpoint>`, then serves clients one after another until stdin closes.
//! - `huge-length`: accepts, then sends a DATA header of 4 GiB - 1 (`MessageTooLarge`);
//! - `bad-type`: accepts, then sends a header of unknown type 7 (`ProtocolViolation`);
//! - `desync`: accepts, sends the message `ok`, then 8 bytes of garbage (`ok`, then
//!   `ProtocolViolation`);
//! - `garbage-hello`: answers the hello with 24 bytes that are not one (`ProtocolViolation`
//!   from connect).
//!
//! Each connection is then held open (read until the client goes) so that the client's error
//! comes from the bytes, not from the end of the stream.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

use libipc::Endpoint;
use libipc_conformance::raw;

use super::{Args, Fail};

pub(crate) fn server(args: &Args) -> Result<(), Fail> {
    let ep = args.pos(0, "endpoint")?;
    let attack: String = args.get("--attack", String::new())?;
    let bytes: Vec<u8> = match attack.as_str() {
        "huge-length" => raw::data_header(u32::MAX).to_vec(),
        "bad-type" => [0, 0, 0, 0, 0x07, 0, 0, 0].to_vec(),
        "desync" => [
            raw::data_frame(b"ok"),
            b"\xde\xad\xbe\xef\xff\xff\xff\xff".to_vec(),
        ]
        .concat(),
        "garbage-hello" => b"HTTP/1.1 400 Bad Request".to_vec(),
        other => {
            return Err(format!(
                "--attack {other:?}: expected huge-length, bad-type, desync or garbage-hello"
            )
            .into());
        }
    };
    let path = Endpoint::parse(ep)?
        .socket_path()?
        .ok_or_else(|| format!("{ep} is not a unix:// endpoint"))?;
    let listener = UnixListener::bind(&path).map_err(|e| format!("bind {ep}: {e}"))?;
    let gone = path.clone();
    std::thread::spawn(move || {
        super::wait_for_stdin_eof();
        let _ = std::fs::remove_file(&gone);
        std::process::exit(0);
    });
    println!("ready {ep}");
    for stream in listener.incoming() {
        let Ok(mut s) = stream else { continue };
        let mut hello = [0u8; 24];
        if s.read_exact(&mut hello).is_err() {
            continue;
        }
        if attack != "garbage-hello" {
            let _ = s.write_all(&raw::hello(libipc::DEFAULT_MAX_MESSAGE_SIZE as u32));
        }
        let _ = s.write_all(&bytes);
        let mut sink = [0u8; 4096];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
    }
    Ok(())
}
