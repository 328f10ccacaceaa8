//! The [`Link`] every measurement loop drives, and its libipc implementation.

use libipc::{Channel, Message};

use crate::fail::Result;

/// One connected message link. The bench loops use only this trait, so libipc and the raw
/// baselines run exactly the same code around their own send and receive.
pub trait Link {
    /// Send one message.
    fn send(&mut self, msg: &[u8]) -> Result;
    /// Receive one message; it stays readable until the next call.
    fn recv(&mut self) -> Result<&[u8]>;
    /// Receive one message and send it back unchanged.
    fn echo(&mut self) -> Result;
    /// Say that nothing more will be sent (the other side's receive then ends). By default
    /// nothing: the link ends when dropped.
    fn close(&mut self) {}
}

/// A libipc [`Channel`], used the way an application would: `send(&[u8])`, `recv() -> Message`.
#[derive(Debug)]
pub struct IpcLink {
    channel: Channel,
    last: Message,
}

impl IpcLink {
    pub fn new(channel: Channel) -> IpcLink {
        IpcLink {
            channel,
            last: Message::default(),
        }
    }
}

impl Link for IpcLink {
    fn send(&mut self, msg: &[u8]) -> Result {
        Ok(self.channel.send(msg)?)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        self.last = self.channel.recv()?;
        Ok(&self.last)
    }

    fn echo(&mut self) -> Result {
        let m = self.channel.recv()?;
        Ok(self.channel.send(&m)?)
    }

    fn close(&mut self) {
        self.channel.close();
    }
}
