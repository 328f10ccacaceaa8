//! A subscriber's side of the fan-out ring (`shm://`): messages are copied out of the
//! publisher's one ring at this subscriber's cursor, filtered by topic here (the publisher
//! writes every message once, for everyone), and numbered locally. The control connection
//! carries only the connection's end: CLOSE (read the rest of the ring, then `Closed`), an
//! ERROR (`Lagged` at once), or a hang-up (read the rest, then `PeerDisconnected`).

use std::any::Any;

use crate::error::{Error, ErrorKind, Result};
use crate::shm::SubscriberEnd;
use crate::shm::fanout::Reader;
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
    /// Messages lost (overwritten before we read them) but not yet reported, because the
    /// message after them was on a topic we do not take.
    pending_lost: u64,
    /// Messages reported lost so far (also written to our cursor page, for the publisher's
    /// statistics).
    lost_total: u64,
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
            pending_lost: 0,
            lost_total: 0,
        })
    }

    /// Whether `ended` is reported only after the ring is drained.
    pub(super) fn drains_first(e: &Error) -> bool {
        matches!(e.kind(), ErrorKind::Closed | ErrorKind::PeerDisconnected)
    }

    /// The next message on one of `prefixes` in the ring, if any: (topic length, topic and
    /// payload, messages lost just before it).
    pub(super) fn try_take(
        &mut self,
        prefixes: &[Vec<u8>],
    ) -> Result<Option<(usize, Vec<u8>, u64)>> {
        loop {
            if self.reader.is_cut_off() {
                return Err(Error::new(
                    ErrorKind::Lagged,
                    "the publisher cut this subscriber off: it stayed behind for longer than \
                     the publisher's block timeout",
                ));
            }
            let got = self.reader.try_read();
            // Our cursor may have moved: a publisher waiting for it (blocking policy) learns.
            if self.reader.publisher_waiting() {
                self.end.space.ring();
            }
            let Some(c) = got? else { return Ok(None) };
            let lost = c.lost + std::mem::take(&mut self.pending_lost);
            if !topic_matches(prefixes, &c.bytes[..c.topic_len]) {
                self.pending_lost = lost;
                continue;
            }
            if lost > 0 {
                self.lost_total += lost;
                self.end.cursor().set_lost(self.lost_total);
            }
            return Ok(Some((c.topic_len, c.bytes, lost)));
        }
    }

    /// Ask the publisher to ring our doorbell for the next message; whether one came
    /// meanwhile (then do not sleep).
    pub(super) fn arm(&self) -> bool {
        self.reader.set_sleeping(true);
        self.reader.has_data()
    }

    /// The doorbell the publisher rings for us.
    pub(super) fn bell(&self) -> &Doorbell {
        &self.end.data
    }
}
