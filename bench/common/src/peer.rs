//! The peer's commands, the peer's loop that obeys them, and the bench's side of the links.
//!
//! One peer thread serves every link, so all systems run between the same two threads and
//! share whatever CPU placement the scheduler picks. Commands are small text messages on the
//! link being measured: `echo N` (send the next N messages back), `sink N` (receive N
//! messages, then answer `ok`), `cpu` (answer `cpu NS`, the CPU time the peer has used so
//! far), `opened` (answer `opened NS`, the monotonic clock when the peer began opening this
//! link), `goto I` (the next command comes on link I) and `quit`.

use crate::fail::{Fail, Result};
use crate::link::Link;
use crate::measure::CpuTime;

/// The peer's answer once a `sink` batch has been received in full.
pub const ACK: &[u8] = b"ok";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Echo(u64),
    Sink(u64),
    Cpu,
    Opened,
    Goto(usize),
    Quit,
}

impl Command {
    pub fn encode(self) -> String {
        match self {
            Command::Echo(n) => format!("echo {n}"),
            Command::Sink(n) => format!("sink {n}"),
            Command::Cpu => "cpu".to_owned(),
            Command::Opened => "opened".to_owned(),
            Command::Goto(i) => format!("goto {i}"),
            Command::Quit => "quit".to_owned(),
        }
    }

    pub fn decode(msg: &[u8]) -> Option<Command> {
        let text = std::str::from_utf8(msg).ok()?;
        match text.split_once(' ') {
            Some(("echo", n)) => n.parse().ok().map(Command::Echo),
            Some(("sink", n)) => n.parse().ok().map(Command::Sink),
            Some(("goto", i)) => i.parse().ok().map(Command::Goto),
            None if text == "quit" => Some(Command::Quit),
            None if text == "cpu" => Some(Command::Cpu),
            None if text == "opened" => Some(Command::Opened),
            _ => None,
        }
    }
}

/// The peer's loop: obey commands, starting on link 0, until `quit`. `cpu` answers with
/// `cpu_time` (without one, `cpu` is an error); `opened` with `opened_ns[link]`, the
/// monotonic clock in nanoseconds when the peer began opening the link (an error where it is
/// missing).
pub fn serve(links: &mut [Box<dyn Link>], cpu_time: Option<CpuTime>, opened_ns: &[u64]) -> Result {
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
                    link.discard()?;
                }
                link.send(ACK)?;
            }
            Command::Cpu => {
                let clock = cpu_time.ok_or_else(|| Fail::new("no CPU clock to answer `cpu`"))?;
                let answer = format!("cpu {}", clock().as_nanos());
                link.send(answer.as_bytes())?;
            }
            Command::Opened => {
                let at = opened_ns
                    .get(current)
                    .ok_or_else(|| Fail::new("no opening time to answer `opened`"))?;
                link.send(format!("opened {at}").as_bytes())?;
            }
            Command::Goto(i) if i < links.len() => current = i,
            Command::Goto(i) => return Err(Fail::new(format!("no link {i}"))),
            Command::Quit => return Ok(()),
        }
    }
}

/// The bench's links to its peer, which reads its next command from one of them at a time.
pub struct PeerLinks {
    links: Vec<Box<dyn Link>>,
    /// The link the peer reads its next command from.
    current: usize,
}

impl std::fmt::Debug for PeerLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerLinks")
            .field("links", &self.links.len())
            .field("current", &self.current)
            .finish()
    }
}

impl PeerLinks {
    /// The links in the peer's order (`goto I` names `links[I]`); the peer starts on link 0.
    pub fn new(links: Vec<Box<dyn Link>>) -> PeerLinks {
        PeerLinks { links, current: 0 }
    }

    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Link `i`, after telling the peer to take its next command from there.
    pub fn link(&mut self, i: usize) -> Result<&mut dyn Link> {
        if i != self.current {
            let goto = Command::Goto(i).encode();
            self.links[self.current].send(goto.as_bytes())?;
            self.current = i;
        }
        Ok(&mut *self.links[i])
    }

    /// Tell the peer to quit, then close every link.
    pub fn quit(&mut self) -> Result {
        let quit = Command::Quit.encode();
        self.links[self.current].send(quit.as_bytes())?;
        for link in &mut self.links {
            link.close();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Command;

    #[test]
    fn commands_round_trip() {
        for c in [
            Command::Echo(7),
            Command::Sink(1 << 40),
            Command::Cpu,
            Command::Opened,
            Command::Goto(2),
            Command::Quit,
        ] {
            assert_eq!(Command::decode(c.encode().as_bytes()), Some(c));
        }
        assert_eq!(Command::decode(b"echo x"), None);
        assert_eq!(Command::decode(b"\xff"), None);
    }
}
