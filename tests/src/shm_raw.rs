//! Speaking the `shm://` transport by hand, to misbehave on purpose: both sides of the SETUP
//! exchange on the control socket (`connect` for the client, [`SetupPlan`] for the server, with
//! every field open to tampering), and record-level access to the rings (`shm_raw/ring.rs`).
//!
//! The layout is the one documented at the top of `core/src/shm/segment.rs`: a 4 KiB segment
//! header, then per ring a 4 KiB header (write cursor u64 @0, read cursor u64 @64,
//! consumer-sleeping u32 @128, producer-waiting u32 @192) and `cap` bytes of records. Ring 0
//! carries client -> server, ring 1 server -> client. The SETUP frame (type 0x04, 24 bytes:
//! segment size u64, ring capacity u64, layout version u32, flags u32) carries five
//! descriptors: `[memfd, ring 0 data bell, ring 0 space bell, ring 1 data bell, ring 1 space
//! bell]`. See `docs/wire-format.md` section 11.
//!
//! Memory the other process writes is only touched through raw pointer copies and atomics,
//! never through a Rust reference to bytes.

mod layout;
mod ring;

use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::ptr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use libipc::Endpoint;
use libipc::wire::{FrameHeader, FrameType, HEADER_LEN, Hello};
use memmap2::{MmapOptions, MmapRaw};
use rustix::event::EventfdFlags;
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

pub use layout::{Placement, boundary_sizes, layout};
pub use ring::{Received, Record, align8};

/// Hello capability bit 0: the connection uses shared memory.
pub const CAP_SHM: u32 = 1;
/// Page size of the layout (segment header, ring headers).
pub const PAGE: usize = 4096;
/// Offsets of the ring header words.
pub const WRITE: usize = 0;
/// Read cursor offset in a ring header.
pub const READ: usize = 64;
/// Consumer-sleeping flag offset in a ring header.
pub const SLEEPING: usize = 128;
/// Producer-waiting flag offset in a ring header.
pub const WAITING: usize = 192;
/// Bytes of the SETUP frame: header and payload.
pub const SETUP_FRAME_LEN: usize = HEADER_LEN + 24;
/// How long a raw read waits before the test is declared stuck (a hang guard only).
const READ_GUARD: Duration = Duration::from_secs(60);

/// Bytes in a segment whose rings hold `cap` bytes each.
pub fn segment_size(cap: u64) -> u64 {
    PAGE as u64 + 2 * (PAGE as u64 + cap)
}

/// Offset of ring `i`'s header in the segment.
pub fn ring_offset(cap: u64, i: usize) -> u64 {
    PAGE as u64 + i as u64 * (PAGE as u64 + cap)
}

/// Largest payload of one record: half the ring, minus its header.
pub fn max_record(cap: u64) -> usize {
    cap as usize / 2 - HEADER_LEN
}

/// A v1 hello with the shared-memory capability, advertising `max` bytes.
pub fn shm_hello(max: u32) -> [u8; 24] {
    let mut h = Hello::new(max, 0);
    h.capabilities = CAP_SHM;
    h.encode()
}

/// The control socket file of an `shm://` endpoint, resolved in this process's environment.
pub fn socket_path(endpoint: &str) -> io::Result<PathBuf> {
    Endpoint::parse(endpoint)
        .map_err(io::Error::other)?
        .socket_path()
        .map_err(io::Error::other)?
        .ok_or_else(|| io::Error::other(format!("{endpoint} has no socket file")))
}

/// A mapped segment, read and written with raw copies and atomics only.
#[derive(Debug)]
pub struct Segment {
    map: MmapRaw,
}

impl Segment {
    /// Map `len` bytes of `fd`, shared and writable.
    pub fn map(fd: &OwnedFd, len: usize) -> io::Result<Segment> {
        let file = File::from(fd.try_clone()?);
        let map = MmapOptions::new().len(len).map_raw(&file)?;
        Ok(Segment { map })
    }

