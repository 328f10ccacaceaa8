//! The named-pipe backend on its own, and the security defaults read back from the system.
//! Run under Wine by `scripts/windows-tests.sh`; what Wine does not enforce is said where it
//! matters (a test here checks what the system reports, not what it would deny).

use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::windows::io::AsRawHandle;
use std::time::{Duration, Instant};

use super::listener::{StreamListener, WAITING, bind_pipe, connect_pipe};
use super::security::{dacl_entries, user_sid};
use super::stream::Stream;
use super::wait::{Waker, wait_any};
use crate::error::ErrorKind;

fn unique() -> String {
    format!(
        "libipc-unit-{}-{:08x}",
        std::process::id(),
        fastrand::u32(..)
    )
}

/// Accept the next client, waiting for it (10 s at most).
fn accept(l: &StreamListener) -> Stream {
    let kick = Waker::new().unwrap();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(s) = l.try_accept().unwrap() {
            return s;
        }
        assert!(Instant::now() < end, "no client arrived");
        l.wait(&kick, true).unwrap();
    }
}

fn pair() -> (StreamListener, Stream, Stream) {
    let name = unique();
    let l = bind_pipe(&name).unwrap();
    let client = connect_pipe(&name, Some(Duration::from_secs(10))).unwrap();
    let server = accept(&l);
    (l, server, client)
}

/// Read exactly `n` bytes (or up to the end), waiting on the read source.
fn read_n(s: &Stream, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 10_000];
    while out.len() < n {
        match s.read(&mut buf).unwrap() {
            Some(0) => break,
            // SAFETY: `read` initialised the first `k` bytes.
            Some(k) => out.extend(buf[..k].iter().map(|b| unsafe { b.assume_init() })),
            None => {
                let r = wait_any(&[s.read_source()], [None, None], None).unwrap();
                assert!(r.is(0));
            }
        }
    }
    out
}

/// Write all of `data`, waiting on the write source.
fn write_all(s: &Stream, mut data: &[u8]) {
    while !data.is_empty() {
        let n = s.write(&[IoSlice::new(data)]).unwrap();
        if n == 0 {
            wait_any(&[s.write_source()], [None, None], None).unwrap();
        }
        data = &data[n..];
    }
}

