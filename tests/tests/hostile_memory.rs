//! A peer cannot pin memory it was refused. A raw client sends, again and again, a message
//! in fragments (the MORE flag) that passes the listener's 16 MiB limit only with its last
//! fragment: each attempt is refused with ERROR(MessageTooLarge), and the listener process's
//! resident memory (VmRSS) after 40 attempts stays near what it was before the first.
//!
//! Before the fix each attempt could leave up to 16 MiB resident (3.5 MB grew to 53 MB over
//! 40 attempts, glibc keeping the freed blocks in a thread's arena); the bound below is the
//! size of one refused message, which that already exceeded after the first attempt. It is a
//! bound on memory, not on time.
//!
//! Linux only (VmRSS from /proc): over a Unix socket (frames) and `shm://` (ring records).

#![cfg(target_os = "linux")]

use libipc::ErrorKind;
use libipc::wire::{FLAG_MORE, FrameHeader, FrameType, HEADER_LEN};
use libipc_conformance::peer::Peer;
use libipc_conformance::transport::{Site, Transport};
use libipc_conformance::watchdog::Watchdog;
use libipc_conformance::{peer, raw, shm_raw};

/// The listener's limit: the default.
const LIMIT: usize = libipc::DEFAULT_MAX_MESSAGE_SIZE;
const ATTEMPTS: usize = 40;
/// How much the listener's resident memory may grow over all the attempts.
const BOUND: u64 = LIMIT as u64;

fn server(t: Transport) -> (Site, Peer) {
    let mut site = t.site();
    let server = peer!("echo-server", site.there()).listening(&mut site);
    (site, server)
}

/// The resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .map(|v| v.trim().parse().unwrap())
        .expect("VmRSS in /proc/<pid>/status");
    kb * 1024
}

/// Run `attempt` ATTEMPTS times (each ends with the listener's `end MessageTooLarge`; what
/// it returns, the raw connection, is kept until then) and check the listener's resident
/// memory.
fn assert_memory_given_back<T>(t: Transport, mut attempt: impl FnMut(&Site) -> T) {
    let _watchdog = Watchdog::start();
    let (site, mut server) = server(t);
    let before = rss(server.pid());
    for i in 0..ATTEMPTS {
        let conn = attempt(&site);
        assert_eq!(server.expect("end"), "MessageTooLarge", "attempt {i}");
        drop(conn);
    }
    let after = rss(server.pid());
    assert!(
        after < before + BOUND,
        "{t:?}: the listener's resident memory grew from {before} to {after} bytes over \
         {ATTEMPTS} refused messages"
    );
}

#[test]
fn refused_fragmented_messages_leave_no_memory_behind_over_a_socket() {
    let chunk = vec![7u8; 1 << 20];
    let mut frame = FrameHeader {
        length: chunk.len() as u32,
        frame_type: FrameType::Data,
        flags: FLAG_MORE,
    }
    .encode()
    .to_vec();
    frame.extend_from_slice(&chunk);
    assert_memory_given_back(Transport::Unix, |site| {
        let mut s = raw::connect(site.here()).unwrap();
        s.handshake(u32::MAX);
        for _ in 0..LIMIT / chunk.len() {
            s.put(&frame);
        }
        s.put(&raw::data_header(1));
        assert_eq!(s.read_error_frame().code, ErrorKind::MessageTooLarge.code());
        s.assert_closed();
        assert_eq!(frame.len(), HEADER_LEN + chunk.len());
        s
    });
}

#[test]
fn refused_fragmented_messages_leave_no_memory_behind_over_shm() {
    assert_memory_given_back(Transport::Shm, |site| {
        let mut conn = shm_raw::connect(site.here()).unwrap();
        let chunk = vec![7u8; shm_raw::max_record(conn.cap)];
        let mut sent = 0;
        while sent + chunk.len() <= LIMIT {
            conn.send_record(FrameType::Data, FLAG_MORE, &chunk);
            sent += chunk.len();
        }
        conn.send_record(FrameType::Data, 0, &vec![7u8; LIMIT - sent + 1]);
        conn
    });
}
