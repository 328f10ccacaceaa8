//! `ipc send`: send arguments, stdin lines or a file, then close in order.

use std::ffi::OsString;
use std::io::BufRead;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::endpoint;
use crate::fail::{Context, Result};

/// Send messages to a listener, then close the channel so it receives every one.
///
/// Each MESSAGE argument is one message. With no arguments, stdin is sent one message per line
/// (without the newline). With --file, the file's bytes are one message.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The listener's endpoint.
    endpoint: String,
    /// Messages to send, one message each.
    #[arg(value_name = "MESSAGE")]
    messages: Vec<OsString>,
    /// Send the bytes of this file as one message.
    #[arg(long, short, value_name = "FILE", conflicts_with = "messages")]
    file: Option<PathBuf>,
}

pub fn run(args: Args) -> Result {
    // Read the file first, so a missing file never leaves a half-used connection behind.
    let file = match &args.file {
        Some(path) => {
            Some(std::fs::read(path).context(format_args!("reading {}", path.display()))?)
        }
        None => None,
    };
    let channel = endpoint::connect(&args.endpoint)?;
    let send = |m: &[u8]| {
        channel
            .send(m)
            .context(format_args!("sending to {}", args.endpoint))
    };
    if let Some(bytes) = file {
        send(&bytes)?;
    } else if !args.messages.is_empty() {
        for m in &args.messages {
            send(m.as_bytes())?;
        }
    } else {
        for line in std::io::stdin().lock().split(b'\n') {
            send(&line.context("reading stdin")?)?;
        }
    }
    channel.close();
    Ok(())
}
