//! The raw shared-memory baselines, `shm-futex` and `shm-spin`: no libipc code, only what
//! shared memory and the kernel cost.
//!
//! The bench creates a sealed memfd (see [`region`]) holding one ring per direction (see
//! [`lane`]); the peer inherits a descriptor for it across exec and maps it too. A send copies
//! the payload into the ring, stores its length and publishes it by incrementing a sequence
//! word (Release); the receiver waits for that word to change (Acquire), copies the payload
//! out into a private buffer and releases the space. `shm-futex` waits in a shared
//! FUTEX_WAIT and is woken by FUTEX_WAKE only when it has said it is asleep; `shm-spin`
//! busy-spins (see [`wait`]). Ping-pong keeps one message in flight, so it uses each ring like
//! a single slot; streaming fills the ring.

mod lane;
mod region;
mod wait;

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::rc::Rc;

pub(crate) use wait::Wait;

use self::lane::{Consumer, Producer};
use self::region::Region;
use self::wait::Waiter;
use crate::kind::Inherit;
use libipc_bench::{Context, Fail, Link, Result};

/// One side of a raw shared-memory link.
#[derive(Debug)]
pub(crate) struct ShmLink {
    tx: Producer,
    rx: Consumer,
    waiter: Waiter,
    /// The last message received, copied out of the ring.
    buf: Vec<u8>,
    closed: bool,
}

/// The descriptors the peer inherits to open its side of a [`ShmLink`]: the memfd and its end
/// of the liveness socket pair, both without `FD_CLOEXEC`. Drop them once the peer has started:
/// a copy left open here would hide the peer's exit from the bench.
#[derive(Debug)]
pub(crate) struct Inherited {
    memfd: OwnedFd,
    alive: OwnedFd,
}

impl Inherited {
    /// `MEMFD,ALIVE`: the descriptor numbers, for the peer's command line.
    pub(crate) fn arg(&self) -> String {
        format!("{},{}", self.memfd.as_raw_fd(), self.alive.as_raw_fd())
    }

    /// Parse `MEMFD,ALIVE` (checked, not yet owned).
    pub(crate) fn parse_arg(arg: &str) -> Option<[RawFd; 2]> {
        let (memfd, alive) = arg.split_once(',')?;
        let fds = [memfd.parse().ok()?, alive.parse().ok()?];
        // Never stdin, stdout or stderr, and two different descriptors.
        (fds.iter().all(|&fd| fd > 2) && fds[0] != fds[1]).then_some(fds)
    }

    /// What the peer's first pass names (see [`LinkKind::inherits`]): the memfd, then its end
    /// of the liveness socket pair.
    ///
    /// [`LinkKind::inherits`]: crate::LinkKind::inherits
    pub(crate) fn named(fds: [RawFd; 2]) -> Vec<Inherit> {
        vec![
            Inherit {
                fd: fds[0],
                kind: "memfd:",
            },
            Inherit {
                fd: fds[1],
                kind: "socket:",
            },
        ]
    }

    /// The descriptors [`Inherited::named`] named, once the peer owns them.
    pub(crate) fn from_fds(fds: Vec<OwnedFd>) -> Result<Inherited> {
        let [memfd, alive]: [OwnedFd; 2] = fds
            .try_into()
            .map_err(|_| Fail::new("expected two inherited descriptors"))?;
        Ok(Inherited { memfd, alive })
    }

    /// Both descriptors, for the bench to close once the peer has started.
    pub(crate) fn into_fds(self) -> Vec<OwnedFd> {
        vec![self.memfd, self.alive]
    }
}

impl ShmLink {
    /// The bench's side of a new link for messages of up to `max_message` bytes, and what the
    /// peer inherits to open the other side.
    pub(crate) fn create(wait: Wait, max_message: usize) -> Result<(ShmLink, Inherited)> {
        let (region, memfd) = Region::create(region::lane_capacity(max_message)?)?;
        let (ours, theirs) = UnixStream::pair().context("creating a socket pair")?;
        // dup() never copies FD_CLOEXEC, so these survive the peer's exec.
        let inherited = Inherited {
            memfd: rustix::io::dup(&memfd)
                .map_err(io::Error::from)
                .context("dup")?,
            alive: rustix::io::dup(&theirs)
                .map_err(io::Error::from)
                .context("dup")?,
        };
        Ok((ShmLink::new(wait, Rc::new(region), 0, ours)?, inherited))
    }

    /// The peer's side, from the descriptors it inherited.
    pub(crate) fn open(wait: Wait, inherited: Inherited) -> Result<ShmLink> {
        let region = Region::open(&inherited.memfd)?;
        // The mapping stays valid after the memfd is closed.
        ShmLink::new(wait, Rc::new(region), 1, UnixStream::from(inherited.alive))
    }

