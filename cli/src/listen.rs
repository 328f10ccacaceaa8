//! `ipc listen`: accept any number of clients, each served on its own thread.

use std::io::Write;
use std::time::Duration;

use libipc::{Channel, ErrorKind, Wait};

use crate::endpoint;
use crate::fail::{Fail, Result};
use crate::stop::Stop;

/// Listen at an endpoint and print every message received, one per line.
///
/// A message is printed as text when it is valid UTF-8 without control characters (tab is
/// allowed), otherwise as `hex: <lowercase hex>`. Prints `listening on <endpoint>` to stderr once
/// bound (with the real port for `tcp://host:0`). Serves many clients at once and runs until
/// SIGINT or SIGTERM, which close the listener (removing its socket file) before the process
/// ends by that signal.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to listen: unix:///abs/path.sock, unix:@name, tcp://host:port (port 0 picks a free
    /// port), shm://name (shared memory, Linux), fifo:///abs/path or fifo://name (Unix FIFOs)
    /// or a bare name.
    endpoint: String,
    /// Send each message back to its sender instead of printing it (the server `ipc ping`
    /// expects). A message larger than its sender accepts back (the smaller of the two sides'
    /// maximum message sizes) cannot be echoed: it is reported on stderr as `ipc: message too
    /// large: …` and skipped, and the client is still served.
    #[arg(long)]
    echo: bool,
    /// The largest message accepted, in bytes (default 16777216, libipc's). Clients learn it
    /// in the handshake; a libipc client does not send a larger message but fails that send
    /// with MessageTooLarge.
    #[arg(long, value_name = "BYTES")]
    max_message: Option<u32>,
}

pub fn run(args: Args) -> Result {
    // Before binding: a signal from now on still removes the socket file.
    let stop = Stop::install()?;
    let mut opts = libipc::Options::new();
    if let Some(max) = args.max_message {
        opts = opts.with_max_message_size(max as usize);
    }
    let listener = endpoint::bind_with(&args.endpoint, &opts)?;
    eprintln!("listening on {}", listener.local_endpoint());
    loop {
        match listener.accept_wait(Wait::forever().or_cancel(stop.cancel())) {
            Ok(channel) => {
                let echo = args.echo;
                let spawned = std::thread::Builder::new()
                    .name("ipc-client".into())
                    .spawn(move || serve(&channel, echo));
                if let Err(e) = spawned {
                    eprintln!("ipc: cannot start a thread for a client: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::Cancelled => {
                listener.close();
                stop.exit();
            }
            Err(e) => {
                // Accept failures (e.g. out of file descriptors) are usually transient.
                eprintln!("ipc: {}", Fail::from(e).within("accept"));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Print or echo one client's messages until it closes or goes away. A message too large to
/// echo is reported and skipped: libipc sent nothing and the channel stays usable.
fn serve(channel: &Channel, echo: bool) {
    for message in channel.iter() {
        let result = match message {
            Ok(m) if echo => match channel.send(&m) {
                Err(e) if e.kind() == ErrorKind::MessageTooLarge => {
                    eprintln!("ipc: {}", Fail::from(e).within("not echoed, skipped"));
                    Ok(())
                }
                sent => sent,
            },
            Ok(m) => {
                print_line(&render(&m));
                Ok(())
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            eprintln!("ipc: {}", Fail::from(e).within("client"));
            return;
        }
    }
}

/// One line on stdout; a closed stdout ends the whole listener.
fn print_line(line: &str) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        eprintln!("ipc: writing to stdout: {e}");
        std::process::exit(1);
    }
}

/// A message as printed: its text, or `hex: ...` when it is not printable text.
pub fn render(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(|c| c.is_control() && c != '\t') => text.to_owned(),
        _ => {
            let mut line = String::with_capacity(5 + 2 * bytes.len());
            line.push_str("hex: ");
            for b in bytes {
                line.push_str(&format!("{b:02x}"));
            }
            line
        }
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn text_or_hex() {
        assert_eq!(render(b"hello world"), "hello world");
        assert_eq!(render(b"a\tb"), "a\tb");
        assert_eq!(render("grüße".as_bytes()), "grüße");
        assert_eq!(render(b""), "");
        assert_eq!(render(b"line\n"), "hex: 6c696e650a");
        assert_eq!(render(&[0xff, 0x00, 0x41]), "hex: ff0041");
        assert_eq!(render("\u{85}".as_bytes()), "hex: c285");
    }
}
