//! The peer process (`ipc __bench-peer SYSTEM ENDPOINT`) and the commands it obeys.
//!
//! The bench sends one small text message per measurement batch: `echo N` (send the next N
//! messages back), `sink N` (receive N messages, then answer `ok`) or `quit`.

use libipc::Channel;

use super::link::{IpcLink, Link};
use super::raw::RawLink;
use crate::fail::{Fail, Result};

/// The peer's answer once a `sink` batch has been received in full.
pub(crate) const ACK: &[u8] = b"ok";

/// Which implementation a peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum System {
    /// A plain Unix stream with a 4-byte length prefix; no libipc code.
    Raw,
    /// A libipc channel.
    Libipc,
}

impl System {
    pub(crate) fn name(self) -> &'static str {
        match self {
            System::Raw => "raw",
            System::Libipc => "libipc",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Echo(u64),
    Sink(u64),
    Quit,
}

impl Command {
    pub(crate) fn encode(self) -> String {
        match self {
            Command::Echo(n) => format!("echo {n}"),
            Command::Sink(n) => format!("sink {n}"),
            Command::Quit => "quit".to_owned(),
        }
    }

    fn decode(msg: &[u8]) -> Option<Command> {
        let text = std::str::from_utf8(msg).ok()?;
        match text.split_once(' ') {
            Some(("echo", n)) => n.parse().ok().map(Command::Echo),
            Some(("sink", n)) => n.parse().ok().map(Command::Sink),
            None if text == "quit" => Some(Command::Quit),
            _ => None,
        }
    }
}

/// Arguments of the hidden `__bench-peer` subcommand.
#[derive(Debug, clap::Args)]
pub struct PeerArgs {
    /// Which implementation to speak.
    #[arg(value_enum)]
    system: System,
    /// Where the bench listens: a libipc endpoint, or a socket path for `raw`.
    endpoint: String,
}

pub(crate) fn run(args: PeerArgs) -> Result {
    let mut link: Box<dyn Link> = match args.system {
        System::Raw => Box::new(RawLink::connect(args.endpoint.as_ref())?),
        System::Libipc => Box::new(IpcLink::new(Channel::connect(args.endpoint.as_str())?)),
    };
    serve(&mut *link).map_err(|e| Fail::new(format!("bench peer ({}): {e}", args.system.name())))
}

fn serve(link: &mut dyn Link) -> Result {
    loop {
        let msg = link.recv()?;
        let command = Command::decode(msg).ok_or_else(|| {
            Fail::new(format!(
                "unknown command {:?}",
                String::from_utf8_lossy(msg)
            ))
        })?;
        match command {
            Command::Echo(n) => {
                for _ in 0..n {
                    link.echo()?;
                }
            }
            Command::Sink(n) => {
                for _ in 0..n {
                    link.recv()?;
                }
                link.send(ACK)?;
            }
            Command::Quit => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Command;

    #[test]
    fn commands_round_trip() {
        for c in [Command::Echo(7), Command::Sink(1 << 40), Command::Quit] {
            assert_eq!(Command::decode(c.encode().as_bytes()), Some(c));
        }
        assert_eq!(Command::decode(b"echo x"), None);
        assert_eq!(Command::decode(b"\xff"), None);
    }
}
