//! `cargo xtask <task> [args]`: development tasks that are not part of any crate's build
//! (the alias is in `.cargo/config.toml`).
//!
//! Each task is one module with a `run`; add a task by adding its module and one arm to the
//! `match` in [`main`] and a line to [`USAGE`].

#![forbid(unsafe_code)]

mod c_header;
mod tables;

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  c-header [--check]   generate include/ipc.h from ffi-c with the pinned cbindgen
                       (--check: write nothing, fail if the committed header differs)
  tables [--check]     write the tables generated from the core's error kinds and options
                       (C statuses, Python exceptions and stubs, docs); --check: write
                       nothing, fail if any differs or an option lacks a C setter or a
                       Python keyword";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let args: Vec<String> = args.collect();
    let result = match task.as_deref() {
        Some("c-header") => c_header::run(&args),
        Some("tables") => tables::run(&workspace_root(), args.iter().any(|a| a == "--check")),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown task {other:?}\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn workspace_root() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().expect("xtask/ has a parent").to_path_buf()
}