    /// Map `len` bytes of `fd`, shared and read-only (a publisher's fan-out segment).
    pub fn map_read_only(fd: &OwnedFd, len: usize) -> io::Result<Segment> {
        let file = File::from(fd.try_clone()?);
        let map = MmapOptions::new().len(len).map_raw_read_only(&file)?;
        Ok(Segment { map })
    }

    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    fn at(&self, off: usize, len: usize) -> *mut u8 {
        assert!(
            off.checked_add(len).is_some_and(|end| end <= self.len()),
            "{len} bytes at {off} are outside the {}-byte segment",
            self.len()
        );
        // SAFETY: `off + len <= len()` (checked above), so the result stays inside the mapping.
        unsafe { self.map.as_mut_ptr().add(off) }
    }

    /// Copy `bytes` into the segment at `off`.
    pub fn write(&self, off: usize, bytes: &[u8]) {
        let p = self.at(off, bytes.len());
        // SAFETY: `p` is valid for `bytes.len()` bytes of the live mapping; another process
        // may write the same bytes concurrently, which only garbles them (no reference made).
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
    }

    /// Copy `dst.len()` bytes at `off` out of the segment.
    pub fn read(&self, off: usize, dst: &mut [u8]) {
        let p = self.at(off, dst.len());
        // SAFETY: as in `write`; the copy goes into our own buffer.
        unsafe { ptr::copy_nonoverlapping(p, dst.as_mut_ptr(), dst.len()) };
    }

    fn atomic64(&self, off: usize) -> &AtomicU64 {
        assert!(off.is_multiple_of(8), "unaligned u64 at {off}");
        // SAFETY: in bounds and 8-aligned (the mapping is page-aligned); every bit pattern is a
        // valid `AtomicU64`, and the mapping lives as long as `self`.
        unsafe { AtomicU64::from_ptr(self.at(off, 8).cast()) }
    }

    fn atomic32(&self, off: usize) -> &AtomicU32 {
        assert!(off.is_multiple_of(4), "unaligned u32 at {off}");
        // SAFETY: as for `atomic64`.
        unsafe { AtomicU32::from_ptr(self.at(off, 4).cast()) }
    }

    /// Atomically read a u64 at `off` (8-aligned).
    pub fn load_u64(&self, off: usize) -> u64 {
        self.atomic64(off).load(Ordering::SeqCst)
    }

    /// Atomically write a u64 at `off` (8-aligned).
    pub fn store_u64(&self, off: usize, v: u64) {
        self.atomic64(off).store(v, Ordering::SeqCst);
    }

    /// Atomically read a u32 at `off` (4-aligned).
    pub fn load_u32(&self, off: usize) -> u32 {
        self.atomic32(off).load(Ordering::SeqCst)
    }

    /// Atomically write a u32 at `off` (4-aligned).
    pub fn store_u32(&self, off: usize, v: u32) {
        self.atomic32(off).store(v, Ordering::SeqCst);
    }
}

/// Which end of the connection this process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Produces into ring 0, consumes ring 1.
    Client,
    /// Produces into ring 1, consumes ring 0.
    Server,
}

/// One established raw shared-memory connection.
#[derive(Debug)]
pub struct Conn {
    /// The control socket.
    pub ctrl: UnixStream,
    /// The mapped segment.
    pub seg: Segment,
    /// The segment's memfd, kept to try resizing it.
    pub memfd: OwnedFd,
    /// `[ring 0 data, ring 0 space, ring 1 data, ring 1 space]`.
    pub bells: [OwnedFd; 4],
    /// Ring capacity.
    pub cap: u64,
    /// The other side's hello.
    pub peer_hello: Hello,
    side: Side,
    /// Our producer cursor in the ring we write.
    write: u64,
    /// Our consumer cursor in the ring we read.
    read: u64,
}

impl Conn {
    fn new(
        ctrl: UnixStream,
        memfd: OwnedFd,
        bells: [OwnedFd; 4],
        cap: u64,
        peer_hello: Hello,
        side: Side,
    ) -> io::Result<Conn> {
        let seg = Segment::map(&memfd, segment_size(cap) as usize)?;
        Ok(Conn {
            ctrl,
            seg,
            memfd,
            bells,
            cap,
            peer_hello,
            side,
            write: 0,
            read: 0,
        })
    }

    /// The ring this side produces into.
    pub fn tx(&self) -> usize {
        match self.side {
            Side::Client => 0,
            Side::Server => 1,
        }
    }

    /// The ring this side consumes.
    pub fn rx(&self) -> usize {
        1 - self.tx()
    }