    /// Sends on lane `tx`, receives on the other.
    fn new(wait: Wait, region: Rc<Region>, tx: usize, alive: UnixStream) -> Result<ShmLink> {
        Ok(ShmLink {
            tx: Producer::new(Rc::clone(&region), tx),
            rx: Consumer::new(region, 1 - tx),
            waiter: Waiter::new(wait, alive)?,
            buf: Vec::new(),
            closed: false,
        })
    }

    fn recv_len(&mut self) -> Result<usize> {
        self.rx
            .recv(Some(&mut self.buf), &self.waiter)?
            .ok_or_else(|| Fail::new("the other side closed the shared-memory link"))
    }
}

impl Link for ShmLink {
    fn send(&mut self, msg: &[u8]) -> Result {
        if self.closed {
            return Err(Fail::new("sending on a closed shared-memory link"));
        }
        self.tx.send(msg, &self.waiter)
    }

    fn recv(&mut self) -> Result<&[u8]> {
        let len = self.recv_len()?;
        Ok(&self.buf[..len])
    }

    fn echo(&mut self) -> Result {
        let len = self.recv_len()?;
        self.tx.send(&self.buf[..len], &self.waiter)
    }

    fn discard(&mut self) -> Result {
        self.rx
            .recv(None, &self.waiter)?
            .map(drop)
            .ok_or_else(|| Fail::new("the other side closed the shared-memory link"))
    }

    fn close(&mut self) {
        if !std::mem::replace(&mut self.closed, true) {
            // Waits for room like a send; fails only if the other side is gone.
            let _ = self.tx.close(&self.waiter);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The peer's side runs on a thread with its own mapping of the memfd, which is what a
    //! second process sees (shared futexes key on the file, not the address).

    use super::{ShmLink, Wait};
    use libipc_bench::Link;

    /// Message `i` of up to `max` bytes: scattered sizes, so records wrap around the rings at
    /// odd offsets.
    fn message(i: u32, max: u32) -> Vec<u8> {
        let len = (i.wrapping_mul(2654435761) % (max + 1)) as usize;
        (0..len).map(|k| (i as usize + k * 7) as u8).collect()
    }

    /// `count` messages each way, streamed, and `count / 2` round trips.
    fn both_ways(wait: Wait, count: u32, max: u32) {
        let message = move |i| message(i, max);
        let (mut bench, fds) = ShmLink::create(wait, max as usize).unwrap();
        let peer = std::thread::spawn(move || {
            let mut peer = ShmLink::open(wait, fds).unwrap();
            for i in 0..count {
                assert_eq!(peer.recv().unwrap(), message(i), "message {i}");
            }
            for _ in 0..count / 2 {
                peer.echo().unwrap();
            }
            assert!(peer.recv().is_err(), "closed");
            for i in 0..count {
                peer.send(&message(i)).unwrap();
            }
            peer.close();
        });
        // Streaming: the producer runs ahead, fills the ring and waits for room.
        for i in 0..count {
            bench.send(&message(i)).unwrap();
        }
        // Ping-pong.
        for i in 0..count / 2 {
            bench.send(&message(i)).unwrap();
            assert_eq!(bench.recv().unwrap(), message(i));
        }
        bench.close();
        for i in 0..count {
            assert_eq!(bench.recv().unwrap(), message(i), "message {i} back");
        }
        assert!(bench.recv().is_err(), "closed");
        assert!(bench.recv().is_err(), "still closed");
        peer.join().unwrap();
    }

    #[test]
    fn futex_link_carries_messages_both_ways() {
        both_ways(Wait::Futex, 20_000, 3000);
        both_ways(Wait::Futex, 300, 200_000);
    }

    #[test]
    fn spin_link_carries_messages_both_ways() {
        // Fewer: on a single CPU every spinning wait lasts until the scheduler preempts it.
        both_ways(Wait::Spin, 1_000, 3000);
    }

    #[test]
    fn a_vanished_peer_is_an_error_not_a_hang() {
        for wait in [Wait::Futex, Wait::Spin] {
            let (mut bench, fds) = ShmLink::create(wait, 64).unwrap();
            std::thread::spawn(move || drop(ShmLink::open(wait, fds).unwrap()))
                .join()
                .unwrap();
            let err = bench.recv().unwrap_err();
            assert!(err.to_string().contains("has exited"), "{err}");
        }
    }

    #[test]
    fn oversized_messages_are_refused() {
        let (mut bench, _fds) = ShmLink::create(Wait::Futex, 64).unwrap();
        let err = bench.send(&vec![0; 40_000]).unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
    }
}
