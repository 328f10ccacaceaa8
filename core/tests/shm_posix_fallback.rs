//! The shared-memory fallback for Unix systems without memfd, forced on Linux with the
//! `shm_posix_fallback` option on both sides: messages flow as with memfds, nothing is left in
//! /dev/shm, and a side that does not use the fallback refuses the unsealed segment.
//! (The child process for the refusal case connects with the default options.)
//!
//! Unix only (Unix sockets, TCP, shared memory, the async API): Windows runs the named-pipe
//! tests (`scripts/windows-tests.sh`).

#![cfg(unix)]

use std::process::Command;
use std::time::Duration;

use libipc::{Channel, ErrorKind, Listener, Options};

fn libipc_entries_in_dev_shm() -> Vec<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("libipc-"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn posix_fallback_carries_messages_and_leaves_nothing() {
    if let Ok(ep) = std::env::var("FALLBACK_CHILD_CONNECT") {
        // Child mode: a normal (sealed-only) client.
        let err = Channel::connect_with(ep.as_str(), &Options::new()).unwrap_err();
        println!("child-result {}", err.kind());
        return;
    }
    let dir = std::env::temp_dir().join(format!("libipc-posix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let ep = format!("shm://fallback-{}", std::process::id());
    // SAFETY: this binary has a single test, and nothing else runs while the variable is set.
    unsafe {
        std::env::set_var("LIBIPC_RUNTIME_DIR", &dir);
    }
    let before = libipc_entries_in_dev_shm();
    let opts = Options::new()
        .with_shm_ring_size(64 * 1024)
        .with_shm_posix_fallback(true);
    let listener = Listener::bind_with(ep.as_str(), &opts).unwrap();
    let server = std::thread::spawn(move || {
        let ch = listener.accept().unwrap();
        for m in ch.iter() {
            ch.send(&m.unwrap()).unwrap();
        }
        listener
    });
    let ch =
        Channel::connect_with(ep.as_str(), &Options::new().with_shm_posix_fallback(true)).unwrap();
    for n in [0usize, 1, 100, 32_760, 100_000, 1 << 20] {
        let v: Vec<u8> = (0..n).map(|i| (i * 13) as u8).collect();
        ch.send(&v).unwrap();
        assert_eq!(
            &*ch.recv_timeout(Duration::from_secs(60)).unwrap(),
            &v[..],
            "size {n}"
        );
    }
    assert_eq!(
        libipc_entries_in_dev_shm(),
        before,
        "a POSIX shm name outlived its creation"
    );
    ch.close();
    let listener = server.join().unwrap();

    // A client that does not use the fallback refuses the unsealed segment.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "posix_fallback_carries_messages_and_leaves_nothing",
            "--nocapture",
        ])
        .env("FALLBACK_CHILD_CONNECT", &ep)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("child-result {}", ErrorKind::ProtocolViolation)),
        "{stdout}"
    );
    drop(listener);
    assert_eq!(libipc_entries_in_dev_shm(), before);
    std::fs::remove_dir_all(&dir).unwrap();
}
