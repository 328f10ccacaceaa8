//! A subscriber's side of the fan-out ring (`shm://`): messages are copied out of the
//! publisher's one ring at this subscriber's cursor, filtered by topic here (the publisher
//! writes every message once, for everyone), and numbered locally. The control connection
//! carries only the connection's end: CLOSE (read the rest of the ring, then `Closed`), an
//! ERROR (`Lagged` at once), or a hang-up (read the rest, then `PeerDisconnected`).

use std::any::Any;

use super::InPlace;
use crate::error::{Error, ErrorKind, Result};
use crate::shm::SubscriberEnd;
use crate::shm::fanout::{Reader, Visit};
use crate::sys::shm::Doorbell;
use crate::wire::topic_matches;

/// The fan-out half of a subscriber over shared memory.
#[derive(Debug)]
pub(super) struct FanIn {
    reader: Reader,
    /// Declared after `reader`, whose pointers are into its mappings.
    end: SubscriberEnd,
    /// Why the control connection ended. `Closed` and `PeerDisconnected` are reported once
    /// the ring holds nothing more for us; anything else at once.
    pub(super) ended: Option<Error>,
    /// The topic of the message being visited (copied out, to filter on).
    topic: Vec<u8>,
}

impl FanIn {
    /// After SUBSCRIBED: the ring, from where the publisher placed our cursor, expecting its
    /// message number `first_seq`. `attachment`: what the connection's transport set up.
    pub(super) fn start(
        attachment: Option<Box<dyn Any + Send>>,
        first_seq: u64,
        max_len: u64,
    ) -> Result<FanIn> {
        let end = attachment
            .and_then(|a| a.downcast::<SubscriberEnd>().ok())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Io,
                    "the publisher's shared-memory connection has no fan-out ring",
                )
            })?;
        let end = *end;
        let reader = Reader::new(
            end.ring(),
            end.cursor(),
            end.cursor().position(),
            first_seq,
            max_len,
        )?;
        Ok(FanIn {
            reader,
            end,
            ended: None,
            topic: Vec::new(),
        })
    }

    /// Whether `ended` is reported only after the ring is drained.
    pub(super) fn drains_first(e: &Error) -> bool {
        matches!(e.kind(), ErrorKind::Closed | ErrorKind::PeerDisconnected)
    }

    /// The next message on one of `prefixes` in the ring, if any, visited in place by `f`:
    /// (what `f` made of it, messages lost just before it). `f` may also be called for a
    /// message that turns out to have been overwritten while it read it (its result is then
    /// discarded and the message counted as lost).
    pub(super) fn try_take_with<R>(
        &mut self,
        prefixes: &[Vec<u8>],
        mut f: impl FnMut(&InPlace<'_>) -> R,
    ) -> Result<Option<(R, u64)>> {
        if self.reader.is_cut_off() {
            return Err(Error::new(
                ErrorKind::Lagged,
                "the publisher cut this subscriber off: it stayed behind for longer than the \
                 publisher's block timeout",
            ));
        }
        let topic = &mut self.topic;
        let from = self.reader.position();
        let got = self.reader.try_read_with(|v| {
            topic.resize(v.topic_len(), 0);
            v.read(0, topic);
            if topic_matches(prefixes, topic) {
                Visit::Take(f(&InPlace::ring(v, topic)))
            } else {
                Visit::Skip
            }
        });
        // Our cursor may have moved: a publisher waiting for it (blocking policy) learns.
        if self.reader.publisher_waiting(from) {
            self.end.space.ring();
        }
        let Some(t) = got? else { return Ok(None) };
        Ok(Some((t.value, t.lost)))
    }

    /// Ask the publisher to ring our doorbell for the next message; whether one came
    /// meanwhile (then do not sleep).
    pub(super) fn arm(&self) -> bool {
        self.reader.set_sleeping(true);
        self.reader.has_data()
    }

    /// Whether a message may be waiting in the ring.
    pub(super) fn has_data(&self) -> bool {
        self.reader.has_data()
    }

    /// The doorbell the publisher rings for us.
    pub(super) fn bell(&self) -> &Doorbell {
        &self.end.data
    }
}
