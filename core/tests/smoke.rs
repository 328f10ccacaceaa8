use libipc::{Channel, ErrorKind, Listener};
use std::time::Duration;

#[test]
fn smoke_unix_and_tcp() {
    let dir = std::env::temp_dir().join(format!("smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for ep in [
        format!("unix://{}/a.sock", dir.display()),
        "tcp://127.0.0.1:0".to_string(),
        "unix:@smoke-test-x".into(),
    ] {
        let l = Listener::bind(ep.as_str()).unwrap();
        let local = l.local_endpoint().to_string();
        let t = std::thread::spawn(move || {
            let ch = l.accept().unwrap();
            for m in ch.iter() {
                let m = m.unwrap();
                ch.send(&m).unwrap();
            }
        });
        let ch = Channel::connect(local.as_str()).unwrap();
        for n in [0usize, 1, 100, 70_000, 2_000_000] {
            let v: Vec<u8> = (0..n).map(|i| i as u8).collect();
            ch.send(&v).unwrap();
            assert_eq!(&*ch.recv().unwrap(), &v[..]);
        }
        assert_eq!(
            ch.recv_timeout(Duration::from_millis(50))
                .unwrap_err()
                .kind(),
            ErrorKind::Timeout
        );
        ch.close();
        t.join().unwrap();
        println!("{ep} ok, peer {:?}", ch.peer());
    }
}
