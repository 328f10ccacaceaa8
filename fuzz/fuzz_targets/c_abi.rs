//! The C ABI's argument handling (`ffi-c`): arbitrary endpoint strings (non-UTF-8, any bytes
//! up to the NUL), option setters with any values, sends, receives and reservations of any
//! length and timeout on open, closed and NULL channels, status names of any number. Every
//! call must return a status (never `IPC_ERR_PANIC`: the fuzzer aborts on any panic anyway),
//! NULL and invalid arguments must give `IPC_ERR_INVALID_ARGUMENT`, and out-parameters are
//! written only on success.
//!
//! Pointers passed are always NULL or valid for what the call's contract asks: the target
//! checks the library's handling of values, not C's undefined behaviour. Endpoints that parse
//! are only passed with a NULL out-parameter (refused before anything is bound or connected),
//! so the target never touches the file system or the network.
#![no_main]

use std::ffi::{CStr, CString, c_int};
use std::ptr;

use ipc::*;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use libipc::Endpoint;

#[derive(Debug, Arbitrary)]
enum Setter {
    MaxMessage(u64),
    SocketMode(u32),
    ConnectTimeout(i32),
    HandshakeTimeout(u32),
    RingSize(u64),
    ShmSpin(u32),
    StreamSpin(u32),
    PosixFallback(i32),
    AllowedUids { uids: Vec<u32>, n: u16, null: bool },
    AllowedGids { gids: Vec<u32>, n: u16, null: bool },
    MaxConnections(u64),
    FrameTimeout(u32),
    ExpectedServerUid(Option<u32>),
}

#[derive(Debug, Arbitrary)]
enum Op {
    Connect {
        endpoint: Vec<u8>,
        null_endpoint: bool,
    },
    Bind {
        endpoint: Vec<u8>,
        null_endpoint: bool,
    },
    Set {
        setter: Setter,
        null_options: bool,
    },
    /// A pair made with the options set so far.
    Pair,
    Send {
        ch: u8,
        data: Vec<u8>,
        len: u64,
        null_data: bool,
        timeout: i32,
    },
    Recv {
        ch: u8,
        timeout: i32,
        null_out: bool,
    },
    RecvInto {
        ch: u8,
        cap: u16,
        null_buf: bool,
        timeout: i32,
    },
    Reserve {
        ch: u8,
        len: u64,
        timeout: i32,
        fill: u8,
        commit: bool,
    },
    RecvInPlace {
        ch: u8,
        timeout: i32,
        release: bool,
    },
    Commit {
        ch: u8,
    },
    Abort {
        ch: u8,
    },
    Release {
        ch: u8,
    },
    Flush {
        ch: u8,
        timeout: i32,
    },
    Close {
        ch: u8,
    },
    Info {
        ch: u8,
        null_out: bool,
    },
    StatusName(i32),
}

const OK: ipc_status = ipc_status::IPC_OK;
const INVALID: ipc_status = ipc_status::IPC_ERR_INVALID_ARGUMENT;

/// A NUL-terminated copy of `bytes` up to their first NUL (as C would see them).
fn c_string(bytes: &[u8]) -> CString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).unwrap()
}

fn check(status: ipc_status) -> ipc_status {
    assert_ne!(status, ipc_status::IPC_ERR_PANIC, "a panic crossed into C");
    // SAFETY: ipc_last_error returns a NUL-terminated string, valid until the next failure.
    let last = unsafe { CStr::from_ptr(ipc_last_error()) };
    if status != OK {
        assert!(!last.to_bytes().is_empty(), "{status:?} without a message");
    }
    status
}

/// A timeout the call may wait for: any value on a closed or NULL channel (none of them
/// waits), at most "now" on an open one.
fn timeout(t: i32, open: bool) -> i32 {
    if open && t != 0 && t >= -1 { 0 } else { t }
}

fn bad_timeout(t: i32) -> bool {
    t < -1
}

struct World {
    opts: *mut ipc_options,
    /// Open, open (each other's peer), closed.
    chans: [*mut ipc_channel; 3],
}