    /// Offset of a word (`WRITE`, `READ`, `SLEEPING`, `WAITING`) of ring `ring`'s header.
    pub fn word(&self, ring: usize, field: usize) -> usize {
        ring_offset(self.cap, ring) as usize + field
    }

    /// Offset of ring `ring`'s data area.
    pub fn data(&self, ring: usize) -> usize {
        ring_offset(self.cap, ring) as usize + PAGE
    }

    /// Ring a doorbell: `data` (true) or `space` (false) of ring `ring`.
    pub fn ring_bell(&self, ring: usize, data: bool) {
        let bell = &self.bells[2 * ring + usize::from(!data)];
        let _ = rustix::io::write(bell, &1u64.to_ne_bytes());
    }

    /// Whether the control socket has news (bytes or the peer's hang-up); does not wait.
    pub fn ctrl_readable(&self) -> bool {
        let mut b = [0u8; 1];
        !matches!(
            rustix::net::recv(&self.ctrl, &mut b, RecvFlags::PEEK | RecvFlags::DONTWAIT),
            Err(rustix::io::Errno::AGAIN)
        )
    }
}

/// Connect to `endpoint` as a client speaking shared memory (hello with [`CAP_SHM`]).
pub fn connect(endpoint: &str) -> io::Result<Conn> {
    connect_with_hello(endpoint, &shm_hello(u32::MAX))
}

/// Connect, send `hello` as given, and take the listener's SETUP.
pub fn connect_with_hello(endpoint: &str, hello: &[u8]) -> io::Result<Conn> {
    let mut ctrl = UnixStream::connect(socket_path(endpoint)?)?;
    ctrl.set_read_timeout(Some(READ_GUARD))?;
    ctrl.write_all(hello)?;
    let mut h = [0u8; 24];
    ctrl.read_exact(&mut h)?;
    let peer_hello = Hello::decode(&h).map_err(io::Error::other)?;
    if peer_hello.status != 0 {
        return Err(io::Error::other(format!(
            "refused with status {}",
            peer_hello.status
        )));
    }
    let (frame, fds) = recv_setup(&ctrl)?;
    let header = FrameHeader::decode(frame[..HEADER_LEN].try_into().expect("8 bytes"))
        .map_err(io::Error::other)?;
    if header.frame_type != FrameType::Setup || header.length != 24 {
        return Err(io::Error::other(format!("not a SETUP frame: {header:?}")));
    }
    let cap = u64::from_le_bytes(frame[16..24].try_into().expect("8 bytes"));
    let fds: [OwnedFd; 5] = fds
        .try_into()
        .map_err(|v: Vec<_>| io::Error::other(format!("{} descriptors", v.len())))?;
    let [memfd, b0, b1, b2, b3] = fds;
    Conn::new(ctrl, memfd, [b0, b1, b2, b3], cap, peer_hello, Side::Client)
}

/// Receive the SETUP frame and the descriptors attached to it (up to 8).
fn recv_setup(ctrl: &UnixStream) -> io::Result<([u8; SETUP_FRAME_LEN], Vec<OwnedFd>)> {
    let mut buf = [0u8; SETUP_FRAME_LEN];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        ctrl,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = m {
            fds.extend(rights);
        }
    }
    if msg.bytes == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    (&*ctrl).read_exact(&mut buf[msg.bytes..])?;
    Ok((buf, fds))
}

/// Read a client's 24-byte hello (server side).
pub fn read_client_hello(ctrl: &mut UnixStream) -> io::Result<Hello> {
    ctrl.set_read_timeout(Some(READ_GUARD))?;
    let mut h = [0u8; 24];
    ctrl.read_exact(&mut h)?;
    Hello::decode(&h).map_err(io::Error::other)
}

/// What a raw server offers in its SETUP. [`SetupPlan::good`] is exactly what libipc sends;
/// tests change fields to make it wrong in one way.
#[derive(Debug, Clone)]
pub struct SetupPlan {
    /// Ring capacity the segment is laid out for.
    pub cap: u64,
    /// Size the memfd is given.
    pub memfd_size: u64,
    /// Seals added after the header is written (none: not sealed).
    pub seals: SealFlags,
    /// The segment header written at offset 0.
    pub header: [u8; 48],
    /// The SETUP frame bytes sent (cut short for a truncated SETUP).
    pub frame: Vec<u8>,
    /// Descriptors attached: the first `fds` of `[memfd, 4 bells]`, more eventfds beyond 5.
    pub fds: usize,
    /// Send a pipe where the memfd belongs.
    pub memfd_is_pipe: bool,
    /// Send copies of the memfd (a regular file, always readable) where the bells belong.
    pub bells_are_files: bool,
    /// Make the bells eventfds in semaphore mode, holding this count (at most 2^64 - 2).
    pub semaphore_bells: Option<u64>,
}

