//! The [`Link`] every measurement loop drives, and its libipc implementation.

use libipc::Channel;

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
    /// Receive one message and let it go unread (the one-way streams' receiver): a link that
    /// can receive in place skips its copy here, as a zero-copy consumer would. By default,
    /// [`Link::recv`].
    fn discard(&mut self) -> Result {
        self.recv().map(drop)
    }
    /// Say that nothing more will be sent (the other side's receive then ends). By default
    /// nothing: the link ends when dropped.
    fn close(&mut self) {}
}

/// A libipc [`Channel`], used the way an application that cares about speed would:
/// `send(&[u8])`, and `recv_into` a buffer it keeps (of the channel's maximum message size,
/// whose pages are only touched as messages fill them), as the raw baselines keep theirs.
#[derive(Debug)]
pub struct IpcLink {
    channel: Channel,
    buf: Vec<u8>,
    in_place: bool,
}

impl IpcLink {
    pub fn new(channel: Channel) -> IpcLink {
        IpcLink {
            channel,
            buf: Vec::new(),
            in_place: false,
        }
    }

    /// Let [`Link::discard`] release messages in place (`recv_with`) instead of receiving
    /// them into the kept buffer: for shared memory, where that skips the only copy. Over a
    /// stream, `recv_into` is the one-copy path (the kernel's bytes go straight into the
    /// buffer) and `recv_with` would copy the message into memory of its own first.
    pub fn in_place(mut self, yes: bool) -> IpcLink {
        self.in_place = yes;
        self
    }

    fn recv_len(&mut self) -> Result<usize> {
        if self.buf.is_empty() {
            self.buf = vec![0; self.channel.max_message_size().max(1)];
        }
        Ok(self.channel.recv_into(&mut self.buf)?)
    }
}

impl Link for IpcLink {
    fn send(&mut self, msg: &[u8]) -> Result {
        Ok(self.channel.send(msg)?)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        let n = self.recv_len()?;
        Ok(&self.buf[..n])
    }

    fn echo(&mut self) -> Result {
        let n = self.recv_len()?;
        Ok(self.channel.send(&self.buf[..n])?)
    }

    /// In place over shared memory (see [`IpcLink::in_place`]): the message is released
    /// without being copied out; otherwise received into the kept buffer.
    fn discard(&mut self) -> Result {
        if self.in_place {
            Ok(self.channel.recv_with(|_| ())?)
        } else {
            self.recv_len().map(drop)
        }
    }

    fn close(&mut self) {
        self.channel.close();
    }
}
