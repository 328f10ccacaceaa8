//! `ipc bench --soak --quick`: the soak's 20-second smoke run completes, with real traffic on
//! every transport and a sample series in its JSON. Its numbers are not asserted (the real soak
//! is a benchmark, run by hand; docs/security.md shows one).

#![cfg(target_os = "linux")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far longer than the 20-second run; reached only if something hangs.
const WATCHDOG: Duration = Duration::from_secs(180);

#[test]
fn soak_quick_runs_every_transport_and_samples() {
    let dir = std::env::temp_dir().join(format!("ipc-soak-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, csv) = (dir.join("soak.json"), dir.join("soak.csv"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_ipc"))
        .env_remove("LIBIPC_LOG")
        .args(["bench", "--soak", "--quick", "--json"])
        .arg(&json)
        .arg("--csv")
        .arg(&csv)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > WATCHDOG {
            let _ = child.kill();
            panic!("ipc bench --soak --quick hung");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for measure in ["rss", "fds", "threads"] {
        assert!(
            stdout.contains(&format!("peer    {measure:<7}:")),
            "{stdout}"
        );
    }

    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let samples = doc["samples"].as_array().unwrap();
    assert!(samples.len() >= 4, "{doc}");
    for s in samples {
        for process in ["soak", "peer"] {
            assert!(s[process]["rss_kib"].as_u64().unwrap() > 0, "{s}");
            assert!(s[process]["fds"].as_u64().unwrap() > 0, "{s}");
            assert!(s[process]["threads"].as_u64().unwrap() > 0, "{s}");
        }
    }
    assert_eq!(doc["verdicts"].as_array().unwrap().len(), 6, "{doc}");
    let traffic = doc["traffic"].as_array().unwrap();
    let names: Vec<&str> = traffic
        .iter()
        .map(|t| t["transport"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["unix", "tcp", "shm", "fifo"]);
    for t in traffic {
        assert!(t["messages"].as_u64().unwrap() > 0, "{t}");
        // The steady client's connection, and the churning client's.
        assert!(t["connects"].as_u64().unwrap() >= 2, "{t}");
    }
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(csv.lines().count(), samples.len() + 1, "{csv}");
    let _ = std::fs::remove_dir_all(&dir);
}