impl SetupPlan {
    /// What libipc's listener sends for rings of `cap` bytes.
    pub fn good(cap: u64) -> SetupPlan {
        let size = segment_size(cap);
        let mut header = [0u8; 48];
        header[0..8].copy_from_slice(b"LIPC-SHM");
        header[8..12].copy_from_slice(&1u32.to_le_bytes());
        header[16..24].copy_from_slice(&cap.to_le_bytes());
        header[24..32].copy_from_slice(&ring_offset(cap, 0).to_le_bytes());
        header[32..40].copy_from_slice(&ring_offset(cap, 1).to_le_bytes());
        header[40..48].copy_from_slice(&size.to_le_bytes());
        let mut frame = FrameHeader {
            length: 24,
            frame_type: FrameType::Setup,
            flags: 0,
        }
        .encode()
        .to_vec();
        frame.extend_from_slice(&size.to_le_bytes());
        frame.extend_from_slice(&cap.to_le_bytes());
        frame.extend_from_slice(&1u32.to_le_bytes());
        frame.extend_from_slice(&0u32.to_le_bytes());
        SetupPlan {
            cap,
            memfd_size: size,
            seals: SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
            header,
            frame,
            fds: 5,
            memfd_is_pipe: false,
            bells_are_files: false,
            semaphore_bells: None,
        }
    }

    /// Set a little-endian field of the SETUP frame at `at` (offset into the frame).
    pub fn frame_field(mut self, at: usize, bytes: &[u8]) -> SetupPlan {
        self.frame[at..at + bytes.len()].copy_from_slice(bytes);
        self
    }

    /// Set bytes of the segment header at `at`.
    pub fn header_field(mut self, at: usize, bytes: &[u8]) -> SetupPlan {
        self.header[at..at + bytes.len()].copy_from_slice(bytes);
        self
    }

    fn build(&self) -> io::Result<(OwnedFd, [OwnedFd; 4])> {
        let memfd = rustix::fs::memfd_create(
            "ipc-test-shm",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )?;
        rustix::fs::ftruncate(&memfd, self.memfd_size)?;
        if self.memfd_size >= self.header.len() as u64 {
            let n = rustix::io::pwrite(&memfd, &self.header, 0)?;
            assert_eq!(n, self.header.len(), "short pwrite");
        }
        if !self.seals.is_empty() {
            rustix::fs::fcntl_add_seals(&memfd, self.seals)?;
        }
        let bell = || -> io::Result<OwnedFd> {
            if self.bells_are_files {
                Ok(memfd.try_clone()?)
            } else if let Some(count) = self.semaphore_bells {
                let flags = EventfdFlags::CLOEXEC | EventfdFlags::SEMAPHORE;
                let bell = rustix::event::eventfd(0, flags)?;
                if count > 0 {
                    rustix::io::write(&bell, &count.to_ne_bytes())?;
                }
                Ok(bell)
            } else {
                Ok(rustix::event::eventfd(0, EventfdFlags::CLOEXEC)?)
            }
        };
        Ok((memfd.try_clone()?, [bell()?, bell()?, bell()?, bell()?]))
    }

