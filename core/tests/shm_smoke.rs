//! Unix only (Unix sockets, TCP, shared memory, the async API): Windows runs the named-pipe
//! tests (`scripts/windows-tests.sh`).

#![cfg(unix)]

use libipc::{Channel, ErrorKind, Listener, Options};
use std::time::Duration;

#[test]
fn shm_smoke() {
    let dir = std::env::temp_dir().join(format!("shm-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    // SAFETY: single-threaded at this point of the test.
    unsafe { std::env::set_var("LIBIPC_RUNTIME_DIR", &dir) };
    let opts = Options::new().with_shm_ring_size(64 * 1024);
    let l = Listener::bind_with("shm://smoke", &opts).unwrap();
    let t = std::thread::spawn(move || {
        let ch = l.accept().unwrap();
        for m in ch.iter() {
            let m = m.unwrap();
            ch.send(&m).unwrap();
        }
    });
    let ch = Channel::connect("shm://smoke").unwrap();
    for n in [
        0usize, 1, 7, 100, 30_000, 32_760, 40_000, 100_000, 2_000_000,
    ] {
        for rep in 0..3 {
            let v: Vec<u8> = (0..n).map(|i| (i + rep) as u8).collect();
            ch.send(&v).unwrap();
            assert_eq!(&*ch.recv().unwrap(), &v[..], "size {n}");
        }
    }
    ch.send_with(5, |b| b.write_at(0, b"hello")).unwrap();
    assert_eq!(ch.recv_with(|m| m.to_vec()).unwrap(), b"hello");
    assert_eq!(
        ch.recv_timeout(Duration::from_millis(50))
            .unwrap_err()
            .kind(),
        ErrorKind::Timeout
    );
    println!("peer {:?}", ch.peer());
    ch.close();
    t.join().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
