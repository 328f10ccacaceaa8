//! `ipc-compare --quick` end to end, as the test command runs it: every system this build
//! has (`--list`) yields round-trip and streaming rows with real numbers, in `ipc bench`'s
//! JSON schema, plus set-up, idle-memory and scaling rows, and `--out` writes the JSON, the
//! markdown and the plots. The numbers themselves are not judged (tiny budgets, a shared
//! machine).

use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_ipc-compare");

fn stdout(args: &[&str]) -> String {
    let out = Command::new(EXE)
        .args(args)
        .output()
        .expect("run ipc-compare");
    assert!(
        out.status.success(),
        "ipc-compare {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn quick_run_measures_every_system() {
    let listed = stdout(&["--list"]);
    let systems: Vec<&str> = listed.lines().collect();
    assert!(
        systems.starts_with(&["raw", "libipc"]) && systems.len() > 2,
        "{systems:?}"
    );
    let dir = std::env::temp_dir().join(format!("ipc-compare-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("out.json");
    let out = dir.join("out");
    let table = stdout(&[
        "--quick",
        "--sizes",
        "64,65536",
        "--json",
        json.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).expect("JSON");
    let published: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).expect("JSON");
    let markdown = std::fs::read_to_string(out.join("results.md")).unwrap();
    for plot in ["latency.png", "throughput.png", "scaling.png"] {
        let png = std::fs::read(out.join(plot)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{plot} is not a PNG");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(published["results"], doc["results"]);
    for system in &systems {
        let setup: Vec<_> = published["setup"]
            .as_array()
            .expect("setup")
            .iter()
            .filter(|r| r["system"] == *system)
            .collect();
        assert!(!setup.is_empty(), "no set-up rows for {system}");
        for row in setup {
            assert!(
                row["setup_p50_us"].as_f64().is_some_and(|v| v > 0.0),
                "{row}"
            );
        }
        let scaling: Vec<_> = published["scaling"]
            .as_array()
            .expect("scaling")
            .iter()
            .filter(|r| r["system"] == *system)
            .collect();
        assert!(!scaling.is_empty(), "no scaling rows for {system}");
        for row in scaling {
            assert!(row["msgs_per_s"].as_f64().is_some_and(|v| v > 0.0), "{row}");
        }
        assert!(
            markdown.contains(&format!("| {system} |")),
            "{system} missing from the markdown"
        );
    }
    assert!(markdown.contains("### Targets"), "{markdown}");
    // Request/reply: raw, libipc's three and, with the grpc feature, gRPC; 1 and 64 in flight.
    let rpc = published["rpc"].as_array().expect("rpc rows");
    let mut want = vec![
        ("raw", "unix"),
        ("libipc", "unix (no spin)"),
        ("libipc", "unix"),
        ("libipc", "shm"),
    ];
    if systems.contains(&"grpc") {
        want.push(("grpc", "uds"));
    }
    for (system, transport) in want {
        for depth in [1, 64] {
            let row = rpc
                .iter()
                .find(|r| {
                    r["system"] == system && r["transport"] == transport && r["in_flight"] == depth
                })
                .unwrap_or_else(|| panic!("no request/reply row {system} {transport} x{depth}"));
            for field in ["p50_us", "p99_us", "calls_per_s"] {
                assert!(row[field].as_f64().is_some_and(|v| v > 0.0), "{row}");
            }
        }
    }
    assert!(markdown.contains("### Request/reply"), "{markdown}");
    let rows = doc["results"].as_array().expect("results");
    for system in &systems {
        assert!(table.contains(system), "{system} missing from\n{table}");
        for (pattern, field) in [("rtt", "p50_us"), ("stream", "msgs_per_s")] {
            let mine: Vec<_> = rows
                .iter()
                .filter(|r| r["system"] == *system && r["pattern"] == pattern)
                .collect();
            assert!(!mine.is_empty(), "no {pattern} rows for {system}");
            for row in mine {
                assert!(
                    row[field].as_f64().is_some_and(|v| v > 0.0),
                    "{system} {pattern}: {row}"
                );
            }
        }
    }
}
