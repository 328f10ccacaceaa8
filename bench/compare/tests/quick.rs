//! `ipc-compare --quick` end to end, as the test command runs it: every system this build
//! has (`--list`) yields round-trip and streaming rows with real numbers, in `ipc bench`'s
//! JSON schema. The numbers themselves are not judged (tiny budgets, a shared machine).

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
    let table = stdout(&[
        "--quick",
        "--sizes",
        "64,65536",
        "--json",
        json.to_str().unwrap(),
    ]);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).expect("JSON");
    std::fs::remove_dir_all(&dir).unwrap();
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
