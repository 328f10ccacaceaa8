//! The peer process, `ipc __bench-peer SYSTEM=ENDPOINT...`, and the commands it obeys.
//!
//! One peer thread serves every link (the raw baseline and each libipc transport), so all
//! systems run between the same two threads and share whatever CPU placement the scheduler
//! picks; measuring them from separate processes let placement, not the code, decide results.
//!
//! Commands are small text messages on the link being measured: `echo N` (send the next N
//! messages back), `sink N` (receive N messages, then answer `ok`), `goto I` (the next command
//! comes on link I) and `quit` (the bench then closes every link, and the peer follows).

use std::str::FromStr;

use libipc::Channel;

use super::link::{IpcLink, Link};
use super::raw::RawLink;
use crate::fail::{Fail, Result};

/// The peer's answer once a `sink` batch has been received in full.
pub(crate) const ACK: &[u8] = b"ok";

/// Which implementation a link speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    Goto(usize),
    Quit,
}

impl Command {
    pub(crate) fn encode(self) -> String {
        match self {
            Command::Echo(n) => format!("echo {n}"),
            Command::Sink(n) => format!("sink {n}"),
            Command::Goto(i) => format!("goto {i}"),
            Command::Quit => "quit".to_owned(),
        }
    }

    fn decode(msg: &[u8]) -> Option<Command> {
        let text = std::str::from_utf8(msg).ok()?;
        match text.split_once(' ') {
            Some(("echo", n)) => n.parse().ok().map(Command::Echo),
            Some(("sink", n)) => n.parse().ok().map(Command::Sink),
            Some(("goto", i)) => i.parse().ok().map(Command::Goto),
            None if text == "quit" => Some(Command::Quit),
            _ => None,
        }
    }
}

/// One link for the peer to open: `raw=/socket/path` or `libipc=<endpoint>`.
#[derive(Debug, Clone)]
pub(crate) struct LinkSpec {
    pub(crate) system: System,
    pub(crate) endpoint: String,
}

impl LinkSpec {
    pub(crate) fn to_arg(&self) -> String {
        format!("{}={}", self.system.name(), self.endpoint)
    }
}

impl FromStr for LinkSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<LinkSpec, String> {
        let (system, endpoint) = match s.split_once('=') {
            Some(("raw", e)) => (System::Raw, e),
            Some(("libipc", e)) => (System::Libipc, e),
            _ => return Err(format!("expected raw=PATH or libipc=ENDPOINT, got {s:?}")),
        };
        Ok(LinkSpec {
            system,
            endpoint: endpoint.to_owned(),
        })
    }
}

/// Arguments of the hidden `__bench-peer` subcommand.
#[derive(Debug, clap::Args)]
pub struct PeerArgs {
    /// Links to open, in order: raw=SOCKET_PATH or libipc=ENDPOINT.
    #[arg(required = true, value_name = "SYSTEM=ENDPOINT")]
    links: Vec<LinkSpec>,
}

pub(crate) fn run(args: PeerArgs) -> Result {
    let mut links: Vec<Box<dyn Link>> = Vec::new();
    for spec in &args.links {
        links.push(match spec.system {
            System::Raw => Box::new(RawLink::connect(spec.endpoint.as_ref())?),
            System::Libipc => Box::new(IpcLink::new(Channel::connect(spec.endpoint.as_str())?)),
        });
    }
    serve(&mut links).map_err(|e| Fail::new(format!("bench peer: {e}")))?;
    // After `quit` the bench closes every link; wait for that before closing ours, so each
    // side's close finds the other still there (a close racing a vanished peer can stall).
    for link in &mut links {
        while link.recv().is_ok() {}
        link.close();
    }
    Ok(())
}

fn serve(links: &mut [Box<dyn Link>]) -> Result {
    let mut current = 0;
    loop {
        let link = &mut *links[current];
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
            Command::Goto(i) if i < links.len() => current = i,
            Command::Goto(i) => return Err(Fail::new(format!("no link {i}"))),
            Command::Quit => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Command, LinkSpec, System};

    #[test]
    fn commands_round_trip() {
        for c in [
            Command::Echo(7),
            Command::Sink(1 << 40),
            Command::Goto(2),
            Command::Quit,
        ] {
            assert_eq!(Command::decode(c.encode().as_bytes()), Some(c));
        }
        assert_eq!(Command::decode(b"echo x"), None);
        assert_eq!(Command::decode(b"\xff"), None);
    }

    #[test]
    fn link_specs_parse() {
        let spec: LinkSpec = "libipc=tcp://127.0.0.1:9".parse().unwrap();
        assert_eq!(spec.system, System::Libipc);
        assert_eq!(spec.endpoint, "tcp://127.0.0.1:9");
        assert_eq!(spec.to_arg(), "libipc=tcp://127.0.0.1:9");
        assert!("shm=x".parse::<LinkSpec>().is_err());
    }
}
