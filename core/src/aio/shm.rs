//! The shared-memory half of [`AsyncChannel`](super::AsyncChannel): the same rings as the
//! blocking API (`crate::shm`), with waits on the eventfd doorbells and the control socket
//! through tokio's `AsyncFd`. All channel state lives in the link, so a dropped future loses
//! nothing. The async API does not spin: it sleeps as soon as the ring is empty or full.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::Ordering;

use tokio::io::unix::AsyncFd;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::elapsed;
use crate::conn::{Conn, Message};
use crate::error::{Error, Result};
use crate::shm::ShmLink;

/// A file descriptor owned elsewhere (by the link), registered with tokio.
#[derive(Debug)]
struct Registered(RawFd);

impl AsRawFd for Registered {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

fn register(fd: RawFd) -> Result<AsyncFd<Registered>> {
    // SAFETY: `fd` belongs to the `ShmLink` stored in the same `ShmChannel`, declared after
    // the `AsyncFd`s so it is dropped (closing the fds) only after they are deregistered; it
    // is never replaced while the channel lives.
    unsafe { AsyncFd::register(Registered(fd)) }
        .map_err(|e| Error::from_io(&e.into(), "registering with tokio"))
}

fn io_err(e: std::io::Error) -> Error {
    Error::from_io(&e, "waiting on the shared-memory channel")
}

#[derive(Debug)]
pub(super) struct ShmChannel {
    data_in: AsyncFd<Registered>,
    space_out: AsyncFd<Registered>,
    ctrl: AsyncFd<Registered>,
    rx_gate: Mutex<()>,
    tx_gate: Mutex<()>,
    // Last: dropped after the registrations above.
    link: ShmLink,
}

impl ShmChannel {
    pub(super) fn new(link: ShmLink) -> Result<ShmChannel> {
        crate::sys::set_nonblocking(link.ctrl_fd(), true)?;
        Ok(ShmChannel {
            data_in: register(link.data_in_fd().as_raw_fd())?,
            space_out: register(link.space_out_fd().as_raw_fd())?,
            ctrl: register(link.ctrl_fd().as_raw_fd())?,
            rx_gate: Mutex::new(()),
            tx_gate: Mutex::new(()),
            link,
        })
    }

    pub(super) fn conn(&self) -> &Conn {
        self.link.conn()
    }

    /// Wait for `bell` or the control socket; `true` if the control socket woke us.
    async fn wait(&self, bell: &AsyncFd<Registered>) -> Result<bool> {
        tokio::select! {
            r = bell.readable() => { r.map_err(io_err)?.clear_ready(); Ok(false) }
            r = self.ctrl.readable() => { r.map_err(io_err)?.clear_ready(); Ok(true) }
        }
    }

    pub(super) async fn recv(&self) -> Result<Message> {
        let _gate = self.rx_gate.lock().await;
        loop {
            if let Some(r) = self.link.try_recv_or_sleep() {
                return r;
            }
            let ctrl = self.wait(&self.data_in).await;
            self.link.rx_woken(*ctrl.as_ref().unwrap_or(&true));
            ctrl?;
        }
    }

    pub(super) fn try_recv(&self) -> Result<Message> {
        self.link.recv_until(Some(std::time::Instant::now()))
    }

    /// Wait for room until `deadline`; `Ok(false)` if the deadline passed.
    async fn wait_room(&self, deadline: Option<Instant>) -> Result<bool> {
        let woke = match deadline {
            None => Some(self.wait(&self.space_out).await),
            Some(d) => tokio::time::timeout_at(d, self.wait(&self.space_out))
                .await
                .ok(),
        };
        match woke {
            None => {
                self.link.tx_woken(false)?;
                Ok(false)
            }
            Some(ctrl) => {
                self.link.tx_woken(*ctrl.as_ref().unwrap_or(&true))?;
                ctrl.map(|_| true)
            }
        }
    }

    pub(super) async fn send(&self, data: &[u8], deadline: Option<Instant>) -> Result<()> {
        let _gate = match deadline {
            None => self.tx_gate.lock().await,
            Some(d) => tokio::time::timeout_at(d, self.tx_gate.lock())
                .await
                .map_err(|_| elapsed("send"))?,
        };
        // Until the first record is out nothing is sent, and a timeout says so.
        while !self.link.try_send_or_wait(data)? {
            if !self.wait_room(deadline).await? {
                return Err(elapsed("send"));
            }
        }
        // Accepted: any rest of a large message is written before anything else, by this call
        // or (if it is dropped, or times out) by the next send or close.
        while !self.link.try_flush_or_wait()? {
            if !self.wait_room(deadline).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    pub(super) async fn close(&self) {
        let conn = self.link.conn();
        if conn.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let _hang_up = HangUp(&self.link);
        let _ = tokio::time::timeout(conn.close_timeout, async {
            let _gate = self.tx_gate.lock().await;
            while let Ok(false) = self.link.try_close_step() {
                if !matches!(self.wait_room(None).await, Ok(true)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Hangs the link up when dropped (so a cancelled `close` still ends the channel).
struct HangUp<'a>(&'a ShmLink);

impl Drop for HangUp<'_> {
    fn drop(&mut self) {
        self.0.hang_up();
    }
}

impl Drop for ShmChannel {
    fn drop(&mut self) {
        // Best effort without waiting: say CLOSE if it fits, then hang up.
        if !self.link.conn().closed.swap(true, Ordering::AcqRel) {
            let _ = self.link.try_close_step();
        }
        self.link.hang_up();
    }
}