impl World {
    fn new() -> World {
        let mut opts = ptr::null_mut();
        // SAFETY: `opts` is writable.
        assert_eq!(unsafe { ipc_options_new(&mut opts) }, OK);
        let mut small = ptr::null_mut();
        // SAFETY: as above; then `small` is a live options handle.
        unsafe {
            assert_eq!(ipc_options_new(&mut small), OK);
            assert_eq!(ipc_options_set_max_message_size(small, 1 << 16), OK);
        }
        let (mut a, mut b, mut c, mut d) = (
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
            ptr::null_mut(),
        );
        // SAFETY: live options; writable out-parameters; the handles are live afterwards.
        unsafe {
            assert_eq!(ipc_channel_pair(small, &mut a, &mut b), OK);
            assert_eq!(ipc_channel_pair(small, &mut c, &mut d), OK);
            assert_eq!(ipc_channel_close(c), OK);
            ipc_channel_free(d);
            ipc_options_free(small);
        }
        World {
            opts,
            chans: [a, b, c],
        }
    }

    /// A channel handle (`3`: NULL) and whether it is open.
    fn ch(&self, i: u8) -> (*mut ipc_channel, bool) {
        match i % 4 {
            3 => (ptr::null_mut(), false),
            i => (self.chans[i as usize], i < 2),
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // SAFETY: each handle is live and freed once; aborting and releasing first is allowed
        // (INVALID_ARGUMENT when there is nothing held).
        unsafe {
            for &ch in &self.chans {
                ipc_channel_abort(ch);
                ipc_channel_release(ch);
                ipc_channel_free(ch);
            }
            ipc_options_free(self.opts);
        }
    }
}

fn endpoint_call(endpoint: &[u8], null_endpoint: bool, bind: bool) {
    let s = c_string(endpoint);
    let parses = s.to_str().ok().map(|s| Endpoint::parse(s).is_ok());
    let ep = if null_endpoint {
        ptr::null()
    } else {
        s.as_ptr()
    };
    let call = |out_null: bool| {
        if bind {
            let mut out = ptr::null_mut();
            let o = if out_null { ptr::null_mut() } else { &mut out };
            // SAFETY: `ep` is NULL or NUL-terminated; `o` is NULL or writable.
            let st = check(unsafe { ipc_listener_bind(ep, ptr::null(), o) });
            assert!(out.is_null(), "bind succeeded on a fuzzed endpoint");
            st
        } else {
            let mut out = ptr::null_mut();
            let o = if out_null { ptr::null_mut() } else { &mut out };
            // SAFETY: as above.
            let st = check(unsafe { ipc_channel_connect(ep, ptr::null(), o) });
            assert!(out.is_null(), "connect succeeded on a fuzzed endpoint");
            st
        }
    };
    // A NULL out-parameter is refused first, whatever the endpoint.
    assert_eq!(call(true), INVALID);
    match (null_endpoint, parses) {
        (true, _) => assert_eq!(call(false), INVALID),
        (false, None) => assert_eq!(call(false), INVALID, "non-UTF-8 endpoint"),
        (false, Some(false)) => assert_eq!(call(false), ipc_status::IPC_ERR_INVALID_ENDPOINT),
        // Valid endpoints would really bind or connect: not from a fuzzer.
        (false, Some(true)) => {}
    }
}

/// `ipc_options_set_allowed_uids` or `ipc_options_set_allowed_gids`.
type IdsSetter = unsafe extern "C" fn(*mut ipc_options, *const u32, usize) -> ipc_status;

/// An allow-list setter given the first `n` of `ids` (all of them if fewer), or, with `null`,
/// a NULL array said to hold `n` ids, which it must refuse unless `n` is 0.
///
/// # Safety
/// `o` is NULL or a live `ipc_options`.
unsafe fn set_ids(
    setter: IdsSetter,
    o: *mut ipc_options,
    ids: &[u32],
    n: u16,
    null: bool,
) -> ipc_status {
    if null {
        // SAFETY: `o` is NULL or live (the caller's promise); the array is NULL.
        let st = unsafe { setter(o, ptr::null(), n as usize) };
        if n > 0 {
            assert_eq!(st, INVALID);
        }
        st
    } else {
        let n = (n as usize).min(ids.len());
        // SAFETY: `o` is NULL or live (the caller's promise); `ids` holds at least `n` values.
        unsafe { setter(o, ids.as_ptr(), n) }
    }
}

fn set(w: &World, setter: Setter, null_options: bool) {
    let o = if null_options {
        ptr::null_mut()
    } else {
        w.opts
    };
    // SAFETY: `o` is NULL or live; the expected uid pointer is NULL or points to a live u32.
    let st = check(unsafe {
        match setter {
            Setter::MaxMessage(v) => ipc_options_set_max_message_size(o, v as usize),
            Setter::SocketMode(v) => ipc_options_set_socket_mode(o, v),
            Setter::ConnectTimeout(v) => ipc_options_set_connect_timeout(o, v),
            Setter::HandshakeTimeout(v) => ipc_options_set_handshake_timeout(o, v),
            Setter::RingSize(v) => ipc_options_set_shm_ring_size(o, v as usize),
            Setter::ShmSpin(v) => ipc_options_set_shm_spin_us(o, v),
            Setter::StreamSpin(v) => ipc_options_set_stream_spin_us(o, v),
            Setter::PosixFallback(v) => ipc_options_set_shm_posix_fallback(o, v),
            Setter::AllowedUids { uids, n, null } => {
                set_ids(ipc_options_set_allowed_uids, o, &uids, n, null)
            }
            Setter::AllowedGids { gids, n, null } => {
                set_ids(ipc_options_set_allowed_gids, o, &gids, n, null)
            }
            Setter::MaxConnections(v) => ipc_options_set_max_connections(o, v as usize),
            Setter::FrameTimeout(v) => ipc_options_set_frame_timeout_ms(o, v),
            Setter::ExpectedServerUid(uid) => ipc_options_set_expected_server_uid(
                o,
                uid.as_ref().map_or(ptr::null(), |u| u as *const u32),
            ),
        }
    });
    if null_options {
        assert_eq!(st, INVALID);
    } else {
        assert!(st == OK || st == INVALID, "{st:?}");
    }
}

fn op(w: &World, op: Op) {
    match op {
        Op::Connect {
            endpoint,
            null_endpoint,
        } => endpoint_call(&endpoint, null_endpoint, false),
        Op::Bind {
            endpoint,
            null_endpoint,
        } => endpoint_call(&endpoint, null_endpoint, true),
        Op::Set {
            setter,
            null_options,
        } => set(w, setter, null_options),
        Op::Pair => {
            let (mut a, mut b) = (ptr::null_mut(), ptr::null_mut());
            // SAFETY: live options, writable out-parameters; handles freed once.
            unsafe {
                let st = check(ipc_channel_pair(w.opts, &mut a, &mut b));
                assert_eq!(st == OK, !a.is_null() && !b.is_null(), "{st:?}");
                ipc_channel_free(a);
                ipc_channel_free(b);
            }
        }
        Op::Send {
            ch,
            data,
            len,
            null_data,
            timeout: t,
        } => {
            let (ch, open) = w.ch(ch);
            let (p, len) = if null_data {
                (ptr::null(), len as usize)
            } else {
                (data.as_ptr(), (len as usize).min(data.len()))
            };
            // SAFETY: `ch` is NULL or live; `p` is NULL or readable for `len` bytes.
            let st = check(unsafe { ipc_channel_send(ch, p, len, timeout(t, open)) });
            if ch.is_null() || (null_data && len > 0) || bad_timeout(t) {
                assert_eq!(st, INVALID);
            }
        }
        Op::Recv {
            ch,
            timeout: t,
            null_out,
        } => {
            let (ch, open) = w.ch(ch);
            let mut m = ptr::null_mut();
            let out = if null_out { ptr::null_mut() } else { &mut m };
            // SAFETY: `ch` is NULL or live; `out` NULL or writable; `m` freed once.
            unsafe {
                let st = check(ipc_channel_recv(ch, timeout(t, open), out));
                assert_eq!(st == OK, !m.is_null());
                if !m.is_null() {
                    let n = ipc_message_len(m);
                    let d = ipc_message_data(m);
                    assert!(n == 0 || !d.is_null());
                    ipc_message_free(m);
                }
                if ch.is_null() || null_out || bad_timeout(t) {
                    assert_eq!(st, INVALID);
                }
            }
        }
        Op::RecvInto {
            ch,
            cap,
            null_buf,
            timeout: t,
        } => {
            let (ch, open) = w.ch(ch);
            let mut buf = vec![0u8; cap as usize];
            let (p, cap) = if null_buf {
                (ptr::null_mut(), cap as usize)
            } else {
                (buf.as_mut_ptr(), buf.len())
            };
            let mut n = usize::MAX;
            // SAFETY: `ch` NULL or live; `p` NULL or writable for `cap` bytes; `n` writable.
            let st = check(unsafe { ipc_channel_recv_into(ch, p, cap, timeout(t, open), &mut n) });
            if st == OK {
                assert!(n <= cap);
            }
            if ch.is_null() || (null_buf && cap > 0) || bad_timeout(t) {
                assert_eq!(st, INVALID);
                assert_eq!(n, usize::MAX, "out_len written on failure");
            }
        }
        Op::Reserve {
            ch,
            len,
            timeout: t,
            fill,
            commit,
        } => {
            let (ch, open) = w.ch(ch);
            let mut buf = ptr::null_mut();
            let len = len as usize;
            // SAFETY: `ch` NULL or live; `buf` writable. On success the reservation's buffer
            // is writable for `len` bytes until commit or abort.
            unsafe {
                let st = check(ipc_channel_reserve(ch, len, timeout(t, open), &mut buf));
                if st == OK {
                    assert!(!buf.is_null() || len == 0);
                    if len > 0 {
                        ptr::write_bytes(buf, fill, len);
                    }
                    let end = if commit {
                        ipc_channel_commit(ch)
                    } else {
                        ipc_channel_abort(ch)
                    };
                    check(end);
                } else {
                    assert!(buf.is_null(), "out_buf written on failure");
                }
                if ch.is_null() || bad_timeout(t) {
                    assert_eq!(st, INVALID);
                }
            }
        }
        Op::RecvInPlace {
            ch,
            timeout: t,
            release,
        } => {
            let (ch, open) = w.ch(ch);
            let (mut d, mut n) = (ptr::null(), 0usize);
            // SAFETY: `ch` NULL or live; out-parameters writable.
            unsafe {
                let st = check(ipc_channel_recv_in_place(
                    ch,
                    timeout(t, open),
                    &mut d,
                    &mut n,
                ));
                if st == OK && release {
                    assert_eq!(check(ipc_channel_release(ch)), OK);
                }
                if ch.is_null() || bad_timeout(t) {
                    assert_eq!(st, INVALID);
                }
            }
        }
        Op::Commit { ch } | Op::Abort { ch } | Op::Release { ch } => {
            let (ch, _) = w.ch(ch);
            // SAFETY: `ch` NULL or live.
            unsafe {
                check(ipc_channel_commit(ch));
                check(ipc_channel_abort(ch));
                check(ipc_channel_release(ch));
            }
        }
        Op::Flush { ch, timeout: t } => {
            let (ch, open) = w.ch(ch);
            // SAFETY: `ch` NULL or live.
            let st = check(unsafe { ipc_channel_flush(ch, timeout(t, open)) });
            if ch.is_null() || bad_timeout(t) {
                assert_eq!(st, INVALID);
            }
        }
        Op::Close { ch } => {
            let (ch, _) = w.ch(ch);
            // SAFETY: `ch` NULL or live.
            let st = check(unsafe { ipc_channel_close(ch) });
            assert_eq!(st == INVALID, ch.is_null());
        }
        Op::Info { ch, null_out } => {
            let (ch, _) = w.ch(ch);
            let mut size = usize::MAX;
            let mut fd: c_int = -7;
            let out = if null_out { ptr::null_mut() } else { &mut size };
            // SAFETY: `ch` NULL or live; out-parameters NULL or writable.
            unsafe {
                let st = check(ipc_channel_max_message_size(ch, out));
                assert_eq!(st == OK, !ch.is_null() && !null_out);
                let st = check(ipc_channel_fd(ch, &mut fd));
                if st != OK {
                    assert_eq!(fd, -7);
                }
            }
        }
        Op::StatusName(n) => {
            // SAFETY: ipc_status_name returns a static NUL-terminated string, never NULL.
            let name = unsafe { CStr::from_ptr(ipc_status_name(n)) };
            assert!(name.to_str().unwrap().starts_with("IPC_"));
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let w = World::new();
    for o in ops {
        op(&w, o);
    }
});
