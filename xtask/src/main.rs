//! `cargo xtask <task>`: repository chores (the alias is in `.cargo/config.toml`).
//!
//! - `tables [--check]`: write (or, with `--check`, verify) every table generated from the
//!   core's error kinds and options (`tables.rs`).

mod tables;

use std::path::PathBuf;
use std::process::ExitCode;

/// The workspace root (this crate lives in `xtask/`).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask has a parent directory")
        .to_path_buf()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let result = match args.first().map(String::as_str) {
        Some("tables") => tables::run(&root(), check),
        _ => Err("usage: cargo xtask tables [--check]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