    fn send(&self, ctrl: &UnixStream, memfd: &OwnedFd, bells: &[OwnedFd; 4]) -> io::Result<()> {
        let pipe = rustix::pipe::pipe()?;
        let extra: Vec<OwnedFd> = (5..self.fds.max(5))
            .map(|_| rustix::event::eventfd(0, EventfdFlags::CLOEXEC))
            .collect::<Result<_, _>>()?;
        let first = if self.memfd_is_pipe {
            pipe.0.as_fd()
        } else {
            memfd.as_fd()
        };
        let all: Vec<BorrowedFd<'_>> = std::iter::once(first)
            .chain(bells.iter().map(AsFd::as_fd))
            .chain(extra.iter().map(AsFd::as_fd))
            .take(self.fds)
            .collect();
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(16))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !all.is_empty() {
            assert!(
                control.push(SendAncillaryMessage::ScmRights(&all)),
                "control buffer"
            );
        }
        let sent = rustix::net::sendmsg(
            ctrl,
            &[IoSlice::new(&self.frame)],
            &mut control,
            SendFlags::NOSIGNAL,
        )?;
        (&*ctrl).write_all(&self.frame[sent..])
    }

    /// Send the SETUP on `ctrl` (after the hellos) and drop our side of it.
    pub fn send_only(&self, ctrl: &UnixStream) -> io::Result<()> {
        let (memfd, bells) = self.build()?;
        self.send(ctrl, &memfd, &bells)
    }

    /// Send the SETUP and keep the segment mapped, as the server end of a raw connection.
    pub fn offer(&self, ctrl: UnixStream, peer_hello: Hello) -> io::Result<Conn> {
        let (memfd, bells) = self.build()?;
        self.send(&ctrl, &memfd, &bells)?;
        Conn::new(ctrl, memfd, bells, self.cap, peer_hello, Side::Server)
    }
}

/// A publish/subscribe connection over `shm://` taken by hand (wire 1.2, section 17.5): the
/// fan-out SETUP's four descriptors, the control socket, nothing mapped yet (a hostile
/// subscriber maps what it likes).
#[derive(Debug)]
pub struct FanConn {
    /// The control socket (frames after the SETUP).
    pub ctrl: UnixStream,
    /// The SETUP frame as received.
    pub setup: [u8; SETUP_FRAME_LEN],
    /// `[fan-out segment, cursor page, data bell, space bell]`.
    pub fds: [OwnedFd; 4],
}

/// Connect to a publisher at `endpoint` as a subscriber would (`CAP_SHM | CAP_PUBSUB`) and take
/// the fan-out SETUP.
pub fn connect_fanout(endpoint: &str) -> io::Result<FanConn> {
    let mut ctrl = UnixStream::connect(socket_path(endpoint)?)?;
    ctrl.set_read_timeout(Some(READ_GUARD))?;
    let mut h = Hello::new(u32::MAX, 0);
    h.capabilities = CAP_SHM | libipc::wire::CAP_PUBSUB;
    ctrl.write_all(&h.encode())?;
    let mut b = [0u8; 24];
    ctrl.read_exact(&mut b)?;
    let peer_hello = Hello::decode(&b).map_err(io::Error::other)?;
    if peer_hello.status != 0 {
        return Err(io::Error::other(format!(
            "refused with status {}",
            peer_hello.status
        )));
    }
    let (setup, fds) = recv_setup(&ctrl)?;
    let fds: [OwnedFd; 4] = fds
        .try_into()
        .map_err(|v: Vec<_>| io::Error::other(format!("{} descriptors", v.len())))?;
    Ok(FanConn { ctrl, setup, fds })
}

impl FanConn {
    /// The ring capacity the SETUP announced.
    pub fn cap(&self) -> u64 {
        u64::from_le_bytes(self.setup[16..24].try_into().expect("8 bytes"))
    }

    /// Send one DATA frame carrying `msg` on the control socket.
    pub fn send_message(&mut self, msg: &[u8]) -> io::Result<()> {
        let h = FrameHeader {
            length: msg.len() as u32,
            frame_type: FrameType::Data,
            flags: 0,
        };
        self.ctrl.write_all(&h.encode())?;
        self.ctrl.write_all(msg)
    }

    /// Read one frame from the control socket: its header and payload.
    pub fn read_frame(&mut self) -> io::Result<(FrameHeader, Vec<u8>)> {
        let mut h = [0u8; HEADER_LEN];
        self.ctrl.read_exact(&mut h)?;
        let header = FrameHeader::decode(&h).map_err(io::Error::other)?;
        let mut body = vec![0u8; header.length as usize];
        self.ctrl.read_exact(&mut body)?;
        Ok((header, body))
    }

    /// Ring a doorbell (`fds[2]` or `fds[3]`).
    pub fn ring(&self, i: usize) {
        let _ = rustix::io::write(&self.fds[i], &1u64.to_ne_bytes());
    }
}
