//! `ipc send`: send arguments, stdin lines or a file, then close in order.

use std::ffi::OsString;
use std::fmt;
use std::io::BufRead;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use libipc::{Channel, ErrorKind};

use crate::endpoint;
use crate::fail::{Context, Fail, Result};

/// Send messages to a listener, then close the channel so it receives every one.
///
/// Each MESSAGE argument is one message. With no arguments, stdin is sent one message per line
/// (without the newline). With --file, the file's bytes are one message.
///
/// A message larger than the listener accepts (the smaller of the two sides' maximum message
/// sizes) is not sent: it is reported on stderr as `ipc: message too large: …` and the next
/// one is sent. The others are all delivered, then `ipc: N of M messages not sent (too large)`
/// ends the run with exit status 1.
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
        Some(path) => Some((
            path,
            std::fs::read(path).context(format_args!("reading {}", path.display()))?,
        )),
        None => None,
    };
    let channel = endpoint::connect(&args.endpoint)?;
    let mut sender = Sender {
        channel: &channel,
        endpoint: &args.endpoint,
        count: 0,
        too_large: 0,
    };
    if let Some((path, bytes)) = file {
        sender.send(&bytes, path.display())?;
    } else if !args.messages.is_empty() {
        for (i, m) in args.messages.iter().enumerate() {
            sender.send(m.as_bytes(), format_args!("message {}", i + 1))?;
        }
    } else {
        for (i, line) in std::io::stdin().lock().split(b'\n').enumerate() {
            sender.send(
                &line.context("reading stdin")?,
                format_args!("line {}", i + 1),
            )?;
        }
    }
    channel.close();
    match sender.too_large {
        0 => Ok(()),
        n => Err(Fail::new(format!(
            "{n} of {} messages not sent (too large)",
            sender.count
        ))),
    }
}

/// Sends one message after another, skipping (and reporting) those too large to send.
struct Sender<'a> {
    channel: &'a Channel,
    endpoint: &'a str,
    /// Messages tried so far.
    count: usize,
    /// Of those, how many were too large: libipc sent nothing, the channel stays usable.
    too_large: usize,
}

impl Sender<'_> {
    /// Send `message` (named `what` in a report); only an error that ends the channel fails.
    fn send(&mut self, message: &[u8], what: impl fmt::Display) -> Result {
        self.count += 1;
        match self.channel.send(message) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::MessageTooLarge => {
                self.too_large += 1;
                eprintln!(
                    "ipc: {}",
                    Fail::from(e).within(format_args!("{what} not sent"))
                );
                Ok(())
            }
            Err(e) => Err(Fail::from(e).within(format_args!("sending to {}", self.endpoint))),
        }
    }
}
