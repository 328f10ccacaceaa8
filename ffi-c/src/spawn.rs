//! Parent and child: `ipc_channel_pair`, `ipc_spawn` and `ipc_channel_from_env`, on the core's
//! `Channel::pair`, `Channel::spawn` and `Channel::from_env` (`libipc::spawn`).

use std::ffi::{c_char, c_int};
use std::os::unix::process::CommandExt;
use std::process::Command;

use libipc::Channel;

use crate::channel::ipc_channel;
use crate::ffi::{self, Failure};
use crate::options::{self, ipc_options};
use crate::status::ipc_status;

/// Two connected channels in this process, over a socket pair, with `opts` (NULL for the
/// defaults); each sees this process as its peer. Free both with `ipc_channel_free`.
///
/// Errors: `IPC_ERR_INVALID_ARGUMENT` (NULL out-parameter, bad options), `IPC_ERR_IO`.
///
/// # Safety
/// `opts` is NULL or live; `a` and `b` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_pair(
    opts: *const ipc_options,
    a: *mut *mut ipc_channel,
    b: *mut *mut ipc_channel,
) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(a, "a")?;
        ffi::out_param(b, "b")?;
        // SAFETY: per this function's contract.
        let opts = unsafe { options::or_default(opts) };
        let (x, y) = Channel::pair_with(&opts)?;
        // SAFETY: both checked non-null; writable per this function's contract.
        unsafe {
            ffi::write_out(a, ipc_channel::new_handle(x));
            ffi::write_out(b, ipc_channel::new_handle(y));
        }
        Ok(())
    })
}

/// Start a child process holding the other end of a new channel, and wait (at most the
/// options' handshake timeout) for it to open the channel with `ipc_channel_from_env` (or
/// `Channel::from_env` in Rust, `libipc.Channel.from_env()` in Python).
///
/// `file` and `argv` are as for `execvp`: `file` is searched in `PATH` unless it contains a
/// slash (without `execvp`'s fallback to `/bin/sh`), `argv` is NULL-terminated and `argv[0]`
/// is the name the program sees (NULL `argv` means `{file, NULL}`). The child gets this
/// process's environment plus `LIBIPC_CHANNEL_FD`, its standard streams, and its end of the
/// channel as an inherited descriptor; no other descriptor of libipc's.
///
/// On success `*out` is the channel (its peer pid is the child's) and `*pid_out` the child's
/// pid: reaping it (`waitpid`) is yours. On failure after the child started, the child is
/// killed if still running, and reaped; nothing is written.
///
/// Errors: `IPC_ERR_NOT_FOUND` (no such program), `IPC_ERR_PERMISSION_DENIED`,
/// `IPC_ERR_PEER_DISCONNECTED` (the child exited or closed its end without opening the
/// channel), `IPC_ERR_TIMEOUT` (it did not open it within the handshake timeout),
/// `IPC_ERR_PROTOCOL_MISMATCH`, `IPC_ERR_INVALID_ARGUMENT`, `IPC_ERR_IO`.
///
/// # Safety
/// `file` is NULL or NUL-terminated; `argv` is NULL or a NULL-terminated array of
/// NUL-terminated strings; `opts` is NULL or live; `out` and `pid_out` are NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_spawn(
    file: *const c_char,
    argv: *const *const c_char,
    opts: *const ipc_options,
    out: *mut *mut ipc_channel,
    pid_out: *mut c_int,
) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(out, "out")?;
        ffi::out_param(pid_out, "pid_out")?;
        // SAFETY: per this function's contract.
        let file = unsafe { ffi::os_str(file, "file") }?;
        if file.is_empty() {
            return Err(Failure::invalid("file is empty"));
        }
        let mut cmd = Command::new(file);
        if !argv.is_null() {
            // SAFETY: per this function's contract.
            let argv = unsafe { ffi::os_str_array(argv, "argv") }?;
            if let Some((arg0, rest)) = argv.split_first() {
                cmd.arg0(arg0).args(rest);
            }
        }
        // SAFETY: per this function's contract.
        let opts = unsafe { options::or_default(opts) };
        let (ch, child) = Channel::spawn_with(&mut cmd, &opts)?;
        // A pid is a `pid_t` (an `int`) that std hands out as `u32`: the cast gives it back.
        let pid = child.id() as c_int;
        // The caller reaps the child by its pid; dropping `Child` neither waits nor kills.
        drop(child);
        // SAFETY: both checked non-null; writable per this function's contract.
        unsafe {
            ffi::write_out(out, ipc_channel::new_handle(ch));
            ffi::write_out(pid_out, pid);
        }
        Ok(())
    })
}

/// In a child started with `ipc_spawn` (or any libipc spawn helper): open the channel to the
/// parent, with `opts` (NULL for the defaults). The descriptor named by `LIBIPC_CHANNEL_FD` is
/// checked before it is taken (on a failed check nothing is closed), then made close-on-exec
/// (the child's own children do not inherit it); it can be taken once per process. The
/// variable stays in the environment (unset it yourself if other programs you start should not
/// see it).
///
/// Errors: `IPC_ERR_NOT_FOUND` (`LIBIPC_CHANNEL_FD` is not set), `IPC_ERR_INVALID_ENDPOINT`
/// (not a descriptor number, not an open descriptor, not a connected Unix stream socket, or
/// already taken), `IPC_ERR_PEER_DISCONNECTED` (the parent closed its end),
/// `IPC_ERR_TIMEOUT` (no answer within the handshake timeout), `IPC_ERR_PROTOCOL_MISMATCH`,
/// `IPC_ERR_INVALID_ARGUMENT`.
///
/// # Safety
/// `opts` is NULL or live; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn ipc_channel_from_env(
    opts: *const ipc_options,
    out: *mut *mut ipc_channel,
) -> ipc_status {
    ffi::boundary(|| {
        ffi::out_param(out, "out")?;
        // SAFETY: per this function's contract.
        let opts = unsafe { options::or_default(opts) };
        let ch = Channel::from_env_with(&opts)?;
        // SAFETY: checked non-null; writable per this function's contract.
        unsafe { ffi::write_out(out, ipc_channel::new_handle(ch)) };
        Ok(())
    })
}