#[test]
fn bytes_go_both_ways_in_order_then_the_end() {
    let (_l, server, client) = pair();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let writer = {
        let data = data.clone();
        std::thread::spawn(move || {
            write_all(&client, &data);
            while !client.settled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            client.hang_up();
            client
        })
    };
    assert_eq!(read_n(&server, data.len() + 1), data);
    let client = writer.join().unwrap();
    // After the end, reads say so and writes fail as on a disconnected socket.
    let mut buf = [MaybeUninit::uninit(); 16];
    assert_eq!(server.read(&mut buf).unwrap(), Some(0));
    let err = loop {
        match server.write(&[IoSlice::new(b"x")]) {
            Ok(0) => std::thread::sleep(Duration::from_millis(1)),
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::PeerDisconnected);
    assert!(client.write(&[IoSlice::new(b"x")]).is_err());
}

#[test]
fn hang_up_wakes_a_waiting_reader() {
    let (_l, server, _client) = pair();
    let mut buf = [MaybeUninit::uninit(); 16];
    assert_eq!(server.read(&mut buf).unwrap(), None);
    std::thread::scope(|s| {
        let t = s.spawn(|| wait_any(&[server.read_source()], [None, None], None).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        server.hang_up();
        assert!(t.join().unwrap().is(0));
    });
    assert_eq!(server.read(&mut buf).unwrap(), Some(0));
}

#[test]
fn peer_pids_are_reported() {
    let (_l, server, client) = pair();
    assert_eq!(server.peer_credentials().pid, Some(std::process::id()));
    assert_eq!(client.peer_credentials().pid, Some(std::process::id()));
    assert_eq!(server.peer_credentials().uid, None);
}

#[test]
fn a_second_bind_of_a_name_is_address_in_use() {
    let name = unique();
    let _l = bind_pipe(&name).unwrap();
    let e = bind_pipe(&name).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddressInUse, "{e}");
    assert!(e.message().contains("in use"), "{e}");
}

#[test]
fn nobody_listening_is_not_found() {
    let e = connect_pipe(&unique(), Some(Duration::from_secs(1))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

#[test]
fn a_busy_pipe_is_waited_for_within_the_timeout() {
    let name = unique();
    let l = bind_pipe(&name).unwrap();
    // The waiting instances take the first clients; until one is accepted (which makes the
    // next instance), every other client finds the pipe busy.
    let _first: Vec<Stream> = (0..WAITING)
        .map(|_| connect_pipe(&name, Some(Duration::from_secs(10))).unwrap())
        .collect();
    let e = connect_pipe(&name, Some(Duration::from_millis(200))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    std::thread::scope(|s| {
        let second = s.spawn(|| connect_pipe(&name, Some(Duration::from_secs(30))));
        std::thread::sleep(Duration::from_millis(100));
        let _accepted = accept(&l);
        second.join().unwrap().unwrap();
    });
}

/// Every instance carries a protected DACL granting the user and SYSTEM, nobody else. (Wine
/// stores and reports the descriptor, but every Wine process runs as the same user, so a
/// denial of another user cannot be shown there.)
#[test]
fn only_the_user_and_system_have_access() {
    let name = unique();
    let l = bind_pipe(&name).unwrap();
    let me = user_sid().unwrap();
    let want = |mut sids: Vec<String>, other: bool| {
        sids.sort();
        let mut expect = vec![me.clone(), "S-1-5-18".to_owned()];
        expect.sort();
        assert_eq!(sids, expect);
        assert!(!other, "only access-allowed entries");
    };
    let (sids, other) = dacl_entries(l.waiting_handle()).unwrap();
    want(sids, other);
    // Later instances too, and the client's handle sees the same pipe.
    let client = connect_pipe(&name, Some(Duration::from_secs(10))).unwrap();
    let server = accept(&l);
    let (sids, other) = dacl_entries(l.waiting_handle()).unwrap();
    want(sids, other);
    let (sids, other) = dacl_entries(server.raw_handle()).unwrap();
    want(sids, other);
    drop(client);
}

/// Whether this runs under Wine (its ntdll exports `wine_get_version`).
fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll: Vec<u16> = "ntdll.dll".encode_utf16().chain([0]).collect();
    // SAFETY: NUL-terminated names; ntdll is loaded in every process.
    unsafe {
        let m = GetModuleHandleW(ntdll.as_ptr());
        !m.is_null() && GetProcAddress(m, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

/// Clients connect at the identification level: a server that impersonates one gets a token
/// it can query but not act with. Wine 8 ignores the client's level (`SECURITY_SQOS_PRESENT`)
/// and gives the server an impersonation-level token: asserted as such, so the day Wine
/// enforces it this test says so.
#[test]
fn clients_allow_identification_only() {
    use windows_sys::Win32::Security::{
        GetTokenInformation, RevertToSelf, SecurityIdentification, SecurityImpersonation,
        TOKEN_QUERY, TokenImpersonationLevel,
    };
    use windows_sys::Win32::System::Pipes::ImpersonateNamedPipeClient;
    use windows_sys::Win32::System::Threading::{GetCurrentThread, OpenThreadToken};
    let (_l, server, client) = pair();
    write_all(&client, b"hi");
    assert_eq!(read_n(&server, 2), b"hi");
    // SAFETY: the server end of a connected pipe that has read from its client.
    let impersonating = unsafe { ImpersonateNamedPipeClient(server.raw_handle()) };
    assert_ne!(impersonating, 0);
    let mut token = std::ptr::null_mut();
    // SAFETY: this thread's pseudo-handle; `token` receives a handle we own.
    let opened = unsafe { OpenThreadToken(GetCurrentThread(), TOKEN_QUERY, 1, &mut token) };
    let mut level = -1i32;
    let mut len = 0u32;
    if opened != 0 {
        let token = super::owned(token, "OpenThreadToken").unwrap();
        // SAFETY: `level` has the size of what TokenImpersonationLevel writes.
        unsafe {
            GetTokenInformation(
                token.as_raw_handle(),
                TokenImpersonationLevel,
                (&raw mut level).cast(),
                4,
                &mut len,
            )
        };
    }
    // SAFETY: ends this thread's impersonation.
    unsafe { RevertToSelf() };
    assert_ne!(opened, 0, "the impersonation token");
    if under_wine() {
        assert_eq!(
            level, SecurityImpersonation,
            "Wine 8 ignores the client's level"
        );
    } else {
        assert_eq!(level, SecurityIdentification);
    }
}

/// I/O a thread started goes on after the thread exits (Windows cancels a thread's pending
/// I/O when it exits, unless the handle is associated with a completion port).
#[test]
fn io_outlives_the_thread_that_started_it() {
    let (_l, server, client) = pair();
    // A read left in flight by a thread that is gone.
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut buf = [MaybeUninit::uninit(); 16];
            assert_eq!(server.read(&mut buf).unwrap(), None);
        });
    });
    // A write left in flight by a thread that is gone: larger than the pipe buffer, so it
    // stays in flight until the reader takes it.
    let data: Vec<u8> = (0..60_000u32).map(|i| (i % 253) as u8).collect();
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..4 {
                assert_ne!(client.write(&[IoSlice::new(&data)]).unwrap(), 0);
                if !client.settled() {
                    break;
                }
            }
        });
    });
    let got = read_n(&server, 60_000);
    assert_eq!(got, data);
}
